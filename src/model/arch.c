/* arch.c — the traits rows of arch.h: per architecture, its tensors (role, HF and GGUF names,
 * when required, shape, llama.cpp's value fix-up), its names in config.json and GGUF, the facts
 * desc.c and hf_export.c use, and the forward pass's choices. One row per architecture of
 * JANG_ARCH_MAP; the dense decoder family (Llama, Mistral, Qwen2, Qwen3) shares one tensor list
 * whose optional rows (biases, q/k norms) the description switches on (Llama and Mistral with
 * llama.cpp's Q/K permutation). Rows with runs false (MoE, Gemma, Phi-3, Mamba) serve the name
 * mapping and the converter until the runtime runs them. Tested by tests/test_model.c (loading
 * every fixture) and tests/test_desc.c (every row against the GGUF name mapping).
 */
#include "arch.h"

#include <string.h>

static const char *const role_names[] = {
#define JANG_X_(e, s) s,
    JANG_ROLE_MAP(JANG_X_)
#undef JANG_X_
};
_Static_assert(sizeof role_names / sizeof role_names[0] == JANG_ROLE_COUNT,
               "a role without its name");

const char *jang_role_name(jang_role r) {
    return (unsigned)r < JANG_ROLE_COUNT ? role_names[r] : "?";
}

int64_t jang_dim_value(jang_dimsym s, const jang_model_desc *d) {
    switch (s) {
    case JANG_DIM_NONE:
        return 1;
    case JANG_DIM_MODEL:
        return d->dim;
    case JANG_DIM_Q:
        return d->n_heads * d->head_dim;
    case JANG_DIM_KV:
        return d->n_kv_heads * d->head_dim;
    case JANG_DIM_HEAD:
        return d->head_dim;
    case JANG_DIM_FFN:
        return d->ffn_dim;
    case JANG_DIM_VOCAB:
        return d->vocab_size;
    case JANG_DIM_QKV:
        return (d->n_heads + 2 * d->n_kv_heads) * d->head_dim;
    case JANG_DIM_FFN2:
        return 2 * d->ffn_dim;
    case JANG_DIM_EXPERTS:
        return d->n_experts;
    case JANG_DIM_MOE_FFN:
        return d->moe_ffn_dim;
    case JANG_DIM_SHEXP_FFN:
        return d->shared_expert_ffn_dim;
    case JANG_DIM_SSM_INNER:
        return d->ssm_d_inner;
    case JANG_DIM_SSM_INNER2:
        return 2 * d->ssm_d_inner;
    case JANG_DIM_SSM_STATE:
        return d->ssm_d_state;
    case JANG_DIM_SSM_CONV:
        return d->ssm_d_conv;
    case JANG_DIM_SSM_DT_RANK:
        return d->ssm_dt_rank;
    case JANG_DIM_SSM_XPROJ:
        return d->ssm_dt_rank + 2 * d->ssm_d_state;
    }
    return 0;
}

/* T_: a tensor; TF_: one whose GGUF values llama.cpp changed (fix); TS_: stacked experts. */
#define TF_(role, hf, gguf, need, r, c, fix)                                                       \
    {                                                                                              \
        JANG_ROLE_##role, hf, gguf, JANG_NEED_##need, {JANG_DIM_##r, JANG_DIM_##c}, JANG_DIM_NONE, \
            JANG_GGUF_FIX_##fix                                                                    \
    }
#define T_(role, hf, gguf, need, r, c) TF_(role, hf, gguf, need, r, c, NONE)
#define TS_(role, hf, gguf, need, n, r, c)                                                         \
    {                                                                                              \
        JANG_ROLE_##role, hf, gguf, JANG_NEED_##need, {JANG_DIM_##r, JANG_DIM_##c}, JANG_DIM_##n,  \
            JANG_GGUF_FIX_NONE                                                                     \
    }

