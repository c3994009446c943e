/* test_safetensors.c — the safetensors reader (file, directory, sharded index) and writer.
 *
 * Round trips through the writer, the writer's layout against the reference Rust crate's rules
 * (tensors tile the data section, header padded with spaces) and our alignment promise, hostile
 * input: every truncation of a valid file, corrupted headers, hostile indexes. Run alone with
 * `make test T=st_`. With JANG_WRITE_SEEDS=DIR, st_fuzz_seeds also writes the fuzz seed corpus
 * (tests/fuzz/corpus/fuzz_safetensors) there.
 */
#include "../src/format/format.h"
#include "test.h"
#include "util.h"

#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------------------ */

static void pjoin(char *out, size_t cap, const char *a, const char *b) {
    snprintf(out, cap, "%s/%s", a, b);
}

static void subdir(char *out, size_t cap, const char *name) {
    pjoin(out, cap, test_tmpdir(), name);
    mkdir(out, 0755);
}

static bool write_bytes(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(d, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static bool write_text(const char *path, const char *s) { return write_bytes(path, s, strlen(s)); }

/* Builds 8-byte length + header (hlen bytes) + data_len bytes of pattern into a malloc'ed image. */
static uint8_t *raw_image(const char *hdr, size_t hlen, size_t data_len, size_t *size) {
    *size = 8 + hlen + data_len;
    uint8_t *b = malloc(*size);
    if (!b) return NULL;
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(b + 8, hdr, hlen);
    for (size_t i = 0; i < data_len; i++)
        b[8 + hlen + i] = (uint8_t)(i * 7 + 3);
    return b;
}

static bool make_raw_n(const char *path, const char *hdr, size_t hlen, size_t data_len) {
    size_t size;
    uint8_t *b = raw_image(hdr, hlen, data_len, &size);
    bool ok = b && write_bytes(path, b, size);
    free(b);
    return ok;
}

static bool make_raw(const char *path, const char *hdr, size_t data_len) {
    return make_raw_n(path, hdr, strlen(hdr), data_len);
}

/* Opening path must fail with status want (or, when want is JANG_OK, with FORMAT or IO), leave
 * *out NULL and give a detail containing each non-NULL substring. */
#define EXPECT_OPEN_FAIL(path, want, s1, s2)                                                       \
    expect_open_fail(__FILE__, __LINE__, path, want, s1, s2)
static void expect_open_fail(const char *file, int line, const char *path, jang_status want,
                             const char *s1, const char *s2) {
    jang_clear_error();
    jang_st *st = (jang_st *)1;
    jang_status s = jang_st_open(path, &st);
    const char *e = jang_last_error();
    if (s == JANG_OK) {
        test_fail_at(file, line, "%s: opened, expected an error", path);
        jang_st_close(st);
        return;
    }
    if (want != JANG_OK ? s != want : (s != JANG_E_FORMAT && s != JANG_E_IO))
        test_fail_at(file, line, "%s: status %s (%s)", path, jang_status_str(s), e);
    if (st != NULL) test_fail_at(file, line, "%s: *out not NULL on failure", path);
    if (!e[0]) test_fail_at(file, line, "%s: empty error detail", path);
    if (s1 && !strstr(e, s1)) test_fail_at(file, line, "error lacks \"%s\": %s", s1, e);
    if (s2 && !strstr(e, s2)) test_fail_at(file, line, "error lacks \"%s\": %s", s2, e);
}

/* Fills n bytes with a pattern depending on seed. */
static void fill(uint8_t *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed * 31u + i * 7u + 1u);
}

typedef struct spec {
    const char *name;
    jang_dtype dt;
    int32_t nd;
    int64_t shape[3];
} spec;

static size_t spec_bytes(const spec *s) {
    size_t n = jang_dtype_size(s->dt);
    for (int i = 0; i < s->nd; i++)
        n *= (size_t)s->shape[i];
    return n;
}

/* Writes the tensors of specs (data from fill(i)) with the writer, each in two chunks. */
static bool write_specs(const char *path, const spec *specs, size_t n, const char *meta_key,
                        const char *meta_val) {
    jang_st_writer *w;
    if (jang_st_writer_open(path, &w) != JANG_OK) return false;
    if (meta_key && jang_st_writer_set_metadata(w, meta_key, meta_val) != JANG_OK) return false;
    for (size_t i = 0; i < n; i++)
        if (jang_st_writer_declare(w, specs[i].name, specs[i].dt, specs[i].nd, specs[i].shape) !=
            JANG_OK)
            return false;
    for (size_t i = 0; i < n; i++) {
        size_t nb = spec_bytes(&specs[i]);
        uint8_t *buf = malloc(nb ? nb : 1);
        if (!buf) return false;
        fill(buf, nb, (unsigned)i);
        jang_status s = jang_st_writer_write(w, buf, nb / 3);
        if (s == JANG_OK) s = jang_st_writer_write(w, buf + nb / 3, nb - nb / 3);
        free(buf);
        if (s != JANG_OK) return false;
    }
    return jang_st_writer_finish(w) == JANG_OK;
}

/* Checks a file against the rules of the reference Rust crate (safetensors
 * Metadata::validate / read_metadata: header begins with '{', tensors sorted by offsets tile
 * [0, data size) with no hole and nothing after) and against the writer's alignment promise. */
#define CHECK_STRICT_LAYOUT(path) check_strict_layout(__FILE__, __LINE__, path)
typedef struct span {
    uint64_t b, e;
    size_t elem;
} span;
static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->b != y->b) return x->b < y->b ? -1 : 1;
    return x->e < y->e ? -1 : x->e > y->e;
}
static void check_strict_layout(const char *file, int line, const char *path) {
    char *buf;
    size_t size;
    if (jang_read_file(path, 1u << 30, &buf, &size) != JANG_OK || size < 8) {
        test_fail_at(file, line, "%s: cannot read", path);
        free(buf);
        return;
    }
    uint64_t n = jang_rd64((const uint8_t *)buf);
    if ((8 + n) % JANG_ST_ALIGN != 0 || n % 8 != 0)
        test_fail_at(file, line, "%s: data section at %llu, not 64-aligned", path,
                     (unsigned long long)(8 + n));
    if (n == 0 || buf[8] != '{') test_fail_at(file, line, "%s: header does not start with {", path);
    json_error_t err;
    json_t *root = json_loadb(buf + 8, n, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        test_fail_at(file, line, "%s: header JSON: %s", path, err.text);
        free(buf);
        return;
    }
    size_t nt = json_object_size(root), k = 0;
    span *sp = calloc(nt + 1, sizeof *sp);
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) continue;
        jang_dtype dt = JANG_DT_U8;
        jang_dtype_parse(json_string_value(json_object_get(v, "dtype")), &dt);
        json_t *o = json_object_get(v, "data_offsets");
        sp[k].b = (uint64_t)json_integer_value(json_array_get(o, 0));
        sp[k].e = (uint64_t)json_integer_value(json_array_get(o, 1));
        sp[k].elem = jang_dtype_size(dt);
        uint64_t at = 8 + n + sp[k].b, len = sp[k].e - sp[k].b;
        if (len % JANG_ST_ALIGN == 0 ? at % JANG_ST_ALIGN != 0 : at % sp[k].elem != 0)
            test_fail_at(file, line, "%s: tensor '%s' (%llu bytes) at file offset %llu", path, key,
                         (unsigned long long)len, (unsigned long long)at);
        k++;
    }
    qsort(sp, k, sizeof *sp, cmp_span);
    uint64_t at = 0;
    for (size_t i = 0; i < k; i++) {
        if (sp[i].b != at)
            test_fail_at(file, line, "%s: hole or overlap at %llu", path, (unsigned long long)at);
        at = sp[i].e;
    }
    if (8 + n + at != size)
        test_fail_at(file, line, "%s: tensors end at %llu, file at %zu", path,
                     (unsigned long long)(8 + n + at), size);
    free(sp);
    json_decref(root);
    free(buf);
}

