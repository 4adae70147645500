/* Single-thread OpenBLAS SGEMM peak, for bench/run model's achieved-GFLOP/s column.
 *
 *   cc -O2 bench/sgemm_peak.c -lopenblas -o sgemm_peak
 *   OPENBLAS_NUM_THREADS=1 taskset -c 0 ./sgemm_peak [N ...] [--reps R]
 *
 * C = A·B for square N×N float matrices (row-major, no transposes), R timed calls per size after
 * one untimed warm-up call; prints one JSON object with the best GFLOP/s (2·N³ / seconds) per size
 * and overall, and which OpenBLAS build and kernel ran (openblas_get_config / _corename). The
 * library is whatever `-lopenblas` resolves to: the system OpenBLAS Heed links.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
    int sizes[16], nsizes = 0, reps = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (nsizes < 16) sizes[nsizes++] = atoi(argv[i]);
    }
    if (!nsizes) { sizes[0] = 1024; sizes[1] = 1536; sizes[2] = 2048; nsizes = 3; }
    openblas_set_num_threads(1);
    double overall = 0;
    printf("{\"threads\": %d, \"corename\": \"%s\", \"config\": \"%s\", \"reps\": %d, \"sizes\": [",
           openblas_get_num_threads(), openblas_get_corename(), openblas_get_config(), reps);
    for (int s = 0; s < nsizes; s++) {
        int n = sizes[s];
        float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
        for (long i = 0; i < (long)n * n; i++) {
            a[i] = (float)((i * 7 % 13) - 6) / 13.0f;
            b[i] = (float)((i * 5 % 11) - 5) / 11.0f;
            c[i] = 0;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double best = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            double dt = now() - t0;
            if (dt < best) best = dt;
        }
        double gflops = 2.0 * n * n * (double)n / best / 1e9;
        if (gflops > overall) overall = gflops;
        printf("%s{\"n\": %d, \"best_seconds\": %.6f, \"gflops\": %.3f}", s ? ", " : "", n, best, gflops);
        free(a); free(b); free(c);
    }
    printf("], \"peak_gflops\": %.3f}\n", overall);
    return 0;
}
