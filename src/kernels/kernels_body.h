/* kernels_body.h — the one generic body of the fast matmul kernels, included by each ISA file
 * (kernels_avx2.c, kernels_avx512.c) after it has defined its vector primitives (below). `bits`,
 * `group`, the row tile R and the token tile T are compile-time constants at every call site; the
 * table at the end instantiates one rows function per code width of quant.h's map (a switch over
 * its group sizes) and one per plain kind. Tested by tests/test_kernels.c against the scalar
 * reference (kernels_scalar.c); measured by bench/kernels_bench.c (docs/PERFORMANCE.md).
 *
 * Three operations, each one body:
 *
 * GEMV (one token; also 2..KB_GEMM_MIN-1 tokens), affine weights: memory-bound, so the codes are
 * consumed as stored, without ever forming f32 weights. y[t,r] = sum_g s[r,g] * sum_{c in g} q[r,c]
 * x[t,c] + b[r,g] * sum_{c in g} x[t,c]: the activations are quantized once per call to int16 per
 * (token, group) (step dx = max|x|/32767: |error| <= dx/2 per element, 2^-16 of the group's
 * largest activation) in the order the unpacker produces codes, so unpacking never shuffles codes
 * into place. Codes are unpacked to int16 lanes and multiplied with pmaddwd into int32 (exact:
 * |q*x| < 2^23, at most 8 pairs per lane per group); per group the integer sum is converted and
 * scaled by s*dx into f32 accumulators; the bias term uses the exact f32 group sums sx.
 * Why int16 (measured on the dev box's Zen 3 core, one thread, docs/PERFORMANCE.md "Kernel
 * arithmetic"): f32 FMA on unpacked codes needs an int->float convert and an FMA per 8 codes
 * where pmaddwd takes 16, and ran at ~65% of the int16 speed, below two cores' bandwidth at <= 4
 * bits; int8 activations (pmaddubsw, llama.cpp's Q8 path) take 32 codes per multiply but add an
 * activation error of 2^-8 of the group maximum (256 times int16's), which would show up in the
 * KLD/perplexity measurements this runtime exists to make; int16's error is below f16 rounding of
 * the scales.
 *
 * GEMM (>= KB_GEMM_MIN tokens, the prompt), every weight kind: compute-bound, so rows are
 * dequantized (exactly as the reference: s * q + b in f32) into a per-worker tile once per block
 * of up to KB_TB tokens and multiplied in f32 FMA with a KB_FR x KB_FT register tile (dot form,
 * horizontal sums once per K). On this core an FMA and a pmaddwd + add pair retire at about the
 * same rate (16 MACs per pmaddwd vs 8 per FMA, but the add and the per-group rescale per token
 * eat the difference), the dequantization is amortised over the block, and the f32 result
 * matches the reference to summation order.
 *
 * Plain F32/F16/BF16 weights use the same f32 tile (converted on the fly for one token).
 *
 * Code order (the layout of xq, and of xf for affine GEMM): a block of NB codes is unpacked into
 * NV = NB/KB_L vectors of KB_L int16 lanes. Widths that divide 8 (2, 4, 8) load KB_BYTES(bits,
 * group) bytes, zero-extend each byte to a lane (repeating the bytes when fewer than KB_L), and
 * vector j, lane l holds shift k = j*(KB_L/B) + l/B of byte l%B, i.e. code (l%B)*(8/bits) + k.
 * Other widths (3, 5, 6) give 16 consecutive codes per 16 lanes, paired by bit offset and left
 * in place (kernels_isa.h, KB_PAIR_SHIFT): a byte gather and a mask, no shift.
 *
 * Primitives an ISA file defines before including this file:
 *   KB_L (int16 lanes), KB_FL (f32 lanes), kb_vi, kb_vf, KB_FN(name) (ISA-suffixed name)
 *   kb_izero, kb_fzero, kb_dot(acc, w, const int16_t *x)    acc += pmaddwd(w, x[0..KB_L))
 *   kb_fma_is(acc, iacc, s, bits)  acc += float(iacc) * s (undoing the 3/5/6-bit lane shifts)
 *   kb_hsum(kb_vf) -> float
 *   kb_unpack(p, bits, group, kb_vi out[NV])               one block of codes
 *   kb_dequant16(v, bits, s, b, float *out)   out[0..KB_L) = s * q + b for the codes in v
 *   kb_loadw(kind, p) -> kb_vf (KB_FL weights of a plain kind), kb_loadf, kb_storef, kb_set1,
 *   kb_fmadd(a, b, c)
 *   kb_cvt_halfs(src, dtype, n, mul, dst)   dst[i] = f32(src[i]) * (mul ? mul[i] : 1)
 *   kb_dotf(a, b, n), kb_absmax_sum(x, n, *amax, *sum), kb_quant16(x, inv, n, out)
 */
