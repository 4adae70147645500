#include "heed_blas.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__APPLE__)
#define ACCELERATE_NEW_LAPACK
#include <Accelerate/Accelerate.h>
static void library_threads(int threads) { (void)threads; }
static int library_has_local_threads(void) { return 1; }
const char *heed_blas_kernel(void) { return "Accelerate"; }
#else
#include <cblas.h>
#include <dlfcn.h>
/* OpenBLAS extensions; declared here so the generic cblas.h suffices. */
extern void openblas_set_num_threads(int);
extern char *openblas_get_corename(void);
/* OpenBLAS 0.3.27+ sets the count for the calling thread only; looked up at run time so older
   builds (Debian 12 ships 0.3.21) still link. */
typedef int (*set_local_fn)(int);
static set_local_fn set_local;
static pthread_once_t set_local_once = PTHREAD_ONCE_INIT;
static void find_set_local(void) { set_local = (set_local_fn)dlsym(RTLD_DEFAULT, "openblas_set_num_threads_local"); }
static int library_has_local_threads(void) {
    pthread_once(&set_local_once, find_set_local);
    return set_local != NULL;
}
static pthread_mutex_t library_lock = PTHREAD_MUTEX_INITIALIZER;
static int library_count = -1;
static void library_threads(int threads) {
    if (library_has_local_threads()) { set_local(threads); return; }
    pthread_mutex_lock(&library_lock);
    if (library_count != threads) {
        openblas_set_num_threads(threads);
        library_count = threads;
    }
    pthread_mutex_unlock(&library_lock);
}
const char *heed_blas_kernel(void) { return openblas_get_corename(); }
#endif

int heed_cpu_vector_tier(void) {
#if defined(__x86_64__) && !defined(__APPLE__)
    /* __builtin_cpu_supports also asks the OS (XCR0) whether it saves the registers. */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return 3;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 2;
    if (__builtin_cpu_supports("avx")) return 1;
#endif
    return 0;
}

/* OpenBLAS's x86-64 core names (openblas_get_corename) that use no AVX2: the SSE-era cores and
   the AVX-only ones. A name not listed (Haswell, Zen, SkylakeX, Cooperlake, SapphireRapids, or
   anything newer) is never replaced. */
static const char *const pre_avx2_cores[] = {
    "Prescott", "Core2",  "Penryn",   "Dunnington", "Nehalem",     "Atom",       "Nano",     "Katmai", "Coppermine",
    "Northwood", "Banias", "Athlon",  "Opteron",    "Opteron_SSE3", "Barcelona", "Bobcat",   "Sandybridge",
    "Bulldozer", "Piledriver", "Steamroller", "Excavator",
};

const char *heed_blas_coretype_for(const char *detected, int cpu_tier) {
    if (detected == NULL || cpu_tier < 2) return NULL;
    for (size_t i = 0; i < sizeof pre_avx2_cores / sizeof pre_avx2_cores[0]; i++)
        if (strcasecmp(detected, pre_avx2_cores[i]) == 0) return cpu_tier >= 3 ? "SkylakeX" : "Haswell";
    return NULL;
}

static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;
static int default_blas = 1, default_loops = 1;
static _Thread_local int scoped_blas, scoped_loops;

void heed_threads_set_default(int blas, int loops) {
    pthread_mutex_lock(&default_lock);
    default_blas = blas;
    default_loops = loops;
    pthread_mutex_unlock(&default_lock);
    if (!scoped_blas) library_threads(blas);
}

static void read_default(int *blas, int *loops) {
    pthread_mutex_lock(&default_lock);
    *blas = default_blas;
    *loops = default_loops;
    pthread_mutex_unlock(&default_lock);
}

/* Heed's default of one BLAS thread holds from the process's start. Without this, OpenBLAS ran as
   many threads as cores until something set a count, and between the many small products of one
   document its idle threads spin in sched_yield: on a busy 2-core machine `heed report --workers 1`
   took 41.6 s against 5.6 s with one thread, 22 s of it in the kernel. OpenBLAS is a dependency of
   this library, so its own initialiser has run before this one. */
#if !defined(__APPLE__)
__attribute__((constructor)) static void apply_default_threads(void) { library_threads(default_blas); }
extern int openblas_get_num_threads(void);
int heed_blas_library_threads(void) { return openblas_get_num_threads(); }
#else
int heed_blas_library_threads(void) { return 1; }
#endif

int heed_threads_blas(void) {
    if (scoped_blas) return scoped_blas;
    int blas, loops;
    read_default(&blas, &loops);
    return blas;
}

int heed_threads_loops(void) {
    if (scoped_loops) return scoped_loops;
    int blas, loops;
    read_default(&blas, &loops);
    return loops;
}

int heed_threads_scoped_blas(void) { return scoped_blas; }
int heed_threads_scoped_loops(void) { return scoped_loops; }

void heed_threads_scope(int blas, int loops) {
    scoped_blas = blas;
    scoped_loops = loops;
    library_threads(heed_threads_blas());
}

