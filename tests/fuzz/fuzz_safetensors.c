/* fuzz_safetensors.c — libFuzzer target for the safetensors header validator.
 *
 * Feeds each input to jang_st_open_memory (the same parser jang_st_open runs on a mapped file),
 * then touches the first and last byte of every tensor, looks every tensor up by name and checks
 * the invariants a caller relies on. Seeds: tests/fuzz/corpus/fuzz_safetensors (written by
 * `JANG_WRITE_SEEDS=tests/fuzz/corpus/fuzz_safetensors build/jang-tests st_fuzz_seeds`).
 * Run: make fuzz FUZZ_SECONDS=60, or build-fuzz/fuzz_safetensors DIR after make build-fuzz/...
 */
#include "../../src/format/format.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile uint8_t sink;

#define REQUIRE_FUZZ(c)                                                                            \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    jang_st *st = NULL;
    jang_status s = jang_st_open_memory(data, size, "fuzz.safetensors", &st);
    if (s != JANG_OK) {
        REQUIRE_FUZZ(st == NULL && jang_last_error()[0] != '\0');
        return 0;
    }
    const uint8_t *end = data + size;
    const uint8_t *prev = NULL;
    for (int64_t i = 0; i < jang_st_count(st); i++) {
        const jang_tensor *t = jang_st_get(st, i);
        REQUIRE_FUZZ(t && t->name[0] && t->n_dims >= 0 && t->n_dims <= JANG_MAX_DIMS);
        REQUIRE_FUZZ((uint64_t)t->n_elements * jang_dtype_size(t->dtype) == t->n_bytes);
        const uint8_t *p = t->data;
        REQUIRE_FUZZ(p >= data + 8 && p <= end && t->n_bytes <= (size_t)(end - p));
        REQUIRE_FUZZ(!prev || p >= prev); /* sorted by offset */
        prev = p;
        if (t->n_bytes) sink ^= (uint8_t)(p[0] ^ p[t->n_bytes - 1]);
        REQUIRE_FUZZ(jang_st_find(st, t->name) == t);
    }
    const char *v = jang_st_metadata(st, "format");
    if (v) sink ^= (uint8_t)strlen(v);
    jang_st_close(st);
    return 0;
}
