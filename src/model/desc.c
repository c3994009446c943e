/* desc.c — the model description (jang_model_desc) from a Hugging Face config.json or from GGUF
 * metadata. Both sources land in one struct that describes the model in HF layout (after
 * jang_gguf_map_name and its fix-ups), so RoPE pairing is NeoX/rotate_half for every supported
 * architecture. Which architecture a model_type or GGUF name is, its facts and the defaults of
 * its transformers config class for missing keys come from its traits row (arch.c). Tested by
 * tests/test_desc.c (fixture configs and GGUF files in tests/data).
 */
#include "arch.h"
#include "util.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

static const char *const arch_names[] = {
#define JANG_X_(e, s) s,
    JANG_ARCH_MAP(JANG_X_)
#undef JANG_X_
};

const char *jang_arch_name(jang_arch a) {
    return (unsigned)a < JANG_ARCH_COUNT ? arch_names[a] : "unknown";
}

static const char *const rope_names[] = {
#define JANG_X_(e, s) s,
    JANG_ROPE_SCALING_MAP(JANG_X_)
#undef JANG_X_
};

const char *jang_rope_scaling_name(jang_rope_scaling r) {
    return (unsigned)r < sizeof rope_names / sizeof rope_names[0] ? rope_names[r] : "?";
}

static void desc_init(jang_model_desc *d) {
    memset(d, 0, sizeof *d);
    d->rope_theta = 10000.0;
    d->rope_neox = true;
    d->rope_factor = 1.0;
    d->bos_token_id = -1;
    d->eos_token_id = -1;
}

/* The architecture's facts, and its config class's defaults for keys a config may leave out. */
static void desc_arch_defaults(jang_model_desc *d) {
    const jang_arch_traits *t = jang_arch_traits_of(d->arch);
    d->norm_eps = t->hf_defaults.norm_eps;
    d->rope_theta = t->hf_defaults.rope_theta;
    d->tied_embeddings = t->hf_defaults.tied_embeddings;
    d->n_experts = t->hf_defaults.n_experts;
    d->n_experts_used = t->hf_defaults.n_experts_used;
    d->attn_bias = t->attn_bias;
    d->qk_norm = t->qk_norm;
}

/* ---- Hugging Face config.json ------------------------------------------------------------ */

typedef struct {
    const char *file;
    const json_t *root; /* top-level object */
    const json_t *text; /* text_config for multimodal wrappers, else root */
} hf_cfg;

/* Looks a key up in text_config first, then at top level. */
static json_t *cfg_get(const hf_cfg *c, const char *key) {
    json_t *v = json_object_get(c->text, key);
    if (!v && c->text != c->root) v = json_object_get(c->root, key);
    return v;
}

/* Integer field: absent or null keeps *out; present with another type is an error. */
static jang_status cfg_int(const hf_cfg *c, const char *key, int64_t min, int64_t *out) {
    json_t *v = cfg_get(c, key);
    if (!v || json_is_null(v)) return JANG_OK;
    if (json_is_array(v) && json_array_size(v) > 0) v = json_array_get(v, 0); /* eos lists */
    if (!json_is_integer(v))
        return jang_fail(JANG_E_FORMAT, "%s: \"%s\" is not an integer", c->file, key);
    int64_t x = json_integer_value(v);
    if (x < min)
        return jang_fail(JANG_E_FORMAT, "%s: \"%s\" = %lld is below %lld", c->file, key,
                         (long long)x, (long long)min);
    *out = x;
    return JANG_OK;
}

static jang_status cfg_num(const hf_cfg *c, const char *key, double *out) {
    json_t *v = cfg_get(c, key);
    if (!v || json_is_null(v)) return JANG_OK;
    if (!json_is_number(v))
        return jang_fail(JANG_E_FORMAT, "%s: \"%s\" is not a number", c->file, key);
    double x = json_number_value(v);
    if (!isfinite(x)) return jang_fail(JANG_E_FORMAT, "%s: \"%s\" is not finite", c->file, key);
    *out = x;
    return JANG_OK;
}

