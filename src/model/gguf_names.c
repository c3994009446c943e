/* gguf_names.c — llama.cpp tensor names -> Hugging Face / MLX names, and the value fix-ups that
 * undo what llama.cpp's convert_hf_to_gguf.py did to them:
 *   - Llama-family Q/K weights (and biases) are row-permuted for interleaved RoPE:
 *     w.reshape(n_head, 2, hd/2, ...).swapaxes(1, 2); we apply the inverse.
 *   - Gemma norm weights are stored as 1 + w.
 *   - Mamba's A_log is stored as A = -exp(A_log).
 * Stacked MoE experts keep their GGUF stacking and take MLX's "switch_mlp" names.
 * One table; arch-specific rows come before generic ones. Tested by tests/test_desc.c.
 */
#include "util.h"

#include <stdlib.h>
#include <string.h>

static const char *const fix_names[] = {
#define JANG_X_(e, s) s,
    JANG_GGUF_FIX_MAP(JANG_X_)
#undef JANG_X_
};

const char *jang_gguf_fix_name(jang_gguf_fix f) {
    return (unsigned)f < sizeof fix_names / sizeof fix_names[0] ? fix_names[f] : "?";
}

#define A_(x) (1u << JANG_ARCH_##x)
#define ANY 0xffffffffu
#define LLAMA_LIKE (A_(LLAMA) | A_(MISTRAL) | A_(MIXTRAL))
#define GEMMA_ANY (A_(GEMMA) | A_(GEMMA2) | A_(GEMMA3))
#define QWEN_MOE (A_(QWEN2_MOE) | A_(QWEN3_MOE))

typedef struct {
    uint32_t archs;
    const char *gguf; /* part after "blk.N." (block tensors) or the whole stem */
    const char *hf;   /* part after "<prefix>layers.N." or after "<prefix>" */
    jang_gguf_fix fix;
} name_rule;

