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

/// The LSTM's recurrent products against a weight matrix packed once (heed_packed_gemm.c), for CPUs
/// whose BLAS kernel has no fast path for a few rows: B [k×n] (or, with `trans`, stored as n×k) is
/// packed into `heed_packed_floats(k, n)` floats, then C[m×n] += A[m×k] · B, one FMA per term in
/// order of k, so a row's result never depends on the other rows of the call.
long heed_packed_floats(int k, int n);
void heed_pack_b(int k, int n, const float *b, int ldb, int trans, float *packed);
/// 1 when this CPU runs the packed kernel (x86-64 with AVX2 and FMA), else 0.
int heed_packed_gemm_available(void);
/// The product; only where `heed_packed_gemm_available()` (a no-op elsewhere, which callers rule out).
void heed_sgemm_packed(int m, int n, int k, const float *a, int lda, const float *packed, float *c, int ldc);
/// The kernel alone, without the perturbation test mode: -1 when this CPU lacks it.
int heed_packed_gemm_kernel(int m, int n, int k, const float *a, int lda, const float *packed, float *c, int ldc);
/// Which variant `heed_packed_gemm_kernel` runs: 3 AVX-512, 2 AVX2, 0 none. All give the same bits.
int heed_packed_gemm_variant(void);
/// The kernel of one variant (2 AVX2, 3 AVX-512), so tests can compare them: -1 when this CPU lacks it.
int heed_packed_gemm_kernel_at(int tier, int m, int n, int k, const float *a, int lda, const float *packed, float *c, int ldc);
/// The same with A's element (i, p) at a[i·rs + p·cs] (a transposed A: rs = 1, cs = lda).
int heed_packed_gemm_strided(int tier, int m, int n, int k, const float *a, long rs, long cs, const float *packed, float *c, int ldc);
/// Whether `heed_sgemm` runs its calls with alpha 1 and beta 0 or 1 on Heed's packed kernel instead of
/// the BLAS library (see heed_blas.c), when this thread's calls use one BLAS thread.
int heed_own_batch_products(void);
/// C = op(A)·op(B) + beta·C (beta 0 or 1, row-major) on variant `tier` of the packed kernel, B packed
/// per call into a per-thread buffer: each element is c + Σ a·b in order of k, one FMA per term.
/// -1 (C untouched) when this CPU lacks the variant or beta is neither 0 nor 1.
int heed_packed_sgemm(int tier, int transA, int transB, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                      float beta, float *c, int ldc);

/// Sets the process's default BLAS and loop thread counts (a program's entry point calls it).
void heed_threads_set_default(int blas, int loops);

/// Sets this thread's BLAS and loop thread counts (0, 0: the process default again). BLAS libraries
/// that can set threads per calling thread (OpenBLAS 0.3.27+) get exactly that; older OpenBLAS has
/// one count per process, which is switched when a thread's setting differs from it.
void heed_threads_scope(int blas, int loops);

/// This thread's scoped counts (0: none, the default applies).
int heed_threads_scoped_blas(void);
int heed_threads_scoped_loops(void);

/// The counts in effect on this thread: its scope's, else the process default.
int heed_threads_blas(void);
int heed_threads_loops(void);

/// Name of the BLAS kernel in use, e.g. "Haswell" (OpenBLAS) or "Accelerate".
const char *heed_blas_kernel(void);
/// 1 when that kernel is one of OpenBLAS's AVX-512 ones (SkylakeX, Cooperlake, SapphireRapids): the ones with a
/// small-matrix path, and the ones whose products Heed leaves to OpenBLAS on AVX-512 CPUs.
int heed_blas_kernel_is_avx512(void);

/// Threads the BLAS library itself will use for a call from this thread now (1 under Accelerate,
/// whose threading is its own).
int heed_blas_library_threads(void);

/// The widest vector extension set this CPU and its OS can run, as OpenBLAS's x86-64 kernels group
/// them: 0 = SSE only (or not x86-64), 1 = AVX, 2 = AVX2 with FMA, 3 = AVX-512 F/CD/BW/DQ/VL.
int heed_cpu_vector_tier(void);

/// The OpenBLAS core type worth forcing (OPENBLAS_CORETYPE) when the library detected `detected`
/// on a CPU of `cpu_tier` (heed_cpu_vector_tier), or NULL to keep it. Only a detection that fell
/// back to a kernel without AVX2 (OpenBLAS 0.3.21 runs Prescott's SSE3 kernels on CPUs it does not
/// know, Sapphire Rapids among them) is replaced: by SkylakeX on AVX-512 CPUs, Haswell on AVX2.
const char *heed_blas_coretype_for(const char *detected, int cpu_tier);

/// The seed of the BLAS perturbation test mode (HEED_BLAS_PERTURB, debug builds only); 0 when off.
uint64_t heed_blas_perturbation(void);

#endif
