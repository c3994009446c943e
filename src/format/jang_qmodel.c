/* jang_qmodel.c — reads JANG v2 and MLX quantized model directories, and validates them.
 *
 * jang_qmodel_open maps the shards with jang_st_open (zero-copy) and groups every quantized
 * module <p> (tensors <p>.weight U32, <p>.scales, <p>.biases) into one view. A module's
 * (bits, group) come from its config.json "quantization" entry, else the jang_config.json
 * tensor_quantization_manifest, else the top-level default — never from shapes, which cannot tell
 * (8 bits, g64) from (4 bits, g128). A conflict between entry and manifest, a missing value or
 * shapes that disagree with the resolved (bits, group) fail the open with a message naming the
 * module. jang_dir_validate runs the same resolution collecting every failure, plus the checks a
 * loader can skip: index completeness, per-shard metadata, finite scales/biases, manifest vs
 * config vs files. Format reference: docs/FORMAT.md. Tested by tests/test_jang_dir.c.
 */
#include "format.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#define INDEX_NAME "model.safetensors.index.json"
#define MAX_JSON ((size_t)256 * 1024 * 1024)

struct jang_qmodel {
    char *dir;
    jang_st *st;
    json_t *config;         /* config.json, or NULL */
    json_t *jcfg;           /* jang_config.json, or NULL */
    const json_t *qblock;   /* the quantization block of config (borrowed), or NULL */
    const json_t *manifest; /* tensor_quantization_manifest (borrowed), or NULL */
    jang_qtensor *e;
    int64_t n;
    int64_t *slots;         /* open addressing over e by name; -1 empty */
    int64_t n_mlx_defaults; /* modules whose entry left bits/group_size to mlx's defaults */
    size_t n_slots;
    jang_qmodel_info info;
};

/* ---- error sink: fail fast (open) or collect (validate) ----------------------------------- */

typedef struct sink {
    jang_validate_report *rep; /* NULL: the first problem fails */
    const char *dir;
} sink;

static void tick(sink *k, jang_check_id c, int64_t n) {
    if (!k->rep) return;
    k->rep->checks[c].ran = true;
    k->rep->checks[c].n_checked += n;
}

static jang_status bad(sink *k, jang_check_id c, jang_status s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static jang_status bad(sink *k, jang_check_id c, jang_status s, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!k->rep) return jang_fail(s, "%s: %s", k->dir, msg);
    jang_check_result *r = &k->rep->checks[c];
    r->ran = true;
    r->n_failed++;
    if (r->n_msgs < JANG_CHECK_MAX_MSGS)
        snprintf(r->msgs[r->n_msgs++], sizeof r->msgs[0], "%s", msg);
    return JANG_OK;
}

/* An item of check c that was counted (tick) but needs config.json, which is unusable. */
static void skip(sink *k, jang_check_id c) {
    k->rep->checks[c].n_checked--;
    k->rep->checks[c].n_skipped++;
}

/* Collecting, with config.json missing or broken (reported once under files). */
static bool config_unusable(const sink *k) { return k->rep && k->rep->config_unusable; }

static void note(sink *k, jang_check_id c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note(sink *k, jang_check_id c, const char *fmt, ...) {
    if (!k->rep) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->rep->checks[c].note, sizeof k->rep->checks[c].note, fmt, ap);
    va_end(ap);
}

/* ---- small helpers ------------------------------------------------------------------------ */

#define NB 256
static const char *pr(const char *s, char *buf) { return jang_printable(s, strlen(s), buf, NB); }

static bool get_int(const json_t *o, const char *key, int64_t *out) {
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) return false;
    *out = json_integer_value(v);
    return true;
}

/* mlx's affine defaults for a null or absent bits / group_size (mlx.nn _defaults_for_mode). */
#define MLX_AFFINE_BITS 4
#define MLX_AFFINE_GROUP 64

/* An integer, or mlx's default for null / absent (setting *defaulted); false for other types. */
static bool get_mlx_param(const json_t *o, const char *key, int64_t def, int64_t *out,
                          bool *defaulted) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = def;
        *defaulted = true;
        return true;
    }
    if (!json_is_integer(v)) return false;
    *out = json_integer_value(v);
    return true;
}

static void shape_str(char *buf, size_t cap, const int64_t *shape, int n) {
    size_t o = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "%s)", n == 1 ? "," : "");
}

/* Loads dir/name as a JSON object into *out (NULL when the file is absent: *present false). */
static jang_status load_json(sink *k, const char *dir, const char *name, json_t **out,
                             bool *present) {
    *out = NULL;
    *present = false;
    char *path = jang_path_join(dir, name);
    if (!path) return jang_fail(JANG_E_NOMEM, "%s: out of memory", dir);
    if (!jang_file_exists(path)) {
        free(path);
        return JANG_OK;
    }
    *present = true;
    char *buf = NULL;
    size_t len = 0;
    jang_status s = jang_read_file(path, MAX_JSON, &buf, &len);
    free(path);
    if (s != JANG_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", jang_last_error());
        return bad(k, JANG_CHECK_FILES, s, "%s: %s", name, why) == JANG_OK ? JANG_OK : s;
    }
    json_error_t e;
    json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
    free(buf);
    if (!json_is_object(v)) {
        json_decref(v);
        char nb[NB];
        return bad(k, JANG_CHECK_FILES, JANG_E_FORMAT, "%s: not a JSON object: %s (line %d)", name,
                   v ? "another JSON value" : pr(e.text, nb), e.line);
    }
    *out = v;
    return JANG_OK;
}

/* Natural order: digit runs compare as numbers, so layers.2 < layers.10. */
static int natural_cmp(const char *a, const char *b) {
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            const char *a0 = a, *b0 = b;
            while (*a == '0')
                a++;
            while (*b == '0')
                b++;
            const char *as = a, *bs = b;
            while (isdigit((unsigned char)*a))
                a++;
            while (isdigit((unsigned char)*b))
                b++;
            if (a - as != b - bs) return a - as < b - bs ? -1 : 1;
            int c = strncmp(as, bs, (size_t)(a - as));
            if (c) return c;
            if (as - a0 != bs - b0) return as - a0 < bs - b0 ? -1 : 1;
            continue;
        }
        if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++, b++;
    }
    return *a ? 1 : *b ? -1 : 0;
}