static jang_status cfg_bool(const hf_cfg *c, const char *key, bool *out) {
    json_t *v = cfg_get(c, key);
    if (!v || json_is_null(v)) return JANG_OK;
    if (!json_is_boolean(v))
        return jang_fail(JANG_E_FORMAT, "%s: \"%s\" is not a boolean", c->file, key);
    *out = json_is_true(v);
    return JANG_OK;
}

/* RoPE: transformers v4 files carry "rope_theta" and "rope_scaling" at top level; v5 files carry
 * "rope_parameters" (with rope_theta inside, possibly per layer type: we take "full_attention"). */
static jang_status hf_rope(const hf_cfg *c, jang_model_desc *d, double *partial) {
    jang_status s;
    if ((s = cfg_num(c, "rope_theta", &d->rope_theta))) return s;
    if ((s = cfg_num(c, "partial_rotary_factor", partial))) return s;
    json_t *rs = cfg_get(c, "rope_parameters");
    const char *key = "rope_parameters";
    if (!rs || json_is_null(rs)) rs = cfg_get(c, "rope_scaling"), key = "rope_scaling";
    if (!rs || json_is_null(rs)) return JANG_OK;
    if (json_is_object(rs) && json_is_object(json_object_get(rs, "full_attention")))
        rs = json_object_get(rs, "full_attention");
    if (!json_is_object(rs))
        return jang_fail(JANG_E_FORMAT, "%s: \"%s\" is not an object", c->file, key);
    hf_cfg sub = {c->file, rs, rs};
    if ((s = cfg_num(&sub, "rope_theta", &d->rope_theta))) return s;
    if ((s = cfg_num(&sub, "partial_rotary_factor", partial))) return s;
    json_t *t = json_object_get(rs, "rope_type");
    if (!t) t = json_object_get(rs, "type");
    const char *ts = json_is_string(t) ? json_string_value(t) : "default";
    static const struct {
        const char *name;
        jang_rope_scaling kind;
    } kinds[] = {{"default", JANG_ROPE_SCALING_NONE},    {"linear", JANG_ROPE_SCALING_LINEAR},
                 {"dynamic", JANG_ROPE_SCALING_DYNAMIC}, {"yarn", JANG_ROPE_SCALING_YARN},
                 {"llama3", JANG_ROPE_SCALING_LLAMA3},   {"longrope", JANG_ROPE_SCALING_LONGROPE},
                 {"su", JANG_ROPE_SCALING_LONGROPE}};
    size_t i;
    for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(ts, kinds[i].name)) break;
    if (i == sizeof kinds / sizeof kinds[0]) {
        char buf[64];
        return jang_fail(JANG_E_UNSUPPORTED, "%s: unknown %s type \"%s\"", c->file, key,
                         jang_printable(ts, strlen(ts), buf, sizeof buf));
    }
    d->rope_scaling = kinds[i].kind;
    if ((s = cfg_num(&sub, "factor", &d->rope_factor))) return s;
    if ((s = cfg_int(&sub, "original_max_position_embeddings", 0, &d->rope_orig_ctx))) return s;
    if ((s = cfg_num(&sub, "low_freq_factor", &d->rope_low_freq_factor))) return s;
    if ((s = cfg_num(&sub, "high_freq_factor", &d->rope_high_freq_factor))) return s;
    if ((s = cfg_num(&sub, "beta_fast", &d->rope_beta_fast))) return s;
    if ((s = cfg_num(&sub, "beta_slow", &d->rope_beta_slow))) return s;
    if (d->rope_scaling == JANG_ROPE_SCALING_YARN) {
        if (d->rope_beta_fast == 0) d->rope_beta_fast = 32;
        if (d->rope_beta_slow == 0) d->rope_beta_slow = 1;
    }
    if (!(d->rope_factor > 0))
        return jang_fail(JANG_E_FORMAT, "%s: %s factor must be > 0", c->file, key);
    return JANG_OK;
}

