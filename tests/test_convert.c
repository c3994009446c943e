/* test_convert.c — `jang convert` and what it is built from:
 *   - the source reader (GGUF rows read one range at a time, llama.cpp's Q/K permutation undone
 *     per row, equal the whole tensor dequantized and unpermuted);
 *   - the target-bpw solver on synthetic errors (never above the target, within 1%, the reachable
 *     range, external sensitivities) and its plan size against the written directory's;
 *   - conversions of the tiny HF models (tests/data/tiny) and tiny GGUFs (tests/data/models) with
 *     several profiles, recipes and targets: every output passes jang_dir_validate and
 *     `jang validate`, runs in the runtime, and its logits are close to the source's (8 bits:
 *     tight; 4 bits: sane); GGUF outputs carry a config.json and tokenizer.json our runtime
 *     reads back to the same description and the same token ids;
 *   - the CLI: refusals (existing output, output inside the source, the source itself), --force,
 *     --dry-run, a NaN in the source, interruption, bad arguments (exit 2).
 */
#include "../src/model/source.h"
#include "test.h"
#include "util.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <utf8proc.h>

/* ---- helpers ------------------------------------------------------------------------------- */

#define CHECK_HAS(hay, needle)                                                                     \
    CHECK_MSG(strstr((hay), (needle)) != NULL, "output lacks \"%s\":\n%.3000s", (needle), (hay))

static bool path_exists(const char *p) {
    struct stat sb;
    return lstat(p, &sb) == 0;
}

/* Whether dir holds an entry whose name starts with prefix (a left-over temporary directory). */
static bool has_entry_prefix(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    if (!d) return false;
    bool found = false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (!strncmp(e->d_name, prefix, strlen(prefix))) found = true;
    closedir(d);
    return found;
}

static const char *tiny_dir(const char *name) {
    static char buf[600];
    snprintf(buf, sizeof buf, "%s/%s", test_data_path("tiny"), name);
    return buf;
}

static const char *tiny_gguf(const char *name) {
    static char buf[600];
    snprintf(buf, sizeof buf, "%s/tiny-%s.gguf", test_data_path("models"), name);
    return buf;
}

static const int32_t prompt_ids[16] = {1, 17, 63, 45, 3, 9, 28, 55, 7, 60, 60, 12, 40, 33, 2, 50};

/* Logits of all 16 prompt positions (ids taken modulo the vocabulary); NULL on failure. */
static float *logits_of(const char *path, int64_t *vocab) {
    jang_model *m = NULL;
    jang_context *c = NULL;
    jang_context_opts o;
    jang_context_opts_init(&o);
    o.n_threads = 2;
    o.max_ctx = 32;
    if (jang_model_open(path, NULL, &m) != JANG_OK || jang_context_init(m, &o, &c) != JANG_OK) {
        jang_model_close(m);
        fprintf(stdout, "    %s: %s\n", path, jang_last_error());
        return NULL;
    }
    int64_t V = jang_model_get_desc(m)->vocab_size;
    int32_t ids[16];
    for (int i = 0; i < 16; i++)
        ids[i] = (int32_t)(prompt_ids[i] % V);
    float *l = malloc((size_t)(16 * V) * sizeof(float));
    if (jang_context_forward(c, ids, 16, 0, true, l) != JANG_OK) {
        fprintf(stdout, "    forward %s: %s\n", path, jang_last_error());
        free(l);
        l = NULL;
    }
    jang_context_free(c);
    jang_model_close(m);
    *vocab = V;
    return l;
}

typedef struct {
    double rel_rms; /* ||a - b|| / ||a|| over all logits */
    double top1;    /* share of positions with the same argmax */
} logit_cmp;

static bool compare_logits(const char *ref, const char *cand, logit_cmp *out) {
    int64_t V1 = 0, V2 = 0;
    float *a = logits_of(ref, &V1), *b = logits_of(cand, &V2);
    bool ok = a && b && V1 == V2;
    if (ok) {
        double d2 = 0, a2 = 0;
        int same = 0;
        for (int p = 0; p < 16; p++) {
            const float *x = a + p * V1, *y = b + p * V1;
            int64_t ix = 0, iy = 0;
            for (int64_t i = 0; i < V1; i++) {
                d2 += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
                a2 += (double)x[i] * x[i];
                ok = ok && isfinite(x[i]) && isfinite(y[i]);
                if (x[i] > x[ix]) ix = i;
                if (y[i] > y[iy]) iy = i;
            }
            same += ix == iy;
        }
        out->rel_rms = sqrt(d2 / (a2 > 0 ? a2 : 1));
        out->top1 = same / 16.0;
    }
    free(a);
    free(b);
    return ok;
}