static bool file_equals(const char *path, const char *text) {
    char *b;
    size_t n;
    if (jang_read_file(path, 1 << 20, &b, &n) != JANG_OK) return false;
    bool eq = n == strlen(text) && memcmp(b, text, n) == 0;
    free(b);
    return eq;
}

/* ---- writer -> reader ---------------------------------------------------------------------- */

static const spec rt_specs[] = {
    {"model.embed_tokens.weight", JANG_DT_F32, 2, {3, 5}}, /* 60 bytes: not a multiple of 64 */
    {"model.layers.0.w", JANG_DT_BF16, 2, {4, 16}},        /* 128 */
    {"scalar", JANG_DT_F64, 0, {0}},                       /* 0-d: one element */
    {"empty", JANG_DT_F16, 2, {0, 7}},                     /* zero-size */
    {"q.weight", JANG_DT_U32, 2, {2, 8}},                  /* 64 */
    {"odd.i8", JANG_DT_I8, 1, {13}},
    {"mask", JANG_DT_BOOL, 1, {3}},
    {"ids", JANG_DT_I64, 1, {5}},
    {"h", JANG_DT_F16, 1, {9}},
    {"unicode.\xc3\xbc", JANG_DT_U8, 1, {64}},
    {"i16", JANG_DT_I16, 3, {1, 3, 3}},
    {"u64", JANG_DT_U64, 1, {3}},
    {"u16", JANG_DT_U16, 1, {1}},
    {"i32", JANG_DT_I32, 1, {3}},
};
#define N_RT (sizeof rt_specs / sizeof rt_specs[0])

TEST(st_roundtrip) {
    char path[512], tmp[520];
    pjoin(path, sizeof path, test_tmpdir(), "rt.safetensors");
    REQUIRE(write_specs(path, rt_specs, N_RT, "format", "mlx"));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(!jang_file_exists(tmp));
    CHECK_STRICT_LAYOUT(path);

    jang_st *st;
    REQUIRE_OK(jang_st_open(path, &st));
    CHECK_EQ_INT(jang_st_count(st), N_RT);
    CHECK_EQ_INT(jang_st_n_files(st), 1);
    CHECK_STR(jang_st_metadata(st, "format"), "mlx");
    CHECK(jang_st_metadata(st, "absent") == NULL);
    CHECK(jang_st_find(st, "absent") == NULL);
    CHECK(jang_st_get(st, -1) == NULL && jang_st_get(st, (int64_t)N_RT) == NULL);
    for (size_t i = 0; i < N_RT; i++) {
        const spec *s = &rt_specs[i];
        const jang_tensor *t = jang_st_find(st, s->name);
        CHECK_MSG(t != NULL, "tensor %s missing", s->name);
        if (!t) continue;
        CHECK_STR(t->name, s->name);
        CHECK_STR(t->file, path);
        CHECK_EQ_INT(t->dtype, s->dt);
        CHECK_EQ_INT(t->n_dims, s->nd);
        int64_t n_el = 1;
        for (int d = 0; d < s->nd; d++) {
            CHECK_EQ_INT(t->shape[d], s->shape[d]);
            n_el *= s->shape[d];
        }
        CHECK_EQ_INT(t->n_elements, n_el);
        CHECK_EQ_INT(t->n_bytes, spec_bytes(s));
        uint8_t want[256];
        fill(want, t->n_bytes, (unsigned)i);
        CHECK_MSG(memcmp(t->data, want, t->n_bytes) == 0, "tensor %s data differs", s->name);
    }
    /* stable order: by data offset within the file */
    for (int64_t i = 1; i < jang_st_count(st); i++)
        CHECK((uintptr_t)jang_st_get(st, i)->data >= (uintptr_t)jang_st_get(st, i - 1)->data);
    /* header keys: __metadata__ first, then declaration order */
    char *buf;
    size_t size;
    REQUIRE_OK(jang_read_file(path, 1 << 20, &buf, &size));
    const char *prev = strstr(buf + 8, "\"__metadata__\"");
    CHECK(prev == buf + 9);
    for (size_t i = 0; i < N_RT && prev; i++) {
        char q[128];
        snprintf(q, sizeof q, "\"%s\":{\"dtype\"", rt_specs[i].name);
        const char *at = strstr(buf + 8, q);
        CHECK_MSG(at && at > prev, "key %s out of declaration order", rt_specs[i].name);
        prev = at;
    }
    free(buf);
    jang_st_close(st);
    jang_st_close(NULL);
}