static int cmp_entry(const void *x, const void *y) {
    return natural_cmp(((const jang_qtensor *)x)->name, ((const jang_qtensor *)y)->name);
}

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* ---- module resolution -------------------------------------------------------------------- */

const char *jang_qsource_name(jang_qsource s) {
    static const char *const names[] = {
#define JANG_X_(e, s) s,
        JANG_QSRC_MAP(JANG_X_)
#undef JANG_X_
    };
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

/* Picks the config's quantization block: "quantization", else an MLX-style
 * "quantization_config" (one without HF's "quant_method"). */
static const json_t *pick_qblock(const json_t *config) {
    const json_t *q = json_object_get(config, "quantization");
    if (json_is_object(q)) return q;
    q = json_object_get(config, "quantization_config");
    if (json_is_object(q) && !json_object_get(q, "quant_method")) return q;
    return NULL;
}

/* Resolves (bits, group) of module p. Returns false (after reporting) when impossible. */
static bool resolve(sink *k, jang_qmodel *m, const char *p, int *bits, int *group,
                    jang_qsource *src, bool *defaulted, jang_status *st) {
    char nb[NB];
    const char *pp = pr(p, nb);
    const json_t *entry = m->qblock ? json_object_get(m->qblock, p) : NULL;
    const json_t *ment = m->manifest ? json_object_get(m->manifest, p) : NULL;
    int64_t b = 0, g = 0, mb = 0, mg = 0;
    bool have = false;
    *st = JANG_OK;
    *defaulted = false;
    tick(k, JANG_CHECK_QUANT, 1);

    if (json_is_false(entry)) {
        *st = bad(k, JANG_CHECK_QUANT, JANG_E_FORMAT,
                  "module '%s': config.json quantization entry is false (not quantized) but "
                  "'%s.scales' exists",
                  pp, pp);
        return false;
    }
    if (entry && !json_is_object(entry) && !json_is_true(entry)) {
        *st = bad(k, JANG_CHECK_QUANT, JANG_E_FORMAT,
                  "module '%s': config.json quantization entry is neither an object nor a boolean",
                  pp);
        return false;
    }
    if (json_is_object(entry)) {
        /* mlx's contract (nn.quantize -> to_quantized(**entry)): a null or absent value is the
         * mode's default, (64, 4) for affine. mlx-lm's own mixed_* recipes write
         * "group_size": null. */
        const char *badkey = !get_mlx_param(entry, "bits", MLX_AFFINE_BITS, &b, defaulted) ? "bits"
                             : !get_mlx_param(entry, "group_size", MLX_AFFINE_GROUP, &g, defaulted)
                                 ? "group_size"
                                 : NULL;
        if (badkey) {
            *st = bad(k, JANG_CHECK_QUANT, JANG_E_FORMAT,
                      "module '%s': config.json quantization entry's \"%s\" is not an integer", pp,
                      badkey);
            return false;
        }
        const json_t *mode = json_object_get(entry, "mode");
        if (mode && (!json_is_string(mode) || strcmp(json_string_value(mode), "affine") != 0)) {
            *st = bad(k, JANG_CHECK_QUANT, JANG_E_UNSUPPORTED,
                      "module '%s': quantization mode '%s' is not supported (affine only)", pp,
                      json_is_string(mode) ? json_string_value(mode) : "?");
            return false;
        }
        *src = JANG_QSRC_CONFIG;
        have = true;
    }
    if (ment) {
        if (!json_is_object(ment) || !get_int(ment, "bits", &mb) ||
            !get_int(ment, "group_size", &mg)) {
            *st = bad(k, JANG_CHECK_QUANT, JANG_E_FORMAT,
                      "module '%s': jang_config.json manifest entry has no integer bits and "
                      "group_size",
                      pp);
            return false;
        }
        if (have && (mb != b || mg != g)) {
            *st = bad(k, JANG_CHECK_QUANT, JANG_E_FORMAT,
                      "module '%s': config.json says %lld bits, group %lld but the "
                      "jang_config.json manifest says %lld bits, group %lld",
                      pp, (long long)b, (long long)g, (long long)mb, (long long)mg);
            return false;
        }
        if (!have) {
            b = mb, g = mg;
            *src = JANG_QSRC_MANIFEST;
            have = true;
        }
    }
    if (!have && m->info.default_bits > 0 && m->info.default_group > 0) {
        const json_t *mode = json_object_get(m->qblock, "mode");
        if (mode && (!json_is_string(mode) || strcmp(json_string_value(mode), "affine") != 0)) {
            *st = bad(k, JANG_CHECK_QUANT, JANG_E_UNSUPPORTED,
                      "module '%s': default quantization mode '%s' is not supported (affine only)",
                      pp, json_is_string(mode) ? json_string_value(mode) : "?");
            return false;
        }
        b = m->info.default_bits, g = m->info.default_group;
        *src = JANG_QSRC_DEFAULT;
        have = true;
    }
    if (!have && config_unusable(k)) { /* config.json would have said: not a failure of its own */
        skip(k, JANG_CHECK_QUANT);
        return false;
    }
    if (!have) {
        *st = bad(k, JANG_CHECK_QUANT, JANG_E_FORMAT,
                  "module '%s': bits and group size unknown: no config.json quantization entry, "
                  "no jang_config.json manifest entry and no top-level default (they are never "
                  "guessed from shapes)",
                  pp);
        return false;
    }
    if (!jang_affine_bits_ok(b) || !jang_affine_group_ok(g)) {
        *st = bad(
            k, JANG_CHECK_QUANT, JANG_E_UNSUPPORTED,
            "module '%s': %lld bits, group %lld (from the %s) not supported (bits %s; group %s)",
            pp, (long long)b, (long long)g, jang_qsource_name(*src), JANG_AFFINE_BITS_TEXT,
            JANG_AFFINE_GROUPS_TEXT);
        return false;
    }
    *bits = (int)b;
    *group = (int)g;
    return true;
}

/* Checks the three tensors of module p against (bits, group) and fills the view. */
static bool check_shapes(sink *k, const char *p, const jang_tensor *w, const jang_tensor *s,
                         const jang_tensor *b, int bits, int group, jang_qsource src,
                         bool defaulted, jang_qtensor *e, jang_status *st) {
    char nb[NB], s1[160], s2[160], s3[160];
    const char *pp = pr(p, nb);
    *st = JANG_OK;
    tick(k, JANG_CHECK_SHAPES, 1);
    if (s->dtype != JANG_DT_F16 && s->dtype != JANG_DT_BF16 && s->dtype != JANG_DT_F32) {
        *st = bad(k, JANG_CHECK_SHAPES, JANG_E_FORMAT,
                  "module '%s': scales are %s (F16, BF16 or F32 expected)", pp,
                  jang_dtype_name(s->dtype));
        return false;
    }
    if (b->dtype != s->dtype) {
        *st = bad(k, JANG_CHECK_SHAPES, JANG_E_FORMAT, "module '%s': biases are %s, scales %s", pp,
                  jang_dtype_name(b->dtype), jang_dtype_name(s->dtype));
        return false;
    }
    shape_str(s1, sizeof s1, w->shape, w->n_dims);
    shape_str(s2, sizeof s2, s->shape, s->n_dims);
    shape_str(s3, sizeof s3, b->shape, b->n_dims);
    int nd = w->n_dims;
    bool same = nd >= 2 && s->n_dims == nd && b->n_dims == nd;
    for (int i = 0; same && i < nd; i++)
        same = s->shape[i] == b->shape[i] && (i == nd - 1 || w->shape[i] == s->shape[i]);
    if (!same) {
        *st = bad(k, JANG_CHECK_SHAPES, JANG_E_FORMAT,
                  "module '%s': weight %s, scales %s and biases %s do not share their leading "
                  "dims (..., out)",
                  pp, s1, s2, s3);
        return false;
    }
    int64_t wc = w->shape[nd - 1], sc = s->shape[nd - 1], in;
    if (__builtin_mul_overflow(sc, (int64_t)group, &in) || in <= 0 || in % 32 != 0 ||
        in / 32 * bits != wc) {
        int64_t want = in > 0 && in % 32 == 0 ? in / 32 * bits : -1;
        *st = bad(k, JANG_CHECK_SHAPES, JANG_E_FORMAT,
                  "module '%s': %d bits, group %d (from the %s%s): scales %s give in_features "
                  "%lld, so the weight needs %lld uint32 columns, but weight is %s: bits or group "
                  "size wrong?",
                  pp, bits, group, jang_qsource_name(src),
                  defaulted ? ", null/absent values read as mlx's affine defaults 4 bits, group 64"
                            : "",
                  s2, (long long)in, (long long)want, s1);
        return false;
    }
    memset(e, 0, sizeof *e);
    e->quantized = true;
    e->n_dims = nd;
    e->rows = 1;
    for (int i = 0; i < nd - 1; i++) {
        e->shape[i] = w->shape[i];
        e->rows *= w->shape[i]; /* bounded: w's element count fits int64 */
    }
    e->shape[nd - 1] = in;
    e->cols = in;
    if (__builtin_mul_overflow(e->rows, in, &e->n_params)) {
        *st = bad(k, JANG_CHECK_SHAPES, JANG_E_FORMAT, "module '%s': size overflows", pp);
        return false;
    }
    e->n_bytes = w->n_bytes + s->n_bytes + b->n_bytes;
    e->bits = bits;
    e->group = group;
    e->source = src;
    e->scale_dtype = s->dtype;
    e->weight = w, e->scales = s, e->biases = b;
    e->codes = w->data, e->scale_data = s->data, e->bias_data = b->data;
    size_t es = jang_dtype_size(s->dtype);
    e->aligned =
        (uintptr_t)w->data % 4 == 0 && (uintptr_t)s->data % es == 0 && (uintptr_t)b->data % es == 0;
    return true;
}

/* ---- open --------------------------------------------------------------------------------- */

void jang_qmodel_close(jang_qmodel *m) {
    if (!m) return;
    for (int64_t i = 0; i < m->n; i++)
        if (m->e[i].quantized) free((char *)m->e[i].name);
    free(m->e);
    free(m->slots);
    jang_st_close(m->st);
    json_decref(m->config);
    json_decref(m->jcfg);
    free(m->dir);
    free(m);
}

static void fill_info(jang_qmodel *m) {
    jang_qmodel_info *in = &m->info;
    in->target_bits = in->actual_bits = NAN;
    int64_t v;
    if (m->qblock) {
        /* mlx-lm passes quantization["bits"] / ["group_size"] to nn.quantize: null means mlx's
         * default, an absent key fails its load (no default here either) */
        const json_t *jb = json_object_get(m->qblock, "bits");
        const json_t *jg = json_object_get(m->qblock, "group_size");
        if (json_is_null(jb)) in->default_bits = MLX_AFFINE_BITS;
        if (json_is_null(jg)) in->default_group = MLX_AFFINE_GROUP;
        if (get_int(m->qblock, "bits", &v) && v > 0 && v <= 64) in->default_bits = (int)v;
        if (get_int(m->qblock, "group_size", &v) && v > 0 && v <= 1 << 20)
            in->default_group = (int)v;
        const char *key;
        const json_t *x;
        json_object_foreach((json_t *)m->qblock, key, x) {
            if (json_is_object(x) || json_is_boolean(x)) in->n_config_entries++;
        }
    }
    in->block_size = in->default_group;
    if (m->jcfg) {
        in->is_jang = true;
        const json_t *fv = json_object_get(m->jcfg, "format_version");
        if (json_is_string(fv))
            snprintf(in->format_version, sizeof in->format_version, "%s", json_string_value(fv));
        const json_t *q = json_object_get(m->jcfg, "quantization");
        if (get_int(q, "block_size", &v) && v > 0 && v <= 1 << 20) in->block_size = (int)v;
        const json_t *x = json_object_get(q, "profile");
        if (json_is_string(x))
            snprintf(in->profile, sizeof in->profile, "%s", json_string_value(x));
        x = json_object_get(q, "method");
        if (json_is_string(x)) snprintf(in->method, sizeof in->method, "%s", json_string_value(x));
        x = json_object_get(q, "target_bits");
        if (json_is_number(x)) in->target_bits = json_number_value(x);
        x = json_object_get(q, "actual_bits");
        if (json_is_number(x)) in->actual_bits = json_number_value(x);
        if (json_is_object(m->manifest))
            in->n_manifest_entries = (int64_t)json_object_size(m->manifest);
    }
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Finds "<p><suffix>" in st. */
static const jang_tensor *find_suffixed(const jang_st *st, const char *p, size_t plen,
                                        const char *suffix, char *buf, size_t cap) {
    if (plen + strlen(suffix) + 1 > cap) return NULL;
    memcpy(buf, p, plen);
    strcpy(buf + plen, suffix);
    return jang_st_find(st, buf);
}

/* The whole open, fail-fast (k->rep NULL) or collecting (validate). In collecting mode a module
 * that cannot be resolved is left out and the open goes on. config: config.json already parsed
 * by the caller (a reference is taken), or NULL to read dir/config.json here. */
static jang_status qm_load(sink *k, const char *dir, json_t *config, jang_qmodel **out) {
    *out = NULL;
    char nb[NB];
    jang_qmodel *m = jang_calloc(1, sizeof *m, dir);
    if (!m) return JANG_E_NOMEM;
    m->dir = jang_strdup(dir);
    if (!m->dir) {
        free(m);
        return JANG_E_NOMEM;
    }
    jang_status s;
    bool present;
    uint8_t *used = NULL;
    char *name = NULL;

    /* config.json and jang_config.json */
    tick(k, JANG_CHECK_FILES, 1);
    if (config) {
        m->config = json_incref(config);
    } else {
        if ((s = load_json(k, dir, "config.json", &m->config, &present)) != JANG_OK) goto fail;
        if (!present &&
            (s = bad(k, JANG_CHECK_FILES, JANG_E_NOTFOUND, "no config.json")) != JANG_OK)
            goto fail;
        if (!m->config && k->rep) k->rep->config_unusable = true;
    }
    if ((s = load_json(k, dir, "jang_config.json", &m->jcfg, &present)) != JANG_OK) goto fail;
    if (present) tick(k, JANG_CHECK_FILES, 1);
    if (m->jcfg) {
        const json_t *fmt = json_object_get(m->jcfg, "format");
        const json_t *ver = json_object_get(m->jcfg, "format_version");
        if (!json_is_string(fmt) || strcmp(json_string_value(fmt), "jang") != 0) {
            s = bad(k, JANG_CHECK_FILES, JANG_E_FORMAT,
                    "jang_config.json: \"format\" is %s%s%s, expected \"jang\"",
                    json_is_string(fmt) ? "\"" : "",
                    json_is_string(fmt) ? pr(json_string_value(fmt), nb) : "missing",
                    json_is_string(fmt) ? "\"" : "");
            if (s != JANG_OK) goto fail;
        }
        const char *v = json_is_string(ver) ? json_string_value(ver) : "1.0";
        if (v[0] != '2' || (v[1] != '\0' && v[1] != '.')) {
            s = bad(k, JANG_CHECK_FILES, JANG_E_UNSUPPORTED,
                    "jang_config.json: format_version \"%s\" is not supported (JANG v2 only; v1 "
                    "directories hold .jang.safetensors with uint8 qweight)",
                    pr(v, nb));
            if (s != JANG_OK) goto fail;
        }
        const json_t *man = json_object_get(json_object_get(m->jcfg, "quantization"),
                                            "tensor_quantization_manifest");
        if (man && !json_is_object(man)) {
            s = bad(k, JANG_CHECK_FILES, JANG_E_FORMAT,
                    "jang_config.json: tensor_quantization_manifest is not an object");
            if (s != JANG_OK) goto fail;
        } else {
            m->manifest = man;
        }
    }
    m->qblock = pick_qblock(m->config);
    fill_info(m);

    /* the shards */
    s = jang_st_open(dir, &m->st);
    if (s != JANG_OK) {
        if (k->rep) {
            char why[768];
            snprintf(why, sizeof why, "%s", jang_last_error());
            if (k->rep->checks[JANG_CHECK_INDEX].n_failed == 0) {
                /* one item: the shards open (an empty directory said "1 of 0 failed"); the note
                 * "a single model.safetensors" would be wrong now */
                tick(k, JANG_CHECK_INDEX, 1);
                k->rep->checks[JANG_CHECK_INDEX].note[0] = '\0';
                bad(k, JANG_CHECK_INDEX, s, "%s", why);
            }
        }
        goto fail;
    }

    /* quantized modules */
    int64_t nt = jang_st_count(m->st);
    const jang_tensor *t0 = jang_st_get(m->st, 0);
    used = jang_calloc(nt ? (size_t)nt : 1, 1, dir);
    m->e = jang_calloc(nt ? (size_t)nt : 1, sizeof *m->e, dir);
    size_t cap = 4096;
    name = jang_malloc(cap, dir);
    if (!used || !m->e || !name) {
        s = JANG_E_NOMEM;
        goto fail;
    }
    for (int64_t i = 0; i < nt; i++) {
        const jang_tensor *t = jang_st_get(m->st, i);
        if (!ends_with(t->name, ".scales")) continue;
        size_t plen = strlen(t->name) - 7;
        if (plen + 16 > cap) continue; /* names are bounded by the header; skip absurd ones */
        char p[4096];
        memcpy(p, t->name, plen);
        p[plen] = '\0';
        const char *pp = pr(p, nb);
        const jang_tensor *w = find_suffixed(m->st, p, plen, ".weight", name, cap);
        const jang_tensor *b = find_suffixed(m->st, p, plen, ".biases", name, cap);
        tick(k, JANG_CHECK_SHAPES, 0);
        if (!w) {
            s = bad(k, JANG_CHECK_SHAPES, JANG_E_FORMAT,
                    "module '%s': '%s.scales' without '%s.weight'", pp, pp, pp);
            if (s != JANG_OK) goto fail;
            continue;
        }
        if (w->dtype != JANG_DT_U32) {
            s = bad(k, JANG_CHECK_SHAPES, JANG_E_FORMAT,
                    "module '%s': weight is %s; a quantized module stores U32 packed codes", pp,
                    jang_dtype_name(w->dtype));
            if (s != JANG_OK) goto fail;
            continue;
        }
        if (!b) {
            s = bad(k, JANG_CHECK_SHAPES, JANG_E_UNSUPPORTED,
                    "module '%s': no '%s.biases' (affine quantization stores them; mxfp4/nvfp4 "
                    "modules are not supported)",
                    pp, pp);
            if (s != JANG_OK) goto fail;
            continue;
        }
        int bits, group;
        jang_qsource src = JANG_QSRC_DEFAULT;
        bool defaulted = false;
        if (!resolve(k, m, p, &bits, &group, &src, &defaulted, &s)) {
            if (s != JANG_OK) goto fail;
            continue;
        }
        m->n_mlx_defaults += defaulted;
        jang_qtensor *e = &m->e[m->n];
        if (!check_shapes(k, p, w, t, b, bits, group, src, defaulted, e, &s)) {
            if (s != JANG_OK) goto fail;
            continue;
        }
        e->name = jang_strdup(p);
        if (!e->name) {
            s = JANG_E_NOMEM;
            goto fail;
        }
        m->n++;
        used[w - t0] = used[t - t0] = used[b - t0] = 1;
    }
    m->info.n_quantized = m->n;
    if (m->n_mlx_defaults)
        note(k, JANG_CHECK_QUANT,
             "%lld config.json entries leave bits or group_size null/absent: mlx's affine "
             "defaults (4 bits, group 64) apply",
             (long long)m->n_mlx_defaults);
    for (int64_t i = 0; i < nt; i++) {
        if (used[i]) continue;
        const jang_tensor *t = jang_st_get(m->st, i);
        jang_qtensor *e = &m->e[m->n++];
        memset(e, 0, sizeof *e);
        e->name = t->name;
        e->tensor = t;
        e->n_dims = t->n_dims;
        for (int d = 0; d < t->n_dims; d++)
            e->shape[d] = t->shape[d];
        e->cols = t->n_dims ? t->shape[t->n_dims - 1] : 1;
        e->rows = e->cols ? t->n_elements / e->cols : 0;
        e->n_params = t->n_elements;
        e->n_bytes = t->n_bytes;
        e->aligned = (uintptr_t)t->data % jang_dtype_size(t->dtype) == 0;
        m->info.n_plain++;
    }
    qsort(m->e, (size_t)m->n, sizeof *m->e, cmp_entry);

    /* name -> entry */
    m->n_slots = 16;
    while (m->n_slots < 2 * (size_t)m->n)
        m->n_slots *= 2;
    m->slots = jang_malloc(m->n_slots * sizeof *m->slots, dir);
    if (!m->slots) {
        s = JANG_E_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < m->n_slots; i++)
        m->slots[i] = -1;
    for (int64_t i = 0; i < m->n; i++) {
        size_t h = (size_t)hash_name(m->e[i].name) & (m->n_slots - 1);
        while (m->slots[h] >= 0) /* names are unique: st names are, modules strip a suffix */
            h = (h + 1) & (m->n_slots - 1);
        m->slots[h] = i;
    }
    free(used);
    free(name);
    *out = m;
    return JANG_OK;

fail:
    free(used);
    free(name);
    jang_qmodel_close(m);
    return s != JANG_OK ? s : JANG_E_FORMAT;
}

jang_status jang_qmodel_open_with_config(const char *dir, json_t *config, jang_qmodel **out) {
    if (!out) return jang_fail(JANG_E_ARG, "jang_qmodel_open: out is NULL");
    *out = NULL;
    if (!dir || !dir[0]) return jang_fail(JANG_E_ARG, "jang_qmodel_open: empty path");
    if (!jang_is_dir(dir)) return jang_fail(JANG_E_NOTFOUND, "%s: not a directory", dir);
    JANG_ASSERT(!config || json_is_object(config));
    sink k = {NULL, dir};
    return qm_load(&k, dir, config, out);
}

jang_status jang_qmodel_open(const char *dir, jang_qmodel **out) {
    return jang_qmodel_open_with_config(dir, NULL, out);
}

const jang_qmodel_info *jang_qmodel_get_info(const jang_qmodel *m) { return m ? &m->info : NULL; }
int64_t jang_qmodel_count(const jang_qmodel *m) { return m ? m->n : 0; }
const jang_st *jang_qmodel_st(const jang_qmodel *m) { return m ? m->st : NULL; }

const jang_qtensor *jang_qmodel_get(const jang_qmodel *m, int64_t i) {
    if (!m || i < 0 || i >= m->n) return NULL;
    return &m->e[i];
}

static const jang_qtensor *lookup(const jang_qmodel *m, const char *name) {
    size_t h = (size_t)hash_name(name) & (m->n_slots - 1);
    while (m->slots[h] >= 0) {
        const jang_qtensor *e = &m->e[m->slots[h]];
        if (strcmp(e->name, name) == 0) return e;
        h = (h + 1) & (m->n_slots - 1);
    }
    return NULL;
}

const jang_qtensor *jang_qmodel_find(const jang_qmodel *m, const char *name) {
    if (!m || !name || !m->slots) return NULL;
    const jang_qtensor *e = lookup(m, name);
    if (e) return e;
    size_t n = strlen(name);
    if (n > 7 && ends_with(name, ".weight") && n < 4096) {
        char p[4096];
        memcpy(p, name, n - 7);
        p[n - 7] = '\0';
        e = lookup(m, p);
        if (e && e->quantized) return e;
    }
    return NULL;
}

void jang_qmodel_get_stats(const jang_qmodel *m, jang_qmodel_stats *out) {
    memset(out, 0, sizeof *out);
    if (!m) return;
    double num = 0, den = 0;
    for (int64_t i = 0; i < m->n; i++) {
        const jang_qtensor *e = &m->e[i];
        out->n_params += e->n_params;
        out->bytes += e->n_bytes;
        if (!e->quantized) continue;
        out->n_quant_params += e->n_params;
        out->quant_bytes += e->n_bytes;
        out->code_bytes += e->weight->n_bytes;
        int bs = m->info.block_size > 0 ? m->info.block_size : e->group;
        int64_t blocks = (e->n_params + bs - 1) / bs;
        out->blocks_per_bits[e->bits] += blocks;
        num += (double)blocks * e->bits;
        den += (double)blocks;
    }
    out->jang_bits = den > 0 ? num / den : 0.0;
    out->true_bpw = out->n_params ? (double)out->bytes * 8.0 / (double)out->n_params : 0.0;
}

/* ---- validate ----------------------------------------------------------------------------- */

static const char *const check_names[] = {
#define JANG_X_(e, n, d) n,
    JANG_CHECK_MAP(JANG_X_)
#undef JANG_X_
};
static const char *const check_descs[] = {
#define JANG_X_(e, n, d) d,
    JANG_CHECK_MAP(JANG_X_)
#undef JANG_X_
};

const char *jang_check_name(jang_check_id c) {
    return (unsigned)c < JANG_CHECK_COUNT ? check_names[c] : "?";
}
const char *jang_check_desc(jang_check_id c) {
    return (unsigned)c < JANG_CHECK_COUNT ? check_descs[c] : "?";
}

static int cmp_cstr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Parses "model-00002-of-00005.safetensors" into k = 2, n = 5. */
static bool shard_numbers(const char *s, int *k, int *n) {
    int a, b, used = 0;
    if (sscanf(s, "model-%5d-of-%5d.safetensors%n", &a, &b, &used) != 2 || s[used] != '\0')
        return false;
    *k = a, *n = b;
    return true;
}

/* INDEX: the index against the shards on disk, each shard opened on its own. */
static void check_index(sink *k, const char *dir) {
    char nb[NB], nb2[NB];
    char *ipath = jang_path_join(dir, INDEX_NAME);
    json_t *root = NULL;
    const char **shards = NULL;
    jang_st **sts = NULL;
    size_t n_sh = 0;
    if (!ipath) return;
    tick(k, JANG_CHECK_INDEX, 0);
    if (!jang_file_exists(ipath)) {
        note(k, JANG_CHECK_INDEX, "no %s: a single model.safetensors", INDEX_NAME);
        goto done;
    }
    char *buf = NULL;
    size_t len = 0;
    if (jang_read_file(ipath, MAX_JSON, &buf, &len) != JANG_OK) {
        bad(k, JANG_CHECK_INDEX, JANG_E_IO, "%s", jang_last_error());
        goto done;
    }
    json_error_t e;
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
    free(buf);
    const json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(wm)) {
        bad(k, JANG_CHECK_INDEX, JANG_E_FORMAT, "%s: %s", INDEX_NAME,
            root ? "no \"weight_map\" object" : e.text);
        goto done;
    }
    const json_t *md = json_object_get(root, "metadata");
    const json_t *ts = json_object_get(md, "total_size");
    if (ts && !(json_is_integer(ts) && json_integer_value(ts) >= 0) &&
        !(json_is_real(ts) && json_real_value(ts) >= 0))
        bad(k, JANG_CHECK_INDEX, JANG_E_FORMAT, "%s: metadata.total_size is not a size",
            INDEX_NAME);

    /* distinct shards */
    size_t n_wm = json_object_size(wm);
    shards = jang_calloc(n_wm ? n_wm : 1, sizeof *shards, dir);
    if (!shards) goto done;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)wm, key, v) {
        if (!json_is_string(v)) {
            bad(k, JANG_CHECK_INDEX, JANG_E_FORMAT, "%s: tensor '%s' maps to a non-string",
                INDEX_NAME, pr(key, nb));
            continue;
        }
        bool seen = false;
        for (size_t i = 0; i < n_sh && !seen; i++)
            seen = strcmp(shards[i], json_string_value(v)) == 0;
        if (!seen) shards[n_sh++] = json_string_value(v);
    }
    qsort(shards, n_sh, sizeof *shards, cmp_cstr);
    sts = jang_calloc(n_sh ? n_sh : 1, sizeof *sts, dir);
    if (!sts) goto done;
    int n_named = -1, named = 0;
    for (size_t i = 0; i < n_sh; i++) {
        tick(k, JANG_CHECK_INDEX, 1);
        const char *sh = shards[i];
        if (strchr(sh, '/') || !strcmp(sh, "..") || !strcmp(sh, ".")) {
            bad(k, JANG_CHECK_INDEX, JANG_E_FORMAT, "shard '%s' is not a plain file name",
                pr(sh, nb));
            continue;
        }
        int kk, nn;
        if (shard_numbers(sh, &kk, &nn)) {
            if (n_named >= 0 && nn != n_named)
                bad(k, JANG_CHECK_INDEX, JANG_E_FORMAT,
                    "shard '%s' says %d shards but another says %d", pr(sh, nb), nn, n_named);
            n_named = nn;
            named++;
            if (kk < 1 || kk > nn)
                bad(k, JANG_CHECK_INDEX, JANG_E_FORMAT, "shard '%s': number out of range",
                    pr(sh, nb));
        }
        char *path = jang_path_join(dir, sh);
        if (!path) continue;
        if (!jang_file_exists(path)) {
            const char *example = "?";
            json_object_foreach((json_t *)wm, key, v) {
                if (json_is_string(v) && !strcmp(json_string_value(v), sh)) {
                    example = key;
                    break;
                }
            }
            bad(k, JANG_CHECK_INDEX, JANG_E_NOTFOUND,
                "shard '%s' is listed in the index (holding e.g. '%s') but does not exist",
                pr(sh, nb), pr(example, nb2));
            free(path);
            continue;
        }
        if (jang_st_open(path, &sts[i]) != JANG_OK) {
            bad(k, JANG_CHECK_INDEX, JANG_E_FORMAT, "%s", jang_last_error());
            free(path);
            continue;
        }
        free(path);
        const char *fmt = jang_st_metadata(sts[i], "format");
        if (!fmt || strcmp(fmt, "mlx") != 0)
            bad(k, JANG_CHECK_INDEX, JANG_E_FORMAT,
                "shard '%s': __metadata__ format is %s%s%s; jang and mlx-lm write \"mlx\"",
                pr(sh, nb), fmt ? "\"" : "", fmt ? pr(fmt, nb2) : "missing", fmt ? "\"" : "");
        /* every tensor of the shard is in the weight_map, mapped here */
        for (int64_t t = 0; t < jang_st_count(sts[i]); t++) {
            const char *tn = jang_st_get(sts[i], t)->name;
            const json_t *to = json_object_get(wm, tn);
            if (!json_is_string(to) || strcmp(json_string_value(to), sh) != 0)
                bad(k, JANG_CHECK_INDEX, JANG_E_FORMAT,
                    "tensor '%s' of shard '%s' is %s in the index weight_map", pr(tn, nb),
                    pr(sh, nb2), to ? "mapped to another shard" : "missing");
        }
    }
    if (named > 0 && n_named >= 0 && (size_t)named == n_sh && (int)n_sh != n_named)
        bad(k, JANG_CHECK_INDEX, JANG_E_FORMAT,
            "the shard names say %d shards but the index lists %zu", n_named, n_sh);
    /* every weight_map tensor is in its shard */
    json_object_foreach((json_t *)wm, key, v) {
        if (!json_is_string(v)) continue;
        tick(k, JANG_CHECK_INDEX, 1);
        for (size_t i = 0; i < n_sh; i++) {
            if (strcmp(shards[i], json_string_value(v)) != 0) continue;
            if (sts[i] && !jang_st_find(sts[i], key))
                bad(k, JANG_CHECK_INDEX, JANG_E_FORMAT,
                    "the index lists tensor '%s' in shard '%s', which lacks it", pr(key, nb),
                    pr(shards[i], nb2));
        }
    }
    /* every safetensors file on disk is listed */
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (!ends_with(de->d_name, ".safetensors")) continue;
        bool listed = false;
        for (size_t i = 0; i < n_sh && !listed; i++)
            listed = strcmp(shards[i], de->d_name) == 0;
        if (!listed && strncmp(de->d_name, "model", 5) == 0)
            bad(k, JANG_CHECK_INDEX, JANG_E_FORMAT,
                "file '%s' is not listed in the index (mlx-lm would still load every "
                "model*.safetensors)",
                pr(de->d_name, nb));
    }
    if (d) closedir(d);
