/* model_load.c — opens a model for the runtime: jang_model_open / jang_model_close.
 *
 * Sources: a GGUF file (every tensor dequantized to f32 once, with llama.cpp's fix-ups undone:
 * see gguf_names.c), a Hugging Face safetensors directory (F32/F16/BF16 matrices used in place
 * from the memory map; vectors converted to f32) or a JANG / MLX quantized directory (codes,
 * scales and biases used in place). Which tensors to load, under which names and shapes, comes
 * from the architecture's traits row (arch.h); every tensor's shape is checked before use, and a
 * file with tensors the architecture does not use is refused (llama.cpp's "wrong number of
 * tensors"): errors name the file and tensor. The backend then places each weight (backend.h).
 * Tested by tests/test_model.c against transformers' logits.
 */
#include "../format/format.h"
#include "model_internal.h"
#include "util.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

bool jang_model_own(jang_model *m, void *p) {
    if (!p) return false;
    if (m->n_owned == m->cap_owned) {
        int64_t cap = m->cap_owned ? m->cap_owned * 2 : 64;
        void **n = realloc(m->owned, (size_t)cap * sizeof *n);
        if (!n) {
            free(p);
            jang_fail(JANG_E_NOMEM, "out of memory");
            return false;
        }
        m->owned = n;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = p;
    return true;
}

static void *model_alloc(jang_model *m, size_t bytes, const char *what) {
    void *p = jang_malloc(bytes, what);
    if (p && !jang_model_own(m, p)) return NULL;
    return p;
}

/* Places w with the model's backend (device memory for a GPU backend; in place on the CPU),
 * after asking the backend whether it can multiply by it (backend.h supports). */
static jang_status place(jang_model *m, jang_weight *w) {
    void *owned = NULL;
    if (!m->backend->supports(m->placer, JANG_OP_MATMUL, w))
        return jang_fail(JANG_E_UNSUPPORTED, "the %s backend cannot multiply by a %lld x %lld %s",
                         m->backend->name, (long long)w->rows, (long long)w->cols,
                         w->kind == JANG_WK_AFFINE ? "affine matrix of that width and group"
                                                   : "matrix of that type");
    jang_status s = m->backend->place_weight(m->placer, w, &owned);
    if (s || !owned) return s;
    if (m->n_placed == m->cap_placed) {
        int64_t cap = m->cap_placed ? m->cap_placed * 2 : 64;
        void **n = realloc(m->placed, (size_t)cap * sizeof *n);
        if (!n) {
            m->backend->release(m->placer, owned);
            return jang_fail(JANG_E_NOMEM, "out of memory");
        }
        m->placed = n;
        m->cap_placed = cap;
    }
    m->placed[m->n_placed++] = owned;
    return JANG_OK;
}

/* Places n host floats (a norm, a bias, the RoPE table) and returns their backend address. */
static jang_status place_vec(jang_model *m, const float *host, int64_t n, const float **out) {
    jang_weight w = {.kind = JANG_WK_F32, .rows = 1, .cols = n, .data = host};
    jang_status s = place(m, &w);
    *out = s ? NULL : w.data;
    return s;
}

static const jang_st *model_st(const jang_model *m) {
    return m->st ? m->st : jang_qmodel_st(m->qm);
}

static const char *model_file(const jang_model *m) {
    return m->gguf ? jang_gguf_path(m->gguf) : "model";
}

/* ---- tensor look-up in the open source ----------------------------------------------------- */

/* A tensor as f32 (GGUF: dequantized + fixed up; safetensors: converted; see source.c) in an owned
 * buffer, or NULL with *found = false when absent. shape must match exactly (n_dims entries);
 * GGUF may drop trailing unit dims, so there the element count and last dim are compared. */
static jang_status load_f32(jang_model *m, const char *name, int n_dims, const int64_t *shape,
                            float **out, bool *found) {
    *out = NULL;
    *found = false;
    int64_t n = 1;
    for (int i = 0; i < n_dims; i++)
        n *= shape[i];
    const jang_src_tensor *t = jang_source_find(m->src, name);
    if (!t) return JANG_OK;
    *found = true;
    bool ok;
    if (m->gguf) {
        ok = t->n_elements == n && (n_dims < 1 || t->cols == shape[n_dims - 1]);
        if (!ok)
            return jang_fail(JANG_E_FORMAT, "%s: tensor '%s' (%s) has %lld elements, expected %lld",
                             model_file(m), t->file_name, name, (long long)t->n_elements,
                             (long long)n);
    } else {
        ok = t->n_dims == n_dims;
        for (int i = 0; ok && i < n_dims; i++)
            ok = t->shape[i] == shape[i];
        if (!ok)
            return jang_fail(JANG_E_FORMAT, "%s: tensor '%s' has an unexpected shape", t->file,
                             name);
    }
    float *buf = model_alloc(m, (size_t)n * sizeof(float), name);
    if (!buf) return JANG_E_NOMEM;
    jang_status s = jang_source_read(m->src, t, 0, t->rows, buf);
    if (s) return s;
    *out = buf;
    return JANG_OK;
}

/* A linear layer's weight (rows, cols). */
static jang_status load_weight(jang_model *m, const char *name, int64_t rows, int64_t cols,
                               bool required, jang_weight *w, bool *found_out) {
    memset(w, 0, sizeof *w);
    w->rows = rows;
    w->cols = cols;
    bool found = false;
    if (m->qm) { /* a quantized module is looked up by its path without ".weight" */
        size_t nl = strlen(name);
        char mod[256];
        if (nl > 7 && nl - 7 < sizeof mod && !strcmp(name + nl - 7, ".weight")) {
            memcpy(mod, name, nl - 7);
            mod[nl - 7] = '\0';
            const jang_qtensor *q = jang_qmodel_find(m->qm, mod);
            if (q && q->quantized) {
                if (q->rows != rows || q->cols != cols)
                    return jang_fail(JANG_E_FORMAT,
                                     "%s: module '%s' is (%lld, %lld), expected (%lld, %lld)",
                                     q->weight->file, mod, (long long)q->rows, (long long)q->cols,
                                     (long long)rows, (long long)cols);
                if (q->scale_dtype != JANG_DT_F16 && q->scale_dtype != JANG_DT_BF16)
                    return jang_fail(JANG_E_UNSUPPORTED, "%s: module '%s' has %s scales",
                                     q->weight->file, mod, jang_dtype_name(q->scale_dtype));
                if (!q->aligned)
                    return jang_fail(JANG_E_UNSUPPORTED,
                                     "%s: module '%s' is not aligned in its file (rewrite it "
                                     "with jang or mlx)",
                                     q->weight->file, mod);
                w->kind = JANG_WK_AFFINE;
                w->data = q->codes;
                w->scales = q->scale_data;
                w->biases = q->bias_data;
                w->sdtype = q->scale_dtype;
                w->bits = q->bits;
                w->group = q->group;
                if (found_out) *found_out = true;
                return JANG_OK;
            }
        }
    }
    if (!m->gguf) {
        const jang_tensor *t = jang_st_find(model_st(m), name);
        if (t && (t->dtype == JANG_DT_F16 || t->dtype == JANG_DT_BF16 || t->dtype == JANG_DT_F32)) {
            if (t->n_dims != 2 || t->shape[0] != rows || t->shape[1] != cols)
                return jang_fail(
                    JANG_E_FORMAT, "%s: tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]",
                    t->file, name, (long long)(t->n_dims > 0 ? t->shape[0] : 0),
                    (long long)(t->n_dims > 1 ? t->shape[1] : 0), (long long)rows, (long long)cols);
            size_t esz = jang_dtype_size(t->dtype);
            if (((uintptr_t)t->data % esz) == 0) { /* use the map in place */
                w->kind = t->dtype == JANG_DT_F32   ? JANG_WK_F32
                          : t->dtype == JANG_DT_F16 ? JANG_WK_F16
                                                    : JANG_WK_BF16;
                w->data = t->data;
                if (found_out) *found_out = true;
                return JANG_OK;
            }
        } else if (t) {
            return jang_fail(JANG_E_UNSUPPORTED, "%s: tensor '%s' has dtype %s (quantized?)",
                             t->file, name, jang_dtype_name(t->dtype));
        }
    }
    float *buf = NULL;
    int64_t shape[2] = {rows, cols};
    jang_status s = load_f32(m, name, 2, shape, &buf, &found);
    if (s) return s;
    if (found_out) *found_out = found;
    if (!found)
        return required ? jang_fail(JANG_E_FORMAT, "%s: missing tensor '%s'", model_file(m), name)
                        : JANG_OK;
    w->kind = JANG_WK_F32;
    w->data = buf;
    return JANG_OK;
}

static jang_status load_vec(jang_model *m, const char *name, int64_t n, bool required,
                            const float **out) {
    float *buf = NULL;
    bool found = false;
    jang_status s = load_f32(m, name, 1, &n, &buf, &found);
    if (s) return s;
    if (!found && required)
        return jang_fail(JANG_E_FORMAT, "%s: missing tensor '%s'", model_file(m), name);
    *out = buf;
    return JANG_OK;
}

/* ---- open / close ------------------------------------------------------------------------- */

/* A Hugging Face, MLX or JANG directory: config.json is read and parsed once, for the
 * description and, when it carries an MLX/JANG "quantization" block, for the quantized reader. */
static jang_status open_dir(jang_model *m, const char *dir) {
    char *file = jang_path_join(dir, "config.json");
    if (!file) return jang_fail(JANG_E_NOMEM, "out of memory");
    json_t *cfg = NULL;
    jang_status s = jang_hf_config_load(file, &cfg);
    if (!s) s = jang_desc_from_hf_json(cfg, file, &m->d);
    if (!s) {
        jang_clear_error(); /* as before: an open that gets this far carries no stale detail */
        if (json_is_object(json_object_get(cfg, "quantization")))
            s = jang_qmodel_open_with_config(dir, cfg, &m->qm);
        else
            s = jang_st_open(dir, &m->st);
    }
    json_decref(cfg);
    free(file);
    return s;
}

void jang_model_opts_init(jang_model_opts *o) { o->backend = NULL; }

static jang_status check_supported(const char *src, const jang_model_desc *d,
                                   const jang_arch_traits *tr) {
    /* the readers checked it already; everything below is sized from it, so once more here */
    jang_status s = jang_desc_check(d, src);
    if (s) return s;
    if (!tr->runs)
        return jang_fail(JANG_E_UNSUPPORTED, "%s: the runtime does not run %s models yet", src,
                         jang_arch_name(d->arch));
    if (d->rope_scaling == JANG_ROPE_SCALING_DYNAMIC ||
        d->rope_scaling == JANG_ROPE_SCALING_LONGROPE)
        return jang_fail(JANG_E_UNSUPPORTED, "%s: RoPE scaling '%s' is not supported", src,
                         jang_rope_scaling_name(d->rope_scaling));
    if (d->vocab_size <= 0 || d->ffn_dim <= 0 || d->head_dim <= 0)
        return jang_fail(JANG_E_FORMAT, "%s: incomplete model description", src);
    return JANG_OK;
}

/* ---- the tensors of the traits row ---------------------------------------------------------- */

/* Names of the tensors loaded, to find the file's unused ones afterwards. */
typedef struct {
    char **v;
    int64_t n, cap;
} name_list;

static jang_status names_add(name_list *l, const char *name) {
    if (l->n == l->cap) {
        int64_t cap = l->cap ? l->cap * 2 : 256;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return jang_fail(JANG_E_NOMEM, "out of memory");
        l->v = v, l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(name))) return jang_fail(JANG_E_NOMEM, "out of memory");
    l->n++;
    return JANG_OK;
}

