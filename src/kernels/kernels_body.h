/* kernels_body.h — the one generic body of the fast matmul kernels, included by each ISA file
 * (kernels_avx2.c, kernels_avx512.c[, KB_VNNI]) after it has defined its vector primitives (below).
 * `bits`, `group`, the row tile R and the token tile T are compile-time constants at every call
 * site; the table at the end instantiates one rows function per code width of quant.h's map (a
 * switch over its group sizes) and one per plain kind. Tested by tests/test_kernels.c against the
 * scalar reference (kernels_scalar.c); measured by bench/kernels_bench.c (docs/PERFORMANCE.md).
 *
 * Four operations, each one body:
 *
 * GEMV (one token; also 2..KB_GEMM_MIN-1 tokens, or any number in an invariant call), affine
 * weights: memory-bound, so the codes are consumed as stored, without ever forming f32 weights.
 * y[t,r] = sum_g s[r,g] * sum_{c in g} q[r,c] x[t,c] + b[r,g] * sum_{c in g} x[t,c]: the
 * activations are quantized once per call to int16 per (token, group) (step dx = max|x|/32767:
 * |error| <= dx/2 per element, 2^-16 of the group's largest activation) in the order the unpacker
 * produces codes, so unpacking never shuffles codes into place. Codes are unpacked to int16 lanes
 * and multiplied with pmaddwd into int32 (exact: |q*x| < 2^23, at most 8 pairs per lane per group);
 * per group the integer sum is converted and scaled by s*dx into f32 accumulators; the bias term
 * uses the exact f32 group sums sx. Why int16 (measured on the dev box's Zen 3 core, one thread,
 * docs/PERFORMANCE.md "Kernel arithmetic"): f32 FMA on unpacked codes needs an int->float convert
 * and an FMA per 8 codes where pmaddwd takes 16, and ran at ~65% of the int16 speed, below two
 * cores' bandwidth at <= 4 bits; int8 activations (pmaddubsw, llama.cpp's Q8 path) take 32 codes
 * per multiply but add an activation error of 2^-8 of the group maximum (256 times int16's), which
 * would show up in the KLD/perplexity measurements this runtime exists to make; int16's error is
 * below f16 rounding of the scales.
 *
 * GEMM (>= KB_GEMM_MIN tokens, the prompt), every weight kind: compute-bound, so rows are
 * dequantized (exactly as the reference: s * q + b in f32) into a per-worker tile of KB_MR rows
 * once per block of KB_TB tokens and multiplied in f32 FMA by a KB_MR x KB_NT register tile in
 * broadcast form: the activations are laid out once per call as k-major panels of KB_NT tokens
 * (kb_prep_panels), so each column costs two vector loads, KB_MR broadcasts of weights and 2*KB_MR
 * FMAs, with no horizontal sums (66 GFLOP/s per Zen 3 core, 70% of its FMA peak of 94, against 53
 * for the 4 x 3 dot-form tile it replaced). On this core an FMA and a pmaddwd + add pair retire at
 * about the same rate (16 MACs per pmaddwd vs 8 per FMA, but the add and the per-group rescale
 * per token eat the difference), the dequantization is amortised over the block, and the f32
 * result matches the reference to summation order.
 *
 * Plain F32/F16/BF16 weights use the same f32 tile from 2 tokens on; one token, and every token of
 * an invariant call (matmul.h), runs the one-token dot form (converted on the fly), so its result
 * does not depend on how many others share the call.
 *
 * Attention (kb_attend) for 1..JANG_ATTEND_MAX_Q consecutive queries of a head: scores in dot
 * form with each key loaded once for all the queries, a softmax with a vector exp (kb_exp,
 * Cephes' polynomial, within 2 ulp of expf), and P.V with the GEMM's broadcast-form tile
 * (kb_outer), each value vector loaded once for all the queries. SwiGLU uses the same exp.
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

/* The f32 GEMM's activations (j->xf): panels of KB_NT tokens, each (cols, KB_NT) k-major, so that
 * the register tile loads KB_NT tokens of one column as two vectors; token t, column c at
 * xf[(t / KB_NT) * cols * KB_NT + c * KB_NT + t % KB_NT]. Columns are in the weights' code order
 * (perm, NB per block) or as they are (perm NULL). matmul.c zeroes the last panel's padding. */
