/* convert.c — `jang convert`: a HF safetensors directory or a GGUF file to a JANG v2 directory
 * (jang.h "Conversion"). src/convert/ sits above format/, quant/ and model/: it is the one part of
 * the library that uses all three (the source reader, the allocators, the quantizer, the
 * directory writer and the HF exports).
 *
 * open:  source headers -> tensor list under HF names -> allocation plan (a JANG profile, an
 *        mlx-lm recipe, or the target-bpw budget, which measures errors on sample rows first)
 *        -> the output table and summary (what --dry-run prints).
 * write: checks the output path against the source, declares every output tensor, then per
 *        tensor and per chunk of rows: workers read rows (dequantize / convert, fix-ups), round
 *        them to the source precision, check they are finite, and quantize their rows (or
 *        convert them to the kept dtype); the chunk's codes are written at once, a quantized
 *        tensor's scales and biases after its last chunk. Memory: one chunk of f32 rows and its
 *        codes, plus one tensor's scales and biases; the source's pages are dropped after each
 *        tensor (jang_source_release), so the resident set does not grow with the model.
 * Tested by tests/test_convert.c; the CLI is cli/cmd_convert.c.
 */
#include "../model/source.h"
#include "../quant/alloc.h"
#include "pool.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

/* Elements per chunk of rows (16 MB of f32): large enough to keep every worker busy, small
 * enough that memory stays flat. */
#define CHUNK_ELEMS ((int64_t)4 << 20)

struct jang_converter {
    jang_convert_opts o;
    jang_source *src;
    char *src_path;
    bool gguf;
    jang_alloc_model am;
    jang_alloc_tensor *at; /* (n) allocator view of the source tensors, source order */
    jang_plan *plan;
    double *err;              /* target-bpw: (n, JANG_BUDGET_MAX_OPTIONS) */
    jang_convert_tensor *out; /* (n) */
    char **out_names;
    int64_t n;
    jang_convert_summary sum;
    char *config_json;             /* config.json text for the output */
    char *tok_json, *tok_cfg_json; /* GGUF: exported tokenizer files, or NULL */
    bool round_f16;                /* round values to float16 before quantizing / keeping */
    jang_dtype scale_dtype;
    bool written;
};

