/* The LSTM's recurrent products, C[m×n] += A[m×k] · B[k×n], against a B packed once per batch.
 *
 * Every time step multiplies a few rows (the batch's share still active) by the same W_hh. A BLAS
 * call packs W_hh again on every step, and on kernels without a small-matrix path (OpenBLAS's Zen
 * and Haswell) runs these shapes at about 60% of the core's peak (bench/step_gemm.py). Here B is
 * packed into 16-column panels once, and a 6 × 16 register tile of FMAs walks it.
 *
 * Each element of C is c + a₀b₀ + a₁b₁ + … in order of k, one FMA per term, whatever tile, panel
 * or row block computes it: a row's result never depends on the other rows of the call, so a
 * document's numbers do not depend on its batch or on the worker that ran it. */
#include "heed_blas.h"

#include <stddef.h>

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
   chunks, and a float stored and reloaded is the same float, so chunking changes no bit. */
#define K_CHUNK 512

ATTR static void avx2_packed_gemm(int m, int n, int k, const float *a, int lda, const float *packed, float *c, int ldc) {
    int panels = (n + PANEL - 1) / PANEL;
    float ap[6 * K_CHUNK];
    for (int r = 0; r < m; r += 6) {
        int rows = m - r < 6 ? m - r : 6;
        float *cr = c + (size_t)r * ldc;
        for (int k0 = 0; k0 < k; k0 += K_CHUNK) {
            int kc = k - k0 < K_CHUNK ? k - k0 : K_CHUNK;
            for (int i = 0; i < rows; i++) {
                const float *src = a + (size_t)(r + i) * lda + k0;
                for (int kk = 0; kk < kc; kk++) ap[kk * 6 + i] = src[kk];
            }
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

/* The same test as heed_cpu_vector_tier() >= 2, asked here so that this file builds alone
   (bench/step_gemm.c links it without the rest of CHeedBLAS); cached, as every product asks. */
int heed_packed_gemm_available(void) {
    static int cached = -1; /* every thread computes the same value, so a race only repeats work */
    int known = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        __atomic_store_n(&cached, known, __ATOMIC_RELAXED);
    }
    return known;
}

int heed_packed_gemm_kernel(int m, int n, int k, const float *a, int lda, const float *packed, float *c, int ldc) {
    if (!heed_packed_gemm_available()) return -1;
    avx2_packed_gemm(m, n, k, a, lda, packed, c, ldc);
    return 0;
}
#else
int heed_packed_gemm_available(void) { return 0; }
int heed_packed_gemm_kernel(int m, int n, int k, const float *a, int lda, const float *packed, float *c, int ldc) {
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)packed, (void)c, (void)ldc;
    return -1;
}
#endif
