/* test_gguf.c — the GGUF reader and dequantizer (src/format/gguf.c, gguf_dequant.c).
 *
 * Goldens in tests/data/gguf come from gguf-py (tools/gen_gguf_goldens.py): every metadata type,
 * v2 and v3, and one tensor per ggml type with gguf-py's dequantized output, compared bit for bit.
 * Corrupt files are built here byte by byte: each kind of damage must give its own clear error
 * naming the file, and every truncation of a valid file must fail cleanly.
 */
#include "test.h"
#include "util.h"

#include "../src/format/gguf_internal.h"

#include <stdlib.h>

/* ---- a tiny GGUF writer for corrupt inputs --------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} gb;

static void gb_put(gb *b, const void *x, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        JANG_ASSERT(b->p);
    }
    if (n) memcpy(b->p + b->n, x, n);
    b->n += n;
}
static void gb_u8(gb *b, uint8_t v) { gb_put(b, &v, 1); }
static void gb_u32(gb *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    gb_put(b, x, 4);
}
static void gb_u64(gb *b, uint64_t v) {
    gb_u32(b, (uint32_t)v);
    gb_u32(b, (uint32_t)(v >> 32));
}
static void gb_strn(gb *b, const char *s, size_t n) {
    gb_u64(b, n);
    gb_put(b, s, n);
}
static void gb_str(gb *b, const char *s) { gb_strn(b, s, strlen(s)); }
static void gb_pad(gb *b, size_t a) {
    while (b->n % a)
        gb_u8(b, 0);
}
static void gb_zeros(gb *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        gb_u8(b, 0);
}
static void gb_hdr(gb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    gb_put(b, "GGUF", 4);
    gb_u32(b, version);
    gb_u64(b, n_tensors);
    gb_u64(b, n_kv);
}
/* key and value type; the caller appends the value */
static void gb_key(gb *b, const char *key, uint32_t type) {
    gb_str(b, key);
    gb_u32(b, type);
}
static void gb_tinfo(gb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                     uint64_t offset) {
    gb_str(b, name);
    gb_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++)
        gb_u64(b, ne[i]);
    gb_u32(b, type);
    gb_u64(b, offset);
}

/* A v3 file with general.architecture, one tensor "w" and data_bytes of data. */
static gb one_tensor(uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset,
                     size_t data_bytes) {
    gb b = {0};
    gb_hdr(&b, 3, 1, 1);
    gb_key(&b, "general.architecture", JANG_GGUF_STRING);
    gb_str(&b, "llama");
    gb_tinfo(&b, "w", n_dims, ne, type, offset);
    gb_pad(&b, 32);
    gb_zeros(&b, data_bytes);
    return b;
}

/* Opens an exact-size heap copy (so ASan sees any over-read). *copy must be freed after close. */
static jang_status open_copy(const uint8_t *p, size_t n, jang_gguf **g, void **copy) {
    *copy = malloc(n ? n : 1);
    JANG_ASSERT(*copy);
    if (n) memcpy(*copy, p, n);
    return jang_gguf_open_memory(n ? *copy : NULL, n, "x.gguf", g);
}

static void expect_err_at(const char *file, int line, gb *b, jang_status want, const char *sub) {
    jang_gguf *g = NULL;
    void *copy;
    jang_clear_error();
    jang_status s = open_copy(b->p, b->n, &g, &copy);
    const char *e = jang_last_error();
    if (s != want)
        test_fail_at(file, line, "status %s, want %s (%s)", jang_status_str(s),
                     jang_status_str(want), e);
    else if (g)
        test_fail_at(file, line, "failed open returned a handle");
    else if (strncmp(e, "x.gguf: ", 8) != 0 || !strstr(e, sub))
        test_fail_at(file, line, "error \"%s\" lacks \"x.gguf: \" or \"%s\"", e, sub);
    jang_gguf_close(g);
    free(copy);
    free(b->p);
    b->p = NULL;
}
#define EXPECT_ERR(b, want, sub) expect_err_at(__FILE__, __LINE__, &(b), want, sub)

static jang_gguf *open_ok_at(const char *file, int line, gb *b, void **copy) {
    jang_gguf *g = NULL;
    jang_status s = open_copy(b->p, b->n, &g, copy);
    if (s) test_fail_at(file, line, "open: %s: %s", jang_status_str(s), jang_last_error());
    return g;
}
#define OPEN_OK(b, copy) open_ok_at(__FILE__, __LINE__, &(b), copy)

/* ---- metadata golden ------------------------------------------------------------------------- */

static const jang_gguf_value *find_type(const jang_gguf *g, const char *key, jang_gguf_vtype t) {
    const jang_gguf_value *v = jang_gguf_find(g, key);
    CHECK_MSG(v && v->type == t, "%s: missing or type %d, want %d", key, v ? (int)v->type : -1,
              (int)t);
    return v && v->type == t ? v : NULL;
}

static bool str_is(const jang_gguf_value *v, const char *s) {
    return v && v->type == JANG_GGUF_STRING && v->v.str.len == strlen(s) &&
           memcmp(v->v.str.ptr, s, strlen(s)) == 0;
}

/* an array value of element type et and n elements, or NULL (after a failure) */
static const jang_gguf_value *arr_of(const jang_gguf_value *v, jang_gguf_vtype et, uint64_t n) {
    if (!v || v->type != JANG_GGUF_ARRAY || v->v.arr.type != et || v->v.arr.n != n) {
        CHECK_MSG(0, "array: type %d elem %d n %llu, want elem %d n %llu", v ? (int)v->type : -1,
                  v ? (int)v->v.arr.type : -1, v ? (unsigned long long)v->v.arr.n : 0, (int)et,
                  (unsigned long long)n);
        return NULL;
    }
    return v;
}

