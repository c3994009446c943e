/* st_writer.c — streaming safetensors writer with bounded memory and an atomic rename.
 *
 * Use: open(path) -> set_metadata / declare every tensor -> write the data of each tensor in
 * declaration order (any number of chunks) -> finish. The first write (or finish) lays the file
 * out and writes the header; data goes straight to "<path>.tmp" with pwrite, nothing is buffered.
 * finish fsyncs, renames to path and fsyncs the directory. Any failed call removes the temporary,
 * leaves path untouched and poisons the writer (later calls fail; finish/abort free it).
 *
 * Layout, chosen to stay valid for the strict reference reader (the Rust `safetensors` crate that
 * transformers uses: tensors must tile the data section from offset 0 to the end of the file with
 * no holes, else InvalidOffset / MetadataIncompleteBuffer), while aligning what can be aligned:
 *  - the JSON header is padded with trailing spaces (allowed by the format) so the data section
 *    starts at a multiple of 64 bytes from the start of the file;
 *  - tensors whose byte size is a multiple of 64 come first (declaration order), so each of them
 *    starts 64-byte aligned; the others follow by decreasing element size, so each starts aligned
 *    to at least its element size. No gaps, no padding tensors.
 * Header keys are in declaration order, `__metadata__` first; data_offsets follow the layout.
 * Tested by tests/test_safetensors.c.
 */
#include "format.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

typedef struct wtensor {
    char *name;
    jang_dtype dtype;
    uint64_t n_bytes;
    uint64_t offset; /* in the data section, set by layout() */
    json_t *entry;   /* {"dtype", "shape"[, "data_offsets"]}, owned by jang_st_writer.entries */
} wtensor;

struct jang_st_writer {
    char *path, *tmp;
    int fd;          /* of tmp; -1 once closed */
    json_t *meta;    /* __metadata__, insertion order */
    json_t *entries; /* tensor name -> entry: finds duplicate names */
    wtensor *t;
    size_t n, cap;
    uint64_t total;      /* bytes of the data section */
    bool started;        /* header written: declarations closed */
    size_t cur;          /* tensor whose data is being written */
    uint64_t cur_done;   /* bytes of it written so far */
    uint64_t data_start; /* file offset of the data section */
    jang_status failed;  /* JANG_OK until a call fails */
};

/* Closes and removes the temporary (idempotent). */
static void discard(jang_st_writer *w) {
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    if (w->tmp) unlink(w->tmp);
}

static jang_status wfail(jang_st_writer *w, jang_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static jang_status wfail(jang_st_writer *w, jang_status s, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    discard(w);
    w->failed = s;
    return jang_fail(s, "%s", msg);
}

static jang_status check_usable(jang_st_writer *w, const char *fn) {
    if (!w) return jang_fail(JANG_E_ARG, "%s: writer is NULL", fn);
    if (w->failed != JANG_OK)
        return jang_fail(w->failed, "%s: an earlier call failed; nothing was written", w->path);
    return JANG_OK;
}

static void writer_free(jang_st_writer *w) {
    for (size_t i = 0; i < w->n; i++)
        free(w->t[i].name);
    free(w->t);
    json_decref(w->meta);
    json_decref(w->entries);
    free(w->path);
    free(w->tmp);
    free(w);
}

jang_status jang_st_writer_open(const char *path, jang_st_writer **out) {
    if (!out) return jang_fail(JANG_E_ARG, "jang_st_writer_open: out is NULL");
    *out = NULL;
    if (!path || !path[0]) return jang_fail(JANG_E_ARG, "jang_st_writer_open: empty path");
    jang_st_writer *w = jang_calloc(1, sizeof *w, path);
    if (!w) return JANG_E_NOMEM;
    w->fd = -1;
    size_t len = strlen(path);
    w->path = jang_strdup(path);
    w->tmp = jang_malloc(len + 5, path);
    w->meta = json_object();
    w->entries = json_object();
    if (!w->path || !w->tmp || !w->meta || !w->entries) {
        free(w->tmp);
        w->tmp = NULL; /* nothing to unlink */
        writer_free(w);
        return jang_fail(JANG_E_NOMEM, "%s: out of memory", path);
    }
    memcpy(w->tmp, path, len);
    memcpy(w->tmp + len, ".tmp", 5);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        jang_status s = jang_fail(JANG_E_IO, "%s: cannot create: %s", w->tmp, strerror(errno));
        free(w->tmp);
        w->tmp = NULL; /* not ours to remove */
        writer_free(w);
        return s;
    }
    *out = w;
    return JANG_OK;
}

