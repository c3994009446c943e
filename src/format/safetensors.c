/* safetensors.c — the safetensors reader: one file, a model directory, or a sharded index.
 *
 * A file is an 8-byte little-endian header length N, N bytes of JSON, then the data section.
 * Every file is memory-mapped and its header is fully validated on open, before any number from
 * it sizes an allocation: N <= 100 MB and 8 + N <= file size; the JSON parses (duplicate keys
 * and invalid UTF-8 rejected) to an object; `__metadata__`, if present, maps strings to strings;
 * every other key is a tensor {dtype, shape, data_offsets} whose dtype is known, whose shape has
 * at most JANG_MAX_DIMS non-negative integer dims with a product that fits int64, and whose
 * [begin, end) lies in the data section and holds exactly product * dtype-size bytes (checked
 * arithmetic); no two tensors share a byte.
 *
 * Versus the reference Rust crate (huggingface/safetensors, Metadata::validate), we are more
 * lenient in three ways that cannot cause an out-of-bounds read: holes between tensors, bytes
 * after the last tensor and a first tensor not at offset 0 are accepted (the crate rejects them
 * as InvalidOffset / MetadataIncompleteBuffer). Like the crate, unknown keys inside a tensor entry
 * are ignored. Offsets need not be aligned: views point wherever the data is.
 *
 * Tested by tests/test_safetensors.c; fuzzed by tests/fuzz/fuzz_safetensors.c.
 */
#include "format.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <string.h>

#define INDEX_NAME "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"
#define NAME_BUF 256 /* printable copies of untrusted names in messages */

typedef struct st_file {
    jang_map map;  /* for memory images map.data is borrowed; map.path is always owned */
    bool borrowed; /* map.data belongs to the caller (jang_st_open_memory) */
    char *names;   /* arena holding this file's tensor names */
} st_file;

struct jang_st {
    st_file *files; /* n_files entries, allocated once so views' file pointers stay valid */
    int n_files;
    jang_tensor *tensors; /* by file, then by data offset */
    int64_t n_tensors;
    char **meta; /* key0, value0, key1, value1, ... of the first file's __metadata__ */
    int64_t n_meta;
    int64_t *slots; /* open-addressing hash table of tensor indices, -1 = empty */
    size_t n_slots; /* a power of two, at least twice n_tensors */
};

/* A tensor of one file while it is being validated. */
typedef struct pending {
    jang_tensor t;
    uint64_t begin, end; /* relative to the data section */
    int64_t order;       /* position in the header, to make the sort stable */
} pending;

static const char *pr(const char *s, char *buf) {
    return jang_printable(s, strlen(s), buf, NAME_BUF);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Dtype names the reference crate knows but we do not convert. */
static bool known_unsupported_dtype(const char *s) {
    static const char *const names[] = {"F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3",
                                        "F6_E3M2", "C64",     "I4",      "U4"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0) return true;
    return false;
}

/* Reads a JSON integer that must be >= 0. */
static bool get_nonneg(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v)) return false;
    json_int_t x = json_integer_value(v);
    if (x < 0) return false;
    *out = (uint64_t)x;
    return true;
}