/* ---- bounds: jang_desc_check ---------------------------------------------------------------
 *
 * Every integer of a description sizes something: the loader's layer table (n_layers), tensor
 * shapes (rows x cols [x experts]), activations (tokens x width), the KV cache (layers x context x
 * kv width), RoPE tables. The bounds are generous, one or two orders of magnitude above the
 * largest published models, and small enough that no product the runtime or the converter forms
 * from them wraps in 64 bits (so sizes need no thought downstream), and every tensor's element
 * count is bounded on its own through the checked multiply:
 *   layers   <= 2^12  the deepest published decoders have under 200 layers;
 *   widths   <= 2^20  hidden/intermediate sizes, head counts, head_dim, experts and SSM sizes: the
 *                     widest published (PaLM's 73728 FFN, Llama 3.1 405B's 53248) are below 2^17;
 *                     n_heads x head_dim (the attention width) is bounded the same;
 *   vocab    <= 2^24  the largest vocabularies (Gemma 3: 262144) are 2^18;
 *   positions <= 2^30 context lengths, sliding windows: the longest published (10M) is 2^23.3;
 *   a tensor <= 2^40 elements: 4 TiB as f32, 200 x the largest published tensor (Llama 4
 *                     Maverick's stacked experts, 5.4e9 elements).
 * With these, layers x context x kv width (context <= 2^24 in jang_context_init) is below 2^56
 * floats, and tokens x width below 2^48. */
#define DESC_MAX_LAYERS ((int64_t)1 << 12)
#define DESC_MAX_WIDTH ((int64_t)1 << 20)
#define DESC_MAX_VOCAB ((int64_t)1 << 24)
#define DESC_MAX_POS ((int64_t)1 << 30)
#define DESC_MAX_ELEMS ((uint64_t)1 << 40)

/* The name of a field as its source spells it: config.json's key, or the GGUF key. */
typedef struct {
    const char *src;
    const jang_model_desc *d;
    bool gguf;
} desc_ctx;

static jang_status field_range(const desc_ctx *c, const char *hf, const char *gg, int64_t v,
                               int64_t lo, int64_t hi) {
    if (v >= lo && v <= hi) return JANG_OK;
    if (c->gguf)
        return jang_fail(JANG_E_FORMAT, "%s: %s.%s = %lld is out of range [%lld, %lld]", c->src,
                         c->d->arch_name, gg, (long long)v, (long long)lo, (long long)hi);
    return jang_fail(JANG_E_FORMAT, "%s: %s = %lld is out of range [%lld, %lld]", c->src, hf,
                     (long long)v, (long long)lo, (long long)hi);
}

/* A tensor dimension's description fields, in config.json's names (the description is in HF
 * layout: see the top of this file). */
static const char *dim_fields(jang_dimsym s) {
    switch (s) {
    case JANG_DIM_NONE:
        return "1";
    case JANG_DIM_MODEL:
        return "hidden_size";
    case JANG_DIM_Q:
        return "(num_attention_heads x head_dim)";
    case JANG_DIM_KV:
        return "(num_key_value_heads x head_dim)";
    case JANG_DIM_HEAD:
        return "head_dim";
    case JANG_DIM_FFN:
        return "intermediate_size";
    case JANG_DIM_VOCAB:
        return "vocab_size";
    case JANG_DIM_QKV:
        return "((num_attention_heads + 2 num_key_value_heads) x head_dim)";
    case JANG_DIM_FFN2:
        return "(2 intermediate_size)";
    case JANG_DIM_EXPERTS:
        return "num_experts";
    case JANG_DIM_MOE_FFN:
        return "moe_intermediate_size";
    case JANG_DIM_SHEXP_FFN:
        return "shared_expert_intermediate_size";
    case JANG_DIM_SSM_INNER:
        return "(expand x hidden_size)";
    case JANG_DIM_SSM_INNER2:
        return "(2 expand x hidden_size)";
    case JANG_DIM_SSM_STATE:
        return "state_size";
    case JANG_DIM_SSM_CONV:
        return "conv_kernel";
    case JANG_DIM_SSM_DT_RANK:
        return "time_step_rank";
    case JANG_DIM_SSM_XPROJ:
        return "(time_step_rank + 2 state_size)";
    }
    return "?";
}

