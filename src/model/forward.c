/* forward.c — the decoder forward pass (Llama / Mistral / Qwen2 / Qwen3), batched over tokens.
 *
 * Per layer: RMSNorm → q,k,v projections (+ biases) → per-head q/k RMSNorm (Qwen3) → RoPE
 * (NeoX/rotate_half pairing, as in transformers) → KV cache → causal GQA attention → o_proj →
 * residual → RMSNorm → SwiGLU MLP → residual. Then the final norm and the output matrix.
 * RoPE inverse frequencies follow transformers' rope init functions (default, linear, llama3,
 * yarn). Everything in f32. Tested by tests/test_model.c against transformers' logits.
 */
#include "model_internal.h"
#include "util.h"

#include <math.h>
#include <string.h>

/* ---- RoPE ---------------------------------------------------------------------------------- */

static double yarn_correction_dim(double n_rot, double dim, double base, double max_pos) {
    return (dim * log(max_pos / (n_rot * 2.0 * M_PI))) / (2.0 * log(base));
}

jang_status jang_model_init_rope(jang_model *m) {
    const jang_model_desc *d = &m->d;
    int64_t half = d->rope_dim / 2;
    float *f = jang_malloc((size_t)half * sizeof(float), "rope");
    if (!f || !jang_model_own(m, f)) return JANG_E_NOMEM;
    m->rope_inv_freq = f;
    m->rope_mscale = 1.0f;
    /* transformers computes base ** (arange(0, dim, 2) / dim) in float32 (int64 -> float) */
    for (int64_t i = 0; i < half; i++)
        f[i] = (float)(1.0 / pow(d->rope_theta, (double)(2 * i) / (double)d->rope_dim));
    switch (d->rope_scaling) {
    case JANG_ROPE_SCALING_NONE:
        break;
    case JANG_ROPE_SCALING_LINEAR:
        for (int64_t i = 0; i < half; i++)
            f[i] = (float)(f[i] / d->rope_factor);
        break;
    case JANG_ROPE_SCALING_LLAMA3: {
        double orig = (double)d->rope_orig_ctx, lo = d->rope_low_freq_factor,
               hi = d->rope_high_freq_factor, factor = d->rope_factor;
        if (!(orig > 0) || !(hi > lo))
            return jang_fail(JANG_E_FORMAT, "llama3 RoPE scaling needs original context and "
                                            "high_freq_factor > low_freq_factor");
        double low_wl = orig / lo, high_wl = orig / hi;
        for (int64_t i = 0; i < half; i++) {
            double wl = 2.0 * M_PI / f[i];
            double v = f[i];
            if (wl > low_wl) {
                v = f[i] / factor;
            } else if (wl >= high_wl) {
                double smooth = (orig / wl - lo) / (hi - lo);
                v = (1 - smooth) * f[i] / factor + smooth * f[i];
            }
            f[i] = (float)v;
        }
        break;
    }
    case JANG_ROPE_SCALING_YARN: {
        double dim = (double)d->rope_dim, base = d->rope_theta, factor = d->rope_factor;
        double orig = d->rope_orig_ctx > 0 ? (double)d->rope_orig_ctx : (double)d->max_seq_len;
        double low = floor(yarn_correction_dim(d->rope_beta_fast, dim, base, orig));
        double high = ceil(yarn_correction_dim(d->rope_beta_slow, dim, base, orig));
        if (low < 0) low = 0;
        if (high > dim - 1) high = dim - 1;
        if (low == high) high += 0.001;
        for (int64_t i = 0; i < half; i++) {
            double pos_freq = pow(base, (double)(2 * i) / dim);
            double extra = 1.0 / pos_freq, inter = 1.0 / (factor * pos_freq);
            double ramp = ((double)i - low) / (high - low);
            ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
            double ef = 1.0 - ramp; /* extrapolation factor */
            f[i] = (float)(inter * (1 - ef) + extra * ef);
        }
        m->rope_mscale = factor > 1 ? (float)(0.1 * log(factor) + 1.0) : 1.0f;
        break;
    }
    default:
        return jang_fail(JANG_E_UNSUPPORTED, "RoPE scaling %s",
                         jang_rope_scaling_name(d->rope_scaling));
    }
    return JANG_OK;
}

