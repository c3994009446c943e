/* source.c — model tensors by HF name as f32 in HF layout, from GGUF or safetensors (source.h).
 *
 * GGUF: every tensor is listed under its HF name (jang_gguf_map_name); a row of a GGUF tensor is
 * its innermost dimension ne[0], which is the HF last dimension, so rows map one to one, except
 * for the Q/K weights llama.cpp row-permuted: HF row h*hd + j*hd/2 + i is GGUF row h*hd + 2i + j.
 * Rows are dequantized one run at a time (ne[0] is a multiple of the block size). Safetensors:
 * the stored rows converted from F32/F16/BF16.
 * Tested through tests/test_model.c and tests/test_convert.c.
 */
#include "source.h"
#include "util.h"

#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct jang_source {
    char *path;
    jang_gguf *gguf;
    jang_st *st;
    bool owns; /* close gguf / st at jang_source_close */
    jang_model_desc desc;
    bool has_desc;
    jang_src_tensor *t;
    int64_t n;
    int64_t *by_name; /* indices sorted by name */
    char **names;     /* owned HF names (GGUF) */
    char **skipped;
    int64_t n_skipped;
};

static int64_t prod(const int64_t *shape, int32_t n) {
    int64_t p = 1;
    for (int32_t i = 0; i < n; i++)
        p *= shape[i];
    return p;
}

static void set_rows(jang_src_tensor *t) {
    t->n_elements = prod(t->shape, t->n_dims);
    if (t->n_dims == 0) {
        t->rows = 1, t->cols = 1;
    } else {
        t->cols = t->shape[t->n_dims - 1];
        t->rows = t->cols > 0 ? t->n_elements / t->cols : 0;
    }
}

typedef struct name_idx {
    const char *name;
    int64_t idx;
} name_idx;

static int cmp_name_idx(const void *a, const void *b) {
    return strcmp(((const name_idx *)a)->name, ((const name_idx *)b)->name);
}