done:
    for (size_t i = 0; sts && i < n_sh; i++)
        jang_st_close(sts[i]);
    free(sts);
    free(shards);
    json_decref(root);
    free(ipath);
}

/* Counts non-finite values of a float tensor; *first gets the first index. */
static int64_t count_nonfinite(const void *data, jang_dtype dt, int64_t n, int64_t *first) {
    const uint8_t *p = data;
    int64_t bad_n = 0;
    *first = -1;
    for (int64_t i = 0; i < n; i++) {
        bool nf;
        if (dt == JANG_DT_F16)
            nf = (jang_rd16(p + 2 * i) & 0x7c00) == 0x7c00;
        else if (dt == JANG_DT_BF16)
            nf = (jang_rd16(p + 2 * i) & 0x7f80) == 0x7f80;
        else if (dt == JANG_DT_F32)
            nf = (jang_rd32(p + 4 * i) & 0x7f800000u) == 0x7f800000u;
        else
            nf = (jang_rd64(p + 8 * i) & 0x7ff0000000000000ull) == 0x7ff0000000000000ull;
        if (nf && bad_n++ == 0) *first = i;
    }
    return bad_n;
}

static bool is_float(jang_dtype dt) {
    return dt == JANG_DT_F16 || dt == JANG_DT_BF16 || dt == JANG_DT_F32 || dt == JANG_DT_F64;
}