/* Rotates the first rope_dim dims of each head (n_heads heads of hd floats) at position pos. */
static void rope_apply(const jang_model *m, float *x, int64_t n_heads, int64_t hd, int64_t pos) {
    int64_t half = m->d.rope_dim / 2;
    for (int64_t i = 0; i < half; i++) {
        float ang = (float)pos * m->rope_inv_freq[i];
        float c = cosf(ang) * m->rope_mscale, s = sinf(ang) * m->rope_mscale;
        for (int64_t h = 0; h < n_heads; h++) {
            float *p = x + h * hd;
            float x0 = p[i], x1 = p[i + half];
            p[i] = x0 * c - x1 * s;
            p[i + half] = x1 * c + x0 * s;
        }
    }
}

/* ---- building blocks ---------------------------------------------------------------------- */

static void rmsnorm(float *out, const float *x, const float *w, int64_t n, double eps) {
    float ss = 0.0f;
    for (int64_t i = 0; i < n; i++)
        ss += x[i] * x[i];
    float r = 1.0f / sqrtf(ss / (float)n + (float)eps);
    for (int64_t i = 0; i < n; i++)
        out[i] = w[i] * (x[i] * r);
}

static jang_status ensure_tokens(jang_model *m, int64_t n) {
    if (n <= m->cap_tokens) return JANG_OK;
    const jang_model_desc *d = &m->d;
    int64_t qd = d->n_heads * d->head_dim, kvd = d->n_kv_heads * d->head_dim;
    struct {
        float **p;
        int64_t w;
    } bufs[] = {{&m->x, d->dim}, {&m->xb, d->dim}, {&m->q, qd},          {&m->k, kvd},
                {&m->v, kvd},    {&m->att, qd},    {&m->hb, d->ffn_dim}, {&m->hb2, d->ffn_dim}};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        float *p = realloc(*bufs[i].p, (size_t)n * (size_t)bufs[i].w * sizeof(float));
        if (!p) return jang_fail(JANG_E_NOMEM, "out of memory for %lld tokens", (long long)n);
        *bufs[i].p = p;
    }
    m->cap_tokens = n;
    return JANG_OK;
}

typedef struct {
    jang_model *m;
    int64_t layer, n, pos;
} attn_ctx;

/* Causal attention: the jobs are (block of up to JANG_ATTEND_MAX_Q consecutive tokens, KV head),
 * each running the query heads that share the KV head one after the other (the keys and values,
 * read once per block and head, are then still in cache); dealt out round-robin, since a job's
 * cost grows with its position (contiguous ranges gave the last worker three quarters of a
 * 512-token prompt). */
static void attn_worker(void *arg, int w, int nw) {
    attn_ctx *c = arg;
    jang_model *m = c->m;
    const jang_model_desc *d = &m->d;
    int64_t hd = d->head_dim, kvd = d->n_kv_heads * hd, qd = d->n_heads * hd;
    int64_t group = d->n_heads / d->n_kv_heads;
    float scale = 1.0f / sqrtf((float)hd);
    const float *kc = m->k_cache + c->layer * m->max_ctx * kvd;
    const float *vc = m->v_cache + c->layer * m->max_ctx * kvd;
    float *sc = m->scores + (size_t)w * (size_t)JANG_ATTEND_MAX_Q * (size_t)m->max_ctx;
    const int64_t nb = (c->n + JANG_ATTEND_MAX_Q - 1) / JANG_ATTEND_MAX_Q;
    for (int64_t job = w; job < nb * d->n_kv_heads; job += nw) {
        int64_t t = job / d->n_kv_heads * JANG_ATTEND_MAX_Q, kvh = job % d->n_kv_heads;
        int nq = c->n - t < JANG_ATTEND_MAX_Q ? (int)(c->n - t) : JANG_ATTEND_MAX_Q;
        for (int64_t h = kvh * group; h < (kvh + 1) * group; h++)
            jang_attend(m->q + t * qd + h * hd, qd, nq, kc + kvh * hd, vc + kvh * hd, kvd,
                        c->pos + t + 1, hd, scale, sc, m->att + t * qd + h * hd, qd);
    }
}

