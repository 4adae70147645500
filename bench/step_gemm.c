/* The LSTM step's own products under three libraries, one core, interleaved (issue 27, part 4).
 *
 *   cc -O2 bench/step_gemm.c Sources/CHeedBLAS/heed_packed_gemm.c -ldl -lm -o build/step_gemm
 *   OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 BLIS_NUM_THREADS=1 taskset -c 0 build/step_gemm [--rounds 7] [--hidden 128 --embed 100]
 *
 * Heed's LSTM (Sources/HeedNN/LSTM.swift) spends its sequential part in two row-major products per
 * direction and time step, on the rows still active at that step (at most the batch, or a
 * worker's share of it): forward  G[n×4H] += h[n×H] · W_hhᵀ            (NT, K = H)
 *                                 backward dh[n×H] += dG[n×4H] · W_hh   (NN, K = 4H)
 * (on OpenBLAS's AVX-512 kernels Heed now makes both NN calls, against a stored W_hhᵀ in the
 * forward, in blocks of at most 8 rows: BLAS.recurrentBlockRows; this bench times whole calls)
 * and, once per batch, the input projection P×4H×E (NT), the weight gradients dW_hh (TN, up to
 * 2048 rows at a time) and dW_ih (TN), and the input gradient P×E×4H (NN). Each shape is timed
 * with the system OpenBLAS (what Heed links), BLIS (libblis-dev) and oneDNN's dnnl_sgemm
 * (libdnnl-dev), each library dlopen'ed on its own (RTLD_LOCAL), so one binary runs all three in
 * the same rounds: OpenBLAS, BLIS, oneDNN, OpenBLAS, … . A library that is not installed is
 * reported as missing. Every library's result is checked against OpenBLAS's within a bound
 * derived from the terms summed (2·K·u·Σ|a·b|), so a wrong transpose cannot pass as fast.
 *
 * Heed's own packed kernel (Sources/CHeedBLAS/heed_packed_gemm.c, compiled into this binary; the LSTM
 * runs it for the step products on AVX2 CPUs whose OpenBLAS kernel has no small-matrix path) is timed
 * beside them as "heed_packed" on the step shapes, with B packed once before the timing, as Heed
 * packs W_hh once per batch for all of its time steps.
 *
 * Prints one JSON object: the CPU, each library's version and kernel, and per shape the median
 * ns per call and GFLOP/s of each library. Numbers from a shared machine: read the ratios.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };
typedef void (*cblas_sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                               float *, int);
typedef int (*dnnl_sgemm_fn)(char, char, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *,
                             int64_t, float, float *, int64_t);

typedef struct {
    const char *name;
    void *handle;
    cblas_sgemm_fn cblas;
    dnnl_sgemm_fn dnnl;
    int packed; /* Heed's packed kernel (B packed beforehand into `panels`): 1 the variant in use, 2 AVX2 */
    float *panels;
    char version[160];
} Library;

typedef struct {
    const char *what;
    int transA, transB, m, n, k;
} Shape;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

long heed_packed_floats(int k, int n);
void heed_pack_b(int k, int n, const float *b, int ldb, int trans, float *packed);
int heed_packed_gemm_kernel(int m, int n, int k, const float *a, int lda, const float *packed, float *c, int ldc);
int heed_packed_gemm_kernel_at(int tier, int m, int n, int k, const float *a, int lda, const float *packed, float *c, int ldc);
int heed_packed_gemm_variant(void);
int heed_packed_sgemm(int tier, int transA, int transB, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                      float beta, float *c, int ldc);

