/* eval_internal.h — helpers shared by the evaluation files (src/eval/): SHA-256 streaming (Nettle),
 * log-softmax pieces computed one way everywhere (so a reference run and an identical run give
 * bit-identical log-probabilities and a KLD of exactly 0), and top-k selection.
 * Not part of the public API; tested through tests/test_eval.c.
 */
#ifndef JANG_EVAL_INTERNAL_H
#define JANG_EVAL_INTERNAL_H

#include "jang.h"

#include <nettle/sha2.h>
#include <stddef.h>
#include <stdint.h>

/* SHA-256 streaming through Nettle (sha256.c). */
typedef struct jang_sha256_ctx {
    struct sha256_ctx n;
} jang_sha256_ctx;

void jang_sha256_init(jang_sha256_ctx *c);
void jang_sha256_update(jang_sha256_ctx *c, const void *data, size_t len);
void jang_sha256_final(jang_sha256_ctx *c, uint8_t out[32]);

/* log(sum(exp(x))) of a row, in double around the max; *argmax = the first maximum (lowest id).
 * Not finite when the row holds NaN or Inf. */
double jang_eval_lse(const float *x, int64_t n, int32_t *argmax);
/* The log-probability of token i as stored and compared: (float)(x[i] - lse). */
static inline float jang_eval_logp(const float *x, double lse, int64_t i) {
    return (float)((double)x[i] - lse);
}
/* Probability mass of the tokens not in ids[0..k) (the tail), summed directly in id order (no
 * 1 - sum cancellation) and returned as the float that is stored; when m > 0 also m systematic
 * samples of the tail in proportion to probability: the point (j + u) / m of the tail's
 * cumulative mass (id order) picks sample j, u in [0, 1) from seed. Samples come out in id order
 * (repeats allowed); all -1 (log-probability 0) when the tail holds no probability. mask is n
 * zero bytes of scratch, left zero. */
float jang_eval_tail(const float *x, int64_t n, double lse, const int32_t *ids, int32_t k,
                     uint8_t *mask, int32_t m, uint64_t seed, int32_t *sample_ids,
                     float *sample_logp);
/* The k largest of x (k <= n), most probable first, ties by lower id, into ids. */
void jang_eval_topk(const float *x, int64_t n, int32_t k, int32_t *ids);

#endif
