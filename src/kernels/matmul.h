/* matmul.h — what the CPU kernels offer their one user, the CPU backend (src/backend/): the
 * instruction-set tables and their run-time choice, the matrix product over a worker pool, the
 * attention of a block of queries and the SwiGLU activation, each with an explicit table.
 *
 * jang_matmul_isa computes y[t, r] = sum_c W[r, c] * x[t, c] for n tokens, split over rows across
 * a worker pool (kernels.h: scalar reference, AVX2, AVX-512, AVX-512 VNNI). The weight view is
 * src/quant/weight.h. Tested by tests/test_kernels.c (each table against the reference) and,
 * through the backend, tests/test_model*.c.
 */
#ifndef JANG_MATMUL_H
#define JANG_MATMUL_H

#include "../quant/weight.h"
#include "jang.h"
#include "pool.h"

#define JANG_ISA_MAP(X)                                                                            \
    X(SCALAR, "scalar")                                                                            \
    X(AVX2, "avx2")                                                                                \
    X(AVX512, "avx512")                                                                            \
    X(AVX512VNNI, "avx512vnni")

typedef enum {
#define JANG_X_(e, s) JANG_ISA_##e,
    JANG_ISA_MAP(JANG_X_)
#undef JANG_X_
        JANG_ISA_COUNT
} jang_isa;

const char *jang_isa_name(jang_isa isa);
/* Whether this CPU can run the table of `isa`. */
bool jang_isa_supported(jang_isa isa);
/* The ISA named `name` ("scalar", "avx2", "avx512", "avx512vnni"): JANG_E_ARG for an unknown name,
 * JANG_E_UNSUPPORTED for one this CPU cannot run. */
jang_status jang_isa_from_name(const char *name, jang_isa *out);
/* Chooses the default table once (thread-safe, idempotent): JANG_ISA if set, else the best
 * supported. JANG_E_ARG for an unknown JANG_ISA, JANG_E_UNSUPPORTED for one this CPU cannot run. */
jang_status jang_kernels_init(void);
/* The default ISA (calls jang_kernels_init; aborts if it failed: call jang_kernels_init first, as
 * the CPU backend does, or use it in tests and benchmarks). */
jang_isa jang_isa_active(void);

/* Row r of w as f32 (cols floats): the reference dequantization. */
void jang_weight_row(const jang_weight *w, int64_t r, float *out);

/* y (n, rows) = x (n, cols) · Wᵀ (+ bias (rows) when not NULL) with the table of `isa`, over the
 * pool's workers. Affine weights go through int16-quantized activations in the fast tables
 * (kernels_body.h) below JANG_KERNEL_GEMM_MIN tokens, prompts through the f32 GEMM. `invariant`:
 * every token's row of y is bit-identical to its one-token call's (the one-token arithmetic for
 * every token: a batched decode step, where each token is another sequence's, gives each the
 * logits it would have alone); otherwise a prompt's tokens take the GEMM from 2 (plain) or
 * JANG_KERNEL_GEMM_MIN (affine) tokens on. JANG_E_NOMEM when the scratch cannot grow. */
jang_status jang_matmul_isa(jang_pool *pool, jang_isa isa, const jang_weight *w, const float *x,
                            int64_t n, const float *bias, float *y, bool invariant);

/* Causal attention of nq (1 .. JANG_ATTEND_MAX_Q) consecutive queries of one head: query u (hd
 * floats at q + u*qstride) sees the len + u cached positions 0 .. len+u-1 (key/value j at
 * k + j*stride, v + j*stride): scores_j = scale * q_u . k_j, softmax, out_u = sum_j p_j v_j at
 * out + u*ostride. The keys and values are read once for all nq queries. scores has room for
 * nq * (len + nq - 1) floats. Vector exp in the fast tables, libm's expf in the reference. */
#define JANG_ATTEND_MAX_Q 4
void jang_attend_isa(jang_isa isa, const float *q, int64_t qstride, int nq, const float *k,
                     const float *v, int64_t stride, int64_t len, int64_t hd, float scale,
                     float *scores, float *out, int64_t ostride);

/* a[i] = silu(a[i]) * b[i] = a[i] / (1 + exp(-a[i])) * b[i] for i < n (the gated FFN). */
void jang_swiglu_isa(jang_isa isa, float *a, const float *b, int64_t n);

#endif