/* Converts src to out with the library; returns the status. */
static jang_status convert_lib(const char *src, const char *out, const jang_convert_opts *o,
                               jang_convert_summary *sum) {
    jang_converter *c = NULL;
    jang_status s = jang_converter_open(src, o, &c);
    if (s == JANG_OK) {
        if (sum) jang_converter_summary(c, sum);
        s = jang_converter_write(c, out);
    }
    jang_converter_close(c);
    return s;
}

/* jang_dir_validate passes; the stored true bpw equals the converter's. */
static void check_valid(const char *dir, const jang_convert_summary *sum) {
    static jang_validate_report rep;
    jang_status s = jang_dir_validate(dir, &rep);
    CHECK_MSG(s == JANG_OK, "%s: validate -> %s: %s", dir, jang_status_str(s), jang_last_error());
    for (int c = 0; c < JANG_CHECK_COUNT; c++)
        for (int k = 0; k < rep.checks[c].n_msgs; k++)
            fprintf(stdout, "    %s: %s\n", jang_check_name((jang_check_id)c),
                    rep.checks[c].msgs[k]);
    jang_qmodel *m = NULL;
    if (jang_qmodel_open(dir, &m) == JANG_OK && sum) {
        jang_qmodel_stats st;
        jang_qmodel_get_stats(m, &st);
        CHECK_EQ_INT(st.bytes, sum->bytes);
        CHECK_EQ_INT(st.n_params, sum->n_params);
        CHECK_MSG(fabs(st.true_bpw - sum->true_bpw) < 1e-9, "true bpw %.6f vs %.6f", st.true_bpw,
                  sum->true_bpw);
    }
    jang_qmodel_close(m);
}

/* ---- source reader ------------------------------------------------------------------------- */

TEST(convert_source_gguf_rows_match_whole_tensor) {
    jang_source *s = NULL;
    REQUIRE_OK(jang_source_open(tiny_gguf("llama"), &s));
    const jang_model_desc *d = jang_source_desc(s);
    REQUIRE(d);
    int checked = 0, permuted = 0;
    for (int64_t i = 0; i < jang_source_count(s); i++) {
        const jang_src_tensor *t = jang_source_at(s, i);
        const jang_gguf_tensor *g = jang_gguf_find_tensor(jang_source_gguf(s), t->file_name);
        REQUIRE(g);
        float *whole = malloc((size_t)t->n_elements * sizeof(float));
        float *rows = malloc((size_t)t->n_elements * sizeof(float));
        REQUIRE_OK(jang_gguf_dequantize(g, whole));
        if (t->fix == JANG_GGUF_FIX_UNPERMUTE_Q || t->fix == JANG_GGUF_FIX_UNPERMUTE_K) {
            int64_t h = t->fix == JANG_GGUF_FIX_UNPERMUTE_Q ? d->n_heads : d->n_kv_heads;
            REQUIRE_OK(jang_unpermute_rows(whole, t->rows, t->n_dims == 2 ? t->cols : 1, h));
            permuted++;
        }
        /* rows in uneven ranges: 1, 2, 3, ... */
        for (int64_t r = 0, k = 1; r < t->rows; r += k, k++) {
            int64_t n = t->rows - r < k ? t->rows - r : k;
            CHECK_OK(jang_source_read(s, t, r, n, rows + r * t->cols));
        }
        CHECK_MSG(!memcmp(whole, rows, (size_t)t->n_elements * sizeof(float)),
                  "%s: rows differ from the whole tensor", t->name);
        checked++;
        free(whole);
        free(rows);
    }
    CHECK(checked > 10);
    CHECK_EQ_INT(permuted, 4); /* q and k of 2 layers */
    CHECK(jang_source_find(s, "model.layers.1.self_attn.k_proj.weight") != NULL);
    CHECK(jang_source_find(s, "blk.1.attn_k.weight") == NULL);
    const jang_src_tensor *t = jang_source_at(s, 0);
    float x[64];
    CHECK(jang_source_read(s, t, t->rows, 1, x) == JANG_E_ARG);
    jang_source_close(s);
}

/* ---- the budget solver on synthetic errors ------------------------------------------------- */

typedef struct {
    jang_alloc_tensor t[7];
    jang_plan *base;
    double err[7 * JANG_BUDGET_MAX_OPTIONS];
    jang_alloc_model m;
} synth;

