// Time of one in-place MPI_Allreduce (sum) of N floats, as `heed train --distributed` does once per
// step, without any training around it: the transfer cost alone, as opposed to the trainer's
// allreduce time, which also contains waiting for the slowest rank.
//   mpicc -O2 bench/allreduce.c -o build/allreduce && mpirun -np 2 build/allreduce FLOATS [REPS]
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long n = argc > 1 ? atol(argv[1]) : 1240000;
    int reps = argc > 2 ? atoi(argv[2]) : 200;
    float *buf = malloc(sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++) buf[i] = (float)(i % 7);
    double best = 1e30, total = 0;
    for (int r = 0; r < reps + 10; r++) {
        MPI_Barrier(MPI_COMM_WORLD);  // start together: measure the transfer, not the skew
        double t = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        t = MPI_Wtime() - t;
        double slowest;
        MPI_Allreduce(&t, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (r >= 10) { total += slowest; if (slowest < best) best = slowest; }
    }
    if (rank == 0)
        printf("{\"ranks\": %d, \"floats\": %ld, \"bytes\": %ld, \"reps\": %d, \"mean_ms\": %.3f, \"best_ms\": %.3f}\n",
               size, n, n * 4, reps, 1000 * total / reps, 1000 * best);
    free(buf);
    MPI_Finalize();
    return 0;
}
