/* kernels_body.h — the one generic body of the fast matmul kernels, included by each ISA file
 * (kernels_avx2.c, kernels_avx512.c) after it has defined its vector primitives (below). `bits`,
 * `group`, the row tile R and the token tile T are compile-time constants at every call site; the
 * table at the end instantiates one rows function per (bits x group) of quant.h's maps and one per
 * plain kind. Tested by tests/test_kernels.c against the scalar reference (kernels_scalar.c).
 *
 * Affine weights, y[t,r] = sum_g s[r,g] * sum_{c in g} q[r,c] x[t,c] + b[r,g] * sum_{c in g}
 * x[t,c]: the activations are quantized once per call to int16 per (token, group) (step dx =
 * max|x|/32767, so |error| <= dx/2 per element, 2^-16 of the group's largest activation) and stored
 * in the order the unpacker produces codes, so unpacking never shuffles codes into place. The codes
 * are unpacked to int16 lanes and multiplied with pmaddwd into int32 (exact: |q*x| < 2^23, at most
 * 8 pairs per lane per group); per group the integer sum is converted and scaled by s*dx into f32
 * accumulators; the bias term uses the exact f32 group sums sx. Why int16 and not f32 FMA or
 * int8: docs/PERFORMANCE.md ("Kernel arithmetic") measures all three on this machine; f32 FMA on
 * unpacked codes cannot keep up with two cores' bandwidth at <= 4 bits (a convert and an FMA per 8
 * codes against a pmaddwd per 16), and int8 activations (pmaddubsw) would be slightly faster again
 * but add an activation error of 2^-8 of the group maximum, which would show in the quality
 * measurements this runtime exists for; int16 costs no measurable accuracy.
 *
 * Code order (the layout of xq): a block of NB codes is unpacked into NV = NB/KB_L vectors of
 * KB_L int16 lanes. Widths that divide 8 (2, 4, 8) load KB_BYTES(bits, group) bytes, zero-extend
 * each byte to a lane (repeating the bytes when fewer than KB_L), and vector j, lane l holds
 * shift k = j*(KB_L/B) + l/B of byte l%B, i.e. code (l%B)*(8/bits) + k. Other widths (3, 5, 6) give
 * KB_L codes in natural order per vector (byte gather + per-lane shift).
 *
 * Primitives an ISA file defines before including this file:
 *   KB_L (int16 lanes), KB_FL (f32 lanes), kb_vi, kb_vf, KB_FN(name) (ISA-suffixed name)
 *   kb_izero, kb_fzero, kb_dot(acc, w, const int16_t *x)    acc += pmaddwd(w, x[0..KB_L))
 *   kb_fma_is(acc, iacc, s)   acc += float(iacc) * s       kb_hsum(kb_vf) -> float
 *   kb_unpack(p, bits, group, kb_vi out[NV])               one block of codes
 *   kb_loadw(kind, p) -> kb_vf (KB_FL weights of a plain kind), kb_loadf, kb_fmadd(a, b, c)
 *   kb_cvt_halfs(src, dtype, n, mul, dst)   dst[i] = f32(src[i]) * (mul ? mul[i] : 1)
 *   kb_dotf(a, b, n), kb_absmax_sum(x, n, *amax, *sum), kb_quant16(x, inv, n, out)
 */
#ifndef JANG_KERNELS_BODY_H
#define JANG_KERNELS_BODY_H

#include "kernels_isa.h"

