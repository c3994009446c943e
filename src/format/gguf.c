/* gguf.c — GGUF v2/v3 reader: header, metadata tree and tensor infos, all validated on open.
 *
 * Layout (little-endian): "GGUF", u32 version, u64 n_tensors, u64 n_kv; n_kv x {string key,
 * u32 value type, value}; n_tensors x {string name, u32 n_dims, u64 ne[n_dims], u32 ggml type,
 * u64 offset}; zero padding up to general.alignment (default 32); the data section, which tensor
 * offsets are relative to. A string is a u64 length and bytes; an array is a u32 element type, a
 * u64 count and the elements (arrays of strings and arrays of arrays are allowed). v1 used u32
 * counts and lengths; v3 differs from v2 only in allowing big-endian files, which we refuse.
 *
 * The file is untrusted: every count and length is bounded by the bytes left in the file before
 * anything is allocated, with checked arithmetic. Tensor data stays in the memory map.
 * Tested by tests/test_gguf.c (gguf-py goldens, every truncation, one test per corruption) and
 * fuzzed by tests/fuzz/fuzz_gguf.c.
 */
#include "gguf_internal.h"
#include "util.h"

#include <string.h>

typedef struct {
    char *key; /* NUL-terminated copy */
    jang_gguf_value val;
    char *str; /* STRING values: NUL-terminated copy (cut at an embedded NUL); else NULL */
} gguf_kv;

/* Open-addressing hash index from NUL-terminated names to entry numbers. */
typedef struct {
    const char *name; /* NULL: empty slot */
    int64_t i;
} index_slot;

typedef struct {
    index_slot *slots;
    uint64_t mask;
} name_index;

struct jang_gguf {
    jang_map map; /* owns the bytes when opened from a file; unused for jang_gguf_open_memory */
    const uint8_t *data;
    size_t size;
    char *name; /* file name for messages and jang_gguf_path */
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset; /* start of the data section in the file */
    int64_t n_kv;
    gguf_kv *kv; /* (n_kv) */
    name_index kv_index;
    int64_t n_tensors;
    jang_gguf_tensor *tensors; /* (n_tensors), in file order */
    name_index tensor_index;
};

/* Minimal encoded sizes, used to bound counts before allocating: a key/value is at least a
 * key length (8), a value type (4) and a one-byte value; a tensor info at least a name length
 * (8), a one-byte name, n_dims (4), one dimension (8), a type (4) and an offset (8). */
#define MIN_KV_BYTES 13u
#define MIN_TENSOR_INFO_BYTES 33u
#define MIN_STRING_BYTES 8u /* an array element that is a string: its length */
#define MIN_ARRAY_BYTES 12u /* an array element that is an array: element type and count */

/* ---------------------------------------------------------------------------------------------
 * Value types
 */
static const char *const vtype_names[] = {
#define JANG_X_(e, v, s) [v] = s,
    JANG_GGUF_VTYPE_MAP(JANG_X_)
#undef JANG_X_
};
#define N_VTYPES (sizeof vtype_names / sizeof vtype_names[0])

/* Encoded size of a fixed-size value type; 0 for STRING and ARRAY. */
static size_t vtype_size(uint32_t t) {
    switch (t) {
    case JANG_GGUF_UINT8:
    case JANG_GGUF_INT8:
    case JANG_GGUF_BOOL:
        return 1;
    case JANG_GGUF_UINT16:
    case JANG_GGUF_INT16:
        return 2;
    case JANG_GGUF_UINT32:
    case JANG_GGUF_INT32:
    case JANG_GGUF_FLOAT32:
        return 4;
    case JANG_GGUF_UINT64:
    case JANG_GGUF_INT64:
    case JANG_GGUF_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

static const char *vtype_name(uint32_t t) { return t < N_VTYPES ? vtype_names[t] : "?"; }

/* ---------------------------------------------------------------------------------------------
 * Name index
 */
static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* n is bounded by the file size, so 2n cannot overflow. */
static jang_status index_init(name_index *ix, int64_t n, const char *file) {
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)n)
        cap <<= 1;
    ix->slots = jang_calloc(cap, sizeof *ix->slots, file);
    if (!ix->slots) return JANG_E_NOMEM;
    ix->mask = cap - 1;
    return JANG_OK;
}