/* Validates one tensor entry of file `path` into p (name already set). */
static jang_status parse_tensor(const char *path, const char *name, const json_t *v,
                                uint64_t data_size, const uint8_t *base, pending *p) {
    char nb[NAME_BUF];
    if (!json_is_object(v))
        return jang_fail(JANG_E_FORMAT, "%s: tensor '%s': entry is not a JSON object", path,
                         pr(name, nb));
    const json_t *jd = json_object_get(v, "dtype");
    const json_t *js = json_object_get(v, "shape");
    const json_t *jo = json_object_get(v, "data_offsets");
    if (!jd || !js || !jo)
        return jang_fail(JANG_E_FORMAT, "%s: tensor '%s': missing \"%s\"", path, pr(name, nb),
                         !jd   ? "dtype"
                         : !js ? "shape"
                               : "data_offsets");

    if (!json_is_string(jd))
        return jang_fail(JANG_E_FORMAT, "%s: tensor '%s': dtype is not a string", path,
                         pr(name, nb));
    const char *ds = json_string_value(jd);
    if (!jang_dtype_parse(ds, &p->t.dtype)) {
        char db[NAME_BUF];
        if (known_unsupported_dtype(ds))
            return jang_fail(JANG_E_UNSUPPORTED, "%s: tensor '%s': dtype %s is not supported", path,
                             pr(name, nb), ds);
        return jang_fail(JANG_E_FORMAT, "%s: tensor '%s': unknown dtype '%s'", path, pr(name, nb),
                         pr(ds, db));
    }

    if (!json_is_array(js))
        return jang_fail(JANG_E_FORMAT, "%s: tensor '%s': shape is not an array", path,
                         pr(name, nb));
    size_t nd = json_array_size(js);
    if (nd > JANG_MAX_DIMS)
        return jang_fail(JANG_E_FORMAT, "%s: tensor '%s': %zu dims, more than the %d supported",
                         path, pr(name, nb), nd, JANG_MAX_DIMS);
    p->t.n_dims = (int32_t)nd;
    /* The product of the non-zero dims must fit int64 even when another dim is 0, so that no
     * consumer computing strides over the shape can overflow. */
    uint64_t prod = 1;
    bool zero = false;
    for (size_t i = 0; i < nd; i++) {
        uint64_t d;
        if (!get_nonneg(json_array_get(js, i), &d))
            return jang_fail(JANG_E_FORMAT,
                             "%s: tensor '%s': shape[%zu] is not a non-negative integer", path,
                             pr(name, nb), i);
        p->t.shape[i] = (int64_t)d;
        if (d == 0)
            zero = true;
        else if (!jang_mul_u64(prod, d, &prod) || prod > (uint64_t)INT64_MAX)
            return jang_fail(JANG_E_FORMAT, "%s: tensor '%s': shape overflows 64-bit element count",
                             path, pr(name, nb));
    }
    uint64_t n_el = zero ? 0 : prod, n_bytes;
    if (!jang_mul_u64(n_el, jang_dtype_size(p->t.dtype), &n_bytes))
        return jang_fail(JANG_E_FORMAT, "%s: tensor '%s': byte size overflows 64 bits", path,
                         pr(name, nb));

    if (!json_is_array(jo) || json_array_size(jo) != 2 ||
        !get_nonneg(json_array_get(jo, 0), &p->begin) ||
        !get_nonneg(json_array_get(jo, 1), &p->end))
        return jang_fail(JANG_E_FORMAT,
                         "%s: tensor '%s': data_offsets is not [begin, end] of non-negative "
                         "integers",
                         path, pr(name, nb));
    if (p->begin > p->end)
        return jang_fail(JANG_E_FORMAT, "%s: tensor '%s': data_offsets [%llu,%llu] out of order",
                         path, pr(name, nb), (unsigned long long)p->begin,
                         (unsigned long long)p->end);
    if (p->end > data_size)
        return jang_fail(JANG_E_FORMAT,
                         "%s: tensor '%s': data_offsets [%llu,%llu] beyond the %llu-byte data "
                         "section",
                         path, pr(name, nb), (unsigned long long)p->begin,
                         (unsigned long long)p->end, (unsigned long long)data_size);
    if (p->end - p->begin != n_bytes)
        return jang_fail(JANG_E_FORMAT,
                         "%s: tensor '%s': %s shape of %llu elements needs %llu bytes but "
                         "data_offsets [%llu,%llu] hold %llu",
                         path, pr(name, nb), ds, (unsigned long long)n_el,
                         (unsigned long long)n_bytes, (unsigned long long)p->begin,
                         (unsigned long long)p->end, (unsigned long long)(p->end - p->begin));
    p->t.n_elements = (int64_t)n_el;
    p->t.n_bytes = (size_t)n_bytes; /* <= data_size, which fits size_t */
    p->t.data = base + p->begin;
    return JANG_OK;
}

static int cmp_pending(const void *a, const void *b) {
    const pending *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Copies the __metadata__ object (already checked to be string -> string) into st. */
static jang_status keep_metadata(jang_st *st, const json_t *meta, const char *path) {
    size_t n = json_object_size(meta);
    st->meta = jang_calloc(2 * n, sizeof *st->meta, path);
    if (!st->meta) return JANG_E_NOMEM;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)meta, k, v) {
        char *kc = jang_strdup(k), *vc = jang_strdup(json_string_value(v));
        st->meta[2 * st->n_meta] = kc;
        st->meta[2 * st->n_meta + 1] = vc;
        st->n_meta++;
        if (!kc || !vc) return JANG_E_NOMEM;
    }
    return JANG_OK;
}

