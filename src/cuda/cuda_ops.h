/* cuda_ops.h — the CUDA kernels' C entry points (launchers), as the CUDA backend
 * (src/backend/backend_cuda.c) calls them: every pointer is device memory unless it says host,
 * every launcher enqueues on `stream` and returns the launch's cudaError_t as an int (0 = ok).
 * The affine matmul is instantiated from the one width and group list (src/format/format.h).
 * Built only with `make CUDA=1`; checked against the CPU backend by tests/test_cuda.c.
 */
#ifndef JANG_CUDA_OPS_H
#define JANG_CUDA_OPS_H

#include "../quant/weight.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CUstream_st *jang_cu_stream;

/* Per token of an attention call: its sequence's cache (this layer) and how many positions it
 * sees (pos + 1). */
typedef struct jang_cu_tok {
    const float *k, *v;
    int64_t len;
} jang_cu_tok;

/* Whether the affine matmul has a kernel for (bits, group). */
int jang_cu_affine_supported(int bits, int group);
/* y (n, rows) = x (n, cols) · Wᵀ (+ bias): one warp per row, every token in one pass over the
 * weights (up to 8 tokens per pass), each token's sum in the same order whatever n is. */
int jang_cu_matmul(const jang_weight *w, const float *x, int64_t n, const float *bias, float *y,
                   jang_cu_stream stream);
/* out[t] = row tok[t] of w (tok: device ids). */
int jang_cu_embed(const jang_weight *w, const int32_t *tok, int64_t n, float *out,
                  jang_cu_stream stream);
int jang_cu_rmsnorm(float *out, const float *x, const float *w, int64_t rows, int64_t width,
                    float eps, float offset, jang_cu_stream stream);
/* pos: device positions of the n tokens. */
int jang_cu_rope(float *x, int64_t n, int64_t n_heads, int64_t hd, const int64_t *pos,
                 int64_t rope_dim, int neox, const float *inv_freq, float mscale,
                 jang_cu_stream stream);
/* toks: device (n); scores: device scratch of n * n_heads * max_len floats. */
int jang_cu_attention(const float *q, const jang_cu_tok *toks, int64_t n, int64_t n_heads,
                      int64_t n_kv_heads, int64_t hd, float scale, int64_t max_len, float *scores,
                      float *out, jang_cu_stream stream);
/* act 0: SiLU, 1: GELU (tanh). */
int jang_cu_glu(int act, float *a, const float *b, int64_t n, jang_cu_stream stream);
int jang_cu_add(float *x, const float *y, int64_t n, jang_cu_stream stream);
int jang_cu_scale(float *x, float s, int64_t n, jang_cu_stream stream);
int jang_cu_gather(float *dst, const float *src, const int32_t *idx, int64_t n, int64_t width,
                   jang_cu_stream stream);
int jang_cu_scatter_add(float *dst, const float *src, const int32_t *idx, const float *wt,
                        int64_t n, int64_t width, jang_cu_stream stream);

#ifdef __cplusplus
}
#endif

#endif
