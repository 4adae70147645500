#ifndef HEED_BLAS_H
#define HEED_BLAS_H
#include <stdint.h>

/// C = alpha * op(A) * op(B) + beta * C, row-major float32. transA/transB: 0 = as stored, 1 = transposed.
void heed_sgemm(int transA, int transB, int m, int n, int k, float alpha,
                const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/// y = alpha * op(A) * x + beta * y, row-major float32.
void heed_sgemv(int transA, int m, int n, float alpha, const float *a, int lda,
                const float *x, float beta, float *y);

/// y += alpha * x (n elements, unit stride).
void heed_saxpy(int n, float alpha, const float *x, float *y);

/// Returns x . y (n elements, unit stride).
float heed_sdot(int n, const float *x, const float *y);

/// Sets the BLAS thread count (no-op where the library has no such control).
void heed_blas_set_threads(int threads);

/// Name of the BLAS kernel in use, e.g. "Haswell" (OpenBLAS) or "Accelerate".
const char *heed_blas_kernel(void);

/// The seed of the BLAS perturbation test mode (HEED_BLAS_PERTURB, debug builds only); 0 when off.
uint64_t heed_blas_perturbation(void);

#endif
