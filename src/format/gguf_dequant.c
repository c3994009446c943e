/* gguf_dequant.c — ggml tensor types to float32, bit-exact with gguf-py's numpy dequantization
 * (gguf/quants.py, dequantize_blocks of each type; checked against gguf 0.19 / numpy 2.4).
 *
 * One scalar function per type, in a table keyed by the ggml type id; the block layout is in the
 * comment above each ("element i" is the index within the block's output). Each follows numpy's
 * arithmetic: every f16 scale is widened to f32 exactly (subnormals kept), no value is ever
 * computed in f16, and every product or sum is one float32 operation in numpy's order. All the
 * products involved are exact in f32 (an 11-bit f16 significand times at most 12 more bits:
 * scale x code), so the only rounding is the final "+ m" (Q4_1, Q5_1) or "- dmin * m" (Q2_K,
 * Q4_K, Q5_K); a fused multiply-add would therefore give the same bits, but we keep contraction
 * off anyway. F16 widening keeps NaN payloads (numpy does too: 0x7c01 -> 0x7f802000); BF16 is
 * the bits shifted left 16; F64 / integers convert with round-to-nearest-even like astype.
 * Tested by tests/test_gguf.c against goldens from tools/gen_gguf_goldens.py, and on real models
 * by tools/check_gguf_dequant.py.
 */
#include "util.h"

#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* numpy rounds every product before the add */
#endif

#define QK_K 256

typedef void (*dequant_fn)(const uint8_t *x, int64_t n_blocks, float *y);

static float f16(const uint8_t *p) { return jang_f16_to_f32(jang_rd16(p)); }

/* ---- plain element types: numpy astype(float32), round to nearest even ----------------------- */

/* F32: the bits are copied (NaN payloads included), as numpy's view(float32). */
static void deq_f32(const uint8_t *x, int64_t n, float *y) { memcpy(y, x, (size_t)n * 4); }

/* F16: exact widening; numpy keeps NaN payloads (0x7c01 -> 0x7f802000) and so do we. */
static void deq_f16(const uint8_t *x, int64_t n, float *y) {
    for (int64_t i = 0; i < n; i++)
        y[i] = f16(x + 2 * i);
}

/* BF16: numpy does (int16 -> int32) << 16 viewed as float32: the bits shifted up, exactly. */
static void deq_bf16(const uint8_t *x, int64_t n, float *y) {
    for (int64_t i = 0; i < n; i++)
        y[i] = jang_bf16_to_f32(jang_rd16(x + 2 * i));
}

static void deq_f64(const uint8_t *x, int64_t n, float *y) {
    for (int64_t i = 0; i < n; i++) {
        uint64_t u = jang_rd64(x + 8 * i);
        double d;
        memcpy(&d, &u, 8);
        y[i] = (float)d;
    }
}

static void deq_i8(const uint8_t *x, int64_t n, float *y) {
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)(int8_t)x[i];
}

static void deq_i16(const uint8_t *x, int64_t n, float *y) {
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)(int16_t)jang_rd16(x + 2 * i);
}

static void deq_i32(const uint8_t *x, int64_t n, float *y) {
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)(int32_t)jang_rd32(x + 4 * i);
}

static void deq_i64(const uint8_t *x, int64_t n, float *y) {
    for (int64_t i = 0; i < n; i++) {
        uint64_t u = jang_rd64(x + 8 * i);
        int64_t v;
        memcpy(&v, &u, 8);
        y[i] = (float)v;
    }
}

/* ---- 32-element blocks ----------------------------------------------------------------------- */

/* Q4_0 (18 bytes): f16 d, u8 qs[16]. Element i < 16 is qs[i] & 15, element i + 16 is qs[i] >> 4;
 * y = d * (q - 8). */
static void deq_q4_0(const uint8_t *x, int64_t nb, float *y) {
    for (int64_t b = 0; b < nb; b++, x += 18, y += 32) {
        const float d = f16(x);
        const uint8_t *qs = x + 2;
        for (int i = 0; i < 16; i++) {
            y[i] = d * (float)((qs[i] & 15) - 8);
            y[i + 16] = d * (float)((qs[i] >> 4) - 8);
        }
    }
}

