#include "heed_kernels.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* No fused multiply-add anywhere: it would round differently from the variants without it (and
   from HeedNN's Swift math), and arm64 would contract by default. */
#pragma clang fp contract(off)

/* One variant's entry points (kernel_body.h). They take no vectors, so they can be called through
   pointers whatever the caller's target. */
typedef struct {
    void (*forward)(int, int, float *, const float *, const float *, int, float *, float *, float *);
    void (*backward)(int, int, float *, const float *, const float *, float *, const float *, int);
    void (*tanh_in_place)(float *, long);
    void (*i8_row)(float *, const int8_t *, int, float, int);
    void (*i4_row)(float *, const uint8_t *, int, float, int);
    void (*adam)(long, float *, const float *, float *, float *, const float *);
} Kernels;

/* The baseline's 8-wide helpers pass vectors by value, which clang warns would change the ABI
   without AVX; they are static and always inlined, so no call crosses an ABI boundary. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpsabi"
#define LANES 8
#define KERNEL(name) baseline_##name
#define ATTR
#include "kernel_body.h"
#undef KERNEL
#undef ATTR
#pragma clang diagnostic pop

#if defined(__x86_64__)
#define KERNEL(name) avx2_##name
#define ATTR __attribute__((target("avx2")))
#include "kernel_body.h"
#undef KERNEL
#undef LANES

/* The AVX2 body again on vectors of 32 floats, four registers each: every operation becomes four
   independent ones side by side. The forward cell and tanh are chains of dependent exponentials
   and divisions; one 8-float chain at a time left the core waiting on latency, and four in flight
   ran the forward cell loop 26% and tanh 26% faster on a Zen 3 EPYC (66 rows × 128 units from
   cache). Lane-wise, so the same bits. The backward and the rest have no long chains and ran
   slower so (register spills), so they keep 8 floats. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpsabi"
#define LANES 32
#define KERNEL(name) avx2x4_##name
#include "kernel_body.h"
#undef KERNEL
#undef LANES
#pragma clang diagnostic pop
#undef ATTR

static const Kernels avx2_mixed_kernels = {
    avx2x4_forward, avx2_backward, avx2x4_tanh_in_place, avx2_i8_row, avx2_i4_row, avx2_adam,
};

#define LANES 16
#define KERNEL(name) avx512_##name
#define ATTR __attribute__((target("avx512f")))
#include "kernel_body.h"
#undef KERNEL
#undef ATTR
#undef LANES

/* Indexed by variant: 0 baseline, 1 avx2, 2 avx512. */
static const Kernels *const variants[] = {&baseline_kernels, &avx2_mixed_kernels, &avx512_kernels};

/* The widest variant this CPU runs. */
static int best_variant(void) {
    static int cached = -1; /* every thread computes the same value, so a race only repeats work */
    int known = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
        __atomic_store_n(&cached, known, __ATOMIC_RELAXED);
    }
    return known;
}
#else
#undef LANES
static const Kernels *const variants[] = {&baseline_kernels};
static int best_variant(void) { return 0; }
#endif

/* The variant's table, or NULL when this CPU lacks it. */
static const Kernels *kernels(int variant) { return variant >= 0 && variant <= best_variant() ? variants[variant] : NULL; }

int heed_lstm_cell_forward_variant(int variant, int n, int hidden, float *gates, const float *bias,
                                   const float *cell_prev, int prev_stride, float *cell, float *cell_tanh, float *out) {
    const Kernels *k = kernels(variant);
    if (!k) return -1;
    k->forward(n, hidden, gates, bias, cell_prev, prev_stride, cell, cell_tanh, out);
    return 0;
}

int heed_lstm_cell_backward_variant(int variant, int n, int hidden, float *gates, const float *cell_tanh,
                                    const float *dh, float *dc, const float *cell_prev, int prev_stride) {
    const Kernels *k = kernels(variant);
    if (!k) return -1;
    k->backward(n, hidden, gates, cell_tanh, dh, dc, cell_prev, prev_stride);
    return 0;
}

void heed_lstm_cell_forward(int n, int hidden, float *gates, const float *bias, const float *cell_prev,
                            int prev_stride, float *cell, float *cell_tanh, float *out) {
    variants[best_variant()]->forward(n, hidden, gates, bias, cell_prev, prev_stride, cell, cell_tanh, out);
}

void heed_lstm_cell_backward(int n, int hidden, float *gates, const float *cell_tanh, const float *dh, float *dc,
                             const float *cell_prev, int prev_stride) {
    variants[best_variant()]->backward(n, hidden, gates, cell_tanh, dh, dc, cell_prev, prev_stride);
}

int heed_tanh_in_place_variant(int variant, float *values, long count) {
    const Kernels *k = kernels(variant);
    if (!k) return -1;
    k->tanh_in_place(values, count);
    return 0;
}

void heed_tanh_in_place(float *values, long count) { variants[best_variant()]->tanh_in_place(values, count); }

int heed_dequantize_row_variant(int variant, float *dst, const uint8_t *src, int count, float scale, int bits, int add) {
    const Kernels *k = kernels(variant);
    if (!k || (bits != 8 && bits != 4)) return -1;
    if (bits == 8)
        k->i8_row(dst, (const int8_t *)src, count, scale, add);
    else
        k->i4_row(dst, src, count, scale, add);
    return 0;
}

void heed_dequantize_row(float *dst, const uint8_t *src, int count, float scale, int bits, int add) {
    /* AVX2 rather than AVX-512: a 100-wide row leaves a 512-bit loop more remainder than it saves
       (8.4 against 7.0 ns per int8 row on an AMD EPYC with both). */
    int best = best_variant();
    heed_dequantize_row_variant(best > 1 ? 1 : best, dst, src, count, scale, bits, add);
}

int heed_adam_update_variant(int variant, long count, float *x, const float *g, float *m, float *v, const float *hyper) {
    const Kernels *k = kernels(variant);
    if (!k) return -1;
    k->adam(count, x, g, m, v, hyper);
    return 0;
}

void heed_adam_update(long count, float *x, const float *g, float *m, float *v, const float *hyper) {
    variants[best_variant()]->adam(count, x, g, m, v, hyper);
}

const char *heed_kernels_variant(void) {
    static const char *names[] = {"baseline", "avx2", "avx512"};
    return names[best_variant()];
}