static void gemm(Library *lib, const Shape *s, const float *a, const float *b, float *c) {
    int lda = s->transA ? s->m : s->k, ldb = s->transB ? s->k : s->n;
    if (lib->packed) {
        int tier = lib->packed == 2 ? 2 : heed_packed_gemm_variant();
        if (lib->panels) /* a step product: B packed once beforehand, as the LSTM does per batch */
            heed_packed_gemm_kernel_at(tier, s->m, s->n, s->k, a, lda, lib->panels, c, s->n);
        else /* a once-per-batch product: B packed in the call, as heed_sgemm does */
            heed_packed_sgemm(tier, s->transA, s->transB, s->m, s->n, s->k, a, lda, b, ldb, 1.0f, c, s->n);
    }
    else if (lib->cblas)
        lib->cblas(ROW_MAJOR, s->transA ? TRANS : NO_TRANS, s->transB ? TRANS : NO_TRANS, s->m, s->n, s->k, 1.0f, a,
                   lda, b, ldb, 1.0f, c, s->n);
    else
        lib->dnnl(s->transA ? 'T' : 'N', s->transB ? 'T' : 'N', s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 1.0f, c, s->n);
}

static void open_library(Library *lib, const char *const *paths, const char *symbol) {
    for (int i = 0; paths[i] && !lib->handle; i++) lib->handle = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib->handle) return;
    void *f = dlsym(lib->handle, symbol);
    if (!f) { dlclose(lib->handle); lib->handle = NULL; return; }
    if (!strcmp(symbol, "dnnl_sgemm")) lib->dnnl = (dnnl_sgemm_fn)f;
    else lib->cblas = (cblas_sgemm_fn)f;
}