/* Every tensor of the architecture's row holds at most DESC_MAX_ELEMS elements. */
static jang_status check_tensors(const desc_ctx *c, const jang_arch_tensor *tab, int n) {
    for (int i = 0; i < n; i++) {
        const jang_arch_tensor *t = &tab[i];
        uint64_t e = 1;
        bool ok = true;
        jang_dimsym dims[3] = {t->stack, t->shape[0], t->shape[1]};
        for (int k = 0; k < 3; k++)
            ok = ok && jang_mul_u64(e, (uint64_t)jang_dim_value(dims[k], c->d), &e);
        if (ok && e <= DESC_MAX_ELEMS) continue;
        char elems[48] = "more than 2^64";
        if (ok) snprintf(elems, sizeof elems, "%llu", (unsigned long long)e);
        return jang_fail(JANG_E_FORMAT,
                         "%s: tensor '%s' would hold %s%s%s x %s = %s elements, above 2^40", c->src,
                         t->hf, t->stack != JANG_DIM_NONE ? dim_fields(t->stack) : "",
                         t->stack != JANG_DIM_NONE ? " x " : "", dim_fields(t->shape[0]),
                         dim_fields(t->shape[1]), elems);
    }
    return JANG_OK;
}

static jang_status desc_check(const jang_model_desc *d, const char *src, bool gguf) {
    const desc_ctx c = {src ? src : "model description", d, gguf};
    const jang_arch_traits *tr = jang_arch_traits_of(d->arch);
    const int64_t attn = tr->ssm ? 0 : 1, ssm = tr->ssm ? 1 : 0; /* minimum: required or not */
    const int64_t W = DESC_MAX_WIDTH;
    jang_status s;
    if ((s = field_range(&c, "num_hidden_layers", "block_count", d->n_layers, 1,
                         DESC_MAX_LAYERS)) ||
        (s = field_range(&c, "hidden_size", "embedding_length", d->dim, 1, W)) ||
        (s = field_range(&c, "intermediate_size", "feed_forward_length", d->ffn_dim, 0, W)) ||
        (s = field_range(&c, "num_attention_heads", "attention.head_count", d->n_heads, attn, W)) ||
        (s = field_range(&c, "num_key_value_heads", "attention.head_count_kv", d->n_kv_heads, attn,
                         W)) ||
        (s = field_range(&c, "head_dim", "attention.key_length", d->head_dim, attn, W)) ||
        (s = field_range(&c, "vocab_size", "vocab_size", d->vocab_size, 1, DESC_MAX_VOCAB)) ||
        (s = field_range(&c, "max_position_embeddings", "context_length", d->max_seq_len, 0,
                         DESC_MAX_POS)) ||
        (s = field_range(&c, "RoPE dimension (head_dim x partial_rotary_factor)",
                         "rope.dimension_count", d->rope_dim, 0, W)) ||
        (s = field_range(&c, "original_max_position_embeddings",
                         "rope.scaling.original_context_length", d->rope_orig_ctx, 0,
                         DESC_MAX_POS)) ||
        (s = field_range(&c, "sliding_window", "attention.sliding_window", d->sliding_window, 0,
                         DESC_MAX_POS)) ||
        (s = field_range(&c, "num_experts", "expert_count", d->n_experts, 0, W)) ||
        (s = field_range(&c, "num_experts_per_tok", "expert_used_count", d->n_experts_used, 0,
                         d->n_experts)) ||
        (s = field_range(&c, "moe_intermediate_size", "expert_feed_forward_length", d->moe_ffn_dim,
                         0, W)) ||
        (s = field_range(&c, "shared_expert_intermediate_size", "expert_shared_feed_forward_length",
                         d->shared_expert_ffn_dim, 0, W)) ||
        (s = field_range(&c, "state_size", "ssm.state_size", d->ssm_d_state, ssm, W)) ||
        (s = field_range(&c, "conv_kernel", "ssm.conv_kernel", d->ssm_d_conv, ssm, W)) ||
        (s = field_range(&c, "expand x hidden_size", "ssm.inner_size", d->ssm_d_inner, ssm, W)) ||
        (s = field_range(&c, "time_step_rank", "ssm.time_step_rank", d->ssm_dt_rank, ssm, W)))
        return s;
    if (!tr->ssm) {
        if (d->n_heads % d->n_kv_heads != 0)
            return jang_fail(JANG_E_FORMAT,
                             "%s: num_attention_heads (%lld) is not a multiple of "
                             "num_key_value_heads (%lld)",
                             c.src, (long long)d->n_heads, (long long)d->n_kv_heads);
        uint64_t q;
        if (!jang_mul_u64((uint64_t)d->n_heads, (uint64_t)d->head_dim, &q) || q > (uint64_t)W)
            return jang_fail(JANG_E_FORMAT,
                             "%s: num_attention_heads x head_dim = %lld x %lld is above %lld",
                             c.src, (long long)d->n_heads, (long long)d->head_dim, (long long)W);
        if (d->rope_dim < 2 || d->rope_dim > d->head_dim || d->rope_dim % 2)
            return jang_fail(JANG_E_FORMAT,
                             "%s: RoPE dimension %lld is not even and within [2, head_dim = %lld]",
                             c.src, (long long)d->rope_dim, (long long)d->head_dim);
    }
    if ((s = check_tensors(&c, tr->globals, tr->n_globals)) ||
        (s = check_tensors(&c, tr->layer, tr->n_layer)))
        return s;
    return JANG_OK;
}