/* Validates file fi of st and appends its tensors (sorted by offset) to st->tensors. */
static jang_status parse_file(jang_st *st, int fi, bool keep_meta) {
    st_file *f = &st->files[fi];
    const char *path = f->map.path;
    const uint8_t *d = f->map.data;
    size_t size = f->map.size;
    char nb[NAME_BUF], nb2[NAME_BUF];

    if (size < 8)
        return jang_fail(JANG_E_FORMAT,
                         "%s: %zu bytes, too short for a safetensors file (8-byte header length)",
                         path, size);
    uint64_t n = jang_rd64(d);
    if (n > JANG_ST_MAX_HEADER)
        return jang_fail(JANG_E_FORMAT,
                         "%s: header length %llu exceeds the %llu-byte limit (not a safetensors "
                         "file?)",
                         path, (unsigned long long)n, (unsigned long long)JANG_ST_MAX_HEADER);
    if (n > size - 8)
        return jang_fail(JANG_E_FORMAT,
                         "%s: header length %llu exceeds the file (%zu bytes): truncated?", path,
                         (unsigned long long)n, size);
    const uint8_t *base = d + 8 + n;
    uint64_t data_size = size - 8 - n;

    json_error_t jerr;
    json_t *root = json_loadb((const char *)d + 8, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return jang_fail(JANG_E_FORMAT, "%s: header is not valid JSON: %s (header byte %d)", path,
                         pr(jerr.text, nb), jerr.position);

    jang_status s = JANG_OK;
    pending *ps = NULL;
    if (!json_is_object(root)) {
        s = jang_fail(JANG_E_FORMAT, "%s: header is not a JSON object", path);
        goto done;
    }

    /* First pass: __metadata__, the number of tensors and the size of their names. */
    const char *key;
    size_t key_len;
    json_t *v;
    size_t n_t = 0, names_bytes = 0;
    json_object_keylen_foreach(root, key, key_len, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(v)) {
                s = jang_fail(JANG_E_FORMAT, "%s: __metadata__ is not a JSON object", path);
                goto done;
            }
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv) {
                if (!json_is_string(mv)) {
                    s = jang_fail(JANG_E_FORMAT, "%s: __metadata__ value of '%s' is not a string",
                                  path, pr(mk, nb));
                    goto done;
                }
            }
            if (keep_meta && (s = keep_metadata(st, v, path)) != JANG_OK) goto done;
            continue;
        }
        if (key_len == 0) {
            s = jang_fail(JANG_E_FORMAT, "%s: a tensor has an empty name", path);
            goto done;
        }
        n_t++;
        names_bytes += key_len + 1; /* bounded by the header size */
    }

    ps = jang_calloc(n_t, sizeof *ps, path);
    f->names = jang_malloc(names_bytes, path);
    if (!ps || !f->names) {
        s = JANG_E_NOMEM;
        goto done;
    }
    size_t k = 0, name_off = 0;
    json_object_keylen_foreach(root, key, key_len, v) {
        if (strcmp(key, "__metadata__") == 0) continue;
        pending *p = &ps[k];
        char *name = f->names + name_off;
        memcpy(name, key, key_len + 1);
        name_off += key_len + 1;
        p->t.name = name;
        p->t.file = path;
        p->order = (int64_t)k;
        if ((s = parse_tensor(path, name, v, data_size, base, p)) != JANG_OK) goto done;
        k++;
    }

    /* No byte may belong to two tensors (empty tensors own no bytes). */
    qsort(ps, n_t, sizeof *ps, cmp_pending);
    const pending *last = NULL; /* the non-empty tensor reaching furthest so far */
    for (size_t i = 0; i < n_t; i++) {
        const pending *p = &ps[i];
        if (p->begin == p->end) continue;
        if (last && p->begin < last->end) {
            s = jang_fail(JANG_E_FORMAT,
                          "%s: tensor '%s': data_offsets [%llu,%llu] overlap tensor '%s' "
                          "[%llu,%llu]",
                          path, pr(p->t.name, nb), (unsigned long long)p->begin,
                          (unsigned long long)p->end, pr(last->t.name, nb2),
                          (unsigned long long)last->begin, (unsigned long long)last->end);
            goto done;
        }
        if (!last || p->end > last->end) last = p;
    }

    if (n_t > 0) {
        size_t total = (size_t)st->n_tensors + n_t; /* both bounded by header sizes */
        jang_tensor *grown = realloc(st->tensors, total * sizeof *grown);
        if (!grown) {
            s = jang_fail(JANG_E_NOMEM, "%s: out of memory for %zu tensors", path, total);
            goto done;
        }
        st->tensors = grown;
        for (size_t i = 0; i < n_t; i++)
            st->tensors[st->n_tensors++] = ps[i].t;
    }

