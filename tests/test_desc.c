/* test_desc.c — model descriptions from config.json (oracle: transformers' AutoConfig, goldens in
 * tests/data/configs/<name>/expected.json by tools/gen_hf_configs.py), GGUF -> HF names (oracle:
 * gguf-py's TensorNameMap, tests/data/gguf_names.tsv by tools/gen_gguf_names.py), the traits
 * rows of src/model/arch.c against that mapping, and the Q/K un-permutation. */
#include "test.h"

#include "../src/model/arch.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>

static void check_int(const char *cfg, json_t *e, const char *key, int64_t got) {
    json_t *v = json_object_get(e, key);
    if (!v) return;
    CHECK_MSG(json_integer_value(v) == got, "%s: %s expected %lld got %lld", cfg, key,
              (long long)json_integer_value(v), (long long)got);
}

static void check_num(const char *cfg, json_t *e, const char *key, double got) {
    json_t *v = json_object_get(e, key);
    if (!v) return;
    double x = json_number_value(v);
    CHECK_MSG(fabs(x - got) <= 1e-12 * fabs(x), "%s: %s expected %g got %g", cfg, key, x, got);
}

static void check_one_config(const char *name) {
    char cfg[512], exp[512];
    snprintf(cfg, sizeof cfg, "%s", test_data_path("configs"));
    snprintf(cfg + strlen(cfg), sizeof cfg - strlen(cfg), "/%s", name);
    snprintf(exp, sizeof exp, "%s/expected.json", cfg);
    json_error_t err;
    json_t *e = json_load_file(exp, 0, &err);
    REQUIRE(e);
    jang_model_desc d;
    jang_status s = jang_desc_from_hf_config(cfg, &d);
    CHECK_MSG(s == JANG_OK, "%s: %s", name, jang_last_error());
    if (s == JANG_OK) {
        const char *mt = json_string_value(json_object_get(e, "model_type"));
        if (!strcmp(mt, "gemma3_text")) mt = "gemma3";
        CHECK_STR(jang_arch_name(d.arch), mt);
        check_int(name, e, "n_layers", d.n_layers);
        check_int(name, e, "dim", d.dim);
        check_int(name, e, "ffn_dim", d.ffn_dim);
        check_int(name, e, "n_heads", d.n_heads);
        check_int(name, e, "n_kv_heads", d.n_kv_heads);
        check_int(name, e, "head_dim", d.head_dim);
        check_int(name, e, "vocab_size", d.vocab_size);
        check_int(name, e, "max_seq_len", d.max_seq_len);
        check_int(name, e, "rope_dim", d.rope_dim);
        check_int(name, e, "rope_orig_ctx", d.rope_orig_ctx);
        check_int(name, e, "sliding_window", d.sliding_window);
        check_int(name, e, "n_experts", d.n_experts);
        check_int(name, e, "n_experts_used", d.n_experts_used);
        check_int(name, e, "moe_ffn_dim", d.moe_ffn_dim);
        check_int(name, e, "shared_expert_ffn_dim", d.shared_expert_ffn_dim);
        check_int(name, e, "ssm_d_state", d.ssm_d_state);
        check_int(name, e, "ssm_d_conv", d.ssm_d_conv);
        check_int(name, e, "ssm_d_inner", d.ssm_d_inner);
        check_int(name, e, "ssm_dt_rank", d.ssm_dt_rank);
        check_int(name, e, "bos_token_id", d.bos_token_id);
        check_int(name, e, "eos_token_id", d.eos_token_id);
        check_num(name, e, "norm_eps", d.norm_eps);
        check_num(name, e, "rope_theta", d.rope_theta);
        check_num(name, e, "rope_factor", d.rope_factor);
        json_t *t = json_object_get(e, "tied");
        if (t) CHECK_MSG(json_is_true(t) == d.tied_embeddings, "%s: tied", name);
        json_t *rt = json_object_get(e, "rope_type");
        if (rt) {
            const char *want = json_string_value(rt);
            if (!strcmp(want, "default")) want = "none";
            CHECK_STR(jang_rope_scaling_name(d.rope_scaling), want);
        }
    }
    json_decref(e);
}

