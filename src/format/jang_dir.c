/* jang_dir.c — the JANG v2 / MLX model directory writer (jang_dir_writer_*).
 *
 * Use: open(out) -> declare every tensor (plain ones and quantized modules) -> write the data in
 * declaration order -> finish(meta). At the first write the shards are planned from the declared
 * sizes (jang's rule: companion tensors sharing a base name stay together; a new shard starts
 * when the next group would pass max_shard_bytes), so every shard has its final name
 * model-0000k-of-0000N.safetensors from the start and is streamed through jang_st_writer with
 * __metadata__ {"format": "mlx"}. finish writes config.json (source config + "quantization" and
 * an identical "quantization_config"), jang_config.json, model.safetensors.index.json and the
 * extra files, all in Python's json.dumps(indent=2) style, into the temporary directory
 * "<out>.tmp-XXXXXX", fsyncs, and renames it to out (renameat2: NOREPLACE, or EXCHANGE with
 * force). Any failure or abort removes the temporary directory; out is never half-written.
 * Format reference: docs/FORMAT.md "JANG v2 directories". Tested by tests/test_jang_dir.c.
 */
#include "format.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define INDEX_NAME "model.safetensors.index.json"
#define SHARD_FMT "model-%05d-of-%05d.safetensors"

/* ---- small file-system helpers ------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* Removes a directory tree (best effort; never follows symlinks). */
static void rm_rf(const char *path) {
    if (path && path[0]) nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static jang_status fsync_path(const char *path, bool dir) {
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) return jang_fail(JANG_E_IO, "%s: cannot open to sync: %s", path, strerror(errno));
    jang_status s = JANG_OK;
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
        s = jang_fail(JANG_E_IO, "%s: fsync failed: %s", path, strerror(errno));
    close(fd);
    return s;
}

/* Writes n bytes to path (created exclusively) and fsyncs it. */
static jang_status write_file(const char *path, const void *data, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return jang_fail(JANG_E_IO, "%s: cannot create: %s", path, strerror(errno));
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            jang_status s = jang_fail(JANG_E_IO, "%s: write failed: %s", path,
                                      k < 0 ? strerror(errno) : "no progress");
            close(fd);
            return s;
        }
        p += k;
        n -= (size_t)k;
    }
    if (fsync(fd) != 0) {
        jang_status s = jang_fail(JANG_E_IO, "%s: fsync failed: %s", path, strerror(errno));
        close(fd);
        return s;
    }
    if (close(fd) != 0) return jang_fail(JANG_E_IO, "%s: close failed: %s", path, strerror(errno));
    return JANG_OK;
}

/* Copies src to dst (created exclusively), fsynced. */
static jang_status copy_file(const char *src, const char *dst) {
    jang_map m;
    jang_status s = jang_map_open(src, &m);
    if (s != JANG_OK) return s;
    s = write_file(dst, m.data ? (const void *)m.data : "", m.size);
    jang_map_close(&m);
    return s;
}

/* A directory that --force may replace: empty, or holding config.json or *.safetensors. */
static bool looks_like_model_dir(const char *path) {
    DIR *d = opendir(path);
    if (!d) return false;
    bool empty = true, model = false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        empty = false;
        size_t n = strlen(e->d_name);
        if (!strcmp(e->d_name, "config.json") ||
            (n > 12 && !strcmp(e->d_name + n - 12, ".safetensors")))
            model = true;
    }
    closedir(d);
    return empty || model;
}

/* ---- JSON output in Python's json.dumps(obj, indent=2, ensure_ascii=False) style ---------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_indent(sbuf *b, int level) {
    sb_put(b, "\n", 1);
    for (int i = 0; i < level; i++)
        sb_put(b, "  ", 2);
}

static void sb_quoted(sbuf *b, const char *s, size_t n) {
    sb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        switch (c) {
        case '"':
            sb_put(b, "\\\"", 2);
            break;
        case '\\':
            sb_put(b, "\\\\", 2);
            break;
        case '\n':
            sb_put(b, "\\n", 2);
            break;
        case '\r':
            sb_put(b, "\\r", 2);
            break;
        case '\t':
            sb_put(b, "\\t", 2);
            break;
        case '\b':
            sb_put(b, "\\b", 2);
            break;
        case '\f':
            sb_put(b, "\\f", 2);
            break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                sb_str(b, esc);
            } else {
                sb_put(b, (const char *)&c, 1);
            }
        }
    }
    sb_put(b, "\"", 1);
}

/* Python's repr(float): the shortest digits that read back to x; positional notation for
 * decimal exponents in [-4, 16), else d.ddde+XX. */
