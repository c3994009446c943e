/* forward.c — the decoder forward pass as a sequence of backend ops (src/backend/backend.h),
 * driven by the architecture's traits row (arch.h), batched over tokens and over sequences.
 *
 * Per layer: RMSNorm → q,k,v projections (+ biases) → per-head q/k RMSNorm (Qwen3) → RoPE →
 * KV cache → causal GQA attention → o_proj → residual → RMSNorm → gated MLP (the traits row's
 * activation: SwiGLU, or GeGLU) →
 * residual. Then the final norm and the output matrix. One step may carry several sequences (one
 * per context, each at its own position, with its own KV cache): the matrix products run once
 * over all their tokens, attention per sequence. Everything in f32. Tested by tests/test_model.c
 * against transformers' logits, and tests/test_context.c (contexts in threads, batched decode).
 */
#include "model_internal.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>

#define TRY(call)                                                                                  \
    do {                                                                                           \
        jang_status s_ = (call);                                                                   \
        if (s_) return s_;                                                                         \
    } while (0)

static jang_glu_kind glu_of(jang_act a) {
    return a == JANG_ACT_GELU_TANH ? JANG_GLU_GELU_TANH : JANG_GLU_SILU;
}

/* Checks the step's arguments: contexts of one model, distinct, tokens and positions in range. */
static jang_status check_step(jang_context *const *ctx, int n_seqs, const int32_t *tokens,
                              const int64_t *n, const int64_t *pos) {
    if (n_seqs < 1) return jang_fail(JANG_E_ARG, "forward: no sequences");
    const jang_model *m = ctx[0]->m;
    int64_t t = 0;
    for (int s = 0; s < n_seqs; s++) {
        const jang_context *c = ctx[s];
        if (c->m != m) return jang_fail(JANG_E_ARG, "forward: contexts of different models");
        for (int r = 0; r < s; r++)
            if (ctx[r] == c)
                return jang_fail(JANG_E_ARG, "forward: context %d appears twice in a batch", s);
        if (n[s] <= 0 || pos[s] < 0 || pos[s] > c->max_ctx - n[s])
            return jang_fail(JANG_E_ARG,
                             "forward: %lld tokens at position %lld exceed the context of %lld",
                             (long long)n[s], (long long)pos[s], (long long)c->max_ctx);
        for (int64_t u = 0; u < n[s]; u++, t++)
            if (tokens[t] < 0 || tokens[t] >= m->d.vocab_size)
                return jang_fail(JANG_E_ARG, "forward: token id %d out of range [0, %lld)",
                                 tokens[t], (long long)m->d.vocab_size);
    }
    return JANG_OK;
}