TEST(st_writer_chunks) {
    /* one big tensor written in odd-sized chunks, around a zero-size one */
    char path[512];
    pjoin(path, sizeof path, test_tmpdir(), "chunks.safetensors");
    enum { N = 100003 };
    uint8_t *data = malloc(N);
    REQUIRE(data);
    fill(data, N, 5);
    jang_st_writer *w;
    REQUIRE_OK(jang_st_writer_open(path, &w));
    int64_t shp = N, zero = 0;
    REQUIRE_OK(jang_st_writer_declare(w, "z0", JANG_DT_F32, 1, &zero));
    REQUIRE_OK(jang_st_writer_declare(w, "big", JANG_DT_U8, 1, &shp));
    REQUIRE_OK(jang_st_writer_declare(w, "z1", JANG_DT_F32, 1, &zero));
    for (size_t off = 0; off < N; off += 7) {
        size_t n = N - off < 7 ? N - off : 7;
        REQUIRE_OK(jang_st_writer_write(w, data + off, n));
    }
    REQUIRE_OK(jang_st_writer_write(w, NULL, 0));
    REQUIRE_OK(jang_st_writer_finish(w));
    CHECK_STRICT_LAYOUT(path);
    jang_st *st;
    REQUIRE_OK(jang_st_open(path, &st));
    const jang_tensor *t = jang_st_find(st, "big");
    REQUIRE(t);
    CHECK(t->n_bytes == N && memcmp(t->data, data, N) == 0);
    CHECK(jang_st_find(st, "z0") && jang_st_find(st, "z0")->n_bytes == 0);
    CHECK(jang_st_find(st, "z1") && jang_st_find(st, "z1")->n_elements == 0);
    jang_st_close(st);
    free(data);
}

TEST(st_writer_empty) {
    char path[512];
    pjoin(path, sizeof path, test_tmpdir(), "empty.safetensors");
    jang_st_writer *w;
    REQUIRE_OK(jang_st_writer_open(path, &w));
    REQUIRE_OK(jang_st_writer_finish(w));
    CHECK_STRICT_LAYOUT(path);
    jang_st *st;
    REQUIRE_OK(jang_st_open(path, &st));
    CHECK_EQ_INT(jang_st_count(st), 0);
    CHECK(jang_st_metadata(st, "format") == NULL);
    jang_st_close(st);

    pjoin(path, sizeof path, test_tmpdir(), "meta_only.safetensors");
    REQUIRE_OK(jang_st_writer_open(path, &w));
    REQUIRE_OK(jang_st_writer_set_metadata(w, "format", "pt"));
    REQUIRE_OK(jang_st_writer_set_metadata(w, "k", "v1"));
    REQUIRE_OK(jang_st_writer_set_metadata(w, "k", "v2")); /* last value wins */
    REQUIRE_OK(jang_st_writer_finish(w));
    CHECK_STRICT_LAYOUT(path);
    REQUIRE_OK(jang_st_open(path, &st));
    CHECK_EQ_INT(jang_st_count(st), 0);
    CHECK_STR(jang_st_metadata(st, "format"), "pt");
    CHECK_STR(jang_st_metadata(st, "k"), "v2");
    jang_st_close(st);
}

/* A failed writer must leave no temporary and the final path as it was. */
#define CHECK_UNTOUCHED(path)                                                                      \
    do {                                                                                           \
        char t_[600];                                                                              \
        snprintf(t_, sizeof t_, "%s.tmp", path);                                                   \
        CHECK_MSG(!jang_file_exists(t_), "%s left behind", t_);                                    \
        CHECK_MSG(file_equals(path, "old contents"), "%s was modified", path);                     \
    } while (0)

