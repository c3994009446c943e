/* ppl.c — perplexity and KL divergence the way llama-perplexity computes them (tools/perplexity/
 * perplexity.cpp of the llama.cpp in tools/build-llama-cpp): chunking, BOS at each chunk start,
 * the scored second half, the error formulas, the KLD quantiles. The accumulator works on rows of
 * logits so the math is testable without a model; jang_ppl_run drives a model over token ids.
 * Tested by tests/test_eval.c (known distributions, brute-force KLD, tiny models) and by the
 * cross-check against llama-perplexity in docs/QUALITY.md.
 */
#include "eval_internal.h"
#include "util.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- row helpers ----------------------------------------------------------------------------- */

double jang_eval_lse(const float *x, int64_t n, int32_t *argmax) {
    float mx = x[0];
    int32_t am = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > mx) {
            mx = x[i];
            am = (int32_t)i;
        }
    if (argmax) *argmax = am;
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)expf(x[i] - mx);
    return (double)mx + log(s);
}

static inline uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

float jang_eval_tail(const float *x, int64_t n, double lse, const int32_t *ids, int32_t k,
                     uint8_t *mask, int32_t m, uint64_t seed, int32_t *sample_ids,
                     float *sample_logp) {
    for (int32_t j = 0; j < k; j++)
        mask[ids[j]] = 1;
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        if (!mask[i]) s += exp((double)x[i] - lse);
    if (m > 0 && s > 0) {
        /* the same sum in the same order, so the last point (m - 1 + u) / m * s < s is reached */
        double u = (double)(splitmix64(seed) >> 11) * 0x1.0p-53, acc = 0;
        int32_t j = 0;
        int64_t last = -1;
        for (int64_t i = 0; i < n && j < m; i++) {
            if (mask[i]) continue;
            double pi = exp((double)x[i] - lse);
            if (pi > 0) last = i;
            acc += pi;
            while (j < m && ((double)j + u) / (double)m * s < acc) {
                sample_ids[j] = (int32_t)i;
                sample_logp[j++] = jang_eval_logp(x, lse, i);
            }
        }
        for (; j < m; j++) { /* not reached; guards against rounding all the same */
            sample_ids[j] = (int32_t)last;
            sample_logp[j] = jang_eval_logp(x, lse, last);
        }
    } else {
        for (int32_t j = 0; j < m; j++) {
            sample_ids[j] = -1;
            sample_logp[j] = 0;
        }
    }
    for (int32_t j = 0; j < k; j++)
        mask[ids[j]] = 0;
    return (float)s;
}

/* a ranks before b: higher logit, then lower id */
static inline bool before(const float *x, int32_t a, int32_t b) {
    return x[a] > x[b] || (x[a] == x[b] && a < b);
}

/* min-heap on "before": the root is the worst of the kept ids */
static void sift_down(const float *x, int32_t *h, int32_t k, int32_t i) {
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < k && before(x, h[w], h[l])) w = l;
        if (r < k && before(x, h[w], h[r])) w = r;
        if (w == i) return;
        int32_t t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

void jang_eval_topk(const float *x, int64_t n, int32_t k, int32_t *ids) {
    for (int32_t i = 0; i < k; i++)
        ids[i] = i;
    for (int32_t i = k / 2 - 1; i >= 0; i--)
        sift_down(x, ids, k, i);
    for (int64_t i = k; i < n; i++)
        if (before(x, (int32_t)i, ids[0])) {
            ids[0] = (int32_t)i;
            sift_down(x, ids, k, 0);
        }
    /* heap sort: repeatedly move the worst to the end */
    for (int32_t e = k - 1; e > 0; e--) {
        int32_t t = ids[0];
        ids[0] = ids[e];
        ids[e] = t;
        sift_down(x, ids, e, 0);
    }
}

/* ---- statistics helpers ---------------------------------------------------------------------- */

void jang_mean_err(double s, double s2, int64_t n, double *mean, double *err) {
    if (n < 1) {
        *mean = *err = 0;
        return;
    }
    double f = s / (double)n, df = s2 / (double)n - f * f;
    *mean = f;
    *err = df > 0 && n > 10 ? sqrt(df / (double)(n - 1)) : 0.0;
}

void jang_wilson_interval(int64_t k, int64_t n, double z, double *lo, double *hi) {
    if (n <= 0) {
        *lo = 0;
        *hi = 1;
        return;
    }
    double p = (double)k / (double)n, nn = (double)n, z2 = z * z;
    double c = (p + z2 / (2 * nn)) / (1 + z2 / nn);
    double h = z * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / (1 + z2 / nn);
    *lo = c - h < 0 ? 0 : c - h;
    *hi = c + h > 1 ? 1 : c + h;
}

