/* model_internal.h — the runtime's model struct, shared by the loader (model_load.c) and the
 * forward pass (forward.c). Shapes follow each field, llama2.c style. */
#ifndef JANG_MODEL_INTERNAL_H
#define JANG_MODEL_INTERNAL_H

#include "jang.h"
#include "matmul.h"
#include "pool.h"
#include "source.h"

typedef struct jang_layer {
    const float *attn_norm;    /* (dim) */
    const float *ffn_norm;     /* (dim) */
    const float *q_norm;       /* (head_dim) or NULL (Qwen3) */
    const float *k_norm;       /* (head_dim) or NULL */
    const float *bq, *bk, *bv; /* (n_heads*hd), (n_kv*hd), (n_kv*hd) or NULL (Qwen2) */
    jang_weight wq;            /* (n_heads*hd, dim) */
    jang_weight wk, wv;        /* (n_kv*hd, dim) */
    jang_weight wo;            /* (dim, n_heads*hd) */
    jang_weight w_gate, w_up;  /* (ffn, dim) */
    jang_weight w_down;        /* (dim, ffn) */
} jang_layer;

struct jang_model {
    jang_model_desc d;
    jang_gguf *gguf;  /* exactly one of the three sources is open */
    jang_st *st;      /* HF safetensors directory */
    jang_qmodel *qm;  /* JANG / MLX quantized directory */
    jang_source *src; /* f32 reads of the open file's tensors by HF name (source.h) */
    void **owned;     /* buffers to free at close */
    int64_t n_owned, cap_owned;

    jang_weight tok_embd;  /* (vocab, dim) */
    jang_weight output;    /* (vocab, dim), the embedding when tied */
    const float *out_norm; /* (dim) */
    jang_layer *layers;    /* (n_layers) */

    int64_t max_ctx;
    float *k_cache, *v_cache; /* (n_layers, max_ctx, n_kv*hd) */
    float *rope_inv_freq;     /* (rope_dim/2) */
    float rope_mscale;        /* YaRN attention factor applied to cos/sin; 1 otherwise */

    jang_pool *pool;
    /* activations for up to cap_tokens tokens */
    int64_t cap_tokens;
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2; /* (cap, dim|q_dim|kv_dim|ffn) */
    float *scores;                              /* (n_workers, max_ctx) */
};

/* Registers a buffer to free at close; returns false (and frees p) on OOM. */
bool jang_model_own(jang_model *m, void *p);
/* Computes rope_inv_freq / rope_mscale from the description. */
jang_status jang_model_init_rope(jang_model *m);

#endif
