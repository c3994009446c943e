/* context.c — jang_context: one sequence's state on a model (KV cache, activations, its own
 * backend instance and so its own worker pool), created from a shared read-only model. Many
 * contexts per model, each usable from its own thread; jang_decode_batch runs one step of several
 * together (forward.c). Tested by tests/test_context.c (4 contexts in 4 threads, batched decode:
 * each equal to the sequence run alone).
 */
#include "model_internal.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void jang_context_opts_init(jang_context_opts *o) {
    o->n_threads = 0;
    o->max_ctx = 0;
    o->isa = NULL;
}

static void release(jang_context *c, float **p) {
    c->be->i->release(c->be, *p);
    *p = NULL;
}

jang_status jang_context_init(const jang_model *m, const jang_context_opts *opts,
                              jang_context **out) {
    *out = NULL;
    jang_context_opts def;
    if (!opts) {
        jang_context_opts_init(&def);
        opts = &def;
    }
    if (opts->max_ctx > (int64_t)1 << 24)
        return jang_fail(JANG_E_ARG, "context length %lld too large (at most %lld)",
                         (long long)opts->max_ctx, (long long)1 << 24);
    jang_context *c = jang_calloc(1, sizeof *c, "context");
    if (!c) return JANG_E_NOMEM;
    c->m = m;
    c->max_ctx = opts->max_ctx > 0 ? opts->max_ctx : m->default_ctx;
    jang_backend_opts bo = {.n_threads = opts->n_threads, .isa = opts->isa};
    jang_status s = m->backend->create(&bo, &c->be);
    if (s) goto fail;
    const jang_model_desc *d = &m->d;
    /* (n_layers, max_ctx, n_kv * hd) floats: within 2^58 bytes for a checked description
     * (jang_desc_check), multiplied checked all the same so that nothing can wrap */
    uint64_t kv = 1;
    if (!jang_mul_u64(kv, (uint64_t)d->n_layers, &kv) ||
        !jang_mul_u64(kv, (uint64_t)c->max_ctx, &kv) ||
        !jang_mul_u64(kv, (uint64_t)d->n_kv_heads, &kv) ||
        !jang_mul_u64(kv, (uint64_t)d->head_dim, &kv) || !jang_mul_u64(kv, sizeof(float), &kv) ||
        kv > SIZE_MAX) {
        s = jang_fail(JANG_E_NOMEM,
                      "KV cache of %lld layers x %lld positions x %lld x %lld floats does not fit "
                      "in memory",
                      (long long)d->n_layers, (long long)c->max_ctx, (long long)d->n_kv_heads,
                      (long long)d->head_dim);
        goto fail;
    }
    if ((s = c->be->i->alloc(c->be, (size_t)kv, (void **)&c->k_cache)) ||
        (s = c->be->i->alloc(c->be, (size_t)kv, (void **)&c->v_cache)))
        goto fail;
    *out = c;
    return JANG_OK;
fail:
    jang_context_free(c);
    return s;
}

void jang_context_free(jang_context *c) {
    if (!c) return;
    if (c->be) {
        float **bufs[] = {&c->k_cache, &c->v_cache, &c->x,  &c->xb,  &c->q,     &c->k,
                          &c->v,       &c->att,     &c->hb, &c->hb2, &c->logits};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            release(c, bufs[i]);
        c->be->i->free(c->be);
    }
    free(c->pos);
    free(c);
}

jang_status jang_context_reserve(jang_context *c, int64_t n) {
    if (n <= c->cap_tokens) return JANG_OK;
    const jang_model_desc *d = &c->m->d;
    int64_t qd = d->n_heads * d->head_dim, kvd = d->n_kv_heads * d->head_dim;
    struct {
        float **p;
        int64_t w;
    } bufs[] = {{&c->x, d->dim},      {&c->xb, d->dim},      {&c->q, qd},
                {&c->k, kvd},         {&c->v, kvd},          {&c->att, qd},
                {&c->hb, d->ffn_dim}, {&c->hb2, d->ffn_dim}, {&c->logits, d->vocab_size}};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        release(c, bufs[i].p);
        uint64_t bytes = 1; /* n x width floats: checked, as the KV cache */
        bool fits = jang_mul_u64(bytes, (uint64_t)n, &bytes) &&
                    jang_mul_u64(bytes, (uint64_t)bufs[i].w, &bytes) &&
                    jang_mul_u64(bytes, sizeof(float), &bytes) && bytes <= SIZE_MAX;
        jang_status s =
            fits ? c->be->i->alloc(c->be, (size_t)bytes, (void **)bufs[i].p) : JANG_E_NOMEM;
        if (s) {
            c->cap_tokens = 0;
            return jang_fail(s, "out of memory for %lld tokens of activations", (long long)n);
        }
    }
    int64_t *pos = realloc(c->pos, (size_t)n * sizeof *pos);
    if (!pos) {
        c->cap_tokens = 0;
        return jang_fail(JANG_E_NOMEM, "out of memory for %lld tokens", (long long)n);
    }
    c->pos = pos;
    c->cap_tokens = n;
    return JANG_OK;
}

const jang_model *jang_context_model(const jang_context *c) { return c->m; }

int64_t jang_context_max_ctx(const jang_context *c) { return c->max_ctx; }

const char *jang_context_backend(const jang_context *c) { return c->be->i->describe(c->be); }

jang_status jang_context_forward(jang_context *c, const int32_t *tokens, int64_t n, int64_t pos,
                                 bool all_logits, float *logits) {
    return jang_forward_seqs(&c, 1, tokens, &n, &pos, all_logits, logits);
}

jang_status jang_decode_batch(jang_context *const *ctx, int n_ctx, const int32_t *tokens,
                              const int64_t *pos, float *logits) {
    if (n_ctx < 1 || !ctx) return jang_fail(JANG_E_ARG, "decode batch: no contexts");
    int64_t ones_local[16], *ones = ones_local;
    if (n_ctx > 16 && !(ones = jang_malloc((size_t)n_ctx * sizeof *ones, "decode batch")))
        return JANG_E_NOMEM;
    for (int i = 0; i < n_ctx; i++)
        ones[i] = 1;
    jang_status s = jang_forward_seqs(ctx, n_ctx, tokens, ones, pos, false, logits);
    if (ones != ones_local) free(ones);
    return s;
}
