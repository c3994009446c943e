/* test_jang_dir.c — the JANG v2 / MLX directory writer, reader and validator.
 *
 * A small Llama-shaped model with every bit width (2..8), every group size (32/64/128), a 3-D
 * expert stack and plain F16/BF16 tensors is written with random packed codes and finite scales
 * (no quantizer needed: these are format tests), over several shards; the reader's views must
 * point at exactly the bytes written and carry the declared (bits, group). Then each corruption a
 * directory can suffer must give a clear error naming its culprit. Run alone with
 * `make test T=jd_`.
 */
#include "test.h"
#include "util.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the test model ------------------------------------------------------------------------ */

typedef struct tspec {
    const char *name; /* module path (quantized) or tensor name (plain) */
    int bits, group;  /* bits 0: plain */
    jang_dtype dtype; /* plain dtype, or scale dtype */
    int n_dims;
    int64_t shape[3]; /* logical */
} tspec;

static const tspec SPEC[] = {
    {"model.embed_tokens", 4, 32, JANG_DT_F16, 2, {96, 64}},
    {"model.layers.0.input_layernorm.weight", 0, 0, JANG_DT_F16, 1, {64}},
    {"model.layers.0.self_attn.q_proj", 8, 64, JANG_DT_F16, 2, {64, 64}},
    {"model.layers.0.self_attn.k_proj", 6, 32, JANG_DT_F16, 2, {32, 64}},
    {"model.layers.0.self_attn.v_proj", 5, 64, JANG_DT_F16, 2, {32, 64}},
    {"model.layers.0.self_attn.o_proj", 3, 32, JANG_DT_F16, 2, {64, 64}},
    {"model.layers.0.post_attention_layernorm.weight", 0, 0, JANG_DT_F16, 1, {64}},
    {"model.layers.0.mlp.gate_proj", 2, 64, JANG_DT_F16, 2, {128, 64}},
    {"model.layers.0.mlp.up_proj", 4, 64, JANG_DT_F16, 2, {128, 64}},
    {"model.layers.0.mlp.down_proj", 4, 128, JANG_DT_F16, 2, {64, 128}},
    {"model.layers.1.input_layernorm.weight", 0, 0, JANG_DT_F16, 1, {64}},
    {"model.layers.1.self_attn.q_proj", 8, 32, JANG_DT_BF16, 2, {64, 64}},
    {"model.layers.1.self_attn.q_proj.bias", 0, 0, JANG_DT_F16, 1, {64}},
    {"model.layers.1.self_attn.k_proj", 4, 64, JANG_DT_F16, 2, {32, 64}},
    {"model.layers.1.self_attn.v_proj", 6, 64, JANG_DT_F16, 2, {32, 64}},
    {"model.layers.1.self_attn.o_proj", 5, 32, JANG_DT_F16, 2, {64, 64}},
    {"model.layers.1.post_attention_layernorm.weight", 0, 0, JANG_DT_F16, 1, {64}},
    {"model.layers.1.mlp.switch_mlp.gate_proj", 3, 64, JANG_DT_F16, 3, {4, 32, 64}},
    {"model.layers.1.mlp.down_proj", 2, 32, JANG_DT_F16, 2, {64, 128}},
    {"model.norm.weight", 0, 0, JANG_DT_BF16, 1, {64}},
};
#define N_SPEC ((int)(sizeof SPEC / sizeof SPEC[0]))

static const char HF_CONFIG[] =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 64, "
    "\"intermediate_size\": 128, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
    "\"num_hidden_layers\": 2, \"vocab_size\": 96, \"rms_norm_eps\": 1e-05, \"rope_theta\": "
    "100000.0, \"initializer_range\": 0.02, \"tie_word_embeddings\": true, \"name\": "
    "\"caf\\u00e9 \\\"q\\\"\", \"quantization_config\": {\"quant_method\": \"fp8\"}}";

static int64_t spec_rows(const tspec *t) {
    int64_t r = 1;
    for (int i = 0; i < t->n_dims - 1; i++)
        r *= t->shape[i];
    return r;
}
static int64_t spec_cols(const tspec *t) { return t->shape[t->n_dims - 1]; }

/* Deterministic bytes: part 0 = codes / plain data, 1 = scales, 2 = biases. Floats are finite
 * (exponent field 1..29) unless nan_at >= 0 puts a NaN there. */