/* Per-block tensors, first match wins. */
static const name_rule block_rules[] = {
    {A_(MAMBA), "attn_norm", "norm", JANG_GGUF_FIX_NONE},
    {A_(MAMBA), "ssm_in", "mixer.in_proj", JANG_GGUF_FIX_NONE},
    {A_(MAMBA), "ssm_conv1d", "mixer.conv1d", JANG_GGUF_FIX_NONE},
    {A_(MAMBA), "ssm_x", "mixer.x_proj", JANG_GGUF_FIX_NONE},
    {A_(MAMBA), "ssm_dt", "mixer.dt_proj", JANG_GGUF_FIX_NONE},
    {A_(MAMBA), "ssm_a", "mixer.A_log", JANG_GGUF_FIX_LOG_NEG},
    {A_(MAMBA), "ssm_d", "mixer.D", JANG_GGUF_FIX_NONE},
    {A_(MAMBA), "ssm_out", "mixer.out_proj", JANG_GGUF_FIX_NONE},
    {ANY, "attn_norm", "input_layernorm", JANG_GGUF_FIX_NONE},
    {LLAMA_LIKE, "attn_q", "self_attn.q_proj", JANG_GGUF_FIX_UNPERMUTE_Q},
    {LLAMA_LIKE, "attn_k", "self_attn.k_proj", JANG_GGUF_FIX_UNPERMUTE_K},
    {ANY, "attn_q", "self_attn.q_proj", JANG_GGUF_FIX_NONE},
    {ANY, "attn_k", "self_attn.k_proj", JANG_GGUF_FIX_NONE},
    {ANY, "attn_v", "self_attn.v_proj", JANG_GGUF_FIX_NONE},
    {ANY, "attn_qkv", "self_attn.qkv_proj", JANG_GGUF_FIX_NONE},
    {ANY, "attn_output", "self_attn.o_proj", JANG_GGUF_FIX_NONE},
    {ANY, "attn_q_norm", "self_attn.q_norm", JANG_GGUF_FIX_NONE},
    {ANY, "attn_k_norm", "self_attn.k_norm", JANG_GGUF_FIX_NONE},
    {A_(GEMMA2) | A_(GEMMA3), "post_attention_norm", "post_attention_layernorm",
     JANG_GGUF_FIX_NONE},
    {A_(GEMMA2) | A_(GEMMA3), "ffn_norm", "pre_feedforward_layernorm", JANG_GGUF_FIX_NONE},
    {A_(GEMMA2) | A_(GEMMA3), "post_ffw_norm", "post_feedforward_layernorm", JANG_GGUF_FIX_NONE},
    {ANY, "ffn_norm", "post_attention_layernorm", JANG_GGUF_FIX_NONE},
    {A_(PHI3), "ffn_up", "mlp.gate_up_proj", JANG_GGUF_FIX_NONE},
    {ANY, "ffn_gate", "mlp.gate_proj", JANG_GGUF_FIX_NONE},
    {ANY, "ffn_up", "mlp.up_proj", JANG_GGUF_FIX_NONE},
    {ANY, "ffn_down", "mlp.down_proj", JANG_GGUF_FIX_NONE},
    {A_(MIXTRAL), "ffn_gate_inp", "block_sparse_moe.gate", JANG_GGUF_FIX_NONE},
    {A_(MIXTRAL), "ffn_gate_exps", "block_sparse_moe.switch_mlp.gate_proj", JANG_GGUF_FIX_NONE},
    {A_(MIXTRAL), "ffn_up_exps", "block_sparse_moe.switch_mlp.up_proj", JANG_GGUF_FIX_NONE},
    {A_(MIXTRAL), "ffn_down_exps", "block_sparse_moe.switch_mlp.down_proj", JANG_GGUF_FIX_NONE},
    {QWEN_MOE, "ffn_gate_inp", "mlp.gate", JANG_GGUF_FIX_NONE},
    {QWEN_MOE, "ffn_gate_exps", "mlp.switch_mlp.gate_proj", JANG_GGUF_FIX_NONE},
    {QWEN_MOE, "ffn_up_exps", "mlp.switch_mlp.up_proj", JANG_GGUF_FIX_NONE},
    {QWEN_MOE, "ffn_down_exps", "mlp.switch_mlp.down_proj", JANG_GGUF_FIX_NONE},
    {QWEN_MOE, "ffn_gate_inp_shexp", "mlp.shared_expert_gate", JANG_GGUF_FIX_NONE},
    {QWEN_MOE, "ffn_gate_shexp", "mlp.shared_expert.gate_proj", JANG_GGUF_FIX_NONE},
    {QWEN_MOE, "ffn_up_shexp", "mlp.shared_expert.up_proj", JANG_GGUF_FIX_NONE},
    {QWEN_MOE, "ffn_down_shexp", "mlp.shared_expert.down_proj", JANG_GGUF_FIX_NONE},
};

/* Tensors outside the blocks. */
static const name_rule top_rules[] = {
    {A_(MAMBA), "token_embd", "embeddings", JANG_GGUF_FIX_NONE},
    {A_(MAMBA), "output_norm", "norm_f", JANG_GGUF_FIX_NONE},
    {ANY, "token_embd", "embed_tokens", JANG_GGUF_FIX_NONE},
    {ANY, "output_norm", "norm", JANG_GGUF_FIX_NONE},
};

static bool arch_matches(uint32_t mask, jang_arch arch) {
    return mask == ANY || (mask & (1u << arch)) != 0;
}

static const name_rule *find_rule(const name_rule *rules, size_t n, jang_arch arch,
                                  const char *stem, size_t stem_len) {
    for (size_t i = 0; i < n; i++)
        if (arch_matches(rules[i].archs, arch) && strlen(rules[i].gguf) == stem_len &&
            !memcmp(rules[i].gguf, stem, stem_len))
            return &rules[i];
    return NULL;
}