#ifndef JANG_KERNELS_BODY_H
#define JANG_KERNELS_BODY_H

#include "kernels_isa.h"

#include <math.h>

/* ---- activation preparation ------------------------------------------------------------------ */

/* Tokens [t0, t1) of the job: int16 codes + dx + sx (j->xq), or for the f32 GEMM (j->xf) the
 * activations permuted into block order. */
JANG_FORCE_INLINE void kb_prep(const int bits, const int group, const jang_kjob *j, int64_t t0,
                               int64_t t1) {
    const int NB = KB_NB(bits, group);
    const int64_t cols = j->w->cols, ng = cols / group;
    int perm[KB_MAX_NB];
    for (int i = 0; i < NB; i++)
        perm[i] = kb_code_of(bits, group, i);
    float tmp[KB_MAX_NB] __attribute__((aligned(64)));
    for (int64_t t = t0; t < t1; t++) {
        const float *x = j->x + t * cols;
        if (j->xf) {
            float *xf = j->xf + t * cols;
            for (int64_t c0 = 0; c0 < cols; c0 += NB)
                for (int i = 0; i < NB; i++)
                    xf[c0 + i] = x[c0 + perm[i]];
            continue;
        }
        int16_t *xq = j->xq + t * cols;
        float *dx = j->dx + t * ng, *sx = j->sx + t * ng;
        for (int64_t g = 0; g < ng; g++) {
            float amax, sum;
            kb_absmax_sum(x + g * group, group, &amax, &sum);
            float inv = amax > 0 ? 32767.0f / amax : 0.0f;
            dx[g] = amax / 32767.0f;
            sx[g] = sum;
            for (int64_t c0 = g * group; c0 < (g + 1) * group; c0 += NB) {
                for (int i = 0; i < NB; i++)
                    tmp[i] = x[c0 + perm[i]];
                kb_quant16(tmp, inv, NB, xq + c0);
            }
        }
    }
}

/* ---- affine tile: R rows x T tokens ---------------------------------------------------------- */

/* out[r*T + t] = sum_g sc[r*ng+g] * dx[t*dxstride+g] * sum_{c in g} q[r,c] * xq[t,c] for the rows
 * at w + r*wstride; `folded` (T == 1 only): sc already holds scale * dx. */
JANG_FORCE_INLINE void kb_tile(const int bits, const int group, const int R, const int T,
                               const bool folded, const uint8_t *w, size_t wstride, int64_t ng,
                               const float *sc, const int16_t *xq, int64_t xstride, const float *dx,
                               int64_t dxstride, int64_t pfoff, float *out) {
    const int NB = KB_NB(bits, group), NV = KB_NV(bits, group), BPG = group / NB;
    kb_vf facc[KB_MAX_R][KB_MAX_T]; /* only [R][T] used: fixed sizes keep them in registers */
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            facc[r][t] = kb_fzero();
    for (int64_t g = 0; g < ng; g++) {
        if (pfoff) /* the same group of the rows pfoff bytes ahead: one prefetch per row and
                    * group, spread over the loop (a burst per tile stalled Intel cores) */
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                __builtin_prefetch(w + (size_t)r * wstride + (size_t)(g * group * bits / 8) + pfoff,
                                   0, 0);
        kb_vi iacc[KB_MAX_R][KB_MAX_T];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                iacc[r][t] = kb_izero();
#pragma GCC unroll 8
        for (int b = 0; b < BPG; b++) {
            const int64_t c0 = g * group + b * NB;
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                kb_vi wv[KB_MAX_NV];
                kb_unpack(w + (size_t)r * wstride + (size_t)(c0 * bits / 8), bits, group, wv);
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++)
#pragma GCC unroll 8
                    for (int t = 0; t < T; t++)
                        iacc[r][t] = kb_dot(iacc[r][t], wv[v], xq + t * xstride + c0 + v * KB_L);
            }
        }
        if (folded) {
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                facc[r][0] = kb_fma_is(facc[r][0], iacc[r][0], sc[r * ng + g], bits);
        } else {
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                const float d = dx[t * dxstride + g];
#pragma GCC unroll 8
                for (int r = 0; r < R; r++)
                    facc[r][t] = kb_fma_is(facc[r][t], iacc[r][t], sc[r * ng + g] * d, bits);
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            out[r * T + t] = kb_hsum(facc[r][t]);
}

