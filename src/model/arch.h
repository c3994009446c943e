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
    X(BO, "attention output bias")                                                                 \
    X(Q_NORM, "per-head query norm")                                                               \
    X(K_NORM, "per-head key norm")                                                                 \
    X(POST_ATTN_NORM, "norm of the attention output (Gemma 2/3)")                                  \
    X(POST_FFN_NORM, "norm of the FFN output (Gemma 2/3)")                                         \
    X(WQKV, "fused query/key/value projection (Phi-3)")                                            \
    X(W_GATE_UP, "fused FFN gate and up projection (Phi-3)")                                       \
    X(MOE_ROUTER, "expert router")                                                                 \
    X(EXP_GATE, "stacked experts' gate projections")                                               \
    X(EXP_UP, "stacked experts' up projections")                                                   \
    X(EXP_DOWN, "stacked experts' down projections")                                               \
    X(SHEXP_GATE, "shared expert gate projection")                                                 \
    X(SHEXP_UP, "shared expert up projection")                                                     \
    X(SHEXP_DOWN, "shared expert down projection")                                                 \
    X(SHEXP_ROUTER, "shared expert's sigmoid gate")                                                \
    X(SSM_IN, "SSM input projection (x and z)")                                                    \
    X(SSM_CONV, "SSM causal depthwise convolution")                                                \
    X(SSM_CONV_B, "SSM convolution bias")                                                          \
    X(SSM_X, "SSM projection to dt, B and C")                                                      \
    X(SSM_DT, "SSM dt projection")                                                                 \
    X(SSM_DT_B, "SSM dt bias")                                                                     \
    X(SSM_A, "SSM state matrix A_log")                                                             \
    X(SSM_D, "SSM skip D")                                                                         \
    X(SSM_OUT, "SSM output projection")

typedef enum {
#define JANG_X_(e, s) JANG_ROLE_##e,
    JANG_ROLE_MAP(JANG_X_)
#undef JANG_X_
        JANG_ROLE_COUNT
} jang_role;

const char *jang_role_name(jang_role r);

/* Symbolic dimensions of a tensor's shape, resolved against a description. */
typedef enum {
    JANG_DIM_NONE,        /* no such dimension (a vector's second) */
    JANG_DIM_MODEL,       /* d->dim */
    JANG_DIM_Q,           /* n_heads * head_dim */
    JANG_DIM_KV,          /* n_kv_heads * head_dim */
    JANG_DIM_HEAD,        /* head_dim */
    JANG_DIM_FFN,         /* ffn_dim */
    JANG_DIM_VOCAB,       /* vocab_size */
    JANG_DIM_QKV,         /* (n_heads + 2 * n_kv_heads) * head_dim */
    JANG_DIM_FFN2,        /* 2 * ffn_dim (fused gate and up) */
    JANG_DIM_EXPERTS,     /* n_experts */
    JANG_DIM_MOE_FFN,     /* moe_ffn_dim (an expert's intermediate size) */
    JANG_DIM_SHEXP_FFN,   /* shared_expert_ffn_dim */
    JANG_DIM_SSM_INNER,   /* ssm_d_inner */
    JANG_DIM_SSM_INNER2,  /* 2 * ssm_d_inner (x and z) */
    JANG_DIM_SSM_STATE,   /* ssm_d_state */
    JANG_DIM_SSM_CONV,    /* ssm_d_conv */
    JANG_DIM_SSM_DT_RANK, /* ssm_dt_rank */
    JANG_DIM_SSM_XPROJ,   /* ssm_dt_rank + 2 * ssm_d_state */
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
    const char *hf;   /* HF / MLX name; for layer tensors the part after "model.layers.N."
                       * (after the row's layer_prefix and N.) */
    const char *gguf; /* llama.cpp name; for layer tensors the part after "blk.N." */
    jang_need need;
    jang_dimsym shape[2]; /* (rows, cols) in PyTorch order; a vector is (n, NONE) */
    jang_dimsym stack;    /* leading dimension of stacked experts: (stack, rows, cols); else NONE */
    jang_gguf_fix fix;    /* what undoes llama.cpp's change to the values (jang_gguf_map_name) */
} jang_arch_tensor;