jang_status jang_forward_seqs(jang_context *const *ctx, int n_seqs, const int32_t *tokens,
                              const int64_t *n, const int64_t *pos, bool all_logits,
                              float *logits) {
    TRY(check_step(ctx, n_seqs, tokens, n, pos));
    jang_context *c = ctx[0]; /* its backend, threads and activations run the step */
    const jang_model *m = c->m;
    const jang_model_desc *d = &m->d;
    const jang_arch_traits *tr = m->traits;
    const jang_backend_i *B = c->be->i;
    jang_backend *be = c->be;
    const int64_t dim = d->dim, hd = d->head_dim, kvd = d->n_kv_heads * hd;
    const int64_t ffn = d->ffn_dim, V = d->vocab_size;
    const float eps = (float)d->norm_eps, off = tr->norm_offset;
    int64_t nt = 0;
    for (int s = 0; s < n_seqs; s++)
        nt += n[s];
    TRY(jang_context_reserve(c, nt));

    jang_seq_view local[8], *seqs = local;
    if (n_seqs > 8 && !(seqs = jang_malloc((size_t)n_seqs * sizeof *seqs, "forward")))
        return JANG_E_NOMEM;
    for (int s = 0, t0 = 0; s < n_seqs; t0 += (int)n[s], s++) {
        seqs[s] = (jang_seq_view){NULL, NULL, pos[s], t0, n[s]};
        for (int64_t u = 0; u < n[s]; u++)
            c->pos[t0 + u] = pos[s] + u;
    }
    const jang_rope_desc rope = {d->rope_dim, true, m->inv_freq, m->rope_mscale};
    const jang_attn_desc attn = {d->n_heads, d->n_kv_heads, hd, 1.0f / sqrtf((float)hd)};
    const jang_glu_kind glu = glu_of(tr->act);
    /* several sequences: every token's products as if it ran alone (batch invariance) */
    const bool inv = n_seqs > 1;
    jang_status s = JANG_OK;
#define DO(call)                                                                                   \
    if ((s = (call))) goto done

    DO(B->embed(be, &m->g.w[JANG_ROLE_TOK_EMBD], tokens, nt, c->x));
    for (int64_t l = 0; l < d->n_layers; l++) {
        const jang_tensors *L = &m->layers[l];
        for (int i = 0; i < n_seqs; i++) {
            const size_t off_l = (size_t)l * (size_t)ctx[i]->max_ctx * (size_t)kvd;
            seqs[i].k = ctx[i]->k_cache + off_l;
            seqs[i].v = ctx[i]->v_cache + off_l;
        }
        /* attention block */
        DO(B->rmsnorm(be, c->xb, c->x, L->v[JANG_ROLE_ATTN_NORM], nt, dim, eps, off));
        DO(B->matmul(be, &L->w[JANG_ROLE_WQ], c->xb, nt, L->v[JANG_ROLE_BQ], c->q, inv));
        DO(B->matmul(be, &L->w[JANG_ROLE_WK], c->xb, nt, L->v[JANG_ROLE_BK], c->k, inv));
        DO(B->matmul(be, &L->w[JANG_ROLE_WV], c->xb, nt, L->v[JANG_ROLE_BV], c->v, inv));
        if (L->has[JANG_ROLE_Q_NORM])
            DO(B->rmsnorm(be, c->q, c->q, L->v[JANG_ROLE_Q_NORM], nt * d->n_heads, hd, eps, off));
        if (L->has[JANG_ROLE_K_NORM])
            DO(B->rmsnorm(be, c->k, c->k, L->v[JANG_ROLE_K_NORM], nt * d->n_kv_heads, hd, eps,
                          off));
        DO(B->rope(be, c->q, nt, d->n_heads, hd, c->pos, &rope));
        DO(B->rope(be, c->k, nt, d->n_kv_heads, hd, c->pos, &rope));
        DO(B->kv_store(be, c->k, c->v, kvd, seqs, n_seqs));
        DO(B->attention(be, c->q, seqs, n_seqs, &attn, c->att));
        DO(B->matmul(be, &L->w[JANG_ROLE_WO], c->att, nt, L->v[JANG_ROLE_BO], c->xb, inv));
        DO(B->add(be, c->x, c->xb, nt * dim));
        /* feed-forward block */
        DO(B->rmsnorm(be, c->xb, c->x, L->v[JANG_ROLE_FFN_NORM], nt, dim, eps, off));
        DO(B->matmul(be, &L->w[JANG_ROLE_W_GATE], c->xb, nt, NULL, c->hb, inv));
        DO(B->matmul(be, &L->w[JANG_ROLE_W_UP], c->xb, nt, NULL, c->hb2, inv));
        DO(B->glu(be, glu, c->hb, c->hb2, nt * ffn));
        DO(B->matmul(be, &L->w[JANG_ROLE_W_DOWN], c->hb, nt, NULL, c->xb, inv));
        DO(B->add(be, c->x, c->xb, nt * dim));
    }

    /* the rows whose logits are wanted: all, or each sequence's last (gathered when they are not
     * already the whole step, a batch of one-token sequences, or its last row, one sequence) */
    const float *rows = c->x + (all_logits || n_seqs > 1 ? 0 : (nt - 1) * dim);
    int64_t count = all_logits ? nt : n_seqs;
    if (!all_logits && n_seqs > 1 && nt != n_seqs) {
        int32_t ilocal[8], *idx = ilocal;
        if (n_seqs > 8 && !(idx = jang_malloc((size_t)n_seqs * sizeof *idx, "forward")))
            DO(JANG_E_NOMEM);
        for (int i = 0; i < n_seqs; i++)
            idx[i] = (int32_t)(seqs[i].t0 + seqs[i].n - 1);
        s = B->gather(be, c->xb, c->x, idx, n_seqs, dim);
        if (idx != ilocal) free(idx);
        if (s) goto done;
        rows = c->xb;
    }
    DO(B->rmsnorm(be, c->xb, rows, m->g.v[JANG_ROLE_OUT_NORM], count, dim, eps, off));
    DO(B->matmul(be, &m->g.w[JANG_ROLE_OUTPUT], c->xb, count, NULL, c->logits, inv));
    DO(B->to_host(be, logits, c->logits, (size_t)count * (size_t)V * sizeof(float)));
#undef DO
done:
    if (seqs != local) free(seqs);
    return s;
}