/* Llama / Mistral / Qwen2 / Qwen3: pre-norm decoder, GQA attention, SwiGLU MLP. */
static const jang_arch_tensor dense_globals[] = {
    T_(TOK_EMBD, "model.embed_tokens.weight", "token_embd.weight", ALWAYS, VOCAB, MODEL),
    T_(OUT_NORM, "model.norm.weight", "output_norm.weight", ALWAYS, MODEL, NONE),
    T_(OUTPUT, "lm_head.weight", "output.weight", OPTIONAL, VOCAB, MODEL),
};

/* The dense layer, with llama.cpp's Q/K row permutation (Llama, Mistral) or without (Qwen). */
#define DENSE_LAYER(QF, KF)                                                                        \
    T_(ATTN_NORM, "input_layernorm.weight", "attn_norm.weight", ALWAYS, MODEL, NONE),              \
        T_(FFN_NORM, "post_attention_layernorm.weight", "ffn_norm.weight", ALWAYS, MODEL, NONE),   \
        TF_(WQ, "self_attn.q_proj.weight", "attn_q.weight", ALWAYS, Q, MODEL, QF),                 \
        TF_(WK, "self_attn.k_proj.weight", "attn_k.weight", ALWAYS, KV, MODEL, KF),                \
        T_(WV, "self_attn.v_proj.weight", "attn_v.weight", ALWAYS, KV, MODEL),                     \
        T_(WO, "self_attn.o_proj.weight", "attn_output.weight", ALWAYS, MODEL, Q),                 \
        T_(W_GATE, "mlp.gate_proj.weight", "ffn_gate.weight", ALWAYS, FFN, MODEL),                 \
        T_(W_UP, "mlp.up_proj.weight", "ffn_up.weight", ALWAYS, FFN, MODEL),                       \
        T_(W_DOWN, "mlp.down_proj.weight", "ffn_down.weight", ALWAYS, MODEL, FFN),                 \
        TF_(BQ, "self_attn.q_proj.bias", "attn_q.bias", ATTN_BIAS, Q, NONE, QF),                   \
        TF_(BK, "self_attn.k_proj.bias", "attn_k.bias", ATTN_BIAS, KV, NONE, KF),                  \
        T_(BV, "self_attn.v_proj.bias", "attn_v.bias", ATTN_BIAS, KV,                              \
           NONE), /* Llama's attention_bias also biases o_proj; Qwen2's biases stop at v */        \
        T_(BO, "self_attn.o_proj.bias", "attn_output.bias", OPTIONAL, MODEL, NONE),                \
        T_(Q_NORM, "self_attn.q_norm.weight", "attn_q_norm.weight", QK_NORM, HEAD, NONE),          \
        T_(K_NORM, "self_attn.k_norm.weight", "attn_k_norm.weight", QK_NORM, HEAD, NONE)
static const jang_arch_tensor dense_layer[] = {DENSE_LAYER(NONE, NONE)};
static const jang_arch_tensor llama_layer[] = {DENSE_LAYER(UNPERMUTE_Q, UNPERMUTE_K)};

/* Attention of the MoE decoders: Mixtral (permuted Q/K), Qwen2-MoE (biases), Qwen3-MoE
 * (q/k norms). */
#define MOE_ATTN(QF, KF)                                                                           \
    T_(ATTN_NORM, "input_layernorm.weight", "attn_norm.weight", ALWAYS, MODEL, NONE),              \
        T_(FFN_NORM, "post_attention_layernorm.weight", "ffn_norm.weight", ALWAYS, MODEL, NONE),   \
        TF_(WQ, "self_attn.q_proj.weight", "attn_q.weight", ALWAYS, Q, MODEL, QF),                 \
        TF_(WK, "self_attn.k_proj.weight", "attn_k.weight", ALWAYS, KV, MODEL, KF),                \
        T_(WV, "self_attn.v_proj.weight", "attn_v.weight", ALWAYS, KV, MODEL),                     \
        T_(WO, "self_attn.o_proj.weight", "attn_output.weight", ALWAYS, MODEL, Q)