static uint32_t mix(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static size_t part_bytes(const tspec *t, int part) {
    int64_t rows = spec_rows(t), cols = spec_cols(t);
    if (!t->bits) return (size_t)(rows * cols) * jang_dtype_size(t->dtype);
    if (part == 0) return (size_t)(rows * cols / 32 * t->bits) * 4;
    return (size_t)(rows * cols / t->group) * jang_dtype_size(t->dtype);
}

static uint8_t *gen_part(int ti, int part, int64_t nan_at) {
    const tspec *t = &SPEC[ti];
    size_t n = part_bytes(t, part);
    uint8_t *b = malloc(n);
    if (!b) abort();
    bool floats = !(t->bits && part == 0);
    if (!floats) {
        for (size_t i = 0; i < n; i++)
            b[i] = (uint8_t)mix((uint32_t)(ti * 7919 + part * 104729) + (uint32_t)i);
        return b;
    }
    size_t es = jang_dtype_size(t->dtype);
    for (size_t i = 0; i < n / es; i++) {
        uint32_t r = mix((uint32_t)(ti * 7919 + part * 104729) ^ (uint32_t)(i * 2654435761u));
        uint16_t h;
        if (t->dtype == JANG_DT_BF16)
            h = (uint16_t)((r & 0x807f) | ((100 + r % 50) << 7)); /* exponent 100..149 */
        else
            h = (uint16_t)((r & 0x83ff) | ((1 + (r >> 11) % 29) << 10));
        if ((int64_t)i == nan_at) h = t->dtype == JANG_DT_BF16 ? 0x7fc0 : 0x7e00;
        b[2 * i] = (uint8_t)h;
        b[2 * i + 1] = (uint8_t)(h >> 8);
    }
    return b;
}

typedef struct wopts {
    uint64_t max_shard;
    bool jang, force;
    int nan_tensor;  /* spec index whose scales get a NaN, or -1 */
    int abort_after; /* abort after this many spec entries are written, or -1 */
    const char *profile;
} wopts;

static wopts wdefaults(void) {
    return (wopts){.max_shard = 8000, .jang = true, .nan_tensor = -1, .abort_after = -1};
}

/* Writes the test model to dir; returns the status of the last call. */
static jang_status write_model(const char *dir, const wopts *o) {
    jang_dir_writer_opts wo;
    jang_dir_writer_opts_init(&wo);
    wo.max_shard_bytes = o->max_shard;
    wo.force = o->force;
    jang_dir_writer *w = NULL;
    jang_status s = jang_dir_writer_open(dir, &wo, &w);
    if (s != JANG_OK) return s;
    for (int i = 0; i < N_SPEC && s == JANG_OK; i++) {
        const tspec *t = &SPEC[i];
        if (t->bits)
            s = jang_dir_writer_declare_quantized(w, t->name, t->n_dims, t->shape, t->bits,
                                                  t->group, t->dtype, NULL);
        else
            s = jang_dir_writer_declare(w, t->name, t->dtype, t->n_dims, t->shape);
    }
    for (int i = 0; i < N_SPEC && s == JANG_OK; i++) {
        if (i == o->abort_after) {
            jang_dir_writer_abort(w);
            return JANG_OK;
        }
        const tspec *t = &SPEC[i];
        if (t->bits) {
            uint8_t *p[3];
            for (int k = 0; k < 3; k++)
                p[k] = gen_part(i, k, k == 1 && i == o->nan_tensor ? 5 : -1);
            if (i % 2)
                s = jang_dir_writer_write_quantized(w, p[0], p[1], p[2]);
            else /* in odd chunks */
                for (int k = 0; k < 3 && s == JANG_OK; k++) {
                    size_t n = part_bytes(t, k), half = n / 3;
                    s = jang_dir_writer_write(w, p[k], half);
                    if (s == JANG_OK) s = jang_dir_writer_write(w, p[k] + half, n - half);
                }
            for (int k = 0; k < 3; k++)
                free(p[k]);
        } else {
            uint8_t *p = gen_part(i, 0, -1);
            s = jang_dir_writer_write(w, p, part_bytes(t, 0));
            free(p);
        }
    }
    if (s != JANG_OK) { /* the writer is poisoned; finish frees it */
        jang_dir_writer_finish(w, NULL);
        return s;
    }
    char tok_src[600];
    snprintf(tok_src, sizeof tok_src, "%s.tokcfg.json", dir);
    FILE *f = fopen(tok_src, "w");
    if (f) {
        fputs("{\"add_bos_token\": false}\n", f);
        fclose(f);
    }
    static const char tok_json[] = "{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\"}}\n";
    jang_dir_file files[2] = {
        {.name = "tokenizer.json", .data = tok_json, .size = sizeof tok_json - 1},
        {.name = "tokenizer_config.json", .src_path = tok_src},
    };
    jang_dir_meta meta;
    jang_dir_meta_init(&meta);
    meta.hf_config_json = HF_CONFIG;
    meta.jang = o->jang;
    meta.block_size = 64;
    meta.profile = o->profile;
    meta.source_name = "tiny-llama";
    meta.source_params = "50K";
    meta.quantization_extra_json = "{\"quantization_method\": \"rtn\"}";
    meta.files = files;
    meta.n_files = 2;
    s = jang_dir_writer_finish(w, &meta);
    unlink(tok_src);
    return s;
}

/* ---- helpers ------------------------------------------------------------------------------- */

static void pjoin(char *out, size_t cap, const char *a, const char *b) {
    int n = snprintf(out, cap, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= cap) abort(); /* test paths are short */
}

static bool exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Entries of dir whose name starts with prefix. */
static int count_prefixed(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
    if (d) closedir(d);
    return n;
}

static char *slurp(const char *path) {
    char *buf = NULL;
    size_t len;
    if (jang_read_file(path, 1 << 26, &buf, &len) != JANG_OK) return NULL;
    return buf;
}

static json_t *load(const char *dir, const char *name) {
    char p[1024];
    pjoin(p, sizeof p, dir, name);
    return json_load_file(p, 0, NULL);
}

static bool save(const char *dir, const char *name, json_t *v) {
    char p[1024];
    pjoin(p, sizeof p, dir, name);
    bool ok = json_dump_file(v, p, JSON_INDENT(1)) == 0;
    json_decref(v);
    return ok;
}

/* A fresh model directory under this test's tmpdir. */
static const char *fresh(const char *name, const wopts *o) {
    static char path[600];
    pjoin(path, sizeof path, test_tmpdir(), name);
    jang_status s = write_model(path, o);
    if (s != JANG_OK) {
        test_fail_at(__FILE__, __LINE__, "write_model(%s): %s: %s", path, jang_status_str(s),
                     jang_last_error());
        return NULL;
    }
    return path;
}

/* Opening must fail with a detail containing each non-NULL needle. */
#define EXPECT_OPEN_FAIL(dir, n1, n2) expect_open_fail(__LINE__, dir, n1, n2)
static void expect_open_fail(int line, const char *dir, const char *n1, const char *n2) {
    jang_qmodel *m = (jang_qmodel *)1;
    jang_clear_error();
    jang_status s = jang_qmodel_open(dir, &m);
    const char *e = jang_last_error();
    if (s == JANG_OK) {
        test_fail_at(__FILE__, line, "%s: opened, expected an error", dir);
        jang_qmodel_close(m);
        return;
    }
    if (m) test_fail_at(__FILE__, line, "*out not NULL on failure");
    if (n1 && !strstr(e, n1)) test_fail_at(__FILE__, line, "error lacks \"%s\": %s", n1, e);
    if (n2 && !strstr(e, n2)) test_fail_at(__FILE__, line, "error lacks \"%s\": %s", n2, e);
}

/* Validation must fail in check c with a message containing needle. */
#define EXPECT_INVALID(dir, c, needle) expect_invalid(__LINE__, dir, c, needle)
static void expect_invalid(int line, const char *dir, jang_check_id c, const char *needle) {
    static jang_validate_report r;
    jang_status s = jang_dir_validate(dir, &r);
    if (s == JANG_OK) {
        test_fail_at(__FILE__, line, "%s: validated, expected a %s failure", dir,
                     jang_check_name(c));
        return;
    }
    if (r.checks[c].n_failed == 0) {
        test_fail_at(__FILE__, line, "no %s failure (status %s: %s)", jang_check_name(c),
                     jang_status_str(s), jang_last_error());
        return;
    }
    for (int i = 0; i < r.checks[c].n_msgs; i++)
        if (strstr(r.checks[c].msgs[i], needle)) return;
    test_fail_at(__FILE__, line, "%s failures lack \"%s\"; first: %s", jang_check_name(c), needle,
                 r.checks[c].msgs[0]);
}

static void expect_valid(int line, const char *dir) {
    static jang_validate_report r;
    jang_status s = jang_dir_validate(dir, &r);
    if (s != JANG_OK) test_fail_at(__FILE__, line, "validate: %s", jang_last_error());
    for (int c = 0; c < JANG_CHECK_COUNT; c++) {
        if (!r.checks[c].ran && !r.checks[c].note[0])
            test_fail_at(__FILE__, line, "check %s did not run", jang_check_name(c));
        if (r.checks[c].n_failed)
            test_fail_at(__FILE__, line, "check %s: %s", jang_check_name(c), r.checks[c].msgs[0]);
    }
}

/* Sets bits of module in config.json's quantization (and quantization_config when both). */
static bool set_config_entry(const char *dir, const char *module, const char *key, int value) {
    json_t *cfg = load(dir, "config.json");
    if (!cfg) return false;
    const char *blocks[2] = {"quantization", "quantization_config"};
    for (int i = 0; i < 2; i++) {
        json_t *e = json_object_get(json_object_get(cfg, blocks[i]), module);
        if (e) json_object_set_new(e, key, json_integer(value));
    }
    return save(dir, "config.json", cfg);
}

/* ---- tests --------------------------------------------------------------------------------- */

TEST(jd_roundtrip_views) {
    wopts o = wdefaults();
    const char *dir = fresh("m", &o);
    REQUIRE(dir);
    char p[1024];
    const char *want[] = {"config.json", "jang_config.json", "model.safetensors.index.json",
                          "tokenizer.json", "tokenizer_config.json"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        pjoin(p, sizeof p, dir, want[i]);
        CHECK_MSG(exists(p), "%s missing", want[i]);
    }
    CHECK_EQ_INT(count_prefixed(test_tmpdir(), "m.tmp-"), 0);

    /* shards: numbered, all of N present, each with __metadata__ format mlx */
    int n_shards = count_prefixed(dir, "model-");
    CHECK(n_shards >= 3);
    for (int k = 1; k <= n_shards; k++) {
        char name[64];
        snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", k, n_shards);
        pjoin(p, sizeof p, dir, name);
        jang_st *st = NULL;
        CHECK_OK(jang_st_open(p, &st));
        CHECK_STR(jang_st_metadata(st, "format"), "mlx");
        jang_st_close(st);
    }

    jang_qmodel *m = NULL;
    REQUIRE_OK(jang_qmodel_open(dir, &m));
    const jang_qmodel_info *in = jang_qmodel_get_info(m);
    CHECK(in->is_jang);
    CHECK_STR(in->format_version, "2.0");
    CHECK_EQ_INT(in->default_bits, 2);
    CHECK_EQ_INT(in->default_group, 64);
    CHECK_EQ_INT(in->block_size, 64);
    int n_q = 0, n_plain = 0;
    for (int i = 0; i < N_SPEC; i++)
        SPEC[i].bits ? n_q++ : n_plain++;
    CHECK_EQ_INT(in->n_quantized, n_q);
    CHECK_EQ_INT(in->n_plain, n_plain);
    CHECK_EQ_INT(in->n_config_entries, n_q);
    CHECK_EQ_INT(in->n_manifest_entries, n_q);
    CHECK_EQ_INT(jang_qmodel_count(m), N_SPEC);

    double num = 0, den = 0;
    int64_t params = 0;
    uint64_t bytes = 0;
    for (int i = 0; i < N_SPEC; i++) {
        const tspec *t = &SPEC[i];
        const jang_qtensor *e = jang_qmodel_find(m, t->name);
        CHECK_MSG(e != NULL, "%s not found", t->name);
        if (!e) continue;
        CHECK_STR(e->name, t->name);
        CHECK_EQ_INT(e->quantized, t->bits != 0);
        CHECK_EQ_INT(e->n_dims, t->n_dims);
        for (int d = 0; d < t->n_dims; d++)
            CHECK_EQ_INT(e->shape[d], t->shape[d]);
        CHECK_EQ_INT(e->rows, spec_rows(t));
        CHECK_EQ_INT(e->cols, spec_cols(t));
        CHECK_EQ_INT(e->n_params, spec_rows(t) * spec_cols(t));
        CHECK(e->aligned);
        params += e->n_params;
        bytes += e->n_bytes;
        if (t->bits) {
            CHECK_EQ_INT(e->bits, t->bits);
            CHECK_EQ_INT(e->group, t->group);
            CHECK_EQ_INT(e->source, JANG_QSRC_CONFIG);
            CHECK_EQ_INT(e->scale_dtype, t->dtype);
            CHECK_EQ_INT(e->weight->dtype, JANG_DT_U32);
            CHECK_EQ_INT(e->weight->shape[t->n_dims - 1], spec_cols(t) * t->bits / 32);
            CHECK_EQ_INT(e->scales->shape[t->n_dims - 1], spec_cols(t) / t->group);
            const void *ptr[3] = {e->codes, e->scale_data, e->bias_data};
            for (int k = 0; k < 3; k++) {
                uint8_t *ref = gen_part(i, k, -1);
                CHECK_MSG(memcmp(ptr[k], ref, part_bytes(t, k)) == 0, "%s part %d differs", t->name,
                          k);
                free(ref);
            }
            CHECK_EQ_INT(e->n_bytes, part_bytes(t, 0) + 2 * part_bytes(t, 1));
            char wn[256];
            snprintf(wn, sizeof wn, "%s.weight", t->name);
            CHECK(jang_qmodel_find(m, wn) == e);
            double blocks = (double)((e->n_params + 63) / 64);
            num += blocks * t->bits;
            den += blocks;
        } else {
            REQUIRE(e->tensor);
            CHECK_EQ_INT(e->tensor->dtype, t->dtype);
            uint8_t *ref = gen_part(i, 0, -1);
            CHECK(memcmp(e->tensor->data, ref, part_bytes(t, 0)) == 0);
            free(ref);
        }
    }
    CHECK(jang_qmodel_find(m, "model.layers.9.mlp.up_proj") == NULL);
    /* entries come in natural order */
    for (int64_t i = 1; i < jang_qmodel_count(m); i++)
        CHECK(strcmp(jang_qmodel_get(m, i - 1)->name, jang_qmodel_get(m, i)->name) != 0);
    CHECK_STR(jang_qmodel_get(m, 0)->name, "model.embed_tokens");

    jang_qmodel_stats st;
    jang_qmodel_get_stats(m, &st);
    CHECK_EQ_INT(st.n_params, params);
    CHECK_EQ_INT(st.bytes, bytes);
    CHECK(fabs(st.jang_bits - num / den) < 1e-12);
    CHECK(fabs(st.true_bpw - (double)bytes * 8 / (double)params) < 1e-12);
    CHECK(fabs(in->actual_bits - round(num / den * 100) / 100) < 1e-9);
    jang_qmodel_close(m);
    expect_valid(__LINE__, dir);
}

TEST(jd_config_files) {
    wopts o = wdefaults();
    o.profile = "JANG_4M";
    const char *dir = fresh("m", &o);
    REQUIRE(dir);
    char p[1024];
    pjoin(p, sizeof p, dir, "config.json");
    char *text = slurp(p);
    REQUIRE(text);
    /* Python json.dumps(indent=2, ensure_ascii=False) style, floats as Python's repr */
    CHECK(strstr(text, "{\n  \"architectures\": [\n    \"LlamaForCausalLM\"\n  ],\n"));
    CHECK(strstr(text, "\"rms_norm_eps\": 1e-05,"));
    CHECK(strstr(text, "\"rope_theta\": 100000.0,"));
    CHECK(strstr(text, "\"initializer_range\": 0.02,"));
    CHECK(strstr(text, "\"name\": \"caf\xc3\xa9 \\\"q\\\"\","));
    CHECK(strstr(text, "\"model.layers.0.mlp.down_proj\": {\n      \"group_size\": 128,\n"
                       "      \"bits\": 4,\n      \"mode\": \"affine\"\n    }"));
    free(text);
    json_t *cfg = load(dir, "config.json");
    REQUIRE(cfg);
    json_t *q = json_object_get(cfg, "quantization"),
           *qc = json_object_get(cfg, "quantization_config");
    CHECK(json_is_object(q) && json_equal(q, qc));
    CHECK(!json_object_get(qc, "quant_method")); /* the source's block is gone */
    CHECK_EQ_INT(json_integer_value(json_object_get(q, "group_size")), 64);
    CHECK_EQ_INT(json_integer_value(json_object_get(q, "bits")), 2);
    CHECK_STR(json_string_value(json_object_get(q, "mode")), "affine");
    CHECK_EQ_INT(json_integer_value(json_object_get(
                     json_object_get(q, "model.layers.1.mlp.switch_mlp.gate_proj"), "bits")),
                 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(cfg, "hidden_size")), 64);
    json_decref(cfg);

    json_t *jc = load(dir, "jang_config.json");
    REQUIRE(jc);
    CHECK_STR(json_string_value(json_object_get(jc, "format")), "jang");
    CHECK_STR(json_string_value(json_object_get(jc, "format_version")), "2.0");
    json_t *jq = json_object_get(jc, "quantization");
    CHECK_STR(json_string_value(json_object_get(jq, "profile")), "JANG_4M");
    CHECK_STR(json_string_value(json_object_get(jq, "quantization_method")), "rtn");
    json_t *bw = json_object_get(jq, "bit_widths_used");
    CHECK_EQ_INT(json_array_size(bw), 6);
    CHECK_EQ_INT(json_integer_value(json_array_get(bw, 0)), 2);
    CHECK_EQ_INT(json_integer_value(json_array_get(bw, 5)), 8);
    json_t *man = json_object_get(jq, "tensor_quantization_manifest");
    json_t *me = json_object_get(man, "model.layers.1.mlp.switch_mlp.gate_proj");
    REQUIRE(me);
    CHECK_STR(json_string_value(json_object_get(me, "weight_key")),
              "model.layers.1.mlp.switch_mlp.gate_proj.weight");
    CHECK_STR(json_string_value(json_object_get(me, "source_tensor")),
              "model.layers.1.mlp.switch_mlp.gate_proj.weight");
    json_t *ws = json_object_get(me, "weight_shape");
    CHECK_EQ_INT(json_array_size(ws), 3);
    CHECK_EQ_INT(json_integer_value(json_array_get(ws, 2)), 64 * 3 / 32);
    CHECK_EQ_INT(json_integer_value(json_object_get(jq, "tensor_quantization_manifest_count")),
                 json_object_size(man));
    CHECK_STR(json_string_value(json_object_get(json_object_get(jc, "source_model"), "name")),
              "tiny-llama");
    json_int_t rt_bytes =
        json_integer_value(json_object_get(json_object_get(jc, "runtime"), "total_weight_bytes"));
    json_decref(jc);

    json_t *ix = load(dir, "model.safetensors.index.json");
    REQUIRE(ix);
    CHECK_STR(json_string_value(json_object_get(json_object_get(ix, "metadata"), "format")),
              "jang");
    /* jang's convention: the shard file bytes, in the index and in runtime */
    json_int_t total =
        json_integer_value(json_object_get(json_object_get(ix, "metadata"), "total_size"));
    CHECK(total > 0 && total == rt_bytes);
    int64_t on_disk = 0;
    for (int k = 1; k <= count_prefixed(dir, "model-"); k++) {
        char name[64];
        struct stat sb;
        snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", k,
                 count_prefixed(dir, "model-"));
        pjoin(p, sizeof p, dir, name);
        if (stat(p, &sb) == 0) on_disk += sb.st_size;
    }
    CHECK_EQ_INT(total, on_disk);
    int n_t = 0;
    for (int i = 0; i < N_SPEC; i++)
        n_t += SPEC[i].bits ? 3 : 1;
    CHECK_EQ_INT(json_object_size(json_object_get(ix, "weight_map")), n_t);
    json_decref(ix);
    pjoin(p, sizeof p, dir, "tokenizer_config.json");
    text = slurp(p);
    CHECK(text && !strcmp(text, "{\"add_bos_token\": false}\n"));
    free(text);
}

