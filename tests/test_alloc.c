/* test_alloc.c — allocation plans (src/quant/{tiers,profiles,allocate}.c) against jang 2.5.x and
 * mlx-lm themselves. Goldens in tests/data/alloc by tools/gen_alloc_goldens.py: profiles.tsv
 * (jang's
 * `-p` parsing), tiers.tsv (classify_tensor and the MoE floors on names of many families), and per
 * model <m>/ (config.json, names.tsv, meta.json with jang's architecture detection and the runs,
 * one <run>.tsv per jang profile / mlx-lm recipe: run-length rows `count action bits group tier
 * keep-dtype` in names.tsv order). Every tensor of every run must match; the first mismatches are
 * printed.
 */
#include "test.h"

#include "../src/quant/alloc.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>

/* Reads a text file from tests/data (NULL when absent). */
static char *slurp(const char *rel) {
    FILE *f = fopen(test_data_path(rel), "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

/* Splits s in place at '\t'; returns the number of fields (at most max). */
static int split_tabs(char *s, char **f, int max) {
    int n = 0;
    while (n < max) {
        f[n++] = s;
        char *t = strchr(s, '\t');
        if (!t) break;
        *t = 0;
        s = t + 1;
    }
    return n;
}

/* "[name]" -> name (in place). */
static char *unbracket(char *s) {
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s[n - 1] = 0;
        return s + 1;
    }
    return s;
}

TEST(alloc_profiles_match_jang_cli) {
    char *text = slurp("alloc/profiles.tsv");
    REQUIRE(text);
    int rows = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "# fixed: ", 9) || !strncmp(line, "# k: ", 5)) {
            /* the tables themselves: "NAME=c/i/p ..." and "NAME=target ..." */
            bool fixed = line[2] == 'f';
            char *save = NULL;
            for (char *w = strtok_r(strchr(line, ':') + 2, " ", &save); w;
                 w = strtok_r(NULL, " ", &save)) {
                char *eq = strchr(w, '=');
                REQUIRE(eq);
                *eq = 0;
                const jang_profile *p = NULL;
                CHECK_OK(jang_profile_parse(w, &p));
                if (!p) continue;
                CHECK_STR(p->name, w);
                if (fixed) {
                    int c, i, k;
                    REQUIRE(sscanf(eq + 1, "%d/%d/%d", &c, &i, &k) == 3);
                    CHECK_MSG(p->critical == c && p->important == i && p->compress == k,
                              "%s: %d/%d/%d, jang %d/%d/%d", w, p->critical, p->important,
                              p->compress, c, i, k);
                    CHECK(p->k_target == 0);
                } else {
                    CHECK_MSG(p->k_target == atof(eq + 1), "%s: k target %g", w, p->k_target);
                }
            }
            continue;
        }
        if (line[0] == '#') continue;
        char *f[4];
        REQUIRE(split_tabs(line, f, 4) == 4);
        const char *arg = unbracket(f[0]);
        const jang_profile *p = NULL;
        jang_status s = jang_profile_parse(arg, &p);
        if (!strcmp(f[1], "error")) {
            CHECK_MSG(s == JANG_E_ARG && !p, "-p '%s': jang refuses it, we gave %s", arg,
                      p ? p->name : jang_status_str(s));
        } else {
            CHECK_MSG(s == JANG_OK && p && !strcmp(p->name, f[1]), "-p '%s': jang %s, we %s", arg,
                      f[1], p ? p->name : jang_last_error());
            if (p) CHECK_MSG(p->target_bits == atof(f[2]), "-p '%s': target_bits", arg);
        }
        rows++;
    }
    CHECK(rows >= 30);
    CHECK_EQ_INT(jang_profile_count(), 16);
    free(text);
}

TEST(alloc_tiers_match_jang) {
    char *text = slurp("alloc/tiers.tsv");
    REQUIRE(text);
    int rows = 0, bad = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char *f[8];
        REQUIRE(split_tabs(line, f, 8) == 8);
        const char *name = unbracket(f[0]);
        int64_t ne = atoll(f[1]);
        bool shared = atoi(f[2]);
        jang_lname l;
        REQUIRE(jang_lname_init(&l, name));
        const char *tier = jang_tier_name(jang_tier_of(name, ne, shared));
        int fl = jang_mlp_floor(l.s, 2, ne, 0), fl4 = jang_mlp_floor(l.s, 2, ne, 4);
        int routed = jang_is_routed_expert_mlp(l.s), r2 = jang_relu2_floor(l.s, 2);
        if (strcmp(tier, f[3]) || fl != atoi(f[4]) || fl4 != atoi(f[5]) || routed != atoi(f[6]) ||
            r2 != atoi(f[7])) {
            if (bad++ < 10)
                test_fail_at(__FILE__, __LINE__,
                             "'%s' experts=%lld shared=%d: jang %s %s %s %s %s, we %s %d %d %d %d",
                             name, (long long)ne, shared, f[3], f[4], f[5], f[6], f[7], tier, fl,
                             fl4, routed, r2);
        }
        jang_lname_free(&l);
        rows++;
    }
    CHECK(rows > 500);
    CHECK_EQ_INT(bad, 0);
    free(text);
}