/* Stacked experts keep their GGUF stacking and take MLX's "switch_mlp" names. */
static const jang_arch_tensor mixtral_layer[] = {
    MOE_ATTN(UNPERMUTE_Q, UNPERMUTE_K),
    T_(MOE_ROUTER, "block_sparse_moe.gate.weight", "ffn_gate_inp.weight", ALWAYS, EXPERTS, MODEL),
    TS_(EXP_GATE, "block_sparse_moe.switch_mlp.gate_proj.weight", "ffn_gate_exps.weight", ALWAYS,
        EXPERTS, FFN, MODEL),
    TS_(EXP_UP, "block_sparse_moe.switch_mlp.up_proj.weight", "ffn_up_exps.weight", ALWAYS, EXPERTS,
        FFN, MODEL),
    TS_(EXP_DOWN, "block_sparse_moe.switch_mlp.down_proj.weight", "ffn_down_exps.weight", ALWAYS,
        EXPERTS, MODEL, FFN),
};

/* Qwen MoE: a layer is sparse (router + stacked experts) or, when listed in mlp_only_layers or off
 * the decoder_sparse_step, a dense MLP under the same "mlp." prefix (llama.cpp has no such layers).
 */
#define QWEN_MOE_FFN                                                                               \
    T_(MOE_ROUTER, "mlp.gate.weight", "ffn_gate_inp.weight", ALWAYS, EXPERTS, MODEL),              \
        TS_(EXP_GATE, "mlp.switch_mlp.gate_proj.weight", "ffn_gate_exps.weight", ALWAYS, EXPERTS,  \
            MOE_FFN, MODEL),                                                                       \
        TS_(EXP_UP, "mlp.switch_mlp.up_proj.weight", "ffn_up_exps.weight", ALWAYS, EXPERTS,        \
            MOE_FFN, MODEL),                                                                       \
        TS_(EXP_DOWN, "mlp.switch_mlp.down_proj.weight", "ffn_down_exps.weight", ALWAYS, EXPERTS,  \
            MODEL, MOE_FFN),                                                                       \
        T_(W_GATE, "mlp.gate_proj.weight", "ffn_gate.weight", OPTIONAL, FFN, MODEL),               \
        T_(W_UP, "mlp.up_proj.weight", "ffn_up.weight", OPTIONAL, FFN, MODEL),                     \
        T_(W_DOWN, "mlp.down_proj.weight", "ffn_down.weight", OPTIONAL, MODEL, FFN)

static const jang_arch_tensor qwen2_moe_layer[] = {
    MOE_ATTN(NONE, NONE),
    T_(BQ, "self_attn.q_proj.bias", "attn_q.bias", ALWAYS, Q, NONE),
    T_(BK, "self_attn.k_proj.bias", "attn_k.bias", ALWAYS, KV, NONE),
    T_(BV, "self_attn.v_proj.bias", "attn_v.bias", ALWAYS, KV, NONE),
    QWEN_MOE_FFN,
    T_(SHEXP_ROUTER, "mlp.shared_expert_gate.weight", "ffn_gate_inp_shexp.weight", ALWAYS, NONE,
       MODEL),
    T_(SHEXP_GATE, "mlp.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight", ALWAYS, SHEXP_FFN,
       MODEL),
    T_(SHEXP_UP, "mlp.shared_expert.up_proj.weight", "ffn_up_shexp.weight", ALWAYS, SHEXP_FFN,
       MODEL),
    T_(SHEXP_DOWN, "mlp.shared_expert.down_proj.weight", "ffn_down_shexp.weight", ALWAYS, MODEL,
       SHEXP_FFN),
};