TEST(jd_shard_planning) {
    /* one shard when everything fits; a module's three tensors never split */
    wopts o = wdefaults();
    o.max_shard = (uint64_t)1 << 30;
    const char *dir = fresh("one", &o);
    REQUIRE(dir);
    CHECK_EQ_INT(count_prefixed(dir, "model-00001-of-00001"), 1);
    o.max_shard = 1; /* every group in its own shard */
    dir = fresh("many", &o);
    REQUIRE(dir);
    CHECK_EQ_INT(count_prefixed(dir, "model-"), N_SPEC - 1); /* q_proj and q_proj.bias share */
    json_t *ix = load(dir, "model.safetensors.index.json");
    json_t *wm = json_object_get(ix, "weight_map");
    const char *a = json_string_value(json_object_get(wm, "model.layers.0.mlp.up_proj.weight"));
    const char *b = json_string_value(json_object_get(wm, "model.layers.0.mlp.up_proj.biases"));
    CHECK(a && b && !strcmp(a, b));
    json_decref(ix);
    expect_valid(__LINE__, dir);
}

TEST(jd_plain_mlx_dir) {
    wopts o = wdefaults();
    o.jang = false;
    const char *dir = fresh("mlx", &o);
    REQUIRE(dir);
    char p[1024];
    pjoin(p, sizeof p, dir, "jang_config.json");
    CHECK(!exists(p));
    jang_qmodel *m = NULL;
    REQUIRE_OK(jang_qmodel_open(dir, &m));
    CHECK(!jang_qmodel_get_info(m)->is_jang);
    CHECK(isnan(jang_qmodel_get_info(m)->actual_bits));
    const jang_qtensor *e = jang_qmodel_find(m, "model.layers.0.self_attn.k_proj");
    CHECK(e && e->bits == 6 && e->group == 32 && e->source == JANG_QSRC_CONFIG);
    jang_qmodel_close(m);
    expect_valid(__LINE__, dir);

    /* only a top-level default: every module must then have that width */
    json_t *cfg = load(dir, "config.json");
    json_t *q = json_pack("{s:i, s:i, s:s}", "group_size", 64, "bits", 4, "mode", "affine");
    json_object_set(cfg, "quantization", q);
    json_object_set_new(cfg, "quantization_config", q);
    REQUIRE(save(dir, "config.json", cfg));
    EXPECT_OPEN_FAIL(dir, "(from the config.json top-level default)", "bits or group size wrong");
}