TEST(st_writer_errors) {
    char path[512];
    pjoin(path, sizeof path, test_tmpdir(), "out.safetensors");
    REQUIRE(write_text(path, "old contents"));
    jang_st_writer *w;
    int64_t s4 = 4, s2 = 2;
    uint8_t bytes[16] = {0};

    /* declaring after writing began; later calls fail too; finish reports and frees */
    REQUIRE_OK(jang_st_writer_open(path, &w));
    REQUIRE_OK(jang_st_writer_declare(w, "a", JANG_DT_U8, 1, &s4));
    REQUIRE_OK(jang_st_writer_write(w, bytes, 2));
    CHECK_EQ_INT(jang_st_writer_declare(w, "b", JANG_DT_U8, 1, &s4), JANG_E_ARG);
    CHECK(strstr(jang_last_error(), "'b'") && strstr(jang_last_error(), "after"));
    CHECK_UNTOUCHED(path);
    CHECK(jang_st_writer_write(w, bytes, 2) != JANG_OK);
    CHECK(jang_st_writer_finish(w) != JANG_OK);
    CHECK_UNTOUCHED(path);

    /* too many bytes for the current tensor */
    REQUIRE_OK(jang_st_writer_open(path, &w));
    REQUIRE_OK(jang_st_writer_declare(w, "a", JANG_DT_U8, 1, &s4));
    REQUIRE_OK(jang_st_writer_declare(w, "b", JANG_DT_U8, 1, &s4));
    CHECK_EQ_INT(jang_st_writer_write(w, bytes, 5), JANG_E_ARG);
    CHECK(strstr(jang_last_error(), "'a'") != NULL);
    CHECK_UNTOUCHED(path);
    jang_st_writer_abort(w);

    /* finish with data missing names the first incomplete tensor */
    REQUIRE_OK(jang_st_writer_open(path, &w));
    REQUIRE_OK(jang_st_writer_declare(w, "a", JANG_DT_U8, 1, &s4));
    REQUIRE_OK(jang_st_writer_declare(w, "b", JANG_DT_U8, 1, &s4));
    REQUIRE_OK(jang_st_writer_write(w, bytes, 4));
    REQUIRE_OK(jang_st_writer_write(w, bytes, 1));
    CHECK_EQ_INT(jang_st_writer_finish(w), JANG_E_ARG);
    CHECK(strstr(jang_last_error(), "'b'") && strstr(jang_last_error(), "1 of its 4"));
    CHECK_UNTOUCHED(path);

    /* bytes after all declared data */
    REQUIRE_OK(jang_st_writer_open(path, &w));
    REQUIRE_OK(jang_st_writer_declare(w, "a", JANG_DT_U8, 1, &s2));
    REQUIRE_OK(jang_st_writer_write(w, bytes, 2));
    CHECK_EQ_INT(jang_st_writer_write(w, bytes, 1), JANG_E_ARG);
    CHECK_UNTOUCHED(path);
    jang_st_writer_abort(w);

    /* abort removes the temporary */
    REQUIRE_OK(jang_st_writer_open(path, &w));
    REQUIRE_OK(jang_st_writer_declare(w, "a", JANG_DT_U8, 1, &s4));
    REQUIRE_OK(jang_st_writer_write(w, bytes, 3));
    jang_st_writer_abort(w);
    CHECK_UNTOUCHED(path);
    jang_st_writer_abort(NULL);

    /* bad declarations */
    static const int64_t big[] = {4611686018427387904LL, 4}, neg[] = {3, -1},
                         ovf_bytes[] = {4611686018427387904LL, 1},
                         nine[] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    const struct {
        const char *name;
        jang_dtype dt;
        int32_t nd;
        const int64_t *shape;
        const char *msg;
    } bad[] = {
        {"t", (jang_dtype)99, 1, &s4, "dtype"},
        {"t", (jang_dtype)-1, 1, &s4, "dtype"},
        {"t", JANG_DT_F32, 2, big, "overflow"},
        {"t", JANG_DT_F32, 2, ovf_bytes, "overflow"},
        {"t", JANG_DT_F32, 2, neg, "negative"},
        {"t", JANG_DT_F32, 9, nine, "dims"},
        {"t", JANG_DT_F32, -1, nine, "dims"},
        {"t", JANG_DT_F32, 1, NULL, "dims"},
        {"", JANG_DT_F32, 1, &s4, "empty name"},
        {"__metadata__", JANG_DT_F32, 1, &s4, "reserved"},
        {"bad\xff", JANG_DT_F32, 1, &s4, "UTF-8"},
        {"dup", JANG_DT_F32, 1, &s4, "twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        REQUIRE_OK(jang_st_writer_open(path, &w));
        REQUIRE_OK(jang_st_writer_declare(w, "dup", JANG_DT_U8, 1, &s4));
        jang_status s = jang_st_writer_declare(w, bad[i].name, bad[i].dt, bad[i].nd, bad[i].shape);
        CHECK_MSG(s == JANG_E_ARG, "case %zu: %s", i, jang_status_str(s));
        CHECK_MSG(strstr(jang_last_error(), bad[i].msg), "case %zu: %s", i, jang_last_error());
        CHECK_UNTOUCHED(path);
        jang_st_writer_abort(w);
    }

    /* bad metadata */
    REQUIRE_OK(jang_st_writer_open(path, &w));
    CHECK_EQ_INT(jang_st_writer_set_metadata(w, "k", "\xff"), JANG_E_ARG);
    CHECK_UNTOUCHED(path);
    jang_st_writer_abort(w);

    /* unwritable destination */
    char nodir[600];
    pjoin(nodir, sizeof nodir, test_tmpdir(), "no/such/dir/x.safetensors");
    w = (jang_st_writer *)1;
    CHECK_EQ_INT(jang_st_writer_open(nodir, &w), JANG_E_IO);
    CHECK(w == NULL && strstr(jang_last_error(), "cannot create"));
    CHECK_EQ_INT(jang_st_writer_finish(NULL), JANG_E_ARG);
}

/* ---- directories and shards ---------------------------------------------------------------- */

/* Writes a shard holding one U8 [1] tensor per name, with __metadata__ {"format": fmt}. */
static bool make_shard(const char *dir, const char *file, const char *const *names, int n,
                       const char *fmt) {
    char path[600];
    pjoin(path, sizeof path, dir, file);
    jang_st_writer *w;
    if (jang_st_writer_open(path, &w) != JANG_OK) return false;
    if (fmt && jang_st_writer_set_metadata(w, "format", fmt) != JANG_OK) return false;
    int64_t one = 1;
    for (int i = 0; i < n; i++)
        if (jang_st_writer_declare(w, names[i], JANG_DT_U8, 1, &one) != JANG_OK) return false;
    for (int i = 0; i < n; i++) {
        uint8_t b = (uint8_t)(0x40 + (unsigned char)names[i][0]);
        if (jang_st_writer_write(w, &b, 1) != JANG_OK) return false;
    }
    return jang_st_writer_finish(w) == JANG_OK;
}

#define SH1 "model-00001-of-00002.safetensors"
#define SH2 "model-00002-of-00002.safetensors"

TEST(st_sharded) {
    char dir[512], idx[600];
    subdir(dir, sizeof dir, "sharded");
    static const char *const n1[] = {"a", "b"}, *const n2[] = {"c", "extra"},
                             *const decoy[] = {"decoy"};
    REQUIRE(make_shard(dir, SH1, n1, 2, "mlx"));
    REQUIRE(make_shard(dir, SH2, n2, 2, "other"));
    REQUIRE(make_shard(dir, "model.safetensors", decoy, 1, NULL)); /* the index wins */
    pjoin(idx, sizeof idx, dir, "model.safetensors.index.json");
    /* weight_map in name order, so shard 2 appears first: file order must still be by shard */
    REQUIRE(write_text(idx, "{\"metadata\": {\"total_size\": 4},\n \"weight_map\": {\n"
                            "  \"a\": \"" SH1 "\",\n  \"b\": \"" SH1 "\",\n"
                            "  \"c\": \"" SH2 "\"}}\n"));
    /* HF writes the map sorted by tensor name; put shard 2 first in a second index */
    char idx2[600];
    pjoin(idx2, sizeof idx2, dir, "reordered.index.json");
    REQUIRE(write_text(idx2, "{\"weight_map\": {\"c\": \"" SH2 "\", \"b\": \"" SH1
                             "\", \"a\": \"" SH1 "\"}}"));

    const char *opens[] = {dir, idx, idx2};
    for (int k = 0; k < 3; k++) {
        jang_st *st;
        REQUIRE_OK(jang_st_open(opens[k], &st));
        CHECK_EQ_INT(jang_st_n_files(st), 2);
        CHECK_EQ_INT(jang_st_count(st), 4); /* "extra" is kept though not in the weight_map */
        CHECK(jang_st_find(st, "decoy") == NULL);
        CHECK_STR(jang_st_metadata(st, "format"), "mlx"); /* first file's metadata */
        const char *names[] = {"a", "b", "c", "extra"};
        for (int i = 0; i < 4; i++) {
            const jang_tensor *t = jang_st_find(st, names[i]);
            CHECK_MSG(t != NULL, "missing %s", names[i]);
            if (!t) continue;
            CHECK(t->n_bytes == 1 && *(const uint8_t *)t->data == 0x40 + names[i][0]);
            const char *sh = i < 2 ? SH1 : SH2;
            CHECK_MSG(strlen(t->file) > strlen(sh) &&
                          strcmp(t->file + strlen(t->file) - strlen(sh), sh) == 0,
                      "%s in %s", names[i], t->file);
            CHECK(jang_st_get(st, i) != NULL && strcmp(jang_st_get(st, i)->name, names[i]) == 0);
        }
        jang_st_close(st);
    }
}

TEST(st_sharded_errors) {
    static const char *const a[] = {"a"}, *const b[] = {"b"};
    char dir[512], idx[600];
    const char *I = "model.safetensors.index.json";

    /* a shard file that does not exist */
    subdir(dir, sizeof dir, "missing_shard");
    REQUIRE(make_shard(dir, SH1, a, 1, NULL));
    pjoin(idx, sizeof idx, dir, I);
    REQUIRE(write_text(idx, "{\"weight_map\":{\"a\":\"" SH1 "\",\"b\":\"" SH2 "\"}}"));
    EXPECT_OPEN_FAIL(dir, JANG_E_IO, I, "'b'");
    EXPECT_OPEN_FAIL(idx, JANG_E_IO, SH2, "cannot open");

    /* a tensor listed but absent from its shard */
    subdir(dir, sizeof dir, "missing_tensor");
    REQUIRE(make_shard(dir, SH1, a, 1, NULL));
    pjoin(idx, sizeof idx, dir, I);
    REQUIRE(write_text(idx, "{\"weight_map\":{\"a\":\"" SH1 "\",\"ghost\":\"" SH1 "\"}}"));
    EXPECT_OPEN_FAIL(dir, JANG_E_FORMAT, I, "'ghost'");

    /* a tensor listed in the wrong shard */
    subdir(dir, sizeof dir, "wrong_shard");
    REQUIRE(make_shard(dir, SH1, a, 1, NULL));
    REQUIRE(make_shard(dir, SH2, b, 1, NULL));
    pjoin(idx, sizeof idx, dir, I);
    REQUIRE(write_text(idx, "{\"weight_map\":{\"a\":\"" SH2 "\",\"b\":\"" SH1 "\"}}"));
    EXPECT_OPEN_FAIL(dir, JANG_E_FORMAT, I, "but is in");
    /* and when the true shard is not listed at all, the listed one lacks the tensor */
    REQUIRE(write_text(idx, "{\"weight_map\":{\"a\":\"" SH2 "\",\"b\":\"" SH2 "\"}}"));
    EXPECT_OPEN_FAIL(dir, JANG_E_FORMAT, "'a'", "lacks it");

    /* hostile shard names */
    subdir(dir, sizeof dir, "hostile");
    char evil[600];
    pjoin(evil, sizeof evil, test_tmpdir(), "evil.safetensors");
    REQUIRE(make_shard(test_tmpdir(), "evil.safetensors", a, 1, NULL));
    pjoin(idx, sizeof idx, dir, I);
    static const char *const hostile[] = {
        "{\"weight_map\":{\"a\":\"../evil.safetensors\"}}",
        "{\"weight_map\":{\"a\":\"/etc/passwd\"}}",
        "{\"weight_map\":{\"a\":\"..\"}}",
        "{\"weight_map\":{\"a\":\"\"}}",
        "{\"weight_map\":{\"a\":\"sub\\\\x.safetensors\"}}",
        "{\"weight_map\":{\"a\":\"x\\u001b[31m.safetensors\"}}",
    };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        REQUIRE(write_text(idx, hostile[i]));
        EXPECT_OPEN_FAIL(dir, JANG_E_FORMAT, "not a plain file name", "'a'");
    }

    /* the same tensor in two shards */
    subdir(dir, sizeof dir, "dup");
    REQUIRE(make_shard(dir, SH1, a, 1, NULL));
    REQUIRE(make_shard(dir, SH2, a, 1, NULL));
    pjoin(idx, sizeof idx, dir, I);
    REQUIRE(write_text(idx, "{\"weight_map\":{\"a\":\"" SH1 "\",\"x\":\"" SH2 "\"}}"));
    EXPECT_OPEN_FAIL(dir, JANG_E_FORMAT, I, "tensor 'a' appears in both");

    /* malformed indexes */
    subdir(dir, sizeof dir, "badindex");
    REQUIRE(make_shard(dir, SH1, a, 1, NULL));
    pjoin(idx, sizeof idx, dir, I);
    static const char *const badidx[] = {
        "{\"weight_map\":",
        "[]",
        "{}",
        "{\"weight_map\":{}}",
        "{\"weight_map\":[\"a\"]}",
        "{\"weight_map\":{\"a\":1}}",
        "{\"weight_map\":{\"a\":\"" SH1 "\",\"a\":\"" SH1 "\"}}",
    };
    for (size_t i = 0; i < sizeof badidx / sizeof badidx[0]; i++) {
        REQUIRE(write_text(idx, badidx[i]));
        EXPECT_OPEN_FAIL(dir, JANG_E_FORMAT, I, NULL);
    }

    /* a corrupt shard: the error names the shard */
    subdir(dir, sizeof dir, "corrupt_shard");
    char sp[600];
    pjoin(sp, sizeof sp, dir, SH1);
    REQUIRE(make_raw(sp, "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 1));
    pjoin(idx, sizeof idx, dir, I);
    REQUIRE(write_text(idx, "{\"weight_map\":{\"a\":\"" SH1 "\"}}"));
    EXPECT_OPEN_FAIL(dir, JANG_E_FORMAT, I, SH1 ": tensor 'a'");
}

TEST(st_dir_resolution) {
    static const char *const a[] = {"a"}, *const b[] = {"b"};
    char dir[512];
    jang_st *st;

    subdir(dir, sizeof dir, "single");
    REQUIRE(make_shard(dir, "model.safetensors", a, 1, NULL));
    REQUIRE(make_shard(dir, "zz.safetensors", b, 1, NULL)); /* model.safetensors wins */
    REQUIRE_OK(jang_st_open(dir, &st));
    CHECK(jang_st_find(st, "a") && !jang_st_find(st, "b"));
    jang_st_close(st);

    subdir(dir, sizeof dir, "only_one");
    REQUIRE(make_shard(dir, "weights.safetensors", b, 1, NULL));
    char junk[600];
    pjoin(junk, sizeof junk, dir, "config.json");
    REQUIRE(write_text(junk, "{}"));
    REQUIRE_OK(jang_st_open(dir, &st));
    CHECK(jang_st_find(st, "b") != NULL);
    jang_st_close(st);

    subdir(dir, sizeof dir, "none");
    EXPECT_OPEN_FAIL(dir, JANG_E_NOTFOUND, "no model.safetensors.index.json", NULL);

    subdir(dir, sizeof dir, "two");
    REQUIRE(make_shard(dir, "x.safetensors", a, 1, NULL));
    REQUIRE(make_shard(dir, "y.safetensors", b, 1, NULL));
    EXPECT_OPEN_FAIL(dir, JANG_E_NOTFOUND, "2 .safetensors files", NULL);

    char nope[600];
    pjoin(nope, sizeof nope, test_tmpdir(), "nope.safetensors");
    EXPECT_OPEN_FAIL(nope, JANG_E_IO, "nope.safetensors", "cannot open");
    EXPECT_OPEN_FAIL(test_tmpdir(), JANG_E_NOTFOUND, NULL, NULL);
    CHECK_EQ_INT(jang_st_open("", &st), JANG_E_ARG);
    CHECK_EQ_INT(jang_st_open(NULL, &st), JANG_E_ARG);
    CHECK_EQ_INT(jang_st_open(dir, NULL), JANG_E_ARG);
}

/* ---- hostile single files ------------------------------------------------------------------ */

static const spec small_specs[] = {
    {"w", JANG_DT_F16, 2, {2, 3}},
    {"b", JANG_DT_F32, 1, {2}},
    {"z", JANG_DT_U8, 1, {0}},
};

TEST(st_every_truncation_fails) {
    char path[512], cut[512];
    pjoin(path, sizeof path, test_tmpdir(), "small.safetensors");
    pjoin(cut, sizeof cut, test_tmpdir(), "cut.safetensors");
    REQUIRE(write_specs(path, small_specs, 3, "format", "pt"));
    char *buf;
    size_t size;
    REQUIRE_OK(jang_read_file(path, 1 << 20, &buf, &size));
    jang_st *st;
    REQUIRE_OK(jang_st_open(path, &st)); /* the control */
    jang_st_close(st);
    int bad = 0;
    for (size_t len = 0; len < size; len++) {
        REQUIRE(write_bytes(cut, buf, len));
        jang_clear_error();
        st = (jang_st *)1;
        jang_status s = jang_st_open(cut, &st);
        bool ok = (s == JANG_E_FORMAT || s == JANG_E_IO) && st == NULL && jang_last_error()[0] &&
                  strstr(jang_last_error(), "cut.safetensors");
        if (!ok && bad++ < 5)
            CHECK_MSG(ok, "prefix of %zu bytes: %s: %s", len, jang_status_str(s),
                      jang_last_error());
        if (s == JANG_OK) jang_st_close(st);
        /* and the in-memory parser */
        s = jang_st_open_memory(buf, len, "mem", &st);
        if (s == JANG_OK || !strstr(jang_last_error(), "mem")) {
            if (bad++ < 5) CHECK_MSG(false, "memory prefix of %zu bytes accepted", len);
            if (s == JANG_OK) jang_st_close(st);
        }
    }
    CHECK_EQ_INT(bad, 0);
    REQUIRE_OK(jang_st_open_memory(buf, size, "mem", &st));
    CHECK_EQ_INT(jang_st_count(st), 3);
    CHECK_STR(jang_st_find(st, "w")->file, "mem");
    jang_st_close(st);
    free(buf);
}

#define T_OK "\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]"

TEST(st_corrupt_headers) {
    static const struct {
        const char *hdr;
        size_t data;
        jang_status want;
        const char *msg;
    } cases[] = {
        /* shapes */
        {"{\"t\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,16]}}",
         16, JANG_E_FORMAT, "overflow"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[9223372036854775807,2],\"data_offsets\":[0,16]}}", 16,
         JANG_E_FORMAT, "overflow"},
        {"{\"t\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,16]}}", 16,
         JANG_E_FORMAT, "overflow"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[0,9223372036854775807,2],\"data_offsets\":[0,0]}}",
         16, JANG_E_FORMAT, "overflow"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, JANG_E_FORMAT,
         "shape[0]"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[2,\"a\"],\"data_offsets\":[0,4]}}", 4, JANG_E_FORMAT,
         "shape[1]"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, JANG_E_FORMAT,
         "shape[0]"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[4.0],\"data_offsets\":[0,4]}}", 4, JANG_E_FORMAT,
         "shape[0]"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[null],\"data_offsets\":[0,4]}}", 4, JANG_E_FORMAT,
         "shape[0]"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":4,\"data_offsets\":[0,4]}}", 4, JANG_E_FORMAT,
         "not an array"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 4,
         JANG_E_FORMAT, "9 dims"},
        /* offsets */
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[6],\"data_offsets\":[10,4]}}", 16, JANG_E_FORMAT,
         "data_offsets [10,4] out of order"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[1000],\"data_offsets\":[0,1000]}}", 16, JANG_E_FORMAT,
         "beyond the 16-byte data section"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[9223372036854775806,"
         "9223372036854775807]}}",
         16, JANG_E_FORMAT, "beyond"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,18446744073709551615]}}", 16,
         JANG_E_FORMAT, "JSON"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[-4,0]}}", 16, JANG_E_FORMAT,
         "data_offsets"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0]}}", 16, JANG_E_FORMAT,
         "data_offsets"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4,8]}}", 16, JANG_E_FORMAT,
         "data_offsets"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":\"0-4\"}}", 16, JANG_E_FORMAT,
         "data_offsets"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
         "\"t\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[4,12]}}",
         16, JANG_E_FORMAT, "overlap"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},"
         "\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
         16, JANG_E_FORMAT, "overlap"},
        {"{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 16, JANG_E_FORMAT,
         "needs 8 bytes"},
        {"{\"t\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,0]}}", 16, JANG_E_FORMAT,
         "needs 4 bytes"},
        /* dtypes */
        {"{\"t\":{\"dtype\":\"F17\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4, JANG_E_FORMAT,
         "unknown dtype 'F17'"},
        {"{\"t\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, JANG_E_FORMAT,
         "unknown dtype"},
        {"{\"t\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
         JANG_E_UNSUPPORTED, "F8_E4M3"},
        {"{\"t\":{\"dtype\":5,\"shape\":[4],\"data_offsets\":[0,4]}}", 4, JANG_E_FORMAT,
         "dtype is not a string"},
        /* entries */
        {"{\"t\":{\"shape\":[4],\"data_offsets\":[0,4]}}", 4, JANG_E_FORMAT, "missing \"dtype\""},
        {"{\"t\":{\"dtype\":\"U8\",\"data_offsets\":[0,4]}}", 4, JANG_E_FORMAT, "missing"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[4]}}", 4, JANG_E_FORMAT, "missing"},
        {"{\"t\":3}", 4, JANG_E_FORMAT, "not a JSON object"},
        {"{\"\":{" T_OK "}}", 4, JANG_E_FORMAT, "empty name"},
        {"{\"t\":{" T_OK "},\"t\":{" T_OK "}}", 4, JANG_E_FORMAT, "duplicate"},
        {"{\"t\":{" T_OK ",\"dtype\":\"U8\"}}", 4, JANG_E_FORMAT, "duplicate"},
        /* metadata */
        {"{\"__metadata__\":{\"a\":1},\"t\":{" T_OK "}}", 4, JANG_E_FORMAT, "__metadata__"},
        {"{\"__metadata__\":{\"a\":null}}", 4, JANG_E_FORMAT, "__metadata__"},
        {"{\"__metadata__\":\"x\"}", 4, JANG_E_FORMAT, "__metadata__"},
        {"{\"__metadata__\":[]}", 4, JANG_E_FORMAT, "__metadata__"},
        /* JSON itself */
        {"{", 4, JANG_E_FORMAT, "not valid JSON"},
        {"", 4, JANG_E_FORMAT, "not valid JSON"},
        {"[]", 4, JANG_E_FORMAT, "not a JSON object"},
        {"3", 4, JANG_E_FORMAT, "JSON"},
        {"{}x", 4, JANG_E_FORMAT, "not valid JSON"},
        {"{\"t\xff\":{" T_OK "}}", 4, JANG_E_FORMAT, "not valid JSON"},
        {"{\"t\":{" T_OK "},\"__metadata__\":{\"k\":\"\xc3\"}}", 4, JANG_E_FORMAT, "JSON"},
        {"{\"t\\u0000x\":{" T_OK "}}", 4, JANG_E_FORMAT, "JSON"},
        {"{\"t\":{" T_OK "}}\x01", 4, JANG_E_FORMAT, "JSON"},
    };
    char path[512];
    pjoin(path, sizeof path, test_tmpdir(), "corrupt.safetensors");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        REQUIRE(make_raw(path, cases[i].hdr, cases[i].data));
        jang_clear_error();
        jang_st *st = (jang_st *)1;
        jang_status s = jang_st_open(path, &st);
        const char *e = jang_last_error();
        CHECK_MSG(s == cases[i].want, "case %zu %s: got %s: %s", i, cases[i].hdr,
                  jang_status_str(s), e);
        CHECK_MSG(st == NULL, "case %zu: out not NULL", i);
        CHECK_MSG(strstr(e, "corrupt.safetensors") && strstr(e, cases[i].msg),
                  "case %zu %s: detail \"%s\" lacks \"%s\"", i, cases[i].hdr, e, cases[i].msg);
        /* errors about tensor t name it */
        if (s != JANG_OK && strstr(cases[i].hdr, "\"t\":{\"") && !strstr(cases[i].msg, "JSON") &&
            !strstr(cases[i].msg, "duplicate") && !strstr(cases[i].msg, "__metadata__"))
            CHECK_MSG(strstr(e, "'t'") != NULL, "case %zu: detail lacks the tensor: %s", i, e);
        if (s == JANG_OK) jang_st_close(st);
    }

    /* a header with NUL padding instead of spaces, and deep nesting */
    static const char nul_pad[] = "{\"t\":{" T_OK "}}\0\0\0";
    REQUIRE(make_raw_n(path, nul_pad, sizeof nul_pad - 1, 4));
    EXPECT_OPEN_FAIL(path, JANG_E_FORMAT, "not valid JSON", NULL);
    enum { DEPTH = 5000 };
    char *deep = malloc(2 * DEPTH + 64);
    REQUIRE(deep);
    size_t k = (size_t)sprintf(deep, "{\"t\":{" T_OK ",\"x\":");
    for (int i = 0; i < DEPTH; i++)
        deep[k++] = '[';
    for (int i = 0; i < DEPTH; i++)
        deep[k++] = ']';
    strcpy(deep + k, "}}");
    REQUIRE(make_raw(path, deep, 4));
    free(deep);
    EXPECT_OPEN_FAIL(path, JANG_E_FORMAT, "not valid JSON", NULL);
}

