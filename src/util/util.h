/* util.h — internal helpers shared by every part of libjang: error reporting, checked arithmetic,
 * read-only file mapping, small string helpers. Not part of the public API.
 * Tested by tests/test_util.c.
 */
#ifndef JANG_UTIL_H
#define JANG_UTIL_H

#include "jang.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Records a detail string for the current thread and returns s. */
jang_status jang_fail(jang_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Aborts with file:line for broken internal invariants (never for bad input). */
#define JANG_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "jang: internal error %s:%d: %s\n", __FILE__, __LINE__, #cond);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Checked arithmetic: return false on overflow. */
static inline bool jang_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool jang_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

/* A read-only memory map of a whole file. Empty files map to data == NULL, size == 0. */
typedef struct jang_map {
    const uint8_t *data;
    size_t size;
    char *path;
} jang_map;

jang_status jang_map_open(const char *path, jang_map *m);
void jang_map_close(jang_map *m);

/* Reads a whole (small) file into a NUL-terminated buffer; refuses files over max_bytes. */
jang_status jang_read_file(const char *path, size_t max_bytes, char **out, size_t *len);

/* Tests only: fn(path, ctx) is called by every jang_read_file of this thread before it opens
 * the file (NULL: none), so a test can count how often one open reads, say, config.json
 * (tests/test_model.c). */
void jang_debug_on_read(void (*fn)(const char *path, void *ctx), void *ctx);

/* malloc/calloc that record JANG_E_NOMEM detail on failure (caller still checks NULL). */
void *jang_malloc(size_t n, const char *what);
void *jang_calloc(size_t n, size_t size, const char *what);
char *jang_strdup(const char *s);
char *jang_strndup(const char *s, size_t n);

/* Joins dir and name with one '/' into a malloc'ed string (NULL on OOM). */
char *jang_path_join(const char *dir, const char *name);
bool jang_is_dir(const char *path);
bool jang_file_exists(const char *path);

/* Writes a printable, escaped copy of untrusted bytes into buf (for error messages). */
const char *jang_printable(const char *s, size_t len, char *buf, size_t cap);

/* IEEE half / bfloat16 -> float conversions (exact). */
float jang_f16_to_f32(uint16_t h);
float jang_bf16_to_f32(uint16_t h);
uint16_t jang_f32_to_f16(float f);  /* round to nearest even, like numpy / MLX */
uint16_t jang_f32_to_bf16(float f); /* round to nearest even */

static inline uint32_t jang_fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float jang_bitsf(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The one float -> f16 -> float rounding: x rounded to the nearest IEEE half (ties to even,
 * overflow to +-inf, NaN quieted with its payload cut to 10 bits), as a float. Bit for bit
 * jang_f16_to_f32(jang_f32_to_f16(x)) for every x (tests/test_util.c), inline and branch-free
 * enough to vectorize: MLX's f16 arithmetic rounds after every operation (the quantizer, quant.h)
 * and the converter rounds every source value (two calls were a third of its time). */
static inline float jang_round_f16(float x) {
    uint32_t u = jang_fbits(x);
    uint32_t sign = u & 0x80000000u, ax = u & 0x7fffffffu;
    /* normal halves: keep 10 mantissa bits, round to nearest even on the 13 dropped bits */
    uint32_t rn = (ax + 0xfffu + ((ax >> 13) & 1)) & 0xffffe000u;
    /* subnormal halves (|x| < 2^-14): the quantum is 2^-24; 0.75 has exactly that ulp in f32 */
    float sub = (jang_bitsf(ax) + 0.75f) - 0.75f;
    uint32_t r = ax < 0x38800000u ? jang_fbits(sub) : rn;
    r = r > 0x477fe000u ? 0x7f800000u : r;                       /* above 65504: inf */
    r = ax > 0x7f800000u ? (ax & 0xffffe000u) | 0x00400000u : r; /* NaN: quiet, 10-bit payload */
    return jang_bitsf(r | sign);
}

/* x rounded to the nearest bfloat16 (ties to even), as a float. Same result as
 * jang_bf16_to_f32(jang_f32_to_bf16(x)) for every non-NaN x. */
static inline float jang_round_bf16(float x) {
    uint32_t u = jang_fbits(x);
    u += 0x7fffu + ((u >> 16) & 1);
    return jang_bitsf(u & 0xffff0000u);
}

static inline uint16_t jang_rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t jang_rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t jang_rd64(const uint8_t *p) {
    return (uint64_t)jang_rd32(p) | ((uint64_t)jang_rd32(p + 4) << 32);
}

#endif
