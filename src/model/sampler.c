/* sampler.c — next-token sampling (see jang.h: jang_sampler_*). The candidate filters follow
 * llama.cpp's samplers (top-k, top-p, min-p, repetition penalty) so results are comparable;
 * the generator is xoshiro256** seeded through splitmix64. Tested by tests/test_sampler.c. */
#include "util.h"

#include <math.h>
#include <string.h>

struct jang_sampler {
    jang_sampler_opts o;
    int64_t vocab;
    uint64_t rng[4];
    int32_t *recent; /* ring of the last repeat_last_n accepted tokens */
    int64_t n_recent, head;
    int32_t *idx; /* (vocab) candidate ids */
    float *prob;  /* (vocab) */
};

void jang_sampler_opts_init(jang_sampler_opts *o) {
    o->temperature = 0.8f;
    o->top_k = 40;
    o->top_p = 0.95f;
    o->min_p = 0.05f;
    o->repeat_penalty = 1.0f;
    o->repeat_last_n = 64;
    o->seed = 0x5eed;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(uint64_t *s) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = rotl(s[3], 45);
    return r;
}

jang_status jang_sampler_init(const jang_sampler_opts *o, int64_t vocab, jang_sampler **out) {
    *out = NULL;
    if (vocab <= 0 || vocab > (int64_t)1 << 30)
        return jang_fail(JANG_E_ARG, "sampler: vocabulary size %lld", (long long)vocab);
    if (!(o->temperature >= 0) || !isfinite(o->temperature))
        return jang_fail(JANG_E_ARG, "sampler: temperature %g must be >= 0", o->temperature);
    if (!(o->top_p > 0) || !(o->min_p < 1) || !(o->repeat_penalty > 0) || o->repeat_last_n < 0)
        return jang_fail(JANG_E_ARG, "sampler: top-p must be > 0, min-p < 1, repeat penalty > 0, "
                                     "repeat window >= 0");
    jang_sampler *s = jang_calloc(1, sizeof *s, "sampler");
    if (!s) return JANG_E_NOMEM;
    s->o = *o;
    s->vocab = vocab;
    uint64_t x = o->seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
    s->recent =
        jang_calloc((size_t)(o->repeat_last_n ? o->repeat_last_n : 1), sizeof(int32_t), "sampler");
    s->idx = jang_malloc((size_t)vocab * sizeof(int32_t), "sampler");
    s->prob = jang_malloc((size_t)vocab * sizeof(float), "sampler");
    if (!s->recent || !s->idx || !s->prob) {
        jang_sampler_free(s);
        return JANG_E_NOMEM;
    }
    *out = s;
    return JANG_OK;
}

void jang_sampler_free(jang_sampler *s) {
    if (!s) return;
    free(s->recent), free(s->idx), free(s->prob);
    free(s);
}

void jang_sampler_accept(jang_sampler *s, int32_t token) {
    if (s->o.repeat_last_n <= 0) return;
    s->recent[s->head] = token;
    s->head = (s->head + 1) % s->o.repeat_last_n;
    if (s->n_recent < s->o.repeat_last_n) s->n_recent++;
}

static const float *sort_keys;
static int by_logit_desc(const void *a, const void *b) {
    float x = sort_keys[*(const int32_t *)a], y = sort_keys[*(const int32_t *)b];
    if (x != y) return x < y ? 1 : -1;
    return *(const int32_t *)a - *(const int32_t *)b;
}

int32_t jang_sampler_sample(jang_sampler *s, float *logits) {
    const jang_sampler_opts *o = &s->o;
    if (o->repeat_penalty != 1.0f)
        for (int64_t i = 0; i < s->n_recent; i++) {
            int32_t t = s->recent[i];
            if (t < 0 || t >= s->vocab) continue;
            /* once per distinct token: mark by checking earlier occurrences */
            bool seen = false;
            for (int64_t j = 0; j < i && !seen; j++)
                seen = s->recent[j] == t;
            if (seen) continue;
            logits[t] =
                logits[t] > 0 ? logits[t] / o->repeat_penalty : logits[t] * o->repeat_penalty;
        }
    if (o->temperature <= 0) {
        int32_t best = 0;
        for (int64_t i = 1; i < s->vocab; i++)
            if (logits[i] > logits[best]) best = (int32_t)i;
        return best;
    }
    /* candidates sorted by logit; with top-k, a size-k min-heap selects them first */
    int64_t n = s->vocab;
    int64_t k = o->top_k > 0 && o->top_k < n ? o->top_k : n;
    sort_keys = logits;
    if (k < n) {
        int32_t *h = s->idx; /* heap of the k largest, smallest at h[0] */
        for (int64_t i = 0; i < n; i++) {
            int64_t c;
            if (i < k) { /* sift up */
                c = i;
                h[c] = (int32_t)i;
                while (c > 0 && by_logit_desc(&h[(c - 1) / 2], &h[c]) < 0) {
                    int32_t t = h[c];
                    h[c] = h[(c - 1) / 2], h[(c - 1) / 2] = t, c = (c - 1) / 2;
                }
            } else if (by_logit_desc(&(int32_t){(int32_t)i}, &h[0]) < 0) { /* replace root */
                h[0] = (int32_t)i;
                c = 0;
                for (;;) {
                    int64_t l = 2 * c + 1, r = l + 1, m = c;
                    if (l < k && by_logit_desc(&h[l], &h[m]) > 0) m = l;
                    if (r < k && by_logit_desc(&h[r], &h[m]) > 0) m = r;
                    if (m == c) break;
                    int32_t t = h[c];
                    h[c] = h[m], h[m] = t, c = m;
                }
            }
        }
    } else {
        for (int64_t i = 0; i < n; i++)
            s->idx[i] = (int32_t)i;
    }
    qsort(s->idx, (size_t)k, sizeof(int32_t), by_logit_desc);
    n = k;
    float mx = logits[s->idx[0]];
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        s->prob[i] = expf((logits[s->idx[i]] - mx) / o->temperature);
        sum += s->prob[i];
    }
    for (int64_t i = 0; i < n; i++)
        s->prob[i] = (float)(s->prob[i] / sum);
    if (o->top_p < 1.0f) {
        double cum = 0;
        int64_t keep = n;
        for (int64_t i = 0; i < n; i++) {
            cum += s->prob[i];
            if (cum >= o->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (o->min_p > 0) {
        float thr = s->prob[0] * o->min_p;
        int64_t keep = 1;
        while (keep < n && s->prob[keep] >= thr)
            keep++;
        n = keep;
    }
    double total = 0;
    for (int64_t i = 0; i < n; i++)
        total += s->prob[i];
    double r = (double)(next_u64(s->rng) >> 11) * 0x1.0p-53 * total, acc = 0;
    for (int64_t i = 0; i < n; i++) {
        acc += s->prob[i];
        if (r < acc) return s->idx[i];
    }
    return s->idx[n - 1];
}