/* ---- accumulator ----------------------------------------------------------------------------- */

struct jang_ppl_acc {
    int64_t n_vocab;
    uint8_t *mask; /* (n_vocab) scratch for the tail sums */
    int64_t count;
    double sum_nll, sum_nll2;
    /* with a reference */
    int64_t n_ref, n_same_top;
    double sum_nll_base, sum_nll_base2, sum_nll_nll_base;
    double sum_kld, sum_kld2, sum_lower, sum_dp, sum_dp2, sum_dp4, sum_tail, max_tail;
    double *kld; /* (cap) per-position KLD, for the quantiles */
    int64_t cap;
};

jang_status jang_ppl_acc_init(int64_t n_vocab, jang_ppl_acc **out) {
    if (!out) return jang_fail(JANG_E_ARG, "jang_ppl_acc_init: out is NULL");
    *out = NULL;
    if (n_vocab < 1 || n_vocab > INT32_MAX)
        return jang_fail(JANG_E_ARG, "jang_ppl_acc_init: vocabulary of %lld", (long long)n_vocab);
    jang_ppl_acc *a = jang_calloc(1, sizeof *a, "ppl accumulator");
    if (!a) return JANG_E_NOMEM;
    a->n_vocab = n_vocab;
    a->mask = jang_calloc((size_t)n_vocab, 1, "ppl accumulator");
    if (!a->mask) {
        free(a);
        return JANG_E_NOMEM;
    }
    *out = a;
    return JANG_OK;
}

void jang_ppl_acc_free(jang_ppl_acc *a) {
    if (!a) return;
    free(a->mask);
    free(a->kld);
    free(a);
}

jang_status jang_ppl_acc_add(jang_ppl_acc *a, const float *logits, int32_t target,
                             const jang_ref_token *ref) {
    if (!a || !logits) return jang_fail(JANG_E_ARG, "jang_ppl_acc_add: NULL argument");
    if (target < 0 || target >= a->n_vocab)
        return jang_fail(JANG_E_ARG, "jang_ppl_acc_add: target %d out of range [0, %lld)", target,
                         (long long)a->n_vocab);
    if (ref && ref->target != target)
        return jang_fail(JANG_E_ARG,
                         "the reference scores token %d where this run has %d: another text or "
                         "tokenizer",
                         ref->target, target);
    if (ref && (ref->k < 1 || ref->k > a->n_vocab))
        return jang_fail(JANG_E_ARG, "jang_ppl_acc_add: reference top-k of %d", ref->k);
    if (ref && a->n_ref != a->count)
        return jang_fail(JANG_E_ARG, "jang_ppl_acc_add: every position needs a reference or none");
    int32_t am;
    double lse = jang_eval_lse(logits, a->n_vocab, &am);
    if (!isfinite(lse)) return jang_fail(JANG_E_FORMAT, "logits hold NaN or Inf");
    float lt = jang_eval_logp(logits, lse, target);
    double nll = -(double)lt;
    if (ref) {
        if (a->n_ref == a->cap) {
            int64_t cap = a->cap ? 2 * a->cap : 4096;
            double *k = realloc(a->kld, (size_t)cap * sizeof(double));
            if (!k) return jang_fail(JANG_E_NOMEM, "KLD values: out of memory");
            a->kld = k;
            a->cap = cap;
        }
        double top = 0, kl, lower;
        for (int32_t j = 0; j < ref->k; j++) {
            int32_t id = ref->ids[j];
            if (id < 0 || id >= a->n_vocab)
                return jang_fail(JANG_E_ARG, "jang_ppl_acc_add: reference id %d", id);
            double lp = (double)ref->logp[j];
            top += exp(lp) * (lp - (double)jang_eval_logp(logits, lse, id));
        }
        kl = lower = top;
        if (ref->tail > 0) {
            float qt = jang_eval_tail(logits, a->n_vocab, lse, ref->ids, ref->k, a->mask, 0, 0,
                                      NULL, NULL);
            double q = qt > 0 ? (double)qt : 1e-300;
            lower += (double)ref->tail * (log((double)ref->tail) - log(q));
            kl = lower;
            if (ref->m > 0 && ref->sample_ids[0] >= 0) {
                double s = 0;
                for (int32_t j = 0; j < ref->m; j++) {
                    int32_t id = ref->sample_ids[j];
                    if (id < 0 || id >= a->n_vocab)
                        return jang_fail(JANG_E_ARG, "jang_ppl_acc_add: reference sample id %d",
                                         id);
                    s += (double)ref->sample_logp[j] - (double)jang_eval_logp(logits, lse, id);
                }
                kl = top + (double)ref->tail * s / (double)ref->m;
            }
        }
        a->sum_lower += lower;
        double nll_base = -(double)ref->target_logp;
        double dp = exp((double)lt) - exp((double)ref->target_logp);
        a->sum_nll_base += nll_base;
        a->sum_nll_base2 += nll_base * nll_base;
        a->sum_nll_nll_base += nll * nll_base;
        a->sum_kld += kl;
        a->sum_kld2 += kl * kl;
        a->sum_dp += dp;
        a->sum_dp2 += dp * dp;
        a->sum_dp4 += dp * dp * dp * dp;
        a->sum_tail += ref->tail;
        if (ref->tail > a->max_tail) a->max_tail = ref->tail;
        a->n_same_top += am == ref->ids[0];
        a->kld[a->n_ref++] = kl;
    }
    a->sum_nll += nll;
    a->sum_nll2 += nll * nll;
    a->count++;
    return JANG_OK;
}

