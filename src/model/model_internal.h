/* model_internal.h — the runtime's three objects as the model code sees them:
 *   jang_model   — description + read-only weights placed by a backend (model_load.c); shared by
 *                  any number of contexts and threads;
 *   jang_context — one sequence's state: KV cache, activation scratch, its own backend instance
 *                  (worker pool) (context.c);
 *   the backend  — where the ops run (src/backend/backend.h).
 * forward.c runs a step as a sequence of backend ops driven by the architecture's traits row
 * (arch.h). Shapes follow each field, llama2.c style.
 */
#ifndef JANG_MODEL_INTERNAL_H
#define JANG_MODEL_INTERNAL_H

#include "../backend/backend.h"
#include "arch.h"
#include "jang.h"
#include "source.h"

/* The tensors of one layer (or the globals), indexed by role (arch.h): matrices in w, vectors
 * in v (backend memory), has[] for what the file provided. Which roles a model uses and their
 * shapes are in its traits row: e.g. w[JANG_ROLE_WQ] is (n_heads*hd, dim), v[JANG_ROLE_BQ]
 * (n_heads*hd) or NULL. */
typedef struct jang_tensors {
    jang_weight w[JANG_ROLE_COUNT];
    const float *v[JANG_ROLE_COUNT];
    bool has[JANG_ROLE_COUNT];
} jang_tensors;

struct jang_model {
    jang_model_desc d;
    const jang_arch_traits *traits;
    jang_gguf *gguf;  /* exactly one of the three sources is open */
    jang_st *st;      /* HF safetensors directory */
    jang_qmodel *qm;  /* JANG / MLX quantized directory */
    jang_source *src; /* f32 reads of the open file's tensors by HF name (source.h) */
    void **owned;     /* host buffers to free at close */
    int64_t n_owned, cap_owned;

    const jang_backend_i *backend; /* the kind every context of this model instantiates */
    jang_backend *placer;          /* the instance that placed the weights */
    void **placed;                 /* backend memory to release at close */
    int64_t n_placed, cap_placed;

    jang_tensors g;        /* globals: TOK_EMBD (vocab, dim), OUT_NORM (dim), OUTPUT (vocab, dim),
                              the embedding when tied */
    jang_tensors *layers;  /* (n_layers) */
    const float *inv_freq; /* (rope_dim/2), backend memory */
    float rope_mscale;     /* YaRN attention factor applied to cos/sin; 1 otherwise */
    int64_t default_ctx;   /* a context's length when its options give none */
};

struct jang_context {
    const jang_model *m;
    jang_backend *be;
    int64_t max_ctx;
    float *k_cache, *v_cache; /* (n_layers, max_ctx, n_kv*hd), backend memory */
    /* activations for up to cap_tokens tokens, backend memory */
    int64_t cap_tokens;
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2; /* (cap, dim|q_dim|kv_dim|ffn) */
    float *logits;                              /* (cap, vocab) */
    int64_t *pos;                               /* (cap) host: each token's position */
};

/* Registers a host buffer to free at close; returns false (and frees p) on OOM. */
bool jang_model_own(jang_model *m, void *p);
/* The inverse RoPE frequencies of a description (rope_dim/2 floats, host, malloc'ed) and the
 * YaRN factor on cos/sin (rope.c). */
jang_status jang_rope_freqs(const jang_model_desc *d, float **inv_freq, float *mscale);
/* Makes room for n tokens in c's activations. */
jang_status jang_context_reserve(jang_context *c, int64_t n);

/* One forward step over n_seqs sequences of contexts of one model, run on seqs' first context's
 * backend (forward.c): sequence s feeds n[s] tokens (tokens, concatenated) at positions
 * pos[s] ..; logits receives (sum n, vocab) when all_logits, else (n_seqs, vocab): the last
 * token of each. */
jang_status jang_forward_seqs(jang_context *const *ctx, int n_seqs, const int32_t *tokens,
                              const int64_t *n, const int64_t *pos, bool all_logits, float *logits);

#endif
