/* test_hostile_desc.c — hostile model descriptions (issue 17, defects 1, 2 and 9): config.json
 * variants of tests/data/tiny/llama with absurd, wrapping or zero dimensions must be refused with
 * JANG_E_FORMAT naming the file and the field by every way in — jang_model_open, the converter,
 * `jang validate` on a converted directory, jang_desc_check itself — before anything is sized
 * from them; and a context's KV-cache size goes through a checked multiply. Run them alone with
 * `build/jang_tests hostile_desc`, under ASan with `make asan T=hostile_desc`.
 */
#include "test.h"

#include <jansson.h>
#include <stdlib.h>

#define P2(k) ((long long)1 << (k))

/* One hostile variant: up to three keys overwritten, and what the error must name. */
typedef struct {
    const char *tag;
    struct {
        const char *key;
        long long value;
    } set[3];
    const char *names; /* the field the detail must name */
} variant;

static const variant variants[] = {
    /* defect 1: n_layers * sizeof(layer) wrapped to 0 and the loader wrote past it */
    {"layers_2_62", {{"num_hidden_layers", P2(62)}}, "num_hidden_layers"},
    {"layers_2_61", {{"num_hidden_layers", P2(61)}}, "num_hidden_layers"},
    /* defect 2: n_heads * head_dim wrapped (RoPE, attention scratch) */
    {"heads_2_31", {{"num_attention_heads", P2(31)}, {"head_dim", P2(33)}}, "num_attention_heads"},
    {"head_dim_2_33", {{"head_dim", P2(33)}}, "head_dim"},
    /* vocab x dim: wrapping in 64 bits (2^40 * 2^24 = 2^64), and a product too large while each
     * factor is within its own bound (2^24 * 2^20 = 2^44 elements) */
    {"vocab_dim_wrap", {{"vocab_size", P2(40)}, {"hidden_size", P2(24)}}, "hidden_size"},
    {"vocab_dim_product", {{"vocab_size", P2(24)}, {"hidden_size", P2(20)}}, "vocab_size"},
    /* defect 9: zero and inconsistent dimensions */
    {"zero_hidden", {{"hidden_size", 0}}, "hidden_size"},
    {"zero_vocab", {{"vocab_size", 0}}, "vocab_size"},
    {"heads_not_multiple", {{"num_key_value_heads", 3}}, "KV heads"},
    {"max_pos_2_40", {{"max_position_embeddings", P2(40)}}, "max_position_embeddings"},
};
#define N_VARIANTS (int)(sizeof variants / sizeof variants[0])

static json_t *load_json(const char *path) { return json_load_file(path, 0, NULL); }

/* config.json of dir with v's keys overwritten, written back. */
static bool patch_config(const char *dir, const json_t *orig, const variant *v) {
    char p[1024];
    snprintf(p, sizeof p, "%s/config.json", dir);
    json_t *j = json_deep_copy(orig);
    for (int k = 0; k < 3 && v->set[k].key; k++)
        json_object_set_new(j, v->set[k].key, json_integer(v->set[k].value));
    bool ok = json_dump_file(j, p, JSON_INDENT(1)) == 0;
    json_decref(j);
    return ok;
}

/* A copy of tests/data/tiny/llama under this test's tmpdir with v applied; static path. */
static const char *hostile_dir(const variant *v) {
    static char dir[700];
    char src[600], cmd[2048];
    snprintf(src, sizeof src, "%s/llama", test_data_path("tiny"));
    snprintf(dir, sizeof dir, "%s/%s", test_tmpdir(), v->tag);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s/model.safetensors' '%s/'", dir, src, dir);
    if (system(cmd) != 0) return NULL;
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/config.json", src);
    json_t *orig = load_json(cfg);
    bool ok = orig && patch_config(dir, orig, v);
    json_decref(orig);
    return ok ? dir : NULL;
}

/* s must be JANG_E_FORMAT with a detail naming config.json and the variant's field. */
static void expect_refused(const char *how, const variant *v, jang_status s) {
    const char *e = jang_last_error();
    CHECK_MSG(s == JANG_E_FORMAT, "%s %s: %s (%s), expected a format error", how, v->tag,
              jang_status_str(s), e);
    CHECK_MSG(strstr(e, "config.json") && strstr(e, v->names),
              "%s %s: detail \"%s\" does not name config.json and %s", how, v->tag, e, v->names);
}

TEST(hostile_desc_model_open) {
    for (int i = 0; i < N_VARIANTS; i++) {
        const char *dir = hostile_dir(&variants[i]);
        REQUIRE(dir);
        jang_model *m = NULL;
        jang_status s = jang_model_open(dir, NULL, &m);
        expect_refused("jang_model_open", &variants[i], s);
        CHECK(m == NULL);
        jang_model_close(m);
    }
}