TEST(desc_hf_configs_match_transformers) {
    DIR *dir = opendir(test_data_path("configs"));
    REQUIRE(dir);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.') continue;
        check_one_config(de->d_name);
        n++;
    }
    closedir(dir);
    CHECK(n >= 15);
}

TEST(desc_hf_config_errors) {
    const char *dir = test_tmpdir();
    static const struct {
        const char *json;
        jang_status want;
        const char *needle;
    } cases[] = {
        {"{", JANG_E_FORMAT, "invalid JSON"},
        {"[]", JANG_E_FORMAT, "not a JSON object"},
        {"{\"hidden_size\": 8}", JANG_E_FORMAT, "model_type"},
        {"{\"model_type\": \"bert\"}", JANG_E_UNSUPPORTED, "bert"},
        {"{\"model_type\": \"llama\", \"hidden_size\": \"x\"}", JANG_E_FORMAT, "hidden_size"},
        {"{\"model_type\": \"llama\", \"hidden_size\": -4}", JANG_E_FORMAT, "hidden_size"},
        {"{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2}",
         JANG_E_FORMAT, "heads"},
        {"{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2,"
         "\"num_attention_heads\": 6, \"num_key_value_heads\": 4}",
         JANG_E_FORMAT, "KV heads"},
        {"{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2,"
         "\"num_attention_heads\": 4, \"rope_scaling\": {\"rope_type\": \"weird\"}}",
         JANG_E_UNSUPPORTED, "weird"},
        {"{\"model_type\": \"llama\", \"model_type\": \"qwen2\"}", JANG_E_FORMAT, "duplicate"},
    };
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *f = fopen(path, "w");
        REQUIRE(f);
        fputs(cases[i].json, f);
        fclose(f);
        jang_model_desc d;
        jang_status s = jang_desc_from_hf_config(dir, &d);
        CHECK_MSG(s == cases[i].want, "case %zu: got %s (%s)", i, jang_status_str(s),
                  jang_last_error());
        CHECK_MSG(strstr(jang_last_error(), cases[i].needle) != NULL,
                  "case %zu: error \"%s\" lacks \"%s\"", i, jang_last_error(), cases[i].needle);
        CHECK_MSG(strstr(jang_last_error(), "config.json") != NULL, "case %zu: no file name", i);
    }
    jang_model_desc d;
    CHECK(jang_desc_from_hf_config("/nonexistent/dir/config.json", &d) == JANG_E_IO);
}

static jang_arch arch_by_name(const char *s) {
    for (int a = 0; a < JANG_ARCH_COUNT; a++)
        if (!strcmp(jang_arch_name((jang_arch)a), s)) return (jang_arch)a;
    return JANG_ARCH_UNKNOWN;
}

TEST(gguf_names_match_gguf_py) {
    FILE *f = fopen(test_data_path("gguf_names.tsv"), "r");
    REQUIRE(f);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char *arch = strtok(line, "\t\n"), *g = strtok(NULL, "\t\n"), *hf = strtok(NULL, "\t\n");
        REQUIRE(arch && g && hf);
        jang_arch a = arch_by_name(arch);
        CHECK_MSG(a != JANG_ARCH_UNKNOWN, "arch %s", arch);
        char out[256];
        jang_gguf_fix fix;
        jang_status s = jang_gguf_map_name(a, g, out, sizeof out, &fix);
        CHECK_MSG(s == JANG_OK && !strcmp(out, hf), "%s %s: got \"%s\" (%s) want \"%s\"", arch, g,
                  out, jang_last_error(), hf);
        /* fix-ups: permuted Q/K only for Llama-family weights/biases, 1+w for Gemma norms */
        jang_gguf_fix want = JANG_GGUF_FIX_NONE;
        if ((a == JANG_ARCH_LLAMA || a == JANG_ARCH_MIXTRAL) && strstr(g, ".attn_q."))
            want = JANG_GGUF_FIX_UNPERMUTE_Q;
        if ((a == JANG_ARCH_LLAMA || a == JANG_ARCH_MIXTRAL) && strstr(g, ".attn_k."))
            want = JANG_GGUF_FIX_UNPERMUTE_K;
        if (!strncmp(arch, "gemma", 5) && strstr(hf, "norm.weight")) want = JANG_GGUF_FIX_MINUS_ONE;
        if (strstr(g, "ssm_a")) want = JANG_GGUF_FIX_LOG_NEG;
        CHECK_MSG(fix == want, "%s %s: fix %s want %s", arch, g, jang_gguf_fix_name(fix),
                  jang_gguf_fix_name(want));
        n++;
    }
    fclose(f);
    CHECK(n > 200);
}

