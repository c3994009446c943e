/* test_model.c — the runtime's forward pass against transformers' logits on tiny random-weight
 * models (tests/data/tiny/<arch>, made by tools/gen_tiny_models.py), and the KV cache: feeding
 * the prompt in pieces must give the same logits as one batch; one open reads config.json once. */
#include "test.h"
#include "util.h"

#include <jansson.h>
#include <stdlib.h>

typedef struct {
    int32_t ids[64];
    int64_t n;
    float *ref; /* (n, vocab) */
} tiny_ref;

static bool load_ref(const char *dir, int64_t vocab, tiny_ref *r) {
    char p[600];
    snprintf(p, sizeof p, "%s/prompt.json", dir);
    json_error_t err;
    json_t *j = json_load_file(p, 0, &err);
    if (!j) return false;
    json_t *ids = json_object_get(j, "ids");
    r->n = (int64_t)json_array_size(ids);
    for (int64_t i = 0; i < r->n && i < 64; i++)
        r->ids[i] = (int32_t)json_integer_value(json_array_get(ids, (size_t)i));
    json_decref(j);
    snprintf(p, sizeof p, "%s/logits.f32", dir);
    FILE *f = fopen(p, "rb");
    if (!f) return false;
    r->ref = malloc((size_t)(r->n * vocab) * sizeof(float));
    size_t got = fread(r->ref, sizeof(float), (size_t)(r->n * vocab), f);
    fclose(f);
    return got == (size_t)(r->n * vocab);
}

/* max |a - b| / max |b| over all logits */
static double rel_err(const float *a, const float *b, int64_t n) {
    double md = 0, mb = 0;
    for (int64_t i = 0; i < n; i++) {
        double dd = fabs((double)a[i] - b[i]);
        if (dd > md) md = dd;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / mb;
}

static void check_tiny(const char *arch, int threads) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", test_data_path("tiny"), arch);
    jang_context_opts o;
    jang_context_opts_init(&o);
    o.n_threads = threads;
    o.max_ctx = 64;
    jang_model *m = NULL;
    jang_context *c = NULL;
    jang_status s = jang_model_open(dir, NULL, &m);
    if (!s) s = jang_context_init(m, &o, &c);
    CHECK_MSG(s == JANG_OK, "%s: %s", arch, jang_last_error());
    if (s) {
        jang_model_close(m);
        return;
    }
    int64_t V = jang_model_get_desc(m)->vocab_size;
    tiny_ref r;
    if (!load_ref(dir, V, &r)) {
        CHECK_MSG(0, "%s: cannot read reference", arch);
        jang_context_free(c);
        jang_model_close(m);
        return;
    }
    float *lg = malloc((size_t)(r.n * V) * sizeof(float));
    CHECK_OK(jang_context_forward(c, r.ids, r.n, 0, true, lg));
    double e = rel_err(lg, r.ref, r.n * V);
    if (getenv("JANG_TEST_VERBOSE")) printf("[%s rel err %.3g] ", arch, e);
    CHECK_MSG(e <= 1e-4, "%s (%d threads): relative error %.3g > 1e-4", arch, threads, e);
    /* the same tokens in pieces through the KV cache: 10 at once, then one by one */
    float *last = malloc((size_t)V * sizeof(float));
    CHECK_OK(jang_context_forward(c, r.ids, 10, 0, false, last));
    CHECK_MSG(rel_err(last, r.ref + 9 * V, V) <= 1e-4, "%s: chunked prefill", arch);
    for (int64_t t = 10; t < r.n; t++) {
        CHECK_OK(jang_context_forward(c, r.ids + t, 1, t, false, last));
        double et = rel_err(last, r.ref + t * V, V);
        CHECK_MSG(et <= 1e-4, "%s: decode step %lld relative error %.3g", arch, (long long)t, et);
    }
    /* bad arguments */
    int32_t bad = (int32_t)V;
    CHECK(jang_context_forward(c, &bad, 1, 0, false, last) == JANG_E_ARG);
    CHECK(jang_context_forward(c, r.ids, 1, 64, false, last) == JANG_E_ARG);
    free(last);
    free(lg);
    free(r.ref);
    jang_context_free(c);
    jang_model_close(m);
}

TEST(model_tiny_llama_matches_transformers) { check_tiny("llama", 2); }
TEST(model_tiny_llama3_rope_matches_transformers) { check_tiny("llama3rope", 1); }
TEST(model_tiny_qwen2_matches_transformers) { check_tiny("qwen2", 3); }
TEST(model_tiny_qwen3_matches_transformers) { check_tiny("qwen3", 2); }

TEST(model_open_errors) {
    jang_model *m = NULL;
    CHECK(jang_model_open("/nonexistent", NULL, &m) != JANG_OK);
    CHECK(m == NULL);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/mamba", test_data_path("configs"));
    CHECK(jang_model_open(dir, NULL, &m) != JANG_OK); /* no weights / unsupported */
}

/* Issue 12: one jang_model_open reads and parses config.json once (the description and the
 * quantized reader share the parse), counted through util's read hook. */
static void count_config_reads(const char *path, void *ctx) {
    const char *slash = strrchr(path, '/');
    if (!strcmp(slash ? slash + 1 : path, "config.json")) ++*(int *)ctx;
}

static int config_reads_of_open(const char *dir) {
    int n = 0;
    jang_model *m = NULL;
    jang_debug_on_read(count_config_reads, &n);
    jang_status s = jang_model_open(dir, NULL, &m);
    jang_debug_on_read(NULL, NULL);
    CHECK_MSG(s == JANG_OK, "%s: %s", dir, jang_last_error());
    jang_model_close(m);
    return n;
}

TEST(model_open_reads_config_once) {
    char src[600], out[700];
    snprintf(src, sizeof src, "%s/llama", test_data_path("tiny"));
    int n = config_reads_of_open(src);
    CHECK_MSG(n == 1, "safetensors directory: config.json read %d times", n);
    snprintf(out, sizeof out, "%s/config_once_q4", test_tmpdir());
    jang_convert_opts o;
    jang_convert_opts_init(&o);
    o.alloc.recipe = JANG_RECIPE_UNIFORM;
    o.alloc.bits = 4;
    o.alloc.group = 32;
    jang_converter *cv = NULL;
    jang_status s = jang_converter_open(src, &o, &cv);
    if (!s) s = jang_converter_write(cv, out);
    jang_converter_close(cv);
    REQUIRE_OK(s);
    n = config_reads_of_open(out);
    CHECK_MSG(n == 1, "quantized directory: config.json read %d times", n);
}