static int cmp_double(const void *pa, const void *pb) {
    double x = *(const double *)pa, y = *(const double *)pb;
    return x < y ? -1 : x > y;
}

/* llama-perplexity's percentile: linear interpolation at fraction * (n - 1) */
static double percentile(const double *v, int64_t n, double fraction) {
    if (fraction <= 0) return v[0];
    if (fraction >= 1) return v[n - 1];
    double p = fraction * (double)(n - 1);
    int64_t ip = (int64_t)p;
    p -= (double)ip;
    return (1 - p) * v[ip] + p * v[ip + 1 < n ? ip + 1 : n - 1];
}

void jang_ppl_acc_stats(const jang_ppl_acc *a, jang_ppl_stats *o) {
    memset(o, 0, sizeof *o);
    if (!a || a->count == 0) return;
    int64_t n = a->count;
    o->count = n;
    /* perplexity(): the error of the mean NLL, without llama's n > 10 condition of KLD mode */
    double m = a->sum_nll / (double)n, var = a->sum_nll2 / (double)n - m * m;
    o->nll = m;
    o->nll_err = var > 0 && n > 1 ? sqrt(var / (double)(n - 1)) : 0;
    o->ppl = exp(m);
    o->ppl_err = o->nll_err * o->ppl;
    if (a->n_ref == 0) return;
    o->has_ref = true;
    double mb, eb, mq, eq;
    jang_mean_err(a->sum_nll, a->sum_nll2, n, &mq, &eq);
    jang_mean_err(a->sum_nll_base, a->sum_nll_base2, n, &mb, &eb);
    o->ppl_base = exp(mb);
    o->ppl_base_err = o->ppl_base * eb;
    double cov = 0;
    if (n >= 10)
        cov = (a->sum_nll_nll_base / (double)n -
               (a->sum_nll / (double)n) * (a->sum_nll_base / (double)n)) /
              (double)(n - 1);
    o->ln_ratio = mq - mb;
    double v = eq * eq + eb * eb - 2 * cov;
    o->ln_ratio_err = v > 0 ? sqrt(v) : 0;
    o->ppl_ratio = exp(o->ln_ratio);
    o->ppl_ratio_err = o->ppl_ratio * o->ln_ratio_err;
    jang_mean_err(a->sum_kld, a->sum_kld2, n, &o->kld, &o->kld_err);
    o->kld_lower = a->sum_lower / (double)n;
    jang_mean_err(a->sum_dp, a->sum_dp2, n, &o->dp, &o->dp_err);
    double ms, es;
    jang_mean_err(a->sum_dp2, a->sum_dp4, n, &ms, &es);
    o->dp_rms = sqrt(ms);
    o->dp_rms_err = o->dp_rms > 0 ? 0.5 / o->dp_rms * es : 0;
    o->same_top = (double)a->n_same_top / (double)n;
    o->same_top_err = n > 1 ? sqrt(o->same_top * (1 - o->same_top) / (double)(n - 1)) : 0;
    o->tail_mean = a->sum_tail / (double)n;
    o->tail_max = a->max_tail;
    double *s = malloc((size_t)n * sizeof(double));
    if (!s) {
        o->kld_median = o->kld_q90 = o->kld_q99 = o->kld_q999 = o->kld_max = o->kld_min = NAN;
        return;
    }
    memcpy(s, a->kld, (size_t)n * sizeof(double));
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    o->kld_median = n % 2 == 0 ? 0.5 * (s[n / 2] + s[n / 2 - 1]) : s[n / 2];
    o->kld_q90 = percentile(s, n, 0.90);
    o->kld_q99 = percentile(s, n, 0.99);
    o->kld_q999 = percentile(s, n, 0.999);
    o->kld_max = s[n - 1];
    o->kld_min = s[0];
    free(s);
}