static void sb_real(sbuf *b, double x) {
    char buf[64];
    if (!isfinite(x)) {
        sb_str(b, isnan(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity");
        return;
    }
    int p = 1;
    for (; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, x);
        if (strtod(buf, NULL) == x) break;
    }
    snprintf(buf, sizeof buf, "%.*e", p - 1, x);
    int exp10 = atoi(strchr(buf, 'e') + 1);
    if (exp10 >= -4 && exp10 < 16) {
        int decimals = p - 1 - exp10;
        snprintf(buf, sizeof buf, "%.*f", decimals > 0 ? decimals : 0, x);
        if (!strchr(buf, '.')) strcat(buf, ".0");
    }
    sb_str(b, buf);
}

static void sb_json(sbuf *b, const json_t *v, int level) {
    char num[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (json_object_size(v) == 0) {
            sb_str(b, "{}");
            break;
        }
        sb_put(b, "{", 1);
        const char *k;
        size_t klen;
        json_t *x;
        bool first = true;
        json_object_keylen_foreach((json_t *)v, k, klen, x) {
            if (!first) sb_put(b, ",", 1);
            first = false;
            sb_indent(b, level + 1);
            sb_quoted(b, k, klen);
            sb_put(b, ": ", 2);
            sb_json(b, x, level + 1);
        }
        sb_indent(b, level);
        sb_put(b, "}", 1);
        break;
    }
    case JSON_ARRAY: {
        if (json_array_size(v) == 0) {
            sb_str(b, "[]");
            break;
        }
        sb_put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) sb_put(b, ",", 1);
            sb_indent(b, level + 1);
            sb_json(b, json_array_get(v, i), level + 1);
        }
        sb_indent(b, level);
        sb_put(b, "]", 1);
        break;
    }
    case JSON_STRING:
        sb_quoted(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        sb_str(b, num);
        break;
    case JSON_REAL:
        sb_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        sb_str(b, "true");
        break;
    case JSON_FALSE:
        sb_str(b, "false");
        break;
    case JSON_NULL:
        sb_str(b, "null");
        break;
    }
}

/* Writes v to dir/name as Python would (plus the final newline jang writes). */
static jang_status write_json(const char *dir, const char *name, const json_t *v) {
    sbuf b = {0};
    sb_json(&b, v, 0);
    sb_put(&b, "\n", 1);
    char *path = jang_path_join(dir, name);
    jang_status s;
    if (b.oom || !path)
        s = jang_fail(JANG_E_NOMEM, "%s/%s: out of memory", dir, name);
    else
        s = write_file(path, b.p, b.n);
    free(path);
    free(b.p);
    return s;
}

/* ---- the writer ---------------------------------------------------------------------------- */

typedef struct dtensor {
    char *name;
    jang_dtype dtype;
    int32_t n_dims;
    int64_t shape[JANG_MAX_DIMS];
    uint64_t n_bytes;
    int shard;      /* 0-based, set by plan() */
    int64_t module; /* index into jang_dir_writer.m, or -1 */
} dtensor;

typedef struct dmodule {
    char *path, *source;
    int bits, group;
    jang_dtype sdtype;
    int32_t n_dims;
    int64_t shape[JANG_MAX_DIMS]; /* logical (..., out, in) */
    int64_t n_params;
    size_t first; /* index of <path>.weight in jang_dir_writer.t */
} dmodule;

struct jang_dir_writer {
    char *out, *tmp;
    uint64_t max_shard;
    bool force;
    json_t *names; /* declared tensor names: duplicates */
    dtensor *t;
    size_t n, cap;
    dmodule *m;
    size_t nm, capm;
    bool planned;
    int n_shards;
    size_t cur;        /* tensor whose data is due */
    uint64_t cur_done; /* bytes of it written */
    jang_st_writer *sw;
    int sw_shard; /* shard sw writes; -1 none */
    jang_status failed;
};

void jang_dir_writer_opts_init(jang_dir_writer_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_shard_bytes = (uint64_t)5 * 1024 * 1024 * 1024;
}

void jang_dir_meta_init(jang_dir_meta *m) {
    memset(m, 0, sizeof *m);
    m->jang = true;
}

static void writer_free(jang_dir_writer *w) {
    if (!w) return;
    jang_st_writer_abort(w->sw);
    for (size_t i = 0; i < w->n; i++)
        free(w->t[i].name);
    for (size_t i = 0; i < w->nm; i++) {
        free(w->m[i].path);
        free(w->m[i].source);
    }
    free(w->t);
    free(w->m);
    json_decref(w->names);
    free(w->out);
    free(w->tmp);
    free(w);
}

/* Removes the temporary directory and poisons the writer. The detail of the failure that led
 * here is kept. */
static jang_status poison(jang_dir_writer *w, jang_status s) {
    char keep[1024];
    snprintf(keep, sizeof keep, "%s", jang_last_error());
    if (w->sw) {
        jang_st_writer_abort(w->sw);
        w->sw = NULL;
    }
    rm_rf(w->tmp);
    w->failed = s;
    return jang_fail(s, "%s", keep);
}

