/* tiers.c — jang 2.5.x's tensor tiers (jang_tools/allocate.py classify_tensor), its MoE bit floors,
 * its router test (convert.py) and its architecture detection (architectures.py), reproduced
 * exactly, quirks included: each quirk is noted where it is implemented.
 * The allocators in allocate.c use these. Tested by tests/test_alloc.c (tests/data/alloc/tiers.tsv
 * and the per-model goldens, both from tools/gen_alloc_goldens.py).
 */
#include "alloc.h"
#include "util.h"

#include <ctype.h>
#include <jansson.h>
#include <string.h>

const char *jang_tier_name(jang_tier t) {
    switch (t) {
#define JANG_X_(e, v, s)                                                                           \
    case JANG_TIER_##e:                                                                            \
        return s;
        JANG_TIER_MAP(JANG_X_)
#undef JANG_X_
    }
    return "?";
}

/* ---- bit-width path ------------------------------------------------------------------------- */

static const int bit_path[] = {
#define JANG_X_(b) b,
    JANG_PATH_MAP(JANG_X_)
#undef JANG_X_
};
enum { N_PATH = (int)(sizeof bit_path / sizeof bit_path[0]) };

static int path_index(int bits) {
    for (int i = 0; i < N_PATH; i++)
        if (bit_path[i] == bits) return i;
    JANG_ASSERT(!"bit width not on jang's path");
    return -1;
}

int jang_path_next(int bits) {
    int i = path_index(bits);
    return i + 1 < N_PATH ? bit_path[i + 1] : 0;
}

int jang_path_prev(int bits) {
    int i = path_index(bits);
    return i > 0 ? bit_path[i - 1] : 0;
}

/* ---- lower-cased names ---------------------------------------------------------------------- */

const char *jang_lname_init(jang_lname *l, const char *name) {
    size_t n = strlen(name);
    l->s = n < sizeof l->buf ? l->buf : jang_malloc(n + 1, "tensor name");
    if (!l->s) return NULL;
    for (size_t i = 0; i <= n; i++)
        l->s[i] = (char)tolower((unsigned char)name[i]);
    return l->s;
}

void jang_lname_free(jang_lname *l) {
    if (l->s && l->s != l->buf) free(l->s);
    l->s = NULL;
}

