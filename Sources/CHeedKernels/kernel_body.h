/* The kernels' body, compiled once per variant by heed_kernels.c: it defines KERNEL(name)
   (the variant's name for a symbol), ATTR (its target attribute) and LANES (floats per vector)
   before including this file. The helpers carry ATTR too, so clang inlines them into the variant
   instead of calling across ABIs. Every operation is lane-wise, so the lane count changes speed,
   never results. Ends with the variant's `Kernels` table, KERNEL(kernels). */

typedef float KERNEL(vf) __attribute__((vector_size(4 * LANES)));
typedef uint32_t KERNEL(vu) __attribute__((vector_size(4 * LANES)));
typedef int32_t KERNEL(vi) __attribute__((vector_size(4 * LANES)));
#define vf KERNEL(vf)
#define vu KERNEL(vu)
#define vi KERNEL(vi)

#define INL static inline __attribute__((always_inline)) ATTR

INL vf KERNEL(ld)(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
INL void KERNEL(st)(vf v, float *p) { memcpy(p, &v, sizeof v); }
INL vf KERNEL(splat)(float x) { return (vf){} + x; }
INL vf KERNEL(select)(vi mask, vf a, vf b) { return (vf)(((vu)a & (vu)mask) | ((vu)b & ~(vu)mask)); }

/* e^x: Cephes-style range reduction and a degree-6 polynomial; the constants and operation order
   are those of HeedNN's fastExp, so the two agree to the ulp. */
INL vf KERNEL(exp)(vf x) {
    x = KERNEL(select)(x < KERNEL(splat)(-87), KERNEL(splat)(-87), x);
    x = KERNEL(select)(x > KERNEL(splat)(88), KERNEL(splat)(88), x);
    const vf magic = KERNEL(splat)(12582912.0f);
    vf shifted = x * KERNEL(splat)(1.44269504f) + magic;
    vf k = shifted - magic;
    vf r = (x - k * KERNEL(splat)(0.693359375f)) + k * KERNEL(splat)(2.1219444e-4f);
    vf p = KERNEL(splat)(1.98756915e-4f);
    p = p * r + KERNEL(splat)(1.39819995e-3f);
    p = p * r + KERNEL(splat)(8.3334519e-3f);
    p = p * r + KERNEL(splat)(4.16657959e-2f);
    p = p * r + KERNEL(splat)(0.166666655f);
    p = p * r + KERNEL(splat)(0.50000001f);
    vf y = p * (r * r) + r + KERNEL(splat)(1);
    vu k_bits = (vu)shifted - 0x4B400000u;
    return y * (vf)((k_bits + 127) << 23);
}

INL vf KERNEL(sigmoid)(vf x) { return KERNEL(splat)(1) / (KERNEL(splat)(1) + KERNEL(exp)(-x)); }

/* tanh via e^{-2|x|}, with a short odd series below |x| = 0.0625 (HeedNN's fastTanh). */
INL vf KERNEL(tanh)(vf x) {
    vf a = (vf)((vu)x & 0x7FFFFFFFu);
    a = KERNEL(select)(a > KERNEL(splat)(44), KERNEL(splat)(44), a);
    vf e = KERNEL(exp)(KERNEL(splat)(-2) * a);
    vf big = (KERNEL(splat)(1) - e) / (KERNEL(splat)(1) + e);
    vf x2 = x * x;
    vf small = a * (KERNEL(splat)(1) +
                    x2 * (KERNEL(splat)(-0.33333334f) + x2 * (KERNEL(splat)(0.13333334f) + x2 * KERNEL(splat)(-0.05396825f))));
    vf t = KERNEL(select)(a < KERNEL(splat)(0.0625f), small, big);
    return KERNEL(select)(x < KERNEL(splat)(0), -t, t);
}

/* One LANES-wide slice of a row from k. The last, partial slice of a hidden size that is not a
   multiple of LANES goes through zero-padded copies, so every element is computed by the same lane
   arithmetic wherever it sits. */
INL void KERNEL(forward_slice)(int H, int k, float *g, const float *bias, const float *cp, float *c, float *tc, float *h) {
    vf i = KERNEL(sigmoid)(KERNEL(ld)(g + k) + KERNEL(ld)(bias + k));
    vf f = KERNEL(sigmoid)(KERNEL(ld)(g + H + k) + KERNEL(ld)(bias + H + k));
    vf gg = KERNEL(tanh)(KERNEL(ld)(g + 2 * H + k) + KERNEL(ld)(bias + 2 * H + k));
    vf o = KERNEL(sigmoid)(KERNEL(ld)(g + 3 * H + k) + KERNEL(ld)(bias + 3 * H + k));
    vf cv = f * KERNEL(ld)(cp + k) + i * gg;
    vf tv = KERNEL(tanh)(cv);
    KERNEL(st)(i, g + k);
    KERNEL(st)(f, g + H + k);
    KERNEL(st)(gg, g + 2 * H + k);
    KERNEL(st)(o, g + 3 * H + k);
    KERNEL(st)(cv, c + k);
    KERNEL(st)(tv, tc + k);
    KERNEL(st)(o * tv, h + k);
}

INL void KERNEL(backward_slice)(int H, int k, float *d, const float *tc, const float *dh, float *dc, const float *cp) {
    vf iv = KERNEL(ld)(d + k), fv = KERNEL(ld)(d + H + k), gv = KERNEL(ld)(d + 2 * H + k), ov = KERNEL(ld)(d + 3 * H + k);
    vf tv = KERNEL(ld)(tc + k), dhv = KERNEL(ld)(dh + k);
    const vf one = KERNEL(splat)(1);
    vf dcv = KERNEL(ld)(dc + k) + dhv * ov * (one - tv * tv);
    KERNEL(st)(dcv * fv, dc + k);
    KERNEL(st)(dcv * gv * iv * (one - iv), d + k);
    KERNEL(st)(dcv * KERNEL(ld)(cp + k) * fv * (one - fv), d + H + k);
    KERNEL(st)(dcv * iv * (one - gv * gv), d + 2 * H + k);
    KERNEL(st)(dhv * tv * ov * (one - ov), d + 3 * H + k);
}

ATTR static void KERNEL(forward)(int n, int H, float *gates, const float *bias, const float *cell_prev, int prev_stride,
                                 float *cell, float *cell_tanh, float *out) {
    int full = H - H % LANES;
    for (int j = 0; j < n; j++) {
        float *g = gates + (long)j * 4 * H;
        const float *cp = cell_prev + (long)j * prev_stride;
        float *c = cell + (long)j * H, *tc = cell_tanh + (long)j * H, *h = out + (long)j * H;
        /* The full slices gate by gate: one slice's gates, cell and tanh(c) form a chain of about
           two exponentials and divisions in a row, which left the core waiting on latency (8 ns a
           unit on a Zen 3 EPYC); one nonlinearity per iteration lets iterations overlap. Each
           element gets the same operations as in forward_slice, so the same bits. */
        for (int q = 0; q < 4; q++) {
            float *gq = g + q * H;
            const float *bq = bias + q * H;
            if (q == 2)
                for (int k = 0; k < full; k += LANES) KERNEL(st)(KERNEL(tanh)(KERNEL(ld)(gq + k) + KERNEL(ld)(bq + k)), gq + k);
            else
                for (int k = 0; k < full; k += LANES) KERNEL(st)(KERNEL(sigmoid)(KERNEL(ld)(gq + k) + KERNEL(ld)(bq + k)), gq + k);
        }
        for (int k = 0; k < full; k += LANES) {
            vf cv = KERNEL(ld)(g + H + k) * KERNEL(ld)(cp + k) + KERNEL(ld)(g + k) * KERNEL(ld)(g + 2 * H + k);
            vf tv = KERNEL(tanh)(cv);
            KERNEL(st)(cv, c + k);
            KERNEL(st)(tv, tc + k);
            KERNEL(st)(KERNEL(ld)(g + 3 * H + k) * tv, h + k);
        }
        if (full < H) {
            int w = H - full;
            float pg[4 * LANES] = {0}, pb[4 * LANES] = {0}, pcp[LANES] = {0}, pc[LANES], ptc[LANES], ph[LANES];
            for (int q = 0; q < 4; q++) {
                memcpy(pg + LANES * q, g + q * H + full, w * sizeof(float));
                memcpy(pb + LANES * q, bias + q * H + full, w * sizeof(float));
            }
            memcpy(pcp, cp + full, w * sizeof(float));
            KERNEL(forward_slice)(LANES, 0, pg, pb, pcp, pc, ptc, ph);
            for (int q = 0; q < 4; q++) memcpy(g + q * H + full, pg + LANES * q, w * sizeof(float));
            memcpy(c + full, pc, w * sizeof(float));
            memcpy(tc + full, ptc, w * sizeof(float));
            memcpy(h + full, ph, w * sizeof(float));
        }
    }
}

ATTR static void KERNEL(backward)(int n, int H, float *gates, const float *cell_tanh, const float *dh, float *dc,
                                  const float *cell_prev, int prev_stride) {
    int full = H - H % LANES;
    for (int j = 0; j < n; j++) {
        float *d = gates + (long)j * 4 * H;
        const float *tc = cell_tanh + (long)j * H, *dhr = dh + (long)j * H, *cp = cell_prev + (long)j * prev_stride;
        float *dcj = dc + (long)j * H;
        for (int k = 0; k < full; k += LANES) KERNEL(backward_slice)(H, k, d, tc, dhr, dcj, cp);
        if (full < H) {
            int w = H - full;
            float pd[4 * LANES] = {0}, ptc[LANES] = {0}, pdh[LANES] = {0}, pdc[LANES] = {0}, pcp[LANES] = {0};
            for (int q = 0; q < 4; q++) memcpy(pd + LANES * q, d + q * H + full, w * sizeof(float));
            memcpy(ptc, tc + full, w * sizeof(float));
            memcpy(pdh, dhr + full, w * sizeof(float));
            memcpy(pdc, dcj + full, w * sizeof(float));
            memcpy(pcp, cp + full, w * sizeof(float));
            KERNEL(backward_slice)(LANES, 0, pd, ptc, pdh, pdc, pcp);
            for (int q = 0; q < 4; q++) memcpy(d + q * H + full, pd + LANES * q, w * sizeof(float));
            memcpy(dcj + full, pdc, w * sizeof(float));
        }
    }
}

ATTR static void KERNEL(tanh_in_place)(float *p, long n) {
    long full = n - n % LANES;
    for (long k = 0; k < full; k += LANES) KERNEL(st)(KERNEL(tanh)(KERNEL(ld)(p + k)), p + k);
    if (full < n) {
        float pad[LANES] = {0};
        memcpy(pad, p + full, (n - full) * sizeof(float));
        KERNEL(st)(KERNEL(tanh)(KERNEL(ld)(pad)), pad);
        memcpy(p + full, pad, (n - full) * sizeof(float));
    }
}

/* One LANES-wide slice of Adam's update (HeedNN's Adam.update: the same operations in the same
   order). `h` holds b1, 1 - b1, b2, 1 - b2, weight decay, step size, sqrt of bias correction 2, eps. */
INL void KERNEL(adam_slice)(float *x, const float *g, float *m, float *v, const float *h) {
    vf xk = KERNEL(ld)(x), gk = KERNEL(ld)(g);
    if (h[4] != 0) gk = gk + KERNEL(splat)(h[4]) * xk;
    vf mk = KERNEL(splat)(h[0]) * KERNEL(ld)(m) + KERNEL(splat)(h[1]) * gk;
    vf vk = KERNEL(splat)(h[2]) * KERNEL(ld)(v) + KERNEL(splat)(h[3]) * gk * gk;
    KERNEL(st)(mk, m);
    KERNEL(st)(vk, v);
    vf denom = __builtin_elementwise_sqrt(vk) / KERNEL(splat)(h[6]) + KERNEL(splat)(h[7]);
    KERNEL(st)(xk - KERNEL(splat)(h[5]) * (mk / denom), x);
}

/* Adam over n values; the last partial slice through zero-padded copies, as the cell does. */
ATTR static void KERNEL(adam)(long n, float *x, const float *g, float *m, float *v, const float *h) {
    long full = n - n % LANES;
    for (long k = 0; k < full; k += LANES) KERNEL(adam_slice)(x + k, g + k, m + k, v + k, h);
    if (full < n) {
        long w = n - full;
        float px[LANES] = {0}, pg[LANES] = {0}, pm[LANES] = {0}, pv[LANES] = {0};
        memcpy(px, x + full, w * sizeof(float));
        memcpy(pg, g + full, w * sizeof(float));
        memcpy(pm, m + full, w * sizeof(float));
        memcpy(pv, v + full, w * sizeof(float));
        KERNEL(adam_slice)(px, pg, pm, pv, h);
        memcpy(x + full, px, w * sizeof(float));
        memcpy(m + full, pm, w * sizeof(float));
        memcpy(v + full, pv, w * sizeof(float));
    }
}

/* Quantised rows, dequantised on read (HeedNN's QuantizedTable): q·scale, added to dst or
   written to it. Written as scalar loops: clang's vectoriser widens them to the variant's
   registers, and each element is the same two IEEE operations whatever the width. */
ATTR static void KERNEL(i8_row)(float *dst, const int8_t *src, int n, float scale, int add) {
    if (add)
        for (int k = 0; k < n; k++) dst[k] = dst[k] + (float)src[k] * scale;
    else
        for (int k = 0; k < n; k++) dst[k] = (float)src[k] * scale;
}

/* Two's-complement nibbles, element 2j in byte j's low half and 2j+1 in its high half: unpacked
   to int8 in blocks, then the int8 loop (the values and so the results are the same). */
ATTR static void KERNEL(i4_row)(float *dst, const uint8_t *src, int n, float scale, int add) {
    int8_t block[256];
    for (int start = 0; start < n; start += 256) {
        int count = n - start < 256 ? n - start : 256;  /* even except at the row's end */
        const uint8_t *bytes = src + start / 2;
        for (int j = 0; j < (count + 1) / 2; j++) {
            block[2 * j] = (int8_t)(uint8_t)(bytes[j] << 4) >> 4;
            block[2 * j + 1] = (int8_t)bytes[j] >> 4;
        }
        KERNEL(i8_row)(dst + start, block, count, scale, add);
    }
}

static const Kernels KERNEL(kernels) = {
    KERNEL(forward), KERNEL(backward), KERNEL(tanh_in_place), KERNEL(i8_row), KERNEL(i4_row), KERNEL(adam),
};

#undef INL
#undef vf
#undef vu
#undef vi