/* mlx-lm's uniform output: a top-level default and no per-module entries. */
TEST(jd_uniform_mlx_dir) {
    char dir[1024];
    pjoin(dir, sizeof dir, test_tmpdir(), "u");
    jang_dir_writer *w = NULL;
    REQUIRE_OK(jang_dir_writer_open(dir, NULL, &w));
    int64_t shape[2] = {16, 128}, nshape[1] = {128};
    CHECK_OK(jang_dir_writer_declare_quantized(w, "model.a", 2, shape, 4, 64, JANG_DT_BF16, NULL));
    CHECK_OK(jang_dir_writer_declare_quantized(w, "model.b", 2, shape, 4, 64, JANG_DT_BF16, NULL));
    CHECK_OK(jang_dir_writer_declare(w, "model.norm.weight", JANG_DT_BF16, 1, nshape));
    static uint8_t codes[16 * 128 / 2], scales[16 * 2 * 2];
    memset(scales, 0x3f, sizeof scales); /* bf16 0x3f3f: finite */
    CHECK_OK(jang_dir_writer_write_quantized(w, codes, scales, scales));
    CHECK_OK(jang_dir_writer_write_quantized(w, codes, scales, scales));
    static uint8_t norm[256];
    CHECK_OK(jang_dir_writer_write(w, norm, sizeof norm));
    jang_dir_meta meta;
    jang_dir_meta_init(&meta);
    meta.jang = false;
    meta.hf_config_json = "{\"model_type\": \"llama\"}";
    REQUIRE_OK(jang_dir_writer_finish(w, &meta));
    json_t *cfg = load(dir, "config.json");
    json_t *q = json_pack("{s:i, s:i, s:s}", "group_size", 64, "bits", 4, "mode", "affine");
    json_object_set(cfg, "quantization", q);
    json_object_set_new(cfg, "quantization_config", q);
    REQUIRE(save(dir, "config.json", cfg));
    jang_qmodel *m = NULL;
    REQUIRE_OK(jang_qmodel_open(dir, &m));
    const jang_qtensor *e = jang_qmodel_find(m, "model.b.weight");
    CHECK(e && e->bits == 4 && e->group == 64 && e->source == JANG_QSRC_DEFAULT);
    CHECK(e && e->scale_dtype == JANG_DT_BF16 && e->rows == 16 && e->cols == 128);
    CHECK_EQ_INT(jang_qmodel_get_info(m)->n_config_entries, 0);
    jang_qmodel_close(m);
    expect_valid(__LINE__, dir);
    /* the same directory read as if 8 bits g128 were the default: shapes disagree */
    cfg = load(dir, "config.json");
    q = json_pack("{s:i, s:i}", "group_size", 32, "bits", 4);
    json_object_set(cfg, "quantization", q);
    json_object_set_new(cfg, "quantization_config", q);
    REQUIRE(save(dir, "config.json", cfg));
    EXPECT_OPEN_FAIL(dir, "module 'model.", "in_features 64");
}

