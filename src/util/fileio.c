/* fileio.c — read-only file maps, small-file reads, checked allocation and path helpers. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

jang_status jang_map_open(const char *path, jang_map *m) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return jang_fail(JANG_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return jang_fail(JANG_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return jang_fail(JANG_E_IO, "%s: not a regular file", path);
    }
    m->path = jang_strdup(path);
    if (!m->path) {
        close(fd);
        return jang_fail(JANG_E_NOMEM, "%s: out of memory", path);
    }
    m->size = (size_t)st.st_size;
    if (m->size > 0) {
        void *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            free(m->path);
            memset(m, 0, sizeof *m);
            return jang_fail(JANG_E_IO, "%s: cannot map: %s", path, strerror(e));
        }
        m->data = p;
    }
    close(fd);
    return JANG_OK;
}

void jang_map_close(jang_map *m) {
    if (!m) return;
    if (m->data) munmap((void *)m->data, m->size);
    free(m->path);
    memset(m, 0, sizeof *m);
}

static _Thread_local void (*read_hook)(const char *path, void *ctx);
static _Thread_local void *read_hook_ctx;

void jang_debug_on_read(void (*fn)(const char *path, void *ctx), void *ctx) {
    read_hook = fn;
    read_hook_ctx = ctx;
}

jang_status jang_read_file(const char *path, size_t max_bytes, char **out, size_t *len) {
    *out = NULL;
    if (len) *len = 0;
    if (read_hook) read_hook(path, read_hook_ctx);
    FILE *f = fopen(path, "rb");
    if (!f) return jang_fail(JANG_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return jang_fail(JANG_E_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        fclose(f);
        return jang_fail(JANG_E_FORMAT, "%s: %lld bytes, more than the %zu allowed", path,
                         (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = jang_malloc(n + 1, path);
    if (!buf) {
        fclose(f);
        return JANG_E_NOMEM;
    }
    if (n && fread(buf, 1, n, f) != n) {
        free(buf);
        fclose(f);
        return jang_fail(JANG_E_IO, "%s: short read", path);
    }
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    return JANG_OK;
}

void *jang_malloc(size_t n, const char *what) {
    void *p = malloc(n ? n : 1);
    if (!p) jang_fail(JANG_E_NOMEM, "%s: out of memory allocating %zu bytes", what, n);
    return p;
}

void *jang_calloc(size_t n, size_t size, const char *what) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) jang_fail(JANG_E_NOMEM, "%s: out of memory allocating %zu x %zu bytes", what, n, size);
    return p;
}

char *jang_strdup(const char *s) { return jang_strndup(s, strlen(s)); }

char *jang_strndup(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) {
        jang_fail(JANG_E_NOMEM, "out of memory allocating a %zu-byte string", n + 1);
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *jang_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    while (a > 1 && dir[a - 1] == '/')
        a--;
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

bool jang_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool jang_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

const char *jang_printable(const char *s, size_t len, char *buf, size_t cap) {
    size_t o = 0;
    if (cap == 0) return buf;
    for (size_t i = 0; i < len && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            buf[o++] = (char)c;
        } else {
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        }
    }
    if (o + 5 >= cap && len > 0 && cap > 4) {
        /* mark truncation */
        buf[cap - 4] = '.', buf[cap - 3] = '.', buf[cap - 2] = '.', o = cap - 1;
    }
    buf[o] = '\0';
    return buf;
}