/* ---- per-model goldens ---------------------------------------------------------------------- */

typedef struct {
    jang_alloc_tensor *t;
    char **names;
    int64_t n;
} tensor_list;

static void tensor_list_free(tensor_list *l) {
    for (int64_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
    free(l->t);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* names.tsv: name, dtype, shape "a,b", shard file (rank among the sorted file names). */
static bool read_names(const char *model, tensor_list *out) {
    char rel[256];
    snprintf(rel, sizeof rel, "alloc/%s/names.tsv", model);
    char *text = slurp(rel);
    if (!text) return false;
    int64_t cap = 0;
    char *files[64];
    int nfiles = 0;
    memset(out, 0, sizeof *out);
    char *save = NULL;
    char **shard_of = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        char *f[4];
        if (split_tabs(line, f, 4) != 4) return false;
        if (out->n == cap) {
            cap = cap ? 2 * cap : 256;
            out->t = realloc(out->t, (size_t)cap * sizeof *out->t);
            out->names = realloc(out->names, (size_t)cap * sizeof *out->names);
            shard_of = realloc(shard_of, (size_t)cap * sizeof *shard_of);
        }
        jang_alloc_tensor *t = &out->t[out->n];
        memset(t, 0, sizeof *t);
        out->names[out->n] = strdup(f[0]);
        t->name = out->names[out->n];
        if (!jang_dtype_parse(f[1], &t->dtype)) return false;
        for (char *p = f[2]; *p && t->n_dims < JANG_MAX_DIMS;) {
            t->shape[t->n_dims++] = strtoll(p, &p, 10);
            if (*p == ',') p++;
        }
        int k = 0;
        while (k < nfiles && strcmp(files[k], f[3]))
            k++;
        if (k == nfiles && nfiles < 64) files[nfiles++] = f[3];
        shard_of[out->n] = f[3];
        out->n++;
    }
    qsort(files, (size_t)nfiles, sizeof *files, cmp_str);
    for (int64_t i = 0; i < out->n; i++)
        for (int k = 0; k < nfiles; k++)
            if (!strcmp(files[k], shard_of[i])) out->t[i].shard = k;
    free(shard_of);
    free(text);
    return true;
}

/* config.json of the model with the run's overrides merged, as a file; returns its path. */
static const char *config_with(const char *model, json_t *over) {
    char rel[256];
    snprintf(rel, sizeof rel, "alloc/%s/config.json", model);
    json_error_t err;
    json_t *cfg = json_load_file(test_data_path(rel), 0, &err);
    if (!cfg) return NULL;
    if (json_is_object(over)) json_object_update(cfg, over);
    static char path[512];
    snprintf(path, sizeof path, "%s/%s.config.json", test_tmpdir(), model);
    int r = json_dump_file(cfg, path, 0);
    json_decref(cfg);
    return r ? NULL : path;
}

static const char *tier_word(jang_tier t) { return jang_tier_name(t); }

/* Compares a plan with <m>/<run>.tsv; returns the number of mismatching tensors. */
static int64_t compare_run(const char *model, const char *run, const tensor_list *l,
                           const jang_plan *p, bool check_tier) {
    char rel[256];
    snprintf(rel, sizeof rel, "alloc/%s/%s.tsv", model, run);
    char *text = slurp(rel);
    if (!text) {
        test_fail_at(__FILE__, __LINE__, "%s: missing", rel);
        return 1;
    }
    int64_t i = 0, bad = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        char *f[6];
        if (split_tabs(line, f, 6) != 6) {
            test_fail_at(__FILE__, __LINE__, "%s: bad row '%s'", rel, line);
            bad++;
            break;
        }
        int64_t count = atoll(f[0]);
        int bits = atoi(f[2]), group = atoi(f[3]);
        for (int64_t k = 0; k < count; k++, i++) {
            if (i >= l->n) break;
            const jang_alloc_entry *e = &p->entries[i];
            const char *kd = e->action == JANG_ALLOC_KEEP ? jang_dtype_name(e->keep_dtype) : "-";
            bool ok = !strcmp(jang_alloc_action_name(e->action), f[1]) && e->bits == bits &&
                      e->group == group &&
                      (!check_tier || (!strcmp(tier_word(e->tier), f[4]) && !strcmp(kd, f[5])));
            if (!ok && bad++ < 4)
                test_fail_at(
                    __FILE__, __LINE__, "%s/%s: %s: reference %s %d/%d %s %s, ours %s %d/%d %s %s",
                    model, run, l->t[i].name, f[1], bits, group, f[4], f[5],
                    jang_alloc_action_name(e->action), e->bits, e->group, tier_word(e->tier), kd);
        }
    }
    if (i != l->n) {
        test_fail_at(__FILE__, __LINE__, "%s: %lld rows for %lld tensors", rel, (long long)i,
                     (long long)l->n);
        bad++;
    }
    free(text);
    return bad;
}