static void check_finite(sink *k, const jang_qmodel *m) {
    char nb[NB];
    for (int64_t i = 0; i < m->n; i++) {
        const jang_qtensor *e = &m->e[i];
        const jang_tensor *ts[2] = {e->quantized ? e->scales : e->tensor,
                                    e->quantized ? e->biases : NULL};
        for (int j = 0; j < 2; j++) {
            const jang_tensor *t = ts[j];
            if (!t || !is_float(t->dtype)) continue;
            tick(k, JANG_CHECK_FINITE, 1);
            int64_t first, nbad = count_nonfinite(t->data, t->dtype, t->n_elements, &first);
            if (nbad == 0) continue;
            int64_t cols = t->n_dims ? t->shape[t->n_dims - 1] : 1;
            bad(k, JANG_CHECK_FINITE, JANG_E_FORMAT,
                "tensor '%s': %lld non-finite value%s (NaN or Inf), first at row %lld, column "
                "%lld",
                pr(t->name, nb), (long long)nbad, nbad == 1 ? "" : "s",
                (long long)(cols ? first / cols : 0), (long long)(cols ? first % cols : 0));
        }
    }
}

/* A manifest shape field must equal the tensor's shape. */
static void check_manifest_shape(sink *k, const char *p, const json_t *ent, const char *field,
                                 const jang_tensor *t) {
    const json_t *a = json_object_get(ent, field);
    if (!a) return;
    bool ok = json_is_array(a) && (int)json_array_size(a) == t->n_dims;
    for (int d = 0; ok && d < t->n_dims; d++)
        ok = json_is_integer(json_array_get(a, (size_t)d)) &&
             json_integer_value(json_array_get(a, (size_t)d)) == t->shape[d];
    if (!ok) {
        char nb[NB], s1[160];
        shape_str(s1, sizeof s1, t->shape, t->n_dims);
        bad(k, JANG_CHECK_MANIFEST, JANG_E_FORMAT,
            "module '%s': manifest %s differs from the file's %s %s", pr(p, nb), field, t->name,
            s1);
    }
}