static const jang_arch_tensor qwen3_moe_layer[] = {
    MOE_ATTN(NONE, NONE),
    T_(Q_NORM, "self_attn.q_norm.weight", "attn_q_norm.weight", ALWAYS, HEAD, NONE),
    T_(K_NORM, "self_attn.k_norm.weight", "attn_k_norm.weight", ALWAYS, HEAD, NONE),
    QWEN_MOE_FFN,
};

/* Gemma: every RMSNorm weight is stored by llama.cpp as 1 + w (the HF value is w, used as
 * 1 + w: norm_offset 1). Gemma 2/3 norm the attention and FFN outputs too. */
static const jang_arch_tensor gemma_globals[] = {
    T_(TOK_EMBD, "model.embed_tokens.weight", "token_embd.weight", ALWAYS, VOCAB, MODEL),
    TF_(OUT_NORM, "model.norm.weight", "output_norm.weight", ALWAYS, MODEL, NONE, MINUS_ONE),
    T_(OUTPUT, "lm_head.weight", "output.weight", OPTIONAL, VOCAB, MODEL),
};

#define GEMMA_ATTN_FFN                                                                             \
    T_(WQ, "self_attn.q_proj.weight", "attn_q.weight", ALWAYS, Q, MODEL),                          \
        T_(WK, "self_attn.k_proj.weight", "attn_k.weight", ALWAYS, KV, MODEL),                     \
        T_(WV, "self_attn.v_proj.weight", "attn_v.weight", ALWAYS, KV, MODEL),                     \
        T_(WO, "self_attn.o_proj.weight", "attn_output.weight", ALWAYS, MODEL, Q),                 \
        T_(W_GATE, "mlp.gate_proj.weight", "ffn_gate.weight", ALWAYS, FFN, MODEL),                 \
        T_(W_UP, "mlp.up_proj.weight", "ffn_up.weight", ALWAYS, FFN, MODEL),                       \
        T_(W_DOWN, "mlp.down_proj.weight", "ffn_down.weight", ALWAYS, MODEL, FFN),                 \
        T_(BQ, "self_attn.q_proj.bias", "attn_q.bias", ATTN_BIAS, Q, NONE),                        \
        T_(BK, "self_attn.k_proj.bias", "attn_k.bias", ATTN_BIAS, KV, NONE),                       \
        T_(BV, "self_attn.v_proj.bias", "attn_v.bias", ATTN_BIAS, KV, NONE)

static const jang_arch_tensor gemma_layer[] = {
    TF_(ATTN_NORM, "input_layernorm.weight", "attn_norm.weight", ALWAYS, MODEL, NONE, MINUS_ONE),
    TF_(FFN_NORM, "post_attention_layernorm.weight", "ffn_norm.weight", ALWAYS, MODEL, NONE,
        MINUS_ONE),
    GEMMA_ATTN_FFN,
};

#define GEMMA2_NORMS                                                                               \
    TF_(ATTN_NORM, "input_layernorm.weight", "attn_norm.weight", ALWAYS, MODEL, NONE, MINUS_ONE),  \
        TF_(POST_ATTN_NORM, "post_attention_layernorm.weight", "post_attention_norm.weight",       \
            ALWAYS, MODEL, NONE, MINUS_ONE),                                                       \
        TF_(FFN_NORM, "pre_feedforward_layernorm.weight", "ffn_norm.weight", ALWAYS, MODEL, NONE,  \
            MINUS_ONE),                                                                            \
        TF_(POST_FFN_NORM, "post_feedforward_layernorm.weight", "post_ffw_norm.weight", ALWAYS,    \
            MODEL, NONE, MINUS_ONE)

static const jang_arch_tensor gemma2_layer[] = {GEMMA2_NORMS, GEMMA_ATTN_FFN};