static float f32_at(const void *raw, size_t i) {
    uint32_t u = jang_rd32((const uint8_t *)raw + 4 * i);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void check_meta_file(const char *name, uint32_t version) {
    jang_gguf *g = NULL;
    REQUIRE_OK(jang_gguf_open(test_data_path(name), &g));
    CHECK_EQ_INT(jang_gguf_version(g), version);
    CHECK_EQ_INT(jang_gguf_alignment(g), 32);
    CHECK_STR(jang_gguf_path(g), test_data_path(name));
    CHECK_EQ_INT(jang_gguf_n_kv(g), 41);
    CHECK_STR(jang_gguf_key(g, 0), "general.architecture");
    CHECK_STR(jang_gguf_key(g, 40), "llama.rope.freq_base");
    CHECK(jang_gguf_key(g, 41) == NULL && jang_gguf_key(g, -1) == NULL);
    CHECK(jang_gguf_value_at(g, 41) == NULL);
    CHECK(jang_gguf_value_at(g, 2) == jang_gguf_find(g, "test.u8"));
    CHECK(jang_gguf_find(g, "nope") == NULL && jang_gguf_find(g, "test") == NULL);
    CHECK_STR(jang_gguf_get_str(g, "general.architecture"), "llama");
    CHECK_STR(jang_gguf_get_str(g, "general.name"), "jang metadata golden");

    /* scalars: stored value, and the typed getters */
    const jang_gguf_value *v;
    int64_t i64;
    double f64;
    bool b;
    if ((v = find_type(g, "test.u8", JANG_GGUF_UINT8))) CHECK_EQ_INT(v->v.u64, 200);
    if ((v = find_type(g, "test.i8", JANG_GGUF_INT8))) CHECK_EQ_INT(v->v.i64, -100);
    if ((v = find_type(g, "test.u16", JANG_GGUF_UINT16))) CHECK_EQ_INT(v->v.u64, 60000);
    if ((v = find_type(g, "test.i16", JANG_GGUF_INT16))) CHECK_EQ_INT(v->v.i64, -30000);
    if ((v = find_type(g, "test.u32", JANG_GGUF_UINT32))) CHECK_EQ_INT(v->v.u64, 4000000000);
    if ((v = find_type(g, "test.i32", JANG_GGUF_INT32))) CHECK_EQ_INT(v->v.i64, -2000000000);
    if ((v = find_type(g, "test.f32", JANG_GGUF_FLOAT32))) CHECK(v->v.f64 == (double)-1.5e-3f);
    if ((v = find_type(g, "test.u64", JANG_GGUF_UINT64))) CHECK(v->v.u64 == UINT64_MAX);
    if ((v = find_type(g, "test.i64", JANG_GGUF_INT64))) CHECK(v->v.i64 == INT64_MIN);
    if ((v = find_type(g, "test.f64", JANG_GGUF_FLOAT64))) CHECK(v->v.f64 == 3.141592653589793);
    find_type(g, "test.bool_true", JANG_GGUF_BOOL);
    CHECK(jang_gguf_get_bool(g, "test.bool_true", &b) && b);
    CHECK(jang_gguf_get_bool(g, "test.bool_false", &b) && !b);
    CHECK(!jang_gguf_get_bool(g, "test.u8", &b));
    CHECK(jang_gguf_get_i64(g, "test.u8", &i64) && i64 == 200);
    CHECK(jang_gguf_get_i64(g, "test.i16", &i64) && i64 == -30000);
    CHECK(jang_gguf_get_i64(g, "test.u32", &i64) && i64 == 4000000000);
    CHECK(jang_gguf_get_i64(g, "test.u64_small", &i64) && i64 == 12345678901234);
    CHECK(jang_gguf_get_i64(g, "test.i64", &i64) && i64 == INT64_MIN);
    CHECK(!jang_gguf_get_i64(g, "test.u64", &i64)); /* does not fit */
    CHECK(!jang_gguf_get_i64(g, "test.f32", &i64));
    CHECK(!jang_gguf_get_i64(g, "test.bool_true", &i64));
    CHECK(!jang_gguf_get_i64(g, "test.str", &i64));
    CHECK(!jang_gguf_get_i64(g, "absent", &i64));
    CHECK(jang_gguf_get_f64(g, "test.f32", &f64) && f64 == (double)-1.5e-3f);
    CHECK(jang_gguf_get_f64(g, "test.i32", &f64) && f64 == -2000000000.0);
    CHECK(jang_gguf_get_f64(g, "test.u64", &f64) && f64 == 18446744073709551616.0);
    CHECK(jang_gguf_get_f64(g, "llama.rope.freq_base", &f64) && f64 == 10000.0);
    CHECK(!jang_gguf_get_f64(g, "test.str", &f64));
    CHECK(jang_gguf_get_i64(g, "llama.context_length", &i64) && i64 == 2048);

    /* strings: raw bytes in the map; get_str a NUL-terminated copy cut at an embedded NUL */
    CHECK(str_is(jang_gguf_find(g, "test.str"), "h\xc3\xa9llo w\xc3\xb6rld"));
    CHECK_STR(jang_gguf_get_str(g, "test.str"), "h\xc3\xa9llo w\xc3\xb6rld");
    CHECK(str_is(jang_gguf_find(g, "test.str_empty"), ""));
    CHECK_STR(jang_gguf_get_str(g, "test.str_empty"), "");
    if ((v = find_type(g, "test.str_nul", JANG_GGUF_STRING)))
        CHECK(v->v.str.len == 5 && memcmp(v->v.str.ptr, "ab\0cd", 5) == 0);
    CHECK_STR(jang_gguf_get_str(g, "test.str_nul"), "ab");
    CHECK(jang_gguf_get_str(g, "test.u8") == NULL);
    CHECK(jang_gguf_get_str(g, "absent") == NULL);

    /* arrays of every element type: packed little-endian in the map */
    const uint8_t *r;
    if ((v = arr_of(jang_gguf_find(g, "test.arr_u8"), JANG_GGUF_UINT8, 3))) {
        r = v->v.arr.raw;
        CHECK(r[0] == 0 && r[1] == 1 && r[2] == 255 && v->v.arr.items == NULL);
    }
    if ((v = arr_of(jang_gguf_find(g, "test.arr_i8"), JANG_GGUF_INT8, 3))) {
        r = v->v.arr.raw;
        CHECK((int8_t)r[0] == -128 && r[1] == 0 && (int8_t)r[2] == 127);
    }
    if ((v = arr_of(jang_gguf_find(g, "test.arr_u16"), JANG_GGUF_UINT16, 2)))
        CHECK(jang_rd16((const uint8_t *)v->v.arr.raw + 2) == 65535);
    if ((v = arr_of(jang_gguf_find(g, "test.arr_i16"), JANG_GGUF_INT16, 2)))
        CHECK((int16_t)jang_rd16(v->v.arr.raw) == -32768);
    if ((v = arr_of(jang_gguf_find(g, "test.arr_u32"), JANG_GGUF_UINT32, 2)))
        CHECK(jang_rd32((const uint8_t *)v->v.arr.raw + 4) == 4294967295u);
    if ((v = arr_of(jang_gguf_find(g, "test.arr_i32"), JANG_GGUF_INT32, 3)))
        CHECK((int32_t)jang_rd32(v->v.arr.raw) == INT32_MIN &&
              jang_rd32((const uint8_t *)v->v.arr.raw + 8) == 7);
    if ((v = arr_of(jang_gguf_find(g, "test.arr_f32"), JANG_GGUF_FLOAT32, 3)))
        CHECK(f32_at(v->v.arr.raw, 0) == 0.5f && f32_at(v->v.arr.raw, 1) == -2.25f &&
              f32_at(v->v.arr.raw, 2) == 1e30f);
    if ((v = arr_of(jang_gguf_find(g, "test.arr_bool"), JANG_GGUF_BOOL, 4)))
        CHECK(memcmp(v->v.arr.raw, "\1\0\1\1", 4) == 0);
    if ((v = arr_of(jang_gguf_find(g, "test.arr_u64"), JANG_GGUF_UINT64, 2)))
        CHECK(jang_rd64(v->v.arr.raw) == UINT64_MAX);
    if ((v = arr_of(jang_gguf_find(g, "test.arr_i64"), JANG_GGUF_INT64, 2)))
        CHECK(jang_rd64((const uint8_t *)v->v.arr.raw + 8) == (uint64_t)INT64_MAX);
    if ((v = arr_of(jang_gguf_find(g, "test.arr_f64"), JANG_GGUF_FLOAT64, 2))) {
        uint64_t u = jang_rd64((const uint8_t *)v->v.arr.raw + 8);
        double d;
        memcpy(&d, &u, 8);
        CHECK(d == -0.1);
    }
    if ((v = arr_of(jang_gguf_find(g, "test.arr_str"), JANG_GGUF_STRING, 3))) {
        REQUIRE(v->v.arr.items);
        CHECK(str_is(&v->v.arr.items[0], "alpha") && str_is(&v->v.arr.items[1], ""));
        CHECK(str_is(&v->v.arr.items[2], "\xce\xb3\xce\xb3"));
    }
    /* nested arrays */
    if ((v = arr_of(jang_gguf_find(g, "test.arr_arr_str"), JANG_GGUF_ARRAY, 2))) {
        const jang_gguf_value *a0 = arr_of(&v->v.arr.items[0], JANG_GGUF_STRING, 2);
        const jang_gguf_value *a1 = arr_of(&v->v.arr.items[1], JANG_GGUF_STRING, 1);
        if (a0) CHECK(str_is(&a0->v.arr.items[0], "a") && str_is(&a0->v.arr.items[1], "bc"));
        if (a1) CHECK(str_is(&a1->v.arr.items[0], "def"));
    }
    if ((v = arr_of(jang_gguf_find(g, "test.arr_arr_int"), JANG_GGUF_ARRAY, 2))) {
        const jang_gguf_value *a0 = arr_of(&v->v.arr.items[0], JANG_GGUF_INT32, 3);
        const jang_gguf_value *a1 = arr_of(&v->v.arr.items[1], JANG_GGUF_INT32, 1);
        if (a0) CHECK(jang_rd32((const uint8_t *)a0->v.arr.raw + 8) == 3);
        if (a1) CHECK((int32_t)jang_rd32(a1->v.arr.raw) == -4);
    }
    v = jang_gguf_find(g, "test.arr_deep");
    for (int d = 0; d < 3 && v; d++) {
        v = arr_of(v, JANG_GGUF_ARRAY, 1);
        v = v ? &v->v.arr.items[0] : NULL;
    }
    if ((v = arr_of(v, JANG_GGUF_STRING, 1))) CHECK(str_is(&v->v.arr.items[0], "deep"));
    /* tokenizer arrays */
    if ((v = arr_of(jang_gguf_find(g, "tokenizer.ggml.tokens"), JANG_GGUF_STRING, 4)))
        CHECK(str_is(&v->v.arr.items[3], "\xc4\xa0world") && str_is(&v->v.arr.items[0], "<s>"));
    if ((v = arr_of(jang_gguf_find(g, "tokenizer.ggml.scores"), JANG_GGUF_FLOAT32, 4)))
        CHECK(f32_at(v->v.arr.raw, 2) == -2.5f);
    if ((v = arr_of(jang_gguf_find(g, "tokenizer.ggml.token_type"), JANG_GGUF_INT32, 4)))
        CHECK(jang_rd32(v->v.arr.raw) == 3);
    CHECK(jang_gguf_get_i64(g, "tokenizer.ggml.eos_token_id", &i64) && i64 == 1);

    /* tensors: GGUF dims are reversed into PyTorch shapes */
    CHECK_EQ_INT(jang_gguf_n_tensors(g), 4);
    CHECK(jang_gguf_tensor_at(g, 4) == NULL && jang_gguf_tensor_at(g, -1) == NULL);
    CHECK(jang_gguf_find_tensor(g, "nope") == NULL);
    CHECK_EQ_INT(jang_gguf_data_offset(g) % 32, 0);
    const jang_gguf_tensor *t = jang_gguf_find_tensor(g, "token_embd.weight");
    REQUIRE(t && t == jang_gguf_tensor_at(g, 0));
    CHECK_EQ_INT(t->type, JANG_GGML_F32);
    CHECK_EQ_INT(t->n_dims, 2);
    CHECK(t->ne[0] == 8 && t->ne[1] == 3 && t->shape[0] == 3 && t->shape[1] == 8);
    CHECK_EQ_INT(t->n_elements, 24);
    CHECK_EQ_INT(t->n_bytes, 96);
    CHECK_EQ_INT(t->offset, 0);
    float out[64];
    CHECK_OK(jang_gguf_dequantize(t, out));
    for (int i = 0; i < 24; i++)
        CHECK_MSG(out[i] == (float)i, "token_embd[%d] = %g", i, out[i]);
    t = jang_gguf_find_tensor(g, "norm.weight");
    REQUIRE(t);
    CHECK(t->type == JANG_GGML_F16 && t->n_dims == 1 && t->ne[0] == 16 && t->n_bytes == 32);
    CHECK_OK(jang_gguf_dequantize(t, out));
    CHECK(out[0] == -1.0f && out[15] == 1.0f);
    t = jang_gguf_find_tensor(g, "blk.0.attn_q.weight");
    REQUIRE(t);
    CHECK(t->type == JANG_GGML_Q8_0 && t->shape[0] == 2 && t->shape[1] == 32 && t->n_bytes == 68);
    CHECK_EQ_INT(t->offset % 32, 0);
    CHECK_OK(jang_gguf_dequantize(t, out));
    CHECK(out[0] < -1.9f && out[63] > 1.9f);
    t = jang_gguf_find_tensor(g, "t4d");
    REQUIRE(t);
    CHECK_EQ_INT(t->n_dims, 4);
    CHECK(t->shape[0] == 2 && t->shape[1] == 1 && t->shape[2] == 2 && t->shape[3] == 2);
    CHECK(t->ne[0] == 2 && t->ne[1] == 2 && t->ne[2] == 1 && t->ne[3] == 2);
    CHECK_EQ_INT(jang_gguf_data_offset(g) + t->offset + t->n_bytes, 2304); /* it ends the file */
    jang_gguf_close(g);
}

TEST(gguf_meta_v3) { check_meta_file("gguf/meta_v3.gguf", 3); }
TEST(gguf_meta_v2) { check_meta_file("gguf/meta_v2.gguf", 2); }

/* ---- dequantization goldens ------------------------------------------------------------------ */

/* Bit-exact comparison; prints the first mismatches and the max difference. */
static int compare_bits(const char *what, const float *got, const float *want, int64_t n) {
    if (memcmp(got, want, (size_t)n * sizeof(float)) == 0) return 0;
    int64_t bad = 0;
    double maxd = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t a, b;
        memcpy(&a, &got[i], 4);
        memcpy(&b, &want[i], 4);
        if (a == b) continue;
        if (bad < 5)
            test_fail_at(__FILE__, __LINE__, "%s[%lld]: got %.9g (0x%08x), want %.9g (0x%08x)",
                         what, (long long)i, got[i], a, want[i], b);
        bad++;
        double d = fabs((double)got[i] - (double)want[i]);
        if (d > maxd) maxd = d;
    }
    test_fail_at(__FILE__, __LINE__, "%s: %lld of %lld values differ, max |diff| %g", what,
                 (long long)bad, (long long)n, maxd);
    return 1;
}