done:
    free(ps);
    json_decref(root);
    return s;
}

/* Builds the name -> tensor hash table; duplicate names (across shards) are an error. */
static jang_status build_index(jang_st *st) {
    size_t want = 16;
    while (want < 2 * (size_t)st->n_tensors)
        want *= 2;
    st->slots = jang_malloc(want * sizeof *st->slots, "safetensors index");
    if (!st->slots) return JANG_E_NOMEM;
    st->n_slots = want;
    for (size_t i = 0; i < want; i++)
        st->slots[i] = -1;
    for (int64_t i = 0; i < st->n_tensors; i++) {
        const jang_tensor *t = &st->tensors[i];
        size_t h = (size_t)hash_name(t->name) & (want - 1);
        while (st->slots[h] >= 0) {
            const jang_tensor *o = &st->tensors[st->slots[h]];
            if (strcmp(o->name, t->name) == 0) {
                char nb[NAME_BUF];
                return jang_fail(JANG_E_FORMAT, "tensor '%s' appears in both %s and %s",
                                 pr(t->name, nb), o->file, t->file);
            }
            h = (h + 1) & (want - 1);
        }
        st->slots[h] = i;
    }
    return JANG_OK;
}

void jang_st_close(jang_st *st) {
    if (!st) return;
    for (int i = 0; i < st->n_files; i++) {
        st_file *f = &st->files[i];
        if (f->borrowed) {
            free(f->map.path);
        } else {
            jang_map_close(&f->map);
        }
        free(f->names);
    }
    free(st->files);
    free(st->tensors);
    for (int64_t i = 0; i < 2 * st->n_meta; i++)
        free(st->meta[i]);
    free(st->meta);
    free(st->slots);
    free(st);
}

static jang_st *st_new(int n_files, const char *what) {
    jang_st *st = jang_calloc(1, sizeof *st, what);
    if (!st) return NULL;
    st->files = jang_calloc((size_t)n_files, sizeof *st->files, what);
    if (!st->files) {
        free(st);
        return NULL;
    }
    st->n_files = n_files;
    return st;
}

jang_status jang_st_open_memory(const void *data, size_t size, const char *name, jang_st **out) {
    if (!out) return jang_fail(JANG_E_ARG, "jang_st_open_memory: out is NULL");
    *out = NULL;
    if (!name || (!data && size))
        return jang_fail(JANG_E_ARG, "jang_st_open_memory: NULL name or data");
    jang_st *st = st_new(1, name);
    if (!st) return JANG_E_NOMEM;
    st->files[0].borrowed = true;
    st->files[0].map.data = data;
    st->files[0].map.size = size;
    st->files[0].map.path = jang_strdup(name);
    jang_status s = st->files[0].map.path ? JANG_OK : JANG_E_NOMEM;
    if (s == JANG_OK) s = parse_file(st, 0, true);
    if (s == JANG_OK) s = build_index(st);
    if (s != JANG_OK) {
        jang_st_close(st);
        return s;
    }
    *out = st;
    return JANG_OK;
}

static jang_status open_single(const char *path, jang_st **out) {
    jang_st *st = st_new(1, path);
    if (!st) return JANG_E_NOMEM;
    jang_status s = jang_map_open(path, &st->files[0].map);
    if (s == JANG_OK) s = parse_file(st, 0, true);
    if (s == JANG_OK) s = build_index(st);
    if (s != JANG_OK) {
        jang_st_close(st);
        return s;
    }
    *out = st;
    return JANG_OK;
}