static const jang_arch_tensor gemma3_layer[] = {
    GEMMA2_NORMS,
    GEMMA_ATTN_FFN,
    TF_(Q_NORM, "self_attn.q_norm.weight", "attn_q_norm.weight", ALWAYS, HEAD, NONE, MINUS_ONE),
    TF_(K_NORM, "self_attn.k_norm.weight", "attn_k_norm.weight", ALWAYS, HEAD, NONE, MINUS_ONE),
};

/* Phi-3: fused QKV and fused gate+up (gate first). */
static const jang_arch_tensor phi3_layer[] = {
    T_(ATTN_NORM, "input_layernorm.weight", "attn_norm.weight", ALWAYS, MODEL, NONE),
    T_(FFN_NORM, "post_attention_layernorm.weight", "ffn_norm.weight", ALWAYS, MODEL, NONE),
    T_(WQKV, "self_attn.qkv_proj.weight", "attn_qkv.weight", ALWAYS, QKV, MODEL),
    T_(WO, "self_attn.o_proj.weight", "attn_output.weight", ALWAYS, MODEL, Q),
    T_(W_GATE_UP, "mlp.gate_up_proj.weight", "ffn_up.weight", ALWAYS, FFN2, MODEL),
    T_(W_DOWN, "mlp.down_proj.weight", "ffn_down.weight", ALWAYS, MODEL, FFN),
};

/* Mamba: "backbone." names; llama.cpp stores A = -exp(A_log); ssm_a / ssm_d have no suffix.
 * conv1d.weight is (d_inner, 1, d_conv) in HF, (d_inner, d_conv) in GGUF. */
static const jang_arch_tensor mamba_globals[] = {
    T_(TOK_EMBD, "backbone.embeddings.weight", "token_embd.weight", ALWAYS, VOCAB, MODEL),
    T_(OUT_NORM, "backbone.norm_f.weight", "output_norm.weight", ALWAYS, MODEL, NONE),
    T_(OUTPUT, "lm_head.weight", "output.weight", OPTIONAL, VOCAB, MODEL),
};

static const jang_arch_tensor mamba_layer[] = {
    T_(ATTN_NORM, "norm.weight", "attn_norm.weight", ALWAYS, MODEL, NONE),
    T_(SSM_IN, "mixer.in_proj.weight", "ssm_in.weight", ALWAYS, SSM_INNER2, MODEL),
    T_(SSM_CONV, "mixer.conv1d.weight", "ssm_conv1d.weight", ALWAYS, SSM_INNER, SSM_CONV),
    T_(SSM_CONV_B, "mixer.conv1d.bias", "ssm_conv1d.bias", ALWAYS, SSM_INNER, NONE),
    T_(SSM_X, "mixer.x_proj.weight", "ssm_x.weight", ALWAYS, SSM_XPROJ, SSM_INNER),
    T_(SSM_DT, "mixer.dt_proj.weight", "ssm_dt.weight", ALWAYS, SSM_INNER, SSM_DT_RANK),
    T_(SSM_DT_B, "mixer.dt_proj.bias", "ssm_dt.bias", ALWAYS, SSM_INNER, NONE),
    TF_(SSM_A, "mixer.A_log", "ssm_a", ALWAYS, SSM_INNER, SSM_STATE, LOG_NEG),
    T_(SSM_D, "mixer.D", "ssm_d", ALWAYS, SSM_INNER, NONE),
    T_(SSM_OUT, "mixer.out_proj.weight", "ssm_out.weight", ALWAYS, MODEL, SSM_INNER),
};

#define N_(a) (int)(sizeof(a) / sizeof((a)[0]))
#define TENSORS_(g, l) .globals = g, .n_globals = N_(g), .layer = l, .n_layer = N_(l)
/* A decoder with "model." names; act is SiLU unless the row says otherwise (JANG_ACT_SILU = 0). */
#define DECODER_(e, cls, gguf, ...)                                                                \
    .arch = JANG_ARCH_##e, .layer_prefix = "model.layers.", .hf_types = {__VA_ARGS__},             \
    .hf_class = cls, .gguf_name = gguf, .hf_prefix = "model."