/* Writes a raw file whose first 8 bytes claim header length n; the rest is a tiny header. */
static bool make_len(const char *path, uint64_t n) {
    uint8_t b[8 + 2] = {0};
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(n >> (8 * i));
    b[8] = '{';
    b[9] = '}';
    return write_bytes(path, b, sizeof b);
}

TEST(st_header_length) {
    char path[512];
    pjoin(path, sizeof path, test_tmpdir(), "len.safetensors");
    REQUIRE(make_len(path, 3));
    EXPECT_OPEN_FAIL(path, JANG_E_FORMAT, "exceeds the file", NULL);
    REQUIRE(make_len(path, 100 * 1000 * 1000));
    EXPECT_OPEN_FAIL(path, JANG_E_FORMAT, "exceeds the file", NULL);
    REQUIRE(make_len(path, 100 * 1000 * 1000 + 1));
    EXPECT_OPEN_FAIL(path, JANG_E_FORMAT, "100000000-byte limit", NULL);
    REQUIRE(make_len(path, 1ull << 63));
    EXPECT_OPEN_FAIL(path, JANG_E_FORMAT, "limit", NULL);
    REQUIRE(make_len(path, UINT64_MAX));
    EXPECT_OPEN_FAIL(path, JANG_E_FORMAT, "limit", NULL);
    REQUIRE(make_len(path, 2)); /* the exact length: a valid empty file */
    jang_st *st;
    REQUIRE_OK(jang_st_open(path, &st));
    CHECK_EQ_INT(jang_st_count(st), 0);
    jang_st_close(st);
    REQUIRE(write_bytes(path, "\x02\0\0\0\0\0\0", 7));
    EXPECT_OPEN_FAIL(path, JANG_E_FORMAT, "too short", NULL);
    REQUIRE(write_bytes(path, "", 0));
    EXPECT_OPEN_FAIL(path, JANG_E_FORMAT, "too short", NULL);
}

