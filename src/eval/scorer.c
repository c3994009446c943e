/* scorer.c — log-likelihood and greedy scoring over a model for MMLU and HellaSwag. The scorer
 * remembers which tokens sit in the model's KV cache, so a call re-runs only what follows the
 * longest prefix it shares with the previous call (plus the last context token, whose logits
 * score the first continuation token): a 5-shot header, a chat template's system prompt or the
 * context shared by two HellaSwag endings is evaluated once.
 * Tested by tests/test_eval.c (against a plain forward pass over the whole sequence).
 */
#include "eval_internal.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct jang_scorer {
    jang_context *m;
    int64_t V, max_ctx, n_batch;
    int32_t *cache; /* (max_ctx) tokens whose K/V are valid at positions 0 .. n_cache-1 */
    int64_t n_cache;
    int32_t *seq;  /* (max_ctx + 1) scratch: the sequence being scored */
    float *logits; /* (n_batch, V) */
};

jang_status jang_scorer_init(jang_context *m, int64_t n_batch, jang_scorer **out) {
    if (!out) return jang_fail(JANG_E_ARG, "jang_scorer_init: out is NULL");
    *out = NULL;
    if (!m) return jang_fail(JANG_E_ARG, "jang_scorer_init: context is NULL");
    jang_scorer *s = jang_calloc(1, sizeof *s, "scorer");
    if (!s) return JANG_E_NOMEM;
    s->m = m;
    s->V = jang_model_get_desc(jang_context_model(m))->vocab_size;
    s->max_ctx = jang_context_max_ctx(m);
    s->n_batch = n_batch > 0 ? n_batch : 512;
    if (s->n_batch > s->max_ctx) s->n_batch = s->max_ctx;
    s->cache = malloc((size_t)s->max_ctx * sizeof(int32_t));
    s->seq = malloc((size_t)(s->max_ctx + 1) * sizeof(int32_t));
    s->logits = malloc((size_t)s->n_batch * (size_t)s->V * sizeof(float));
    if (!s->cache || !s->seq || !s->logits) {
        jang_scorer_free(s);
        return jang_fail(JANG_E_NOMEM, "scorer buffers: out of memory");
    }
    *out = s;
    return JANG_OK;
}

void jang_scorer_free(jang_scorer *s) {
    if (!s) return;
    free(s->cache);
    free(s->seq);
    free(s->logits);
    free(s);
}

int64_t jang_scorer_max_ctx(const jang_scorer *s) { return s ? s->max_ctx : 0; }