TEST(hostile_desc_converter_open) {
    for (int i = 0; i < N_VARIANTS; i++) {
        const char *dir = hostile_dir(&variants[i]);
        REQUIRE(dir);
        jang_converter *c = NULL;
        jang_status s = jang_converter_open(dir, NULL, &c);
        expect_refused("jang_converter_open", &variants[i], s);
        CHECK(c == NULL);
        jang_converter_close(c);
    }
}

/* `jang validate` on a converted directory whose config.json is then made hostile: INVALID,
 * naming the field (it called the 2^62-layer directory valid). */
TEST(hostile_desc_validate_cli) {
    char src[600], out[700], cfg[800], args[900];
    snprintf(src, sizeof src, "%s/llama", test_data_path("tiny"));
    snprintf(out, sizeof out, "%s/jang", test_tmpdir());
    jang_convert_opts o;
    jang_convert_opts_init(&o);
    jang_converter *c = NULL;
    REQUIRE_OK(jang_converter_open(src, &o, &c));
    jang_status s = jang_converter_write(c, out);
    jang_converter_close(c);
    REQUIRE_OK(s);
    snprintf(cfg, sizeof cfg, "%s/config.json", out);
    json_t *orig = load_json(cfg);
    REQUIRE(orig);
    static run_result r;
    snprintf(args, sizeof args, "validate '%s'", out);
    if (!run_jang(args, &r)) {
        json_decref(orig);
        test_skip("no jang binary");
        return;
    }
    CHECK_MSG(r.status == 0, "the unpatched conversion: status %d\n%s%s", r.status, r.out, r.err);
    for (int i = 0; i < N_VARIANTS; i++) {
        const variant *v = &variants[i];
        REQUIRE(patch_config(out, orig, v));
        REQUIRE(run_jang(args, &r));
        CHECK_MSG(r.status == 1, "%s: validate exit %d, expected 1\n%s%s", v->tag, r.status, r.out,
                  r.err);
        CHECK_MSG(strstr(r.out, "result: INVALID") && strstr(r.out, v->names),
                  "%s: validate output does not call it invalid naming %s:\n%s", v->tag, v->names,
                  r.out);
    }
    json_decref(orig);
}

/* A context's KV cache is n_layers x max_ctx x kv_dim floats: with a description that got past
 * the check (here: altered in memory; descriptions come only from the readers) the product must
 * not wrap to a small allocation. 2^52 x 4096 x 32 x 4 bytes is 2^71: it wrapped to 0. */
TEST(hostile_desc_context_kv_product) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/llama", test_data_path("tiny"));
    jang_model *m = NULL;
    REQUIRE_OK(jang_model_open(dir, NULL, &m));
    /* the model is heap memory: writing through the cast is defined; restored below */
    jang_model_desc *d = (jang_model_desc *)jang_model_get_desc(m);
    int64_t layers = d->n_layers;
    d->n_layers = P2(52);
    jang_context_opts o;
    jang_context_opts_init(&o);
    o.max_ctx = 4096;
    jang_context *c = NULL;
    jang_status s = jang_context_init(m, &o, &c);
    CHECK_MSG(s == JANG_E_NOMEM && c == NULL, "context init -> %s (%s), expected out of memory",
              jang_status_str(s), jang_last_error());
    CHECK_MSG(strstr(jang_last_error(), "KV cache"), "detail \"%s\" does not name the KV cache",
              jang_last_error());
    jang_context_free(c);
    d->n_layers = layers;
    jang_model_close(m);
}

/* jang_desc_check itself on fields a config.json reaches only through derived values or that
 * only GGUF metadata can make negative: each refused naming its field; the tiny model's own
 * description passes. */