/* transformers config-class defaults: rms_norm_eps, rope_theta, tie_word_embeddings, experts */
#define HF_DEFAULTS_(eps, theta, tied, n_exp, n_used)                                              \
    .hf_defaults = {eps, theta, tied, n_exp, n_used}
#define COMMON_DEFAULTS_ HF_DEFAULTS_(1e-6, 10000.0, false, 0, 0)
/* config.json writing: supported, "attention_bias" key, "mlp_bias" key */
#define EXPORT_(attn_bias_key, mlp_bias_key) .hf_export = {true, attn_bias_key, mlp_bias_key}

static const jang_arch_traits traits[JANG_ARCH_COUNT] = {
    [JANG_ARCH_LLAMA] = {DECODER_(LLAMA, "LlamaForCausalLM", "llama", "llama"), .runs = true,
                         TENSORS_(dense_globals, llama_layer), COMMON_DEFAULTS_,
                         EXPORT_(true, true)},
    /* GGUF does not tell Mistral from Llama: llama.cpp writes both as "llama". */
    [JANG_ARCH_MISTRAL] = {DECODER_(MISTRAL, "MistralForCausalLM", "llama", "mistral"),
                           .runs = true, TENSORS_(dense_globals, llama_layer), .swa = JANG_SWA_KEY,
                           COMMON_DEFAULTS_, EXPORT_(false, false)},
    [JANG_ARCH_QWEN2] = {DECODER_(QWEN2, "Qwen2ForCausalLM", "qwen2", "qwen2"), .runs = true,
                         TENSORS_(dense_globals, dense_layer), .attn_bias = true,
                         .swa = JANG_SWA_USE_FLAG, COMMON_DEFAULTS_, EXPORT_(false, false)},
    [JANG_ARCH_QWEN3] = {DECODER_(QWEN3, "Qwen3ForCausalLM", "qwen3", "qwen3"), .runs = true,
                         TENSORS_(dense_globals, dense_layer), .qk_norm = true,
                         .swa = JANG_SWA_USE_FLAG, COMMON_DEFAULTS_, EXPORT_(true, false)},
    /* Qwen2-MoE's q/k/v always carry biases too, but desc.c never set attn_bias for it. */
    [JANG_ARCH_QWEN2_MOE] = {DECODER_(QWEN2_MOE, "Qwen2MoeForCausalLM", "qwen2moe", "qwen2_moe"),
                             TENSORS_(dense_globals, qwen2_moe_layer), .moe = true,
                             COMMON_DEFAULTS_},
    [JANG_ARCH_QWEN3_MOE] = {DECODER_(QWEN3_MOE, "Qwen3MoeForCausalLM", "qwen3moe", "qwen3_moe"),
                             TENSORS_(dense_globals, qwen3_moe_layer), .qk_norm = true, .moe = true,
                             COMMON_DEFAULTS_},
    [JANG_ARCH_MIXTRAL] = {DECODER_(MIXTRAL, "MixtralForCausalLM", "llama", "mixtral"),
                           TENSORS_(dense_globals, mixtral_layer), .moe = true, .swa = JANG_SWA_KEY,
                           HF_DEFAULTS_(1e-6, 1e6, false, 8, 2)},
    [JANG_ARCH_GEMMA] = {DECODER_(GEMMA, "GemmaForCausalLM", "gemma", "gemma"), .norm_offset = 1.0f,
                         .act = JANG_ACT_GELU_TANH, TENSORS_(gemma_globals, gemma_layer),
                         HF_DEFAULTS_(1e-6, 10000.0, true, 0, 0)},
    [JANG_ARCH_GEMMA2] = {DECODER_(GEMMA2, "Gemma2ForCausalLM", "gemma2", "gemma2"),
                          .norm_offset = 1.0f, .act = JANG_ACT_GELU_TANH,
                          TENSORS_(gemma_globals, gemma2_layer), .swa = JANG_SWA_KEY,
                          HF_DEFAULTS_(1e-6, 10000.0, true, 0, 0)},
    /* Gemma 3 always has q/k norms, but desc.c never set qk_norm for it. */
    [JANG_ARCH_GEMMA3] = {DECODER_(GEMMA3, "Gemma3ForCausalLM", "gemma3", "gemma3", "gemma3_text"),
                          .norm_offset = 1.0f, .act = JANG_ACT_GELU_TANH,
                          TENSORS_(gemma_globals, gemma3_layer), .swa = JANG_SWA_KEY,
                          HF_DEFAULTS_(1e-6, 10000.0, true, 0, 0)},
    [JANG_ARCH_PHI3] = {DECODER_(PHI3, "Phi3ForCausalLM", "phi3", "phi3"),
                        TENSORS_(dense_globals, phi3_layer),
                        HF_DEFAULTS_(1e-5, 10000.0, false, 0, 0)},
    [JANG_ARCH_MAMBA] = {.arch = JANG_ARCH_MAMBA,
                         .layer_prefix = "backbone.layers.",
                         .hf_types = {"mamba"},
                         .hf_class = "MambaForCausalLM",
                         .gguf_name = "mamba",
                         .hf_prefix = "backbone.",
                         TENSORS_(mamba_globals, mamba_layer),
                         .ssm = true,
                         HF_DEFAULTS_(1e-5, 10000.0, true, 0, 0)},
};