void jang_convert_opts_init(jang_convert_opts *o) {
    memset(o, 0, sizeof *o);
    jang_alloc_opts_init(&o->alloc);
    o->method = JANG_AFFINE_MSE;
    o->max_shard_bytes = (uint64_t)5 * 1024 * 1024 * 1024;
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static void note(jang_converter *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(jang_converter *c, const char *fmt, ...) {
    if (c->sum.n_notes >= JANG_CONVERT_MAX_NOTES) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->sum.notes[c->sum.n_notes++], sizeof c->sum.notes[0], fmt, ap);
    va_end(ap);
}

static int64_t elems(const jang_src_tensor *t) { return t->n_elements; }

/* "<prefix>.experts.<digits>." : a per-expert tensor of a HF MoE checkpoint */
static bool per_expert(const char *name) {
    const char *p = name;
    while ((p = strstr(p, ".experts.")) != NULL) {
        p += 9;
        if (*p >= '0' && *p <= '9') return true;
    }
    return false;
}

/* ---- sources: config.json and tokenizer files ---------------------------------------------- */

/* config.json, read and parsed once: its text for the output, the refusal of an already
 * quantized source, and the allocator's view of the model (c->am). */
static jang_status hf_config(jang_converter *c) {
    char *path = jang_path_join(c->src_path, "config.json");
    if (!path) return JANG_E_NOMEM;
    size_t len = 0;
    json_error_t err;
    json_t *j = NULL;
    jang_status s = jang_read_file(path, 16u << 20, &c->config_json, &len);
    if (s) goto done;
    j = json_loadb(c->config_json, len, 0, &err);
    if (json_is_object(json_object_get(j, "quantization")) ||
        json_is_object(json_object_get(j, "quantization_config"))) {
        s = jang_fail(JANG_E_UNSUPPORTED,
                      "%s: the source is already quantized (config.json has a quantization "
                      "block); requantizing JANG/MLX directories is not supported",
                      c->src_path);
        goto done;
    }
    if (!j) /* jang_alloc_model_from_hf_config's message */
        s = jang_fail(JANG_E_FORMAT, "%s: %s (line %d)", path, err.text, err.line);
    else
        s = jang_alloc_model_from_hf_json(j, path, &c->am);
done:
    json_decref(j);
    free(path);
    return s;
}

static jang_status gguf_exports(jang_converter *c) {
    const jang_model_desc *d = jang_source_desc(c->src);
    jang_status s = jang_desc_to_hf_config(d, "float16", &c->config_json);
    if (s) {
        char keep[512];
        snprintf(keep, sizeof keep, "%s", jang_last_error());
        return jang_fail(s, "%s: %s", c->src_path, keep);
    }
    s = jang_tokenizer_export_hf(jang_source_gguf(c->src), &c->tok_json, &c->tok_cfg_json);
    if (s) {
        note(c, "tokenizer not written: %s", jang_last_error());
        jang_clear_error();
    }
    return JANG_OK;
}

/* Files of an HF directory copied to the output (tokenizer, generation config, chat template). */
static bool copied_file(const char *name) {
    static const char *const exact[] = {"special_tokens_map.json",
                                        "added_tokens.json",
                                        "vocab.json",
                                        "vocab.txt",
                                        "merges.txt",
                                        "generation_config.json",
                                        "chat_template.json",
                                        "chat_template.jinja",
                                        "preprocessor_config.json",
                                        "processor_config.json",
                                        "tokenizer_config.json",
                                        "tokenizer.json",
                                        "tokenizer.model"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (!strcmp(name, exact[i])) return true;
    return !strncmp(name, "tokenizer", 9) && name[0] != '.';
}

/* ---- open ---------------------------------------------------------------------------------- */

/* Budget reader: rows of source tensor i, rounded as they will be quantized. */
static jang_status read_rows(void *ctx, int64_t i, int64_t row0, int64_t n_rows, float *out) {
    const jang_converter *c = ctx;
    const jang_src_tensor *t = jang_source_at(c->src, i);
    jang_status s = jang_source_read(c->src, t, row0, n_rows, out);
    jang_source_release_rows(c->src, t, row0, n_rows); /* each sample row is read once */
    if (s == JANG_OK && c->round_f16)
        for (int64_t k = 0; k < n_rows * t->cols; k++)
            out[k] = jang_round_f16(out[k]);
    return s;
}

static void measure_progress(void *ctx, int64_t done, int64_t total) {
    const jang_converter *c = ctx;
    if (!c->o.progress) return;
    jang_convert_progress p = {.phase = JANG_CONVERT_MEASURE, .done = done, .total = total};
    c->o.progress(c->o.progress_ctx, &p);
}

static jang_status make_plan(jang_converter *c) {
    const jang_convert_opts *o = &c->o;
    jang_status s;
    if (o->target_bpw > 0) {
        jang_alloc_opts base_o;
        jang_alloc_opts_init(&base_o);
        jang_plan *base = NULL;
        if ((s = jang_plan_make(c->at, c->n, &c->am, &base_o, &base))) return s;
        c->err = jang_malloc((size_t)(c->n ? c->n : 1) * JANG_BUDGET_MAX_OPTIONS * sizeof *c->err,
                             "budget errors");
        if (!c->err) {
            jang_plan_free(base);
            return JANG_E_NOMEM;
        }
        jang_budget_opts bo;
        jang_budget_opts_init(&bo);
        bo.target_bpw = o->target_bpw;
        bo.method = o->method;
        bo.scale_dtype = c->scale_dtype;
        bo.sample_rows = o->sample_rows;
        bo.n_threads = o->n_threads;
        bo.progress = measure_progress;
        bo.progress_ctx = c;
        bo.cancel = o->cancel;
        /* out of reach: say so before spending time measuring */
        double lo, hi;
        s = jang_budget_bounds(c->at, c->n, base, &lo, &hi);
        if (s == JANG_OK && o->target_bpw < lo)
            s = jang_fail(JANG_E_ARG,
                          "--target-bpw %g is below the minimum achievable %.4f bpw for this "
                          "model (every quantized tensor at 2 bits; norms and other unquantized "
                          "tensors are stored in float)",
                          o->target_bpw, lo);
        if (s == JANG_OK && o->target_bpw > hi * 1.01)
            s = jang_fail(JANG_E_ARG,
                          "--target-bpw %g is above the maximum achievable %.4f bpw for this "
                          "model (every quantized tensor at 8 bits, group 32)",
                          o->target_bpw, hi);
        if (s == JANG_OK) s = jang_budget_measure(c->at, c->n, base, &bo, read_rows, c, c->err);
        if (s == JANG_OK) s = jang_budget_solve(c->at, c->n, &c->am, base, c->err, &bo, &c->plan);
        jang_plan_free(base);
        return s;
    }
    return jang_plan_make(c->at, c->n, &c->am, &o->alloc, &c->plan);
}

static jang_status fill_table(jang_converter *c) {
    c->out = jang_calloc((size_t)(c->n ? c->n : 1), sizeof *c->out, "conversion table");
    c->out_names = jang_calloc((size_t)(c->n ? c->n : 1), sizeof *c->out_names, "table");
    if (!c->out || !c->out_names) return JANG_E_NOMEM;
    jang_convert_summary *S = &c->sum;
    const int bs = c->plan->block_size > 0 ? c->plan->block_size : 64;
    double jb_num = 0, jb_den = 0;
    for (int64_t i = 0; i < c->n; i++) {
        const jang_src_tensor *t = jang_source_at(c->src, i);
        jang_alloc_entry *e = &c->plan->entries[i];
        jang_convert_tensor *x = &c->out[i];
        /* a quantized entry must be a ".weight" whose rows the group divides */
        if (e->action == JANG_ALLOC_QUANT &&
            (!ends_with(t->name, ".weight") || t->n_dims < 2 || t->cols % e->group != 0)) {
            e->action = JANG_ALLOC_KEEP;
            e->keep_dtype = JANG_DT_F16;
            note(c, "'%s' kept in float16: not a quantizable .weight matrix", t->name);
        }
        x->source_name = t->file_name;
        x->n_dims = t->n_dims;
        memcpy(x->shape, t->shape, sizeof x->shape);
        x->action = e->action;
        x->tier = e->tier;
        x->src_bytes = t->n_bytes;
        x->rel_err = NAN;
        if (e->action == JANG_ALLOC_QUANT) {
            c->out_names[i] = jang_strndup(t->name, strlen(t->name) - 7);
            if (!c->out_names[i]) return JANG_E_NOMEM;
            x->name = c->out_names[i];
            x->bits = e->bits;
            x->group = e->group;
            x->bytes = (uint64_t)t->rows * ((uint64_t)t->cols * (uint64_t)e->bits / 8 +
                                            (uint64_t)(t->cols / e->group) * 4);
            if (c->err) {
                for (int k = 0; k < jang_budget_n_options(); k++) {
                    int b, g;
                    jang_budget_option(k, &b, &g);
                    if (b == e->bits && g == e->group)
                        x->rel_err = c->err[i * JANG_BUDGET_MAX_OPTIONS + k];
                }
            }
            S->n_quantized++;
            S->n_params += elems(t);
            double blocks = (double)((elems(t) + bs - 1) / bs);
            jb_num += blocks * e->bits;
            jb_den += blocks;
        } else {
            x->name = t->name;
            if (e->action == JANG_ALLOC_KEEP) {
                /* GGUF holds no float dtype of its own: kept tensors are float16 */
                if (c->gguf && e->keep_dtype == JANG_DT_F32) e->keep_dtype = JANG_DT_F16;
                if (e->keep_dtype != JANG_DT_F16 && e->keep_dtype != JANG_DT_BF16 &&
                    e->keep_dtype != JANG_DT_F32)
                    return jang_fail(JANG_E_UNSUPPORTED, "%s: tensor '%s' has dtype %s",
                                     c->src_path, t->name, jang_dtype_name(e->keep_dtype));
                x->dtype = e->keep_dtype;
                x->bytes = (uint64_t)elems(t) * jang_dtype_size(e->keep_dtype);
                S->n_kept++;
                S->n_params += elems(t);
            } else {
                S->n_dropped++;
            }
        }
        S->bytes += x->bytes;
        if (e->action != JANG_ALLOC_DROP) S->src_bytes += t->n_bytes;
    }
    snprintf(S->label, sizeof S->label, "%s", c->plan->label);
    snprintf(S->source_kind, sizeof S->source_kind, "%s", c->gguf ? "gguf" : "safetensors");
    S->recipe = c->plan->recipe;
    S->method = c->o.method;
    S->block_size = bs;
    S->true_bpw = S->n_params > 0 ? (double)S->bytes * 8.0 / (double)S->n_params : 0;
    S->jang_bits = jb_den > 0 ? jb_num / jb_den : 0;
    S->target_bpw = c->o.target_bpw > 0 ? c->o.target_bpw : 0;
    return JANG_OK;
}

jang_status jang_converter_open(const char *src, const jang_convert_opts *opts,
                                jang_converter **out) {
    *out = NULL;
    if (!src || !src[0]) return jang_fail(JANG_E_ARG, "convert: no source given");
    jang_converter *c = jang_calloc(1, sizeof *c, "converter");
    if (!c) return JANG_E_NOMEM;
    if (opts)
        c->o = *opts;
    else
        jang_convert_opts_init(&c->o);
    jang_status s;
    if (!(c->src_path = jang_strdup(src))) {
        s = JANG_E_NOMEM;
        goto fail;
    }
    if (c->o.method != JANG_AFFINE_RTN && c->o.method != JANG_AFFINE_MSE) {
        s = jang_fail(JANG_E_ARG, "convert: unknown quantization method %d", (int)c->o.method);
        goto fail;
    }
    if ((s = jang_source_open(src, &c->src))) goto fail;
    c->gguf = jang_source_is_gguf(c->src);
    if (!c->gguf && !jang_is_dir(src)) {
        s = jang_fail(JANG_E_UNSUPPORTED,
                      "%s: a single safetensors file has no config.json; give its directory", src);
        goto fail;
    }
    if (c->gguf) {
        jang_alloc_model_from_desc(jang_source_desc(c->src), &c->am);
        if ((s = gguf_exports(c))) goto fail;
        for (int64_t i = 0; i < jang_source_n_skipped(c->src); i++)
            note(c, "GGUF tensor '%s' skipped: no Hugging Face counterpart",
                 jang_source_skipped(c->src, i));
    } else {
        if ((s = hf_config(c))) goto fail;
    }
    c->n = jang_source_count(c->src);
    if (c->n == 0) {
        s = jang_fail(JANG_E_FORMAT, "%s: no tensors", src);
        goto fail;
    }
    bool recipe_jang = c->o.target_bpw <= 0 && c->o.alloc.recipe == JANG_RECIPE_JANG;
    bool mlx = c->o.target_bpw <= 0 && !recipe_jang;
    c->round_f16 = recipe_jang || c->gguf;
    c->scale_dtype = JANG_DT_F16;
    c->at = jang_calloc((size_t)c->n, sizeof *c->at, "tensor list");
    if (!c->at) {
        s = JANG_E_NOMEM;
        goto fail;
    }
    for (int64_t i = 0; i < c->n; i++) {
        const jang_src_tensor *t = jang_source_at(c->src, i);
        if (t->dtype != JANG_DT_F32 && t->dtype != JANG_DT_F16 && t->dtype != JANG_DT_BF16) {
            s = jang_fail(JANG_E_UNSUPPORTED,
                          "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 sources are "
                          "supported",
                          t->file, t->name, jang_dtype_name(t->dtype));
            goto fail;
        }
        jang_alloc_tensor *a = &c->at[i];
        a->name = t->name;
        /* GGUF: F32-typed tensors (norms, biases) as F32, the rest as the float16 they become */
        a->dtype = c->gguf ? (t->ggml_type == JANG_GGML_F32 ? JANG_DT_F32 : JANG_DT_F16) : t->dtype;
        a->n_dims = t->n_dims;
        memcpy(a->shape, t->shape, sizeof a->shape);
        a->shard = t->shard;
        if (mlx && !c->gguf && t->dtype == JANG_DT_BF16) c->scale_dtype = JANG_DT_BF16;
    }
    if ((s = make_plan(c))) goto fail;
    for (int64_t i = 0; i < c->n; i++)
        if (c->plan->entries[i].action == JANG_ALLOC_QUANT && per_expert(c->at[i].name)) {
            s = jang_fail(JANG_E_UNSUPPORTED,
                          "%s: tensor '%s': per-expert MoE checkpoints are not supported (MLX "
                          "stacks experts into switch_mlp with one width per stack); convert a "
                          "GGUF of the model, whose experts are stacked already",
                          src, c->at[i].name);
            goto fail;
        }
    if ((s = fill_table(c))) goto fail;
    *out = c;
    return JANG_OK;
fail:
    jang_converter_close(c);
    return s;
}

void jang_converter_close(jang_converter *c) {
    if (!c) return;
    if (c->out_names)
        for (int64_t i = 0; i < c->n; i++)
            free(c->out_names[i]);
    free(c->out_names);
    free(c->out);
    free(c->err);
    jang_plan_free(c->plan);
    free(c->at);
    jang_source_close(c->src);
    free(c->config_json);
    free(c->tok_json);
    free(c->tok_cfg_json);
    free(c->src_path);
    free(c);
}

int64_t jang_converter_count(const jang_converter *c) { return c->n; }

const jang_convert_tensor *jang_converter_get(const jang_converter *c, int64_t i) {
    return i >= 0 && i < c->n ? &c->out[i] : NULL;
}

void jang_converter_summary(const jang_converter *c, jang_convert_summary *out) { *out = c->sum; }

/* ---- output path checks -------------------------------------------------------------------- */

/* Canonical absolute path of p, which may not exist yet (its parent must). malloc'ed. */
static char *canonical(const char *p) {
    char buf[PATH_MAX];
    if (realpath(p, buf)) return jang_strdup(buf);
    int err = errno;
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        n--;
    char *copy = jang_strndup(p, n);
    if (!copy) return NULL;
    char *slash = strrchr(copy, '/');
    const char *base = slash ? slash + 1 : copy;
    const char *parent = slash ? (slash == copy ? "/" : copy) : ".";
    if (slash) *slash = '\0';
    char *res = NULL;
    if (realpath(parent, buf) && strlen(buf) + strlen(base) + 2 < sizeof buf) {
        size_t l = strlen(buf);
        if (l > 1) buf[l++] = '/';
        strcpy(buf + l, base);
        res = jang_strdup(buf);
    }
    free(copy);
    if (!res) errno = err;
    return res;
}

static bool inside(const char *child, const char *dir) {
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/') return child[0] == '/' && child[1];
    return !strncmp(child, dir, n) && child[n] == '/';
}

static jang_status check_paths(const char *src, const char *out) {
    char *so = canonical(src), *oo = canonical(out);
    jang_status s = JANG_OK;
    if (!so)
        s = jang_fail(JANG_E_IO, "%s: cannot open: %s", src, strerror(errno));
    else if (!oo)
        s = jang_fail(JANG_E_IO, "%s: the output's parent directory does not exist", out);
    else if (!strcmp(so, oo))
        s = jang_fail(JANG_E_ARG, "%s: the output is the source; choose another directory", out);
    else if (inside(oo, so))
        s = jang_fail(JANG_E_ARG,
                      "%s: the output lies inside the source directory %s; never "
                      "writing into the source",
                      out, src);
    else if (inside(so, oo))
        s = jang_fail(JANG_E_ARG, "%s: the source %s lies inside the output directory", out, src);
    free(so);
    free(oo);
    return s;
}

/* ---- streaming ----------------------------------------------------------------------------- */

typedef struct chunk_job {
    const jang_converter *c;
    const jang_src_tensor *t;
    const jang_alloc_entry *e;
    int64_t row0, n_rows;      /* the chunk */
    float *f;                  /* (n_rows, cols) scratch */
    uint32_t *packed;          /* QUANT: (n_rows, cols*bits/32) */
    uint16_t *scales, *biases; /* QUANT: the whole tensor's (rows, cols/group) */
    void *kept;                /* KEEP: (n_rows, cols) in keep dtype */
    pthread_mutex_t mu;
    jang_status status;
    char detail[1024];
} chunk_job;

static void chunk_fail(chunk_job *jb, jang_status s, const char *detail) {
    pthread_mutex_lock(&jb->mu);
    if (jb->status == JANG_OK) {
        jb->status = s;
        snprintf(jb->detail, sizeof jb->detail, "%s", detail);
    }
    pthread_mutex_unlock(&jb->mu);
}

static void chunk_worker(void *ctx, int wid, int nw) {
    chunk_job *jb = ctx;
    const jang_src_tensor *t = jb->t;
    const jang_alloc_entry *e = jb->e;
    int64_t a, b;
    jang_pool_split(jb->n_rows, wid, nw, 1, &a, &b);
    if (a >= b) return;
    int64_t cols = t->cols, n = (b - a) * cols;
    float *f = jb->f + a * cols;
    jang_status s = jang_source_read(jb->c->src, t, jb->row0 + a, b - a, f);
    char msg[1024];
    if (s) {
        snprintf(msg, sizeof msg, "%s", jang_last_error());
        chunk_fail(jb, s, msg);
        return;
    }
    for (int64_t k = 0; k < n; k++) {
        if (!isfinite(f[k])) {
            snprintf(msg, sizeof msg,
                     "%s: tensor '%s': non-finite value %g at row %lld, column %lld", t->file,
                     t->file_name, (double)f[k], (long long)(jb->row0 + a + k / cols),
                     (long long)(k % cols));
            chunk_fail(jb, JANG_E_FORMAT, msg);
            return;
        }
        if (jb->c->round_f16) f[k] = jang_round_f16(f[k]);
    }
    if (e->action == JANG_ALLOC_QUANT) {
        jang_affine_opts ao;
        jang_affine_opts_init(&ao);
        ao.method = jb->c->o.method;
        ao.n_threads = 1;
        int64_t ng = cols / e->group, r = jb->row0 + a;
        s = jang_affine_quantize(f, b - a, cols, e->bits, e->group, jb->c->scale_dtype, &ao,
                                 jb->packed + a * (cols * e->bits / 32), jb->scales + r * ng,
                                 jb->biases + r * ng);
        if (s) {
            char keep[600];
            snprintf(keep, sizeof keep, "%s", jang_last_error());
            snprintf(msg, sizeof msg, "%s: tensor '%s', rows from %lld: %s", t->file, t->file_name,
                     (long long)r, keep);
            chunk_fail(jb, s, msg);
        }
        return;
    }
    /* KEEP */
    switch (e->keep_dtype) {
    case JANG_DT_F32:
        memcpy((float *)jb->kept + a * cols, f, (size_t)n * 4);
        break;
    case JANG_DT_F16:
    case JANG_DT_BF16: {
        uint16_t *o = (uint16_t *)jb->kept + a * cols;
        bool h = e->keep_dtype == JANG_DT_F16;
        for (int64_t k = 0; k < n; k++) {
            o[k] = h ? jang_f32_to_f16(f[k]) : jang_f32_to_bf16(f[k]);
            if (h && (o[k] & 0x7c00) == 0x7c00) {
                snprintf(msg, sizeof msg,
                         "%s: tensor '%s': value %g at row %lld, column %lld overflows float16",
                         t->file, t->file_name, (double)f[k], (long long)(jb->row0 + a + k / cols),
                         (long long)(k % cols));
                chunk_fail(jb, JANG_E_FORMAT, msg);
                return;
            }
        }
        break;
    }
    default:
        JANG_ASSERT(0 && "keep dtype");
    }
}

typedef struct stream_state {
    jang_pool *pool;
    float *f;
    void *buf; /* packed codes or kept values of one chunk */
    size_t f_cap, buf_cap;
    uint16_t *scales, *biases;
    size_t sb_cap;
    uint64_t bytes_done, bytes_total;
    int64_t done, total;
} stream_state;

static bool grow(void **p, size_t *cap, size_t need) {
    if (need <= *cap) return true;
    free(*p);
    *p = jang_malloc(need, "conversion buffers");
    *cap = *p ? need : 0;
    return *p != NULL;
}

static void report(const jang_converter *c, const stream_state *st, const char *name) {
    if (!c->o.progress) return;
    jang_convert_progress p = {JANG_CONVERT_WRITE, st->done,        st->total,
                               st->bytes_done,     st->bytes_total, name};
    c->o.progress(c->o.progress_ctx, &p);
}

static jang_status stream_tensor(const jang_converter *c, jang_dir_writer *w, stream_state *st,
                                 int64_t i) {
    const jang_src_tensor *t = jang_source_at(c->src, i);
    const jang_alloc_entry *e = &c->plan->entries[i];
    const jang_convert_tensor *x = &c->out[i];
    int64_t rows = t->rows, cols = t->cols;
    bool q = e->action == JANG_ALLOC_QUANT;
    int64_t chunk = cols > 0 ? CHUNK_ELEMS / cols : rows;
    if (chunk < 1) chunk = 1;
    if (chunk > rows) chunk = rows;
    size_t out_row =
        q ? (size_t)(cols * e->bits / 32) * 4 : (size_t)cols * jang_dtype_size(e->keep_dtype);
    if (!grow((void **)&st->f, &st->f_cap, (size_t)(chunk * cols) * sizeof(float) + 1) ||
        !grow(&st->buf, &st->buf_cap, (size_t)chunk * out_row + 1))
        return JANG_E_NOMEM;
    if (q) {
        size_t sb = (size_t)(rows * (cols / e->group)) * 2 + 1;
        if (sb > st->sb_cap) {
            free(st->scales), free(st->biases);
            st->scales = jang_malloc(sb, "scales");
            st->biases = jang_malloc(sb, "biases");
            st->sb_cap = st->scales && st->biases ? sb : 0;
            if (!st->sb_cap) return JANG_E_NOMEM;
        }
    }
    chunk_job jb = {.c = c, .t = t, .e = e, .f = st->f};
    pthread_mutex_init(&jb.mu, NULL);
    jang_status s = JANG_OK;
    uint64_t base = st->bytes_done;
    for (int64_t r = 0; r < rows && s == JANG_OK; r += chunk) {
        if (c->o.cancel && *c->o.cancel) {
            s = jang_fail(JANG_E_CANCELED, "interrupted while writing tensor '%s'", x->name);
            break;
        }
        jb.row0 = r;
        jb.n_rows = rows - r < chunk ? rows - r : chunk;
        jb.packed = st->buf;
        jb.kept = st->buf;
        jb.scales = st->scales;
        jb.biases = st->biases;
        jang_pool_run(st->pool, chunk_worker, &jb);
        if (jb.status != JANG_OK) {
            s = jang_fail(jb.status, "%s", jb.detail);
            break;
        }
        s = jang_dir_writer_write(w, st->buf, (size_t)jb.n_rows * out_row);
        jang_source_release_rows(c->src, t, r, jb.n_rows);
        st->bytes_done = base + (uint64_t)((double)t->n_bytes * (double)(r + jb.n_rows) /
                                           (double)(rows ? rows : 1));
        report(c, st, x->name);
    }
    if (s == JANG_OK && q) {
        size_t sb = (size_t)(rows * (cols / e->group)) * 2;
        s = jang_dir_writer_write(w, st->scales, sb);
        if (s == JANG_OK) s = jang_dir_writer_write(w, st->biases, sb);
    }
    pthread_mutex_destroy(&jb.mu);
    jang_source_release(c->src, t);
    st->bytes_done = base + t->n_bytes;
    return s;
}

static jang_status add_file(jang_dir_file **files, int *n, int *cap, jang_dir_file f) {
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 8;
        jang_dir_file *p = realloc(*files, (size_t)nc * sizeof *p);
        if (!p) return jang_fail(JANG_E_NOMEM, "out of memory");
        *files = p;
        *cap = nc;
    }
    (*files)[(*n)++] = f;
    return JANG_OK;
}

static const char *params_label(int64_t n, char *buf, size_t cap) {
    if (n >= 1000000000)
        snprintf(buf, cap, "%.1fB", (double)n / 1e9);
    else
        snprintf(buf, cap, "%.0fM", (double)n / 1e6);
    return buf;
}

static jang_status finish(const jang_converter *c, jang_dir_writer *w) {
    jang_dir_file *files = NULL;
    int nf = 0, cap = 0;
    char **paths = NULL;
    int np = 0;
    jang_status s = JANG_OK;
    if (c->gguf) {
        if (c->tok_json) {
            s = add_file(&files, &nf, &cap,
                         (jang_dir_file){"tokenizer.json", NULL, c->tok_json, strlen(c->tok_json)});
            if (!s)
                s = add_file(&files, &nf, &cap,
                             (jang_dir_file){"tokenizer_config.json", NULL, c->tok_cfg_json,
                                             strlen(c->tok_cfg_json)});
        }
    } else {
        DIR *d = opendir(c->src_path);
        struct dirent *de;
        paths = jang_calloc(256, sizeof *paths, "file list");
        if (!d || !paths) s = jang_fail(JANG_E_IO, "%s: cannot list the directory", c->src_path);
        while (s == JANG_OK && d && (de = readdir(d)) != NULL && np < 256) {
            if (!copied_file(de->d_name)) continue;
            char *p = jang_path_join(c->src_path, de->d_name);
            if (!p) {
                s = JANG_E_NOMEM;
                break;
            }
            if (!jang_file_exists(p)) {
                free(p);
                continue;
            }
            paths[np++] = p;
            s = add_file(&files, &nf, &cap, (jang_dir_file){strrchr(p, '/') + 1, p, NULL, 0});
        }
        if (d) closedir(d);
    }
    char extra[512], plabel[32], backend[96];
    const jang_convert_summary *S = &c->sum;
    char target[32] = "null";
    if (S->target_bpw > 0) snprintf(target, sizeof target, "%.6g", S->target_bpw);
    snprintf(extra, sizeof extra,
             "{\"converter\": \"jang convert (C)\", \"source_format\": \"%s\", \"affine_method\": "
             "\"%s\", \"true_bpw\": %.4f, \"target_bpw\": %s}",
             S->source_kind, jang_affine_method_name(c->o.method), S->true_bpw, target);
    snprintf(backend, sizeof backend, "%s",
             c->o.method == JANG_AFFINE_RTN ? "jang-c affine rtn (mx.quantize-exact)"
                                            : "jang-c affine mse");
    jang_dir_meta meta;
    jang_dir_meta_init(&meta);
    meta.hf_config_json = c->config_json;
    meta.block_size = S->block_size;
    meta.method = S->recipe == JANG_RECIPE_JANG         ? "jang-importance"
                  : S->recipe == JANG_RECIPE_TARGET_BPW ? "jang-c-target-bpw"
                                                        : "mlx-lm-recipe";
    meta.profile = S->label;
    meta.target_bits = S->recipe == JANG_RECIPE_JANG         ? c->plan->target_bits
                       : S->recipe == JANG_RECIPE_TARGET_BPW ? S->target_bpw
                                                             : 0;
    meta.backend = backend;
    const jang_model_desc *d = jang_source_desc(c->src);
    meta.source_name = d && d->model_name[0] ? d->model_name : c->src_path;
    meta.source_dtype = c->gguf ? "gguf" : "float16";
    if (!c->gguf && c->n > 0) {
        jang_dtype dt = jang_source_at(c->src, 0)->dtype;
        meta.source_dtype = dt == JANG_DT_BF16  ? "bfloat16"
                            : dt == JANG_DT_F32 ? "float32"
                                                : "float16";
    }
    meta.source_params = params_label(S->n_params, plabel, sizeof plabel);
    meta.arch_type = c->am.arch_type[0] ? c->am.arch_type : "transformer";
    meta.has_moe = c->am.has_moe;
    meta.has_ssm = !strcmp(meta.arch_type, "mamba");
    meta.quantization_extra_json = extra;
    meta.files = files;
    meta.n_files = nf;
    if (s == JANG_OK) {
        s = jang_dir_writer_finish(w, &meta);
    } else {
        jang_dir_writer_abort(w);
    }
    for (int i = 0; i < np; i++)
        free(paths[i]);
    free(paths);
    free(files);
    return s;
}

jang_status jang_convert_check_output(const char *src, const char *out, bool force) {
    if (!src || !out || !out[0]) return jang_fail(JANG_E_ARG, "convert: no output directory given");
    jang_status s = check_paths(src, out);
    if (s) return s;
    struct stat sb;
    if (!force && lstat(out, &sb) == 0)
        return jang_fail(JANG_E_EXISTS, "%s: already exists (use --force to replace it)", out);
    return JANG_OK;
}

jang_status jang_converter_write(jang_converter *c, const char *out) {
    if (!c || !out || !out[0]) return jang_fail(JANG_E_ARG, "convert: no output directory given");
    if (c->written) return jang_fail(JANG_E_ARG, "convert: write called twice");
    c->written = true;
    jang_status s = check_paths(c->src_path, out);
    if (s) return s;
    jang_dir_writer_opts wo;
    jang_dir_writer_opts_init(&wo);
    wo.force = c->o.force;
    if (c->o.max_shard_bytes) wo.max_shard_bytes = c->o.max_shard_bytes;
    jang_dir_writer *w = NULL;
    if ((s = jang_dir_writer_open(out, &wo, &w))) return s;
    for (int64_t i = 0; i < c->n && s == JANG_OK; i++) {
        const jang_convert_tensor *x = &c->out[i];
        const jang_src_tensor *t = jang_source_at(c->src, i);
        if (x->action == JANG_ALLOC_QUANT)
            s = jang_dir_writer_declare_quantized(w, x->name, t->n_dims, t->shape, x->bits,
                                                  x->group, c->scale_dtype, t->name);
        else if (x->action == JANG_ALLOC_KEEP)
            s = jang_dir_writer_declare(w, x->name, x->dtype, t->n_dims, t->shape);
    }
    stream_state st = {0};
    st.total = c->sum.n_quantized + c->sum.n_kept;
    st.bytes_total = c->sum.src_bytes;
    if (s == JANG_OK && !(st.pool = jang_pool_create(c->o.n_threads))) s = JANG_E_NOMEM;
    for (int64_t i = 0; i < c->n && s == JANG_OK; i++) {
        if (c->out[i].action == JANG_ALLOC_DROP) continue;
        s = stream_tensor(c, w, &st, i);
        st.done++;
        if (s == JANG_OK) report(c, &st, NULL);
    }
    jang_pool_free(st.pool);
    free(st.f), free(st.buf), free(st.scales), free(st.biases);
    if (s != JANG_OK) {
        char keep[1024];
        snprintf(keep, sizeof keep, "%s", jang_last_error());
        jang_dir_writer_abort(w);
        return jang_fail(s, "%s", keep);
    }
    if (c->o.cancel && *c->o.cancel) {
        jang_dir_writer_abort(w);
        return jang_fail(JANG_E_CANCELED, "interrupted before finishing %s", out);
    }
    return finish(c, w);
}
