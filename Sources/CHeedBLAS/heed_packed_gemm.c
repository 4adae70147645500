/* The LSTM's recurrent products, C[m×n] += A[m×k] · B[k×n], against a B packed once per batch.
 *
 * Every time step multiplies a few rows (the batch's share still active) by the same W_hh. A BLAS
 * call packs W_hh again on every step, and on kernels without a small-matrix path (OpenBLAS's Zen
 * and Haswell) runs these shapes at about 60% of the core's peak (bench/step_gemm.py). Here B is
 * packed into 16-column panels once, and a register tile of FMAs walks it: 6 × 16 with AVX2,
 * 12 × 32 with AVX-512. `heed_packed_sgemm` also runs whole products on it, B packed per call,
 * for the CPUs where heed_blas.c prefers it to the BLAS library.
 *
 * Each element of C is c + a₀b₀ + a₁b₁ + … in order of k, one FMA per term, whatever tile, panel
 * or row block computes it: a row's result never depends on the other rows of the call, so a
 * document's numbers do not depend on its batch or on the worker that ran it. */
#include "heed_blas.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define PANEL 16

long heed_packed_floats(int k, int n) { return (long)((n + PANEL - 1) / PANEL) * PANEL * k; }

void heed_pack_b(int k, int n, const float *b, int ldb, int trans, float *packed) {
    int panels = (n + PANEL - 1) / PANEL;
    for (int p = 0; p < panels; p++) {
        float *dst = packed + (size_t)p * PANEL * k;
        int j0 = p * PANEL, width = n - j0 < PANEL ? n - j0 : PANEL;
        if (width < PANEL)
            for (long e = 0; e < (long)PANEL * k; e++) dst[e] = 0;
        if (trans) /* B's column j is stored row j0 + j: read it along, write the panel across */
            for (int j = 0; j < width; j++) {
                const float *src = b + (size_t)(j0 + j) * ldb;
                for (int kk = 0; kk < k; kk++) dst[(size_t)kk * PANEL + j] = src[kk];
            }
        else
            for (int kk = 0; kk < k; kk++)
                for (int j = 0; j < width; j++) dst[(size_t)kk * PANEL + j] = b[(size_t)kk * ldb + j0 + j];
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

#define ATTR __attribute__((target("avx2,fma")))
#define INL static inline __attribute__((always_inline)) ATTR

/* `rows` (1…6, a constant after inlining) rows of A, packed k-major (`ap[kk·6 + i]`, so the loop
   broadcasts from one pointer), against one panel. `width` < 16 columns of C go through a
   zero-padded copy, so every element gets the same arithmetic as in a full panel. The twelve
   accumulators are named, not an array, so that no compiler keeps them in memory. */
INL void tile(const int rows, int k, const float *ap, const float *panel, float *c, int ldc, int width) {
    float edge[6][PANEL];
    const float *src[6];
    for (int i = 0; i < rows; i++) {
        src[i] = c + (size_t)i * ldc;
        if (width < PANEL) {
            for (int j = 0; j < PANEL; j++) edge[i][j] = j < width ? src[i][j] : 0;
            src[i] = edge[i];
        }
    }
    __m256 z = _mm256_setzero_ps();
    __m256 lo0 = z, hi0 = z, lo1 = z, hi1 = z, lo2 = z, hi2 = z, lo3 = z, hi3 = z, lo4 = z, hi4 = z, lo5 = z, hi5 = z;
#define LOAD(i) \
    if (rows > i) lo##i = _mm256_loadu_ps(src[i]), hi##i = _mm256_loadu_ps(src[i] + 8);
    LOAD(0) LOAD(1) LOAD(2) LOAD(3) LOAD(4) LOAD(5)
#undef LOAD
    for (int kk = 0; kk < k; kk++, panel += PANEL, ap += 6) {
        __m256 b0 = _mm256_loadu_ps(panel), b1 = _mm256_loadu_ps(panel + 8), x;
#define ROW(i) \
    if (rows > i) x = _mm256_broadcast_ss(ap + i), lo##i = _mm256_fmadd_ps(x, b0, lo##i), hi##i = _mm256_fmadd_ps(x, b1, hi##i);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
    }
    __m256 lo[6] = {lo0, lo1, lo2, lo3, lo4, lo5}, hi[6] = {hi0, hi1, hi2, hi3, hi4, hi5};
    for (int i = 0; i < rows; i++) {
        float *dst = c + (size_t)i * ldc;
        if (width < PANEL) {
            _mm256_storeu_ps(edge[i], lo[i]);
            _mm256_storeu_ps(edge[i] + 8, hi[i]);
            for (int j = 0; j < width; j++) dst[j] = edge[i][j];
        } else {
            _mm256_storeu_ps(dst, lo[i]);
            _mm256_storeu_ps(dst + 8, hi[i]);
        }
    }
}

/* k is walked in chunks whose packed rows of A fit on the stack; C holds the running sums between
   chunks, and a float stored and reloaded is the same float, so chunking changes no bit. The chunk
   is the outer loop: every row block uses its K_CHUNK × n slice of B while it is in cache (a
   weight gradient over a long batch has k in the tens of thousands, and B of several MB). */
#define K_CHUNK 512

/* Copies rows r… (`rows` of them) of A, columns k0… (`kc`), into `ap` k-major with `stride` floats
   per k: A's element (i, kk) is a[i·rs + kk·cs], so a transposed A (rs = 1, cs = lda) reads as well. */
static inline void pack_a(const float *a, long rs, long cs, int r, int rows, int k0, int kc, float *ap, int stride) {
    if (cs == 1)
        for (int i = 0; i < rows; i++) {
            const float *src = a + (size_t)(r + i) * rs + k0;
            for (int kk = 0; kk < kc; kk++) ap[kk * stride + i] = src[kk];
        }
    else
        for (int kk = 0; kk < kc; kk++) {
            const float *src = a + (size_t)(k0 + kk) * cs + (size_t)r * rs;
            for (int i = 0; i < rows; i++) ap[kk * stride + i] = src[(size_t)i * rs];
        }
}

ATTR static void avx2_packed_gemm(int m, int n, int k, const float *a, long rs, long cs, const float *packed, float *c, int ldc) {
    int panels = (n + PANEL - 1) / PANEL;
    float ap[6 * K_CHUNK];
    for (int k0 = 0; k0 < k; k0 += K_CHUNK) {
        int kc = k - k0 < K_CHUNK ? k - k0 : K_CHUNK;
        for (int r = 0; r < m; r += 6) {
            int rows = m - r < 6 ? m - r : 6;
            float *cr = c + (size_t)r * ldc;
            pack_a(a, rs, cs, r, rows, k0, kc, ap, 6);
            for (int p = 0; p < panels; p++) {
                const float *panel = packed + (size_t)p * PANEL * k + (size_t)k0 * PANEL;
                int width = n - p * PANEL < PANEL ? n - p * PANEL : PANEL;
                float *cp = cr + p * PANEL;
                switch (rows) {
                    case 6: tile(6, kc, ap, panel, cp, ldc, width); break;
                    case 5: tile(5, kc, ap, panel, cp, ldc, width); break;
                    case 4: tile(4, kc, ap, panel, cp, ldc, width); break;
                    case 3: tile(3, kc, ap, panel, cp, ldc, width); break;
                    case 2: tile(2, kc, ap, panel, cp, ldc, width); break;
                    default: tile(1, kc, ap, panel, cp, ldc, width); break;
                }
            }
        }
    }
}

/* The same product with AVX-512: a register holds a whole 16-column panel, so a tile is up to 12
   rows across two panels (24 accumulators), and the panels' edge columns are masked instead of
   copied. Each element is still c + a₀b₀ + a₁b₁ + … in order of k, one FMA per term, and an FMA
   rounds a lane the same whatever the register's width: the bits equal the AVX2 kernel's, so a
   model trains the same bytes on CPUs with and without AVX-512. On a Zen 5 EPYC (full-width
   AVX-512) the step products ran at about twice the AVX2 kernel's rate (bench/step_gemm.py). */
#define ATTR512 __attribute__((target("avx512f,avx2,fma")))
#define INL512 static inline __attribute__((always_inline)) ATTR512
#define ROWS512 12

INL512 void tile512(const int rows, const int two, int k, const float *ap, const float *p0, const float *p1, float *c, int ldc,
                    __mmask16 m0, __mmask16 m1) {
    __m512 z = _mm512_setzero_ps();
    __m512 x0 = z, x1 = z, x2 = z, x3 = z, x4 = z, x5 = z, x6 = z, x7 = z, x8 = z, x9 = z, x10 = z, x11 = z;
    __m512 y0 = z, y1 = z, y2 = z, y3 = z, y4 = z, y5 = z, y6 = z, y7 = z, y8 = z, y9 = z, y10 = z, y11 = z;
#define LOAD(i)                                                                    \
    if (rows > i) {                                                                \
        x##i = _mm512_maskz_loadu_ps(m0, c + (size_t)i * ldc);                     \
        if (two) y##i = _mm512_maskz_loadu_ps(m1, c + (size_t)i * ldc + PANEL);    \
    }
    LOAD(0) LOAD(1) LOAD(2) LOAD(3) LOAD(4) LOAD(5) LOAD(6) LOAD(7) LOAD(8) LOAD(9) LOAD(10) LOAD(11)
#undef LOAD
    for (int kk = 0; kk < k; kk++, p0 += PANEL, p1 += PANEL, ap += ROWS512) {
        __m512 b0 = _mm512_loadu_ps(p0), b1 = two ? _mm512_loadu_ps(p1) : z, s;
#define ROW(i)                                                 \
    if (rows > i) {                                            \
        s = _mm512_set1_ps(ap[i]);                             \
        x##i = _mm512_fmadd_ps(s, b0, x##i);                   \
        if (two) y##i = _mm512_fmadd_ps(s, b1, y##i);          \
    }
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7) ROW(8) ROW(9) ROW(10) ROW(11)
#undef ROW
    }
#define STORE(i)                                                                   \
    if (rows > i) {                                                                \
        _mm512_mask_storeu_ps(c + (size_t)i * ldc, m0, x##i);                      \
        if (two) _mm512_mask_storeu_ps(c + (size_t)i * ldc + PANEL, m1, y##i);     \
    }
    STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5) STORE(6) STORE(7) STORE(8) STORE(9) STORE(10) STORE(11)
#undef STORE
}

/* The lanes of a panel that hold columns of C (the last panel may be narrower). */
static __mmask16 panel_mask(int n, int p) {
    int width = n - p * PANEL < PANEL ? n - p * PANEL : PANEL;
    return (__mmask16)(width >= PANEL ? 0xFFFFu : (1u << width) - 1u);
}

ATTR512 static void avx512_packed_gemm(int m, int n, int k, const float *a, long rs, long cs, const float *packed, float *c, int ldc) {
    int panels = (n + PANEL - 1) / PANEL;
    float ap[ROWS512 * K_CHUNK];
    for (int k0 = 0; k0 < k; k0 += K_CHUNK) {
        int kc = k - k0 < K_CHUNK ? k - k0 : K_CHUNK;
        for (int r = 0; r < m; r += ROWS512) {
            int rows = m - r < ROWS512 ? m - r : ROWS512;
            float *cr = c + (size_t)r * ldc;
            pack_a(a, rs, cs, r, rows, k0, kc, ap, ROWS512);
            for (int p = 0; p < panels; p += 2) {
                const float *p0 = packed + (size_t)p * PANEL * k + (size_t)k0 * PANEL, *p1 = p0 + (size_t)PANEL * k;
                int two = p + 1 < panels;
                __mmask16 m0 = panel_mask(n, p), m1 = two ? panel_mask(n, p + 1) : 0;
                float *cp = cr + p * PANEL;
#define CASE(R)                                                        \
    case R:                                                            \
        if (two) tile512(R, 1, kc, ap, p0, p1, cp, ldc, m0, m1);       \
        else tile512(R, 0, kc, ap, p0, p1, cp, ldc, m0, m1);           \
        break;
                switch (rows) {
                    CASE(12) CASE(11) CASE(10) CASE(9) CASE(8) CASE(7) CASE(6) CASE(5) CASE(4) CASE(3) CASE(2)
                    default:
                        if (two) tile512(1, 1, kc, ap, p0, p1, cp, ldc, m0, m1);
                        else tile512(1, 0, kc, ap, p0, p1, cp, ldc, m0, m1);
                        break;
                }
#undef CASE
            }
        }
    }
}

/* 2 for AVX2 and FMA, 3 with AVX-512F too, else 0: the same tests as heed_cpu_vector_tier(),
   asked here so that this file builds alone (bench/step_gemm.c links it without the rest of
   CHeedBLAS); cached, as every product asks. */
static int packed_tier(void) {
    static int cached = -1; /* every thread computes the same value, so a race only repeats work */
    int known = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (known < 0) {
        __builtin_cpu_init();
        known = !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 0 : __builtin_cpu_supports("avx512f") ? 3 : 2;
        __atomic_store_n(&cached, known, __ATOMIC_RELAXED);
    }
    return known;
}

int heed_packed_gemm_available(void) { return packed_tier() >= 2; }

int heed_packed_gemm_variant(void) { return packed_tier(); }

int heed_packed_gemm_strided(int tier, int m, int n, int k, const float *a, long rs, long cs, const float *packed, float *c, int ldc) {
    if (tier < 2 || tier > packed_tier()) return -1;
    if (tier >= 3) avx512_packed_gemm(m, n, k, a, rs, cs, packed, c, ldc);
    else avx2_packed_gemm(m, n, k, a, rs, cs, packed, c, ldc);
    return 0;
}

int heed_packed_gemm_kernel_at(int tier, int m, int n, int k, const float *a, int lda, const float *packed, float *c, int ldc) {
    return heed_packed_gemm_strided(tier, m, n, k, a, lda, 1, packed, c, ldc);
}

int heed_packed_gemm_kernel(int m, int n, int k, const float *a, int lda, const float *packed, float *c, int ldc) {
    return heed_packed_gemm_kernel_at(packed_tier(), m, n, k, a, lda, packed, c, ldc);
}
#else
int heed_packed_gemm_available(void) { return 0; }
int heed_packed_gemm_variant(void) { return 0; }
int heed_packed_gemm_kernel_at(int tier, int m, int n, int k, const float *a, int lda, const float *packed, float *c, int ldc) {
    (void)tier, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)packed, (void)c, (void)ldc;
    return -1;
}
int heed_packed_gemm_strided(int tier, int m, int n, int k, const float *a, long rs, long cs, const float *packed, float *c, int ldc) {
    (void)tier, (void)m, (void)n, (void)k, (void)a, (void)rs, (void)cs, (void)packed, (void)c, (void)ldc;
    return -1;
}
int heed_packed_gemm_kernel(int m, int n, int k, const float *a, int lda, const float *packed, float *c, int ldc) {
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)packed, (void)c, (void)ldc;
    return -1;
}
#endif