jang_status jang_desc_check(const jang_model_desc *d, const char *src) {
    if (!d) return jang_fail(JANG_E_ARG, "jang_desc_check: NULL description");
    return desc_check(d, src, false);
}

/* Checks the invariants every consumer relies on, then the bounds (jang_desc_check). */
static jang_status desc_validate(const char *src, jang_model_desc *d, bool gguf) {
    if (jang_arch_traits_of(d->arch)->ssm) {
        if (d->n_layers <= 0 || d->dim <= 0 || d->vocab_size <= 0)
            return jang_fail(JANG_E_FORMAT, "%s: %s model needs layers, hidden size, vocab", src,
                             jang_arch_name(d->arch));
        return desc_check(d, src, gguf);
    }
    if (d->n_layers <= 0 || d->dim <= 0 || d->n_heads <= 0)
        return jang_fail(JANG_E_FORMAT,
                         "%s: missing or invalid layers (%lld), hidden size (%lld) or heads (%lld)",
                         src, (long long)d->n_layers, (long long)d->dim, (long long)d->n_heads);
    if (d->n_kv_heads <= 0) d->n_kv_heads = d->n_heads;
    if (d->n_heads % d->n_kv_heads != 0)
        return jang_fail(JANG_E_FORMAT, "%s: %lld heads not a multiple of %lld KV heads", src,
                         (long long)d->n_heads, (long long)d->n_kv_heads);
    if (d->head_dim <= 0) {
        if (d->dim % d->n_heads != 0)
            return jang_fail(JANG_E_FORMAT, "%s: hidden size %lld not divisible by %lld heads", src,
                             (long long)d->dim, (long long)d->n_heads);
        d->head_dim = d->dim / d->n_heads;
    }
    if (d->rope_dim <= 0 || d->rope_dim > d->head_dim) d->rope_dim = d->head_dim;
    if (d->rope_dim % 2)
        return jang_fail(JANG_E_FORMAT, "%s: odd RoPE dimension %lld", src, (long long)d->rope_dim);
    if (!(d->norm_eps > 0 && d->norm_eps < 1))
        return jang_fail(JANG_E_FORMAT, "%s: norm epsilon %g out of range", src, d->norm_eps);
    if (!(d->rope_theta > 0))
        return jang_fail(JANG_E_FORMAT, "%s: rope theta %g out of range", src, d->rope_theta);
    if (d->n_experts_used > d->n_experts)
        return jang_fail(JANG_E_FORMAT, "%s: %lld experts per token but only %lld experts", src,
                         (long long)d->n_experts_used, (long long)d->n_experts);
    return desc_check(d, src, gguf);
}

jang_status jang_hf_config_load(const char *file, json_t **out) {
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    jang_status s = jang_read_file(file, 16u << 20, &text, &len);
    if (s) return s;
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    free(text);
    if (!root)
        return jang_fail(JANG_E_FORMAT, "%s: invalid JSON at line %d: %s", file, err.line,
                         err.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return jang_fail(JANG_E_FORMAT, "%s: not a JSON object", file);
    }
    *out = root;
    return JANG_OK;
}

