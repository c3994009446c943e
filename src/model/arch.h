/* arch.h — architectures as data: one traits row per architecture (arch.c), read by the loader
 * (model_load.c: which tensors, their names and shapes, which are required), the forward pass
 * (forward.c: norm offset, activation) and the name mapping / config export (gguf_names.c,
 * hf_export.c, desc.c). Adding an architecture = a row here + any new backend op, not edits in
 * every file that knows about models. Tested by tests/test_desc.c and tests/test_model.c.
 */
#ifndef JANG_ARCH_H
#define JANG_ARCH_H

#include "jang.h"

/* What a loaded tensor is for: X(enum suffix, description). Globals first, then per layer. */
#define JANG_ROLE_MAP(X)                                                                           \
    X(TOK_EMBD, "token embedding")                                                                 \
    X(OUT_NORM, "final norm")                                                                      \
    X(OUTPUT, "output matrix")                                                                     \
    X(ATTN_NORM, "attention norm")                                                                 \
    X(FFN_NORM, "feed-forward norm")                                                               \
    X(WQ, "query projection")                                                                      \
    X(WK, "key projection")                                                                        \
    X(WV, "value projection")                                                                      \
    X(WO, "attention output projection")                                                           \
    X(W_GATE, "FFN gate projection")                                                               \
    X(W_UP, "FFN up projection")                                                                   \
    X(W_DOWN, "FFN down projection")                                                               \
    X(BQ, "query bias")                                                                            \
    X(BK, "key bias")                                                                              \
    X(BV, "value bias")                                                                            \
    X(Q_NORM, "per-head query norm")                                                               \
    X(K_NORM, "per-head key norm")

typedef enum {
#define JANG_X_(e, s) JANG_ROLE_##e,
    JANG_ROLE_MAP(JANG_X_)
#undef JANG_X_
        JANG_ROLE_COUNT
} jang_role;

const char *jang_role_name(jang_role r);

/* Symbolic dimensions of a tensor's shape, resolved against a description. */
typedef enum {
    JANG_DIM_NONE,  /* no such dimension (a vector's second) */
    JANG_DIM_MODEL, /* d->dim */
    JANG_DIM_Q,     /* n_heads * head_dim */
    JANG_DIM_KV,    /* n_kv_heads * head_dim */
    JANG_DIM_HEAD,  /* head_dim */
    JANG_DIM_FFN,   /* ffn_dim */
    JANG_DIM_VOCAB, /* vocab_size */
} jang_dimsym;

int64_t jang_dim_value(jang_dimsym s, const jang_model_desc *d);

/* When a tensor must be present. */
typedef enum {
    JANG_NEED_ALWAYS,    /* missing: an error naming it */
    JANG_NEED_OPTIONAL,  /* loaded when present (lm_head: tied to the embedding when absent) */
    JANG_NEED_ATTN_BIAS, /* required when d->attn_bias, absent otherwise */
    JANG_NEED_QK_NORM,   /* required when d->qk_norm, absent otherwise */
} jang_need;

typedef struct jang_arch_tensor {
    jang_role role;
    const char *hf;   /* HF / MLX name; for layer tensors the part after "model.layers.N." */
    const char *gguf; /* llama.cpp name; for layer tensors the part after "blk.N." */
    jang_need need;
    jang_dimsym shape[2]; /* (rows, cols) in PyTorch order; a vector is (n, NONE) */
} jang_arch_tensor;

/* The gated FFN's activation. */
typedef enum {
    JANG_ACT_SILU,      /* SwiGLU: silu(gate) * up */
    JANG_ACT_GELU_TANH, /* GeGLU: gelu_tanh(gate) * up (Gemma) */
} jang_act;

typedef struct jang_arch_traits {
    jang_arch arch;
    bool runs;         /* the runtime's forward pass runs this architecture */
    float norm_offset; /* RMSNorm scales by norm_offset + w (Gemma: 1) */
    jang_act act;
    const char *layer_prefix; /* HF prefix of layer tensors, "model.layers." */
    const jang_arch_tensor *globals;
    int n_globals;
    const jang_arch_tensor *layer;
    int n_layer;
} jang_arch_traits;

/* The row of an architecture; never NULL (architectures without one get a row with runs false
 * and no tensors). */
const jang_arch_traits *jang_arch_traits_of(jang_arch a);

#endif