TEST(jd_missing_shard) {
    wopts o = wdefaults();
    const char *dir = fresh("m", &o);
    REQUIRE(dir);
    int n = count_prefixed(dir, "model-");
    char p[1024], name[64];
    snprintf(name, sizeof name, "model-00002-of-%05d.safetensors", n);
    pjoin(p, sizeof p, dir, name);
    REQUIRE(unlink(p) == 0);
    EXPECT_OPEN_FAIL(dir, name, NULL);
    EXPECT_INVALID(dir, JANG_CHECK_INDEX, "does not exist");
    static jang_validate_report r;
    jang_dir_validate(dir, &r);
    CHECK(!r.checks[JANG_CHECK_SHAPES].ran); /* nothing to look at without the shards */
}

TEST(jd_truncated_shard) {
    wopts o = wdefaults();
    const char *dir = fresh("m", &o);
    REQUIRE(dir);
    char p[1024], name[64];
    snprintf(name, sizeof name, "model-00001-of-%05d.safetensors", count_prefixed(dir, "model-"));
    pjoin(p, sizeof p, dir, name);
    struct stat sb;
    REQUIRE(stat(p, &sb) == 0);
    REQUIRE(truncate(p, sb.st_size - 100) == 0);
    EXPECT_OPEN_FAIL(dir, "model-00001-of-", "beyond the");
    EXPECT_INVALID(dir, JANG_CHECK_INDEX, "beyond the");
}

TEST(jd_wrong_bits_in_config) {
    /* MLX directory (no manifest): config says 8 bits where 4 were written */
    wopts o = wdefaults();
    o.jang = false;
    const char *dir = fresh("mlx", &o);
    REQUIRE(dir);
    REQUIRE(set_config_entry(dir, "model.layers.0.mlp.up_proj", "bits", 8));
    EXPECT_OPEN_FAIL(dir, "module 'model.layers.0.mlp.up_proj': 8 bits, group 64",
                     "bits or group size wrong");
    EXPECT_INVALID(dir, JANG_CHECK_SHAPES, "module 'model.layers.0.mlp.up_proj'");
    /* a wrong group size shows too */
    dir = fresh("mlx2", &o);
    REQUIRE(dir);
    REQUIRE(set_config_entry(dir, "model.layers.0.self_attn.k_proj", "group_size", 64));
    EXPECT_OPEN_FAIL(dir, "module 'model.layers.0.self_attn.k_proj'", "in_features 128");
}

TEST(jd_config_manifest_conflict) {
    wopts o = wdefaults();
    const char *dir = fresh("m", &o);
    REQUIRE(dir);
    REQUIRE(set_config_entry(dir, "model.layers.0.mlp.up_proj", "bits", 8));
    EXPECT_OPEN_FAIL(dir, "module 'model.layers.0.mlp.up_proj': config.json says 8 bits, group 64",
                     "manifest says 4 bits, group 64");
    EXPECT_INVALID(dir, JANG_CHECK_QUANT, "manifest says 4 bits");
}

TEST(jd_manifest_from_manifest) {
    /* no config entry: the manifest decides, even against a different top-level default */
    wopts o = wdefaults();
    const char *dir = fresh("m", &o);
    REQUIRE(dir);
    json_t *cfg = load(dir, "config.json");
    json_object_del(json_object_get(cfg, "quantization"), "model.layers.0.self_attn.q_proj");
    json_object_del(json_object_get(cfg, "quantization_config"), "model.layers.0.self_attn.q_proj");
    REQUIRE(save(dir, "config.json", cfg));
    jang_qmodel *m = NULL;
    REQUIRE_OK(jang_qmodel_open(dir, &m));
    const jang_qtensor *e = jang_qmodel_find(m, "model.layers.0.self_attn.q_proj");
    CHECK(e && e->bits == 8 && e->group == 64 && e->source == JANG_QSRC_MANIFEST);
    jang_qmodel_close(m);
    /* valid for our reader, but mlx-lm reads only config.json: validate says so */
    EXPECT_INVALID(dir, JANG_CHECK_MANIFEST, "no config.json quantization entry");
}

TEST(jd_manifest_mismatch) {
    wopts o = wdefaults();
    const char *dir = fresh("m", &o);
    REQUIRE(dir);
    json_t *jc = load(dir, "jang_config.json");
    json_t *man =
        json_object_get(json_object_get(jc, "quantization"), "tensor_quantization_manifest");
    json_t *e = json_object_get(man, "model.layers.0.mlp.gate_proj");
    json_object_set_new(e, "weight_shape", json_pack("[i,i]", 128, 8));
    json_object_set_new(man, "model.layers.7.mlp.up_proj",
                        json_pack("{s:i,s:i}", "bits", 4, "group_size", 64));
    REQUIRE(save(dir, "jang_config.json", jc));
    jang_qmodel *m = NULL;
    CHECK_OK(jang_qmodel_open(dir, &m)); /* views are still unambiguous */
    jang_qmodel_close(m);
    EXPECT_INVALID(dir, JANG_CHECK_MANIFEST,
                   "module 'model.layers.0.mlp.gate_proj': manifest weight_shape differs");
    EXPECT_INVALID(dir, JANG_CHECK_MANIFEST, "manifest lists module 'model.layers.7.mlp.up_proj'");
    EXPECT_INVALID(dir, JANG_CHECK_MANIFEST, "tensor_quantization_manifest_count");
}