static int64_t index_find(const name_index *ix, const char *name) {
    if (!ix->slots) return -1;
    for (uint64_t h = hash_name(name) & ix->mask;; h = (h + 1) & ix->mask) {
        if (!ix->slots[h].name) return -1;
        if (strcmp(ix->slots[h].name, name) == 0) return ix->slots[h].i;
    }
}

/* Returns false when name is already present. The index never fills (capacity >= 2n). */
static bool index_insert(name_index *ix, const char *name, int64_t i) {
    for (uint64_t h = hash_name(name) & ix->mask;; h = (h + 1) & ix->mask) {
        if (!ix->slots[h].name) {
            ix->slots[h].name = name;
            ix->slots[h].i = i;
            return true;
        }
        if (strcmp(ix->slots[h].name, name) == 0) return false;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Parsing
 */
typedef struct {
    const uint8_t *p;
    size_t size, pos;
    const char *file;
    const char *ctx; /* "key 'general.name'", "tensor info 3", ... for messages */
} cursor;

static size_t left(const cursor *c) { return c->size - c->pos; }

static jang_status truncated(const cursor *c, const char *what, uint64_t need) {
    return jang_fail(JANG_E_FORMAT,
                     "%s: %s: truncated: %s needs %llu bytes at offset %zu, only %zu left", c->file,
                     c->ctx, what, (unsigned long long)need, c->pos, left(c));
}

static jang_status rd_u32(cursor *c, const char *what, uint32_t *v) {
    if (left(c) < 4) return truncated(c, what, 4);
    *v = jang_rd32(c->p + c->pos);
    c->pos += 4;
    return JANG_OK;
}

static jang_status rd_u64(cursor *c, const char *what, uint64_t *v) {
    if (left(c) < 8) return truncated(c, what, 8);
    *v = jang_rd64(c->p + c->pos);
    c->pos += 8;
    return JANG_OK;
}

/* A string: u64 length, then that many bytes (which must lie inside the file). */
static jang_status rd_str(cursor *c, const char *what, const char **ptr, uint64_t *len) {
    jang_status s = rd_u64(c, what, len);
    if (s) return s;
    if (*len > left(c))
        return jang_fail(JANG_E_FORMAT,
                         "%s: %s: %s length %llu at offset %zu runs past the end of the file "
                         "(%zu bytes left)",
                         c->file, c->ctx, what, (unsigned long long)*len, c->pos - 8, left(c));
    *ptr = (const char *)c->p + c->pos;
    c->pos += (size_t)*len;
    return JANG_OK;
}

static void value_free(jang_gguf_value *v) {
    if (v->type != JANG_GGUF_ARRAY || !v->v.arr.items) return;
    jang_gguf_value *items = (jang_gguf_value *)v->v.arr.items;
    for (uint64_t i = 0; i < v->v.arr.n; i++)
        value_free(&items[i]);
    free(items);
    v->v.arr.items = NULL;
}

/* Decodes one fixed-size value of type t at p (bounds already checked). */
static jang_status decode_scalar(const cursor *c, uint32_t t, const uint8_t *p,
                                 jang_gguf_value *v) {
    uint32_t u32;
    uint64_t u64;
    float f32;
    double f64;
    switch (t) {
    case JANG_GGUF_UINT8:
        v->v.u64 = p[0];
        break;
    case JANG_GGUF_INT8:
        v->v.i64 = (int8_t)p[0];
        break;
    case JANG_GGUF_UINT16:
        v->v.u64 = jang_rd16(p);
        break;
    case JANG_GGUF_INT16:
        v->v.i64 = (int16_t)jang_rd16(p);
        break;
    case JANG_GGUF_UINT32:
        v->v.u64 = jang_rd32(p);
        break;
    case JANG_GGUF_INT32:
        v->v.i64 = (int32_t)jang_rd32(p);
        break;
    case JANG_GGUF_UINT64:
        v->v.u64 = jang_rd64(p);
        break;
    case JANG_GGUF_INT64:
        u64 = jang_rd64(p);
        memcpy(&v->v.i64, &u64, 8);
        break;
    case JANG_GGUF_FLOAT32:
        u32 = jang_rd32(p);
        memcpy(&f32, &u32, 4);
        v->v.f64 = f32;
        break;
    case JANG_GGUF_FLOAT64:
        u64 = jang_rd64(p);
        memcpy(&f64, &u64, 8);
        v->v.f64 = f64;
        break;
    case JANG_GGUF_BOOL:
        if (p[0] > 1)
            return jang_fail(JANG_E_FORMAT, "%s: %s: bool value %u at offset %zu (must be 0 or 1)",
                             c->file, c->ctx, p[0], (size_t)(p - c->p));
        v->v.b = p[0] != 0;
        break;
    default:
        JANG_ASSERT(0);
    }
    return JANG_OK;
}

/* Parses a value of type t (already validated < N_VTYPES). depth counts the arrays around it. */
static jang_status parse_value(cursor *c, uint32_t t, int depth, jang_gguf_value *v) {
    jang_status s;
    v->type = (jang_gguf_vtype)t;
    size_t es = vtype_size(t);
    if (es) {
        if (left(c) < es) return truncated(c, vtype_name(t), es);
        s = decode_scalar(c, t, c->p + c->pos, v);
        c->pos += es;
        return s;
    }
    if (t == JANG_GGUF_STRING) return rd_str(c, "string", &v->v.str.ptr, &v->v.str.len);

    /* ARRAY */
    if (depth >= JANG_GGUF_MAX_DEPTH)
        return jang_fail(JANG_E_FORMAT, "%s: %s: arrays nested more than %d deep (offset %zu)",
                         c->file, c->ctx, JANG_GGUF_MAX_DEPTH, c->pos);
    uint32_t et;
    uint64_t n;
    if ((s = rd_u32(c, "array element type", &et))) return s;
    if (et >= N_VTYPES)
        return jang_fail(JANG_E_FORMAT, "%s: %s: unknown array element type %u (offset %zu)",
                         c->file, c->ctx, et, c->pos - 4);
    if ((s = rd_u64(c, "array length", &n))) return s;
    v->v.arr.type = (jang_gguf_vtype)et;
    size_t ees = vtype_size(et);
    if (ees) {
        uint64_t bytes;
        if (!jang_mul_u64(n, ees, &bytes) || bytes > left(c))
            return jang_fail(JANG_E_FORMAT,
                             "%s: %s: array of %llu %s elements at offset %zu runs past the end of "
                             "the file (%zu bytes left)",
                             c->file, c->ctx, (unsigned long long)n, vtype_name(et), c->pos - 12,
                             left(c));
        const uint8_t *p = c->p + c->pos;
        if (et == JANG_GGUF_BOOL) {
            for (uint64_t i = 0; i < n; i++)
                if (p[i] > 1)
                    return jang_fail(JANG_E_FORMAT,
                                     "%s: %s: bool array element %llu is %u (must be 0 or 1)",
                                     c->file, c->ctx, (unsigned long long)i, p[i]);
        }
        v->v.arr.n = n;
        v->v.arr.raw = p;
        c->pos += (size_t)bytes;
        return JANG_OK;
    }
    /* strings or arrays: bound n by the smallest encoding of one element before allocating */
    uint64_t min = et == JANG_GGUF_STRING ? MIN_STRING_BYTES : MIN_ARRAY_BYTES;
    if (n > left(c) / min)
        return jang_fail(JANG_E_FORMAT,
                         "%s: %s: array of %llu %s elements at offset %zu cannot fit in the %zu "
                         "bytes left",
                         c->file, c->ctx, (unsigned long long)n, vtype_name(et), c->pos - 12,
                         left(c));
    jang_gguf_value *items = jang_calloc((size_t)n, sizeof *items, c->file);
    if (!items) return JANG_E_NOMEM;
    v->v.arr.n = n;
    v->v.arr.items = items;
    for (uint64_t i = 0; i < n; i++)
        if ((s = parse_value(c, et, depth + 1, &items[i]))) return s;
    return JANG_OK;
}

static jang_status parse_header(jang_gguf *g, cursor *c, uint64_t *n_tensors, uint64_t *n_kv) {
    jang_status s;
    c->ctx = "header";
    if (g->size < 4)
        return jang_fail(JANG_E_FORMAT, "%s: %zu bytes, too small to be a GGUF file", g->name,
                         g->size);
    if (memcmp(g->data, "GGUF", 4) != 0) {
        char buf[32];
        return jang_fail(JANG_E_FORMAT, "%s: not a GGUF file (magic \"%s\", expected \"GGUF\")",
                         g->name, jang_printable((const char *)g->data, 4, buf, sizeof buf));
    }
    c->pos = 4;
    if ((s = rd_u32(c, "version", &g->version))) return s;
    uint32_t v = g->version, swapped = __builtin_bswap32(v);
    if ((v & 0xffff) == 0 && swapped >= 1 && swapped <= 3)
        return jang_fail(JANG_E_UNSUPPORTED,
                         "%s: big-endian GGUF (version %u byte-swapped) is not supported", g->name,
                         swapped);
    if (v == 1)
        return jang_fail(JANG_E_UNSUPPORTED,
                         "%s: GGUF version 1 is not supported (only versions 2 and 3)", g->name);
    if (v != 2 && v != 3)
        return jang_fail(JANG_E_UNSUPPORTED,
                         "%s: GGUF version %u is not supported (only versions 2 and 3)", g->name,
                         v);
    if ((s = rd_u64(c, "tensor count", n_tensors))) return s;
    if ((s = rd_u64(c, "metadata key count", n_kv))) return s;
    uint64_t a, b, need;
    if (!jang_mul_u64(*n_kv, MIN_KV_BYTES, &a) ||
        !jang_mul_u64(*n_tensors, MIN_TENSOR_INFO_BYTES, &b) || !jang_add_u64(a, b, &need) ||
        need > left(c))
        return jang_fail(JANG_E_FORMAT,
                         "%s: header claims %llu tensors and %llu metadata keys, more than the "
                         "%zu bytes left in the file can hold",
                         g->name, (unsigned long long)*n_tensors, (unsigned long long)*n_kv,
                         left(c));
    return JANG_OK;
}

static jang_status parse_kvs(jang_gguf *g, cursor *c, uint64_t n_kv) {
    jang_status s;
    char ctx[256], buf[160];
    g->kv = jang_calloc((size_t)n_kv, sizeof *g->kv, g->name);
    if (!g->kv) return JANG_E_NOMEM;
    g->n_kv = (int64_t)n_kv;
    if ((s = index_init(&g->kv_index, g->n_kv, g->name))) return s;
    for (int64_t i = 0; i < g->n_kv; i++) {
        gguf_kv *kv = &g->kv[i];
        const char *key;
        uint64_t len;
        snprintf(ctx, sizeof ctx, "key %lld", (long long)i);
        c->ctx = ctx;
        if ((s = rd_str(c, "key", &key, &len))) return s;
        if (len == 0)
            return jang_fail(JANG_E_FORMAT, "%s: key %lld is empty", g->name, (long long)i);
        if (len > JANG_GGUF_MAX_KEY)
            return jang_fail(JANG_E_FORMAT, "%s: key %lld is %llu bytes long (at most %d)", g->name,
                             (long long)i, (unsigned long long)len, JANG_GGUF_MAX_KEY);
        jang_printable(key, (size_t)len, buf, sizeof buf);
        if (memchr(key, 0, (size_t)len))
            return jang_fail(JANG_E_FORMAT, "%s: key '%s' contains a NUL byte", g->name, buf);
        if (!(kv->key = jang_strndup(key, (size_t)len))) return JANG_E_NOMEM;
        if (!index_insert(&g->kv_index, kv->key, i))
            return jang_fail(JANG_E_FORMAT, "%s: duplicate key '%s'", g->name, buf);
        snprintf(ctx, sizeof ctx, "key '%s'", buf);
        uint32_t t;
        if ((s = rd_u32(c, "value type", &t))) return s;
        if (t >= N_VTYPES)
            return jang_fail(JANG_E_FORMAT, "%s: key '%s': unknown value type %u", g->name, buf, t);
        if ((s = parse_value(c, t, 0, &kv->val))) return s;
        if (t == JANG_GGUF_STRING) {
            const char *p = kv->val.v.str.ptr, *nul = memchr(p, 0, (size_t)kv->val.v.str.len);
            size_t n = nul ? (size_t)(nul - p) : (size_t)kv->val.v.str.len;
            if (!(kv->str = jang_strndup(p, n))) return JANG_E_NOMEM;
        }
    }
    const jang_gguf_value *al = jang_gguf_find(g, "general.alignment");
    g->alignment = JANG_GGUF_DEFAULT_ALIGNMENT;
    if (al) {
        if (al->type != JANG_GGUF_UINT32)
            return jang_fail(JANG_E_FORMAT, "%s: general.alignment must be a u32, not %s", g->name,
                             vtype_name(al->type));
        if (al->v.u64 == 0 || (al->v.u64 & (al->v.u64 - 1)) != 0)
            return jang_fail(JANG_E_FORMAT,
                             "%s: general.alignment %llu is not a nonzero power of two", g->name,
                             (unsigned long long)al->v.u64);
        g->alignment = al->v.u64;
    }
    return JANG_OK;
}

static jang_status parse_tensor_infos(jang_gguf *g, cursor *c, uint64_t n_tensors) {
    jang_status s;
    char ctx[256], buf[160];
    g->tensors = jang_calloc((size_t)n_tensors, sizeof *g->tensors, g->name);
    if (!g->tensors) return JANG_E_NOMEM;
    g->n_tensors = (int64_t)n_tensors;
    if ((s = index_init(&g->tensor_index, g->n_tensors, g->name))) return s;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        jang_gguf_tensor *t = &g->tensors[i];
        const char *name;
        uint64_t len;
        snprintf(ctx, sizeof ctx, "tensor info %lld", (long long)i);
        c->ctx = ctx;
        if ((s = rd_str(c, "tensor name", &name, &len))) return s;
        if (len == 0)
            return jang_fail(JANG_E_FORMAT, "%s: tensor %lld has an empty name", g->name,
                             (long long)i);
        if (len > JANG_GGUF_MAX_NAME)
            return jang_fail(JANG_E_FORMAT, "%s: tensor %lld: name is %llu bytes long (at most %d)",
                             g->name, (long long)i, (unsigned long long)len, JANG_GGUF_MAX_NAME);
        jang_printable(name, (size_t)len, buf, sizeof buf);
        if (memchr(name, 0, (size_t)len))
            return jang_fail(JANG_E_FORMAT, "%s: tensor '%s': name contains a NUL byte", g->name,
                             buf);
        if (!(t->name = jang_strndup(name, (size_t)len))) return JANG_E_NOMEM;
        if (!index_insert(&g->tensor_index, t->name, i))
            return jang_fail(JANG_E_FORMAT, "%s: duplicate tensor name '%s'", g->name, buf);
        snprintf(ctx, sizeof ctx, "tensor '%s'", buf);
        uint32_t n_dims;
        if ((s = rd_u32(c, "n_dims", &n_dims))) return s;
        if (n_dims < 1 || n_dims > 4)
            return jang_fail(JANG_E_FORMAT, "%s: tensor '%s': %u dimensions (must be 1 to 4)",
                             g->name, buf, n_dims);
        t->n_dims = (int32_t)n_dims;
        for (int d = 0; d < 4; d++)
            t->ne[d] = t->shape[d] = 1;
        for (uint32_t d = 0; d < n_dims; d++) {
            uint64_t ne;
            if ((s = rd_u64(c, "dimension", &ne))) return s;
            if (ne > (uint64_t)INT64_MAX)
                return jang_fail(JANG_E_FORMAT, "%s: tensor '%s': dimension %u is %llu", g->name,
                                 buf, d, (unsigned long long)ne);
            t->ne[d] = (int64_t)ne;
        }
        for (uint32_t d = 0; d < n_dims; d++)
            t->shape[d] = t->ne[n_dims - 1 - d];
        if ((s = rd_u32(c, "type", &t->type))) return s;
        if ((s = rd_u64(c, "offset", &t->offset))) return s;
    }
    return JANG_OK;
}

static int cmp_by_offset(const void *a, const void *b) {
    const jang_gguf_tensor *x = *(const jang_gguf_tensor *const *)a;
    const jang_gguf_tensor *y = *(const jang_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Sizes, alignment and bounds of every tensor's data, then overlaps. */
static jang_status check_tensor_data(jang_gguf *g) {
    char buf[160], buf2[160];
    for (int64_t i = 0; i < g->n_tensors; i++) {
        jang_gguf_tensor *t = &g->tensors[i];
        jang_printable(t->name, strlen(t->name), buf, sizeof buf);
        uint64_t n = 1;
        for (int d = 0; d < t->n_dims; d++)
            if (!jang_mul_u64(n, (uint64_t)t->ne[d], &n) || n > (uint64_t)INT64_MAX)
                return jang_fail(JANG_E_FORMAT,
                                 "%s: tensor '%s': element count overflows (ne = [%lld, %lld, "
                                 "%lld, %lld])",
                                 g->name, buf, (long long)t->ne[0], (long long)t->ne[1],
                                 (long long)t->ne[2], (long long)t->ne[3]);
        t->n_elements = (int64_t)n;
        int64_t block;
        size_t tsize;
        uint64_t bytes = 0;
        if (jang_ggml_type_info(t->type, &block, &tsize)) {
            if (t->ne[0] % block != 0)
                return jang_fail(JANG_E_FORMAT,
                                 "%s: tensor '%s': rows of %lld elements are not a multiple of "
                                 "the %s block size %lld",
                                 g->name, buf, (long long)t->ne[0], jang_ggml_type_name(t->type),
                                 (long long)block);
            if (!jang_mul_u64(n / (uint64_t)block, tsize, &bytes) || bytes > SIZE_MAX)
                return jang_fail(JANG_E_FORMAT, "%s: tensor '%s': data size overflows", g->name,
                                 buf);
        } /* unknown types keep n_bytes 0: jang_gguf_dequantize refuses them */
        t->n_bytes = (size_t)bytes;
        if (t->offset % g->alignment != 0)
            return jang_fail(JANG_E_FORMAT,
                             "%s: tensor '%s': data offset %llu is not a multiple of the "
                             "alignment %llu",
                             g->name, buf, (unsigned long long)t->offset,
                             (unsigned long long)g->alignment);
        uint64_t start, end;
        if (!jang_add_u64(g->data_offset, t->offset, &start))
            return jang_fail(
                JANG_E_FORMAT,
                "%s: tensor '%s': data offset %llu past the end of the file (size %zu)", g->name,
                buf, (unsigned long long)t->offset, g->size);
        if (!jang_add_u64(start, bytes, &end) || end > g->size)
            return jang_fail(JANG_E_FORMAT,
                             "%s: tensor '%s': data [offset %llu, %llu bytes] past the end of the "
                             "file (size %zu)",
                             g->name, buf, (unsigned long long)start, (unsigned long long)bytes,
                             g->size);
        t->data = g->data + start;
    }
    if (g->n_tensors < 2) return JANG_OK;
    const jang_gguf_tensor **order = jang_calloc((size_t)g->n_tensors, sizeof *order, g->name);
    if (!order) return JANG_E_NOMEM;
    for (int64_t i = 0; i < g->n_tensors; i++)
        order[i] = &g->tensors[i];
    qsort(order, (size_t)g->n_tensors, sizeof *order, cmp_by_offset);
    const jang_gguf_tensor *prev = NULL; /* the non-empty tensor reaching furthest so far */
    jang_status s = JANG_OK;
    for (int64_t i = 0; i < g->n_tensors && !s; i++) {
        const jang_gguf_tensor *t = order[i];
        if (t->n_bytes == 0) continue;
        if (prev && t->offset < prev->offset + prev->n_bytes)
            s = jang_fail(JANG_E_FORMAT,
                          "%s: tensors '%s' [offset %llu, %zu bytes] and '%s' [offset %llu, %zu "
                          "bytes] overlap",
                          g->name, jang_printable(prev->name, strlen(prev->name), buf, sizeof buf),
                          (unsigned long long)prev->offset, prev->n_bytes,
                          jang_printable(t->name, strlen(t->name), buf2, sizeof buf2),
                          (unsigned long long)t->offset, t->n_bytes);
        if (!prev || t->offset + t->n_bytes > prev->offset + prev->n_bytes) prev = t;
    }
    free(order);
    return s;
}

static jang_status parse(jang_gguf *g) {
    cursor c = {g->data, g->size, 0, g->name, "header"};
    uint64_t n_tensors, n_kv;
    jang_status s;
    if ((s = parse_header(g, &c, &n_tensors, &n_kv))) return s;
    if ((s = parse_kvs(g, &c, n_kv))) return s;
    if ((s = parse_tensor_infos(g, &c, n_tensors))) return s;
    c.ctx = "tensor data";
    /* the data section starts at the next multiple of the alignment */
    if (!jang_add_u64(c.pos, g->alignment - 1, &g->data_offset))
        return jang_fail(JANG_E_FORMAT, "%s: data section offset overflows", g->name);
    g->data_offset &= ~(g->alignment - 1);
    return check_tensor_data(g);
}

static jang_status open_common(jang_gguf *g, const char *name, jang_gguf **out) {
    jang_status s = JANG_E_NOMEM;
    if ((g->name = jang_strdup(name))) s = parse(g);
    if (s) {
        jang_gguf_close(g);
        return s;
    }
    *out = g;
    return JANG_OK;
}

jang_status jang_gguf_open_memory(const void *data, size_t size, const char *name,
                                  jang_gguf **out) {
    if (!out) return jang_fail(JANG_E_ARG, "jang_gguf_open_memory: out is NULL");
    *out = NULL;
    if (!name) name = "(memory)";
    if (!data && size) return jang_fail(JANG_E_ARG, "%s: data is NULL", name);
    jang_gguf *g = jang_calloc(1, sizeof *g, name);
    if (!g) return JANG_E_NOMEM;
    g->data = data;
    g->size = size;
    return open_common(g, name, out);
}

jang_status jang_gguf_open(const char *path, jang_gguf **out) {
    if (!out || !path) return jang_fail(JANG_E_ARG, "jang_gguf_open: NULL argument");
    *out = NULL;
    jang_gguf *g = jang_calloc(1, sizeof *g, path);
    if (!g) return JANG_E_NOMEM;
    jang_status s = jang_map_open(path, &g->map);
    if (s) {
        free(g);
        return s;
    }
    g->data = g->map.data;
    g->size = g->map.size;
    return open_common(g, path, out);
}

void jang_gguf_close(jang_gguf *g) {
    if (!g) return;
    for (int64_t i = 0; g->kv && i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str);
        value_free(&g->kv[i].val);
    }
    free(g->kv);
    for (int64_t i = 0; g->tensors && i < g->n_tensors; i++)
        free((char *)g->tensors[i].name);
    free(g->tensors);
    free(g->kv_index.slots);
    free(g->tensor_index.slots);
    free(g->name);
    jang_map_close(&g->map);
    free(g);
}

/* ---------------------------------------------------------------------------------------------
 * Accessors
 */
uint32_t jang_gguf_version(const jang_gguf *g) { return g->version; }
const char *jang_gguf_path(const jang_gguf *g) { return g->name; }
uint64_t jang_gguf_alignment(const jang_gguf *g) { return g->alignment; }
uint64_t jang_gguf_data_offset(const jang_gguf *g) { return g->data_offset; }
int64_t jang_gguf_n_kv(const jang_gguf *g) { return g->n_kv; }
int64_t jang_gguf_n_tensors(const jang_gguf *g) { return g->n_tensors; }

const char *jang_gguf_key(const jang_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}

const jang_gguf_value *jang_gguf_value_at(const jang_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? &g->kv[i].val : NULL;
}

static const gguf_kv *find_kv(const jang_gguf *g, const char *key) {
    int64_t i = key ? index_find(&g->kv_index, key) : -1;
    return i < 0 ? NULL : &g->kv[i];
}

const jang_gguf_value *jang_gguf_find(const jang_gguf *g, const char *key) {
    const gguf_kv *kv = find_kv(g, key);
    return kv ? &kv->val : NULL;
}

static bool is_unsigned(jang_gguf_vtype t) {
    return t == JANG_GGUF_UINT8 || t == JANG_GGUF_UINT16 || t == JANG_GGUF_UINT32 ||
           t == JANG_GGUF_UINT64;
}

static bool is_signed(jang_gguf_vtype t) {
    return t == JANG_GGUF_INT8 || t == JANG_GGUF_INT16 || t == JANG_GGUF_INT32 ||
           t == JANG_GGUF_INT64;
}

bool jang_gguf_get_i64(const jang_gguf *g, const char *key, int64_t *out) {
    const jang_gguf_value *v = jang_gguf_find(g, key);
    if (!v) return false;
    if (is_signed(v->type)) {
        *out = v->v.i64;
        return true;
    }
    if (is_unsigned(v->type) && v->v.u64 <= (uint64_t)INT64_MAX) {
        *out = (int64_t)v->v.u64;
        return true;
    }
    return false;
}

bool jang_gguf_get_f64(const jang_gguf *g, const char *key, double *out) {
    const jang_gguf_value *v = jang_gguf_find(g, key);
    if (!v) return false;
    if (v->type == JANG_GGUF_FLOAT32 || v->type == JANG_GGUF_FLOAT64)
        *out = v->v.f64;
    else if (is_signed(v->type))
        *out = (double)v->v.i64;
    else if (is_unsigned(v->type))
        *out = (double)v->v.u64;
    else
        return false;
    return true;
}

bool jang_gguf_get_bool(const jang_gguf *g, const char *key, bool *out) {
    const jang_gguf_value *v = jang_gguf_find(g, key);
    if (!v || v->type != JANG_GGUF_BOOL) return false;
    *out = v->v.b;
    return true;
}

const char *jang_gguf_get_str(const jang_gguf *g, const char *key) {
    const gguf_kv *kv = find_kv(g, key);
    return kv ? kv->str : NULL;
}

const jang_gguf_tensor *jang_gguf_tensor_at(const jang_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const jang_gguf_tensor *jang_gguf_find_tensor(const jang_gguf *g, const char *name) {
    int64_t i = name ? index_find(&g->tensor_index, name) : -1;
    return i < 0 ? NULL : &g->tensors[i];
}