static void synth_init(synth *S) {
    memset(S, 0, sizeof *S);
    static const struct {
        const char *name;
        int64_t r, c;
        double scale;
    } spec[7] = {
        {"model.embed_tokens.weight", 1024, 64, 1.0},
        {"model.layers.0.self_attn.q_proj.weight", 256, 256, 0.5},
        {"model.layers.0.mlp.up_proj.weight", 512, 256, 2.0},
        {"model.layers.0.mlp.down_proj.weight", 256, 512, 3.0},
        {"model.layers.1.self_attn.k_proj.weight", 64, 256, 0.3},
        {"model.layers.1.mlp.gate_proj.weight", 512, 96, 1.5}, /* 96: groups 32 only */
        {"model.norm.weight", 256, 0, 0},
    };
    S->base = jang_plan_new(7);
    for (int i = 0; i < 7; i++) {
        jang_alloc_tensor *t = &S->t[i];
        t->name = spec[i].name;
        t->dtype = JANG_DT_F16;
        t->n_dims = spec[i].c ? 2 : 1;
        t->shape[0] = spec[i].r;
        t->shape[1] = spec[i].c;
        jang_alloc_entry *e = &S->base->entries[i];
        e->action = spec[i].c ? JANG_ALLOC_QUANT : JANG_ALLOC_KEEP;
        e->bits = 4, e->group = 32;
        e->keep_dtype = JANG_DT_F16;
        for (int k = 0; k < jang_budget_n_options(); k++) {
            int b, g;
            jang_budget_option(k, &b, &g);
            double e2 = spec[i].c && spec[i].c % g == 0
                            ? spec[i].scale * pow(4.0, -b) * (1.0 + g / 64.0)
                            : NAN;
            S->err[i * JANG_BUDGET_MAX_OPTIONS + k] = e2;
        }
    }
    S->m.n_layers = 2;
}

static double weighted_error(const synth *S, const jang_plan *p, const double *w) {
    double tot = 0;
    for (int i = 0; i < 7; i++) {
        if (p->entries[i].action != JANG_ALLOC_QUANT) continue;
        for (int k = 0; k < jang_budget_n_options(); k++) {
            int b, g;
            jang_budget_option(k, &b, &g);
            if (b == p->entries[i].bits && g == p->entries[i].group)
                tot += (w ? w[i] : 1) * S->err[i * JANG_BUDGET_MAX_OPTIONS + k];
        }
    }
    return tot;
}

TEST(convert_budget_solver_hits_target) {
    synth S;
    synth_init(&S);
    double lo, hi;
    REQUIRE_OK(jang_budget_bounds(S.t, 7, S.base, &lo, &hi));
    CHECK(lo > 2.25 && lo < 2.5); /* 2 bits g128 (g32 for the 96-wide) + a float16 norm */
    CHECK(hi > 9.0 && hi < 9.1);
    jang_budget_opts o;
    jang_budget_opts_init(&o);
    o.priors = false;
    double prev = INFINITY;
    for (double X = 2.5; X <= 9.0; X += 0.25) {
        o.target_bpw = X;
        jang_plan *p = NULL;
        REQUIRE_OK(jang_budget_solve(S.t, 7, &S.m, S.base, S.err, &o, &p));
        uint64_t bytes;
        int64_t params;
        jang_plan_size(S.t, 7, p, &bytes, &params);
        double bpw = (double)bytes * 8.0 / (double)params;
        CHECK_MSG(bpw <= X && bpw >= 0.99 * X, "target %.2f: true bpw %.4f", X, bpw);
        CHECK_EQ_INT(p->recipe, JANG_RECIPE_TARGET_BPW);
        CHECK_EQ_INT(p->entries[6].action, JANG_ALLOC_KEEP);
        double e = weighted_error(&S, p, NULL);
        CHECK_MSG(e <= prev * (1 + 1e-12),
                  "target %.2f: error %.4g above the smaller budget's %.4g", X, e, prev);
        prev = e;
        jang_plan_free(p);
    }
    /* out of reach: a clear error naming the range */
    o.target_bpw = 2.0;
    jang_plan *p = NULL;
    CHECK(jang_budget_solve(S.t, 7, &S.m, S.base, S.err, &o, &p) == JANG_E_ARG);
    CHECK_HAS(jang_last_error(), "below the minimum achievable");
    o.target_bpw = 12;
    CHECK(jang_budget_solve(S.t, 7, &S.m, S.base, S.err, &o, &p) == JANG_E_ARG);
    CHECK_HAS(jang_last_error(), "above the maximum achievable");
    CHECK(p == NULL);
    jang_plan_free(S.base);
}

TEST(convert_budget_solver_takes_sensitivities) {
    synth S;
    synth_init(&S);
    jang_budget_opts o;
    jang_budget_opts_init(&o);
    o.priors = false;
    o.target_bpw = 4.0;
    jang_plan *a = NULL, *b = NULL;
    REQUIRE_OK(jang_budget_solve(S.t, 7, &S.m, S.base, S.err, &o, &a));
    /* the down_proj declared 1000x as sensitive gets more bits, the others pay */
    double w[7] = {1, 1, 1, 1000, 1, 1, 1};
    S.t[3].sensitivity = 1000;
    for (int i = 0; i < 7; i++)
        if (i != 3) S.t[i].sensitivity = 1;
    REQUIRE_OK(jang_budget_solve(S.t, 7, &S.m, S.base, S.err, &o, &b));
    CHECK_MSG(b->entries[3].bits > a->entries[3].bits, "down_proj: %d bits, without %d",
              b->entries[3].bits, a->entries[3].bits);
    CHECK(weighted_error(&S, b, w) <= weighted_error(&S, a, w));
    jang_plan_free(a);
    jang_plan_free(b);
    jang_plan_free(S.base);
}