/* ---- the chunked run ------------------------------------------------------------------------- */

void jang_ppl_opts_init(jang_ppl_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_ctx = 512;
    o->bos = -1;
}

int64_t jang_ppl_max_chunks(int64_t n_tokens, int64_t n_ctx) {
    if (n_ctx < 1 || n_tokens < 2 * n_ctx) return 0;
    return n_tokens / n_ctx;
}

/* One chunk's forward passes in one context: positions 0 .. n_ctx-2 go in (the last token is only
 * a target); batches never cross `first`, so the first half is run without logits, and the scored
 * half's logits land in rows (n_scored, V). Runs in a thread of its own with --parallel: the
 * error detail is copied out (it is thread-local). */
typedef struct {
    jang_context *c;
    const int32_t *chunk;
    int64_t n_ctx, first, nb_max, V;
    float *rows;
    jang_status st;
    char err[512];
    bool threaded; /* joined after the round */
} chunk_job;

static void *chunk_run(void *arg) {
    chunk_job *j = arg;
    j->st = JANG_OK;
    for (int64_t p = 0; p < j->n_ctx - 1 && !j->st;) {
        int64_t end = p < j->first ? j->first : j->n_ctx - 1;
        int64_t nb = end - p < j->nb_max ? end - p : j->nb_max;
        bool want = p >= j->first;
        j->st = jang_context_forward(j->c, j->chunk + p, nb, p, want,
                                     want ? j->rows + (p - j->first) * j->V : j->rows);
        p += nb;
    }
    if (j->st) snprintf(j->err, sizeof j->err, "%s", jang_last_error());
    return NULL;
}