jang_status jang_gguf_map_name(jang_arch arch, const char *gguf_name, char *out, size_t cap,
                               jang_gguf_fix *fix) {
    char pbuf[96];
    const char *pn = jang_printable(gguf_name, strlen(gguf_name), pbuf, sizeof pbuf);
    if (fix) *fix = JANG_GGUF_FIX_NONE;
    if (cap) out[0] = '\0';
    const char *prefix = arch == JANG_ARCH_MAMBA ? "backbone." : "model.";
    /* split off the ".weight" / ".bias" suffix (Mamba's ssm_a and ssm_d have none) */
    size_t len = strlen(gguf_name);
    const char *suffix = "";
    if (len > 7 && !strcmp(gguf_name + len - 7, ".weight"))
        suffix = ".weight", len -= 7;
    else if (len > 5 && !strcmp(gguf_name + len - 5, ".bias"))
        suffix = ".bias", len -= 5;

    const name_rule *r = NULL;
    int n;
    if (!strncmp(gguf_name, "blk.", 4)) {
        char *end;
        long layer = strtol(gguf_name + 4, &end, 10);
        if (end == gguf_name + 4 || *end != '.' || layer < 0 || layer > 100000)
            return jang_fail(JANG_E_NOTFOUND, "tensor '%s': malformed block index", pn);
        const char *stem = end + 1;
        size_t stem_len = len - (size_t)(stem - gguf_name);
        if ((stem - gguf_name) > (ptrdiff_t)len)
            return jang_fail(JANG_E_NOTFOUND, "tensor '%s': malformed name", pn);
        r = find_rule(block_rules, sizeof block_rules / sizeof block_rules[0], arch, stem,
                      stem_len);
        if (!r)
            return jang_fail(JANG_E_NOTFOUND, "tensor '%s': no HF name known for %s", pn,
                             jang_arch_name(arch));
        n = snprintf(out, cap, "%slayers.%ld.%s%s", prefix, layer, r->hf, suffix);
    } else if (!strcmp(gguf_name, "output.weight")) {
        n = snprintf(out, cap, "lm_head.weight");
    } else if (!strcmp(gguf_name, "rope_freqs.weight")) {
        return jang_fail(JANG_E_NOTFOUND,
                         "tensor '%s': llama.cpp-only (Llama-3 RoPE factors); HF keeps them in "
                         "config.json rope_scaling",
                         pn);
    } else {
        r = find_rule(top_rules, sizeof top_rules / sizeof top_rules[0], arch, gguf_name, len);
        if (!r)
            return jang_fail(JANG_E_NOTFOUND, "tensor '%s': no HF name known for %s", pn,
                             jang_arch_name(arch));
        n = snprintf(out, cap, "%s%s%s", prefix, r->hf, suffix);
    }
    if (n < 0 || (size_t)n >= cap)
        return jang_fail(JANG_E_ARG, "tensor '%s': output buffer too small", pn);
    if (fix) {
        *fix = r ? r->fix : JANG_GGUF_FIX_NONE;
        /* Gemma stores every RMSNorm weight as 1 + w */
        size_t ol = (size_t)n;
        if (arch_matches(GEMMA_ANY, arch) && ol > 11 && !strcmp(out + ol - 11, "norm.weight"))
            *fix = JANG_GGUF_FIX_MINUS_ONE;
    }
    return JANG_OK;
}

jang_status jang_unpermute_rows(float *w, int64_t rows, int64_t cols, int64_t n_head) {
    if (n_head <= 0 || rows <= 0 || cols <= 0 || rows % n_head || (rows / n_head) % 2)
        return jang_fail(JANG_E_ARG,
                         "unpermute: %lld rows cannot split into %lld heads of even size",
                         (long long)rows, (long long)n_head);
    int64_t hd = rows / n_head, half = hd / 2;
    size_t row_bytes = (size_t)cols * sizeof(float);
    float *tmp = jang_malloc((size_t)hd * row_bytes, "unpermute");
    if (!tmp) return JANG_E_NOMEM;
    for (int64_t h = 0; h < n_head; h++) {
        float *base = w + h * hd * cols;
        /* permuted row 2i + j holds original row j * half + i */
        for (int64_t i = 0; i < half; i++)
            for (int64_t j = 0; j < 2; j++)
                memcpy(tmp + (j * half + i) * cols, base + (2 * i + j) * cols, row_bytes);
        memcpy(base, tmp, (size_t)hd * row_bytes);
    }
    free(tmp);
    return JANG_OK;
}