/* B packed for one product, per thread, kept between calls (freed with the thread). */
typedef struct {
    float *floats;
    long capacity;
} PackBuffer;
static pthread_key_t pack_key;
static pthread_once_t pack_key_once = PTHREAD_ONCE_INIT;
static void pack_buffer_free(void *p) {
    PackBuffer *buffer = p;
    free(buffer->floats);
    free(buffer);
}
static void pack_key_create(void) { pthread_key_create(&pack_key, pack_buffer_free); }

static float *pack_buffer(long floats) {
    pthread_once(&pack_key_once, pack_key_create);
    PackBuffer *buffer = pthread_getspecific(pack_key);
    if (!buffer) {
        buffer = calloc(1, sizeof *buffer);
        if (!buffer || pthread_setspecific(pack_key, buffer) != 0) {
            free(buffer);
            return NULL;
        }
    }
    if (buffer->capacity < floats) {
        free(buffer->floats);
        buffer->floats = malloc((size_t)floats * sizeof(float));
        buffer->capacity = buffer->floats ? floats : 0;
    }
    return buffer->floats;
}

int heed_packed_sgemm(int tier, int transA, int transB, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                      float beta, float *c, int ldc) {
    if (tier < 2 || tier > heed_packed_gemm_variant() || (beta != 0 && beta != 1)) return -1;
    float *packed = pack_buffer(heed_packed_floats(k, n));
    if (!packed) return -1;
    heed_pack_b(k, n, b, ldb, transB, packed);
    if (beta == 0)
        for (int i = 0; i < m; i++) memset(c + (size_t)i * ldc, 0, (size_t)n * sizeof(float));
    return heed_packed_gemm_strided(tier, m, n, k, a, transA ? 1 : lda, transA ? lda : 1, packed, c, ldc);
}