/* Files the strict reference crate rejects but that are safe to read: we accept them. */
TEST(st_lenient_layouts) {
    char path[512];
    pjoin(path, sizeof path, test_tmpdir(), "lenient.safetensors");
    jang_st *st;
    /* holes between tensors, a gap before the first, bytes after the last */
    REQUIRE(make_raw(path,
                     "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]},"
                     "\"b\":{\"dtype\":\"U8\",\"shape\":[2,2],\"data_offsets\":[10,14]}}",
                     32));
    REQUIRE_OK(jang_st_open(path, &st));
    const jang_tensor *a = jang_st_find(st, "a"), *b = jang_st_find(st, "b");
    REQUIRE(a && b);
    CHECK_EQ_INT(((const uint8_t *)a->data)[0], (uint8_t)(2 * 7 + 3));
    CHECK_EQ_INT(((const uint8_t *)b->data)[3], (uint8_t)(13 * 7 + 3));
    jang_st_close(st);

    /* unknown keys inside an entry are ignored (as serde does in the reference crate); leading
     * whitespace; an F32 at an odd address; an empty tensor inside another's bytes */
    REQUIRE(make_raw(path,
                     " {\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1,5],\"x\":[1]},"
                     "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[3,3]},"
                     "\"s\":{\"dtype\":\"I16\",\"shape\":[],\"data_offsets\":[5,7]}} ",
                     7));
    REQUIRE_OK(jang_st_open(path, &st));
    CHECK_EQ_INT(jang_st_count(st), 3);
    a = jang_st_find(st, "a");
    REQUIRE(a);
    float f;
    memcpy(&f, a->data, 4); /* data need not be aligned: copy out */
    uint8_t want[4] = {1 * 7 + 3, 2 * 7 + 3, 3 * 7 + 3, 4 * 7 + 3};
    CHECK(memcmp(&f, want, 4) == 0);
    CHECK(jang_st_find(st, "e")->n_elements == 0 && jang_st_find(st, "s")->n_elements == 1);
    CHECK_STR(jang_st_get(st, 0)->name, "a"); /* sorted by offset: a [1,5], e [3,3], s [5,7] */
    CHECK_STR(jang_st_get(st, 1)->name, "e");
    CHECK_STR(jang_st_get(st, 2)->name, "s");
    jang_st_close(st);
}