jang_status jang_st_writer_set_metadata(jang_st_writer *w, const char *key, const char *value) {
    jang_status s = check_usable(w, "jang_st_writer_set_metadata");
    if (s != JANG_OK) return s;
    if (!key || !value)
        return wfail(w, JANG_E_ARG, "%s: __metadata__ key or value is NULL", w->path);
    if (w->started)
        return wfail(w, JANG_E_ARG, "%s: __metadata__ '%s' set after tensor data was written",
                     w->path, key);
    json_t *v = json_string(value);
    if (!v || json_object_set_new(w->meta, key, v) != 0)
        return wfail(w, JANG_E_ARG, "%s: __metadata__ key or value is not valid UTF-8", w->path);
    return JANG_OK;
}

jang_status jang_st_writer_declare(jang_st_writer *w, const char *name, jang_dtype dtype,
                                   int32_t n_dims, const int64_t *shape) {
    jang_status s = check_usable(w, "jang_st_writer_declare");
    if (s != JANG_OK) return s;
    if (!name || !name[0]) return wfail(w, JANG_E_ARG, "%s: tensor with an empty name", w->path);
    char nb[256];
    const char *pn = jang_printable(name, strlen(name), nb, sizeof nb);
    if (w->started)
        return wfail(w, JANG_E_ARG, "%s: tensor '%s' declared after tensor data was written",
                     w->path, pn);
    if (strcmp(name, "__metadata__") == 0)
        return wfail(w, JANG_E_ARG, "%s: '__metadata__' is reserved, not a tensor name", w->path);
    if ((unsigned)dtype >= (unsigned)JANG_DT_COUNT)
        return wfail(w, JANG_E_ARG, "%s: tensor '%s': invalid dtype %d", w->path, pn, (int)dtype);
    if (n_dims < 0 || n_dims > JANG_MAX_DIMS || (n_dims > 0 && !shape))
        return wfail(w, JANG_E_ARG, "%s: tensor '%s': %d dims (0..%d allowed, shape required)",
                     w->path, pn, (int)n_dims, JANG_MAX_DIMS);
    uint64_t prod = 1;
    bool zero = false;
    for (int32_t i = 0; i < n_dims; i++) {
        if (shape[i] < 0)
            return wfail(w, JANG_E_ARG, "%s: tensor '%s': shape[%d] = %lld is negative", w->path,
                         pn, (int)i, (long long)shape[i]);
        if (shape[i] == 0)
            zero = true;
        else if (!jang_mul_u64(prod, (uint64_t)shape[i], &prod) || prod > (uint64_t)INT64_MAX)
            return wfail(w, JANG_E_ARG, "%s: tensor '%s': shape overflows 64-bit element count",
                         w->path, pn);
    }
    uint64_t n_bytes, total;
    if (!jang_mul_u64(zero ? 0 : prod, jang_dtype_size(dtype), &n_bytes) ||
        !jang_add_u64(w->total, n_bytes, &total) || total > (uint64_t)INT64_MAX)
        return wfail(w, JANG_E_ARG, "%s: tensor '%s': byte size overflows", w->path, pn);
    if (json_object_get(w->entries, name))
        return wfail(w, JANG_E_ARG, "%s: tensor '%s' declared twice", w->path, pn);

    json_t *entry = json_object(), *jshape = json_array();
    bool ok = entry && jshape &&
              json_object_set_new(entry, "dtype", json_string(jang_dtype_name(dtype))) == 0;
    for (int32_t i = 0; ok && i < n_dims; i++)
        ok = json_array_append_new(jshape, json_integer(shape[i])) == 0;
    if (ok) {
        ok = json_object_set_new(entry, "shape", jshape) == 0;
        jshape = NULL;
    }
    json_decref(jshape);
    if (!ok) {
        json_decref(entry);
        return wfail(w, JANG_E_NOMEM, "%s: tensor '%s': out of memory", w->path, pn);
    }
    if (json_object_set_new(w->entries, name, entry) != 0) /* consumes entry either way */
        return wfail(w, JANG_E_ARG, "%s: tensor name '%s' is not valid UTF-8", w->path, pn);

    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        wtensor *t = realloc(w->t, cap * sizeof *t);
        if (!t) return wfail(w, JANG_E_NOMEM, "%s: out of memory", w->path);
        w->t = t;
        w->cap = cap;
    }
    char *copy = jang_strdup(name);
    if (!copy) return wfail(w, JANG_E_NOMEM, "%s: out of memory", w->path);
    w->t[w->n++] = (wtensor){copy, dtype, n_bytes, 0, entry};
    w->total = total;
    return JANG_OK;
}