TEST(jd_scales_nan) {
    wopts o = wdefaults();
    o.nan_tensor = 5; /* model.layers.0.self_attn.o_proj: 64 x 64, g32 -> 2 groups per row */
    const char *dir = fresh("m", &o);
    REQUIRE(dir);
    jang_qmodel *m = NULL;
    CHECK_OK(jang_qmodel_open(dir, &m)); /* open does not scan data */
    jang_qmodel_close(m);
    EXPECT_INVALID(dir, JANG_CHECK_FINITE,
                   "tensor 'model.layers.0.self_attn.o_proj.scales': 1 non-finite value (NaN or "
                   "Inf), first at row 2, column 1");
}

TEST(jd_index_missing_tensor) {
    wopts o = wdefaults();
    const char *dir = fresh("m", &o);
    REQUIRE(dir);
    json_t *ix = load(dir, "model.safetensors.index.json");
    json_t *wm = json_object_get(ix, "weight_map");
    const char *shard = json_string_value(json_object_get(wm, "model.norm.weight"));
    REQUIRE(shard);
    json_object_set_new(wm, "model.layers.0.self_attn.fake.weight", json_string(shard));
    REQUIRE(save(dir, "model.safetensors.index.json", ix));
    EXPECT_OPEN_FAIL(dir, "model.layers.0.self_attn.fake.weight", "lacks it");
    EXPECT_INVALID(dir, JANG_CHECK_INDEX,
                   "the index lists tensor 'model.layers.0.self_attn.fake.weight'");

    /* a tensor missing from the weight_map, and an unlisted shard */
    dir = fresh("m2", &o);
    REQUIRE(dir);
    ix = load(dir, "model.safetensors.index.json");
    json_object_del(json_object_get(ix, "weight_map"), "model.norm.weight");
    REQUIRE(save(dir, "model.safetensors.index.json", ix));
    EXPECT_INVALID(dir, JANG_CHECK_INDEX, "tensor 'model.norm.weight' of shard");
}

TEST(jd_bits_missing) {
    wopts o = wdefaults();
    o.jang = false;
    const char *dir = fresh("mlx", &o);
    REQUIRE(dir);
    json_t *cfg = load(dir, "config.json");
    const char *blocks[2] = {"quantization", "quantization_config"};
    for (int i = 0; i < 2; i++) {
        json_t *q = json_object_get(cfg, blocks[i]);
        json_object_del(q, "bits");
        json_object_del(q, "group_size");
        json_object_del(q, "model.layers.1.self_attn.o_proj");
    }
    REQUIRE(save(dir, "config.json", cfg));
    EXPECT_OPEN_FAIL(dir, "module 'model.layers.1.self_attn.o_proj': bits and group size unknown",
                     NULL);
    EXPECT_INVALID(dir, JANG_CHECK_QUANT, "'model.layers.1.self_attn.o_proj'");
    /* null or absent values in an entry mean mlx's affine defaults (bits 4, group 64), as in
     * mlx-lm's own mixed_* output ("group_size": null): read that way, then checked */
    dir = fresh("mlx2", &o);
    REQUIRE(dir);
    cfg = load(dir, "config.json");
    json_t *q = json_object_get(cfg, "quantization");
    json_object_set_new(json_object_get(q, "model.layers.1.mlp.switch_mlp.gate_proj"), "group_size",
                        json_null()); /* written with 3 bits, g64 */
    json_object_del(json_object_get(q, "model.layers.0.mlp.up_proj"), "bits"); /* 4 bits, g64 */
    json_object_set(cfg, "quantization_config", q);
    REQUIRE(save(dir, "config.json", cfg));
    jang_qmodel *m = NULL;
    REQUIRE_OK(jang_qmodel_open(dir, &m));
    const jang_qtensor *e = jang_qmodel_find(m, "model.layers.1.mlp.switch_mlp.gate_proj");
    CHECK(e && e->bits == 3 && e->group == 64 && e->source == JANG_QSRC_CONFIG);
    e = jang_qmodel_find(m, "model.layers.0.mlp.up_proj");
    CHECK(e && e->bits == 4 && e->group == 64 && e->source == JANG_QSRC_CONFIG);
    jang_qmodel_close(m);
    static jang_validate_report r;
    CHECK_OK(jang_dir_validate(dir, &r));
    CHECK(strstr(r.checks[JANG_CHECK_QUANT].note, "2 config.json entries"));
    /* ... where that default is wrong, the shapes say so */
    cfg = load(dir, "config.json");
    q = json_object_get(cfg, "quantization");
    json_object_del(json_object_get(q, "model.layers.0.mlp.gate_proj"), "bits"); /* 2 bits */
    json_object_set(cfg, "quantization_config", q);
    REQUIRE(save(dir, "config.json", cfg));
    EXPECT_OPEN_FAIL(dir, "module 'model.layers.0.mlp.gate_proj': 4 bits, group 64",
                     "mlx's affine defaults");
    /* a value of another type is an error */
    cfg = load(dir, "config.json");
    q = json_object_get(cfg, "quantization");
    json_object_set_new(json_object_get(q, "model.layers.0.mlp.gate_proj"), "bits",
                        json_string("2"));
    REQUIRE(save(dir, "config.json", cfg));
    EXPECT_OPEN_FAIL(dir, "module 'model.layers.0.mlp.gate_proj'", "\"bits\" is not an integer");
    EXPECT_INVALID(dir, JANG_CHECK_QUANT, "quantization_config\" differs");
}

TEST(jd_other_config_errors) {
    wopts o = wdefaults();
    const char *dir = fresh("m", &o);
    REQUIRE(dir);
    /* an entry naming no module; an entry false for a quantized module; unsupported mode */
    json_t *cfg = load(dir, "config.json");
    json_t *q = json_object_get(cfg, "quantization");
    json_object_set_new(q, "lm_head", json_pack("{s:i,s:i}", "bits", 8, "group_size", 64));
    json_object_set(cfg, "quantization_config", q);
    REQUIRE(save(dir, "config.json", cfg));
    EXPECT_INVALID(dir, JANG_CHECK_QUANT, "entry 'lm_head' names no quantized module");
    cfg = load(dir, "config.json");
    q = json_object_get(cfg, "quantization");
    json_object_set_new(q, "model.layers.0.mlp.up_proj", json_false());
    json_object_set(cfg, "quantization_config", q);
    REQUIRE(save(dir, "config.json", cfg));
    EXPECT_OPEN_FAIL(dir, "module 'model.layers.0.mlp.up_proj'", "is false");
    cfg = load(dir, "config.json");
    q = json_object_get(cfg, "quantization");
    json_object_set_new(q, "model.layers.0.mlp.up_proj",
                        json_pack("{s:i,s:i,s:s}", "bits", 4, "group_size", 32, "mode", "mxfp4"));
    REQUIRE(save(dir, "config.json", cfg));
    jang_qmodel *m = NULL;
    CHECK(jang_qmodel_open(dir, &m) == JANG_E_UNSUPPORTED);
    CHECK(strstr(jang_last_error(), "mode 'mxfp4'"));
    /* jang_config of another format / version */
    dir = fresh("m2", &o);
    REQUIRE(dir);
    json_t *jc = load(dir, "jang_config.json");
    json_object_set_new(jc, "format_version", json_string("1.1"));
    REQUIRE(save(dir, "jang_config.json", jc));
    EXPECT_OPEN_FAIL(dir, "format_version \"1.1\"", "JANG v2 only");
    char p[1024];
    pjoin(p, sizeof p, dir, "config.json");
    REQUIRE(unlink(p) == 0);
    EXPECT_OPEN_FAIL(dir, "no config.json", NULL);
}

