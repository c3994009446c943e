/* arch.c — the traits rows of arch.h: per architecture, its tensors (role, HF and GGUF names,
 * when required, shape) and the forward pass's choices. One row per architecture; the dense
 * decoder family (Llama, Mistral, Qwen2, Qwen3) shares one tensor table whose optional rows
 * (biases, q/k norms) the description switches on. Tested by tests/test_model.c (loading every
 * fixture) and tests/test_desc.c.
 */
#include "arch.h"

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
    }
    return 0;
}

#define T_(role, hf, gguf, need, r, c)                                                             \
    { JANG_ROLE_##role, hf, gguf, JANG_NEED_##need, {JANG_DIM_##r, JANG_DIM_##c}, }

/* Llama / Mistral / Qwen2 / Qwen3: pre-norm decoder, GQA attention, SwiGLU MLP. */
static const jang_arch_tensor dense_globals[] = {
    T_(TOK_EMBD, "model.embed_tokens.weight", "token_embd.weight", ALWAYS, VOCAB, MODEL),
    T_(OUT_NORM, "model.norm.weight", "output_norm.weight", ALWAYS, MODEL, NONE),
    T_(OUTPUT, "lm_head.weight", "output.weight", OPTIONAL, VOCAB, MODEL),
};

static const jang_arch_tensor dense_layer[] = {
    T_(ATTN_NORM, "input_layernorm.weight", "attn_norm.weight", ALWAYS, MODEL, NONE),
    T_(FFN_NORM, "post_attention_layernorm.weight", "ffn_norm.weight", ALWAYS, MODEL, NONE),
    T_(WQ, "self_attn.q_proj.weight", "attn_q.weight", ALWAYS, Q, MODEL),
    T_(WK, "self_attn.k_proj.weight", "attn_k.weight", ALWAYS, KV, MODEL),
    T_(WV, "self_attn.v_proj.weight", "attn_v.weight", ALWAYS, KV, MODEL),
    T_(WO, "self_attn.o_proj.weight", "attn_output.weight", ALWAYS, MODEL, Q),
    T_(W_GATE, "mlp.gate_proj.weight", "ffn_gate.weight", ALWAYS, FFN, MODEL),
    T_(W_UP, "mlp.up_proj.weight", "ffn_up.weight", ALWAYS, FFN, MODEL),
    T_(W_DOWN, "mlp.down_proj.weight", "ffn_down.weight", ALWAYS, MODEL, FFN),
    T_(BQ, "self_attn.q_proj.bias", "attn_q.bias", ATTN_BIAS, Q, NONE),
    T_(BK, "self_attn.k_proj.bias", "attn_k.bias", ATTN_BIAS, KV, NONE),
    T_(BV, "self_attn.v_proj.bias", "attn_v.bias", ATTN_BIAS, KV, NONE),
    T_(Q_NORM, "self_attn.q_norm.weight", "attn_q_norm.weight", QK_NORM, HEAD, NONE),
    T_(K_NORM, "self_attn.k_norm.weight", "attn_k_norm.weight", QK_NORM, HEAD, NONE),
};

#define N_(a) (int)(sizeof(a) / sizeof((a)[0]))
#define DENSE(e)                                                                                   \
    [JANG_ARCH_##e] = {JANG_ARCH_##e, true, 0.0f, JANG_ACT_SILU, "model.layers.", dense_globals,   \
                       N_(dense_globals), dense_layer, N_(dense_layer)}

static const jang_arch_traits traits[JANG_ARCH_COUNT] = {
    DENSE(LLAMA),
    DENSE(MISTRAL),
    DENSE(QWEN2),
    DENSE(QWEN3),
};

const jang_arch_traits *jang_arch_traits_of(jang_arch a) {
    static const jang_arch_traits none = {JANG_ARCH_UNKNOWN, false, 0.0f, JANG_ACT_SILU,
                                          "model.layers.", NULL, 0, NULL, 0};
    if ((unsigned)a >= JANG_ARCH_COUNT || !traits[a].layer) return &none;
    return &traits[a];
}