JANG_FORCE_INLINE void kb_prep_panels(const int *perm, const int NB, const jang_kjob *j, int64_t t0,
                                      int64_t t1) {
    const int64_t cols = j->w->cols;
    for (int64_t t = t0; t < t1; t++) {
        const float *x = j->x + t * cols;
        float *xp = j->xf + (t / KB_NT) * cols * KB_NT + t % KB_NT;
        if (!perm) {
            for (int64_t c = 0; c < cols; c++)
                xp[c * KB_NT] = x[c];
            continue;
        }
        for (int64_t c0 = 0; c0 < cols; c0 += NB)
            for (int i = 0; i < NB; i++)
                xp[(c0 + i) * KB_NT] = x[c0 + perm[i]];
    }
}

/* Tokens [t0, t1) of the job: int16 codes + dx + sx (j->xq), or for the f32 GEMM (j->xf) the
 * activation panels in code order. */
JANG_FORCE_INLINE void kb_prep(const int bits, const int group, const jang_kjob *j, int64_t t0,
                               int64_t t1) {
    const int NB = KB_NB(bits, group);
    const int64_t cols = j->w->cols, ng = cols / group;
    int perm[KB_MAX_NB];
    for (int i = 0; i < NB; i++)
        perm[i] = kb_code_of(bits, group, i);
    if (j->xf) {
        kb_prep_panels(perm, NB, j, t0, t1);
        return;
    }
    float tmp[KB_MAX_NB] __attribute__((aligned(64)));
    for (int64_t t = t0; t < t1; t++) {
        const float *x = j->x + t * cols;
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

/* ---- plain weights, one token: R rows, dot form --------------------------------------------- */

JANG_FORCE_INLINE float kb_plain_at(const int kind, const void *p, int64_t i) {
    if (kind == JANG_WK_F32) return ((const float *)p)[i];
    if (kind == JANG_WK_F16) return jang_f16_to_f32(((const uint16_t *)p)[i]);
    return jang_bf16_to_f32(((const uint16_t *)p)[i]);
}

/* out[r] = sum_k w[r*K + k] * x[k], k < K, for R rows of a plain kind (one token: the weights are
 * converted on the fly, read once). */
JANG_FORCE_INLINE void kb_frows(const int kind, const int R, const void *w, const float *x,
                                int64_t K, float *out) {
    const size_t esz = kind == JANG_WK_F32 ? 4 : 2;
    kb_vf acc[KB_MAX_R];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
        acc[r] = kb_fzero();
    int64_t k = 0;
    for (; k + KB_FL <= K; k += KB_FL) {
        const kb_vf xv = kb_loadf(x + k);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            acc[r] = kb_fmadd(kb_loadw(kind, (const uint8_t *)w + (size_t)(r * K + k) * esz), xv,
                              acc[r]);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        float s = kb_hsum(acc[r]);
        for (int64_t i = k; i < K; i++)
            s += kb_plain_at(kind, w, r * K + i) * x[i];
        out[r] = s;
    }
}

/* Tiles (tuned on the dev box, docs/PERFORMANCE.md) */
#define KB_GEMV_R 4       /* int16: rows per tile for one token */
#define KB_SMALL_T 4      /* int16: tokens per tile for 2 .. KB_GEMM_MIN-1 tokens (one row) */
#define KB_TB (4 * KB_NT) /* f32 GEMM: tokens per block (rows are dequantized once per block) */
#ifndef KB_PF_TILES
#define KB_PF_TILES 2 /* GEMV: software prefetch distance in row tiles */
#endif
_Static_assert(KB_MR <= JANG_KERNEL_MAX_TILE_ROWS, "GEMM row tile larger than the scratch");
_Static_assert(KB_MR >= JANG_ATTEND_MAX_Q, "kb_outer holds a block of queries in KB_MR rows");

/* A broadcast-form register tile, the f32 GEMM's and attention's P.V: out[r*os + l] =
 * sum_k a[r*as + k] * b[k*bs + l] for r < MR rows and l < NV*KB_FL columns (MR*NV accumulators);
 * per k, NV vector loads of b and MR broadcasts of a, no horizontal sums. */
JANG_FORCE_INLINE void kb_outer(const int MR, const int NV, const float *a, int64_t as,
                                const float *b, int64_t bs, int64_t K, float *out, int64_t os) {
    kb_vf acc[KB_MR][2];
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
        for (int e = 0; e < NV; e++)
            acc[r][e] = kb_fzero();
#pragma GCC unroll 2
    for (int64_t k = 0; k < K; k++) {
        kb_vf bv[2];
#pragma GCC unroll 2
        for (int e = 0; e < NV; e++)
            bv[e] = kb_loadf(b + k * bs + e * KB_FL);
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++) {
            const kb_vf ar = kb_set1(a[r * as + k]);
#pragma GCC unroll 2
            for (int e = 0; e < NV; e++)
                acc[r][e] = kb_fmadd(ar, bv[e], acc[r][e]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
        for (int e = 0; e < NV; e++)
            kb_storef(out + r * os + e * KB_FL, acc[r][e]);
}

/* y[t, r..r+nr) for tokens [t0, t1) (t0 a multiple of KB_NT) from KB_MR f32 rows at f (row
 * stride `cols`; rows nr.. are zeros or ignored) and the activation panels j->xf. */
JANG_FORCE_INLINE void kb_gemm_tile(const jang_kjob *j, const float *f, int nr, int64_t r,
                                    int64_t t0, int64_t t1) {
    const int64_t cols = j->w->cols, rows = j->w->rows;
    float out[KB_MR * KB_NT] __attribute__((aligned(64)));
    for (int64_t t = t0; t < t1; t += KB_NT) {
        /* KB_MR rows x KB_NT tokens: two vector loads of the panel, KB_MR broadcasts per k */
        kb_outer(KB_MR, 2, f, cols, j->xf + (t / KB_NT) * cols * KB_NT, KB_NT, cols, out, KB_NT);
        const int nt = t1 - t < KB_NT ? (int)(t1 - t) : KB_NT;
        for (int u = 0; u < nt; u++)
            for (int i = 0; i < nr; i++)
                j->y[(t + u) * rows + r + i] =
                    out[i * KB_NT + u] + (j->bias ? j->bias[r + i] : 0.0f);
    }
}

/* ---- affine rows ----------------------------------------------------------------------------- */

/* Rows [r0, r1) of the job, the packed rows starting at `codes` (row r at codes + (r - base) *
 * rbytes), scales/biases of row r at w->scales + r*ng. Scratch: sc, bc (JANG_KERNEL_MAX_TILE_ROWS
 * x ng) and f (JANG_KERNEL_MAX_TILE_ROWS x cols). */
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
            for (int64_t r = r0; r < r1; r += KB_MR) {
                const int nr = r1 - r < KB_MR ? (int)(r1 - r) : KB_MR;
                if (nr < KB_MR) memset(f + nr * cols, 0, (size_t)((KB_MR - nr) * cols) * 4);
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
                kb_gemm_tile(j, f, nr, r, tb0, tb1);
            }
        }
        return;
    }
    if (n == 1) { /* GEMV */
        /* the scales and biases of a row tile are contiguous: converted in one run each, the
         * scales times dx repeated once per row (in f, unused here) */
        float *dxr = f;
        for (int i = 0; i < KB_GEMV_R; i++)
            memcpy(dxr + i * ng, j->dx, (size_t)ng * sizeof(float));
        float out[KB_GEMV_R];
        for (int64_t r = r0; r < r1; r += KB_GEMV_R) {
            const int nr = r1 - r < KB_GEMV_R ? (int)(r1 - r) : KB_GEMV_R;
            /* prefetch distance: KB_PF_TILES tiles ahead, inside this worker's rows */
            const int64_t pf = j->prefetch && r + (KB_PF_TILES + 1) * KB_GEMV_R <= r1
                                   ? (int64_t)(KB_PF_TILES * KB_GEMV_R * rbytes)
                                   : 0;
            kb_cvt_halfs(w->scales + r * ng, w->sdtype, nr * ng, dxr, sc);
            kb_cvt_halfs(w->biases + r * ng, w->sdtype, nr * ng, NULL, bc);
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
    if (!j->xf) { /* one token, or an invariant call (a batched decode step): converted on the
                   * fly, each token exactly as the one-token call computes it (so its result does
                   * not depend on the batch), the row tile still in cache for the next token */
        float out[KB_GEMV_R];
        for (int64_t r = r0; r < r1; r += KB_GEMV_R) {
            const int nr = r1 - r < KB_GEMV_R ? (int)(r1 - r) : KB_GEMV_R;
            const uint8_t *wr = base + (size_t)(r * cols) * esz;
            for (int64_t t = 0; t < n; t++) {
                const float *x = j->x + t * cols;
                if (nr == KB_GEMV_R)
                    kb_frows(kind, KB_GEMV_R, wr, x, cols, out);
                else
                    for (int i = 0; i < nr; i++)
                        kb_frows(kind, 1, wr + (size_t)(i * cols) * esz, x, cols, out + i);
                for (int i = 0; i < nr; i++)
                    j->y[t * w->rows + r + i] = out[i] + (j->bias ? j->bias[r + i] : 0.0f);
            }
        }
        return;
    }
    float *f = scratch; /* (KB_MR, cols) converted rows */
    for (int64_t tb0 = 0; tb0 < n; tb0 += KB_TB) {
        const int64_t tb1 = tb0 + KB_TB < n ? tb0 + KB_TB : n;
        for (int64_t r = r0; r < r1; r += KB_MR) {
            const int nr = r1 - r < KB_MR ? (int)(r1 - r) : KB_MR;
            const float *rows_f = (const float *)(base + (size_t)(r * cols) * esz);
            if (kind != JANG_WK_F32 || nr < KB_MR) { /* converted, or padded with zero rows */
                if (nr < KB_MR) memset(f + nr * cols, 0, (size_t)((KB_MR - nr) * cols) * 4);
                for (int i = 0; i < nr; i++) {
                    const uint8_t *p = base + (size_t)((r + i) * cols) * esz;
                    if (kind == JANG_WK_F32)
                        memcpy(f + i * cols, p, (size_t)cols * 4);
                    else
                        kb_cvt_halfs((const uint16_t *)p,
                                     kind == JANG_WK_BF16 ? JANG_DT_BF16 : JANG_DT_F16, cols, NULL,
                                     f + i * cols);
                }
                rows_f = f;
            }
            kb_gemm_tile(j, rows_f, nr, r, tb0, tb1);
        }
    }
}

/* ---- exp, SwiGLU ---------------------------------------------------------------------------- */

/* e^x: Cephes' expf (range reduction by ln 2 in two parts, degree-6 polynomial, 2^n through the
 * exponent bits), within 2 ulp of libm's expf for x in [-87.3, 88.4]; x is clamped to that range
 * (e^-87.3 = 1.2e-38, the smallest normal float; there is no +inf). */
JANG_FORCE_INLINE kb_vf kb_exp(kb_vf x) {
    x = kb_fmax(kb_fmin(x, kb_set1(88.37626f)), kb_set1(-87.33654f));
    const kb_vf n = kb_fround(kb_fmul(x, kb_set1(1.44269504088896341f)));
    x = kb_fmadd(n, kb_set1(-0.693359375f), x);
    x = kb_fmadd(n, kb_set1(2.12194440e-4f), x);
    kb_vf p = kb_set1(1.9875691500e-4f);
    p = kb_fmadd(p, x, kb_set1(1.3981999507e-3f));
    p = kb_fmadd(p, x, kb_set1(8.3334519073e-3f));
    p = kb_fmadd(p, x, kb_set1(4.1665795894e-2f));
    p = kb_fmadd(p, x, kb_set1(1.6666665459e-1f));
    p = kb_fmadd(p, x, kb_set1(5.0000001201e-1f));
    p = kb_fadd(kb_fmadd(p, kb_fmul(x, x), x), kb_set1(1.0f));
    return kb_fmul(p, kb_pow2i(n));
}

/* a[i] = silu(a[i]) * b[i] = a[i] / (1 + e^-a[i]) * b[i] */
static void KB_FN(swiglu)(float *a, const float *b, int64_t n) {
    int64_t i = 0;
    for (; i + KB_FL <= n; i += KB_FL) {
        const kb_vf x = kb_loadf(a + i);
        const kb_vf e = kb_fadd(kb_set1(1.0f), kb_exp(kb_fsub(kb_fzero(), x)));
        kb_storef(a + i, kb_fmul(kb_fdiv(x, e), kb_loadf(b + i)));
    }
    if (i < n) { /* the tail through the same vector exp (padded), so that an element's result
                  * does not depend on where it sits: a batched step's rows line up differently */
        float ta[KB_FL] __attribute__((aligned(64))) = {0},
                        tb[KB_FL] __attribute__((aligned(64))) = {0};
        memcpy(ta, a + i, (size_t)(n - i) * sizeof(float));
        memcpy(tb, b + i, (size_t)(n - i) * sizeof(float));
        const kb_vf x = kb_loadf(ta);
        const kb_vf e = kb_fadd(kb_set1(1.0f), kb_exp(kb_fsub(kb_fzero(), x)));
        kb_storef(ta, kb_fmul(kb_fdiv(x, e), kb_loadf(tb)));
        memcpy(a + i, ta, (size_t)(n - i) * sizeof(float));
    }
}

/* ---- attention: NQ consecutive queries of one head ------------------------------------------- */

/* Scores of KJ keys from j0 for the NQ queries: sc[u*ld + j] = scale * q_u . k_j. The key vectors
 * are loaded once for all queries (dot form, KJ*NQ accumulators, one 4-way horizontal sum per
 * four of them). */
JANG_FORCE_INLINE void kb_scores(const int KJ, const int NQ, const float *q, int64_t qs,
                                 const float *k, int64_t stride, int64_t j0, int64_t hd,
                                 float scale, float *sc, int64_t ld) {
    enum { C = 8 }; /* room for KJ*NQ (<= 8) accumulators, padded to a multiple of 4 */
    const int64_t hv = hd / KB_FL * KB_FL;
    kb_vf a[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; c++)
        a[c] = kb_fzero();
    for (int64_t i = 0; i < hv; i += KB_FL) {
        kb_vf kv[4];
#pragma GCC unroll 4
        for (int jj = 0; jj < KJ; jj++)
            kv[jj] = kb_loadf(k + (j0 + jj) * stride + i);
#pragma GCC unroll 4
        for (int u = 0; u < NQ; u++) {
            const kb_vf qv = kb_loadf(q + u * qs + i);
#pragma GCC unroll 4
            for (int jj = 0; jj < KJ; jj++)
                a[jj * NQ + u] = kb_fmadd(qv, kv[jj], a[jj * NQ + u]);
        }
    }
    float s[C];
#pragma GCC unroll 2
    for (int c = 0; c < KJ * NQ; c += 4)
        kb_hsum4(a + c, s + c);
#pragma GCC unroll 4
    for (int jj = 0; jj < KJ; jj++)
#pragma GCC unroll 4
        for (int u = 0; u < NQ; u++) {
            float t = s[jj * NQ + u];
            for (int64_t i = hv; i < hd; i++)
                t += q[u * qs + i] * k[(j0 + jj) * stride + i];
            sc[u * ld + j0 + jj] = t * scale;
        }
}

/* Softmax of sc[0..len) in place; sc[len..ld) = 0. */
JANG_FORCE_INLINE void kb_softmax(float *sc, int64_t len, int64_t ld) {
    kb_vf mv = kb_set1(-INFINITY);
    int64_t j = 0;
    for (; j + KB_FL <= len; j += KB_FL)
        mv = kb_fmax(mv, kb_loadf(sc + j));
    float lanes[KB_FL], mx = -INFINITY;
    kb_storef(lanes, mv);
    for (int i = 0; i < KB_FL; i++)
        mx = lanes[i] > mx ? lanes[i] : mx;
    for (; j < len; j++)
        mx = sc[j] > mx ? sc[j] : mx;
    mv = kb_set1(mx);
    kb_vf sv = kb_fzero();
    for (j = 0; j + KB_FL <= len; j += KB_FL) {
        const kb_vf e = kb_exp(kb_fsub(kb_loadf(sc + j), mv));
        kb_storef(sc + j, e);
        sv = kb_fadd(sv, e);
    }
    float sum = kb_hsum(sv);
    for (; j < len; j++)
        sum += sc[j] = expf(sc[j] - mx);
    const kb_vf inv = kb_set1(1.0f / sum);
    for (j = 0; j + KB_FL <= len; j += KB_FL)
        kb_storef(sc + j, kb_fmul(kb_loadf(sc + j), inv));
    for (; j < len; j++)
        sc[j] *= 1.0f / sum;
    for (; j < ld; j++)
        sc[j] = 0.0f;
}

/* jang_attend (matmul.h) for a compile-time number of queries: query u sees len + u keys. */
JANG_FORCE_INLINE void kb_attend(const int NQ, const float *q, int64_t qs, const float *k,
                                 const float *v, int64_t stride, int64_t len, int64_t hd,
                                 float scale, float *sc, float *o, int64_t os) {
    const int KJ = NQ <= 2 ? 4 : 2; /* keys per step: 4 to 8 independent FMA chains */
    const int64_t ld = len + NQ - 1;
    int64_t j = 0;
    for (; j + KJ <= ld; j += KJ)
        kb_scores(KJ, NQ, q, qs, k, stride, j, hd, scale, sc, ld);
    for (; j < ld; j++)
        kb_scores(1, NQ, q, qs, k, stride, j, hd, scale, sc, ld);
    for (int u = 0; u < NQ; u++)
        kb_softmax(sc + u * ld, len + u, ld);
    int64_t i = 0;
    for (; i + 2 * KB_FL <= hd; i += 2 * KB_FL)
        kb_outer(NQ, 2, sc, ld, v + i, stride, ld, o + i, os); /* v loaded once for all queries */
    for (; i + KB_FL <= hd; i += KB_FL)
        kb_outer(NQ, 1, sc, ld, v + i, stride, ld, o + i, os);
    for (; i < hd; i++)
        for (int u = 0; u < NQ; u++) {
            float t = 0.0f;
            for (int64_t jj = 0; jj < ld; jj++)
                t += sc[u * ld + jj] * v[jj * stride + i];
            o[u * os + i] = t;
        }
}

static void KB_FN(attend)(const float *q, int64_t qs, int nq, const float *k, const float *v,
                          int64_t stride, int64_t len, int64_t hd, float scale, float *sc, float *o,
                          int64_t os) {
    switch (nq) {
    case 1:
        kb_attend(1, q, qs, k, v, stride, len, hd, scale, sc, o, os);
        return;
    case 2:
        kb_attend(2, q, qs, k, v, stride, len, hd, scale, sc, o, os);
        return;
    case 3:
        kb_attend(3, q, qs, k, v, stride, len, hd, scale, sc, o, os);
        return;
    case 4:
        kb_attend(4, q, qs, k, v, stride, len, hd, scale, sc, o, os);
        return;
    }
    JANG_ASSERT(0 && "attend: nq out of range");
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

static void KB_FN(prep_plain)(const jang_kjob *j, int64_t t0, int64_t t1) {
    kb_prep_panels(NULL, 1, j, t0, t1);
}

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
        .plain_prep = KB_FN(prep_plain),                                                           \
        .panel_tokens = KB_NT,                                                                     \
        .attend = KB_FN(attend),                                                                   \
        .swiglu = KB_FN(swiglu),                                                                   \
    }

#endif