static void names_free(name_list *l) {
    for (int64_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool names_has(const name_list *l, const char *name) {
    return bsearch(&name, l->v, (size_t)l->n, sizeof *l->v, cmp_str) != NULL;
}

static bool need_of(const jang_arch_tensor *at, const jang_model_desc *d) {
    switch (at->need) {
    case JANG_NEED_ALWAYS:
        return true;
    case JANG_NEED_OPTIONAL:
        return false;
    case JANG_NEED_ATTN_BIAS:
        return d->attn_bias;
    case JANG_NEED_QK_NORM:
        return d->qk_norm;
    }
    return false;
}

/* Loads the rows of `tab` into T (layer < 0: globals, names as they are; else under the traits'
 * layer prefix) and places them; records the names found. */
static jang_status load_tensors(jang_model *m, const jang_arch_tensor *tab, int n_tab,
                                int64_t layer, jang_tensors *T, name_list *used) {
    const jang_model_desc *d = &m->d;
    char name[256];
    for (int i = 0; i < n_tab; i++) {
        const jang_arch_tensor *at = &tab[i];
        int k = layer < 0 ? snprintf(name, sizeof name, "%s", at->hf)
                          : snprintf(name, sizeof name, "%s%lld.%s", m->traits->layer_prefix,
                                     (long long)layer, at->hf);
        if (k < 0 || (size_t)k >= sizeof name)
            return jang_fail(JANG_E_ARG, "tensor name too long: %s", at->hf);
        const bool required = need_of(at, d);
        const int64_t rows = jang_dim_value(at->shape[0], d);
        bool found = false;
        jang_status s;
        if (at->shape[1] != JANG_DIM_NONE) {
            s = load_weight(m, name, rows, jang_dim_value(at->shape[1], d), required,
                            &T->w[at->role], &found);
            if (!s && found && (s = place(m, &T->w[at->role]))) {
                char why[320];
                snprintf(why, sizeof why, "%s", jang_last_error());
                return jang_fail(s, "%s: tensor '%s': %s", model_file(m), name, why);
            }
        } else {
            const float *host = NULL;
            s = load_vec(m, name, rows, required, &host);
            found = host != NULL;
            if (!s && found) s = place_vec(m, host, rows, &T->v[at->role]);
        }
        if (s) return s;
        T->has[at->role] = found;
        if (found && (s = names_add(used, name))) return s;
    }
    return JANG_OK;
}

/* Fails naming the file's tensors that no row of the architecture loaded. */
static jang_status check_unused(const jang_model *m, name_list *used) {
    qsort(used->v, (size_t)used->n, sizeof *used->v, cmp_str);
    int64_t n_unused = 0;
    char first[3][320];
    char wname[300];
    int64_t total = m->qm ? jang_qmodel_count(m->qm) : jang_source_count(m->src);
    for (int64_t i = 0; i < total; i++) {
        const char *name;
        if (m->qm) {
            const jang_qtensor *q = jang_qmodel_get(m->qm, i);
            name = q->name;
            if (q->quantized) { /* a quantized module is used as "<module>.weight" */
                snprintf(wname, sizeof wname, "%s.weight", q->name);
                name = wname;
            }
        } else {
            name = jang_source_at(m->src, i)->name;
        }
        if (names_has(used, name)) continue;
        if (n_unused < 3) snprintf(first[n_unused], sizeof first[0], "'%s'", name);
        n_unused++;
    }
    if (!n_unused) return JANG_OK;
    return jang_fail(JANG_E_FORMAT,
                     "%s: %lld tensor%s that a %s model does not have (%s%s%s%s%s%s): a wrong "
                     "architecture or layer count in its description?",
                     model_file(m), (long long)n_unused, n_unused > 1 ? "s" : "",
                     jang_arch_name(m->d.arch), first[0], n_unused > 1 ? ", " : "",
                     n_unused > 1 ? first[1] : "", n_unused > 2 ? ", " : "",
                     n_unused > 2 ? first[2] : "", n_unused > 3 ? ", ..." : "");
}

static jang_status load_all(jang_model *m) {
    const jang_model_desc *d = &m->d;
    const jang_arch_traits *tr = m->traits;
    name_list used = {0};
    jang_status s = JANG_OK;
    m->layers = model_alloc(m, (size_t)d->n_layers * sizeof *m->layers, "layers");
    if (!m->layers) return JANG_E_NOMEM;
    memset(m->layers, 0, (size_t)d->n_layers * sizeof *m->layers);
    if ((s = load_tensors(m, tr->globals, tr->n_globals, -1, &m->g, &used))) goto done;
    if (!m->g.has[JANG_ROLE_OUTPUT]) m->g.w[JANG_ROLE_OUTPUT] = m->g.w[JANG_ROLE_TOK_EMBD];
    for (int64_t l = 0; l < d->n_layers; l++)
        if ((s = load_tensors(m, tr->layer, tr->n_layer, l, &m->layers[l], &used))) goto done;
    s = check_unused(m, &used);
done:
    names_free(&used);
    return s;
}

static jang_status load_rope(jang_model *m) {
    float *f;
    jang_status s = jang_rope_freqs(&m->d, &f, &m->rope_mscale);
    if (s) return s;
    if (!jang_model_own(m, f)) return JANG_E_NOMEM;
    return place_vec(m, f, m->d.rope_dim / 2 > 0 ? m->d.rope_dim / 2 : 1, &m->inv_freq);
}

jang_status jang_model_open(const char *path, const jang_model_opts *opts, jang_model **out) {
    *out = NULL;
    jang_model_opts def;
    if (!opts) {
        jang_model_opts_init(&def);
        opts = &def;
    }
    const jang_backend_i *bi = jang_backend_find(opts->backend ? opts->backend : "cpu");
    if (!bi) return JANG_E_ARG;
    jang_model *m = jang_calloc(1, sizeof *m, "model");
    if (!m) return JANG_E_NOMEM;
    m->backend = bi;
    jang_status s;
    jang_backend_opts bo = {.n_threads = 1, .isa = NULL};
    if ((s = bi->create(&bo, &m->placer))) goto fail;
    if (!jang_is_dir(path)) {
        if ((s = jang_gguf_open(path, &m->gguf))) goto fail;
        if ((s = jang_desc_from_gguf(m->gguf, &m->d))) goto fail;
    } else {
        if ((s = open_dir(m, path))) goto fail;
    }
    m->traits = jang_arch_traits_of(m->d.arch);
    if ((s = check_supported(path, &m->d, m->traits))) goto fail;
    if ((s = jang_source_wrap(m->gguf, m->gguf ? NULL : model_st(m), &m->d, &m->src))) goto fail;
    if ((s = load_all(m)) || (s = load_rope(m))) goto fail;
    const jang_model_desc *d = &m->d;
    m->default_ctx = d->max_seq_len > 0 && d->max_seq_len < 4096 ? d->max_seq_len : 4096;
    *out = m;
    return JANG_OK;
fail:
    jang_model_close(m);
    return s;
}

void jang_model_close(jang_model *m) {
    if (!m) return;
    for (int64_t i = 0; i < m->n_placed; i++)
        m->backend->release(m->placer, m->placed[i]);
    free(m->placed);
    if (m->placer) m->backend->free(m->placer);
    for (int64_t i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    jang_source_close(m->src);
    jang_gguf_close(m->gguf);
    jang_st_close(m->st);
    jang_qmodel_close(m->qm);
    free(m);
}

const jang_model_desc *jang_model_get_desc(const jang_model *m) { return &m->d; }

int64_t jang_model_weight_bytes(const jang_model *m) {
    int64_t b = jang_weight_bytes(&m->g.w[JANG_ROLE_OUTPUT]);
    for (int64_t l = 0; l < m->d.n_layers; l++)
        for (int r = 0; r < JANG_ROLE_COUNT; r++)
            if (m->layers[l].has[r] && m->layers[l].w[r].data)
                b += jang_weight_bytes(&m->layers[l].w[r]);
    return b;
}