static bool has_pattern(json_t *arr, const char *pat) {
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (!strcmp(json_string_value(v), pat)) return true;
    return false;
}

static void check_model(const char *model, int *n_runs) {
    char rel[256];
    snprintf(rel, sizeof rel, "alloc/%s/meta.json", model);
    json_error_t err;
    json_t *meta = json_load_file(test_data_path(rel), 0, &err);
    REQUIRE(meta);
    tensor_list l;
    REQUIRE(read_names(model, &l));

    /* jang's architecture detection */
    jang_alloc_model m;
    const char *cfg = config_with(model, NULL);
    REQUIRE(cfg);
    REQUIRE_OK(jang_alloc_model_from_hf_config(cfg, &m));
    json_t *ja = json_object_get(meta, "jang");
    CHECK_STR(m.arch_type, json_string_value(json_object_get(ja, "arch_type")));
    CHECK_EQ_INT(m.n_experts, json_integer_value(json_object_get(ja, "num_experts")));
    CHECK_EQ_INT(m.has_moe, json_is_true(json_object_get(ja, "has_moe_layers")));
    CHECK_EQ_INT(m.has_shared_mlp, json_is_true(json_object_get(ja, "has_shared_mlp")));
    CHECK_EQ_INT(m.skip_state_d, has_pattern(json_object_get(ja, "skip_patterns"), "D"));

    const char *run;
    json_t *r;
    json_object_foreach(json_object_get(meta, "runs"), run, r) {
        jang_alloc_opts o;
        jang_alloc_opts_init(&o);
        const char *kind = json_string_value(json_object_get(r, "kind"));
        jang_alloc_model rm = m;
        bool is_jang = !strcmp(kind, "jang");
        if (is_jang) {
            json_t *argv = json_object_get(r, "argv");
            for (size_t k = 0; k < json_array_size(argv); k++) {
                const char *opt = json_string_value(json_array_get(argv, k));
                const char *val = json_string_value(json_array_get(argv, k + 1));
                if (!strcmp(opt, "--no-mlp-asymmetry-floor")) {
                    o.mlp_asymmetry = false;
                    continue;
                }
                REQUIRE(val);
                if (!strcmp(opt, "-p")) CHECK_OK(jang_profile_parse(val, &o.profile));
                if (!strcmp(opt, "-b")) o.block_size = atoi(val);
                k++;
            }
            json_t *over = json_object_get(r, "config");
            if (json_object_size(over)) {
                const char *c2 = config_with(model, over);
                REQUIRE(c2);
                REQUIRE_OK(jang_alloc_model_from_hf_config(c2, &rm));
            }
        } else {
            json_t *rec = json_object_get(r, "recipe");
            if (json_is_string(rec)) {
                REQUIRE(jang_recipe_parse(json_string_value(rec), &o.recipe));
                o.group = (int)json_integer_value(json_object_get(r, "group"));
            } else {
                o.recipe = JANG_RECIPE_UNIFORM;
                o.bits = (int)json_integer_value(json_object_get(r, "bits"));
                o.group = (int)json_integer_value(json_object_get(r, "group"));
            }
        }
        jang_plan *p = NULL;
        jang_status s = jang_plan_make(l.t, l.n, &rm, &o, &p);
        (*n_runs)++;
        /* a reference refusal is recorded as "error: ..." */
        snprintf(rel, sizeof rel, "alloc/%s/%s.tsv", model, run);
        char *text = slurp(rel);
        bool want_error = text && strstr(text, "\nerror: ");
        free(text);
        if (want_error) {
            CHECK_MSG(s == JANG_E_UNSUPPORTED, "%s/%s: the reference refuses, we gave %s", model,
                      run, jang_status_str(s));
            jang_plan_free(p);
            continue;
        }
        CHECK_MSG(s == JANG_OK, "%s/%s: %s", model, run, jang_last_error());
        if (s != JANG_OK) continue;
        int64_t bad = compare_run(model, run, &l, p, is_jang);
        CHECK_MSG(bad == 0, "%s/%s: %lld tensors differ", model, run, (long long)bad);
        if (is_jang) {
            CHECK_STR(p->label, json_string_value(json_object_get(r, "profile")));
            CHECK_EQ_INT(p->block_size, json_integer_value(json_object_get(r, "block_size")));
            double want = json_number_value(json_object_get(r, "actual_bits"));
            CHECK_MSG(fabs(p->jang_bits - want) <= 0.005 + 1e-9,
                      "%s/%s: actual bits %.4f, jang %.2f", model, run, p->jang_bits, want);
        }
        jang_plan_free(p);
    }
    tensor_list_free(&l);
    json_decref(meta);
}

