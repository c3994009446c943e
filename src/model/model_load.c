/* model_load.c — opens a model for the runtime: jang_model_open / jang_model_close.
 *
 * Sources: a GGUF file (every tensor dequantized to f32 once, with llama.cpp's fix-ups undone:
 * see gguf_names.c), or a Hugging Face safetensors directory (F32/F16/BF16 matrices used in
 * place from the memory map; vectors converted to f32). Every tensor's shape is checked against
 * the model description before use; errors name the file and tensor.
 * Tested by tests/test_model.c against transformers' logits.
 */
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

/* Whether a model directory's config.json carries an MLX/JANG "quantization" block. */
static bool dir_is_quantized(const char *dir) {
    char *cfg = jang_path_join(dir, "config.json");
    char *text = NULL;
    bool q = false;
    if (cfg && jang_read_file(cfg, 64u << 20, &text, NULL) == JANG_OK) {
        json_t *j = json_loads(text, 0, NULL);
        q = json_is_object(json_object_get(j, "quantization"));
        json_decref(j);
    }
    free(text);
    free(cfg);
    jang_clear_error();
    return q;
}

void jang_model_opts_init(jang_model_opts *o) {
    o->n_threads = 0;
    o->max_ctx = 0;
}

static jang_status check_supported(const char *src, const jang_model_desc *d) {
    switch (d->arch) {
    case JANG_ARCH_LLAMA:
    case JANG_ARCH_MISTRAL:
    case JANG_ARCH_QWEN2:
    case JANG_ARCH_QWEN3:
        break;
    default:
        return jang_fail(JANG_E_UNSUPPORTED, "%s: the runtime does not run %s models yet", src,
                         jang_arch_name(d->arch));
    }
    if (d->rope_scaling == JANG_ROPE_SCALING_DYNAMIC ||
        d->rope_scaling == JANG_ROPE_SCALING_LONGROPE)
        return jang_fail(JANG_E_UNSUPPORTED, "%s: RoPE scaling '%s' is not supported", src,
                         jang_rope_scaling_name(d->rope_scaling));
    if (d->vocab_size <= 0 || d->ffn_dim <= 0 || d->head_dim <= 0)
        return jang_fail(JANG_E_FORMAT, "%s: incomplete model description", src);
    return JANG_OK;
}

static jang_status load_layers(jang_model *m) {
    const jang_model_desc *d = &m->d;
    int64_t dim = d->dim, hd = d->head_dim, qd = d->n_heads * hd, kvd = d->n_kv_heads * hd;
    m->layers = model_alloc(m, (size_t)d->n_layers * sizeof *m->layers, "layers");
    if (!m->layers) return JANG_E_NOMEM;
    memset(m->layers, 0, (size_t)d->n_layers * sizeof *m->layers);
    char n[256];
    jang_status s;
    for (int64_t i = 0; i < d->n_layers; i++) {
        jang_layer *L = &m->layers[i];
#define NAME(fmt) (snprintf(n, sizeof n, "model.layers.%lld." fmt, (long long)i), n)
        if ((s = load_vec(m, NAME("input_layernorm.weight"), dim, true, &L->attn_norm)) ||
            (s = load_vec(m, NAME("post_attention_layernorm.weight"), dim, true, &L->ffn_norm)) ||
            (s = load_weight(m, NAME("self_attn.q_proj.weight"), qd, dim, true, &L->wq, NULL)) ||
            (s = load_weight(m, NAME("self_attn.k_proj.weight"), kvd, dim, true, &L->wk, NULL)) ||
            (s = load_weight(m, NAME("self_attn.v_proj.weight"), kvd, dim, true, &L->wv, NULL)) ||
            (s = load_weight(m, NAME("self_attn.o_proj.weight"), dim, qd, true, &L->wo, NULL)) ||
            (s = load_weight(m, NAME("mlp.gate_proj.weight"), d->ffn_dim, dim, true, &L->w_gate,
                             NULL)) ||
            (s = load_weight(m, NAME("mlp.up_proj.weight"), d->ffn_dim, dim, true, &L->w_up,
                             NULL)) ||
            (s = load_weight(m, NAME("mlp.down_proj.weight"), dim, d->ffn_dim, true, &L->w_down,
                             NULL)) ||
            (s = load_vec(m, NAME("self_attn.q_proj.bias"), qd, d->attn_bias, &L->bq)) ||
            (s = load_vec(m, NAME("self_attn.k_proj.bias"), kvd, d->attn_bias, &L->bk)) ||
            (s = load_vec(m, NAME("self_attn.v_proj.bias"), kvd, d->attn_bias, &L->bv)) ||
            (s = load_vec(m, NAME("self_attn.q_norm.weight"), hd, d->qk_norm, &L->q_norm)) ||
            (s = load_vec(m, NAME("self_attn.k_norm.weight"), hd, d->qk_norm, &L->k_norm)))
            return s;
#undef NAME
    }
    return JANG_OK;
}