TEST(gguf_dequant_goldens) {
    static const uint32_t types[] = {
        JANG_GGML_F32,  JANG_GGML_F16,  JANG_GGML_BF16, JANG_GGML_F64,  JANG_GGML_I8,
        JANG_GGML_I16,  JANG_GGML_I32,  JANG_GGML_I64,  JANG_GGML_Q4_0, JANG_GGML_Q4_1,
        JANG_GGML_Q5_0, JANG_GGML_Q5_1, JANG_GGML_Q8_0, JANG_GGML_Q2_K, JANG_GGML_Q3_K,
        JANG_GGML_Q4_K, JANG_GGML_Q5_K, JANG_GGML_Q6_K,
    };
    jang_gguf *g = NULL;
    REQUIRE_OK(jang_gguf_open(test_data_path("gguf/quants.gguf"), &g));
    CHECK_EQ_INT(jang_gguf_alignment(g), 64);
    CHECK_EQ_INT(jang_gguf_n_tensors(g), 2 * (int64_t)(sizeof types / sizeof types[0]));
    for (int64_t i = 0; i < jang_gguf_n_tensors(g); i++)
        CHECK_EQ_INT(jang_gguf_tensor_at(g, i)->offset % 64, 0);
    int compared = 0;
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const char *name = jang_ggml_type_name(types[k]);
        char ename[64];
        snprintf(ename, sizeof ename, "%s.expected", name);
        const jang_gguf_tensor *t = jang_gguf_find_tensor(g, name);
        const jang_gguf_tensor *e = jang_gguf_find_tensor(g, ename);
        CHECK_MSG(t && e, "tensor %s or %s missing", name, ename);
        if (!t || !e) continue;
        CHECK_EQ_INT(t->type, types[k]);
        CHECK(jang_ggml_can_dequantize(t->type));
        CHECK(e->type == JANG_GGML_F32 && e->n_elements == t->n_elements);
        CHECK(e->shape[0] == t->shape[0] && e->shape[1] == t->shape[1]);
        REQUIRE(t->n_elements >= 256 && e->n_elements == t->n_elements);
        float *got = malloc((size_t)t->n_elements * sizeof(float));
        float *want = malloc((size_t)t->n_elements * sizeof(float));
        REQUIRE(got && want);
        CHECK_OK(jang_gguf_dequantize(e, want));
        CHECK_OK(jang_gguf_dequantize(t, got));
        compared += !compare_bits(name, got, want, t->n_elements);
        /* the raw entry point agrees, also on a sub-range of whole blocks */
        int64_t bs;
        REQUIRE(jang_ggml_type_info(t->type, &bs, NULL));
        memset(got, 0, (size_t)t->n_elements * sizeof(float));
        CHECK_OK(jang_ggml_dequantize_raw(t->type, t->data, bs, got));
        CHECK(memcmp(got, want, (size_t)bs * sizeof(float)) == 0);
        free(got);
        free(want);
    }
    CHECK_EQ_INT(compared, (int)(sizeof types / sizeof types[0]));
    jang_gguf_close(g);
}