static bool has(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* ---- tiers ---------------------------------------------------------------------------------- */

/* TIER_RULES of jang_tools/allocate.py, in its order (first substring match wins). Quirks kept:
 * plain "norm" is not a rule ("model.norm.weight" is COMPRESS, only *layernorm / *rmsnorm are
 * CRITICAL); "w1"/"w2"/"w3"/"wo"/"fc"/"proj"/"qkv" match anywhere in the name; "router.proj"
 * is listed before the more general "router" although either gives CRITICAL. */
#define JANG_TIER_RULES(X)                                                                         \
    X("layernorm", CRITICAL)                                                                       \
    X("rmsnorm", CRITICAL)                                                                         \
    X("lm_head", CRITICAL)                                                                         \
    X("kv_a_proj_with_mqa", CRITICAL)                                                              \
    X("kv_b_proj", CRITICAL)                                                                       \
    X("q_a_proj", CRITICAL)                                                                        \
    X("q_b_proj", CRITICAL)                                                                        \
    X("indexer.wk", CRITICAL)                                                                      \
    X("indexer.wq_b", CRITICAL)                                                                    \
    X("indexer.weights_proj", CRITICAL)                                                            \
    X("indexers_proj", CRITICAL)                                                                   \
    X("q_proj", CRITICAL)                                                                          \
    X("k_proj", CRITICAL)                                                                          \
    X("v_proj", CRITICAL)                                                                          \
    X("o_proj", CRITICAL)                                                                          \
    X("self_attn.out_proj", CRITICAL)                                                              \
    X("self_attn.g_proj", CRITICAL)                                                                \
    X("a_log", CRITICAL)                                                                           \
    X("dt_proj", IMPORTANT)                                                                        \
    X("shared_expert_gate", CRITICAL)                                                              \
    X("shared_expert", CRITICAL)                                                                   \
    X("embed_tokens", IMPORTANT)                                                                   \
    X("wte", IMPORTANT)                                                                            \
    X("word_embeddings", IMPORTANT)                                                                \
    X("backbone.embeddings", IMPORTANT)                                                            \
    X("visual.merger", IMPORTANT)                                                                  \
    X("multi_modal_projector", IMPORTANT)                                                          \
    X("patch_embed", IMPORTANT)                                                                    \
    X("pos_embed", IMPORTANT)                                                                      \
    X("latent_proj", CRITICAL)                                                                     \
    X("mixer.in_proj", IMPORTANT)                                                                  \
    X("mixer.out_proj", IMPORTANT)                                                                 \
    X("conv.in_proj", IMPORTANT)                                                                   \
    X("conv.out_proj", IMPORTANT)                                                                  \
    X("conv.conv", CRITICAL)                                                                       \
    X("x_proj", IMPORTANT)                                                                         \
    X("conv1d", COMPRESS)                                                                          \
    X("router.proj", CRITICAL)                                                                     \
    X("router", CRITICAL)                                                                          \
    X("gate_up_proj", COMPRESS)                                                                    \
    X("gate_proj", COMPRESS)                                                                       \
    X("up_proj", COMPRESS)                                                                         \
    X("down_proj", COMPRESS)                                                                       \
    X("mlp.fc1", COMPRESS)                                                                         \
    X("mlp.fc2", COMPRESS)                                                                         \
    X("w1", COMPRESS)                                                                              \
    X("w2", COMPRESS)                                                                              \
    X("w3", COMPRESS)                                                                              \
    X("wi_0", COMPRESS)                                                                            \
    X("wi_1", COMPRESS)                                                                            \
    X("wo", COMPRESS)                                                                              \
    X("in_proj_qkv", IMPORTANT)                                                                    \
    X("in_proj_z", IMPORTANT)                                                                      \
    X("in_proj_a", IMPORTANT)                                                                      \
    X("in_proj_b", IMPORTANT)                                                                      \
    X("linear_attn.out_proj", IMPORTANT)                                                           \
    X("delta_net", IMPORTANT)                                                                      \
    X("linear_fc1", COMPRESS)                                                                      \
    X("linear_fc2", COMPRESS)                                                                      \
    X("out_proj", COMPRESS)                                                                        \
    X("qkv", COMPRESS)                                                                             \
    X("proj", COMPRESS)                                                                            \
    X("fc", COMPRESS)

static const struct {
    const char *pattern;
    jang_tier tier;
} tier_rules[] = {
#define JANG_X_(p, t) {p, JANG_TIER_##t},
    JANG_TIER_RULES(JANG_X_)
#undef JANG_X_
};

jang_tier jang_tier_of_lower(const char *lower, int64_t n_experts, bool has_shared_mlp) {
    /* MoE (or Gemma-4 shared-MLP) models: a dense MLP outside "experts" is always active, hence
     * CRITICAL. Quirk: the test is "experts" (plural), so "shared_expert.*_proj" falls through to
     * the "shared_expert" rule, and MLX-style stacked names ("mlp.switch_mlp.gate_proj") contain
     * "mlp.gate_proj" without "experts": they are CRITICAL here. */
    if ((n_experts > 0 || has_shared_mlp) && !has(lower, "experts")) {
        static const char *const dense[] = {
            "mlp.gate_proj", "mlp.up_proj",       "mlp.down_proj",     "mlp.fc1",
            "mlp.fc2",       ".feed_forward.w1.", ".feed_forward.w2.", ".feed_forward.w3."};
        for (size_t i = 0; i < sizeof dense / sizeof dense[0]; i++)
            if (has(lower, dense[i])) return JANG_TIER_CRITICAL;
    }
    for (size_t i = 0; i < sizeof tier_rules / sizeof tier_rules[0]; i++)
        if (has(lower, tier_rules[i].pattern)) return tier_rules[i].tier;
    /* Mamba's D: a bare ".d" leaf (any name ending so, after lower-casing). */
    if (ends_with(lower, ".d")) return JANG_TIER_CRITICAL;
    /* MoE routers named "gate"/"router" (gate_proj was caught above). */
    if (has(lower, ".gate.") || ends_with(lower, ".gate")) return JANG_TIER_CRITICAL;
    if (has(lower, ".router.") || ends_with(lower, ".router")) return JANG_TIER_CRITICAL;
    return JANG_TIER_COMPRESS;
}

jang_tier jang_tier_of(const char *name, int64_t n_experts, bool has_shared_mlp) {
    jang_lname l;
    if (!name || !jang_lname_init(&l, name)) return JANG_TIER_COMPRESS;
    jang_tier t = jang_tier_of_lower(l.s, n_experts, has_shared_mlp);
    jang_lname_free(&l);
    return t;
}

/* ---- MoE floors ------------------------------------------------------------------------------ */

/* MLP_ASYMMETRY_FLOORS (dict order) and _MLP_ASYMMETRY_MIN_EXPERTS of allocate.py. */
static const struct {
    const char *component;
    int floor;
} mlp_floors[] = {{"gate_proj", 4}, {"gate_up_proj", 4}, {"w1", 4}, {"down_proj", 3}, {"w2", 3}};
enum { MLP_ASYMMETRY_MIN_EXPERTS = 256 };

int jang_mlp_floor(const char *lower, int bits, int64_t n_experts, int base_bits) {
    if (n_experts < MLP_ASYMMETRY_MIN_EXPERTS) return bits;
    if (has(lower, "shared_expert")) return bits;
    if (base_bits >= 4) {
        /* K-profile compensation guard. Quirk: its "routed expert" test only checks the
         * component substring (not "experts"), so any gate/up/down/w1/w2/w3 name is held at
         * base_bits on a 256+ expert model. */
        static const char *const routed[] = {"gate_proj", "gate_up_proj", "w1", "up_proj",
                                             "w3",        "down_proj",    "w2"};
        for (size_t i = 0; i < sizeof routed / sizeof routed[0]; i++)
            if (has(lower, routed[i])) return bits > base_bits ? bits : base_bits;
    }
    /* Quirk: the floors match the component anywhere in the name, routed expert or not (dense
     * MLPs of MoE models are CRITICAL anyway), and "up_proj" has no floor. */
    for (size_t i = 0; i < sizeof mlp_floors / sizeof mlp_floors[0]; i++)
        if (has(lower, mlp_floors[i].component))
            return bits > mlp_floors[i].floor ? bits : mlp_floors[i].floor;
    return bits;
}

int jang_relu2_floor(const char *lower, int bits) {
    if (has(lower, "shared_expert") || !has(lower, "experts")) return bits;
    /* RELU2_ASYMMETRY_FLOORS, dict order: up_proj 4, down_proj 3. */
    if (has(lower, "up_proj")) return bits > 4 ? bits : 4;
    if (has(lower, "down_proj")) return bits > 3 ? bits : 3;
    return bits;
}

bool jang_is_routed_expert_mlp(const char *lower) {
    if (has(lower, "shared_expert") || !has(lower, "expert")) return false;
    static const char *const parts[] = {"gate_up_proj", "gate_proj", "up_proj", "down_proj",
                                        "w1",           "w2",        "w3"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (has(lower, parts[i])) return true;
    return false;
}

bool jang_is_moe_router_gate(const char *lower) {
    if (has(lower, "shared_expert_gate.weight")) return true;
    return has(lower, ".gate.weight") && !has(lower, "gate_proj") && !has(lower, "gate_up");
}

/* ---- architecture detection (architectures.py detect_architecture) -------------------------- */

/* Python truthiness of a JSON value (NULL = absent). */
static bool truthy(const json_t *v) {
    if (!v) return false;
    switch (json_typeof(v)) {
    case JSON_NULL:
    case JSON_FALSE:
        return false;
    case JSON_TRUE:
        return true;
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0.0;
    case JSON_STRING:
        return json_string_length(v) > 0;
    case JSON_ARRAY:
        return json_array_size(v) > 0;
    case JSON_OBJECT:
        return json_object_size(v) > 0;
    }
    return false;
}

static double num(const json_t *v, double dflt) {
    return json_is_number(v) ? json_number_value(v) : dflt;
}

/* A count from config.json as an integer; dflt when absent, not finite or outside +-2^53 (a
 * double -> int64 conversion out of range is undefined behaviour; hostile configs have them). */
static int64_t count(const json_t *v, int64_t dflt) {
    const double d = num(v, (double)dflt);
    return d >= -9007199254740992.0 && d <= 9007199254740992.0 ? (int64_t)d : dflt;
}

/* architectures.py's _cfg(key): config.get(key, text_config.get(key)), with an explicit null
 * meaning "absent". Quirk kept: a top-level null hides a text_config value. NULL when absent. */
static json_t *cfg_get(const json_t *top, const json_t *tc, const char *key) {
    json_t *v = json_object_get(top, key);
    if (!v && tc) v = json_object_get(tc, key);
    return json_is_null(v) ? NULL : v;
}

/* num_local_experts, else num_experts, else n_routed_experts; 0 when none. */
static double cfg_experts(const json_t *top, const json_t *tc) {
    static const char *const keys[] = {"num_local_experts", "num_experts", "n_routed_experts"};
    for (int i = 0; i < 3; i++) {
        json_t *v = cfg_get(top, tc, keys[i]);
        if (v) return num(v, 0);
    }
    return 0;
}

static void lower_copy(char *dst, size_t cap, const char *src) {
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = 0;
}

static void set_arch(jang_alloc_model *m, const char *arch_type) {
    snprintf(m->arch_type, sizeof m->arch_type, "%s", arch_type);
}

static void detect(const json_t *cfg, jang_alloc_model *m) {
    const json_t *tc = json_object_get(cfg, "text_config");
    if (!json_is_object(tc)) tc = NULL;
    const char *mt = json_string_value(json_object_get(cfg, "model_type"));
    if (!mt) mt = "";
    snprintf(m->model_type, sizeof m->model_type, "%s", mt);
    char lmt[64];
    lower_copy(lmt, sizeof lmt, mt);
    /* str(architectures) searched for substrings: the same as searching every entry. */
    json_t *archs = json_object_get(cfg, "architectures");
    bool arch_cg = false, arch_jamba = false;
    if (json_is_string(archs)) {
        arch_cg = has(json_string_value(archs), "ForConditionalGeneration");
        arch_jamba = has(json_string_value(archs), "Jamba");
    }
    size_t ai;
    json_t *a;
    json_array_foreach(archs, ai, a) {
        const char *s = json_string_value(a);
        if (!s) continue;
        arch_cg = arch_cg || has(s, "ForConditionalGeneration");
        arch_jamba = arch_jamba || has(s, "Jamba");
    }
    bool has_vision = has(lmt, "qwen2_vl") || has(lmt, "llava") || has(lmt, "pixtral") ||
                      has(lmt, "gemma_vl") || json_object_get(cfg, "vision_config") || arch_cg;
    double ne = cfg_experts(cfg, tc);

    if (has_vision && !truthy(cfg_get(cfg, tc, "layer_types")) && ne == 0) {
        set_arch(m, "vision_language");
        return;
    }
    if (!strcmp(mt, "mamba") || !strcmp(mt, "mamba2")) {
        set_arch(m, "mamba");
        m->skip_state_d = true; /* MAMBA_LAYER_CONFIGS "D" has importance_weight 0: a skip */
        return;
    }
    if (!strcmp(mt, "jamba") || !strcmp(mt, "zamba") || !strcmp(mt, "zamba2") || arch_jamba) {
        m->skip_state_d = true;
        if (ne > 1) {
            set_arch(m, "hybrid_moe_ssm");
            m->has_moe = true;
            m->n_experts = (int64_t)ne;
        } else {
            set_arch(m, "hybrid_ssm");
        }
        return;
    }
    /* Quirk: any Qwen config carrying "layer_types" (transformers 5 writes it for Qwen2/Qwen3 and
     * their MoE) takes the GatedDeltaNet hybrid branch; it differs from the MoE branch only in
     * never setting has_shared_mlp. */
    bool deltanet = ((cfg_get(cfg, tc, "attn_type_list") || cfg_get(cfg, tc, "layer_types")) &&
                     has(lmt, "qwen")) ||
                    has(lmt, "delta_net");
    if (deltanet) {
        if (ne > 1) {
            set_arch(m, "hybrid_moe_ssm");
            m->has_moe = true;
            m->n_experts = (int64_t)ne;
        } else {
            set_arch(m, "hybrid_ssm");
        }
        return;
    }
    if (ne > 1) {
        set_arch(m, "moe");
        m->has_moe = true;
        m->n_experts = (int64_t)ne;
        m->has_shared_mlp = truthy(cfg_get(cfg, tc, "enable_moe_block")) &&
                            num(cfg_get(cfg, tc, "intermediate_size"), 0) > 0;
        return;
    }
    set_arch(m, "transformer");
}

static void model_init(jang_alloc_model *m) { memset(m, 0, sizeof *m); }

jang_status jang_alloc_model_from_hf_config(const char *path, jang_alloc_model *out) {
    if (!path || !out) return jang_fail(JANG_E_ARG, "jang_alloc_model_from_hf_config: NULL");
    model_init(out);
    char *file = jang_is_dir(path) ? jang_path_join(path, "config.json") : jang_strdup(path);
    if (!file) return JANG_E_NOMEM;
    json_error_t err;
    json_t *cfg = json_load_file(file, 0, &err);
    jang_status s = JANG_OK;
    if (!cfg)
        s = jang_fail(jang_file_exists(file) ? JANG_E_FORMAT : JANG_E_IO, "%s: %s (line %d)", file,
                      err.text, err.line);
    else
        s = jang_alloc_model_from_hf_json(cfg, file, out);
    json_decref(cfg);
    free(file);
    return s;
}

jang_status jang_alloc_model_from_hf_json(const json_t *cfg, const char *file,
                                          jang_alloc_model *out) {
    model_init(out);
    if (!json_is_object(cfg)) return jang_fail(JANG_E_FORMAT, "%s: not a JSON object", file);
    detect(cfg, out);
    const json_t *tc = json_object_get(cfg, "text_config");
    if (!json_is_object(tc)) tc = NULL;
    /* convert.py: config tie_word_embeddings or text_config's; absent = false (quirk: a model
     * whose class ties by default but whose config omits the key counts as untied). */
    out->tied_embeddings = truthy(json_object_get(cfg, "tie_word_embeddings")) ||
                           (tc && truthy(json_object_get(tc, "tie_word_embeddings")));
    const json_t *qk = json_object_get(cfg, "qk_nope_head_dim");
    if (!qk && tc) qk = json_object_get(tc, "qk_nope_head_dim");
    out->qk_nope_head_dim = count(qk, 0);
    const json_t *act = json_object_get(cfg, "mlp_hidden_act");
    if (!truthy(act) && tc) act = json_object_get(tc, "mlp_hidden_act");
    if (json_is_string(act)) {
        char la[32];
        lower_copy(la, sizeof la, json_string_value(act));
        out->relu2_act = !strcmp(la, "relu2") || !strcmp(la, "squared_relu");
    }
    const json_t *nl = json_object_get(cfg, "num_hidden_layers");
    if (!nl && tc) nl = json_object_get(tc, "num_hidden_layers");
    out->n_layers = count(nl, 0);
    return JANG_OK;
}

void jang_alloc_model_from_desc(const jang_model_desc *d, jang_alloc_model *out) {
    model_init(out);
    snprintf(out->model_type, sizeof out->model_type, "%s", jang_arch_name(d->arch));
    out->n_layers = d->n_layers;
    out->tied_embeddings = d->tied_embeddings;
    if (d->arch == JANG_ARCH_MAMBA) {
        set_arch(out, "mamba");
        out->skip_state_d = true;
    } else if (d->n_experts > 1) {
        set_arch(out, "moe");
        out->has_moe = true;
        out->n_experts = d->n_experts;
    } else {
        set_arch(out, "transformer");
    }
}