static jang_status alloc_state(jang_model *m, const jang_model_opts *o) {
    const jang_model_desc *d = &m->d;
    m->max_ctx = o->max_ctx > 0 ? o->max_ctx : (d->max_seq_len > 0 ? d->max_seq_len : 4096);
    if (o->max_ctx <= 0 && m->max_ctx > 4096) m->max_ctx = 4096;
    if (m->max_ctx > (int64_t)1 << 24)
        return jang_fail(JANG_E_ARG, "context length %lld too large", (long long)m->max_ctx);
    size_t kv = (size_t)d->n_layers * (size_t)m->max_ctx * (size_t)(d->n_kv_heads * d->head_dim);
    m->k_cache = model_alloc(m, kv * sizeof(float), "KV cache");
    m->v_cache = model_alloc(m, kv * sizeof(float), "KV cache");
    m->pool = jang_pool_create(o->n_threads);
    if (!m->k_cache || !m->v_cache || !m->pool) return JANG_E_NOMEM;
    m->scores = model_alloc(
        m, (size_t)jang_pool_size(m->pool) * JANG_ATTEND_MAX_Q * (size_t)m->max_ctx * sizeof(float),
        "attention scores");
    return m->scores ? JANG_OK : JANG_E_NOMEM;
}

jang_status jang_model_open(const char *path, const jang_model_opts *opts, jang_model **out) {
    *out = NULL;
    jang_model_opts def;
    if (!opts) {
        jang_model_opts_init(&def);
        opts = &def;
    }
    jang_model *m = jang_calloc(1, sizeof *m, "model");
    if (!m) return JANG_E_NOMEM;
    jang_status s;
    if ((s = jang_kernels_init())) goto fail; /* JANG_ISA names an unknown or unusable ISA */
    if (!jang_is_dir(path)) {
        if ((s = jang_gguf_open(path, &m->gguf))) goto fail;
        if ((s = jang_desc_from_gguf(m->gguf, &m->d))) goto fail;
    } else {
        if ((s = jang_desc_from_hf_config(path, &m->d))) goto fail;
        if (dir_is_quantized(path)) {
            if ((s = jang_qmodel_open(path, &m->qm))) goto fail;
        } else if ((s = jang_st_open(path, &m->st))) {
            goto fail;
        }
    }
    if ((s = check_supported(path, &m->d))) goto fail;
    if ((s = jang_source_wrap(m->gguf, m->gguf ? NULL : model_st(m), &m->d, &m->src))) goto fail;
    const jang_model_desc *d = &m->d;
    bool found = false;
    if ((s = load_weight(m, "model.embed_tokens.weight", d->vocab_size, d->dim, true, &m->tok_embd,
                         NULL)) ||
        (s = load_vec(m, "model.norm.weight", d->dim, true, &m->out_norm)) ||
        (s = load_weight(m, "lm_head.weight", d->vocab_size, d->dim, false, &m->output, &found)))
        goto fail;
    if (!found) m->output = m->tok_embd; /* tied */
    if ((s = load_layers(m)) || (s = alloc_state(m, opts)) || (s = jang_model_init_rope(m)))
        goto fail;
    *out = m;
    return JANG_OK;
fail:
    jang_model_close(m);
    return s;
}

void jang_model_close(jang_model *m) {
    if (!m) return;
    for (int64_t i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m->x), free(m->xb), free(m->q), free(m->k), free(m->v), free(m->att), free(m->hb),
        free(m->hb2);
    jang_pool_free(m->pool);
    jang_source_close(m->src);
    jang_gguf_close(m->gguf);
    jang_st_close(m->st);
    jang_qmodel_close(m->qm);
    free(m);
}

const jang_model_desc *jang_model_get_desc(const jang_model *m) { return &m->d; }

int64_t jang_model_max_ctx(const jang_model *m) { return m->max_ctx; }

static int64_t weight_bytes(const jang_weight *w) {
    switch (w->kind) {
    case JANG_WK_F32:
        return w->rows * w->cols * 4;
    case JANG_WK_F16:
    case JANG_WK_BF16:
        return w->rows * w->cols * 2;
    case JANG_WK_AFFINE:
        return w->rows * w->cols * w->bits / 8 + 2 * w->rows * (w->cols / w->group) * 2;
    }
    return 0;
}

int64_t jang_model_weight_bytes(const jang_model *m) {
    int64_t b = weight_bytes(&m->output);
    for (int64_t l = 0; l < m->d.n_layers; l++) {
        const jang_layer *L = &m->layers[l];
        const jang_weight *ws[] = {&L->wq,     &L->wk,   &L->wv,    &L->wo,
                                   &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
            b += weight_bytes(ws[i]);
    }
    return b;
}