jang_status jang_model_forward(jang_model *m, const int32_t *tokens, int64_t n, int64_t pos,
                               bool all_logits, float *logits) {
    const jang_model_desc *d = &m->d;
    if (n <= 0 || pos < 0 || pos + n > m->max_ctx)
        return jang_fail(JANG_E_ARG,
                         "forward: %lld tokens at position %lld exceed the context of %lld",
                         (long long)n, (long long)pos, (long long)m->max_ctx);
    for (int64_t t = 0; t < n; t++)
        if (tokens[t] < 0 || tokens[t] >= d->vocab_size)
            return jang_fail(JANG_E_ARG, "forward: token id %d out of range [0, %lld)", tokens[t],
                             (long long)d->vocab_size);
    jang_status s = ensure_tokens(m, n);
    if (s) return s;
    int64_t dim = d->dim, hd = d->head_dim, qd = d->n_heads * hd, kvd = d->n_kv_heads * hd;
    int64_t ffn = d->ffn_dim;
    for (int64_t t = 0; t < n; t++)
        jang_weight_row(&m->tok_embd, tokens[t], m->x + t * dim);

    for (int64_t l = 0; l < d->n_layers; l++) {
        const jang_layer *L = &m->layers[l];
        for (int64_t t = 0; t < n; t++)
            rmsnorm(m->xb + t * dim, m->x + t * dim, L->attn_norm, dim, d->norm_eps);
        jang_matmul(m->pool, &L->wq, m->xb, n, L->bq, m->q);
        jang_matmul(m->pool, &L->wk, m->xb, n, L->bk, m->k);
        jang_matmul(m->pool, &L->wv, m->xb, n, L->bv, m->v);
        for (int64_t t = 0; t < n; t++) {
            float *q = m->q + t * qd, *k = m->k + t * kvd;
            if (L->q_norm)
                for (int64_t h = 0; h < d->n_heads; h++)
                    rmsnorm(q + h * hd, q + h * hd, L->q_norm, hd, d->norm_eps);
            if (L->k_norm)
                for (int64_t h = 0; h < d->n_kv_heads; h++)
                    rmsnorm(k + h * hd, k + h * hd, L->k_norm, hd, d->norm_eps);
            rope_apply(m, q, d->n_heads, hd, pos + t);
            rope_apply(m, k, d->n_kv_heads, hd, pos + t);
            size_t off = ((size_t)l * (size_t)m->max_ctx + (size_t)(pos + t)) * (size_t)kvd;
            memcpy(m->k_cache + off, k, (size_t)kvd * sizeof(float));
            memcpy(m->v_cache + off, m->v + t * kvd, (size_t)kvd * sizeof(float));
        }
        attn_ctx ac = {m, l, n, pos};
        jang_pool_run(m->pool, attn_worker, &ac);
        jang_matmul(m->pool, &L->wo, m->att, n, NULL, m->xb);
        for (int64_t i = 0; i < n * dim; i++)
            m->x[i] += m->xb[i];

        for (int64_t t = 0; t < n; t++)
            rmsnorm(m->xb + t * dim, m->x + t * dim, L->ffn_norm, dim, d->norm_eps);
        jang_matmul(m->pool, &L->w_gate, m->xb, n, NULL, m->hb);
        jang_matmul(m->pool, &L->w_up, m->xb, n, NULL, m->hb2);
        jang_swiglu(m->hb, m->hb2, n * ffn);
        jang_matmul(m->pool, &L->w_down, m->hb, n, NULL, m->xb);
        for (int64_t i = 0; i < n * dim; i++)
            m->x[i] += m->xb[i];
    }
    int64_t first = all_logits ? 0 : n - 1, count = all_logits ? n : 1;
    for (int64_t t = first; t < n; t++)
        rmsnorm(m->xb + t * dim, m->x + t * dim, m->out_norm, dim, d->norm_eps);
    jang_matmul(m->pool, &m->output, m->xb + first * dim, count, NULL, logits);
    return JANG_OK;
}