TEST(hostile_desc_check_fields) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/llama", test_data_path("tiny"));
    jang_model_desc d0;
    REQUIRE_OK(jang_desc_from_hf_config(dir, &d0));
    CHECK_OK(jang_desc_check(&d0, "m.json"));
    static const struct {
        const char *field;
        int64_t value;
        const char *names;
    } cases[] = {
        {"n_layers", 0, "num_hidden_layers"},
        {"n_layers", -1, "num_hidden_layers"},
        {"n_layers", P2(12) + 1, "num_hidden_layers"},
        {"dim", P2(20) + 1, "hidden_size"},
        {"ffn_dim", -5, "intermediate_size"},
        {"n_kv_heads", 0, "num_key_value_heads"},
        {"head_dim", 0, "head_dim"},
        {"vocab_size", P2(24) + 1, "vocab_size"},
        {"rope_dim", 15, "RoPE dimension"},
        {"rope_dim", 18, "RoPE dimension"}, /* above head_dim 16 */
        {"sliding_window", -1, "sliding_window"},
        {"n_experts", -1, "num_experts"},
        {"n_experts_used", 2, "num_experts_per_tok"}, /* with no experts */
        {"moe_ffn_dim", P2(40), "moe_intermediate_size"},
        {"ssm_d_inner", P2(62), "expand x hidden_size"},
        {"n_heads_x_head_dim", 0, "num_attention_heads x head_dim"},
        {"embed_product", 0, "vocab_size x hidden_size"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        jang_model_desc d = d0;
        const char *f = cases[i].field;
        int64_t v = cases[i].value;
        if (!strcmp(f, "n_layers")) d.n_layers = v;
        if (!strcmp(f, "dim")) d.dim = v;
        if (!strcmp(f, "ffn_dim")) d.ffn_dim = v;
        if (!strcmp(f, "n_kv_heads")) d.n_kv_heads = v;
        if (!strcmp(f, "head_dim")) d.head_dim = v;
        if (!strcmp(f, "vocab_size")) d.vocab_size = v;
        if (!strcmp(f, "rope_dim")) d.rope_dim = v;
        if (!strcmp(f, "sliding_window")) d.sliding_window = v;
        if (!strcmp(f, "n_experts")) d.n_experts = v;
        if (!strcmp(f, "n_experts_used")) d.n_experts_used = v;
        if (!strcmp(f, "moe_ffn_dim")) d.moe_ffn_dim = v;
        if (!strcmp(f, "ssm_d_inner")) d.ssm_d_inner = v;
        if (!strcmp(f, "n_heads_x_head_dim")) /* each within 2^20, the product 2^21 */
            d.n_heads = P2(11), d.n_kv_heads = P2(11), d.head_dim = P2(10), d.rope_dim = 16;
        if (!strcmp(f, "embed_product")) /* each within its bound, the embedding 2^41 */
            d.vocab_size = P2(21), d.dim = P2(20);
        jang_clear_error();
        jang_status s = jang_desc_check(&d, "m.json");
        const char *e = jang_last_error();
        CHECK_MSG(s == JANG_E_FORMAT && strstr(e, "m.json") && strstr(e, cases[i].names),
                  "%s = %lld: %s \"%s\", expected a format error naming %s", f, (long long)v,
                  jang_status_str(s), e, cases[i].names);
    }
}

/* ---- the same through GGUF metadata ----------------------------------------------------------
 * A GGUF file of metadata only (no tensors): llama with 2^62 blocks. The loader and the converter
 * must refuse it naming the GGUF key, before anything is sized from it. */

static void put(FILE *f, const void *p, size_t n) { fwrite(p, 1, n, f); }
static void put_u32(FILE *f, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(f, x, 4);
}
static void put_u64(FILE *f, uint64_t v) {
    put_u32(f, (uint32_t)v);
    put_u32(f, (uint32_t)(v >> 32));
}
static void put_key(FILE *f, const char *key, uint32_t type) {
    put_u64(f, strlen(key));
    put(f, key, strlen(key));
    put_u32(f, type);
}

TEST(hostile_desc_gguf_layers) {
    char path[600];
    snprintf(path, sizeof path, "%s/layers.gguf", test_tmpdir());
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    enum { U32 = 4, STR = 8, U64 = 10 }; /* GGUF value types */
    put(f, "GGUF", 4);
    put_u32(f, 3);
    put_u64(f, 0); /* tensors */
    put_u64(f, 6); /* keys */
    put_key(f, "general.architecture", STR);
    put_u64(f, 5);
    put(f, "llama", 5);
    put_key(f, "llama.block_count", U64);
    put_u64(f, (uint64_t)P2(62));
    put_key(f, "llama.embedding_length", U32);
    put_u32(f, 64);
    put_key(f, "llama.attention.head_count", U32);
    put_u32(f, 4);
    put_key(f, "llama.feed_forward_length", U32);
    put_u32(f, 128);
    put_key(f, "llama.vocab_size", U32);
    put_u32(f, 256);
    REQUIRE(fclose(f) == 0);

    jang_model *m = NULL;
    jang_status s = jang_model_open(path, NULL, &m);
    CHECK_MSG(s == JANG_E_FORMAT && strstr(jang_last_error(), "layers.gguf") &&
                  strstr(jang_last_error(), "llama.block_count"),
              "jang_model_open: %s \"%s\"", jang_status_str(s), jang_last_error());
    jang_model_close(m);
    jang_converter *c = NULL;
    s = jang_converter_open(path, NULL, &c);
    CHECK_MSG(s == JANG_E_FORMAT && strstr(jang_last_error(), "llama.block_count"),
              "jang_converter_open: %s \"%s\"", jang_status_str(s), jang_last_error());
    jang_converter_close(c);
}