static jang_status pwrite_all(jang_st_writer *w, const void *data, size_t n, uint64_t off) {
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t k = pwrite(w->fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return wfail(w, JANG_E_IO, "%s: write failed: %s", w->tmp,
                         k < 0 ? strerror(errno) : "no progress");
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return JANG_OK;
}

/* Moves cur past tensors that are complete (or empty). */
static void advance(jang_st_writer *w) {
    while (w->cur < w->n && w->cur_done == w->t[w->cur].n_bytes) {
        w->cur++;
        w->cur_done = 0;
    }
}

/* Assigns data offsets (see the file comment) and writes the padded header. */
static jang_status start(jang_st_writer *w) {
    uint64_t off = 0;
    for (size_t i = 0; i < w->n; i++)
        if (w->t[i].n_bytes % JANG_ST_ALIGN == 0) {
            w->t[i].offset = off;
            off += w->t[i].n_bytes;
        }
    for (size_t es = 8; es >= 1; es /= 2)
        for (size_t i = 0; i < w->n; i++)
            if (w->t[i].n_bytes % JANG_ST_ALIGN != 0 && jang_dtype_size(w->t[i].dtype) == es) {
                w->t[i].offset = off;
                off += w->t[i].n_bytes;
            }
    JANG_ASSERT(off == w->total);

    json_t *top = json_object();
    bool ok = top != NULL;
    if (ok && json_object_size(w->meta) > 0)
        ok = json_object_set(top, "__metadata__", w->meta) == 0;
    for (size_t i = 0; ok && i < w->n; i++) {
        json_t *offs = json_pack("[II]", (json_int_t)w->t[i].offset,
                                 (json_int_t)(w->t[i].offset + w->t[i].n_bytes));
        ok = offs && json_object_set_new(w->t[i].entry, "data_offsets", offs) == 0 &&
             json_object_set(top, w->t[i].name, w->t[i].entry) == 0;
    }
    char *js = ok ? json_dumps(top, JSON_PRESERVE_ORDER | JSON_COMPACT) : NULL;
    json_decref(top);
    if (!js) return wfail(w, JANG_E_NOMEM, "%s: out of memory building the header", w->path);

    /* Pad with spaces so that 8 + N is a multiple of the alignment (N is then a multiple of 8). */
    size_t len = strlen(js);
    size_t pad = (JANG_ST_ALIGN - (8 + len) % JANG_ST_ALIGN) % JANG_ST_ALIGN;
    size_t n = len + pad;
    if ((uint64_t)n > JANG_ST_MAX_HEADER) {
        free(js);
        return wfail(w, JANG_E_ARG,
                     "%s: header of %zu bytes exceeds the %llu-byte limit readers accept; "
                     "split the tensors over more shards",
                     w->path, n, (unsigned long long)JANG_ST_MAX_HEADER);
    }
    uint8_t *buf = jang_malloc(8 + n, w->path);
    if (!buf) {
        free(js);
        return wfail(w, JANG_E_NOMEM, "%s: out of memory building the header", w->path);
    }
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, js, len);
    memset(buf + 8 + len, ' ', pad);
    free(js);
    jang_status s = pwrite_all(w, buf, 8 + n, 0);
    free(buf);
    if (s != JANG_OK) return s;
    w->data_start = 8 + n;
    w->started = true;
    w->cur = 0;
    w->cur_done = 0;
    advance(w);
    return JANG_OK;
}