/* ---- f32 tile: R rows x T tokens, dot form --------------------------------------------------- */

JANG_FORCE_INLINE float kb_plain_at(const int kind, const void *p, int64_t i) {
    if (kind == JANG_WK_F32) return ((const float *)p)[i];
    if (kind == JANG_WK_F16) return jang_f16_to_f32(((const uint16_t *)p)[i]);
    return jang_bf16_to_f32(((const uint16_t *)p)[i]);
}

/* out[r*T + t] = sum_k w[r*wstride + k] * x[t*xstride + k], k < K, weights of a plain kind
 * (wstride in elements). */
JANG_FORCE_INLINE void kb_ftile(const int kind, const int R, const int T, const void *w,
                                int64_t wstride, const float *x, int64_t xstride, int64_t K,
                                float *out) {
    const size_t esz = kind == JANG_WK_F32 ? 4 : 2;
    kb_vf acc[KB_MAX_R][KB_MAX_T];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            acc[r][t] = kb_fzero();
    int64_t k = 0;
    for (; k + KB_FL <= K; k += KB_FL) {
        kb_vf xv[KB_MAX_T];
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            xv[t] = kb_loadf(x + t * xstride + k);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            kb_vf wv = kb_loadw(kind, (const uint8_t *)w + (size_t)(r * wstride + k) * esz);
#pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                acc[r][t] = kb_fmadd(wv, xv[t], acc[r][t]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            float s = kb_hsum(acc[r][t]);
            for (int64_t i = k; i < K; i++)
                s += kb_plain_at(kind, w, r * wstride + i) * x[t * xstride + i];
            out[r * T + t] = s;
        }
}

/* Tiles (tuned on the dev box, docs/PERFORMANCE.md) */
#define KB_GEMV_R 4  /* int16: rows per tile for one token */
#define KB_SMALL_T 4 /* int16: tokens per tile for 2 .. KB_GEMM_MIN-1 tokens (one row) */
#define KB_FR 4      /* f32 GEMM: rows x tokens per register tile */
#define KB_FT 3
#define KB_TB 128 /* f32 GEMM: tokens per block (rows are dequantized once per block) */
#ifndef KB_PF_TILES
#define KB_PF_TILES 2 /* GEMV: software prefetch distance in row tiles */
#endif

/* y[t, r..r+nr) for tokens [t0, t1) from nr f32 rows at f (row stride `cols`), x at xs (row
 * stride `cols`): the f32 GEMM over a dequantized row tile. */