TEST(gguf_dequant_raw_args) {
    uint8_t blk[34] = {0x00, 0x3c}; /* Q8_0, d = 1 */
    blk[2] = 0x85;                  /* -123 */
    float out[32];
    CHECK_OK(jang_ggml_dequantize_raw(JANG_GGML_Q8_0, blk, 32, out));
    CHECK(out[0] == -123.0f && out[1] == 0.0f);
    CHECK_OK(jang_ggml_dequantize_raw(JANG_GGML_Q8_0, NULL, 0, NULL));
    CHECK_EQ_INT(jang_ggml_dequantize_raw(JANG_GGML_Q8_0, blk, 31, out), JANG_E_ARG);
    CHECK(strstr(jang_last_error(), "multiple of the block size 32"));
    CHECK_EQ_INT(jang_ggml_dequantize_raw(JANG_GGML_Q8_0, blk, -32, out), JANG_E_ARG);
    CHECK_EQ_INT(jang_ggml_dequantize_raw(JANG_GGML_IQ2_XXS, blk, 256, out), JANG_E_UNSUPPORTED);
    CHECK(strstr(jang_last_error(), "IQ2_XXS (16)"));
    CHECK_EQ_INT(jang_ggml_dequantize_raw(77, blk, 1, out), JANG_E_UNSUPPORTED);
    CHECK(strstr(jang_last_error(), "unknown (77)"));
    CHECK(!jang_ggml_can_dequantize(JANG_GGML_Q8_1) && !jang_ggml_can_dequantize(1000));
    CHECK(jang_ggml_can_dequantize(JANG_GGML_Q6_K) && jang_ggml_can_dequantize(JANG_GGML_BF16));
}

