#ifndef HEED_MPI_H
#define HEED_MPI_H
#include <stdint.h>

/// The few MPI operations Heed's data-parallel training needs, on MPI_COMM_WORLD. mpi.h stays
/// inside this target so Swift never sees it. Every call uses MPI's default error handler
/// (MPI_ERRORS_ARE_FATAL): a failed collective ends the whole job instead of returning.

/// MPI_Init_thread (funneled); returns 0 on success.
int heed_mpi_init(void);
/// 1 once heed_mpi_init succeeded and heed_mpi_finalize has not run.
int heed_mpi_active(void);
int heed_mpi_rank(void);
int heed_mpi_size(void);
/// In-place sum over all ranks of n floats (split into chunks when n exceeds INT_MAX).
void heed_mpi_allreduce_sum_float(float *buffer, int64_t n);
/// In-place sum over all ranks of n doubles.
void heed_mpi_allreduce_sum_double(double *buffer, int64_t n);
/// Broadcasts n bytes from root to every rank.
void heed_mpi_bcast_bytes(void *buffer, int64_t n, int root);
/// Gathers one int64 from every rank into out[size].
void heed_mpi_allgather_int64(int64_t value, int64_t *out);
/// Gathers n bytes from every rank; counts[size] are every rank's n (from heed_mpi_allgather_int64),
/// out holds their sum, in rank order. Returns 0, or -1 when a count or the total exceeds INT_MAX.
int heed_mpi_allgatherv_bytes(const void *send, int64_t n, void *out, const int64_t *counts);
/// Ends every rank of the job with `code` (MPI_Abort).
void heed_mpi_abort(int code);
void heed_mpi_finalize(void);
/// Wall-clock seconds (MPI_Wtime).
double heed_mpi_wtime(void);

#endif