static int compare_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int main(int argc, char **argv) {
    int rounds = 7, H = 128, E = 100;
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--hidden")) H = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--embed")) E = atoi(argv[++i]);
    }
    if (rounds < 1 || rounds > 99 || H < 1 || E < 1) { fprintf(stderr, "step_gemm: bad arguments\n"); return 2; }
    const int H4 = 4 * H, P = 64 * 40; /* a batch of 64 documents of 40 tokens */
    Shape shapes[] = {
        {"step forward h·W_hhᵀ, n = 8", 0, 1, 8, H4, H},
        {"step forward h·W_hhᵀ, n = 16", 0, 1, 16, H4, H},
        {"step forward h·W_hhᵀ, n = 32", 0, 1, 32, H4, H},
        {"step forward h·W_hhᵀ, n = 64", 0, 1, 64, H4, H},
        {"step forward, W_hhᵀ stored (NN), n = 8", 0, 0, 8, H4, H},
        {"step forward, W_hhᵀ stored (NN), n = 16", 0, 0, 16, H4, H},
        {"step forward, W_hhᵀ stored (NN), n = 32", 0, 0, 32, H4, H},
        {"step forward, W_hhᵀ stored (NN), n = 64", 0, 0, 64, H4, H},
        {"step backward dG·W_hh, n = 8", 0, 0, 8, H, H4},
        {"step backward dG·W_hh, n = 16", 0, 0, 16, H, H4},
        {"step backward dG·W_hh, n = 32", 0, 0, 32, H, H4},
        {"step backward dG·W_hh, n = 64", 0, 0, 64, H, H4},
        {"input projection x·W_ihᵀ, P = 2560", 0, 1, P, H4, E},
        {"dW_hh += dGᵀ·h, 2048 rows", 1, 0, H4, H, 2048},
        {"dW_ih += dGᵀ·x, P = 2560", 1, 0, H4, E, P},
        {"dx = dG·W_ih, P = 2560", 0, 0, P, E, H4},
    };
    const int nshapes = sizeof shapes / sizeof shapes[0];

    static const char *const openblas_paths[] = {"libopenblas.so.0", "libopenblas.so", NULL};
    static const char *const blis_paths[] = {"libblis.so.4", "libblis.so.3", "libblis.so", NULL};
    static const char *const dnnl_paths[] = {"libdnnl.so.3", "libdnnl.so.2", "libdnnl.so", NULL};
    enum { NLIBS = 5 };
    Library libs[NLIBS] = {{.name = "openblas"}, {.name = "blis"}, {.name = "onednn"}, {.name = "heed_packed", .packed = 1},
                           {.name = "heed_packed_avx2", .packed = 2}};
    open_library(&libs[0], openblas_paths, "cblas_sgemm");
    open_library(&libs[1], blis_paths, "cblas_sgemm");
    open_library(&libs[2], dnnl_paths, "dnnl_sgemm");
    if (!libs[0].handle) { fprintf(stderr, "step_gemm: OpenBLAS not found (apt-get install libopenblas-dev)\n"); return 1; }
    if (libs[0].handle) {
        void (*set)(int) = (void (*)(int))dlsym(libs[0].handle, "openblas_set_num_threads");
        char *(*core)(void) = (char *(*)(void))dlsym(libs[0].handle, "openblas_get_corename");
        char *(*config)(void) = (char *(*)(void))dlsym(libs[0].handle, "openblas_get_config");
        if (set) set(1);
        snprintf(libs[0].version, sizeof libs[0].version, "%s; kernel %s", config ? config() : "?", core ? core() : "?");
    }
    if (libs[1].handle) {
        void (*set)(int64_t) = (void (*)(int64_t))dlsym(libs[1].handle, "bli_thread_set_num_threads");
        const char *(*info)(void) = (const char *(*)(void))dlsym(libs[1].handle, "bli_info_get_version_str");
        int (*arch)(void) = (int (*)(void))dlsym(libs[1].handle, "bli_arch_query_id");
        const char *(*arch_name)(int) = (const char *(*)(int))dlsym(libs[1].handle, "bli_arch_string");
        if (set) set(1);
        snprintf(libs[1].version, sizeof libs[1].version, "BLIS %s; kernel %s", info ? info() : "?",
                 arch && arch_name ? arch_name(arch()) : "?");
    }
    if (libs[2].handle) {
        typedef struct { int major, minor, patch; const char *hash; unsigned cpu_runtime, gpu_runtime; } Version;
        const Version *(*version)(void) = (const Version *(*)(void))dlsym(libs[2].handle, "dnnl_version");
        int (*isa)(void) = (int (*)(void))dlsym(libs[2].handle, "dnnl_get_effective_cpu_isa");
        const Version *v = version ? version() : NULL;
        snprintf(libs[2].version, sizeof libs[2].version, "oneDNN %d.%d.%d; effective ISA 0x%x", v ? v->major : 0,
                 v ? v->minor : 0, v ? v->patch : 0, isa ? isa() : 0);
    }

    float probe_a = 1, probe_b = 1, probe_c = 0, probe_panel[16];
    heed_pack_b(1, 1, &probe_b, 1, 0, probe_panel);
    int packed_runs = heed_packed_gemm_kernel(1, 1, 1, &probe_a, 1, probe_panel, &probe_c, 1) == 0;
    libs[3].handle = packed_runs ? (void *)1 : NULL;
    int variant = heed_packed_gemm_variant();
    snprintf(libs[3].version, sizeof libs[3].version, "Heed's packed kernel, the variant Heed runs here (%s)",
             variant >= 3 ? "AVX-512, 12 x 32 tile" : "AVX2 + FMA, 6 x 16 tile");
    /* The AVX2 variant too where AVX-512 runs, timed beside it (the same bits). */
    int avx2_separately = packed_runs && variant >= 3;
    libs[4].handle = avx2_separately ? (void *)1 : NULL;
    snprintf(libs[4].version, sizeof libs[4].version, "Heed's packed kernel, AVX2 + FMA variant (6 x 16 tile)");

    char cpu[256] = "?";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[4096];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "model name", 10)) {
                char *p = strchr(line, ':');
                if (p) { snprintf(cpu, sizeof cpu, "%s", p + 2); cpu[strcspn(cpu, "\n")] = 0; }
                break;
            }
        fclose(f);
    }

    printf("{\"cpu\": \"%s\", \"hidden\": %d, \"embed\": %d, \"rounds\": %d, \"libraries\": {", cpu, H, E, rounds);
    for (int l = 0, first = 1; l < NLIBS; l++) {
        printf("%s\"%s\": %s%s%s", first ? "" : ", ", libs[l].name, libs[l].handle ? "\"" : "",
               libs[l].handle ? libs[l].version : "null", libs[l].handle ? "\"" : "");
        first = 0;
    }
    printf("}, \"shapes\": [");
    srand(1);
    for (int s = 0; s < nshapes; s++) {
        const Shape *sh = &shapes[s];
        size_t na = (size_t)sh->m * sh->k, nb = (size_t)sh->k * sh->n, nc = (size_t)sh->m * sh->n;
        float *a = malloc(na * 4), *b = malloc(nb * 4), *c = malloc(nc * 4), *ref = malloc(nc * 4);
        double *bound = calloc(nc, sizeof(double));
        for (size_t i = 0; i < na; i++) a[i] = (float)rand() / RAND_MAX - 0.5f;
        for (size_t i = 0; i < nb; i++) b[i] = (float)rand() / RAND_MAX - 0.5f;
        /* Σ|a·b| per output, for the agreement bound. */
        for (int i = 0; i < sh->m; i++)
            for (int j = 0; j < sh->n; j++) {
                double acc = 0;
                for (int p = 0; p < sh->k; p++) {
                    float x = sh->transA ? a[(size_t)p * sh->m + i] : a[(size_t)i * sh->k + p];
                    float y = sh->transB ? b[(size_t)j * sh->k + p] : b[(size_t)p * sh->n + j];
                    acc += fabs((double)x * y);
                }
                bound[(size_t)i * sh->n + j] = acc;
            }
        memset(ref, 0, nc * 4);
        gemm(&libs[0], sh, a, b, ref);
        double flop = 2.0 * sh->m * sh->n * sh->k;
        /* Calls per timing: about 2 ms of work at 20 GFLOP/s, at least 5. */
        int calls = (int)fmax(5, 2e-3 * 20e9 / flop);
        double times[NLIBS][99];
        int agree[NLIBS] = {1, 1, 1, 1, 1};
        /* The packed kernel: step products (A as stored, a few rows) against B packed beforehand; the
           once-per-batch products pack B in the call. */
        int step = !sh->transA && sh->m <= 64;
        libs[3].panels = libs[4].panels = NULL;
        if (libs[3].handle && step) {
            libs[3].panels = malloc(heed_packed_floats(sh->k, sh->n) * sizeof(float));
            heed_pack_b(sh->k, sh->n, b, sh->transB ? sh->k : sh->n, sh->transB, libs[3].panels);
            libs[4].panels = libs[3].panels;
        }
        for (int l = 1; l < NLIBS; l++) {
            if (!libs[l].handle) continue;
            memset(c, 0, nc * 4);
            gemm(&libs[l], sh, a, b, c);
            double u = 1.0 / (1 << 24);
            for (size_t i = 0; i < nc; i++)
                if (fabs((double)c[i] - ref[i]) > 2.0 * sh->k * u * bound[i] + 1e-30) { agree[l] = 0; break; }
        }
        for (int r = 0; r < rounds; r++)
            for (int l = 0; l < NLIBS; l++) {
                if (!libs[l].handle) continue;
                memset(c, 0, nc * 4);
                gemm(&libs[l], sh, a, b, c); /* warm */
                double t0 = now();
                for (int i = 0; i < calls; i++) gemm(&libs[l], sh, a, b, c);
                times[l][r] = (now() - t0) / calls;
            }
        printf("%s{\"what\": \"%s\", \"m\": %d, \"n\": %d, \"k\": %d, \"trans\": \"%c%c\", \"calls_per_timing\": %d, "
               "\"results\": {", s ? ", " : "", sh->what, sh->m, sh->n, sh->k, sh->transA ? 'T' : 'N',
               sh->transB ? 'T' : 'N', calls);
        for (int l = 0, first = 1; l < NLIBS; l++) {
            if (!libs[l].handle) continue;
            qsort(times[l], rounds, sizeof(double), compare_double);
            double med = times[l][rounds / 2];
            printf("%s\"%s\": {\"ns_per_call\": %.0f, \"gflops\": %.2f, \"min_ns\": %.0f, \"max_ns\": %.0f, "
                   "\"agrees_with_openblas\": %s}", first ? "" : ", ", libs[l].name, med * 1e9, flop / med / 1e9,
                   times[l][0] * 1e9, times[l][rounds - 1] * 1e9, agree[l] ? "true" : "false");
            first = 0;
        }
        printf("}}");
        fflush(stdout);
        free(a); free(b); free(c); free(ref); free(bound);
        free(libs[3].panels);
    }
    printf("]}\n");
    return 0;
}