/* ---- truncation ------------------------------------------------------------------------------ */

TEST(gguf_every_truncation_fails) {
    char *buf;
    size_t size;
    REQUIRE_OK(jang_read_file(test_data_path("gguf/meta_v3.gguf"), 1 << 20, &buf, &size));
    REQUIRE(size > 1000);
    jang_gguf *g = NULL;
    void *copy;
    CHECK_OK(open_copy((const uint8_t *)buf, size, &g, &copy));
    jang_gguf_close(g);
    free(copy);
    int bad = 0;
    for (size_t n = 0; n < size; n++) {
        g = NULL;
        jang_clear_error();
        jang_status s = open_copy((const uint8_t *)buf, n, &g, &copy);
        if (s == JANG_OK || g || !jang_last_error()[0] ||
            strncmp(jang_last_error(), "x.gguf: ", 8)) {
            if (bad++ < 5)
                test_fail_at(__FILE__, __LINE__, "prefix of %zu bytes: %s \"%s\"", n,
                             jang_status_str(s), jang_last_error());
        }
        jang_gguf_close(g);
        free(copy);
    }
    CHECK_EQ_INT(bad, 0);
    /* a few through real files */
    const size_t lens[] = {0, 3, 4, 23, 24, 100, 1500, size - 1};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        char path[600];
        snprintf(path, sizeof path, "%s/trunc%zu.gguf", test_tmpdir(), lens[k]);
        FILE *f = fopen(path, "wb");
        REQUIRE(f);
        REQUIRE(fwrite(buf, 1, lens[k], f) == lens[k]);
        fclose(f);
        g = NULL;
        jang_clear_error();
        CHECK_EQ_INT(jang_gguf_open(path, &g), JANG_E_FORMAT);
        CHECK(g == NULL);
        CHECK_MSG(strncmp(jang_last_error(), path, strlen(path)) == 0, "error \"%s\"",
                  jang_last_error());
    }
    free(buf);
}

TEST(gguf_open_errors) {
    jang_gguf *g = (jang_gguf *)1;
    CHECK_EQ_INT(jang_gguf_open("/nonexistent/x.gguf", &g), JANG_E_IO);
    CHECK(g == NULL && strstr(jang_last_error(), "/nonexistent/x.gguf"));
    CHECK_EQ_INT(jang_gguf_open(test_tmpdir(), &g), JANG_E_IO); /* a directory */
    jang_gguf_close(NULL);
}

/* ---- corrupt headers ------------------------------------------------------------------------- */

TEST(gguf_minimal_and_header) {
    gb b = {0};
    gb_hdr(&b, 3, 0, 0); /* 24 bytes: no keys, no tensors */
    void *copy;
    jang_gguf *g = OPEN_OK(b, &copy);
    if (g) CHECK(jang_gguf_n_kv(g) == 0 && jang_gguf_n_tensors(g) == 0);
    if (g) CHECK(jang_gguf_find(g, "x") == NULL && jang_gguf_find_tensor(g, "x") == NULL);
    jang_gguf_close(g);
    free(copy);
    free(b.p);

    b = (gb){0};
    gb_hdr(&b, 3, 0, 0);
    memcpy(b.p, "GGUX", 4);
    EXPECT_ERR(b, JANG_E_FORMAT, "not a GGUF file (magic \"GGUX\"");
    b = (gb){0};
    gb_hdr(&b, 1, 0, 0);
    EXPECT_ERR(b, JANG_E_UNSUPPORTED, "GGUF version 1 is not supported");
    b = (gb){0};
    gb_hdr(&b, 4, 0, 0);
    EXPECT_ERR(b, JANG_E_UNSUPPORTED, "GGUF version 4 is not supported");
    b = (gb){0};
    gb_hdr(&b, 0, 0, 0);
    EXPECT_ERR(b, JANG_E_UNSUPPORTED, "version 0");
    b = (gb){0};
    gb_hdr(&b, 0x03000000u, 0, 0);
    EXPECT_ERR(b, JANG_E_UNSUPPORTED, "big-endian GGUF (version 3 byte-swapped)");
    b = (gb){0};
    gb_hdr(&b, 3, 0, UINT64_MAX);
    EXPECT_ERR(b, JANG_E_FORMAT, "18446744073709551615 metadata keys");
    b = (gb){0};
    gb_hdr(&b, 3, 1ull << 40, 0);
    EXPECT_ERR(b, JANG_E_FORMAT, "header claims 1099511627776 tensors");
    b = (gb){0};
    gb_hdr(&b, 3, 0, 2); /* 2 keys need at least 26 bytes */
    gb_zeros(&b, 25);
    EXPECT_ERR(b, JANG_E_FORMAT, "more than the 25 bytes left");
}