JANG_FORCE_INLINE void kb_gemm_tile(const jang_kjob *j, const float *f, int nr, int64_t r,
                                    const float *xs, int64_t t0, int64_t t1) {
    const int64_t cols = j->w->cols, rows = j->w->rows;
    float out[KB_FR * KB_FT];
    int64_t t = t0;
    for (; t + KB_FT <= t1; t += KB_FT) {
        if (nr == KB_FR)
            kb_ftile(JANG_WK_F32, KB_FR, KB_FT, f, cols, xs + t * cols, cols, cols, out);
        else
            for (int i = 0; i < nr; i++)
                kb_ftile(JANG_WK_F32, 1, KB_FT, f + i * cols, cols, xs + t * cols, cols, cols,
                         out + i * KB_FT);
        for (int i = 0; i < nr; i++)
            for (int u = 0; u < KB_FT; u++)
                j->y[(t + u) * rows + r + i] =
                    out[i * KB_FT + u] + (j->bias ? j->bias[r + i] : 0.0f);
    }
    for (; t < t1; t++) {
        if (nr == KB_FR)
            kb_ftile(JANG_WK_F32, KB_FR, 1, f, cols, xs + t * cols, cols, cols, out);
        else
            for (int i = 0; i < nr; i++)
                kb_ftile(JANG_WK_F32, 1, 1, f + i * cols, cols, xs + t * cols, cols, cols, out + i);
        for (int i = 0; i < nr; i++)
            j->y[t * rows + r + i] = out[i] + (j->bias ? j->bias[r + i] : 0.0f);
    }
}

/* ---- affine rows ----------------------------------------------------------------------------- */

/* Rows [r0, r1) of the job, the packed rows starting at `codes` (row r at codes + (r - base) *
 * rbytes), scales/biases of row r at w->scales + r*ng. Scratch: sc, bc (JANG_KERNEL_MAX_TILE_ROWS
 * x ng) and f (KB_FR x cols). */
JANG_FORCE_INLINE void kb_affine_rows(const int bits, const int group, const jang_kjob *j,
                                      const uint8_t *codes, int64_t base, int64_t r0, int64_t r1,
                                      float *sc, float *bc, float *f) {
    const jang_weight *w = j->w;
    const int64_t cols = w->cols, rows = w->rows, ng = cols / group, n = j->n;
    const size_t rbytes = (size_t)(cols * bits / 8);
    const bool bias = j->bias != NULL;
#define KB_ROW(r) (codes + (size_t)((r)-base) * rbytes)
    if (j->xf) { /* f32 GEMM */
        const int NB = KB_NB(bits, group), NV = KB_NV(bits, group);
        for (int64_t tb0 = 0; tb0 < n; tb0 += KB_TB) {
            const int64_t tb1 = tb0 + KB_TB < n ? tb0 + KB_TB : n;
            for (int64_t r = r0; r < r1; r += KB_FR) {
                const int nr = r1 - r < KB_FR ? (int)(r1 - r) : KB_FR;
                for (int i = 0; i < nr; i++) {
                    kb_cvt_halfs(w->scales + (r + i) * ng, w->sdtype, ng, NULL, sc);
                    kb_cvt_halfs(w->biases + (r + i) * ng, w->sdtype, ng, NULL, bc);
                    const uint8_t *p = KB_ROW(r + i);
                    float *fr = f + i * cols;
                    for (int64_t c0 = 0; c0 < cols; c0 += NB) {
                        kb_vi wv[KB_MAX_NV];
                        kb_unpack(p + (size_t)(c0 * bits / 8), bits, group, wv);
                        const float s = sc[c0 / group], b = bc[c0 / group];
#pragma GCC unroll 8
                        for (int v = 0; v < NV; v++)
                            kb_dequant16(wv[v], bits, s, b, fr + c0 + v * KB_L);
                    }
                }
                kb_gemm_tile(j, f, nr, r, j->xf, tb0, tb1);
            }
        }
        return;
    }
    if (n == 1) { /* GEMV */
        float out[KB_GEMV_R];
        for (int64_t r = r0; r < r1; r += KB_GEMV_R) {
            const int nr = r1 - r < KB_GEMV_R ? (int)(r1 - r) : KB_GEMV_R;
            /* prefetch distance: KB_PF_TILES tiles ahead, inside this worker's rows */
            const int64_t pf = j->prefetch && r + (KB_PF_TILES + 1) * KB_GEMV_R <= r1
                                   ? (int64_t)(KB_PF_TILES * KB_GEMV_R * rbytes)
                                   : 0;
            for (int i = 0; i < nr; i++) {
                kb_cvt_halfs(w->scales + (r + i) * ng, w->sdtype, ng, j->dx, sc + i * ng);
                kb_cvt_halfs(w->biases + (r + i) * ng, w->sdtype, ng, NULL, bc + i * ng);
            }
            if (nr == KB_GEMV_R)
                kb_tile(bits, group, KB_GEMV_R, 1, true, KB_ROW(r), rbytes, ng, sc, j->xq, cols,
                        j->dx, ng, pf, out);
            else
                for (int i = 0; i < nr; i++)
                    kb_tile(bits, group, 1, 1, true, KB_ROW(r + i), rbytes, ng, sc + i * ng, j->xq,
                            cols, j->dx, ng, 0, out + i);
            for (int i = 0; i < nr; i++)
                j->y[r + i] =
                    out[i] + kb_dotf(bc + i * ng, j->sx, ng) + (bias ? j->bias[r + i] : 0.0f);
        }
        return;
    }
    /* a few tokens: int16, one row x KB_SMALL_T tokens (the row is read once per call) */
    for (int64_t r = r0; r < r1; r++) {
        kb_cvt_halfs(w->scales + r * ng, w->sdtype, ng, NULL, sc);
        kb_cvt_halfs(w->biases + r * ng, w->sdtype, ng, NULL, bc);
        float out[KB_SMALL_T];
        int64_t t = 0;
        for (; t + KB_SMALL_T <= n; t += KB_SMALL_T) {
            kb_tile(bits, group, 1, KB_SMALL_T, false, KB_ROW(r), rbytes, ng, sc, j->xq + t * cols,
                    cols, j->dx + t * ng, ng, 0, out);
            for (int u = 0; u < KB_SMALL_T; u++)
                j->y[(t + u) * rows + r] =
                    out[u] + kb_dotf(bc, j->sx + (t + u) * ng, ng) + (bias ? j->bias[r] : 0.0f);
        }
        for (; t < n; t++) {
            kb_tile(bits, group, 1, 1, false, KB_ROW(r), rbytes, ng, sc, j->xq + t * cols, 0,
                    j->dx + t * ng, 0, 0, out);
            j->y[t * rows + r] =
                out[0] + kb_dotf(bc, j->sx + t * ng, ng) + (bias ? j->bias[r] : 0.0f);
        }
    }
#undef KB_ROW
}