/* A big tensor (a quarter of the weights, like SmolLM2's tied embedding) beside others that
 * reach their error floor early (what a GGUF source does: 4-bit g32 reproduces a Q4_1 tensor
 * exactly): the budget must still be used within 1%, by trading bits. */
TEST(convert_budget_solver_trades_for_a_big_tensor) {
    enum { N = 12 };
    jang_alloc_tensor t[N];
    double err[N * JANG_BUDGET_MAX_OPTIONS];
    char names[N][64];
    memset(t, 0, sizeof t);
    jang_plan *base = jang_plan_new(N);
    REQUIRE(base);
    for (int i = 0; i < N; i++) {
        bool big = i == 0;
        snprintf(names[i], sizeof names[i],
                 big ? "model.embed_tokens.weight" : "model.layers.%d.mlp.up_proj.weight", i);
        t[i].name = names[i];
        t[i].dtype = JANG_DT_F16;
        t[i].n_dims = 2;
        t[i].shape[0] = big ? 8192 : 2048;
        t[i].shape[1] = 128;
        base->entries[i].action = JANG_ALLOC_QUANT;
        base->entries[i].bits = 4, base->entries[i].group = 64;
        for (int k = 0; k < jang_budget_n_options(); k++) {
            int b, g;
            jang_budget_option(k, &b, &g);
            double e = pow(4.0, -b) * (1.0 + g / 64.0);
            if (!big && b >= 4 && g == 32) e = 1e-9; /* exact from here on */
            err[i * JANG_BUDGET_MAX_OPTIONS + k] = e;
        }
    }
    jang_alloc_model m;
    memset(&m, 0, sizeof m);
    m.n_layers = N;
    jang_budget_opts o;
    jang_budget_opts_init(&o);
    o.priors = false;
    for (double X = 2.5; X <= 9.0; X += 0.1) {
        o.target_bpw = X;
        jang_plan *p = NULL;
        REQUIRE_OK(jang_budget_solve(t, N, &m, base, err, &o, &p));
        uint64_t bytes;
        int64_t params;
        jang_plan_size(t, N, p, &bytes, &params);
        double bpw = (double)bytes * 8.0 / (double)params;
        CHECK_MSG(bpw <= X && bpw >= 0.99 * X, "target %.2f: true bpw %.4f", X, bpw);
        jang_plan_free(p);
    }
    jang_plan_free(base);
}

/* ---- conversions ---------------------------------------------------------------------------- */

typedef struct {
    const char *label;
    void (*set)(jang_convert_opts *o);
    double max_rel; /* logits: ||diff|| / ||logits|| */
    double min_top1;
} variant;

static void v_uniform8(jang_convert_opts *o) {
    o->alloc.recipe = JANG_RECIPE_UNIFORM;
    o->alloc.bits = 8;
    o->alloc.group = 32;
}
static void v_uniform4(jang_convert_opts *o) {
    o->alloc.recipe = JANG_RECIPE_UNIFORM;
    o->alloc.bits = 4;
    o->method = JANG_AFFINE_RTN;
}
static void v_jang4k(jang_convert_opts *o) {
    jang_profile_parse("JANG_4K", &o->alloc.profile);
    o->alloc.recipe = JANG_RECIPE_JANG;
}
static void v_jang6m(jang_convert_opts *o) {
    jang_profile_parse("JANG_6M", &o->alloc.profile);
    o->alloc.recipe = JANG_RECIPE_JANG;
}
static void v_mixed36(jang_convert_opts *o) { o->alloc.recipe = JANG_RECIPE_MIXED_3_6; }
static double g_target; /* per source: the tiny GGUFs keep 48-wide tensors in float16 */
static void v_target(jang_convert_opts *o) { o->target_bpw = g_target; }

/* Bounds from the tiny random-weight models, which amplify weight noise (8 bits moves their
 * logits by 1.5-2.6% rms): 8 bits tight, 6 bits close, 3-4 bits sane (finite, same scale). */
static const variant variants[] = {
    {"uniform 8-bit g32", v_uniform8, 0.04, 0.9},
    {"uniform 4-bit rtn", v_uniform4, 0.8, 0},
    {"JANG_4K", v_jang4k, 0.8, 0},
    {"JANG_6M", v_jang6m, 0.2, 0.75},
    {"mixed_3_6", v_mixed36, 0.8, 0},
    {"target bpw", v_target, 0.8, 0},
};