static jang_status build_index(jang_source *s) {
    name_idx *v = jang_malloc((size_t)(s->n ? s->n : 1) * sizeof *v, "tensor index");
    s->by_name = jang_malloc((size_t)(s->n ? s->n : 1) * sizeof *s->by_name, "tensor index");
    if (!v || !s->by_name) {
        free(v);
        return JANG_E_NOMEM;
    }
    for (int64_t i = 0; i < s->n; i++)
        v[i] = (name_idx){s->t[i].name, i};
    qsort(v, (size_t)s->n, sizeof *v, cmp_name_idx);
    jang_status st = JANG_OK;
    for (int64_t i = 0; i < s->n; i++) {
        s->by_name[i] = v[i].idx;
        /* names are unique in safetensors; in GGUF two tensors could map to one HF name */
        if (i > 0 && st == JANG_OK && !strcmp(v[i - 1].name, v[i].name))
            st = jang_fail(JANG_E_FORMAT, "%s: tensors '%s' and '%s' both map to '%s'", s->path,
                           s->t[v[i - 1].idx].file_name, s->t[v[i].idx].file_name, v[i].name);
    }
    free(v);
    return st;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static jang_status list_st(jang_source *s) {
    int64_t n = jang_st_count(s->st);
    s->t = jang_calloc((size_t)(n ? n : 1), sizeof *s->t, "tensor list");
    const char **files = jang_calloc((size_t)(n ? n : 1), sizeof *files, "tensor list");
    if (!s->t || !files) {
        free(files);
        return JANG_E_NOMEM;
    }
    /* shard rank: the distinct file paths sorted */
    int64_t nf = 0;
    for (int64_t i = 0; i < n; i++) {
        const char *f = jang_st_get(s->st, i)->file;
        bool seen = false;
        for (int64_t k = 0; k < nf && !seen; k++)
            seen = !strcmp(files[k], f);
        if (!seen) files[nf++] = f;
    }
    qsort(files, (size_t)nf, sizeof *files, cmp_str);
    for (int64_t i = 0; i < n; i++) {
        const jang_tensor *x = jang_st_get(s->st, i);
        jang_src_tensor *t = &s->t[i];
        t->name = t->file_name = x->name;
        t->file = x->file;
        t->dtype = x->dtype;
        t->ggml_type = UINT32_MAX;
        t->n_dims = x->n_dims;
        memcpy(t->shape, x->shape, sizeof t->shape);
        set_rows(t);
        t->n_bytes = x->n_bytes;
        t->fix = JANG_GGUF_FIX_NONE;
        t->data = x->data;
        for (int64_t k = 0; k < nf; k++)
            if (!strcmp(files[k], x->file)) t->shard = (int32_t)k;
    }
    s->n = n;
    free(files);
    return JANG_OK;
}

static jang_status list_gguf(jang_source *s) {
    int64_t n = jang_gguf_n_tensors(s->gguf);
    s->t = jang_calloc((size_t)(n ? n : 1), sizeof *s->t, "tensor list");
    s->names = jang_calloc((size_t)(n ? n : 1), sizeof *s->names, "tensor list");
    s->skipped = jang_calloc((size_t)(n ? n : 1), sizeof *s->skipped, "tensor list");
    if (!s->t || !s->names || !s->skipped) return JANG_E_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        const jang_gguf_tensor *g = jang_gguf_tensor_at(s->gguf, i);
        char hf[512];
        jang_gguf_fix fix;
        jang_status st = jang_gguf_map_name(s->desc.arch, g->name, hf, sizeof hf, &fix);
        if (st == JANG_E_NOTFOUND) {
            jang_clear_error();
            if (!(s->skipped[s->n_skipped++] = jang_strdup(g->name))) return JANG_E_NOMEM;
            continue;
        }
        if (st) return st;
        jang_src_tensor *t = &s->t[s->n];
        if (!(s->names[s->n] = jang_strdup(hf))) return JANG_E_NOMEM;
        t->name = s->names[s->n];
        t->file_name = g->name;
        t->file = jang_gguf_path(s->gguf);
        t->dtype = JANG_DT_F32;
        t->ggml_type = g->type;
        t->n_dims = g->n_dims;
        for (int32_t d = 0; d < g->n_dims; d++)
            t->shape[d] = g->shape[d];
        set_rows(t);
        t->n_bytes = g->n_bytes;
        t->fix = fix;
        t->data = g->data;
        int64_t bs;
        size_t ts;
        if (!jang_ggml_type_info(g->type, &bs, &ts))
            return jang_fail(JANG_E_UNSUPPORTED, "%s: tensor '%s' has unknown ggml type %u",
                             t->file, g->name, g->type);
        if (t->cols % bs != 0)
            return jang_fail(JANG_E_FORMAT,
                             "%s: tensor '%s': row length %lld is not a multiple of the %s "
                             "block size %lld",
                             t->file, g->name, (long long)t->cols, jang_ggml_type_name(g->type),
                             (long long)bs);
        if ((fix == JANG_GGUF_FIX_UNPERMUTE_Q || fix == JANG_GGUF_FIX_UNPERMUTE_K) && t->n_dims > 2)
            return jang_fail(JANG_E_UNSUPPORTED,
                             "%s: tensor '%s': row permutation of a %d-D tensor", t->file, g->name,
                             (int)t->n_dims);
        s->n++;
    }
    return JANG_OK;
}

static jang_status finish_open(jang_source *s) {
    jang_status st = s->gguf ? list_gguf(s) : list_st(s);
    if (st == JANG_OK) st = build_index(s);
    return st;
}

jang_status jang_source_wrap(const jang_gguf *g, const jang_st *st, const jang_model_desc *d,
                             jang_source **out) {
    *out = NULL;
    if ((g != NULL) == (st != NULL) || (g && !d))
        return jang_fail(JANG_E_ARG, "jang_source_wrap: exactly one of gguf / safetensors");
    jang_source *s = jang_calloc(1, sizeof *s, "source");
    if (!s) return JANG_E_NOMEM;
    s->gguf = (jang_gguf *)g; /* borrowed: only read, never closed */
    s->st = (jang_st *)st;
    s->path = jang_strdup(g ? jang_gguf_path(g) : "safetensors");
    if (d) s->desc = *d, s->has_desc = true;
    jang_status r = s->path ? finish_open(s) : JANG_E_NOMEM;
    if (r) {
        jang_source_close(s);
        return r;
    }
    *out = s;
    return JANG_OK;
}