/* The rows function: rows near the end of the matrix go through a padded copy (the unpackers
 * read up to JANG_KERNEL_OVERREAD bytes past a block). */
JANG_FORCE_INLINE void kb_affine(const int bits, const int group, const jang_kjob *j, int64_t r0,
                                 int64_t r1, void *scratch) {
    const jang_weight *w = j->w;
    const int64_t ng = w->cols / group;
    const size_t rbytes = (size_t)(w->cols * bits / 8);
    float *sc = scratch, *bc = sc + JANG_KERNEL_MAX_TILE_ROWS * ng;
    float *f = bc + JANG_KERNEL_MAX_TILE_ROWS * ng;
    uint8_t *pad = (uint8_t *)(f + JANG_KERNEL_MAX_TILE_ROWS * w->cols);
    int64_t tail = (int64_t)((JANG_KERNEL_OVERREAD + rbytes - 1) / rbytes);
    int64_t safe = w->rows - tail > 0 ? w->rows - tail : 0;
    /* two segments, one call site (the body is inlined once): [r0, safe) in place, then
     * [safe, r1) from the padded copy */
    for (int seg = 0; seg < 2; seg++) {
        int64_t a = seg ? (r0 > safe ? r0 : safe) : r0, b = seg ? r1 : (r1 < safe ? r1 : safe);
        if (a >= b) continue;
        const uint8_t *codes = (const uint8_t *)w->data;
        int64_t base = 0;
        if (seg) {
            memcpy(pad, codes + (size_t)a * rbytes, (size_t)(b - a) * rbytes);
            memset(pad + (size_t)(b - a) * rbytes, 0, JANG_KERNEL_OVERREAD);
            codes = pad;
            base = a;
        }
        kb_affine_rows(bits, group, j, codes, base, a, b, sc, bc, f);
    }
}

/* ---- plain weights (F32 / F16 / BF16) -------------------------------------------------------- */