static jang_status dfail(jang_dir_writer *w, jang_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static jang_status dfail(jang_dir_writer *w, jang_status s, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jang_fail(s, "%s", msg);
    return poison(w, s);
}

static jang_status usable(jang_dir_writer *w, const char *fn) {
    if (!w) return jang_fail(JANG_E_ARG, "%s: writer is NULL", fn);
    if (w->failed != JANG_OK)
        return jang_fail(w->failed, "%s: an earlier call failed; nothing was written", w->out);
    return JANG_OK;
}

jang_status jang_dir_writer_open(const char *out_dir, const jang_dir_writer_opts *opts,
                                 jang_dir_writer **out) {
    if (!out) return jang_fail(JANG_E_ARG, "jang_dir_writer_open: out is NULL");
    *out = NULL;
    if (!out_dir || !out_dir[0]) return jang_fail(JANG_E_ARG, "jang_dir_writer_open: empty path");
    jang_dir_writer_opts def;
    if (!opts) {
        jang_dir_writer_opts_init(&def);
        opts = &def;
    }
    if (opts->max_shard_bytes == 0)
        return jang_fail(JANG_E_ARG, "%s: max_shard_bytes is 0", out_dir);

    size_t len = strlen(out_dir);
    while (len > 1 && out_dir[len - 1] == '/')
        len--;
    char *o = jang_strndup(out_dir, len);
    if (!o) return JANG_E_NOMEM;
    struct stat sb;
    if (lstat(o, &sb) == 0) {
        jang_status s = JANG_OK;
        if (!opts->force)
            s = jang_fail(JANG_E_EXISTS, "%s: already exists (use --force to replace it)", o);
        else if (!S_ISDIR(sb.st_mode))
            s = jang_fail(JANG_E_EXISTS, "%s: exists and is not a directory; not replaced", o);
        else if (!looks_like_model_dir(o))
            s = jang_fail(JANG_E_EXISTS,
                          "%s: exists and does not look like a model directory (no config.json "
                          "or .safetensors); not replaced even with --force",
                          o);
        if (s != JANG_OK) {
            free(o);
            return s;
        }
    }

    jang_dir_writer *w = jang_calloc(1, sizeof *w, o);
    char *tmp = jang_malloc(len + 16, o);
    json_t *names = json_object();
    if (!w || !tmp || !names) {
        free(w), free(tmp), free(o), json_decref(names);
        return jang_fail(JANG_E_NOMEM, "%s: out of memory", out_dir);
    }
    /* Like mkdtemp, but with mode 0777 & ~umask (mkdtemp's 0700 would end up on the output). */
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    uint64_t x = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)w;
    int rc = -1;
    for (int attempt = 0; attempt < 100 && rc != 0; attempt++) {
        char suffix[7];
        for (int i = 0; i < 6; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
            suffix[i] = alphabet[x % 36];
        }
        suffix[6] = '\0';
        snprintf(tmp, len + 16, "%s.tmp-%s", o, suffix);
        rc = mkdir(tmp, 0777);
        if (rc != 0 && errno != EEXIST) break;
    }
    if (rc != 0) {
        jang_status s = jang_fail(JANG_E_IO, "%s: cannot create the temporary directory: %s", tmp,
                                  strerror(errno));
        free(w), free(tmp), free(o), json_decref(names);
        return s;
    }
    w->out = o;
    w->tmp = tmp;
    w->names = names;
    w->max_shard = opts->max_shard_bytes;
    w->force = opts->force;
    w->sw_shard = -1;
    *out = w;
    return JANG_OK;
}

static const char *pn(const char *name, char *buf, size_t cap) {
    return jang_printable(name, strlen(name), buf, cap);
}

static jang_status add_tensor(jang_dir_writer *w, const char *name, jang_dtype dtype,
                              int32_t n_dims, const int64_t *shape, int64_t module) {
    char nb[256];
    if (!name || !name[0]) return dfail(w, JANG_E_ARG, "%s: tensor with an empty name", w->out);
    if (w->planned)
        return dfail(w, JANG_E_ARG, "%s: tensor '%s' declared after tensor data was written",
                     w->out, pn(name, nb, sizeof nb));
    if ((unsigned)dtype >= (unsigned)JANG_DT_COUNT)
        return dfail(w, JANG_E_ARG, "%s: tensor '%s': invalid dtype %d", w->out,
                     pn(name, nb, sizeof nb), (int)dtype);
    if (n_dims < 0 || n_dims > JANG_MAX_DIMS || (n_dims > 0 && !shape))
        return dfail(w, JANG_E_ARG, "%s: tensor '%s': %d dims (0..%d allowed, shape required)",
                     w->out, pn(name, nb, sizeof nb), (int)n_dims, JANG_MAX_DIMS);
    uint64_t n_el = 1;
    for (int32_t i = 0; i < n_dims; i++) {
        if (shape[i] < 0 || !jang_mul_u64(n_el, (uint64_t)shape[i], &n_el) ||
            n_el > (uint64_t)INT64_MAX)
            return dfail(w, JANG_E_ARG, "%s: tensor '%s': invalid shape", w->out,
                         pn(name, nb, sizeof nb));
    }
    uint64_t n_bytes;
    if (!jang_mul_u64(n_el, jang_dtype_size(dtype), &n_bytes))
        return dfail(w, JANG_E_ARG, "%s: tensor '%s': byte size overflows", w->out,
                     pn(name, nb, sizeof nb));
    if (json_object_get(w->names, name))
        return dfail(w, JANG_E_ARG, "%s: tensor '%s' declared twice", w->out,
                     pn(name, nb, sizeof nb));
    if (json_object_set_new(w->names, name, json_true()) != 0)
        return dfail(w, JANG_E_ARG, "%s: tensor name '%s' is not valid UTF-8", w->out,
                     pn(name, nb, sizeof nb));
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 256;
        dtensor *t = realloc(w->t, cap * sizeof *t);
        if (!t) return dfail(w, JANG_E_NOMEM, "%s: out of memory", w->out);
        w->t = t;
        w->cap = cap;
    }
    dtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = jang_strdup(name);
    if (!t->name) return dfail(w, JANG_E_NOMEM, "%s: out of memory", w->out);
    t->dtype = dtype;
    t->n_dims = n_dims;
    for (int32_t i = 0; i < n_dims; i++)
        t->shape[i] = shape[i];
    t->n_bytes = n_bytes;
    t->module = module;
    w->n++;
    return JANG_OK;
}