TEST(gguf_names_unknown) {
    char out[64];
    CHECK(jang_gguf_map_name(JANG_ARCH_LLAMA, "rope_freqs.weight", out, sizeof out, NULL) ==
          JANG_E_NOTFOUND);
    CHECK(strstr(jang_last_error(), "rope_freqs") != NULL);
    CHECK(jang_gguf_map_name(JANG_ARCH_LLAMA, "blk.x.attn_q.weight", out, sizeof out, NULL) ==
          JANG_E_NOTFOUND);
    CHECK(jang_gguf_map_name(JANG_ARCH_LLAMA, "blk.0.mystery.weight", out, sizeof out, NULL) ==
          JANG_E_NOTFOUND);
    CHECK(jang_gguf_map_name(JANG_ARCH_LLAMA, "blk.0.", out, sizeof out, NULL) == JANG_E_NOTFOUND);
    CHECK(jang_gguf_map_name(JANG_ARCH_LLAMA, "", out, sizeof out, NULL) == JANG_E_NOTFOUND);
    char tiny[8];
    CHECK(jang_gguf_map_name(JANG_ARCH_LLAMA, "blk.0.attn_q.weight", tiny, sizeof tiny, NULL) ==
          JANG_E_ARG);
}

/* Problems of a traits row as architecture a's row: names and facts present, every tensor's GGUF
 * name mapping (jang_gguf_map_name) to its HF name with its fix-up, its HF name finding it back,
 * no HF or GGUF name twice, norm fix-ups agreeing with norm_offset. Returns the count; the first
 * problem goes to why. */
static int row_problems(jang_arch a, const jang_arch_traits *t, char *why, size_t cap) {
    int bad = 0;
#define PROBLEM(...) (bad++ ? 0 : snprintf(why, cap, __VA_ARGS__))
    const char *an = jang_arch_name(a);
    if (t->arch != a) PROBLEM("%s: row of %s", an, jang_arch_name(t->arch));
    if (!t->globals || t->n_globals <= 0 || !t->layer || t->n_layer <= 0)
        return PROBLEM("%s: no tensors", an), bad;
    if (!t->hf_types[0] || !t->hf_class || !t->gguf_name || !t->hf_prefix || !t->layer_prefix)
        return PROBLEM("%s: a name is missing", an), bad;
    for (int i = 0; i < 3 && t->hf_types[i]; i++)
        if (jang_arch_from_hf_type(t->hf_types[i]) != a)
            PROBLEM("%s: model_type %s reads as %s", an, t->hf_types[i],
                    jang_arch_name(jang_arch_from_hf_type(t->hf_types[i])));
    jang_arch ga = jang_arch_from_gguf_name(t->gguf_name, t->moe);
    if (ga != a && strcmp(jang_arch_traits_of(ga)->gguf_name, t->gguf_name))
        PROBLEM("%s: GGUF name %s reads as %s", an, t->gguf_name, jang_arch_name(ga));
    if (strncmp(t->layer_prefix, t->hf_prefix, strlen(t->hf_prefix)))
        PROBLEM("%s: layer prefix %s outside %s", an, t->layer_prefix, t->hf_prefix);
    for (int in_layer = 0; in_layer < 2; in_layer++) {
        const jang_arch_tensor *v = in_layer ? t->layer : t->globals;
        int n = in_layer ? t->n_layer : t->n_globals;
        for (int i = 0; i < n; i++) {
            const jang_arch_tensor *x = &v[i];
            char g[160], want[192], got[192];
            snprintf(g, sizeof g, "%s%s", in_layer ? "blk.7." : "", x->gguf);
            snprintf(want, sizeof want, "%s%s%s", in_layer ? t->layer_prefix : "",
                     in_layer ? "7." : "", x->hf);
            jang_gguf_fix fix;
            if (jang_gguf_map_name(a, g, got, sizeof got, &fix) != JANG_OK)
                PROBLEM("%s %s: %s", an, g, jang_last_error());
            else if (strcmp(got, want))
                PROBLEM("%s %s -> %s, row says %s", an, g, got, want);
            else if (fix != x->fix)
                PROBLEM("%s %s: fix %s, row says %s", an, g, jang_gguf_fix_name(fix),
                        jang_gguf_fix_name(x->fix));
            if (jang_arch_find_hf(t, x->hf, in_layer) != x)
                PROBLEM("%s %s: HF name finds another tensor", an, x->hf);
            for (int j = 0; j < i; j++)
                if (!strcmp(v[j].hf, x->hf) || !strcmp(v[j].gguf, x->gguf))
                    PROBLEM("%s: %s / %s twice", an, x->hf, x->gguf);
            if ((unsigned)x->role >= JANG_ROLE_COUNT ||
                (x->shape[0] == JANG_DIM_NONE && x->shape[1] == JANG_DIM_NONE))
                PROBLEM("%s %s: role or shape missing", an, x->hf);
            bool norm = strstr(x->hf, "norm") != NULL;
            if (norm && (x->fix == JANG_GGUF_FIX_MINUS_ONE) != (t->norm_offset == 1.0f))
                PROBLEM("%s %s: norm fix-up %s with norm offset %g", an, x->hf,
                        jang_gguf_fix_name(x->fix), t->norm_offset);
        }
    }
#undef PROBLEM
    return bad;
}