JANG_FORCE_INLINE void kb_plain(const int kind, const jang_kjob *j, int64_t r0, int64_t r1,
                                void *scratch) {
    const jang_weight *w = j->w;
    const int64_t cols = w->cols, n = j->n;
    const size_t esz = kind == JANG_WK_F32 ? 4 : 2;
    const uint8_t *base = w->data;
    if (n == 1) { /* converted on the fly: the weights are read once */
        float out[KB_GEMV_R];
        for (int64_t r = r0; r < r1; r += KB_GEMV_R) {
            const int nr = r1 - r < KB_GEMV_R ? (int)(r1 - r) : KB_GEMV_R;
            const uint8_t *wr = base + (size_t)(r * cols) * esz;
            if (nr == KB_GEMV_R)
                kb_ftile(kind, KB_GEMV_R, 1, wr, cols, j->x, cols, cols, out);
            else
                for (int i = 0; i < nr; i++)
                    kb_ftile(kind, 1, 1, wr + (size_t)(i * cols) * esz, cols, j->x, cols, cols,
                             out + i);
            for (int i = 0; i < nr; i++)
                j->y[r + i] = out[i] + (j->bias ? j->bias[r + i] : 0.0f);
        }
        return;
    }
    float *f = scratch; /* (KB_FR, cols) converted rows */
    for (int64_t tb0 = 0; tb0 < n; tb0 += KB_TB) {
        const int64_t tb1 = tb0 + KB_TB < n ? tb0 + KB_TB : n;
        for (int64_t r = r0; r < r1; r += KB_FR) {
            const int nr = r1 - r < KB_FR ? (int)(r1 - r) : KB_FR;
            const float *rows_f = (const float *)(base + (size_t)(r * cols) * esz);
            if (kind != JANG_WK_F32) {
                for (int i = 0; i < nr; i++)
                    kb_cvt_halfs((const uint16_t *)(base + (size_t)((r + i) * cols) * esz),
                                 kind == JANG_WK_BF16 ? JANG_DT_BF16 : JANG_DT_F16, cols, NULL,
                                 f + i * cols);
                rows_f = f;
            }
            kb_gemm_tile(j, rows_f, nr, r, j->x, tb0, tb1);
        }
    }
}

/* ---- attention (one query, one head) --------------------------------------------------------- */

/* Scores four keys at a time (four independent FMA chains sharing the q loads), the softmax with
 * libm's expf as the reference, then out = sum p_j v_j four values at a time. hd need not be a
 * multiple of KB_FL. */
JANG_FORCE_INLINE void kb_attend(const float *q, const float *k, const float *v, int64_t stride,
                                 int64_t len, int64_t hd, float scale, float *sc, float *o) {
    const int64_t hv = hd / KB_FL * KB_FL;
    float mx = -INFINITY;
    int64_t j = 0;
    for (; j + 4 <= len; j += 4) {
        const float *k0 = k + j * stride;
        kb_vf a[4] = {kb_fzero(), kb_fzero(), kb_fzero(), kb_fzero()};
        for (int64_t i = 0; i < hv; i += KB_FL) {
            kb_vf qv = kb_loadf(q + i);
#pragma GCC unroll 4
            for (int u = 0; u < 4; u++)
                a[u] = kb_fmadd(qv, kb_loadf(k0 + u * stride + i), a[u]);
        }
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) {
            float s = kb_hsum(a[u]);
            for (int64_t i = hv; i < hd; i++)
                s += q[i] * k0[u * stride + i];
            sc[j + u] = s * scale;
            if (sc[j + u] > mx) mx = sc[j + u];
        }
    }
    for (; j < len; j++) {
        float s = kb_dotf(q, k + j * stride, hd) * scale;
        sc[j] = s;
        if (s > mx) mx = s;
    }
    float sum = 0.0f;
    for (j = 0; j < len; j++)
        sum += sc[j] = expf(sc[j] - mx);
    const float inv = 1.0f / sum;
    for (int64_t i = 0; i < hd; i++)
        o[i] = 0.0f;
    j = 0;
    for (; j + 4 <= len; j += 4) {
        const float *v0 = v + j * stride;
        const float p0 = sc[j] * inv, p1 = sc[j + 1] * inv, p2 = sc[j + 2] * inv,
                    p3 = sc[j + 3] * inv;
        const kb_vf b0 = kb_set1(p0), b1 = kb_set1(p1), b2 = kb_set1(p2), b3 = kb_set1(p3);
        int64_t i = 0;
        for (; i < hv; i += KB_FL) {
            kb_vf acc = kb_loadf(o + i);
            acc = kb_fmadd(b0, kb_loadf(v0 + i), acc);
            acc = kb_fmadd(b1, kb_loadf(v0 + stride + i), acc);
            acc = kb_fmadd(b2, kb_loadf(v0 + 2 * stride + i), acc);
            acc = kb_fmadd(b3, kb_loadf(v0 + 3 * stride + i), acc);
            kb_storef(o + i, acc);
        }
        for (; i < hd; i++)
            o[i] += p0 * v0[i] + p1 * v0[stride + i] + p2 * v0[2 * stride + i] +
                    p3 * v0[3 * stride + i];
    }
    for (; j < len; j++) {
        const float p = sc[j] * inv;
        const float *vj = v + j * stride;
        for (int64_t i = 0; i < hd; i++)
            o[i] += p * vj[i];
    }
}

