/* fuzz_gguf.c — libFuzzer target for the GGUF reader and dequantizer.
 *
 * Opens the input with jang_gguf_open_memory (from an exact-size copy, so ASan sees over-reads),
 * then touches everything a caller may: every key and value (nested arrays and strings
 * included, every byte of them), the typed getters, every tensor and its data, and dequantizes
 * the first elements (up to 64 Ki) of tensors of supported types. Failures must leave an error.
 * Build and run: make build-fuzz/fuzz_gguf && make fuzz (seeds in tests/fuzz/corpus/fuzz_gguf).
 */
#include "jang.h"

#include "../../src/format/gguf_internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DEQUANT (64 * 1024)

static volatile uint64_t sink;

static void touch(const void *p, uint64_t n) {
    const uint8_t *b = p;
    uint64_t h = 0;
    for (uint64_t i = 0; i < n; i++)
        h = h * 31 + b[i];
    sink += h;
}

static void walk(const jang_gguf_value *v, int depth) {
    if (depth > JANG_GGUF_MAX_DEPTH + 1) abort(); /* the parser must have refused this */
    switch (v->type) {
    case JANG_GGUF_STRING:
        touch(v->v.str.ptr, v->v.str.len);
        break;
    case JANG_GGUF_ARRAY: {
        static const uint8_t size[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
        if ((unsigned)v->v.arr.type > 12) abort();
        if (v->v.arr.type == JANG_GGUF_STRING || v->v.arr.type == JANG_GGUF_ARRAY) {
            if (v->v.arr.n && !v->v.arr.items) abort();
            for (uint64_t i = 0; i < v->v.arr.n; i++) {
                if (v->v.arr.items[i].type != v->v.arr.type) abort();
                walk(&v->v.arr.items[i], depth + 1);
            }
        } else {
            touch(v->v.arr.raw, v->v.arr.n * size[v->v.arr.type]);
        }
        break;
    }
    case JANG_GGUF_BOOL:
        sink += v->v.b;
        break;
    default:
        sink += v->v.u64;
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    jang_gguf *g = NULL;
    jang_clear_error();
    jang_status s = jang_gguf_open_memory(size ? copy : NULL, size, "fuzz.gguf", &g);
    if (s != JANG_OK) {
        if (g || !jang_last_error()[0]) abort();
        free(copy);
        return 0;
    }
    for (int64_t i = 0; i < jang_gguf_n_kv(g); i++) {
        const char *key = jang_gguf_key(g, i);
        const jang_gguf_value *v = jang_gguf_value_at(g, i);
        if (!key || !v || jang_gguf_find(g, key) != v) abort();
        walk(v, 0);
        int64_t i64;
        double f64;
        bool b;
        sink += jang_gguf_get_i64(g, key, &i64) + jang_gguf_get_f64(g, key, &f64) +
                jang_gguf_get_bool(g, key, &b);
        const char *str = jang_gguf_get_str(g, key);
        if (str) sink += strlen(str);
    }
    float *out = malloc(MAX_DEQUANT * sizeof(float));
    for (int64_t i = 0; out && i < jang_gguf_n_tensors(g); i++) {
        const jang_gguf_tensor *t = jang_gguf_tensor_at(g, i);
        if (jang_gguf_find_tensor(g, t->name) != t) abort();
        touch(t->data, t->n_bytes);
        int64_t bs;
        size_t ts;
        if (!jang_ggml_can_dequantize(t->type) || !jang_ggml_type_info(t->type, &bs, &ts)) continue;
        int64_t n = t->n_elements < MAX_DEQUANT ? t->n_elements : MAX_DEQUANT;
        n -= n % bs;
        if ((uint64_t)(n / bs) * ts > t->n_bytes) abort();
        if (jang_ggml_dequantize_raw(t->type, t->data, n, out) != JANG_OK) abort();
        if (t->n_elements <= MAX_DEQUANT && jang_gguf_dequantize(t, out) != JANG_OK) abort();
    }
    free(out);
    jang_gguf_close(g);
    free(copy);
    return 0;
}