/* One weight_map entry: a tensor and the shard said to hold it. */
typedef struct wm_entry {
    const char *tensor, *shard;
    int file; /* index in jang_st.files once shards are opened */
} wm_entry;

static int cmp_by_shard(const void *a, const void *b) {
    return strcmp(((const wm_entry *)a)->shard, ((const wm_entry *)b)->shard);
}

/* A shard must be a plain file name next to the index: no directories, no "..", no control
 * characters (the name ends up in error messages). */
static bool plain_name(const char *s) {
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c < 0x20 || *c == 0x7f || *c == '/' || *c == '\\') return false;
    return s[0] && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Puts "what: " before the current error detail. */
static jang_status prefix_error(jang_status s, const char *what) {
    char why[768];
    snprintf(why, sizeof why, "%s", jang_last_error());
    return jang_fail(s, "%s: %s", what, why);
}

static jang_status open_index(const char *index_path, jang_st **out) {
    char nb[NAME_BUF], nb2[NAME_BUF];
    char *buf = NULL, *dir = NULL;
    json_t *root = NULL;
    wm_entry *es = NULL;
    jang_st *st = NULL;
    size_t len;
    jang_status s = jang_read_file(index_path, JANG_ST_MAX_INDEX, &buf, &len);
    if (s != JANG_OK) return s;

    json_error_t jerr;
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        s = jang_fail(JANG_E_FORMAT, "%s: not valid JSON: %s (line %d, column %d)", index_path,
                      pr(jerr.text, nb), jerr.line, jerr.column);
        goto done;
    }
    json_t *wm = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
    if (!json_is_object(wm) || json_object_size(wm) == 0) {
        s = jang_fail(JANG_E_FORMAT, "%s: no \"weight_map\" object with at least one tensor",
                      index_path);
        goto done;
    }

    size_t n = json_object_size(wm);
    es = jang_calloc(n, sizeof *es, index_path);
    if (!es) {
        s = JANG_E_NOMEM;
        goto done;
    }
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(wm, key, v) {
        if (!json_is_string(v)) {
            s = jang_fail(JANG_E_FORMAT, "%s: weight_map entry of tensor '%s' is not a string",
                          index_path, pr(key, nb));
            goto done;
        }
        const char *shard = json_string_value(v);
        if (!plain_name(shard)) {
            s = jang_fail(JANG_E_FORMAT,
                          "%s: tensor '%s': shard '%s' is not a plain file name next to the "
                          "index",
                          index_path, pr(key, nb), pr(shard, nb2));
            goto done;
        }
        es[k].tensor = key;
        es[k].shard = shard;
        k++;
    }

    /* Distinct shards in name order (model-00001-of-N first): the stable file order. */
    qsort(es, n, sizeof *es, cmp_by_shard);
    int n_files = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(es[i].shard, es[i - 1].shard) != 0) n_files++;

    const char *slash = strrchr(index_path, '/');
    dir = slash ? jang_strndup(index_path, (size_t)(slash - index_path) + (slash == index_path))
                : jang_strdup(".");
    st = dir ? st_new(n_files, index_path) : NULL;
    if (!st) {
        s = JANG_E_NOMEM;
        goto done;
    }
    int fi = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(es[i].shard, es[i - 1].shard) == 0) {
            es[i].file = es[i - 1].file;
            continue;
        }
        es[i].file = fi;
        char *p = jang_path_join(dir, es[i].shard);
        if (!p) {
            s = jang_fail(JANG_E_NOMEM, "%s: out of memory", index_path);
            goto done;
        }
        s = jang_map_open(p, &st->files[fi].map);
        free(p);
        if (s != JANG_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", jang_last_error());
            s = jang_fail(s, "%s: shard '%s' (holding tensor '%s'): %s", index_path,
                          pr(es[i].shard, nb), pr(es[i].tensor, nb2), why);
            goto done;
        }
        if ((s = parse_file(st, fi, fi == 0)) != JANG_OK) {
            s = prefix_error(s, index_path);
            goto done;
        }
        fi++;
    }
    if ((s = build_index(st)) != JANG_OK) {
        s = prefix_error(s, index_path);
        goto done;
    }

    /* Every tensor of the weight_map must be in the shard it names. Tensors of a shard missing
     * from the weight_map are kept, as Hugging Face loaders tolerate them. */
    for (size_t i = 0; i < n; i++) {
        const jang_tensor *t = jang_st_find(st, es[i].tensor);
        if (!t) {
            s = jang_fail(JANG_E_FORMAT, "%s: tensor '%s' is listed in shard '%s', which lacks it",
                          index_path, pr(es[i].tensor, nb), pr(es[i].shard, nb2));
            goto done;
        }
        if (t->file != st->files[es[i].file].map.path) {
            s = jang_fail(JANG_E_FORMAT, "%s: tensor '%s' is listed in shard '%s' but is in %s",
                          index_path, pr(es[i].tensor, nb), pr(es[i].shard, nb2), t->file);
            goto done;
        }
    }
    *out = st;
    st = NULL;