jang_status jang_dir_writer_declare(jang_dir_writer *w, const char *name, jang_dtype dtype,
                                    int32_t n_dims, const int64_t *shape) {
    jang_status s = usable(w, "jang_dir_writer_declare");
    if (s != JANG_OK) return s;
    return add_tensor(w, name, dtype, n_dims, shape, -1);
}

jang_status jang_dir_writer_declare_quantized(jang_dir_writer *w, const char *module,
                                              int32_t n_dims, const int64_t *shape, int bits,
                                              int group, jang_dtype scale_dtype,
                                              const char *source_tensor) {
    jang_status s = usable(w, "jang_dir_writer_declare_quantized");
    if (s != JANG_OK) return s;
    char nb[256];
    if (!module || !module[0])
        return dfail(w, JANG_E_ARG, "%s: quantized module with an empty name", w->out);
    const char *pm = pn(module, nb, sizeof nb);
    if (!jang_affine_bits_ok(bits) || !jang_affine_group_ok(group))
        return dfail(w, JANG_E_ARG, "%s: module '%s': %d bits, group %d (bits %s; group %s)",
                     w->out, pm, bits, group, JANG_AFFINE_BITS_TEXT, JANG_AFFINE_GROUPS_TEXT);
    if (scale_dtype != JANG_DT_F16 && scale_dtype != JANG_DT_BF16 && scale_dtype != JANG_DT_F32)
        return dfail(w, JANG_E_ARG, "%s: module '%s': scale dtype %s (F16, BF16 or F32)", w->out,
                     pm, jang_dtype_name(scale_dtype));
    if (n_dims < 2 || n_dims > JANG_MAX_DIMS || !shape)
        return dfail(w, JANG_E_ARG, "%s: module '%s': %d dims; quantized modules have 2..%d",
                     w->out, pm, (int)n_dims, JANG_MAX_DIMS);
    int64_t in = shape[n_dims - 1];
    if (in <= 0 || in % group != 0)
        return dfail(w, JANG_E_ARG,
                     "%s: module '%s': in_features %lld is not a positive multiple of the group "
                     "size %d (keep such tensors unquantized)",
                     w->out, pm, (long long)in, group);
    size_t plen = strlen(module);
    char *names[3] = {NULL, NULL, NULL};
    static const char *const sfx[3] = {".weight", ".scales", ".biases"};
    for (int i = 0; i < 3; i++) {
        names[i] = jang_malloc(plen + 9, module);
        if (!names[i]) {
            free(names[0]), free(names[1]);
            return dfail(w, JANG_E_NOMEM, "%s: out of memory", w->out);
        }
        memcpy(names[i], module, plen);
        memcpy(names[i] + plen, sfx[i], strlen(sfx[i]) + 1);
    }
    if (w->nm == w->capm) {
        size_t cap = w->capm ? 2 * w->capm : 128;
        dmodule *m = realloc(w->m, cap * sizeof *m);
        if (!m) {
            free(names[0]), free(names[1]), free(names[2]);
            return dfail(w, JANG_E_NOMEM, "%s: out of memory", w->out);
        }
        w->m = m;
        w->capm = cap;
    }
    dmodule *m = &w->m[w->nm];
    memset(m, 0, sizeof *m);
    m->path = jang_strdup(module);
    m->source = jang_strdup(source_tensor ? source_tensor : names[0]);
    m->bits = bits;
    m->group = group;
    m->sdtype = scale_dtype;
    m->n_dims = n_dims;
    m->n_params = 1;
    for (int32_t i = 0; i < n_dims; i++) {
        m->shape[i] = shape[i];
        if (shape[i] < 0 || __builtin_mul_overflow(m->n_params, shape[i], &m->n_params)) {
            m->n_params = -1;
            break;
        }
    }
    m->first = w->n;
    int64_t ws[JANG_MAX_DIMS], ss[JANG_MAX_DIMS];
    for (int32_t i = 0; i < n_dims; i++)
        ws[i] = ss[i] = shape[i];
    ws[n_dims - 1] = in / 32 * bits; /* in is a multiple of 32 */
    ss[n_dims - 1] = in / group;
    if (!m->path || !m->source || m->n_params < 0) {
        free(m->path), free(m->source);
        free(names[0]), free(names[1]), free(names[2]);
        return dfail(w, JANG_E_ARG, "%s: module '%s': out of memory or invalid shape", w->out, pm);
    }
    w->nm++;
    int64_t idx = (int64_t)(w->nm - 1);
    s = add_tensor(w, names[0], JANG_DT_U32, n_dims, ws, idx);
    if (s == JANG_OK) s = add_tensor(w, names[1], scale_dtype, n_dims, ss, idx);
    if (s == JANG_OK) s = add_tensor(w, names[2], scale_dtype, n_dims, ss, idx);
    free(names[0]), free(names[1]), free(names[2]);
    return s;
}

