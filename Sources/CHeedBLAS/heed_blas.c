#include "heed_blas.h"

#if defined(__APPLE__)
#define ACCELERATE_NEW_LAPACK
#include <Accelerate/Accelerate.h>
void heed_blas_set_threads(int threads) { (void)threads; }
const char *heed_blas_kernel(void) { return "Accelerate"; }
#else
#include <cblas.h>
/* OpenBLAS extensions; declared here so the generic cblas.h suffices. */
extern void openblas_set_num_threads(int);
extern char *openblas_get_corename(void);
void heed_blas_set_threads(int threads) { openblas_set_num_threads(threads); }
const char *heed_blas_kernel(void) { return openblas_get_corename(); }
#endif

void heed_sgemm(int transA, int transB, int m, int n, int k, float alpha,
                const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void heed_sgemv(int transA, int m, int n, float alpha, const float *a, int lda,
                const float *x, float beta, float *y) {
    cblas_sgemv(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, m, n, alpha, a, lda, x, 1, beta, y, 1);
}

void heed_saxpy(int n, float alpha, const float *x, float *y) { cblas_saxpy(n, alpha, x, 1, y, 1); }

float heed_sdot(int n, const float *x, const float *y) { return cblas_sdot(n, x, 1, y, 1); }