jang_status jang_source_open(const char *path, jang_source **out) {
    *out = NULL;
    jang_source *s = jang_calloc(1, sizeof *s, "source");
    if (!s) return JANG_E_NOMEM;
    s->owns = true;
    jang_status r = JANG_OK;
    if (!(s->path = jang_strdup(path))) {
        r = JANG_E_NOMEM;
        goto fail;
    }
    if (jang_is_dir(path)) {
        if ((r = jang_st_open(path, &s->st))) goto fail;
        char *cfg = jang_path_join(path, "config.json");
        /* an architecture we do not know still converts (no description); a description that is
         * malformed or out of bounds (jang_desc_check) is refused */
        jang_status d = cfg && jang_file_exists(cfg) ? jang_desc_from_hf_config(path, &s->desc)
                                                     : JANG_E_NOTFOUND;
        free(cfg);
        if (d == JANG_E_FORMAT) {
            r = d;
            goto fail;
        }
        s->has_desc = d == JANG_OK;
        jang_clear_error();
    } else {
        FILE *f = fopen(path, "rb");
        char magic[4] = {0};
        bool gguf = f && fread(magic, 1, 4, f) == 4 && !memcmp(magic, "GGUF", 4);
        if (f) fclose(f);
        if (gguf) {
            if ((r = jang_gguf_open(path, &s->gguf))) goto fail;
            if ((r = jang_desc_from_gguf(s->gguf, &s->desc))) goto fail;
            s->has_desc = true;
        } else if ((r = jang_st_open(path, &s->st))) {
            goto fail;
        }
    }
    if ((r = finish_open(s))) goto fail;
    *out = s;
    return JANG_OK;
fail:
    jang_source_close(s);
    return r;
}

void jang_source_close(jang_source *s) {
    if (!s) return;
    if (s->owns) {
        jang_gguf_close(s->gguf);
        jang_st_close(s->st);
    }
    if (s->names)
        for (int64_t i = 0; i < s->n; i++)
            free(s->names[i]);
    for (int64_t i = 0; i < s->n_skipped; i++)
        free(s->skipped[i]);
    free(s->names);
    free(s->skipped);
    free(s->t);
    free(s->by_name);
    free(s->path);
    free(s);
}

bool jang_source_is_gguf(const jang_source *s) { return s->gguf != NULL; }
const char *jang_source_path(const jang_source *s) { return s->path; }
const jang_gguf *jang_source_gguf(const jang_source *s) { return s->gguf; }
const jang_model_desc *jang_source_desc(const jang_source *s) {
    return s->has_desc ? &s->desc : NULL;
}
int64_t jang_source_count(const jang_source *s) { return s->n; }
int64_t jang_source_n_skipped(const jang_source *s) { return s->n_skipped; }

const jang_src_tensor *jang_source_at(const jang_source *s, int64_t i) {
    return i >= 0 && i < s->n ? &s->t[i] : NULL;
}

const char *jang_source_skipped(const jang_source *s, int64_t i) {
    return i >= 0 && i < s->n_skipped ? s->skipped[i] : NULL;
}