jang_status jang_desc_from_hf_config(const char *path, jang_model_desc *out) {
    desc_init(out);
    char *file = jang_is_dir(path) ? jang_path_join(path, "config.json") : jang_strdup(path);
    if (!file) return jang_fail(JANG_E_NOMEM, "out of memory");
    json_t *root = NULL;
    jang_status s = jang_hf_config_load(file, &root);
    if (!s) s = jang_desc_from_hf_json(root, file, out);
    json_decref(root);
    free(file);
    return s;
}

jang_status jang_desc_from_hf_json(const json_t *root, const char *file, jang_model_desc *out) {
    desc_init(out);
    jang_status s = JANG_OK;
    hf_cfg c = {file, root, root};
    const json_t *tc = json_object_get(root, "text_config");
    if (json_is_object(tc)) c.text = tc;

    json_t *mt = cfg_get(&c, "model_type");
    const char *model_type = json_is_string(mt) ? json_string_value(mt) : NULL;
    json_t *archs = json_object_get(root, "architectures");
    json_t *a0 = json_is_array(archs) ? json_array_get(archs, 0) : NULL;
    snprintf(out->arch_name, sizeof out->arch_name, "%s",
             json_is_string(a0) ? json_string_value(a0)
             : model_type       ? model_type
                                : "");
    if (!model_type) {
        s = jang_fail(JANG_E_FORMAT, "%s: no \"model_type\"", file);
        goto done;
    }
    out->arch = jang_arch_from_hf_type(model_type);
    if (out->arch == JANG_ARCH_UNKNOWN) {
        char buf[80];
        s = jang_fail(JANG_E_UNSUPPORTED, "%s: unsupported model_type \"%s\"", file,
                      jang_printable(model_type, strlen(model_type), buf, sizeof buf));
        goto done;
    }
    desc_arch_defaults(out);
    json_t *nm = json_object_get(root, "_name_or_path");
    if (json_is_string(nm))
        snprintf(out->model_name, sizeof out->model_name, "%s", json_string_value(nm));

    double partial = 1.0;
    if ((s = cfg_int(&c, "num_hidden_layers", 1, &out->n_layers)) ||
        (s = cfg_int(&c, "hidden_size", 1, &out->dim)) ||
        (s = cfg_int(&c, "intermediate_size", 0, &out->ffn_dim)) ||
        (s = cfg_int(&c, "num_attention_heads", 1, &out->n_heads)) ||
        (s = cfg_int(&c, "num_key_value_heads", 1, &out->n_kv_heads)) ||
        (s = cfg_int(&c, "head_dim", 1, &out->head_dim)) ||
        (s = cfg_int(&c, "vocab_size", 1, &out->vocab_size)) ||
        (s = cfg_int(&c, "max_position_embeddings", 0, &out->max_seq_len)) ||
        (s = cfg_num(&c, "rms_norm_eps", &out->norm_eps)) ||
        (s = cfg_num(&c, "layer_norm_epsilon", &out->norm_eps)) ||
        (s = cfg_bool(&c, "tie_word_embeddings", &out->tied_embeddings)) ||
        (s = cfg_bool(&c, "attention_bias", &out->attn_bias)) ||
        (s = cfg_int(&c, "num_local_experts", 0, &out->n_experts)) ||
        (s = cfg_int(&c, "num_experts", 0, &out->n_experts)) ||
        (s = cfg_int(&c, "num_experts_per_tok", 0, &out->n_experts_used)) ||
        (s = cfg_int(&c, "moe_intermediate_size", 0, &out->moe_ffn_dim)) ||
        (s = cfg_int(&c, "shared_expert_intermediate_size", 0, &out->shared_expert_ffn_dim)) ||
        (s = cfg_bool(&c, "norm_topk_prob", &out->norm_topk_prob)) ||
        (s = cfg_int(&c, "bos_token_id", 0, &out->bos_token_id)) ||
        (s = cfg_int(&c, "eos_token_id", 0, &out->eos_token_id)) ||
        (s = hf_rope(&c, out, &partial)))
        goto done;
    if (!(partial > 0 && partial <= 1)) {
        s = jang_fail(JANG_E_FORMAT, "%s: partial_rotary_factor %g out of (0, 1]", file, partial);
        goto done;
    }
    const jang_arch_traits *t = jang_arch_traits_of(out->arch);
    bool use_sw = t->swa == JANG_SWA_KEY;
    if (t->swa == JANG_SWA_USE_FLAG && (s = cfg_bool(&c, "use_sliding_window", &use_sw))) goto done;
    if (use_sw && (s = cfg_int(&c, "sliding_window", 0, &out->sliding_window))) goto done;
    if (t->ssm) {
        int64_t expand = 2;
        out->ssm_d_state = 16;
        out->ssm_d_conv = 4;
        if ((s = cfg_int(&c, "state_size", 1, &out->ssm_d_state)) ||
            (s = cfg_int(&c, "conv_kernel", 1, &out->ssm_d_conv)) ||
            (s = cfg_int(&c, "expand", 1, &expand)))
            goto done;
        /* a product that overflows is out of range: the bounds check names it */
        if (__builtin_mul_overflow(expand, out->dim, &out->ssm_d_inner))
            out->ssm_d_inner = INT64_MAX;
        json_t *tsr = cfg_get(&c, "time_step_rank");
        if (json_is_integer(tsr))
            out->ssm_dt_rank = json_integer_value(tsr);
        else
            out->ssm_dt_rank = out->dim / 16 + (out->dim % 16 != 0); /* "auto": ceil(dim / 16) */
        out->ffn_dim = 0;
    }
    s = desc_validate(file, out, false);
    if (s == JANG_OK && partial < 1) {
        out->rope_dim = (int64_t)(out->head_dim * partial);
        if (out->rope_dim <= 0 || out->rope_dim % 2)
            s = jang_fail(JANG_E_FORMAT, "%s: partial_rotary_factor %g gives RoPE dimension %lld",
                          file, partial, (long long)out->rope_dim);
    }
done:
    return s;
}