/* Base name for shard grouping, as jang's _shard_tensors: the name up to its last '.'. */
static size_t base_len(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot ? (size_t)(dot - name) : strlen(name);
}

static void plan(jang_dir_writer *w) {
    int shard = 0;
    uint64_t cur = 0;
    bool any = false;
    for (size_t i = 0; i < w->n;) {
        size_t bl = base_len(w->t[i].name), j = i + 1;
        uint64_t group = w->t[i].n_bytes;
        while (j < w->n && base_len(w->t[j].name) == bl &&
               !strncmp(w->t[j].name, w->t[i].name, bl)) {
            group += w->t[j].n_bytes;
            j++;
        }
        if (any && cur + group > w->max_shard) {
            shard++;
            cur = 0;
        }
        for (size_t k = i; k < j; k++)
            w->t[k].shard = shard;
        cur += group;
        any = true;
        i = j;
    }
    w->n_shards = w->n ? shard + 1 : 0;
    w->planned = true;
    w->cur = 0;
    w->cur_done = 0;
}

static char *shard_path(const jang_dir_writer *w, int shard, char *name, size_t cap) {
    snprintf(name, cap, SHARD_FMT, shard + 1, w->n_shards);
    return jang_path_join(w->tmp, name);
}

/* Makes sw the writer of `shard`, declaring its tensors. */
static jang_status ensure_shard(jang_dir_writer *w, int shard) {
    if (w->sw && w->sw_shard == shard) return JANG_OK;
    JANG_ASSERT(w->sw == NULL);
    char name[64];
    char *path = shard_path(w, shard, name, sizeof name);
    if (!path) return dfail(w, JANG_E_NOMEM, "%s: out of memory", w->out);
    jang_status s = jang_st_writer_open(path, &w->sw);
    free(path);
    if (s != JANG_OK) return poison(w, s);
    w->sw_shard = shard;
    s = jang_st_writer_set_metadata(w->sw, "format", "mlx");
    for (size_t i = w->cur; s == JANG_OK && i < w->n && w->t[i].shard == shard; i++)
        s = jang_st_writer_declare(w->sw, w->t[i].name, w->t[i].dtype, w->t[i].n_dims,
                                   w->t[i].shape);
    if (s != JANG_OK) return poison(w, s); /* aborts (frees) the poisoned shard writer */
    return JANG_OK;
}

/* Moves past complete tensors, finishing each shard as its last tensor completes. */
static jang_status settle(jang_dir_writer *w) {
    while (w->cur < w->n && w->cur_done == w->t[w->cur].n_bytes) {
        jang_status s = ensure_shard(w, w->t[w->cur].shard); /* shards of empty tensors */
        if (s != JANG_OK) return s;
        w->cur++;
        w->cur_done = 0;
        if (w->cur == w->n || w->t[w->cur].shard != w->sw_shard) {
            s = jang_st_writer_finish(w->sw);
            w->sw = NULL;
            w->sw_shard = -1;
            if (s != JANG_OK) return poison(w, s);
        }
    }
    return JANG_OK;
}

jang_status jang_dir_writer_write(jang_dir_writer *w, const void *data, size_t n_bytes) {
    jang_status s = usable(w, "jang_dir_writer_write");
    if (s != JANG_OK) return s;
    if (!w->planned) plan(w);
    if ((s = settle(w)) != JANG_OK) return s;
    if (n_bytes && !data)
        return dfail(w, JANG_E_ARG, "%s: write of %zu bytes from NULL", w->out, n_bytes);
    const uint8_t *p = data;
    while (n_bytes > 0) {
        if (w->cur >= w->n)
            return dfail(w, JANG_E_ARG, "%s: %zu bytes written after all declared tensor data",
                         w->out, n_bytes);
        dtensor *t = &w->t[w->cur];
        if ((s = ensure_shard(w, t->shard)) != JANG_OK) return s;
        uint64_t left = t->n_bytes - w->cur_done;
        size_t chunk = (uint64_t)n_bytes < left ? n_bytes : (size_t)left;
        s = jang_st_writer_write(w->sw, p, chunk);
        if (s != JANG_OK) return poison(w, s);
        w->cur_done += chunk;
        p += chunk;
        n_bytes -= chunk;
        if ((s = settle(w)) != JANG_OK) return s;
    }
    return JANG_OK;
}

jang_status jang_dir_writer_write_quantized(jang_dir_writer *w, const void *packed,
                                            const void *scales, const void *biases) {
    jang_status s = usable(w, "jang_dir_writer_write_quantized");
    if (s != JANG_OK) return s;
    if (!w->planned) plan(w);
    if ((s = settle(w)) != JANG_OK) return s;
    if (w->cur >= w->n || w->t[w->cur].module < 0 || w->cur_done != 0 ||
        w->m[w->t[w->cur].module].first != w->cur)
        return dfail(w, JANG_E_ARG,
                     "%s: write_quantized: the next data due is not the start of a quantized "
                     "module",
                     w->out);
    const void *parts[3] = {packed, scales, biases};
    size_t first = w->cur;
    for (int i = 0; i < 3; i++) {
        s = jang_dir_writer_write(w, parts[i], (size_t)w->t[first + (size_t)i].n_bytes);
        if (s != JANG_OK) return s;
    }
    return JANG_OK;
}