const jang_src_tensor *jang_source_find(const jang_source *s, const char *name) {
    int64_t lo = 0, hi = s->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->t[s->by_name[mid]].name, name);
        if (c == 0) return &s->t[s->by_name[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- reading ------------------------------------------------------------------------------- */

static jang_status read_st(const jang_src_tensor *t, int64_t row0, int64_t n_rows, float *out) {
    int64_t n = n_rows * t->cols, off = row0 * t->cols;
    const uint8_t *p = (const uint8_t *)t->data;
    switch (t->dtype) {
    case JANG_DT_F32:
        memcpy(out, p + 4 * off, (size_t)n * 4);
        return JANG_OK;
    case JANG_DT_F16:
        p += 2 * off;
        for (int64_t k = 0; k < n; k++)
            out[k] = jang_f16_to_f32(jang_rd16(p + 2 * k));
        return JANG_OK;
    case JANG_DT_BF16:
        p += 2 * off;
        for (int64_t k = 0; k < n; k++)
            out[k] = jang_bf16_to_f32(jang_rd16(p + 2 * k));
        return JANG_OK;
    default:
        return jang_fail(JANG_E_UNSUPPORTED, "%s: tensor '%s' has dtype %s, expected a float type",
                         t->file, t->name, jang_dtype_name(t->dtype));
    }
}

/* GGUF row of HF row r for the permuted Q/K weights (heads of hd rows). */
static int64_t gguf_row(int64_t r, int64_t hd) {
    int64_t h = r / hd, q = r % hd, half = hd / 2;
    return h * hd + 2 * (q % half) + q / half;
}

static jang_status read_gguf(const jang_source *s, const jang_src_tensor *t, int64_t row0,
                             int64_t n_rows, float *out) {
    int64_t bs;
    size_t ts;
    jang_ggml_type_info(t->ggml_type, &bs, &ts);
    size_t row_bytes = (size_t)(t->cols / bs) * ts;
    const uint8_t *base = (const uint8_t *)t->data;
    jang_status st = JANG_OK;
    bool permute = t->fix == JANG_GGUF_FIX_UNPERMUTE_Q || t->fix == JANG_GGUF_FIX_UNPERMUTE_K;
    int64_t heads = t->fix == JANG_GGUF_FIX_UNPERMUTE_Q ? s->desc.n_heads : s->desc.n_kv_heads;
    if (permute && t->n_dims == 2) {
        if (heads <= 0 || t->rows % heads || (t->rows / heads) % 2)
            return jang_fail(JANG_E_FORMAT,
                             "%s: tensor '%s': %lld rows cannot split into %lld heads of even size",
                             t->file, t->file_name, (long long)t->rows, (long long)heads);
        int64_t hd = t->rows / heads;
        for (int64_t r = 0; r < n_rows && st == JANG_OK; r++)
            st = jang_ggml_dequantize_raw(t->ggml_type,
                                          base + (size_t)gguf_row(row0 + r, hd) * row_bytes,
                                          t->cols, out + r * t->cols);
    } else {
        st = jang_ggml_dequantize_raw(t->ggml_type, base + (size_t)row0 * row_bytes,
                                      n_rows * t->cols, out);
        if (st == JANG_OK && permute) /* a 1-D bias: one row holding every head */
            st = jang_unpermute_rows(out, t->cols, 1, heads);
    }
    if (st != JANG_OK) {
        char keep[512];
        snprintf(keep, sizeof keep, "%s", jang_last_error());
        return jang_fail(st, "%s: tensor '%s': %s", t->file, t->file_name, keep);
    }
    int64_t n = n_rows * t->cols;
    if (t->fix == JANG_GGUF_FIX_MINUS_ONE)
        for (int64_t k = 0; k < n; k++)
            out[k] -= 1.0f;
    else if (t->fix == JANG_GGUF_FIX_LOG_NEG)
        for (int64_t k = 0; k < n; k++)
            out[k] = logf(-out[k]);
    return JANG_OK;
}

jang_status jang_source_read(const jang_source *s, const jang_src_tensor *t, int64_t row0,
                             int64_t n_rows, float *out) {
    if (row0 < 0 || n_rows < 0 || row0 + n_rows > t->rows)
        return jang_fail(JANG_E_ARG, "%s: tensor '%s': rows [%lld, %lld) out of range (%lld rows)",
                         t->file, t->name, (long long)row0, (long long)(row0 + n_rows),
                         (long long)t->rows);
    if (n_rows == 0 || t->cols == 0) return JANG_OK;
    return t->ggml_type == UINT32_MAX ? read_st(t, row0, n_rows, out)
                                      : read_gguf(s, t, row0, n_rows, out);
}

/* Drops the whole pages inside [p, p + n) from the map (they are re-read from the file). */
static void drop_pages(const void *p, size_t n) {
    long page = sysconf(_SC_PAGESIZE);
    if (!p || n == 0 || page <= 0) return;
    uintptr_t a = (uintptr_t)p, e = a + n, mask = (uintptr_t)page - 1;
    uintptr_t a0 = (a + mask) & ~mask, e0 = e & ~mask; /* a neighbour's pages stay */
    if (e0 > a0) madvise((void *)a0, e0 - a0, MADV_DONTNEED);
}

void jang_source_release(const jang_source *s, const jang_src_tensor *t) {
    (void)s;
    drop_pages(t->data, t->n_bytes);
}

void jang_source_release_rows(const jang_source *s, const jang_src_tensor *t, int64_t row0,
                              int64_t n_rows) {
    (void)s;
    if (t->fix == JANG_GGUF_FIX_UNPERMUTE_Q || t->fix == JANG_GGUF_FIX_UNPERMUTE_K) return;
    if (row0 < 0 || n_rows <= 0 || row0 + n_rows > t->rows || t->rows <= 0) return;
    size_t row_bytes = t->n_bytes / (size_t)t->rows;
    drop_pages((const uint8_t *)t->data + (size_t)row0 * row_bytes, (size_t)n_rows * row_bytes);
}