static void convert_and_compare(const char *src, const char *tag) {
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        char out[700];
        snprintf(out, sizeof out, "%s/%s-%zu", test_tmpdir(), tag, v);
        jang_convert_opts o;
        jang_convert_opts_init(&o);
        o.n_threads = 2;
        variants[v].set(&o);
        jang_convert_summary sum;
        jang_status s = convert_lib(src, out, &o, &sum);
        CHECK_MSG(s == JANG_OK, "%s %s: %s: %s", tag, variants[v].label, jang_status_str(s),
                  jang_last_error());
        if (s) continue;
        check_valid(out, &sum);
        logit_cmp lc = {0};
        CHECK_MSG(compare_logits(src, out, &lc), "%s %s: runtime failed", tag, variants[v].label);
        fprintf(stdout, "    %-10s %-18s %.3f bpw  logits rel rms diff %.4f  top-1 %.0f%%\n", tag,
                variants[v].label, sum.true_bpw, lc.rel_rms, 100 * lc.top1);
        CHECK_MSG(lc.rel_rms <= variants[v].max_rel && lc.top1 >= variants[v].min_top1,
                  "%s %s: logits too far (%.4f, top-1 %.2f)", tag, variants[v].label, lc.rel_rms,
                  lc.top1);
        if (sum.target_bpw > 0)
            CHECK_MSG(sum.true_bpw <= sum.target_bpw && sum.true_bpw >= 0.99 * sum.target_bpw,
                      "%s: true bpw %.4f for target %.4f", tag, sum.true_bpw, sum.target_bpw);
    }
}

TEST(convert_hf_tiny_models) {
    static const char *const models[] = {"llama", "qwen2", "qwen3", "llama3rope"};
    g_target = 5.0;
    for (size_t i = 0; i < 4; i++)
        convert_and_compare(tiny_dir(models[i]), models[i]);
}

TEST(convert_gguf_tiny_models) {
    static const char *const models[] = {"llama", "qwen2", "qwen3"};
    g_target = 7.0;
    for (size_t i = 0; i < 3; i++) {
        char tag[32];
        snprintf(tag, sizeof tag, "gguf-%s", models[i]);
        convert_and_compare(tiny_gguf(models[i]), tag);
    }
}

/* A converted GGUF carries a config.json that gives the same description. */
TEST(convert_gguf_exports_config) {
    static const char *const models[] = {"llama", "qwen2", "qwen3"};
    for (size_t i = 0; i < 3; i++) {
        char out[700], tj[800];
        snprintf(out, sizeof out, "%s/exp-%s", test_tmpdir(), models[i]);
        jang_convert_opts o;
        jang_convert_opts_init(&o);
        v_uniform8(&o);
        REQUIRE_OK(convert_lib(tiny_gguf(models[i]), out, &o, NULL));
        snprintf(tj, sizeof tj, "%s/tokenizer.json", out);
        CHECK(path_exists(tj));
        jang_gguf *g = NULL;
        jang_model_desc a, b;
        REQUIRE_OK(jang_gguf_open(tiny_gguf(models[i]), &g));
        REQUIRE_OK(jang_desc_from_gguf(g, &a));
        REQUIRE_OK(jang_desc_from_hf_config(out, &b));
        CHECK_EQ_INT(a.arch, b.arch);
        CHECK_EQ_INT(a.n_layers, b.n_layers);
        CHECK_EQ_INT(a.dim, b.dim);
        CHECK_EQ_INT(a.ffn_dim, b.ffn_dim);
        CHECK_EQ_INT(a.n_heads, b.n_heads);
        CHECK_EQ_INT(a.n_kv_heads, b.n_kv_heads);
        CHECK_EQ_INT(a.head_dim, b.head_dim);
        CHECK_EQ_INT(a.vocab_size, b.vocab_size);
        CHECK_EQ_INT(a.max_seq_len, b.max_seq_len);
        CHECK_EQ_INT(a.tied_embeddings, b.tied_embeddings);
        CHECK_EQ_INT(a.attn_bias, b.attn_bias);
        CHECK_EQ_INT(a.qk_norm, b.qk_norm);
        CHECK_EQ_INT(a.bos_token_id, b.bos_token_id);
        CHECK_EQ_INT(a.eos_token_id, b.eos_token_id);
        CHECK_EQ_INT(a.rope_scaling, b.rope_scaling);
        CHECK_EQ_INT(a.rope_orig_ctx, b.rope_orig_ctx);
        CHECK((float)a.rope_factor == (float)b.rope_factor);
        CHECK((float)a.rope_beta_fast == (float)b.rope_beta_fast);
        CHECK((float)a.rope_beta_slow == (float)b.rope_beta_slow);
        CHECK((float)a.rope_theta == (float)b.rope_theta);
        CHECK((float)a.norm_eps == (float)b.norm_eps);
        jang_gguf_close(g);
    }
}