TEST(jd_overwrite_and_force) {
    wopts o = wdefaults();
    const char *dir0 = fresh("m", &o);
    REQUIRE(dir0);
    char dir[600];
    snprintf(dir, sizeof dir, "%s", dir0);
    jang_clear_error();
    CHECK(write_model(dir, &o) == JANG_E_EXISTS);
    CHECK(strstr(jang_last_error(), "--force"));
    CHECK_EQ_INT(count_prefixed(test_tmpdir(), "m.tmp-"), 0);
    json_t *jc = load(dir, "jang_config.json");
    CHECK(json_is_null(json_object_get(json_object_get(jc, "quantization"), "profile")));
    json_decref(jc);

    o.force = true;
    o.profile = "JANG_2S";
    CHECK_OK(write_model(dir, &o));
    jc = load(dir, "jang_config.json");
    CHECK_STR(json_string_value(json_object_get(json_object_get(jc, "quantization"), "profile")),
              "JANG_2S");
    json_decref(jc);
    CHECK_EQ_INT(count_prefixed(test_tmpdir(), "m.tmp-"), 0);
    expect_valid(__LINE__, dir);

    /* --force never replaces something that is not a model directory */
    char other[1024], f[1100];
    pjoin(other, sizeof other, test_tmpdir(), "notes");
    mkdir(other, 0755);
    pjoin(f, sizeof f, other, "thesis.txt");
    FILE *fp = fopen(f, "w");
    REQUIRE(fp);
    fputs("precious\n", fp);
    fclose(fp);
    jang_clear_error();
    CHECK(write_model(other, &o) == JANG_E_EXISTS);
    CHECK(strstr(jang_last_error(), "does not look like a model directory"));
    CHECK(exists(f));
    CHECK(write_model(f, &o) == JANG_E_EXISTS); /* a file */
}

TEST(jd_interrupted_write) {
    wopts o = wdefaults();
    o.abort_after = 9;
    char dir[1024];
    pjoin(dir, sizeof dir, test_tmpdir(), "m");
    CHECK_OK(write_model(dir, &o));
    CHECK(!exists(dir));
    CHECK_EQ_INT(count_prefixed(test_tmpdir(), "m"), 0);

    /* a failing call (too many bytes) removes everything too */
    jang_dir_writer *w = NULL;
    REQUIRE_OK(jang_dir_writer_open(dir, NULL, &w));
    int64_t shape[1] = {4};
    CHECK_OK(jang_dir_writer_declare(w, "a", JANG_DT_F32, 1, shape));
    float x[5] = {0};
    CHECK_OK(jang_dir_writer_write(w, x, 8));
    CHECK(jang_dir_writer_write(w, x, 20) == JANG_E_ARG);
    CHECK(jang_dir_writer_write(w, x, 4) == JANG_E_ARG); /* poisoned */
    CHECK_EQ_INT(count_prefixed(test_tmpdir(), "m"), 0);
    jang_dir_meta meta;
    jang_dir_meta_init(&meta);
    meta.hf_config_json = "{}";
    CHECK(jang_dir_writer_finish(w, &meta) != JANG_OK);
    CHECK(!exists(dir));

    /* finish with data missing */
    REQUIRE_OK(jang_dir_writer_open(dir, NULL, &w));
    CHECK_OK(jang_dir_writer_declare(w, "a", JANG_DT_F32, 1, shape));
    CHECK_OK(jang_dir_writer_write(w, x, 8));
    jang_clear_error();
    CHECK(jang_dir_writer_finish(w, &meta) == JANG_E_ARG);
    CHECK(strstr(jang_last_error(), "tensor 'a': 8 of its 16 bytes written at finish"));
    CHECK_EQ_INT(count_prefixed(test_tmpdir(), "m"), 0);
}

TEST(jd_writer_arguments) {
    char dir[1024];
    pjoin(dir, sizeof dir, test_tmpdir(), "m");
    jang_dir_writer *w = NULL;
    int64_t shape[2] = {8, 96};
    REQUIRE_OK(jang_dir_writer_open(dir, NULL, &w));
    jang_clear_error();
    CHECK(jang_dir_writer_declare_quantized(w, "x.proj", 2, shape, 4, 64, JANG_DT_F16, NULL) ==
          JANG_E_ARG);
    CHECK(strstr(jang_last_error(), "module 'x.proj': in_features 96"));
    jang_dir_writer_abort(w);
    REQUIRE_OK(jang_dir_writer_open(dir, NULL, &w));
    CHECK(jang_dir_writer_declare_quantized(w, "x.proj", 2, shape, 7, 32, JANG_DT_F16, NULL) ==
          JANG_E_ARG);
    jang_dir_writer_abort(w);
    REQUIRE_OK(jang_dir_writer_open(dir, NULL, &w));
    CHECK_OK(jang_dir_writer_declare(w, "x.proj.weight", JANG_DT_F16, 2, shape));
    CHECK(jang_dir_writer_declare_quantized(w, "x.proj", 2, shape, 4, 32, JANG_DT_F16, NULL) ==
          JANG_E_ARG); /* x.proj.weight twice */
    jang_dir_writer_abort(w);
    REQUIRE_OK(jang_dir_writer_open(dir, NULL, &w));
    CHECK_OK(jang_dir_writer_declare(w, "a", JANG_DT_F16, 2, shape));
    CHECK(jang_dir_writer_write_quantized(w, "", "", "") == JANG_E_ARG);
    jang_dir_writer_abort(w);
    /* an extra file may not replace the writer's own */
    REQUIRE_OK(jang_dir_writer_open(dir, NULL, &w));
    int64_t one = 1;
    CHECK_OK(jang_dir_writer_declare(w, "a", JANG_DT_U8, 1, &one));
    CHECK_OK(jang_dir_writer_write(w, "z", 1));
    jang_dir_file f = {.name = "config.json", .data = "{}", .size = 2};
    jang_dir_meta meta;
    jang_dir_meta_init(&meta);
    meta.hf_config_json = "{}";
    meta.files = &f;
    meta.n_files = 1;
    CHECK(jang_dir_writer_finish(w, &meta) == JANG_E_ARG);
    CHECK(!exists(dir));
    CHECK_EQ_INT(count_prefixed(test_tmpdir(), "m"), 0);
    jang_dir_writer_abort(NULL);
    jang_qmodel_close(NULL);
    CHECK(jang_qmodel_open("/nonexistent/dir", &(jang_qmodel *){NULL}) == JANG_E_NOTFOUND);
}