/* ---- GGUF metadata ------------------------------------------------------------------------ */

static bool gg_i64(const jang_gguf *g, const char *arch, const char *key, int64_t *out) {
    char k[160];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return jang_gguf_get_i64(g, k, out);
}

static bool gg_f64(const jang_gguf *g, const char *arch, const char *key, double *out) {
    char k[160];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return jang_gguf_get_f64(g, k, out);
}

jang_status jang_desc_from_gguf(const jang_gguf *g, jang_model_desc *out) {
    desc_init(out);
    const char *file = jang_gguf_path(g);
    const char *an = jang_gguf_get_str(g, "general.architecture");
    if (!an) return jang_fail(JANG_E_FORMAT, "%s: no general.architecture", file);
    snprintf(out->arch_name, sizeof out->arch_name, "%s", an);
    out->arch = jang_arch_from_gguf_name(an, false);
    if (out->arch == JANG_ARCH_UNKNOWN) {
        char buf[80];
        return jang_fail(JANG_E_UNSUPPORTED, "%s: unsupported architecture \"%s\"", file,
                         jang_printable(an, strlen(an), buf, sizeof buf));
    }
    desc_arch_defaults(out);
    /* GGUF records biases/qk-norm as tensors, not flags: read them off the tensor list below. */
    out->attn_bias = false;
    out->qk_norm = false;
    const char *nm = jang_gguf_get_str(g, "general.name");
    if (nm) snprintf(out->model_name, sizeof out->model_name, "%s", nm);

    gg_i64(g, an, "block_count", &out->n_layers);
    gg_i64(g, an, "embedding_length", &out->dim);
    gg_i64(g, an, "feed_forward_length", &out->ffn_dim);
    gg_i64(g, an, "attention.head_count", &out->n_heads);
    gg_i64(g, an, "attention.head_count_kv", &out->n_kv_heads);
    gg_i64(g, an, "attention.key_length", &out->head_dim);
    gg_i64(g, an, "context_length", &out->max_seq_len);
    gg_i64(g, an, "rope.dimension_count", &out->rope_dim);
    gg_f64(g, an, "rope.freq_base", &out->rope_theta);
    if (!gg_f64(g, an, "attention.layer_norm_rms_epsilon", &out->norm_eps))
        gg_f64(g, an, "attention.layer_norm_epsilon", &out->norm_eps);
    gg_i64(g, an, "attention.sliding_window", &out->sliding_window);
    gg_i64(g, an, "expert_count", &out->n_experts);
    gg_i64(g, an, "expert_used_count", &out->n_experts_used);
    gg_i64(g, an, "expert_feed_forward_length", &out->moe_ffn_dim);
    gg_i64(g, an, "expert_shared_feed_forward_length", &out->shared_expert_ffn_dim);
    gg_i64(g, an, "ssm.state_size", &out->ssm_d_state);
    gg_i64(g, an, "ssm.conv_kernel", &out->ssm_d_conv);
    gg_i64(g, an, "ssm.inner_size", &out->ssm_d_inner);
    gg_i64(g, an, "ssm.time_step_rank", &out->ssm_dt_rank);
    /* one GGUF name for a dense and a MoE row ("llama": Llama, Mixtral): experts decide */
    out->arch = jang_arch_from_gguf_name(an, out->n_experts > 0);

    const char *rs = NULL;
    char k[160];
    snprintf(k, sizeof k, "%s.rope.scaling.type", an);
    rs = jang_gguf_get_str(g, k);
    if (rs && strcmp(rs, "none") != 0) {
        if (!strcmp(rs, "linear"))
            out->rope_scaling = JANG_ROPE_SCALING_LINEAR;
        else if (!strcmp(rs, "yarn"))
            out->rope_scaling = JANG_ROPE_SCALING_YARN;
        else
            return jang_fail(JANG_E_UNSUPPORTED, "%s: unsupported %s \"%s\"", file, k, rs);
        gg_f64(g, an, "rope.scaling.factor", &out->rope_factor);
        gg_i64(g, an, "rope.scaling.original_context_length", &out->rope_orig_ctx);
        if (out->rope_scaling == JANG_ROPE_SCALING_YARN) { /* llama.cpp's defaults, as HF's */
            out->rope_beta_fast = 32;
            out->rope_beta_slow = 1;
            gg_f64(g, an, "rope.scaling.yarn_beta_fast", &out->rope_beta_fast);
            gg_f64(g, an, "rope.scaling.yarn_beta_slow", &out->rope_beta_slow);
        }
    }
    /* Llama-3 style scaling survives in GGUF only as the rope_freqs tensor. */
    if (jang_gguf_find_tensor(g, "rope_freqs.weight")) out->rope_scaling = JANG_ROPE_SCALING_LLAMA3;

    /* vocabulary: explicit key, else the token list, else the embedding's rows */
    if (!gg_i64(g, an, "vocab_size", &out->vocab_size)) {
        const jang_gguf_value *toks = jang_gguf_find(g, "tokenizer.ggml.tokens");
        if (toks && toks->type == JANG_GGUF_ARRAY) out->vocab_size = (int64_t)toks->v.arr.n;
    }
    const jang_gguf_tensor *emb = jang_gguf_find_tensor(g, "token_embd.weight");
    if (out->vocab_size <= 0 && emb && emb->n_dims == 2) out->vocab_size = emb->shape[0];
    out->tied_embeddings = jang_gguf_find_tensor(g, "output.weight") == NULL;
    out->attn_bias = jang_gguf_find_tensor(g, "blk.0.attn_q.bias") != NULL;
    out->qk_norm = jang_gguf_find_tensor(g, "blk.0.attn_q_norm.weight") != NULL;
    jang_gguf_get_i64(g, "tokenizer.ggml.bos_token_id", &out->bos_token_id);
    jang_gguf_get_i64(g, "tokenizer.ggml.eos_token_id", &out->eos_token_id);
    if (out->head_dim <= 0 && out->n_heads > 0 && out->dim % out->n_heads == 0)
        out->head_dim = out->dim / out->n_heads;
    return desc_validate(file, out, true);
}