/* MANIFEST (JANG only) and the config.json entries against the modules found. */
static void check_manifest(sink *k, const jang_qmodel *m) {
    char nb[NB], nb2[NB];
    const char *key;
    const json_t *v;
    /* config.json entries must name quantized modules; quantization_config must match */
    if (m->qblock) {
        json_object_foreach((json_t *)m->qblock, key, v) {
            if (!json_is_object(v) && !json_is_true(v)) continue;
            tick(k, JANG_CHECK_QUANT, 1);
            /* a module with scales that failed to resolve was reported already */
            char sn[4096];
            const jang_tensor *sc =
                find_suffixed(m->st, key, strlen(key), ".scales", sn, sizeof sn);
            if (!sc)
                bad(k, JANG_CHECK_QUANT, JANG_E_FORMAT,
                    "config.json quantization entry '%s' names no quantized module in the files "
                    "(no '%s.scales')",
                    pr(key, nb), pr(key, nb2));
        }
        const json_t *qa = json_object_get(m->config, "quantization");
        const json_t *qc = json_object_get(m->config, "quantization_config");
        if (json_is_object(qa) && qc && !json_object_get(qc, "quant_method") &&
            !json_equal((json_t *)qa, (json_t *)qc))
            bad(k, JANG_CHECK_QUANT, JANG_E_FORMAT,
                "config.json: \"quantization_config\" differs from \"quantization\" (mlx-lm reads "
                "the latter, other tools the former)");
    }
    if (!m->info.is_jang) {
        note(k, JANG_CHECK_MANIFEST, "not a JANG directory (no jang_config.json)");
        return;
    }
    tick(k, JANG_CHECK_MANIFEST, 0);
    if (!m->manifest) {
        note(k, JANG_CHECK_MANIFEST, "jang_config.json has no tensor_quantization_manifest");
        return;
    }
    const json_t *q = json_object_get(m->jcfg, "quantization");
    json_object_foreach((json_t *)m->manifest, key, v) {
        tick(k, JANG_CHECK_MANIFEST, 1);
        const jang_qtensor *e = jang_qmodel_find(m, key);
        if (!e || !e->quantized || strcmp(e->name, key) != 0) {
            bad(k, JANG_CHECK_MANIFEST, JANG_E_FORMAT,
                "manifest lists module '%s' but the files hold no quantized module of that name",
                pr(key, nb));
            continue;
        }
        static const char *const kf[3] = {"weight_key", "scales_key", "biases_key"};
        const jang_tensor *ts[3] = {e->weight, e->scales, e->biases};
        for (int j = 0; j < 3; j++) {
            const json_t *x = json_object_get(v, kf[j]);
            if (x && (!json_is_string(x) || strcmp(json_string_value(x), ts[j]->name) != 0))
                bad(k, JANG_CHECK_MANIFEST, JANG_E_FORMAT, "module '%s': manifest %s is not '%s'",
                    pr(key, nb), kf[j], pr(ts[j]->name, nb2));
        }
        check_manifest_shape(k, key, v, "weight_shape", e->weight);
        check_manifest_shape(k, key, v, "scales_shape", e->scales);
        check_manifest_shape(k, key, v, "biases_shape", e->biases);
        if (!json_object_get(m->qblock, key) && config_unusable(k))
            k->rep->checks[JANG_CHECK_MANIFEST].n_skipped++;
        else if (!json_object_get(m->qblock, key))
            bad(k, JANG_CHECK_MANIFEST, JANG_E_FORMAT,
                "module '%s' has a manifest entry but no config.json quantization entry (mlx-lm "
                "reads only config.json)",
                pr(key, nb));
    }
    int used[JANG_AFFINE_MAX_BITS + 1] = {0};
    for (int64_t i = 0; i < m->n; i++) {
        const jang_qtensor *e = &m->e[i];
        if (!e->quantized) continue;
        used[e->bits] = 1;
        if (!json_object_get(m->manifest, e->name))
            bad(k, JANG_CHECK_MANIFEST, JANG_E_FORMAT, "module '%s' is not in the manifest",
                pr(e->name, nb));
    }
    int64_t cnt;
    if (get_int(q, "tensor_quantization_manifest_count", &cnt) &&
        cnt != (int64_t)json_object_size(m->manifest))
        bad(k, JANG_CHECK_MANIFEST, JANG_E_FORMAT,
            "tensor_quantization_manifest_count is %lld but the manifest has %zu entries",
            (long long)cnt, json_object_size(m->manifest));
    const json_t *bw = json_object_get(q, "bit_widths_used");
    if (json_is_array(bw)) {
        int listed[JANG_AFFINE_MAX_BITS + 1] = {0};
        bool ok = true;
        for (size_t i = 0; i < json_array_size(bw); i++) {
            const json_t *x = json_array_get(bw, i);
            if (json_is_integer(x) && json_integer_value(x) >= 0 &&
                json_integer_value(x) <= JANG_AFFINE_MAX_BITS)
                listed[json_integer_value(x)] = 1;
            else
                ok = false;
        }
        for (int b = 0; b <= JANG_AFFINE_MAX_BITS; b++)
            ok = ok && listed[b] == used[b];
        if (!ok)
            bad(k, JANG_CHECK_MANIFEST, JANG_E_FORMAT,
                "bit_widths_used does not match the bit widths of the quantized modules");
    }
    if (m->info.default_group > 0 && m->info.block_size != m->info.default_group)
        bad(k, JANG_CHECK_MANIFEST, JANG_E_FORMAT,
            "jang_config.json block_size %d differs from config.json group_size %d",
            m->info.block_size, m->info.default_group);
    jang_qmodel_stats st;
    jang_qmodel_get_stats(m, &st);
    if (!isnan(m->info.actual_bits) && m->info.n_quantized > 0) {
        char buf[32];
        snprintf(buf, sizeof buf, "%.2f", st.jang_bits);
        if (fabs(strtod(buf, NULL) - m->info.actual_bits) > 0.011)
            bad(k, JANG_CHECK_MANIFEST, JANG_E_FORMAT,
                "actual_bits %.2f differs from the %.2f the modules give (block-weighted mean "
                "code width)",
                m->info.actual_bits, st.jang_bits);
    }
}

jang_status jang_dir_validate(const char *dir, jang_validate_report *report) {
    if (!report) return jang_fail(JANG_E_ARG, "jang_dir_validate: report is NULL");
    memset(report, 0, sizeof *report);
    if (!dir || !dir[0]) return jang_fail(JANG_E_ARG, "jang_dir_validate: empty path");
    if (!jang_is_dir(dir)) return jang_fail(JANG_E_NOTFOUND, "%s: not a directory", dir);
    sink k = {report, dir};
    check_index(&k, dir);
    jang_qmodel *m = NULL;
    jang_status s = qm_load(&k, dir, NULL, &m);
    if (s == JANG_OK && m) {
        check_finite(&k, m);
        check_manifest(&k, m);
    }
    jang_qmodel_close(m);
    for (int c = 0; c < JANG_CHECK_COUNT; c++)
        if (report->checks[c].n_failed > 0)
            return jang_fail(JANG_E_FORMAT, "%s: %s check failed: %s", dir, check_names[c],
                             report->checks[c].msgs[0]);
    if (s != JANG_OK) return s; /* only allocation failures get here */
    return JANG_OK;
}
