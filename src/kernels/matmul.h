/* matmul.h — weight views and the matrix products of the runtime.
 *
 * A jang_weight describes one linear layer's matrix as stored: f32/f16/bf16 rows, or MLX affine
 * groups (packed uint32 codes + f16/bf16 scales and biases). jang_matmul computes
 * y[t, r] = sum_c W[r, c] * x[t, c] for n tokens, split over rows across a worker pool, with the
 * kernel table chosen at start-up (kernels.h: scalar reference, AVX2, AVX-512; JANG_ISA forces
 * one). Tested by tests/test_kernels.c (each table against the reference) and tests/test_model*.c.
 */
#ifndef JANG_MATMUL_H
#define JANG_MATMUL_H

#include "jang.h"
#include "pool.h"

typedef enum {
    JANG_WK_F32,
    JANG_WK_F16,
    JANG_WK_BF16,
    JANG_WK_AFFINE,
} jang_wkind;

typedef struct jang_weight {
    jang_wkind kind;
    int64_t rows, cols;              /* out features, in features */
    const void *data;                /* (rows, cols) elements, or uint32 (rows, cols*bits/32) */
    const uint16_t *scales, *biases; /* AFFINE: (rows, cols/group), f16 or bf16 */
    jang_dtype sdtype;               /* AFFINE: dtype of scales and biases */
    int bits, group;                 /* AFFINE */
} jang_weight;

/* Row r of w as f32 (cols floats). */
void jang_weight_row(const jang_weight *w, int64_t r, float *out);

/* y (n, rows) = x (n, cols) · Wᵀ (+ bias (rows) when not NULL). pool must not be NULL. Affine
 * weights go through int16-quantized activations in the fast tables (kernels_body.h). */
void jang_matmul(jang_pool *pool, const jang_weight *w, const float *x, int64_t n,
                 const float *bias, float *y);

/* Causal attention of nq (1 .. JANG_ATTEND_MAX_Q) consecutive queries of one head: query u (hd
 * floats at q + u*qstride) sees the len + u cached positions 0 .. len+u-1 (key/value j at
 * k + j*stride, v + j*stride): scores_j = scale * q_u . k_j, softmax, out_u = sum_j p_j v_j at
 * out + u*ostride. The keys and values are read once for all nq queries. scores has room for
 * nq * (len + nq - 1) floats. Uses the kernel table of jang_matmul (vector exp in the fast
 * tables, libm's expf in the reference). */
#define JANG_ATTEND_MAX_Q 4
void jang_attend(const float *q, int64_t qstride, int nq, const float *k, const float *v,
                 int64_t stride, int64_t len, int64_t hd, float scale, float *scores, float *out,
                 int64_t ostride);

/* a[i] = silu(a[i]) * b[i] = a[i] / (1 + exp(-a[i])) * b[i] for i < n (the gated FFN). */
void jang_swiglu(float *a, const float *b, int64_t n);

/* Picks the kernel table once (see kernels.h); the model loader calls it so that a bad JANG_ISA
 * is reported as an error. */
jang_status jang_kernels_init(void);

#endif