/* Q4_1 (20 bytes): f16 d, f16 m, u8 qs[16] (nibbles as Q4_0); y = (d * q) + m. */
static void deq_q4_1(const uint8_t *x, int64_t nb, float *y) {
    for (int64_t b = 0; b < nb; b++, x += 20, y += 32) {
        const float d = f16(x), m = f16(x + 2);
        const uint8_t *qs = x + 4;
        for (int i = 0; i < 16; i++) {
            y[i] = d * (float)(qs[i] & 15) + m;
            y[i + 16] = d * (float)(qs[i] >> 4) + m;
        }
    }
}

/* Q5_0 (22 bytes): f16 d, u32 qh (little-endian; bit i is the 5th bit of element i), u8 qs[16]
 * (low nibbles as Q4_0); y = d * (q - 16). */
static void deq_q5_0(const uint8_t *x, int64_t nb, float *y) {
    for (int64_t b = 0; b < nb; b++, x += 22, y += 32) {
        const float d = f16(x);
        const uint32_t qh = jang_rd32(x + 2);
        const uint8_t *qs = x + 6;
        for (int i = 0; i < 16; i++) {
            int lo = (qs[i] & 15) | (int)(((qh >> i) & 1) << 4);
            int hi = (qs[i] >> 4) | (int)(((qh >> (i + 16)) & 1) << 4);
            y[i] = d * (float)(lo - 16);
            y[i + 16] = d * (float)(hi - 16);
        }
    }
}

/* Q5_1 (24 bytes): f16 d, f16 m, u32 qh, u8 qs[16] (as Q5_0); y = (d * q) + m. */
static void deq_q5_1(const uint8_t *x, int64_t nb, float *y) {
    for (int64_t b = 0; b < nb; b++, x += 24, y += 32) {
        const float d = f16(x), m = f16(x + 2);
        const uint32_t qh = jang_rd32(x + 4);
        const uint8_t *qs = x + 8;
        for (int i = 0; i < 16; i++) {
            int lo = (qs[i] & 15) | (int)(((qh >> i) & 1) << 4);
            int hi = (qs[i] >> 4) | (int)(((qh >> (i + 16)) & 1) << 4);
            y[i] = d * (float)lo + m;
            y[i + 16] = d * (float)hi + m;
        }
    }
}

/* Q8_0 (34 bytes): f16 d, i8 qs[32]; y = q * d. */
static void deq_q8_0(const uint8_t *x, int64_t nb, float *y) {
    for (int64_t b = 0; b < nb; b++, x += 34, y += 32) {
        const float d = f16(x);
        for (int i = 0; i < 32; i++)
            y[i] = (float)(int8_t)x[2 + i] * d;
    }
}

/* ---- 256-element super-blocks (K-quants) ----------------------------------------------------- */

/* Q2_K (84 bytes): u8 scales[16] (low nibble: scale, high nibble: min, one pair per 16 elements),
 * u8 qs[64], f16 d, f16 dmin. Element i = 128 h + 32 s + l (h < 2, s < 4, l < 32) is
 * (qs[32 h + l] >> 2 s) & 3, in sub-block i / 16; y = dl * q - ml with dl = d * scale and
 * ml = dmin * min (each an f32 product). */
static void deq_q2_k(const uint8_t *x, int64_t nb, float *y) {
    for (int64_t b = 0; b < nb; b++, x += 84, y += QK_K) {
        const uint8_t *sc = x, *qs = x + 16;
        const float d = f16(x + 80), dmin = f16(x + 82);
        for (int i = 0; i < QK_K; i++) {
            int h = i / 128, s = (i / 32) % 4, l = i % 32;
            const float dl = d * (float)(sc[i / 16] & 15), ml = dmin * (float)(sc[i / 16] >> 4);
            y[i] = dl * (float)((qs[32 * h + l] >> (2 * s)) & 3) - ml;
        }
    }
}