/* ---- finish: config.json, jang_config.json, index, files ------------------------------------ */

static json_t *shape_json(const int64_t *shape, int32_t n) {
    json_t *a = json_array();
    for (int32_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_integer(shape[i]));
    return a;
}

/* Python's round(x, 2) (both round the exact binary value to nearest). */
static double round2(double x) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.2f", x);
    return strtod(buf, NULL);
}

/* Merges the members of the JSON object text `extra` into obj. */
static jang_status merge_json(json_t *obj, const char *extra, const char *what) {
    if (!extra) return JANG_OK;
    json_error_t e;
    json_t *x = json_loads(extra, JSON_REJECT_DUPLICATES, &e);
    if (!json_is_object(x)) {
        json_decref(x);
        return jang_fail(JANG_E_ARG, "%s: not a JSON object: %s", what, e.text);
    }
    json_object_update(obj, x);
    json_decref(x);
    return JANG_OK;
}

typedef struct qsummary {
    int default_bits, block_size;
    int bits_used[JANG_AFFINE_MAX_BITS + 1];
    double actual_bits;
} qsummary;

static void summarize(const jang_dir_writer *w, const jang_dir_meta *meta, qsummary *q) {
    memset(q, 0, sizeof *q);
    int64_t per_group[JANG_AFFINE_MAX_GROUP + 1] = {0};
    for (size_t i = 0; i < w->nm; i++) {
        q->bits_used[w->m[i].bits] = 1;
        per_group[w->m[i].group] += w->m[i].n_params;
    }
    q->block_size = meta->block_size;
    if (q->block_size <= 0) {
        q->block_size = 64;
        int64_t best = -1;
        for (int g = 1; g <= JANG_AFFINE_MAX_GROUP; g++)
            if (jang_affine_group_ok(g) && per_group[g] > best)
                best = per_group[g], q->block_size = g;
    }
    for (int b = 0; b <= JANG_AFFINE_MAX_BITS; b++)
        if (q->bits_used[b]) {
            q->default_bits = b;
            break;
        }
    /* jang's summarize_allocation_compact: sum(bits * n_blocks) / sum(n_blocks), n_blocks =
     * ceil(n_weights / block_size) with the global block size. */
    double num = 0, den = 0;
    for (size_t i = 0; i < w->nm; i++) {
        double blocks = (double)((w->m[i].n_params + q->block_size - 1) / q->block_size);
        num += blocks * w->m[i].bits;
        den += blocks;
    }
    q->actual_bits = den > 0 ? num / den : 0.0;
}

static json_t *quant_block(const jang_dir_writer *w, const qsummary *q) {
    json_t *b = json_object();
    json_object_set_new(b, "group_size", json_integer(q->block_size));
    json_object_set_new(b, "bits", json_integer(q->default_bits));
    json_object_set_new(b, "mode", json_string("affine"));
    for (size_t i = 0; i < w->nm; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "group_size", json_integer(w->m[i].group));
        json_object_set_new(e, "bits", json_integer(w->m[i].bits));
        json_object_set_new(e, "mode", json_string("affine"));
        json_object_set_new(b, w->m[i].path, e);
    }
    return b;
}

/* Sum of the shard file sizes: jang's index total_size and runtime.total_weight_bytes. */
static jang_status shard_total(const jang_dir_writer *w, uint64_t *total) {
    char name[64];
    *total = 0;
    for (int k = 0; k < w->n_shards; k++) {
        char *path = shard_path(w, k, name, sizeof name);
        struct stat sb;
        bool ok = path && stat(path, &sb) == 0;
        free(path);
        if (!ok) return jang_fail(JANG_E_IO, "%s/%s: missing after writing", w->tmp, name);
        *total += (uint64_t)sb.st_size;
    }
    return JANG_OK;
}

static jang_status write_config(const jang_dir_writer *w, const jang_dir_meta *meta,
                                const qsummary *q) {
    json_error_t e;
    json_t *cfg = json_loads(meta->hf_config_json, JSON_REJECT_DUPLICATES, &e);
    if (!json_is_object(cfg)) {
        json_decref(cfg);
        return jang_fail(JANG_E_ARG, "%s: source config.json is not a JSON object: %s (line %d)",
                         w->out, e.text, e.line);
    }
    json_object_del(cfg, "quantization");
    json_object_del(cfg, "quantization_config");
    if (w->nm > 0) {
        json_object_set_new(cfg, "quantization", quant_block(w, q));
        json_object_set_new(cfg, "quantization_config", quant_block(w, q));
    }
    jang_status s = write_json(w->tmp, "config.json", cfg);
    json_decref(cfg);
    return s;
}