static void KB_FN(attend)(const float *q, const float *k, const float *v, int64_t stride,
                          int64_t len, int64_t hd, float scale, float *sc, float *o) {
    kb_attend(q, k, v, stride, len, hd, scale, sc, o);
}

/* ---- the table ------------------------------------------------------------------------------- */

/* One rows function and one prep function per width; the group size is a switch over quant.h's
 * map, each case a constant call of the generic body. */
#define KB_CASE_ROWS_(g)                                                                           \
    case g:                                                                                        \
        kb_affine(bits_, g, j, r0, r1, s);                                                         \
        return;
#define KB_CASE_PREP_(g)                                                                           \
    case g:                                                                                        \
        kb_prep(bits_, g, j, t0, t1);                                                              \
        return;
#define KB_GEN_AFFINE_(b)                                                                          \
    static void KB_FN(affine_##b)(const jang_kjob *j, int64_t r0, int64_t r1, void *s) {           \
        const int bits_ = b;                                                                       \
        switch (j->w->group) { JANG_AFFINE_GROUPS_MAP(KB_CASE_ROWS_) }                             \
        JANG_ASSERT(0 && "unsupported group size");                                                \
    }                                                                                              \
    static void KB_FN(prep_##b)(const jang_kjob *j, int64_t t0, int64_t t1) {                      \
        const int bits_ = b;                                                                       \
        switch (j->w->group) { JANG_AFFINE_GROUPS_MAP(KB_CASE_PREP_) }                             \
        JANG_ASSERT(0 && "unsupported group size");                                                \
    }
JANG_AFFINE_BITS_MAP(KB_GEN_AFFINE_)

static void KB_FN(plain_f32)(const jang_kjob *j, int64_t r0, int64_t r1, void *s) {
    kb_plain(JANG_WK_F32, j, r0, r1, s);
}
static void KB_FN(plain_f16)(const jang_kjob *j, int64_t r0, int64_t r1, void *s) {
    kb_plain(JANG_WK_F16, j, r0, r1, s);
}
static void KB_FN(plain_bf16)(const jang_kjob *j, int64_t r0, int64_t r1, void *s) {
    kb_plain(JANG_WK_BF16, j, r0, r1, s);
}

#define KB_ROW_(b) [b] = {KB_FN(affine_##b), KB_FN(prep_##b)},
#define KB_TABLE(var, isa_name)                                                                    \
    const jang_kernels var = {                                                                     \
        .name = isa_name,                                                                          \
        .affine = {JANG_AFFINE_BITS_MAP(KB_ROW_)},                                                 \
        .plain = {KB_FN(plain_f32), KB_FN(plain_f16), KB_FN(plain_bf16)},                          \
        .attend = KB_FN(attend),                                                                   \
    }

#endif