TEST(gguf_bad_metadata) {
    gb b = {0};
    gb_hdr(&b, 3, 0, 1);
    gb_u64(&b, UINT64_MAX / 3); /* key length */
    gb_zeros(&b, 16);
    EXPECT_ERR(b, JANG_E_FORMAT, "key 0: key length 6148914691236517205");

    b = (gb){0};
    gb_hdr(&b, 3, 0, 1);
    gb_key(&b, "general.name", JANG_GGUF_STRING);
    gb_u64(&b, 1ull << 50);
    gb_zeros(&b, 8);
    EXPECT_ERR(b, JANG_E_FORMAT, "key 'general.name': string length 1125899906842624");

    b = (gb){0};
    gb_hdr(&b, 3, 0, 1);
    gb_key(&b, "a.arr", JANG_GGUF_ARRAY);
    gb_u32(&b, JANG_GGUF_UINT32);
    gb_u64(&b, 1ull << 62); /* x 4 bytes overflows */
    gb_zeros(&b, 8);
    EXPECT_ERR(b, JANG_E_FORMAT, "key 'a.arr': array of 4611686018427387904 u32 elements");

    b = (gb){0};
    gb_hdr(&b, 3, 0, 1);
    gb_key(&b, "a.arr", JANG_GGUF_ARRAY);
    gb_u32(&b, JANG_GGUF_UINT64);
    gb_u64(&b, 3); /* 24 bytes needed, 16 present */
    gb_zeros(&b, 16);
    EXPECT_ERR(b, JANG_E_FORMAT, "array of 3 u64 elements");

    b = (gb){0};
    gb_hdr(&b, 3, 0, 1);
    gb_key(&b, "tokenizer.ggml.tokens", JANG_GGUF_ARRAY);
    gb_u32(&b, JANG_GGUF_STRING);
    gb_u64(&b, 1000000);
    gb_str(&b, "a");
    EXPECT_ERR(b, JANG_E_FORMAT, "array of 1000000 str elements at offset");

    b = (gb){0};
    gb_hdr(&b, 3, 0, 1);
    gb_key(&b, "a.b", 13);
    gb_zeros(&b, 8);
    EXPECT_ERR(b, JANG_E_FORMAT, "key 'a.b': unknown value type 13");

    b = (gb){0};
    gb_hdr(&b, 3, 0, 1);
    gb_key(&b, "a.b", JANG_GGUF_ARRAY);
    gb_u32(&b, 99);
    gb_u64(&b, 0);
    EXPECT_ERR(b, JANG_E_FORMAT, "unknown array element type 99");

    b = (gb){0};
    gb_hdr(&b, 3, 0, 1);
    gb_key(&b, "a.flag", JANG_GGUF_BOOL);
    gb_u8(&b, 2);
    EXPECT_ERR(b, JANG_E_FORMAT, "key 'a.flag': bool value 2");

    b = (gb){0};
    gb_hdr(&b, 3, 0, 1);
    gb_key(&b, "a.flags", JANG_GGUF_ARRAY);
    gb_u32(&b, JANG_GGUF_BOOL);
    gb_u64(&b, 3);
    gb_put(&b, "\1\0\xff", 3);
    EXPECT_ERR(b, JANG_E_FORMAT, "bool array element 2 is 255");

    b = (gb){0};
    gb_hdr(&b, 3, 0, 2);
    gb_key(&b, "a.b", JANG_GGUF_UINT8);
    gb_u8(&b, 1);
    gb_key(&b, "a.b", JANG_GGUF_UINT8);
    gb_u8(&b, 2);
    EXPECT_ERR(b, JANG_E_FORMAT, "duplicate key 'a.b'");

    b = (gb){0};
    gb_hdr(&b, 3, 0, 1);
    gb_key(&b, "", JANG_GGUF_UINT8);
    gb_u8(&b, 1);
    EXPECT_ERR(b, JANG_E_FORMAT, "key 0 is empty");

    b = (gb){0};
    gb_hdr(&b, 3, 0, 1);
    gb_strn(&b, "a\0b", 3);
    gb_u32(&b, JANG_GGUF_UINT8);
    gb_u8(&b, 1);
    EXPECT_ERR(b, JANG_E_FORMAT, "key 'a\\x00b' contains a NUL byte");

    /* empty arrays of every kind are fine; a key with every scalar type round-trips */
    b = (gb){0};
    gb_hdr(&b, 3, 0, 3);
    gb_key(&b, "e.u8", JANG_GGUF_ARRAY);
    gb_u32(&b, JANG_GGUF_UINT8);
    gb_u64(&b, 0);
    gb_key(&b, "e.str", JANG_GGUF_ARRAY);
    gb_u32(&b, JANG_GGUF_STRING);
    gb_u64(&b, 0);
    gb_key(&b, "e.arr", JANG_GGUF_ARRAY);
    gb_u32(&b, JANG_GGUF_ARRAY);
    gb_u64(&b, 0);
    void *copy;
    jang_gguf *g = OPEN_OK(b, &copy);
    if (g) {
        const jang_gguf_value *v = jang_gguf_find(g, "e.arr");
        CHECK(v && v->type == JANG_GGUF_ARRAY && v->v.arr.n == 0);
    }
    jang_gguf_close(g);
    free(copy);
    free(b.p);
}

/* a key "a.deep" holding `levels` nested arrays around one u8 */
static gb nested(int levels) {
    gb b = {0};
    gb_hdr(&b, 3, 0, 1);
    gb_key(&b, "a.deep", JANG_GGUF_ARRAY);
    for (int i = 1; i < levels; i++) {
        gb_u32(&b, JANG_GGUF_ARRAY);
        gb_u64(&b, 1);
    }
    gb_u32(&b, JANG_GGUF_UINT8);
    gb_u64(&b, 1);
    gb_u8(&b, 7);
    return b;
}

TEST(gguf_nested_arrays_depth) {
    gb b = nested(JANG_GGUF_MAX_DEPTH);
    void *copy;
    jang_gguf *g = OPEN_OK(b, &copy);
    if (g) {
        const jang_gguf_value *v = jang_gguf_find(g, "a.deep");
        for (int i = 1; i < JANG_GGUF_MAX_DEPTH && v; i++)
            v = v->type == JANG_GGUF_ARRAY && v->v.arr.n == 1 ? &v->v.arr.items[0] : NULL;
        CHECK(v && v->v.arr.type == JANG_GGUF_UINT8 && ((const uint8_t *)v->v.arr.raw)[0] == 7);
    }
    jang_gguf_close(g);
    free(copy);
    free(b.p);
    b = nested(JANG_GGUF_MAX_DEPTH + 1);
    EXPECT_ERR(b, JANG_E_FORMAT, "key 'a.deep': arrays nested more than 8 deep");
    /* a failure deep inside nested arrays frees what was built (ASan checks) */
    b = nested(5);
    b.p[b.n - 1] = 0;
    b.n -= 1;
    EXPECT_ERR(b, JANG_E_FORMAT,
               "key 'a.deep': array of 1 u8 elements at offset 90 runs past the end");
}