const jang_arch_traits *jang_arch_traits_of(jang_arch a) {
    static const jang_arch_traits none = {.arch = JANG_ARCH_UNKNOWN,
                                          .layer_prefix = "model.layers.",
                                          .hf_prefix = "model.",
                                          COMMON_DEFAULTS_};
    if ((unsigned)a >= JANG_ARCH_COUNT || !traits[a].layer) return &none;
    return &traits[a];
}

jang_arch jang_arch_from_hf_type(const char *s) {
    for (int a = 0; a < JANG_ARCH_COUNT; a++)
        for (int i = 0; i < N_(traits[a].hf_types) && traits[a].hf_types[i]; i++)
            if (!strcmp(s, traits[a].hf_types[i])) return (jang_arch)a;
    return JANG_ARCH_UNKNOWN;
}

jang_arch jang_arch_from_gguf_name(const char *s, bool moe) {
    jang_arch first = JANG_ARCH_UNKNOWN;
    for (int a = 0; a < JANG_ARCH_COUNT; a++) {
        if (!traits[a].gguf_name || strcmp(s, traits[a].gguf_name)) continue;
        if (traits[a].moe == moe) return (jang_arch)a;
        if (first == JANG_ARCH_UNKNOWN) first = (jang_arch)a;
    }
    return first;
}

size_t jang_arch_name_stem(const char *name) {
    size_t len = strlen(name);
    if (len > 7 && !strcmp(name + len - 7, ".weight")) return len - 7;
    if (len > 5 && !strcmp(name + len - 5, ".bias")) return len - 5;
    return len;
}

const jang_arch_tensor *jang_arch_find_gguf(const jang_arch_traits *t, const char *stem, size_t len,
                                            bool in_layer) {
    const jang_arch_tensor *v = in_layer ? t->layer : t->globals;
    int n = in_layer ? t->n_layer : t->n_globals;
    for (int i = 0; i < n; i++)
        if (jang_arch_name_stem(v[i].gguf) == len && !memcmp(v[i].gguf, stem, len)) return &v[i];
    return NULL;
}

const jang_arch_tensor *jang_arch_find_hf(const jang_arch_traits *t, const char *hf,
                                          bool in_layer) {
    const jang_arch_tensor *v = in_layer ? t->layer : t->globals;
    int n = in_layer ? t->n_layer : t->n_globals;
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i].hf, hf)) return &v[i];
    return NULL;
}