static jang_status write_jang_config(const jang_dir_writer *w, const jang_dir_meta *meta,
                                     const qsummary *q, uint64_t total) {
    json_t *root = json_object(), *qj = json_object(), *used = json_array();
    json_t *man = json_object();
    for (int b = 0; b <= JANG_AFFINE_MAX_BITS; b++)
        if (q->bits_used[b]) json_array_append_new(used, json_integer(b));
    double actual = round2(q->actual_bits);
    json_object_set_new(qj, "method", json_string(meta->method ? meta->method : "jang-importance"));
    json_object_set_new(qj, "profile", meta->profile ? json_string(meta->profile) : json_null());
    json_object_set_new(qj, "target_bits",
                        json_real(meta->target_bits > 0 ? meta->target_bits : actual));
    json_object_set_new(qj, "actual_bits", json_real(actual));
    json_object_set_new(qj, "block_size", json_integer(q->block_size));
    json_object_set_new(qj, "bit_widths_used", used);
    json_object_set_new(qj, "quantization_scheme", json_string("asymmetric"));
    json_object_set_new(qj, "quantization_backend",
                        json_string(meta->backend ? meta->backend : "jang-c"));
    jang_status s = merge_json(qj, meta->quantization_extra_json, "quantization_extra_json");
    for (size_t i = 0; i < w->nm; i++) {
        const dmodule *m = &w->m[i];
        const dtensor *t = &w->t[m->first];
        json_t *e = json_object();
        json_object_set_new(e, "source_tensor", json_string(m->source));
        json_object_set_new(e, "bits", json_integer(m->bits));
        json_object_set_new(e, "group_size", json_integer(m->group));
        json_object_set_new(e, "weight_key", json_string(t[0].name));
        json_object_set_new(e, "scales_key", json_string(t[1].name));
        json_object_set_new(e, "biases_key", json_string(t[2].name));
        json_object_set_new(e, "weight_shape", shape_json(t[0].shape, t[0].n_dims));
        json_object_set_new(e, "scales_shape", shape_json(t[1].shape, t[1].n_dims));
        json_object_set_new(e, "biases_shape", shape_json(t[2].shape, t[2].n_dims));
        json_object_set_new(man, m->path, e);
    }
    json_object_set_new(qj, "tensor_quantization_manifest_schema", json_integer(1));
    json_object_set_new(qj, "tensor_quantization_manifest_count", json_integer((json_int_t)w->nm));
    json_object_set_new(qj, "tensor_quantization_manifest", man);
    json_object_set_new(root, "quantization", qj);

    json_t *src = json_object();
    json_object_set_new(src, "name", json_string(meta->source_name ? meta->source_name : ""));
    json_object_set_new(src, "dtype",
                        json_string(meta->source_dtype ? meta->source_dtype : "float16"));
    json_object_set_new(src, "parameters",
                        json_string(meta->source_params ? meta->source_params : ""));
    json_object_set_new(root, "source_model", src);
    json_t *arch = json_object();
    json_object_set_new(arch, "type",
                        json_string(meta->arch_type ? meta->arch_type : "transformer"));
    json_object_set_new(arch, "attention",
                        json_string(meta->arch_attention ? meta->arch_attention : "gqa"));
    json_object_set_new(arch, "has_vision", json_boolean(meta->has_vision));
    json_object_set_new(arch, "has_ssm", json_boolean(meta->has_ssm));
    json_object_set_new(arch, "has_moe", json_boolean(meta->has_moe));
    json_object_set_new(root, "architecture", arch);
    json_t *rt = json_object();
    /* jang 2.5 finally patches these to the shard file bytes (_patch_runtime_size_metadata) */
    json_object_set_new(rt, "total_weight_bytes", json_integer((json_int_t)total));
    json_object_set_new(rt, "total_weight_gb",
                        json_real(round2((double)total / (1024.0 * 1024 * 1024))));
    json_object_set_new(root, "runtime", rt);
    if (s == JANG_OK) s = merge_json(root, meta->jang_extra_json, "jang_extra_json");
    json_object_set_new(root, "format", json_string("jang"));
    json_object_set_new(root, "format_version", json_string("2.0"));
    if (s == JANG_OK) s = write_json(w->tmp, "jang_config.json", root);
    json_decref(root);
    return s;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const dtensor *const *)a)->name, (*(const dtensor *const *)b)->name);
}

static jang_status write_index(const jang_dir_writer *w, bool jang, uint64_t total) {
    uint64_t data = 0;
    char name[64];
    /* weight_map sorted by tensor name (as mlx-lm and transformers write it). */
    const dtensor **order = jang_malloc((w->n ? w->n : 1) * sizeof *order, "index");
    if (!order) return JANG_E_NOMEM;
    for (size_t i = 0; i < w->n; i++) {
        order[i] = &w->t[i];
        data += w->t[i].n_bytes;
    }
    qsort(order, w->n, sizeof *order, cmp_tensor_name);
    json_t *root = json_object(), *md = json_object(), *wm = json_object();
    if (jang) { /* what jang writes: the shard file sizes */
        json_object_set_new(md, "format", json_string("jang"));
        json_object_set_new(md, "format_version", json_string("2.0"));
        json_object_set_new(md, "total_size", json_integer((json_int_t)total));
    } else { /* what mlx-lm writes: the tensor bytes */
        json_object_set_new(md, "total_size", json_integer((json_int_t)data));
    }
    for (size_t i = 0; i < w->n; i++) {
        snprintf(name, sizeof name, SHARD_FMT, order[i]->shard + 1, w->n_shards);
        json_object_set_new(wm, order[i]->name, json_string(name));
    }
    json_object_set_new(root, "metadata", md);
    json_object_set_new(root, "weight_map", wm);
    jang_status s = write_json(w->tmp, INDEX_NAME, root);
    json_decref(root);
    free(order);
    return s;
}