done:
    jang_st_close(st);
    free(dir);
    free(es);
    json_decref(root);
    free(buf);
    return s;
}

/* A directory without index or model.safetensors: use its only *.safetensors file, if one. */
static jang_status open_dir_scan(const char *dir, jang_st **out) {
    DIR *d = opendir(dir);
    if (!d) return jang_fail(JANG_E_IO, "%s: cannot list directory: %s", dir, strerror(errno));
    char *only = NULL;
    int count = 0;
    jang_status s = JANG_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!ends_with(e->d_name, ".safetensors")) continue;
        char *p = jang_path_join(dir, e->d_name);
        if (!p) {
            s = jang_fail(JANG_E_NOMEM, "%s: out of memory", dir);
            break;
        }
        if (!jang_file_exists(p)) {
            free(p);
            continue;
        }
        if (++count == 1) {
            only = p;
        } else {
            free(p);
        }
    }
    closedir(d);
    if (s == JANG_OK && count == 0)
        s = jang_fail(JANG_E_NOTFOUND,
                      "%s: no " INDEX_NAME ", " SINGLE_NAME " or other .safetensors file", dir);
    else if (s == JANG_OK && count > 1)
        s = jang_fail(JANG_E_NOTFOUND,
                      "%s: %d .safetensors files but no " INDEX_NAME " to say how they fit", dir,
                      count);
    if (s == JANG_OK) s = open_single(only, out);
    free(only);
    return s;
}

jang_status jang_st_open(const char *path, jang_st **out) {
    if (!out) return jang_fail(JANG_E_ARG, "jang_st_open: out is NULL");
    *out = NULL;
    if (!path || !path[0]) return jang_fail(JANG_E_ARG, "jang_st_open: empty path");
    if (!jang_is_dir(path)) {
        if (ends_with(path, ".json")) return open_index(path, out);
        return open_single(path, out);
    }
    char *p = jang_path_join(path, INDEX_NAME);
    if (!p) return jang_fail(JANG_E_NOMEM, "%s: out of memory", path);
    if (jang_file_exists(p)) {
        jang_status s = open_index(p, out);
        free(p);
        return s;
    }
    free(p);
    p = jang_path_join(path, SINGLE_NAME);
    if (!p) return jang_fail(JANG_E_NOMEM, "%s: out of memory", path);
    jang_status s = jang_file_exists(p) ? open_single(p, out) : open_dir_scan(path, out);
    free(p);
    return s;
}

int64_t jang_st_count(const jang_st *st) { return st ? st->n_tensors : 0; }

const jang_tensor *jang_st_get(const jang_st *st, int64_t i) {
    if (!st || i < 0 || i >= st->n_tensors) return NULL;
    return &st->tensors[i];
}

const jang_tensor *jang_st_find(const jang_st *st, const char *name) {
    if (!st || !name || !st->slots) return NULL;
    size_t h = (size_t)hash_name(name) & (st->n_slots - 1);
    while (st->slots[h] >= 0) {
        const jang_tensor *t = &st->tensors[st->slots[h]];
        if (strcmp(t->name, name) == 0) return t;
        h = (h + 1) & (st->n_slots - 1);
    }
    return NULL;
}

const char *jang_st_metadata(const jang_st *st, const char *key) {
    if (!st || !key) return NULL;
    for (int64_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta[2 * i], key) == 0) return st->meta[2 * i + 1];
    return NULL;
}

int jang_st_n_files(const jang_st *st) { return st ? st->n_files : 0; }