TEST(alloc_models_match_jang_and_mlx_lm) {
    DIR *dir = opendir(test_data_path("alloc"));
    REQUIRE(dir);
    char *models[64];
    int nm = 0;
    struct dirent *de;
    while ((de = readdir(dir)) && nm < 64)
        if (de->d_name[0] != '.' && !strchr(de->d_name, '.')) models[nm++] = strdup(de->d_name);
    closedir(dir);
    qsort(models, (size_t)nm, sizeof *models, cmp_str);
    int runs = 0;
    for (int i = 0; i < nm; i++) {
        check_model(models[i], &runs);
        free(models[i]);
    }
    CHECK(nm >= 10);
    CHECK(runs >= 250);
}

TEST(alloc_api_edges) {
    jang_alloc_model m;
    memset(&m, 0, sizeof m);
    jang_plan *p = NULL;
    CHECK_OK(jang_plan_make(NULL, 0, &m, NULL, &p));
    REQUIRE(p);
    CHECK_EQ_INT(p->n, 0);
    CHECK_STR(p->label, "JANG_2S"); /* jang convert's default -p 2 */
    jang_plan_free(p);
    jang_plan_free(NULL);

    jang_alloc_tensor t = {.name = NULL, .dtype = JANG_DT_BF16, .n_dims = 2, .shape = {64, 64}};
    CHECK(jang_plan_make(&t, 1, &m, NULL, &p) == JANG_E_ARG);
    t.name = "model.layers.0.mlp.up_proj.weight";
    t.n_dims = 9;
    CHECK(jang_plan_make(&t, 1, &m, NULL, &p) == JANG_E_ARG);
    t.n_dims = 2;
    jang_alloc_opts o;
    jang_alloc_opts_init(&o);
    o.recipe = JANG_RECIPE_UNIFORM;
    o.bits = 7;
    CHECK(jang_plan_make(&t, 1, &m, &o, &p) == JANG_E_ARG);
    o.bits = 4;
    o.group = 48;
    CHECK(jang_plan_make(&t, 1, &m, &o, &p) == JANG_E_ARG);
    o.group = 0;
    REQUIRE_OK(jang_plan_make(&t, 1, &m, &o, &p));
    CHECK(p->entries[0].action == JANG_ALLOC_QUANT && p->entries[0].bits == 4 &&
          p->entries[0].group == 64);
    jang_plan_free(p);
    o.recipe = JANG_RECIPE_MIXED_2_6; /* no down_proj: mlx-lm refuses */
    CHECK(jang_plan_make(&t, 1, &m, &o, &p) == JANG_E_UNSUPPORTED);

    jang_recipe r;
    CHECK(jang_recipe_parse("mixed_3_4", &r) && r == JANG_RECIPE_MIXED_3_4);
    CHECK(!jang_recipe_parse("mixed_5_6", &r));
    CHECK_STR(jang_tier_name(JANG_TIER_IMPORTANT), "IMPORTANT");
    CHECK(jang_path_next(6) == 8 && jang_path_next(8) == 0 && jang_path_prev(2) == 0);
    CHECK(jang_alloc_model_from_hf_config("/nonexistent/config.json", &m) == JANG_E_IO);

    /* GGUF sources: the model facts from a description */
    jang_model_desc d;
    memset(&d, 0, sizeof d);
    d.arch = JANG_ARCH_QWEN3_MOE;
    d.n_layers = 48;
    d.n_experts = 128;
    jang_alloc_model_from_desc(&d, &m);
    CHECK(m.has_moe && m.n_experts == 128 && !strcmp(m.model_type, "qwen3_moe"));
    d.arch = JANG_ARCH_MAMBA;
    d.n_experts = 0;
    jang_alloc_model_from_desc(&d, &m);
    CHECK(m.skip_state_d && !m.has_moe && !strcmp(m.arch_type, "mamba"));
}
