/* kernels.h — the CPU kernel tables behind jang_matmul and their run-time dispatch.
 *
 * One table per ISA (scalar = the reference of matmul.c, avx2, avx512, avx512vnni), each compiled
 * in its own file with its own flags (kernels_avx2.c, kernels_avx512.c, kernels_avx512vnni.c =
 * the AVX-512 file with vpdpwssd for the int16 dot) from the one generic body in
 * kernels_body.h. A table row exists for every (bits x group) of the affine qtype table
 * (quant.h) and for the plain F32/F16/BF16 kinds. jang_kernels_init() picks the best table the CPU
 * supports once, avx512vnni excepted (no measured gain; JANG_ISA=scalar|avx2|avx512|avx512vnni
 * forces one; an unsupported or unknown name is an error). Tested by tests/test_kernels.c (every
 * row of every table available here against the scalar reference).
 */
#ifndef JANG_KERNELS_H
#define JANG_KERNELS_H

#include "../quant/quant.h"
#include "matmul.h"

/* One matmul call as the kernels see it. The driver (matmul.c) fills the activation side once per
 * call (prep), then every worker computes its rows. For affine weights and fewer than
 * JANG_KERNEL_GEMM_MIN tokens the activations are quantized per (token, group) to int16 in the
 * order the ISA's unpack produces codes:
 *   xq (n, cols) int16, dx (n, ng) step of the int16 grid, sx (n, ng) exact f32 sum of the group;
 * so that y[t,r] = sum_g scale[r,g] * dx[t,g] * sum_{c in g} q[r,c] * xq[t,c]
 *                + sum_g bias[r,g] * sx[t,g].
 * From JANG_KERNEL_GEMM_MIN tokens on (plain weights: from 2; neither for an invariant call),
 * xf holds the f32
 * activations instead, in panels of panel_tokens tokens (kernels_body.h kb_prep_panels), for the
 * f32 GEMM on dequantized rows. */
typedef struct jang_kjob {
    const jang_weight *w;
    const float *x; /* (n, cols) f32 activations */
    const float *bias;
    float *y; /* (n, rows) */
    int64_t n;
    int16_t *xq; /* affine, n < JANG_KERNEL_GEMM_MIN */
    float *dx, *sx;
    float *xf;     /* the GEMM (matmul.c says when); NULL: one token at a time */
    bool prefetch; /* GEMV: software prefetch ahead of the rows (matmul.c says when) */
} jang_kjob;

#define JANG_KERNEL_GEMM_MIN 8

/* Computes rows [r0, r1) of y for all n tokens; scratch holds jang_kernel_scratch_bytes(). */
typedef void (*jang_krows_fn)(const jang_kjob *j, int64_t r0, int64_t r1, void *scratch);
/* Fills xq, dx, sx for tokens [t0, t1). */
typedef void (*jang_kprep_fn)(const jang_kjob *j, int64_t t0, int64_t t1);

typedef struct {
    jang_krows_fn rows;
    jang_kprep_fn prep; /* NULL: the rows function reads x directly (scalar ISA) */
} jang_affine_kernel;

/* A table row per code width (indexed by bits; NULL rows for widths quant.h does not list); each
 * handles every group size of quant.h's map. */
/* Causal attention of 1..JANG_ATTEND_MAX_Q consecutive queries of one head, and the SwiGLU
 * activation: see jang_attend and jang_swiglu (matmul.h). */
typedef void (*jang_attend_fn)(const float *q, int64_t qstride, int nq, const float *k,
                               const float *v, int64_t stride, int64_t len, int64_t hd, float scale,
                               float *scores, float *out, int64_t ostride);
typedef void (*jang_swiglu_fn)(float *a, const float *b, int64_t n);

typedef struct jang_kernels {
    const char *name;
    jang_affine_kernel affine[JANG_AFFINE_MAX_BITS + 1];
    jang_krows_fn plain[3]; /* JANG_WK_F32, F16, BF16 */
    /* from 2 tokens on (invariant calls excepted), plain weights read x as panels (j->xf) made
     * by plain_prep; NULL: x */
    jang_kprep_fn plain_prep;
    int panel_tokens; /* tokens per panel of j->xf (kernels_body.h kb_prep_panels) */
    jang_attend_fn attend;
    jang_swiglu_fn swiglu;
} jang_kernels;

/* The tables (those not compiled or not usable here are still defined; ask jang_isa_supported). */
extern const jang_kernels jang_kernels_scalar, jang_kernels_avx2, jang_kernels_avx512,
    jang_kernels_avx512vnni;

/* The table of `isa`. */
const jang_kernels *jang_isa_kernels(jang_isa isa);

/* Per-worker scratch a rows function may use: the f32 scales and biases of a row tile and a
 * padded copy of the last rows (the unpackers read up to JANG_KERNEL_OVERREAD bytes past a block,
 * never past the matrix: rows near its end are copied first). */
#define JANG_KERNEL_MAX_TILE_ROWS 12
#define JANG_KERNEL_OVERREAD 64
size_t jang_kernel_scratch_bytes(const jang_weight *w);

#endif