TEST(gguf_bad_alignment) {
    static const uint32_t bad[] = {0, 3, 48};
    for (int k = 0; k < 3; k++) {
        gb b = {0};
        gb_hdr(&b, 3, 0, 1);
        gb_key(&b, "general.alignment", JANG_GGUF_UINT32);
        gb_u32(&b, bad[k]);
        char want[80];
        snprintf(want, sizeof want, "general.alignment %u is not a nonzero power of two", bad[k]);
        EXPECT_ERR(b, JANG_E_FORMAT, want);
    }
    gb b = {0};
    gb_hdr(&b, 3, 0, 1);
    gb_key(&b, "general.alignment", JANG_GGUF_INT32);
    gb_u32(&b, 32);
    EXPECT_ERR(b, JANG_E_FORMAT, "general.alignment must be a u32, not i32");
    b = (gb){0};
    gb_hdr(&b, 3, 0, 1);
    gb_key(&b, "general.alignment", JANG_GGUF_UINT64);
    gb_u64(&b, 32);
    EXPECT_ERR(b, JANG_E_FORMAT, "general.alignment must be a u32, not u64");

    /* custom alignment 64: the data section and offsets follow it */
    b = (gb){0};
    gb_hdr(&b, 3, 2, 1);
    gb_key(&b, "general.alignment", JANG_GGUF_UINT32);
    gb_u32(&b, 64);
    uint64_t ne = 4;
    gb_tinfo(&b, "a", 1, &ne, JANG_GGML_F32, 0);
    gb_tinfo(&b, "b", 1, &ne, JANG_GGML_F32, 64);
    gb_pad(&b, 64);
    size_t data = b.n;
    gb_zeros(&b, 80);
    void *copy;
    jang_gguf *g = OPEN_OK(b, &copy);
    if (g) {
        CHECK_EQ_INT(jang_gguf_alignment(g), 64);
        CHECK_EQ_INT(jang_gguf_data_offset(g), data);
        CHECK(jang_gguf_find_tensor(g, "b")->data == (const uint8_t *)copy + data + 64);
    }
    jang_gguf_close(g);
    free(copy);
    free(b.p);
    /* ... and an offset aligned to 32 only is refused */
    b = (gb){0};
    gb_hdr(&b, 3, 1, 1);
    gb_key(&b, "general.alignment", JANG_GGUF_UINT32);
    gb_u32(&b, 64);
    gb_tinfo(&b, "b", 1, &ne, JANG_GGML_F32, 32);
    gb_pad(&b, 64);
    gb_zeros(&b, 128);
    EXPECT_ERR(b, JANG_E_FORMAT,
               "tensor 'b': data offset 32 is not a multiple of the alignment 64");
}

TEST(gguf_bad_tensor_infos) {
    uint64_t ne[5] = {32, 2, 1, 1, 1};
    gb b = one_tensor(2, ne, JANG_GGML_F32, 0, 256);
    void *copy;
    jang_gguf *g = OPEN_OK(b, &copy); /* the baseline is valid */
    jang_gguf_close(g);
    free(copy);
    free(b.p);

    b = one_tensor(0, ne, JANG_GGML_F32, 0, 256);
    EXPECT_ERR(b, JANG_E_FORMAT, "tensor 'w': 0 dimensions (must be 1 to 4)");
    b = one_tensor(5, ne, JANG_GGML_F32, 0, 256);
    EXPECT_ERR(b, JANG_E_FORMAT, "tensor 'w': 5 dimensions (must be 1 to 4)");
    uint64_t ne33[2] = {33, 2};
    b = one_tensor(2, ne33, JANG_GGML_Q4_0, 0, 256);
    EXPECT_ERR(b, JANG_E_FORMAT,
               "tensor 'w': rows of 33 elements are not a multiple of the Q4_0 block size 32");
    uint64_t big[3] = {1ull << 32, 1ull << 32, 1};
    b = one_tensor(3, big, JANG_GGML_F32, 0, 256);
    EXPECT_ERR(b, JANG_E_FORMAT, "tensor 'w': element count overflows");
    uint64_t big2[2] = {1ull << 31, 1ull << 32}; /* 2^63 elements: over INT64_MAX */
    b = one_tensor(2, big2, JANG_GGML_F32, 0, 256);
    EXPECT_ERR(b, JANG_E_FORMAT, "tensor 'w': element count overflows");
    uint64_t huge[1] = {(uint64_t)INT64_MAX + 1};
    b = one_tensor(1, huge, JANG_GGML_F32, 0, 256);
    EXPECT_ERR(b, JANG_E_FORMAT, "tensor 'w': dimension 0 is 9223372036854775808");
    uint64_t bytes_ovf[1] = {1ull << 62}; /* x 4 bytes */
    b = one_tensor(1, bytes_ovf, JANG_GGML_F32, 0, 256);
    EXPECT_ERR(b, JANG_E_FORMAT, "tensor 'w': data size overflows");
    b = one_tensor(2, ne, JANG_GGML_F32, 4, 256);
    EXPECT_ERR(b, JANG_E_FORMAT, "tensor 'w': data offset 4 is not a multiple of the alignment 32");
    /* 24-byte header + 45-byte key + 33-byte info = 102, data at 128; 256 bytes needed */
    b = one_tensor(2, ne, JANG_GGML_F32, 0, 200);
    EXPECT_ERR(
        b, JANG_E_FORMAT,
        "x.gguf: tensor 'w': data [offset 128, 256 bytes] past the end of the file (size 328)");
    b = one_tensor(2, ne, JANG_GGML_F32, UINT64_MAX - 31, 256);
    EXPECT_ERR(b, JANG_E_FORMAT, "past the end of the file");
    b = one_tensor(2, ne, JANG_GGML_F32, 1ull << 40, 256);
    EXPECT_ERR(b, JANG_E_FORMAT, "past the end of the file (size 384)");

    /* names */
    b = (gb){0};
    gb_hdr(&b, 3, 1, 0);
    gb_tinfo(&b, "", 1, ne, JANG_GGML_F32, 0);
    gb_zeros(&b, 200);
    EXPECT_ERR(b, JANG_E_FORMAT, "tensor 0 has an empty name");
    b = (gb){0};
    gb_hdr(&b, 3, 1, 0);
    gb_strn(&b, "w\0x", 3);
    gb_zeros(&b, 200);
    EXPECT_ERR(b, JANG_E_FORMAT, "tensor 'w\\x00x': name contains a NUL byte");
    b = (gb){0};
    gb_hdr(&b, 3, 1, 0);
    gb_u64(&b, JANG_GGUF_MAX_NAME + 1);
    gb_zeros(&b, JANG_GGUF_MAX_NAME + 100);
    EXPECT_ERR(b, JANG_E_FORMAT, "tensor 0: name is 65537 bytes long (at most 65536)");
    b = (gb){0};
    gb_hdr(&b, 3, 2, 0);
    gb_tinfo(&b, "w", 1, ne, JANG_GGML_F32, 0);
    gb_tinfo(&b, "w", 1, ne, JANG_GGML_F32, 128);
    gb_pad(&b, 32);
    gb_zeros(&b, 256);
    EXPECT_ERR(b, JANG_E_FORMAT, "duplicate tensor name 'w'");
    b = (gb){0};
    gb_hdr(&b, 3, 1, 0);
    gb_tinfo(&b, "w", 2, ne, JANG_GGML_F32, 0);
    b.n -= 1; /* offset cut short */
    EXPECT_ERR(b, JANG_E_FORMAT, "tensor 'w': truncated: offset needs 8 bytes");
}