jang_status jang_st_writer_write(jang_st_writer *w, const void *data, size_t n_bytes) {
    jang_status s = check_usable(w, "jang_st_writer_write");
    if (s != JANG_OK) return s;
    if (!w->started && (s = start(w)) != JANG_OK) return s;
    if (n_bytes == 0) return JANG_OK;
    if (!data) return wfail(w, JANG_E_ARG, "%s: write of %zu bytes from NULL", w->path, n_bytes);
    if (w->cur >= w->n)
        return wfail(w, JANG_E_ARG, "%s: %zu bytes written after all declared tensor data", w->path,
                     n_bytes);
    wtensor *t = &w->t[w->cur];
    uint64_t left = t->n_bytes - w->cur_done;
    if ((uint64_t)n_bytes > left) {
        char nb[256];
        return wfail(w, JANG_E_ARG,
                     "%s: tensor '%s': write of %zu bytes exceeds the %llu still due of its %llu",
                     w->path, jang_printable(t->name, strlen(t->name), nb, sizeof nb), n_bytes,
                     (unsigned long long)left, (unsigned long long)t->n_bytes);
    }
    s = pwrite_all(w, data, n_bytes, w->data_start + t->offset + w->cur_done);
    if (s != JANG_OK) return s;
    w->cur_done += n_bytes;
    advance(w);
    return JANG_OK;
}

/* fsync of the directory holding path, so the rename is durable. */
static jang_status sync_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir =
        slash ? jang_strndup(path, (size_t)(slash - path) + (slash == path)) : jang_strdup(".");
    if (!dir) return JANG_E_NOMEM;
    jang_status s = JANG_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        s = jang_fail(JANG_E_IO, "%s: cannot open directory to sync: %s", dir, strerror(errno));
    } else {
        if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
            s = jang_fail(JANG_E_IO, "%s: cannot sync directory: %s", dir, strerror(errno));
        close(fd);
    }
    free(dir);
    return s;
}

jang_status jang_st_writer_finish(jang_st_writer *w) {
    jang_status s = check_usable(w, "jang_st_writer_finish");
    if (s != JANG_OK) {
        if (w) writer_free(w); /* the failed call already removed the temporary */
        return s;
    }
    if (!w->started) s = start(w);
    if (s == JANG_OK && w->cur < w->n) {
        char nb[256];
        const wtensor *t = &w->t[w->cur];
        s = wfail(w, JANG_E_ARG, "%s: tensor '%s': %llu of its %llu bytes written at finish",
                  w->path, jang_printable(t->name, strlen(t->name), nb, sizeof nb),
                  (unsigned long long)w->cur_done, (unsigned long long)t->n_bytes);
    }
    if (s == JANG_OK && fsync(w->fd) != 0)
        s = wfail(w, JANG_E_IO, "%s: fsync failed: %s", w->tmp, strerror(errno));
    if (s == JANG_OK) {
        int rc = close(w->fd);
        w->fd = -1;
        if (rc != 0) s = wfail(w, JANG_E_IO, "%s: close failed: %s", w->tmp, strerror(errno));
    }
    if (s == JANG_OK && rename(w->tmp, w->path) != 0)
        s = wfail(w, JANG_E_IO, "%s: cannot rename to %s: %s", w->tmp, w->path, strerror(errno));
    if (s == JANG_OK) s = sync_dir(w->path); /* the file is in place even if this fails */
    writer_free(w);
    return s;
}

void jang_st_writer_abort(jang_st_writer *w) {
    if (!w) return;
    discard(w);
    writer_free(w);
}