/* The gated FFN's activation. */
typedef enum {
    JANG_ACT_SILU,      /* SwiGLU: silu(gate) * up */
    JANG_ACT_GELU_TANH, /* GeGLU: gelu_tanh(gate) * up (Gemma) */
} jang_act;

/* How config.json states a sliding window: desc.c reads it, hf_export.c writes it. */
typedef enum {
    JANG_SWA_NONE,     /* no sliding-window attention (a window is not expressible) */
    JANG_SWA_KEY,      /* "sliding_window": n or null (Mistral, Mixtral, Gemma 2/3) */
    JANG_SWA_USE_FLAG, /* "use_sliding_window" gates "sliding_window" (Qwen2, Qwen3) */
} jang_swa_style;

/* What a transformers config class assumes for keys config.json leaves out (desc.c). */
typedef struct jang_arch_hf_defaults {
    double norm_eps;
    double rope_theta;
    bool tied_embeddings;
    int64_t n_experts, n_experts_used;
} jang_arch_hf_defaults;

/* Keys jang_desc_to_hf_config writes for an architecture beyond the common ones. */
typedef struct jang_arch_hf_export {
    bool supported;          /* config.json can be written */
    bool attention_bias_key; /* "attention_bias": the description's flag */
    bool mlp_bias_key;       /* "mlp_bias": false */
} jang_arch_hf_export;

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
    /* names of the architecture in the source formats */
    const char *hf_types[3]; /* config.json "model_type" values (NULL-terminated), first written */
    const char *hf_class;    /* config.json "architectures" entry, "LlamaForCausalLM" */
    const char *gguf_name;   /* GGUF general.architecture, "qwen2moe" */
    const char *hf_prefix; /* HF prefix of global names and layer_prefix, "model." / "backbone." */
    /* facts of the architecture, whatever the config says */
    bool attn_bias; /* q/k/v projections always carry biases (Qwen2) */
    bool qk_norm;   /* RMSNorm on q and k per head (Qwen3) */
    bool moe;       /* FFN is a mixture of experts */
    bool ssm;       /* blocks are state-space mixers (Mamba), no attention */
    jang_swa_style swa;
    jang_arch_hf_defaults hf_defaults;
    jang_arch_hf_export hf_export;
} jang_arch_traits;

/* The row of an architecture; never NULL (JANG_ARCH_UNKNOWN and out-of-range values get a row
 * with runs false and no tensors). */
const jang_arch_traits *jang_arch_traits_of(jang_arch a);

/* The architecture whose row lists model_type `s` (JANG_ARCH_UNKNOWN if none). */
jang_arch jang_arch_from_hf_type(const char *s);
/* The first architecture whose row has GGUF name `s` and whose moe flag is `moe` (GGUF "llama"
 * with experts is Mixtral), else the first with that name, else JANG_ARCH_UNKNOWN. */
jang_arch jang_arch_from_gguf_name(const char *s, bool moe);

/* The tensor of a row (its globals, or its layer tensors when in_layer) whose GGUF name (globals:
 * whole name; layer: after "blk.N.") has stem [stem, stem + len) before its ".weight" / ".bias"
 * suffix; NULL if none. */
const jang_arch_tensor *jang_arch_find_gguf(const jang_arch_traits *t, const char *stem, size_t len,
                                            bool in_layer);
/* The tensor of a row whose HF name is `hf` (globals: whole name; layer: after layer_prefix and
 * the layer number); NULL if none. */
const jang_arch_tensor *jang_arch_find_hf(const jang_arch_traits *t, const char *hf, bool in_layer);
/* Length of a tensor name without its ".weight" / ".bias" suffix. */
size_t jang_arch_name_stem(const char *name);

/* ---- config.json, read and parsed once per open (desc.c) ---------------------------------- */
struct json_t;
/* Reads `file` (at most 16 MiB) and parses it, refusing duplicate keys, into a JSON object
 * (*out, the caller's to json_decref); the errors name `file`. */
jang_status jang_hf_config_load(const char *file, struct json_t **out);
/* jang_desc_from_hf_config on an already parsed config.json object; `file` names it in errors. */
jang_status jang_desc_from_hf_json(const struct json_t *root, const char *file,
                                   jang_model_desc *out);

#endif