/* tokenizer.json + tokenizer_config.json written from a real GGUF (skipped when
 * scripts/fetch-models has not run): our runtime reads them back to the same ids as the GGUF
 * tokenizer on the tokenizer sample texts, with the same special tokens and chat template.
 * (tools/check_tokenizer_export.py checks the same files with Hugging Face tokenizers.) */
static void tokenizer_roundtrip(const char *file) {
    const char *dir = getenv("JANG_MODELS_DIR");
    char path[1024], out[800], p[900];
    if (dir)
        snprintf(path, sizeof path, "%s/%s", dir, file);
    else
        snprintf(path, sizeof path, "%s/.cache/jang/models/%s",
                 getenv("HOME") ? getenv("HOME") : "", file);
    if (!path_exists(path)) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s not found (scripts/fetch-models)", path);
        test_skip(msg);
        return;
    }
    jang_gguf *g = NULL;
    REQUIRE_OK(jang_gguf_open(path, &g));
    char *tj = NULL, *tc = NULL;
    REQUIRE_OK(jang_tokenizer_export_hf(g, &tj, &tc));
    snprintf(out, sizeof out, "%s/tok-%s", test_tmpdir(), file);
    REQUIRE(mkdir(out, 0777) == 0);
    const char *names[2] = {"tokenizer.json", "tokenizer_config.json"};
    const char *texts[2] = {tj, tc};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", out, names[i]);
        FILE *f = fopen(p, "wb");
        REQUIRE(f);
        fwrite(texts[i], 1, strlen(texts[i]), f);
        fclose(f);
    }
    free(tj);
    free(tc);
    jang_tokenizer *tg = NULL, *th = NULL;
    REQUIRE_OK(jang_tokenizer_from_gguf(g, &tg));
    REQUIRE_OK(jang_tokenizer_from_hf(out, &th));
    CHECK_EQ_INT(jang_tokenizer_n_vocab(tg), jang_tokenizer_n_vocab(th));
    CHECK_EQ_INT(jang_tokenizer_bos(tg), jang_tokenizer_bos(th));
    CHECK_EQ_INT(jang_tokenizer_eos(tg), jang_tokenizer_eos(th));
    CHECK_EQ_INT(jang_tokenizer_eot(tg), jang_tokenizer_eot(th));
    CHECK_EQ_INT(jang_tokenizer_adds_bos(tg), jang_tokenizer_adds_bos(th));
    CHECK_STR(jang_tokenizer_chat_template(tg), jang_tokenizer_chat_template(th));
    char *sample = NULL;
    size_t len = 0;
    REQUIRE_OK(jang_read_file(test_data_path("tokenizer/sample.json"), 1 << 20, &sample, &len));
    json_t *arr = json_loads(sample, 0, NULL);
    free(sample);
    REQUIRE(json_is_array(arr));
    json_array_append_new(arr, json_string("<|im_start|>user\nHi there<|im_end|>\n<|im_start|>"));
    int64_t n_ids = 0, mismatches = 0;
    for (size_t k = 0; k < json_array_size(arr); k++) {
        /* tokenizer.json normalizes to NFC for the qwen2 family, as Qwen's own does; llama.cpp
         * does not: they agree on NFC text */
        uint8_t *nfc = utf8proc_NFC((const uint8_t *)json_string_value(json_array_get(arr, k)));
        REQUIRE(nfc);
        const char *text = (const char *)nfc;
        size_t tl = strlen(text);
        int32_t *x = NULL, *y = NULL;
        int64_t nx = 0, ny = 0;
        unsigned fl = JANG_ENCODE_ADD_SPECIAL | JANG_ENCODE_PARSE_SPECIAL;
        CHECK_OK(jang_tokenizer_encode(tg, text, tl, fl, &x, &nx));
        CHECK_OK(jang_tokenizer_encode(th, text, tl, fl, &y, &ny));
        bool same = nx == ny && (nx == 0 || !memcmp(x, y, (size_t)nx * sizeof *x));
        CHECK_MSG(same, "%s: text %zu: %lld ids from the GGUF, %lld from tokenizer.json", file, k,
                  (long long)nx, (long long)ny);
        mismatches += !same;
        n_ids += nx;
        free(x);
        free(y);
        free(nfc);
    }
    fprintf(stdout, "    %s: %zu texts, %lld ids, %lld mismatches\n", file, json_array_size(arr),
            (long long)n_ids, (long long)mismatches);
    json_decref(arr);
    jang_tokenizer_free(tg);
    jang_tokenizer_free(th);
    jang_gguf_close(g);
}

