#ifndef HEED_KERNELS_H
#define HEED_KERNELS_H

#include <stdint.h>

/// The LSTM cell's elementwise work (gate nonlinearities, cell update and their backward), in C so
/// it can run 256- and 512-bit vectors where the CPU has them: Swift's default x86-64 target is
/// SSE2 only. Every variant runs the same lane-wise operations in the same order without FMA, so
/// results are the same bits whichever runs (and equal HeedNN's scalar fastSigmoid/fastTanh).

/// Forward of `n` packed rows (contiguous in every buffer): `gates` [n × 4H] holds the gate
/// pre-activations i, f, g, o without bias and is overwritten by the activated gates; `bias` [4H]
/// is b_ih + b_hh; row j's previous cell state is `cell_prev + j · prev_stride` (stride 0 reads one
/// zero row for the first step). Writes c_t to `cell`, tanh(c_t) to `cell_tanh`, h_t to `out`.
void heed_lstm_cell_forward(int n, int hidden, float *gates, const float *bias, const float *cell_prev,
                            int prev_stride, float *cell, float *cell_tanh, float *out);

/// Backward of `n` packed rows: reads the activated `gates` [n × 4H] and overwrites them with the
/// gate pre-activation gradients; `cell_tanh` [n × H]; `dh` [n × H] dL/dh_t; `dc` [n × H] the carried
/// dL/dc_{t+1}·f_{t+1} in, dL/dc_t·f_t out; previous cell state as in forward.
void heed_lstm_cell_backward(int n, int hidden, float *gates, const float *cell_tanh, const float *dh, float *dc,
                             const float *cell_prev, int prev_stride);

/// The two above with the variant named (0 baseline, 1 avx2, 2 avx512), for tests that compare
/// them; -1 (and nothing written) when this CPU lacks it.
int heed_lstm_cell_forward_variant(int variant, int n, int hidden, float *gates, const float *bias, const float *cell_prev,
                                   int prev_stride, float *cell, float *cell_tanh, float *out);
int heed_lstm_cell_backward_variant(int variant, int n, int hidden, float *gates, const float *cell_tanh, const float *dh,
                                    float *dc, const float *cell_prev, int prev_stride);

/// values[k] = tanh(values[k]) (HeedNN's fastTanh), for additive attention's hidden layer.
void heed_tanh_in_place(float *values, long count);
int heed_tanh_in_place_variant(int variant, float *values, long count);

/// One quantised row dequantised on read: dst[k] = q_k·scale, or dst[k] + q_k·scale with `add`.
/// `bits` 8: `src` holds `count` int8 values; 4: two's-complement nibbles, element 2j in byte j's
/// low half and 2j+1 in its high half (docs/model-format.md).
void heed_dequantize_row(float *dst, const uint8_t *src, int count, float scale, int bits, int add);
int heed_dequantize_row_variant(int variant, float *dst, const uint8_t *src, int count, float scale, int bits, int add);

/// Adam's update of `count` values (HeedNN's `Adam.update`): with g ← g + wd·x when wd ≠ 0,
/// m ← b1·m + (1 − b1)·g, v ← b2·v + (1 − b2)·g·g, x ← x − step·(m / (√v / bc2 + eps)). `hyper`
/// holds b1, 1 − b1, b2, 1 − b2, wd, step, bc2 (√ of the second bias correction), eps.
void heed_adam_update(long count, float *x, const float *g, float *m, float *v, const float *hyper);
int heed_adam_update_variant(int variant, long count, float *x, const float *g, float *m, float *v, const float *hyper);

/// Which variant runs: "avx512", "avx2" or "baseline".
const char *heed_kernels_variant(void);

#endif
