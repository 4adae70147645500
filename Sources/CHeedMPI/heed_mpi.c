// Compiled only with the MPI package trait (see Package.swift); empty otherwise.
#ifdef HEED_WITH_MPI
#include "heed_mpi.h"
#include <limits.h>
#include <stdlib.h>
#include <mpi.h>

static int active = 0;

int heed_mpi_init(void) {
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return -1;
    active = 1;
    return 0;
}

int heed_mpi_active(void) { return active; }

int heed_mpi_rank(void) {
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int heed_mpi_size(void) {
    int s = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &s);
    return s;
}

// MPI counts are int: large buffers go in chunks of at most 2^30 elements.
static const int64_t chunk = (int64_t)1 << 30;

void heed_mpi_allreduce_sum_float(float *buffer, int64_t n) {
    for (int64_t off = 0; off < n; off += chunk) {
        int64_t c = n - off < chunk ? n - off : chunk;
        MPI_Allreduce(MPI_IN_PLACE, buffer + off, (int)c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
}

void heed_mpi_allreduce_sum_double(double *buffer, int64_t n) {
    for (int64_t off = 0; off < n; off += chunk) {
        int64_t c = n - off < chunk ? n - off : chunk;
        MPI_Allreduce(MPI_IN_PLACE, buffer + off, (int)c, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    }
}

void heed_mpi_bcast_bytes(void *buffer, int64_t n, int root) {
    for (int64_t off = 0; off < n; off += chunk) {
        int64_t c = n - off < chunk ? n - off : chunk;
        MPI_Bcast((char *)buffer + off, (int)c, MPI_BYTE, root, MPI_COMM_WORLD);
    }
}

void heed_mpi_allgather_int64(int64_t value, int64_t *out) {
    MPI_Allgather(&value, 1, MPI_INT64_T, out, 1, MPI_INT64_T, MPI_COMM_WORLD);
}

int heed_mpi_allgatherv_bytes(const void *send, int64_t n, void *out, const int64_t *counts) {
    int size = heed_mpi_size();
    int64_t total = 0;
    for (int i = 0; i < size; i++) total += counts[i];
    // Every rank sees the same counts, so every rank takes the same branch (no rank is left waiting).
    if (total > INT_MAX) return -1;
    int *recvcounts = malloc(sizeof(int) * (size_t)size), *displs = malloc(sizeof(int) * (size_t)size);
    if (!recvcounts || !displs) { free(recvcounts); free(displs); MPI_Abort(MPI_COMM_WORLD, 1); return -1; }
    int off = 0;
    for (int i = 0; i < size; i++) { recvcounts[i] = (int)counts[i]; displs[i] = off; off += (int)counts[i]; }
    MPI_Allgatherv(send, (int)n, MPI_BYTE, out, recvcounts, displs, MPI_BYTE, MPI_COMM_WORLD);
    free(recvcounts);
    free(displs);
    return 0;
}

void heed_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

void heed_mpi_finalize(void) {
    if (active) MPI_Finalize();
    active = 0;
}

double heed_mpi_wtime(void) { return MPI_Wtime(); }

#endif