TEST(st_find_many) {
    char path[512];
    pjoin(path, sizeof path, test_tmpdir(), "many.safetensors");
    enum { N = 3000 };
    jang_st_writer *w;
    REQUIRE_OK(jang_st_writer_open(path, &w));
    int64_t one = 1;
    char name[64];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "model.layers.%d.mlp.up_proj.weight", i);
        REQUIRE_OK(jang_st_writer_declare(w, name, JANG_DT_U16, 1, &one));
    }
    for (int i = 0; i < N; i++) {
        uint16_t v = (uint16_t)i;
        REQUIRE_OK(jang_st_writer_write(w, &v, 2));
    }
    REQUIRE_OK(jang_st_writer_finish(w));
    jang_st *st;
    REQUIRE_OK(jang_st_open(path, &st));
    CHECK_EQ_INT(jang_st_count(st), N);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "model.layers.%d.mlp.up_proj.weight", i);
        const jang_tensor *t = jang_st_find(st, name);
        uint16_t v = 0;
        if (t) memcpy(&v, t->data, 2);
        if (!t || strcmp(t->name, name) != 0 || v != (uint16_t)i) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(jang_st_find(st, "model.layers.3000.mlp.up_proj.weight") == NULL);
    CHECK(jang_st_find(st, "") == NULL && jang_st_find(st, NULL) == NULL);
    CHECK(jang_st_find(NULL, "x") == NULL && jang_st_count(NULL) == 0);
    CHECK(jang_st_n_files(NULL) == 0 && jang_st_metadata(NULL, "k") == NULL);
    jang_st_close(st);
}