jang_status jang_ppl_run(jang_context *const *ctx, int n_par, const int32_t *tokens,
                         int64_t n_tokens, const jang_ppl_opts *o, jang_ref_writer *save,
                         const jang_ref *ref, jang_ppl_stats *out) {
    if (!ctx || n_par < 1 || !tokens || !o || !out)
        return jang_fail(JANG_E_ARG, "jang_ppl_run: NULL argument or no context");
    memset(out, 0, sizeof *out);
    jang_context *m = ctx[0];
    const int64_t n_ctx = o->n_ctx, V = jang_model_get_desc(jang_context_model(m))->vocab_size;
    if (n_ctx < 4 || n_ctx > INT32_MAX)
        return jang_fail(JANG_E_ARG, "perplexity needs a context of at least 4 tokens, got %lld",
                         (long long)n_ctx);
    for (int i = 0; i < n_par; i++) {
        if (jang_context_model(ctx[i]) != jang_context_model(m))
            return jang_fail(JANG_E_ARG, "jang_ppl_run: contexts of different models");
        if (n_ctx > jang_context_max_ctx(ctx[i]))
            return jang_fail(JANG_E_ARG, "context %lld exceeds the model's cache of %lld tokens",
                             (long long)n_ctx, (long long)jang_context_max_ctx(ctx[i]));
    }
    if (o->bos >= V) return jang_fail(JANG_E_ARG, "BOS id %d out of range", o->bos);
    int64_t max_chunks = jang_ppl_max_chunks(n_tokens, n_ctx);
    if (max_chunks == 0)
        return jang_fail(JANG_E_ARG,
                         "the text has %lld tokens; a context of %lld needs at least %lld",
                         (long long)n_tokens, (long long)n_ctx, (long long)(2 * n_ctx));
    int64_t n_chunks = o->n_chunks > 0 && o->n_chunks < max_chunks ? o->n_chunks : max_chunks;
    const int64_t first = n_ctx / 2, n_scored = n_ctx - 1 - first;
    if (ref) {
        const jang_ref_info *ri = jang_ref_get_info(ref);
        if (ri->n_ctx != n_ctx || ri->n_vocab != V)
            return jang_fail(JANG_E_ARG,
                             "the reference has context %d and %d logits, this run %lld and %lld",
                             ri->n_ctx, ri->n_vocab, (long long)n_ctx, (long long)V);
        if (o->n_chunks > ri->n_chunks)
            return jang_fail(JANG_E_ARG, "%lld chunks asked, the reference holds only %d",
                             (long long)o->n_chunks, ri->n_chunks);
        if (n_chunks > ri->n_chunks) n_chunks = ri->n_chunks;
    }
    int64_t nb_max = o->n_batch > 0 ? o->n_batch : n_ctx;
    if (nb_max > n_ctx) nb_max = n_ctx;
    /* per context: its chunk's tokens and the logits of its scored rows */
    chunk_job *jobs = calloc((size_t)n_par, sizeof *jobs);
    int32_t *chunks = malloc((size_t)n_par * (size_t)n_ctx * sizeof(int32_t));
    float *logits = malloc((size_t)n_par * (size_t)n_scored * (size_t)V * sizeof(float));
    pthread_t *th = malloc((size_t)n_par * sizeof *th);
    jang_ppl_acc *acc = NULL;
    jang_status s = JANG_OK;
    if (!jobs || !chunks || !logits || !th) {
        s = jang_fail(JANG_E_NOMEM, "perplexity buffers: out of memory");
        goto done;
    }
    if ((s = jang_ppl_acc_init(V, &acc))) goto done;
    for (int64_t c0 = 0; c0 < n_chunks; c0 += n_par) {
        /* a round: up to n_par chunks at once, one per context, then scored in chunk order */
        const int nr = n_chunks - c0 < n_par ? (int)(n_chunks - c0) : n_par;
        for (int i = 0; i < nr; i++) {
            int32_t *chunk = chunks + (size_t)i * (size_t)n_ctx;
            memcpy(chunk, tokens + (c0 + i) * n_ctx, (size_t)n_ctx * sizeof(int32_t));
            if (o->bos >= 0) chunk[0] = o->bos;
            jobs[i] = (chunk_job){ctx[i],
                                  chunk,
                                  n_ctx,
                                  first,
                                  nb_max,
                                  V,
                                  logits + (size_t)i * (size_t)n_scored * (size_t)V,
                                  JANG_OK,
                                  "",
                                  false};
            if (nr == 1) {
                chunk_run(&jobs[i]);
            } else if (pthread_create(&th[i], NULL, chunk_run, &jobs[i])) {
                jobs[i].st = JANG_E_NOMEM;
                snprintf(jobs[i].err, sizeof jobs[i].err, "perplexity: cannot start a thread");
            } else {
                jobs[i].threaded = true;
            }
        }
        for (int i = 0; i < nr; i++)
            if (jobs[i].threaded) pthread_join(th[i], NULL);
        for (int i = 0; i < nr; i++)
            if (jobs[i].st) {
                s = jang_fail(jobs[i].st, "%s", jobs[i].err);
                goto done;
            }
        for (int i = 0; i < nr; i++) {
            const int64_t c = c0 + i;
            const int32_t *chunk = chunks + (size_t)i * (size_t)n_ctx;
            for (int64_t t = first; t < n_ctx - 1; t++) {
                jang_ref_token rt, *rp = NULL;
                int64_t idx = c * n_scored + (t - first);
                if (ref) {
                    if (!jang_ref_get(ref, idx, &rt)) {
                        s = jang_fail(JANG_E_FORMAT, "reference record %lld missing",
                                      (long long)idx);
                        goto done;
                    }
                    rp = &rt;
                }
                const float *row = jobs[i].rows + (t - first) * V;
                int32_t target = chunk[t + 1];
                if ((s = jang_ppl_acc_add(acc, row, target, rp))) {
                    if (s == JANG_E_ARG && rp) {
                        char why[512];
                        snprintf(why, sizeof why, "%s", jang_last_error());
                        s = jang_fail(JANG_E_ARG, "chunk %lld, position %lld: %s", (long long)c + 1,
                                      (long long)t, why);
                    }
                    goto done;
                }
                if (save && (s = jang_ref_writer_add(save, row, target))) goto done;
            }
            if (o->on_chunk) {
                jang_ppl_stats st;
                jang_ppl_acc_stats(acc, &st);
                o->on_chunk(o->ud, c, n_chunks, &st);
            }
        }
    }
    jang_ppl_acc_stats(acc, out);
done:
    jang_ppl_acc_free(acc);
    free(jobs);
    free(chunks);
    free(logits);
    free(th);
    return s;
}