TEST(arch_rows_match_gguf_names) {
    char why[1024];
    for (int a = 1; a < JANG_ARCH_COUNT; a++) {
        const jang_arch_traits *t = jang_arch_traits_of((jang_arch)a);
        int n = row_problems((jang_arch)a, t, why, sizeof why);
        CHECK_MSG(n == 0, "%d problem(s), first: %s", n, why);
    }
    const jang_arch_traits *u = jang_arch_traits_of(JANG_ARCH_UNKNOWN);
    CHECK(u->n_layer == 0 && u->n_globals == 0 && !u->runs);
    char out[64];
    CHECK(jang_gguf_map_name(JANG_ARCH_UNKNOWN, "blk.0.attn_q.weight", out, sizeof out, NULL) ==
          JANG_E_NOTFOUND);
    /* the check catches broken rows: an HF name twice, a GGUF name the mapping does not know, a
     * fix-up the mapping does not apply */
    jang_arch_traits bad = *jang_arch_traits_of(JANG_ARCH_QWEN2);
    jang_arch_tensor layer[32];
    REQUIRE(bad.n_layer <= 32);
    memcpy(layer, bad.layer, (size_t)bad.n_layer * sizeof *layer);
    bad.layer = layer;
    layer[3].hf = layer[2].hf;
    CHECK(row_problems(JANG_ARCH_QWEN2, &bad, why, sizeof why) > 0);
    memcpy(layer, jang_arch_traits_of(JANG_ARCH_QWEN2)->layer, sizeof layer[0] * bad.n_layer);
    layer[0].gguf = "attn_mystery.weight";
    CHECK(row_problems(JANG_ARCH_QWEN2, &bad, why, sizeof why) > 0 && strstr(why, "mystery"));
    memcpy(layer, jang_arch_traits_of(JANG_ARCH_QWEN2)->layer, sizeof layer[0] * bad.n_layer);
    layer[2].fix = JANG_GGUF_FIX_UNPERMUTE_Q;
    CHECK(row_problems(JANG_ARCH_QWEN2, &bad, why, sizeof why) > 0 && strstr(why, "fix"));
    memcpy(layer, jang_arch_traits_of(JANG_ARCH_QWEN2)->layer, sizeof layer[0] * bad.n_layer);
    CHECK(row_problems(JANG_ARCH_QWEN2, &bad, why, sizeof why) == 0);
    /* one row is missing: a row for another architecture */
    CHECK(row_problems(JANG_ARCH_QWEN3, &bad, why, sizeof why) > 0);
}