static bool plain_file_name(const char *s) {
    if (!s || !s[0] || !strcmp(s, ".") || !strcmp(s, "..")) return false;
    for (; *s; s++)
        if (*s == '/' || (unsigned char)*s < 0x20) return false;
    return true;
}

static bool reserved_name(const char *s) {
    size_t n = strlen(s);
    return !strcmp(s, "config.json") || !strcmp(s, "jang_config.json") || !strcmp(s, INDEX_NAME) ||
           (n > 12 && !strcmp(s + n - 12, ".safetensors"));
}

static jang_status write_files(const jang_dir_writer *w, const jang_dir_meta *meta) {
    for (int i = 0; i < meta->n_files; i++) {
        const jang_dir_file *f = &meta->files[i];
        char nb[256];
        if (!plain_file_name(f->name))
            return jang_fail(JANG_E_ARG, "%s: extra file name '%s' is not a plain file name",
                             w->out, f->name ? pn(f->name, nb, sizeof nb) : "(null)");
        if (reserved_name(f->name))
            return jang_fail(JANG_E_ARG, "%s: extra file '%s' would replace a file the writer owns",
                             w->out, f->name);
        if (!f->src_path && !f->data && f->size)
            return jang_fail(JANG_E_ARG, "%s: extra file '%s' has neither a source nor data",
                             w->out, f->name);
        char *dst = jang_path_join(w->tmp, f->name);
        if (!dst) return JANG_E_NOMEM;
        jang_status s = f->src_path ? copy_file(f->src_path, dst)
                                    : write_file(dst, f->data ? f->data : "", f->size);
        free(dst);
        if (s != JANG_OK) return s;
    }
    return JANG_OK;
}

/* Renames tmp to out: without force only if out does not exist; with force by an atomic
 * exchange with the old directory, which is then removed. */
static jang_status publish(jang_dir_writer *w) {
    jang_status s = fsync_path(w->tmp, true);
    if (s != JANG_OK) return s;
    if (renameat2(AT_FDCWD, w->tmp, AT_FDCWD, w->out, RENAME_NOREPLACE) == 0) {
        /* done */
    } else if (errno == EEXIST && w->force) {
        if (!jang_is_dir(w->out) || !looks_like_model_dir(w->out))
            return jang_fail(JANG_E_EXISTS, "%s: appeared meanwhile and is not a model directory",
                             w->out);
        if (renameat2(AT_FDCWD, w->tmp, AT_FDCWD, w->out, RENAME_EXCHANGE) != 0)
            return jang_fail(JANG_E_IO, "%s: cannot exchange with %s: %s", w->tmp, w->out,
                             strerror(errno));
        rm_rf(w->tmp); /* now the old directory */
    } else if (errno == EEXIST) {
        return jang_fail(JANG_E_EXISTS, "%s: already exists (created while writing?)", w->out);
    } else {
        return jang_fail(JANG_E_IO, "%s: cannot rename to %s: %s", w->tmp, w->out, strerror(errno));
    }
    const char *slash = strrchr(w->out, '/');
    char *parent = slash ? jang_strndup(w->out, (size_t)(slash - w->out) + (slash == w->out))
                         : jang_strdup(".");
    if (!parent) return JANG_E_NOMEM;
    s = fsync_path(parent, true);
    free(parent);
    return s;
}

jang_status jang_dir_writer_finish(jang_dir_writer *w, const jang_dir_meta *meta) {
    jang_status s = usable(w, "jang_dir_writer_finish");
    if (s != JANG_OK) {
        if (w) writer_free(w);
        return s;
    }
    if (!meta || !meta->hf_config_json) {
        s = dfail(w, JANG_E_ARG, "%s: finish needs the source config.json text", w->out);
        writer_free(w);
        return s;
    }
    if (!w->planned) plan(w);
    s = settle(w);
    if (s == JANG_OK && w->n == 0) s = dfail(w, JANG_E_ARG, "%s: no tensors declared", w->out);
    if (s == JANG_OK && w->cur < w->n) {
        char nb[256];
        const dtensor *t = &w->t[w->cur];
        s = dfail(w, JANG_E_ARG, "%s: tensor '%s': %llu of its %llu bytes written at finish",
                  w->out, pn(t->name, nb, sizeof nb), (unsigned long long)w->cur_done,
                  (unsigned long long)t->n_bytes);
    }
    if (s == JANG_OK) {
        qsummary q;
        uint64_t total = 0;
        summarize(w, meta, &q);
        s = shard_total(w, &total);
        if (s == JANG_OK) s = write_config(w, meta, &q);
        if (s == JANG_OK && meta->jang) s = write_jang_config(w, meta, &q, total);
        if (s == JANG_OK) s = write_index(w, meta->jang, total);
        if (s == JANG_OK) s = write_files(w, meta);
        if (s == JANG_OK) s = publish(w);
        if (s != JANG_OK) poison(w, s);
    }
    writer_free(w);
    return s;
}

void jang_dir_writer_abort(jang_dir_writer *w) {
    if (!w) return;
    if (w->sw) {
        jang_st_writer_abort(w->sw);
        w->sw = NULL;
    }
    rm_rf(w->tmp);
    writer_free(w);
}
