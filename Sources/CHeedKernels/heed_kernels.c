#include "heed_kernels.h"

#include <stdint.h>
#include <string.h>

/* No fused multiply-add anywhere: it would round differently from the variants without it (and
   from HeedNN's Swift math), and arm64 would contract by default. */
#pragma clang fp contract(off)

/* The baseline's 8-wide helpers pass vectors by value, which clang warns would change the ABI
   without AVX; they are static and always inlined, so no call crosses an ABI boundary. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpsabi"
typedef float vf8 __attribute__((vector_size(32)));
typedef uint32_t vu8 __attribute__((vector_size(32)));
typedef int32_t vi8 __attribute__((vector_size(32)));
#define vf vf8
#define vu vu8
#define vi vi8
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
#undef ATTR
#undef vf
#undef vu
#undef vi
#undef LANES

typedef float vf16 __attribute__((vector_size(64)));
typedef uint32_t vu16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));
#define vf vf16
#define vu vu16
#define vi vi16
#define LANES 16
#define KERNEL(name) avx512_##name
#define ATTR __attribute__((target("avx512f")))
#include "kernel_body.h"
#undef KERNEL
#undef ATTR

/* The widest variant this CPU runs: 2 avx512, 1 avx2, 0 baseline. */
static int best_variant(void) {
    static int cached = -1;  /* every thread computes the same value, so a race only repeats work */
    int known = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
        __atomic_store_n(&cached, known, __ATOMIC_RELAXED);
    }
    return known;
}
#else
static int best_variant(void) { return 0; }
#define avx2_forward baseline_forward
#define avx2_backward baseline_backward
#define avx512_forward baseline_forward
#define avx512_backward baseline_backward
#define avx2_tanh_in_place baseline_tanh_in_place
#define avx512_tanh_in_place baseline_tanh_in_place
#define avx2_i8_row baseline_i8_row
#define avx512_i8_row baseline_i8_row
#define avx2_i4_row baseline_i4_row
#define avx512_i4_row baseline_i4_row
#endif

int heed_lstm_cell_forward_variant(int variant, int n, int hidden, float *gates, const float *bias,
                                   const float *cell_prev, int prev_stride, float *cell, float *cell_tanh, float *out) {
    if (variant < 0 || variant > best_variant()) return -1;
    if (variant == 2)
        avx512_forward(n, hidden, gates, bias, cell_prev, prev_stride, cell, cell_tanh, out);
    else if (variant == 1)
        avx2_forward(n, hidden, gates, bias, cell_prev, prev_stride, cell, cell_tanh, out);
    else
        baseline_forward(n, hidden, gates, bias, cell_prev, prev_stride, cell, cell_tanh, out);
    return 0;
}

int heed_lstm_cell_backward_variant(int variant, int n, int hidden, float *gates, const float *cell_tanh,
                                    const float *dh, float *dc, const float *cell_prev, int prev_stride) {
    if (variant < 0 || variant > best_variant()) return -1;
    if (variant == 2)
        avx512_backward(n, hidden, gates, cell_tanh, dh, dc, cell_prev, prev_stride);
    else if (variant == 1)
        avx2_backward(n, hidden, gates, cell_tanh, dh, dc, cell_prev, prev_stride);
    else
        baseline_backward(n, hidden, gates, cell_tanh, dh, dc, cell_prev, prev_stride);
    return 0;
}

void heed_lstm_cell_forward(int n, int hidden, float *gates, const float *bias, const float *cell_prev,
                            int prev_stride, float *cell, float *cell_tanh, float *out) {
    heed_lstm_cell_forward_variant(best_variant(), n, hidden, gates, bias, cell_prev, prev_stride, cell, cell_tanh, out);
}

void heed_lstm_cell_backward(int n, int hidden, float *gates, const float *cell_tanh, const float *dh, float *dc,
                             const float *cell_prev, int prev_stride) {
    heed_lstm_cell_backward_variant(best_variant(), n, hidden, gates, cell_tanh, dh, dc, cell_prev, prev_stride);
}

int heed_tanh_in_place_variant(int variant, float *values, long count) {
    if (variant < 0 || variant > best_variant()) return -1;
    if (variant == 2)
        avx512_tanh_in_place(values, count);
    else if (variant == 1)
        avx2_tanh_in_place(values, count);
    else
        baseline_tanh_in_place(values, count);
    return 0;
}

void heed_tanh_in_place(float *values, long count) { heed_tanh_in_place_variant(best_variant(), values, count); }

int heed_dequantize_row_variant(int variant, float *dst, const uint8_t *src, int count, float scale, int bits, int add) {
    if (variant < 0 || variant > best_variant() || (bits != 8 && bits != 4)) return -1;
    if (bits == 8) {
        const int8_t *q = (const int8_t *)src;
        if (variant == 2)
            avx512_i8_row(dst, q, count, scale, add);
        else if (variant == 1)
            avx2_i8_row(dst, q, count, scale, add);
        else
            baseline_i8_row(dst, q, count, scale, add);
    } else {
        if (variant == 2)
            avx512_i4_row(dst, src, count, scale, add);
        else if (variant == 1)
            avx2_i4_row(dst, src, count, scale, add);
        else
            baseline_i4_row(dst, src, count, scale, add);
    }
    return 0;
}

void heed_dequantize_row(float *dst, const uint8_t *src, int count, float scale, int bits, int add) {
    /* AVX2 rather than AVX-512: a 100-wide row leaves a 512-bit loop more remainder than it saves
       (8.4 against 7.0 ns per int8 row on an AMD EPYC with both). */
    int best = best_variant();
    heed_dequantize_row_variant(best > 1 ? 1 : best, dst, src, count, scale, bits, add);
}

const char *heed_kernels_variant(void) {
    static const char *names[] = {"baseline", "avx2", "avx512"};
    return names[best_variant()];
}