TEST(unpermute_rows_inverts_llama_cpp_permute) {
    /* llama.cpp: w.reshape(n_head, 2, hd/2, cols).swapaxes(1, 2).reshape(rows, cols).
     * With n_head = 2, hd = 6 the permuted rows are original rows
     * [0,3,1,4,2,5, 6,9,7,10,8,11]; un-permuting must give 0..11 back. */
    const int perm[12] = {0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11};
    float w[12 * 2];
    for (int r = 0; r < 12; r++)
        w[r * 2] = (float)perm[r], w[r * 2 + 1] = (float)perm[r] + 0.5f;
    REQUIRE_OK(jang_unpermute_rows(w, 12, 2, 2));
    for (int r = 0; r < 12; r++) {
        CHECK(w[r * 2] == (float)r);
        CHECK(w[r * 2 + 1] == (float)r + 0.5f);
    }
    CHECK(jang_unpermute_rows(w, 12, 2, 5) == JANG_E_ARG); /* not divisible */
    CHECK(jang_unpermute_rows(w, 12, 2, 4) == JANG_E_ARG); /* odd head dim */
}

/* Tiny model-shaped GGUFs written by tools/gen_tiny_gguf_models.py with gguf-py's own key names;
 * expected values in tests/data/models/<name>.expected.json. */
static void check_gguf_desc(const char *name) {
    char path[512], exp[512];
    snprintf(path, sizeof path, "%s/%s.gguf", test_data_path("models"), name);
    snprintf(exp, sizeof exp, "%s/%s.expected.json", test_data_path("models"), name);
    json_error_t err;
    json_t *e = json_load_file(exp, 0, &err);
    REQUIRE(e);
    jang_gguf *g = NULL;
    jang_status s = jang_gguf_open(path, &g);
    CHECK_MSG(s == JANG_OK, "%s: %s", name, jang_last_error());
    jang_model_desc d;
    if (s == JANG_OK) {
        s = jang_desc_from_gguf(g, &d);
        CHECK_MSG(s == JANG_OK, "%s: %s", name, jang_last_error());
    }
    if (s == JANG_OK) {
        CHECK_STR(jang_arch_name(d.arch), json_string_value(json_object_get(e, "arch")));
        check_int(name, e, "n_layers", d.n_layers);
        check_int(name, e, "dim", d.dim);
        check_int(name, e, "ffn_dim", d.ffn_dim);
        check_int(name, e, "n_heads", d.n_heads);
        check_int(name, e, "n_kv_heads", d.n_kv_heads);
        check_int(name, e, "head_dim", d.head_dim);
        check_int(name, e, "vocab_size", d.vocab_size);
        check_int(name, e, "max_seq_len", d.max_seq_len);
        check_int(name, e, "rope_dim", d.rope_dim);
        check_int(name, e, "rope_orig_ctx", d.rope_orig_ctx);
        check_int(name, e, "bos_token_id", d.bos_token_id);
        check_int(name, e, "eos_token_id", d.eos_token_id);
        check_num(name, e, "rope_theta", d.rope_theta);
        check_num(name, e, "rope_factor", d.rope_factor);
        /* norm eps is stored as f32 in GGUF */
        json_t *eps = json_object_get(e, "norm_eps");
        CHECK_MSG(d.norm_eps == (double)(float)json_number_value(eps), "%s: norm_eps %g", name,
                  d.norm_eps);
        CHECK(json_is_true(json_object_get(e, "tied")) == d.tied_embeddings);
        CHECK(json_is_true(json_object_get(e, "attn_bias")) == d.attn_bias);
        CHECK(json_is_true(json_object_get(e, "qk_norm")) == d.qk_norm);
        json_t *rs = json_object_get(e, "rope_scaling");
        CHECK_STR(jang_rope_scaling_name(d.rope_scaling), rs ? json_string_value(rs) : "none");
    }
    jang_gguf_close(g);
    json_decref(e);
}

TEST(desc_from_gguf_tiny_models) {
    check_gguf_desc("tiny-llama");
    check_gguf_desc("tiny-qwen2");
    check_gguf_desc("tiny-qwen3");
}