/* The fuzz seed corpus: built (and checked) here; written out when JANG_WRITE_SEEDS is set. */
TEST(st_fuzz_seeds) {
    char dir[512], p[600];
    subdir(dir, sizeof dir, "seeds");
    static const spec bf16[] = {{"model.norm.weight", JANG_DT_BF16, 2, {2, 2}}};
    static const char *const names[] = {"valid.safetensors", "bf16.safetensors",
                                        "truncated.safetensors", "lenient.safetensors",
                                        "overlap.safetensors"};
    static const bool valid[] = {true, true, false, true, false};
    pjoin(p, sizeof p, dir, names[0]);
    REQUIRE(write_specs(p, small_specs, 3, "format", "mlx"));
    pjoin(p, sizeof p, dir, names[1]);
    REQUIRE(write_specs(p, bf16, 1, NULL, NULL));
    char *buf;
    size_t size;
    pjoin(p, sizeof p, dir, names[0]);
    REQUIRE_OK(jang_read_file(p, 1 << 20, &buf, &size));
    pjoin(p, sizeof p, dir, names[2]);
    REQUIRE(write_bytes(p, buf, size - 5));
    free(buf);
    pjoin(p, sizeof p, dir, names[3]);
    REQUIRE(make_raw(p,
                     "{\"__metadata__\":{\"format\":\"pt\"},"
                     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1,5]},"
                     "\"e\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[9,9]},"
                     "\"s\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[9,11]}}",
                     12));
    pjoin(p, sizeof p, dir, names[4]);
    REQUIRE(make_raw(p,
                     "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
                     "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[4,12]}}",
                     12));
    const char *out = getenv("JANG_WRITE_SEEDS");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        pjoin(p, sizeof p, dir, names[i]);
        jang_st *st;
        jang_status s = jang_st_open(p, &st);
        CHECK_MSG((s == JANG_OK) == valid[i], "seed %s: %s", names[i], jang_last_error());
        jang_st_close(s == JANG_OK ? st : NULL);
        if (out) {
            char q[600];
            pjoin(q, sizeof q, out, names[i]);
            REQUIRE_OK(jang_read_file(p, 1 << 20, &buf, &size));
            CHECK_MSG(write_bytes(q, buf, size), "cannot write %s", q);
            free(buf);
        }
    }
}