/* Q3_K (110 bytes): u8 hmask[32], u8 qs[64], u8 scales[12], f16 d.
 * 16 6-bit scales (minus 32): scale j has low nibble (scales[j % 8] >> 4 (j / 8)) & 15 and high
 * bits (scales[8 + j % 4] >> 2 (j / 4)) & 3. Element i = 128 h + 32 s + l has low bits
 * (qs[32 h + l] >> 2 s) & 3 and, when bit i / 32 of hmask[l] is clear, 4 subtracted;
 * y = (d * scale) * q. */
static void deq_q3_k(const uint8_t *x, int64_t nb, float *y) {
    for (int64_t b = 0; b < nb; b++, x += 110, y += QK_K) {
        const uint8_t *hm = x, *qs = x + 32, *sc = x + 96;
        const float d = f16(x + 108);
        float dl[16];
        for (int j = 0; j < 16; j++) {
            int lo = (sc[j % 8] >> (4 * (j / 8))) & 15;
            int hi = (sc[8 + j % 4] >> (2 * (j / 4))) & 3;
            dl[j] = d * (float)((lo | (hi << 4)) - 32);
        }
        for (int i = 0; i < QK_K; i++) {
            int h = i / 128, s = (i / 32) % 4, l = i % 32;
            int q = (qs[32 * h + l] >> (2 * s)) & 3;
            if (!((hm[l] >> (i / 32)) & 1)) q -= 4;
            y[i] = dl[i / 16] * (float)q;
        }
    }
}

/* The 8 6-bit (scale, min) pairs of Q4_K / Q5_K, packed in 12 bytes:
 *  j < 4: scale = s[j] & 63, min = s[j + 4] & 63;
 *  j >= 4: scale = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4, min = (s[j + 4] >> 4) | (s[j] >> 6)
 * << 4.
 */
static void k4_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* Q4_K (144 bytes): f16 d, f16 dmin, u8 scales[12], u8 qs[128]. Element i = 64 h + 32 s + l
 * (s < 2) is (qs[32 h + l] >> 4 s) & 15 in sub-block i / 32; y = (d * sc) * q - (dmin * m). */
static void deq_q4_k(const uint8_t *x, int64_t nb, float *y) {
    for (int64_t b = 0; b < nb; b++, x += 144, y += QK_K) {
        const float d = f16(x), dmin = f16(x + 2);
        const uint8_t *qs = x + 16;
        for (int j = 0; j < 8; j++) {
            int sc, m;
            k4_scale_min(x + 4, j, &sc, &m);
            const float dl = d * (float)sc, ml = dmin * (float)m;
            const uint8_t *q = qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++)
                y[32 * j + l] = dl * (float)((q[l] >> shift) & 15) - ml;
        }
    }
}

/* Q5_K (176 bytes): f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]. Low 4 bits as Q4_K;
 * the 5th bit of element i is bit i / 32 of qh[i % 32]; y = (d * sc) * q - (dmin * m). */
static void deq_q5_k(const uint8_t *x, int64_t nb, float *y) {
    for (int64_t b = 0; b < nb; b++, x += 176, y += QK_K) {
        const float d = f16(x), dmin = f16(x + 2);
        const uint8_t *qh = x + 16, *qs = x + 48;
        for (int j = 0; j < 8; j++) {
            int sc, m;
            k4_scale_min(x + 4, j, &sc, &m);
            const float dl = d * (float)sc, ml = dmin * (float)m;
            const uint8_t *q = qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++) {
                int v = ((q[l] >> shift) & 15) | (((qh[l] >> j) & 1) << 4);
                y[32 * j + l] = dl * (float)v - ml;
            }
        }
    }
}

/* Q6_K (210 bytes): u8 ql[128], u8 qh[64], i8 scales[16], f16 d. Element i = 128 h + 64 s + l
 * (s < 2, l < 64) has low bits (ql[64 h + l] >> 4 s) & 15; element i = 128 h + 32 t + l
 * (t < 4, l < 32) has high bits (qh[32 h + l] >> 2 t) & 3; q = (low | high << 4) - 32;
 * y = (d * scales[i / 16]) * q. */