TEST(convert_tokenizer_export_smollm2) { tokenizer_roundtrip("smollm2-135m-instruct-q4_1.gguf"); }

TEST(convert_tokenizer_export_qwen25) {
    tokenizer_roundtrip("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
}

TEST(convert_target_bpw_out_of_reach) {
    jang_convert_opts o;
    jang_convert_opts_init(&o);
    o.target_bpw = 2.5; /* the tiny GGUF keeps its 48-wide down_proj in float16 */
    jang_converter *c = NULL;
    CHECK(jang_converter_open(tiny_gguf("llama"), &o, &c) == JANG_E_ARG);
    CHECK_HAS(jang_last_error(), "below the minimum achievable");
    CHECK(c == NULL);
}

/* An interruption (the cancel flag set from the progress callback) leaves nothing behind. */
static volatile int g_cancel;

static void cancel_after_two(void *ctx, const jang_convert_progress *p) {
    (void)ctx;
    if (p->phase == JANG_CONVERT_WRITE && p->done >= 2) g_cancel = 1;
}

TEST(convert_cancel_leaves_nothing) {
    char out[700];
    snprintf(out, sizeof out, "%s/cancelled", test_tmpdir());
    jang_convert_opts o;
    jang_convert_opts_init(&o);
    v_uniform4(&o);
    g_cancel = 0;
    o.cancel = &g_cancel;
    o.progress = cancel_after_two;
    CHECK(convert_lib(tiny_dir("llama"), out, &o, NULL) == JANG_E_CANCELED);
    CHECK(!path_exists(out));
    CHECK(!has_entry_prefix(test_tmpdir(), "cancelled.tmp-"));
}

/* A NaN in the source: a clear error naming the tensor; no output, no temporary directory. */
TEST(convert_nan_source) {
    char src[700], out[700], args[2200];
    snprintf(src, sizeof src, "%s/nan-src", test_tmpdir());
    snprintf(out, sizeof out, "%s/nan-out", test_tmpdir());
    REQUIRE(mkdir(src, 0777) == 0);
    jang_st *st = NULL;
    REQUIRE_OK(jang_st_open(tiny_dir("llama"), &st));
    char path[800], cmd[2000];
    snprintf(cmd, sizeof cmd, "cp '%s/config.json' '%s/'", tiny_dir("llama"), src);
    REQUIRE(system(cmd) == 0);
    snprintf(path, sizeof path, "%s/model.safetensors", src);
    jang_st_writer *w = NULL;
    REQUIRE_OK(jang_st_writer_open(path, &w));
    for (int64_t i = 0; i < jang_st_count(st); i++) {
        const jang_tensor *t = jang_st_get(st, i);
        REQUIRE_OK(jang_st_writer_declare(w, t->name, t->dtype, t->n_dims, t->shape));
    }
    for (int64_t i = 0; i < jang_st_count(st); i++) {
        const jang_tensor *t = jang_st_get(st, i);
        float *f = malloc(t->n_bytes);
        memcpy(f, t->data, t->n_bytes);
        if (!strcmp(t->name, "model.layers.1.mlp.up_proj.weight")) f[5 * t->shape[1] + 7] = NAN;
        REQUIRE_OK(jang_st_writer_write(w, f, t->n_bytes));
        free(f);
    }
    REQUIRE_OK(jang_st_writer_finish(w));
    jang_st_close(st);
    static run_result r;
    snprintf(args, sizeof args, "convert %s -o %s --bits 4", src, out);
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "model.layers.1.mlp.up_proj.weight");
    CHECK_HAS(r.err, "row 5, column 7");
    CHECK(!path_exists(out));
    CHECK(!has_entry_prefix(test_tmpdir(), "nan-out.tmp-"));
    /* the target-bpw allocator meets it while measuring */
    snprintf(args, sizeof args, "convert %s -o %s --target-bpw 5 --sample-rows 1000", src, out);
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "model.layers.1.mlp.up_proj.weight");
    CHECK(!path_exists(out));
}

/* ---- the CLI -------------------------------------------------------------------------------- */