/* ---- activation preparation ------------------------------------------------------------------ */

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
                               int64_t dxstride, float *out) {
    const int NB = KB_NB(bits, group), NV = KB_NV(bits, group), BPG = group / NB;
    kb_vf facc[KB_MAX_R][KB_MAX_T]; /* only [R][T] used: fixed sizes keep them in registers */
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            facc[r][t] = kb_fzero();
    for (int64_t g = 0; g < ng; g++) {
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
                facc[r][0] = kb_fma_is(facc[r][0], iacc[r][0], sc[r * ng + g]);
        } else {
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                const float d = dx[t * dxstride + g];
#pragma GCC unroll 8
                for (int r = 0; r < R; r++)
                    facc[r][t] = kb_fma_is(facc[r][t], iacc[r][t], sc[r * ng + g] * d);
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            out[r * T + t] = kb_hsum(facc[r][t]);
}

/* Row and token tiles (tuned on the dev box, docs/PERFORMANCE.md). */
#define KB_GEMV_R 4 /* rows per tile for one token */
#define KB_GEMM_R 1 /* rows x tokens per tile for several */
#define KB_GEMM_T 4
/* tokens whose xq stays in L2 while a worker sweeps its rows */
#define KB_L2_BYTES (256 * 1024)

/* Rows [r0, r1) of the job, the packed rows starting at `codes` (row r at codes + (r - base) *
 * rbytes), scales/biases of row r at s + r*ng. */
JANG_FORCE_INLINE void kb_affine_rows(const int bits, const int group, const jang_kjob *j,
                                      const uint8_t *codes, int64_t base, int64_t r0, int64_t r1,
                                      float *sc, float *bc) {
    const jang_weight *w = j->w;
    const int64_t cols = w->cols, rows = w->rows, ng = cols / group, n = j->n;
    const size_t rbytes = (size_t)(cols * bits / 8);
#define KB_ROW(r) (codes + (size_t)((r)-base) * rbytes)
    if (n == 1) {
        int64_t r = r0;
        float out[KB_GEMV_R];
        for (; r < r1; r += KB_GEMV_R) {
            const int nr = r1 - r < KB_GEMV_R ? (int)(r1 - r) : KB_GEMV_R;
            for (int i = 0; i < nr; i++) {
                kb_cvt_halfs(w->scales + (r + i) * ng, w->sdtype, ng, j->dx, sc + i * ng);
                kb_cvt_halfs(w->biases + (r + i) * ng, w->sdtype, ng, NULL, bc + i * ng);
            }
            if (nr == KB_GEMV_R)
                kb_tile(bits, group, KB_GEMV_R, 1, true, KB_ROW(r), rbytes, ng, sc, j->xq, cols,
                        j->dx, ng, out);
            else
                for (int i = 0; i < nr; i++)
                    kb_tile(bits, group, 1, 1, true, KB_ROW(r + i), rbytes, ng, sc + i * ng, j->xq,
                            cols, j->dx, ng, out + i);
            for (int i = 0; i < nr; i++)
                j->y[r + i] =
                    out[i] + kb_dotf(bc + i * ng, j->sx, ng) + (j->bias ? j->bias[r + i] : 0);
        }
        return;
    }
    /* several tokens: token blocks that fit L2, then row tiles, then T-token tiles */
    int64_t tb = KB_L2_BYTES / (cols * 2);
    tb = tb < KB_GEMM_T ? KB_GEMM_T : tb / KB_GEMM_T * KB_GEMM_T;
    for (int64_t tb0 = 0; tb0 < n; tb0 += tb) {
        const int64_t tb1 = tb0 + tb < n ? tb0 + tb : n;
        for (int64_t r = r0; r < r1; r += KB_GEMM_R) {
            const int nr = r1 - r < KB_GEMM_R ? (int)(r1 - r) : KB_GEMM_R;
            for (int i = 0; i < nr; i++) {
                kb_cvt_halfs(w->scales + (r + i) * ng, w->sdtype, ng, NULL, sc + i * ng);
                kb_cvt_halfs(w->biases + (r + i) * ng, w->sdtype, ng, NULL, bc + i * ng);
            }
            float out[KB_GEMM_R * KB_GEMM_T];
            int64_t t = tb0;
            for (; t + KB_GEMM_T <= tb1; t += KB_GEMM_T) {
                const int16_t *xq = j->xq + t * cols;
                const float *dx = j->dx + t * ng;
                if (nr == KB_GEMM_R)
                    kb_tile(bits, group, KB_GEMM_R, KB_GEMM_T, false, KB_ROW(r), rbytes, ng, sc, xq,
                            cols, dx, ng, out);
                else
                    for (int i = 0; i < nr; i++)
                        kb_tile(bits, group, 1, KB_GEMM_T, false, KB_ROW(r + i), rbytes, ng,
                                sc + i * ng, xq, cols, dx, ng, out + i * KB_GEMM_T);
                for (int i = 0; i < nr; i++)
                    for (int u = 0; u < KB_GEMM_T; u++)
                        j->y[(t + u) * rows + r + i] =
                            out[i * KB_GEMM_T + u] +
                            kb_dotf(bc + i * ng, j->sx + (t + u) * ng, ng) +
                            (j->bias ? j->bias[r + i] : 0);
            }
            for (; t < tb1; t++)
                for (int i = 0; i < nr; i++) {
                    kb_tile(bits, group, 1, 1, false, KB_ROW(r + i), rbytes, ng, sc + i * ng,
                            j->xq + t * cols, 0, j->dx + t * ng, 0, out);
                    j->y[t * rows + r + i] = out[0] + kb_dotf(bc + i * ng, j->sx + t * ng, ng) +
                                             (j->bias ? j->bias[r + i] : 0);
                }
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
    uint8_t *pad = (uint8_t *)(bc + JANG_KERNEL_MAX_TILE_ROWS * ng);
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
        kb_affine_rows(bits, group, j, codes, base, a, b, sc, bc);
    }
}

/* ---- plain weights (F32 / F16 / BF16): f32 FMA, R rows x T tokens ---------------------------- */

JANG_FORCE_INLINE float kb_plain_at(const int kind, const void *p, int64_t i) {
    if (kind == JANG_WK_F32) return ((const float *)p)[i];
    if (kind == JANG_WK_F16) return jang_f16_to_f32(((const uint16_t *)p)[i]);
    return jang_bf16_to_f32(((const uint16_t *)p)[i]);
}

JANG_FORCE_INLINE void kb_ptile(const int kind, const int R, const int T, const void *w,
                                int64_t cols, const float *x, int64_t xstride, float *out) {
    const size_t esz = kind == JANG_WK_F32 ? 4 : 2;
    kb_vf acc[KB_MAX_R][KB_MAX_T];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            acc[r][t] = kb_fzero();
    int64_t c = 0;
    for (; c + KB_FL <= cols; c += KB_FL) {
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            kb_vf wv = kb_loadw(kind, (const uint8_t *)w + ((size_t)(r * cols + c)) * esz);
#pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                acc[r][t] = kb_fmadd(wv, kb_loadf(x + t * xstride + c), acc[r][t]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            float s = kb_hsum(acc[r][t]);
            for (int64_t k = c; k < cols; k++)
                s += kb_plain_at(kind, w, r * cols + k) * x[t * xstride + k];
            out[r * T + t] = s;
        }
}

#define KB_PGEMV_R 4
#define KB_PGEMM_R 2
#define KB_PGEMM_T 4

JANG_FORCE_INLINE void kb_plain(const int kind, const jang_kjob *j, int64_t r0, int64_t r1,
                                void *scratch) {
    const jang_weight *w = j->w;
    const int64_t cols = w->cols, rows = w->rows, n = j->n;
    const size_t esz = kind == JANG_WK_F32 ? 4 : 2;
    const uint8_t *base = w->data;
    float out[KB_PGEMV_R * KB_PGEMM_T];
    if (n == 1) {
        int64_t r = r0;
        for (; r + KB_PGEMV_R <= r1; r += KB_PGEMV_R) {
            kb_ptile(kind, KB_PGEMV_R, 1, base + (size_t)(r * cols) * esz, cols, j->x, cols, out);
            for (int i = 0; i < KB_PGEMV_R; i++)
                j->y[r + i] = out[i] + (j->bias ? j->bias[r + i] : 0);
        }
        for (; r < r1; r++) {
            kb_ptile(kind, 1, 1, base + (size_t)(r * cols) * esz, cols, j->x, cols, out);
            j->y[r] = out[0] + (j->bias ? j->bias[r] : 0);
        }
        return;
    }
    int64_t tb = KB_L2_BYTES / (cols * 4);
    tb = tb < KB_PGEMM_T ? KB_PGEMM_T : tb / KB_PGEMM_T * KB_PGEMM_T;
    for (int64_t tb0 = 0; tb0 < n; tb0 += tb) {
        const int64_t tb1 = tb0 + tb < n ? tb0 + tb : n;
        for (int64_t r = r0; r < r1; r += KB_PGEMM_R) {
            const int nr = r1 - r < KB_PGEMM_R ? (int)(r1 - r) : KB_PGEMM_R;
            const uint8_t *wr = base + (size_t)(r * cols) * esz;
            int64_t t = tb0;
            for (; t + KB_PGEMM_T <= tb1; t += KB_PGEMM_T) {
                if (nr == KB_PGEMM_R)
                    kb_ptile(kind, KB_PGEMM_R, KB_PGEMM_T, wr, cols, j->x + t * cols, cols, out);
                else
                    for (int i = 0; i < nr; i++)
                        kb_ptile(kind, 1, KB_PGEMM_T, wr + (size_t)(i * cols) * esz, cols,
                                 j->x + t * cols, cols, out + i * KB_PGEMM_T);
                for (int i = 0; i < nr; i++)
                    for (int u = 0; u < KB_PGEMM_T; u++)
                        j->y[(t + u) * rows + r + i] =
                            out[i * KB_PGEMM_T + u] + (j->bias ? j->bias[r + i] : 0);
            }
            for (; t < tb1; t++)
                for (int i = 0; i < nr; i++) {
                    kb_ptile(kind, 1, 1, wr + (size_t)(i * cols) * esz, cols, j->x + t * cols, cols,
                             out);
                    j->y[t * rows + r + i] = out[0] + (j->bias ? j->bias[r + i] : 0);
                }
        }
    }
    (void)scratch;
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
    }

#endif