/* ---- the CLI: jang validate / jang inspect ----------------------------------------------------
 */

typedef struct {
    int status;
    char out[32768];
} cli_run;

static bool run_cli(const char *args, cli_run *r) {
    const char *bin = getenv("JANG_BIN");
    char cmd[2048], o[1024];
    pjoin(o, sizeof o, test_tmpdir(), "cli-out.txt");
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>&1 </dev/null", bin ? bin : "build/jang", args, o);
    int st = system(cmd);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    char *text = slurp(o);
    snprintf(r->out, sizeof r->out, "%s", text ? text : "");
    free(text);
    return r->status != 127;
}

#define CHECK_HAS(hay, needle)                                                                     \
    CHECK_MSG(strstr((hay), (needle)) != NULL, "output lacks \"%s\":\n%.3000s", (needle), (hay))

TEST(jd_cli_validate_inspect) {
    wopts o = wdefaults();
    const char *dir0 = fresh("m", &o);
    REQUIRE(dir0);
    char dir[600], args[1024];
    snprintf(dir, sizeof dir, "%s", dir0);
    static cli_run r;
    snprintf(args, sizeof args, "validate %s", dir);
    REQUIRE(run_cli(args, &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.out, "shapes    ok    14 checked");
    CHECK_HAS(r.out, "arch      ok    14 checked");
    CHECK_HAS(r.out, "result: valid");

    snprintf(args, sizeof args, "inspect %s", dir);
    REQUIRE(run_cli(args, &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.out, "format:        JANG v2.0");
    CHECK_HAS(r.out, "14 quantized modules, 6 plain tensors; default 2 bits, group 64");
    /* the widths used, by share of the 71680 quantized weights: 4 bits 24576, 2 bits 16384, 3
     * bits 12288, 8 bits 8192, 5 bits 6144, 6 bits 4096 (the top-level default, 2, is not the
     * most used: issue 16) */
    CHECK_HAS(r.out, "bits:          4 (34% of quantized weights), 2 (23%), 3 (17%), 8 (11%), 5 "
                     "(9%), 6 (6%)\n");
    CHECK_HAS(r.out, "model.layers.1.mlp.switch_mlp.gate_proj                  q3        3    64 -"
                     "    [4, 32, 64]                  3584");
    CHECK_HAS(r.out, "JANG bits:     4.029");
    CHECK_HAS(r.out, "actual_bits 4.03");
    /* 72064 parameters: 14 modules unpacked + 6 plain; 42880 bytes */
    CHECK_HAS(r.out, "true bpw:      4.760 (all 42880 tensor bytes x 8 / 72064 parameters");

    /* (4 bits, g128) rewritten as (8 bits, g64) in config and manifest: identical shapes, so
     * only the architecture can tell */
    const char *mod = "model.layers.0.mlp.down_proj";
    REQUIRE(set_config_entry(dir, mod, "bits", 8));
    REQUIRE(set_config_entry(dir, mod, "group_size", 64));
    json_t *jc = load(dir, "jang_config.json");
    json_t *me = json_object_get(
        json_object_get(json_object_get(jc, "quantization"), "tensor_quantization_manifest"), mod);
    json_object_set_new(me, "bits", json_integer(8));
    json_object_set_new(me, "group_size", json_integer(64));
    REQUIRE(save(dir, "jang_config.json", jc));
    jang_qmodel *m = NULL;
    REQUIRE_OK(jang_qmodel_open(dir, &m)); /* consistent on its own */
    CHECK_EQ_INT(jang_qmodel_find(m, mod)->cols, 64);
    jang_qmodel_close(m);
    snprintf(args, sizeof args, "validate %s", dir);
    REQUIRE(run_cli(args, &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.out, "arch      FAIL  1 of 14 failed");
    CHECK_HAS(r.out, "module 'model.layers.0.mlp.down_proj': 8 bits, group 64 give in_features 64 "
                     "but config.json's llama architecture needs 128");
    CHECK_HAS(r.out, "result: INVALID");

    /* a broken directory: validate lists it, inspect says why it is not understood */
    char p[1024], name[64];
    snprintf(name, sizeof name, "model-00002-of-%05d.safetensors", count_prefixed(dir, "model-"));
    pjoin(p, sizeof p, dir, name);
    REQUIRE(unlink(p) == 0);
    REQUIRE(run_cli(args, &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.out, "index     FAIL");
    CHECK_HAS(r.out, "does not exist");
    snprintf(args, sizeof args, "validate %s/nope", dir);
    REQUIRE(run_cli(args, &r));
    CHECK_EQ_INT(r.status, 1);
    REQUIRE(run_cli("validate", &r));
    CHECK_EQ_INT(r.status, 2);
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Issue 16's validate edges: one broken config.json is one failure, not one per module (the
 * checks needing it are skipped and counted); the list comes before the summary on a pipe (stdout
 * and stderr into one file here); an empty directory is "1 of 1 failed", not "1 of 0". */
TEST(jd_cli_validate_edges) {
    static cli_run r;
    char args[1200], p[1024];
    for (int jang = 1; jang >= 0; jang--) {
        wopts o = wdefaults();
        o.jang = jang;
        const char *dir = fresh(jang ? "broken-jang" : "broken-mlx", &o);
        REQUIRE(dir);
        pjoin(p, sizeof p, dir, "config.json");
        FILE *f = fopen(p, "w");
        REQUIRE(f);
        fputs("{broken", f);
        fclose(f);
        snprintf(args, sizeof args, "validate %s", dir);
        REQUIRE(run_cli(args, &r));
        CHECK_EQ_INT(r.status, 1);
        CHECK_MSG(count_of(r.out, "\n      - ") == 1, "not one failure listed:\n%s", r.out);
        CHECK_HAS(r.out, "      - config.json: not a JSON object");
        /* 14 modules: the manifest's config.json entries (JANG) or their (bits, group) (MLX),
         * and the arch check */
        CHECK_HAS(r.out, jang ? "manifest  ok    14 checked (14 skipped: config.json unusable)"
                              : "quant     ok    (14 skipped: config.json unusable)");
        CHECK_HAS(r.out, "arch      -     (skipped: needs config.json)");
        CHECK_HAS(r.out, "result: INVALID (1 failure; 15 checks skipped: config.json unusable)");
        const char *list = strstr(r.out, "\n      - "), *res = strstr(r.out, "result: INVALID");
        const char *sum = strstr(r.out, "jang validate: ");
        CHECK_MSG(list && res && sum && list < res && res < sum, "summary before the list:\n%s",
                  r.out);
    }
    pjoin(p, sizeof p, test_tmpdir(), "empty");
    REQUIRE(mkdir(p, 0755) == 0);
    snprintf(args, sizeof args, "validate %s", p);
    REQUIRE(run_cli(args, &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.out, "index     FAIL  1 of 1 failed  [");
    CHECK_MSG(!strstr(r.out, "of 0 failed"), "failures of nothing:\n%s", r.out);
    CHECK_MSG(!strstr(r.out, "a single model.safetensors"), "wrong note:\n%s", r.out);
    CHECK_HAS(r.out, "result: INVALID (2 failures; 1 check skipped: config.json unusable)");
}