TEST(convert_cli_writes_validates_and_refuses) {
    static run_result r;
    char out[700], args[2400];
    snprintf(out, sizeof out, "%s/cli-out", test_tmpdir());
    /* --dry-run writes nothing and prints the table and the size */
    snprintf(args, sizeof args, "convert %s -o %s --dry-run -p JANG_3M", tiny_gguf("qwen2"), out);
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.out, "model.layers.0.self_attn.q_proj ");
    CHECK_HAS(r.out, "true bpw");
    CHECK_HAS(r.out, "JANG bits");
    CHECK(!path_exists(out));
    /* the default allocation writes a valid directory */
    snprintf(args, sizeof args, "convert %s -o %s", tiny_dir("qwen3"), out);
    REQUIRE(run_jang(args, &r));
    CHECK_MSG(r.status == 0, "exit %d: %s", r.status, r.err);
    CHECK_HAS(r.out, "target 4.5 bpw");
    CHECK_HAS(r.out, "MB/s of source");
    snprintf(args, sizeof args, "validate %s", out);
    REQUIRE(run_jang(args, &r));
    CHECK_MSG(r.status == 0, "validate: %s", r.out);
    /* an existing output is refused, --force replaces it */
    snprintf(args, sizeof args, "convert %s -o %s --bits 8", tiny_dir("qwen3"), out);
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "already exists");
    snprintf(args, sizeof args, "convert %s -o %s --bits 8 --force", tiny_dir("qwen3"), out);
    REQUIRE(run_jang(args, &r));
    CHECK_MSG(r.status == 0, "exit %d: %s", r.status, r.err);
    CHECK_HAS(r.out, "uniform 8-bit g64");
    /* --shard-size splits the output; still valid */
    snprintf(args, sizeof args, "convert %s -o %s --bits 8 --force --shard-size 20K",
             tiny_dir("qwen3"), out);
    REQUIRE(run_jang(args, &r));
    CHECK_MSG(r.status == 0, "exit %d: %s", r.status, r.err);
    CHECK_MSG(has_entry_prefix(out, "model-00002-of-"), "%s: a single shard", out);
    snprintf(args, sizeof args, "validate %s", out);
    REQUIRE(run_jang(args, &r));
    CHECK_MSG(r.status == 0, "validate: %s", r.out);
    /* never into the source */
    char inside[800];
    snprintf(inside, sizeof inside, "%s/out", out);
    snprintf(args, sizeof args, "convert %s -o %s --bits 8", out, out);
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 1);
    snprintf(args, sizeof args, "convert %s -o %s --bits 4", tiny_dir("qwen3"), tiny_dir("qwen3"));
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "the output is the source");
    snprintf(args, sizeof args, "convert %s -o %s/sub --bits 4 --force", tiny_dir("qwen3"),
             tiny_dir("qwen3"));
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "inside the source");
    char sub[800];
    snprintf(sub, sizeof sub, "%s/sub", tiny_dir("qwen3"));
    CHECK(!path_exists(sub));
    /* the source inside the output (a --force would delete it) */
    snprintf(args, sizeof args, "convert %s -o %s --bits 4 --force", tiny_dir("qwen3"),
             test_data_path("tiny"));
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "lies inside the output");
    CHECK(path_exists(tiny_dir("qwen3")));
}

TEST(convert_cli_bad_arguments) {
    static run_result r;
    char args[1600];
    static const struct {
        const char *args, *msg;
    } bad[] = {
        {"convert", "SRC is required"},
        {"convert @", "-o OUT is required"},
        {"convert @ -o x -p JANG_4K --bits 4", "at most one of"},
        {"convert @ -o x --bits 7", "--bits must be"},
        {"convert @ -o x --bits 4 --group-size 48", "--group-size must be"},
        {"convert @ -o x --group-size 64", "--group-size goes with"},
        {"convert @ -o x --recipe mixed_5_6", "unknown recipe"},
        {"convert @ -o x -p JANG_9Z", "unknown profile"},
        {"convert @ -o x --method best", "--method must be"},
        {"convert @ -o x --target-bpw abc", "--target-bpw expects"},
        {"convert @ -o x --shard-size -5", "--shard-size expects"},
        {"convert @ -o x --frobnicate", "unknown option '--frobnicate'"},
        {"convert @ @ -o x", "more than one SRC"},
        {"convert @ -o", "-o needs a value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* "@" stands for the source */
        size_t o = 0;
        for (const char *q = bad[i].args; *q && o + 700 < sizeof args; q++)
            o += *q == '@' ? (size_t)snprintf(args + o, sizeof args - o, "%s", tiny_dir("llama"))
                           : (size_t)snprintf(args + o, sizeof args - o, "%c", *q);
        REQUIRE(run_jang(args, &r));
        CHECK_MSG(r.status == 2, "'%s': exit %d", args, r.status);
        CHECK_HAS(r.err, bad[i].msg);
    }
    REQUIRE(run_jang("convert --help", &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.out, "--target-bpw");
    /* failures (not usage) exit 1 */
    REQUIRE(run_jang("convert /nonexistent/model.gguf -o /tmp/x", &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "/nonexistent/model.gguf");
    snprintf(args, sizeof args, "convert %s -o x --dry-run --target-bpw 2.5", tiny_gguf("llama"));
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "below the minimum achievable");
}