static void deq_q6_k(const uint8_t *x, int64_t nb, float *y) {
    for (int64_t b = 0; b < nb; b++, x += 210, y += QK_K) {
        const uint8_t *ql = x, *qh = x + 128;
        const int8_t *sc = (const int8_t *)(x + 192);
        const float d = f16(x + 208);
        for (int i = 0; i < QK_K; i++) {
            int h = i / 128, r = i % 128;
            int lo = (ql[64 * h + r % 64] >> (4 * (r / 64))) & 15;
            int hi = (qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
            y[i] = (d * (float)sc[i / 16]) * (float)((lo | (hi << 4)) - 32);
        }
    }
}

/* ---- the table ------------------------------------------------------------------------------- */

static const struct {
    uint32_t type;
    dequant_fn fn;
} dequant_table[] = {
    {JANG_GGML_F32, deq_f32},   {JANG_GGML_F16, deq_f16},   {JANG_GGML_BF16, deq_bf16},
    {JANG_GGML_F64, deq_f64},   {JANG_GGML_I8, deq_i8},     {JANG_GGML_I16, deq_i16},
    {JANG_GGML_I32, deq_i32},   {JANG_GGML_I64, deq_i64},   {JANG_GGML_Q4_0, deq_q4_0},
    {JANG_GGML_Q4_1, deq_q4_1}, {JANG_GGML_Q5_0, deq_q5_0}, {JANG_GGML_Q5_1, deq_q5_1},
    {JANG_GGML_Q8_0, deq_q8_0}, {JANG_GGML_Q2_K, deq_q2_k}, {JANG_GGML_Q3_K, deq_q3_k},
    {JANG_GGML_Q4_K, deq_q4_k}, {JANG_GGML_Q5_K, deq_q5_k}, {JANG_GGML_Q6_K, deq_q6_k},
};

static dequant_fn find_fn(uint32_t type) {
    for (size_t i = 0; i < sizeof dequant_table / sizeof dequant_table[0]; i++)
        if (dequant_table[i].type == type) return dequant_table[i].fn;
    return NULL;
}

bool jang_ggml_can_dequantize(uint32_t type) { return find_fn(type) != NULL; }

static jang_status unsupported(const char *what, uint32_t type) {
    const char *name = jang_ggml_type_name(type);
    return jang_fail(JANG_E_UNSUPPORTED, "%s%stype %s (%u) cannot be dequantized", what ? what : "",
                     what ? ": " : "", name ? name : "unknown", type);
}

jang_status jang_ggml_dequantize_raw(uint32_t type, const void *data, int64_t n, float *out) {
    dequant_fn fn = find_fn(type);
    if (!fn) return unsupported(NULL, type);
    int64_t block;
    size_t tsize;
    JANG_ASSERT(jang_ggml_type_info(type, &block, &tsize));
    if (n < 0 || n % block != 0)
        return jang_fail(JANG_E_ARG,
                         "dequantize %s: %lld elements is not a multiple of the block "
                         "size %lld",
                         jang_ggml_type_name(type), (long long)n, (long long)block);
    if (n > 0 && (!data || !out))
        return jang_fail(JANG_E_ARG, "dequantize %s: NULL data or output",
                         jang_ggml_type_name(type));
    if (n > 0) fn((const uint8_t *)data, n / block, out);
    return JANG_OK;
}

jang_status jang_gguf_dequantize(const jang_gguf_tensor *t, float *out) {
    if (!t) return jang_fail(JANG_E_ARG, "jang_gguf_dequantize: tensor is NULL");
    char what[200], buf[160];
    snprintf(what, sizeof what, "tensor '%s'",
             jang_printable(t->name, strlen(t->name), buf, sizeof buf));
    if (!find_fn(t->type)) return unsupported(what, t->type);
    jang_status s = jang_ggml_dequantize_raw(t->type, t->data, t->n_elements, out);
    if (s) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", jang_last_error());
        return jang_fail(s, "%s: %s", what, msg);
    }
    return JANG_OK;
}