#if defined(DEBUG)
/* Test mode, debug builds only: HEED_BLAS_PERTURB=SEED (a positive integer) moves every element a
   BLAS call writes by 0–3 ulps up or down. That is what another kernel (another summation order, FMA
   or not) does to a result, so a suite that passes under several seeds does not depend on the last
   bits this machine's kernel happens to produce. The move is a hash of the seed, the call's shape,
   the element's position and its value: the same call gives the same bits every time (as on any one
   kernel, so determinism tests still hold), while equal rows at different positions of one product
   no longer tie, as they need not under another kernel. Exact zeros stay zero, as they do on every
   kernel (a sum of exact zeros). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t perturb_seed_value;
static pthread_once_t perturb_once = PTHREAD_ONCE_INIT;

static void perturb_read_env(void) {
    const char *s = getenv("HEED_BLAS_PERTURB");
    perturb_seed_value = (s && *s) ? strtoull(s, NULL, 10) : 0;
}

uint64_t heed_blas_perturbation(void) {
    pthread_once(&perturb_once, perturb_read_env);
    return perturb_seed_value;
}

static inline uint64_t mix(uint64_t x) {  /* splitmix64's finaliser */
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static inline float nudge(float v, uint64_t call, uint64_t position) {
    if (v == 0 || !isfinite(v)) return v;
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint64_t h = mix(call ^ mix(position ^ ((uint64_t)bits << 20)));
    float toward = (h & 4) ? INFINITY : -INFINITY;
    for (uint64_t step = 0; step < (h & 3); step++) v = nextafterf(v, toward);
    return v;
}

static inline uint64_t call_key(uint64_t seed, int kind, int a, int b, int m, int n, int k) {
    return mix(seed ^ mix(((uint64_t)kind << 56) ^ ((uint64_t)a << 54) ^ ((uint64_t)b << 52) ^ ((uint64_t)(uint32_t)m << 32) ^
                          ((uint64_t)(uint32_t)n << 12) ^ (uint64_t)(uint32_t)k));
}

static void perturb_matrix(int kind, int a, int b, int m, int n, int k, float *c, int ldc) {
    uint64_t seed = heed_blas_perturbation();
    if (!seed) return;
    uint64_t call = call_key(seed, kind, a, b, m, n, k);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] = nudge(c[(size_t)i * ldc + j], call, (uint64_t)i * (uint64_t)n + j);
}
#define PERTURB(kind, a, b, m, n, k, c, ldc) perturb_matrix(kind, a, b, m, n, k, c, ldc)
#else
uint64_t heed_blas_perturbation(void) { return 0; }
#define PERTURB(kind, a, b, m, n, k, c, ldc) ((void)0)
#endif

/* Whether the products go to Heed's packed kernel instead of the BLAS library: on a CPU with AVX-512
   whose OpenBLAS kernel does not use it. That is what `OPENBLAS_CORETYPE=Haswell` (set on some
   machines) or an OpenBLAS that does not know the CPU gives. On a Zen 5 EPYC under `Haswell`,
   OpenBLAS ran the training step's once-per-batch products at about 110 GFLOP/s, where the packed
   kernel's AVX-512 variant ran the same shapes at about 200 (bench/step_gemm.py), and they were
   half of a training step. `HEED_BATCH_PRODUCTS=blas` or `=heed` overrides the choice (benchmarks
   compare the two in one binary); `heed` needs AVX2 and FMA. The choice is made once per process. */
static int own_products = -1;
static pthread_once_t own_products_once = PTHREAD_ONCE_INIT;

static void choose_own_products(void) {
    const char *force = getenv("HEED_BATCH_PRODUCTS");
    int variant = heed_packed_gemm_variant();
    if (force && strcasecmp(force, "blas") == 0) own_products = 0;
    else if (force && strcasecmp(force, "heed") == 0) own_products = variant >= 2;
    else {
        const char *kernel = heed_blas_kernel();
        own_products = variant >= 3 && !heed_blas_kernel_is_avx512() && !(kernel && strcmp(kernel, "Accelerate") == 0);
    }
}

int heed_blas_kernel_is_avx512(void) {
    static const char *const avx512_kernels[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    const char *kernel = heed_blas_kernel();
    for (unsigned i = 0; i < sizeof avx512_kernels / sizeof *avx512_kernels; i++)
        if (kernel && strcmp(kernel, avx512_kernels[i]) == 0) return 1;
    return 0;
}

int heed_own_batch_products(void) {
    pthread_once(&own_products_once, choose_own_products);
    return own_products;
}

void heed_sgemm(int transA, int transB, int m, int n, int k, float alpha,
                const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    if (alpha == 1 && (beta == 0 || beta == 1) && heed_own_batch_products() && heed_threads_blas() == 1 &&
        heed_packed_sgemm(heed_packed_gemm_variant(), transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc) == 0) {
        PERTURB(1, transA, transB, m, n, k, c, ldc);
        return;
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    PERTURB(1, transA, transB, m, n, k, c, ldc);
}

void heed_sgemm_packed(int m, int n, int k, const float *a, int lda, const float *packed, float *c, int ldc) {
    if (heed_packed_gemm_kernel(m, n, k, a, lda, packed, c, ldc) == 0) PERTURB(5, 0, 0, m, n, k, c, ldc);
}

void heed_sgemv(int transA, int m, int n, float alpha, const float *a, int lda,
                const float *x, float beta, float *y) {
    cblas_sgemv(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, m, n, alpha, a, lda, x, 1, beta, y, 1);
    PERTURB(2, transA, 0, 1, transA ? n : m, transA ? m : n, y, 0);
}

void heed_saxpy(int n, float alpha, const float *x, float *y) {
    cblas_saxpy(n, alpha, x, 1, y, 1);
    PERTURB(3, 0, 0, 1, n, 1, y, 0);
}

float heed_sdot(int n, const float *x, const float *y) {
    float r = cblas_sdot(n, x, 1, y, 1);
    PERTURB(4, 0, 0, 1, 1, n, &r, 0);
    return r;
}