TEST(gguf_overlapping_tensors) {
    uint64_t ne = 32; /* 128 bytes of F32 */
    gb b = {0};
    gb_hdr(&b, 3, 2, 0);
    gb_tinfo(&b, "a", 1, &ne, JANG_GGML_F32, 0);
    gb_tinfo(&b, "b", 1, &ne, JANG_GGML_F32, 64);
    gb_pad(&b, 32);
    gb_zeros(&b, 256);
    EXPECT_ERR(b, JANG_E_FORMAT,
               "tensors 'a' [offset 0, 128 bytes] and 'b' [offset 64, 128 bytes] overlap");
    b = (gb){0};
    gb_hdr(&b, 3, 3, 0);
    gb_tinfo(&b, "c", 1, &ne, JANG_GGML_F32, 256);
    gb_tinfo(&b, "a", 1, &ne, JANG_GGML_F32, 0);
    gb_tinfo(&b, "b", 1, &ne, JANG_GGML_F32, 256); /* same place as c */
    gb_pad(&b, 32);
    gb_zeros(&b, 512);
    EXPECT_ERR(b, JANG_E_FORMAT, "overlap");
    /* a big tensor covering a later small one, past an unrelated one in between */
    uint64_t ne_big = 128, ne_small = 8;
    b = (gb){0};
    gb_hdr(&b, 3, 3, 0);
    gb_tinfo(&b, "big", 1, &ne_big, JANG_GGML_F32, 0);
    gb_tinfo(&b, "s1", 1, &ne_small, JANG_GGML_F32, 64);
    gb_tinfo(&b, "s2", 1, &ne_small, JANG_GGML_F32, 256);
    gb_pad(&b, 32);
    gb_zeros(&b, 512);
    EXPECT_ERR(b, JANG_E_FORMAT, "tensors 'big'");
    /* adjacent tensors and empty tensors sharing an offset are fine */
    uint64_t zero = 0;
    b = (gb){0};
    gb_hdr(&b, 3, 3, 0);
    gb_tinfo(&b, "a", 1, &ne, JANG_GGML_F32, 0);
    gb_tinfo(&b, "b", 1, &ne, JANG_GGML_F32, 128);
    gb_tinfo(&b, "e", 1, &zero, JANG_GGML_F32, 128);
    gb_pad(&b, 32);
    gb_zeros(&b, 256);
    void *copy;
    jang_gguf *g = OPEN_OK(b, &copy);
    if (g) CHECK(jang_gguf_find_tensor(g, "e")->n_elements == 0);
    jang_gguf_close(g);
    free(copy);
    free(b.p);
}

TEST(gguf_unknown_and_unsupported_types) {
    uint64_t ne[2] = {256, 2};
    gb b = one_tensor(2, ne, 99, 0, 0);
    void *copy;
    jang_gguf *g = OPEN_OK(b, &copy);
    if (g) {
        const jang_gguf_tensor *t = jang_gguf_find_tensor(g, "w");
        CHECK(t && t->type == 99 && t->n_elements == 512 && t->n_bytes == 0);
        CHECK(jang_ggml_type_name(99) == NULL && !jang_ggml_can_dequantize(99));
        float out[512];
        CHECK_EQ_INT(jang_gguf_dequantize(t, out), JANG_E_UNSUPPORTED);
        CHECK_STR(jang_last_error(), "tensor 'w': type unknown (99) cannot be dequantized");
    }
    jang_gguf_close(g);
    free(copy);
    free(b.p);
    /* a known type we do not dequantize: sizes are still validated */
    b = one_tensor(2, ne, JANG_GGML_IQ2_XXS, 0, 2 * 66);
    g = OPEN_OK(b, &copy);
    if (g) {
        const jang_gguf_tensor *t = jang_gguf_find_tensor(g, "w");
        CHECK(t && t->n_bytes == 2 * 66);
        float out[512];
        CHECK_EQ_INT(jang_gguf_dequantize(t, out), JANG_E_UNSUPPORTED);
        CHECK_STR(jang_last_error(), "tensor 'w': type IQ2_XXS (16) cannot be dequantized");
    }
    jang_gguf_close(g);
    free(copy);
    free(b.p);
    b = one_tensor(2, ne, JANG_GGML_IQ2_XXS, 0, 2 * 66 - 1);
    EXPECT_ERR(b, JANG_E_FORMAT, "past the end of the file");
}

TEST(gguf_corrupt_file_names_path) {
    char path[600];
    snprintf(path, sizeof path, "%s/bad.gguf", test_tmpdir());
    gb b = {0};
    gb_hdr(&b, 3, 0, 2);
    gb_key(&b, "k", JANG_GGUF_UINT8);
    gb_u8(&b, 1);
    gb_key(&b, "k", JANG_GGUF_UINT8);
    gb_u8(&b, 1);
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    REQUIRE(fwrite(b.p, 1, b.n, f) == b.n);
    fclose(f);
    free(b.p);
    jang_gguf *g = NULL;
    CHECK_EQ_INT(jang_gguf_open(path, &g), JANG_E_FORMAT);
    char want[700];
    snprintf(want, sizeof want, "%s: duplicate key 'k'", path);
    CHECK_STR(jang_last_error(), want);
}