static int64_t common_prefix(const int32_t *a, int64_t na, const int32_t *b, int64_t nb) {
    int64_t n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* Runs s->seq[start .. end) at those positions. Rows from `from` on get logits and are passed to
 * fn(ud, position, row); batches never straddle `from`. The cache then holds seq[0 .. end). */
static jang_status run_span(jang_scorer *s, int64_t start, int64_t end, int64_t from,
                            jang_status (*fn)(void *ud, int64_t pos, const float *row), void *ud) {
    s->n_cache = start < s->n_cache ? start : s->n_cache; /* beyond start is overwritten */
    for (int64_t p = start; p < end;) {
        int64_t lim = p < from ? from : end;
        int64_t nb = lim - p < s->n_batch ? lim - p : s->n_batch;
        bool want = p >= from;
        jang_status st = jang_context_forward(s->m, s->seq + p, nb, p, want, s->logits);
        if (st) {
            s->n_cache = 0;
            return st;
        }
        memcpy(s->cache + p, s->seq + p, (size_t)nb * sizeof(int32_t));
        s->n_cache = p + nb;
        for (int64_t t = p; want && t < p + nb; t++)
            if ((st = fn(ud, t, s->logits + (t - p) * s->V))) return st;
        p += nb;
    }
    return JANG_OK;
}

typedef struct {
    jang_scorer *s;
    double sum;
    bool greedy;
} loglik_ctx;

static jang_status loglik_row(void *ud, int64_t t, const float *row) {
    loglik_ctx *c = ud;
    int32_t am, target = c->s->seq[t + 1];
    double lse = jang_eval_lse(row, c->s->V, &am);
    if (!isfinite(lse)) return jang_fail(JANG_E_FORMAT, "logits hold NaN or Inf");
    c->sum += (double)jang_eval_logp(row, lse, target);
    c->greedy = c->greedy && am == target;
    return JANG_OK;
}

jang_status jang_scorer_loglik(jang_scorer *s, const int32_t *ctx, int64_t n_ctx,
                               const int32_t *cont, int64_t n_cont, double *logprob, bool *greedy) {
    if (!s || !ctx || !cont || !logprob || n_ctx < 1 || n_cont < 1)
        return jang_fail(JANG_E_ARG, "jang_scorer_loglik: needs a context and a continuation");
    int64_t total = n_ctx + n_cont;
    /* positions 0 .. total-2 are run; the last continuation token is only a target */
    if (total - 1 > s->max_ctx)
        return jang_fail(JANG_E_ARG, "%lld tokens exceed the context of %lld", (long long)total,
                         (long long)s->max_ctx);
    for (int64_t i = 0; i < n_cont; i++)
        if (cont[i] < 0 || cont[i] >= s->V)
            return jang_fail(JANG_E_ARG, "token id %d out of range [0, %lld)", cont[i],
                             (long long)s->V);
    memcpy(s->seq, ctx, (size_t)n_ctx * sizeof(int32_t));
    memcpy(s->seq + n_ctx, cont, (size_t)n_cont * sizeof(int32_t));
    int64_t lcp = common_prefix(s->cache, s->n_cache, s->seq, total - 1);
    int64_t start = lcp < n_ctx - 1 ? lcp : n_ctx - 1;
    loglik_ctx c = {s, 0, true};
    jang_status st = run_span(s, start, total - 1, n_ctx - 1, loglik_row, &c);
    if (st) return st;
    *logprob = c.sum;
    if (greedy) *greedy = c.greedy;
    return JANG_OK;
}

static jang_status keep_last(void *ud, int64_t t, const float *row) {
    (void)ud;
    (void)t;
    (void)row;
    return JANG_OK;
}

jang_status jang_scorer_greedy(jang_scorer *s, const int32_t *prompt, int64_t n, int64_t max_new,
                               bool (*stop)(void *ud, int32_t token), void *ud, int32_t *out,
                               int64_t *n_out) {
    if (!s || !prompt || n < 1 || !out || !n_out || max_new < 0)
        return jang_fail(JANG_E_ARG, "jang_scorer_greedy: bad argument");
    *n_out = 0;
    if (n > s->max_ctx)
        return jang_fail(JANG_E_ARG, "a prompt of %lld tokens exceeds the context of %lld",
                         (long long)n, (long long)s->max_ctx);
    if (max_new == 0) return JANG_OK;
    memcpy(s->seq, prompt, (size_t)n * sizeof(int32_t));
    int64_t lcp = common_prefix(s->cache, s->n_cache, s->seq, n);
    int64_t start = lcp < n - 1 ? lcp : n - 1;
    jang_status st = run_span(s, start, n, n - 1, keep_last, NULL);
    if (st) return st;
    const float *row = s->logits; /* the batch holding position n-1 has only that row */
    int64_t pos = n;
    for (;;) {
        int32_t next;
        double lse = jang_eval_lse(row, s->V, &next);
        if (!isfinite(lse)) return jang_fail(JANG_E_FORMAT, "logits hold NaN or Inf");
        out[(*n_out)++] = next;
        if ((stop && stop(ud, next)) || *n_out == max_new || pos >= s->max_ctx) break;
        if ((st = jang_context_forward(s->m, &next, 1, pos, false, s->logits))) {
            s->n_cache = 0;
            return st;
        }
        s->cache[pos] = next;
        s->n_cache = ++pos;
        row = s->logits;
    }
    return JANG_OK;
}
