/* quant.h — internal helpers of the affine quantizer (src/quant/affine.c) that other parts of
 * libjang may share: the generic LSB-first pack/unpack body, the qtype table (the width and group
 * lists of src/format/format.h, included here: the kernels see them through this header), and
 * jang_round_dt, a value rounded to a scale dtype as MLX's f16/bf16 arithmetic does after every
 * operation (util.h's jang_round_f16 / jang_round_bf16). Public entry points are in
 * include/jang.h ("Affine quantization"). Tested by tests/test_affine.c.
 */
#ifndef JANG_QUANT_H
#define JANG_QUANT_H

#include "../format/format.h"
#include "jang.h"
#include "util.h"

#include <string.h>

/* The code widths and group sizes (JANG_AFFINE_BITS_MAP, JANG_AFFINE_GROUPS_MAP and their MAX)
 * are the format's: src/format/format.h. */

#define JANG_FORCE_INLINE static inline __attribute__((always_inline))

/* Packs n codes (each < 2^bits) into an LSB-first bit stream of uint32 words: value k occupies
 * bits [k*bits, (k+1)*bits) of the stream, word i holding stream bits [32i, 32i+32). n*bits must
 * be a multiple of 32. `bits` is a compile-time constant at every call site. */
JANG_FORCE_INLINE void jang_pack_body(const uint8_t *q, int64_t n, const int bits, uint32_t *out) {
    const uint32_t mask = (1u << bits) - 1;
    uint64_t acc = 0;
    int nacc = 0;
    for (int64_t i = 0; i < n; i++) {
        acc |= (uint64_t)(q[i] & mask) << nacc;
        nacc += bits;
        if (nacc >= 32) {
            *out++ = (uint32_t)acc;
            acc >>= 32;
            nacc -= 32;
        }
    }
}

/* Inverse of jang_pack_body: reads exactly n*bits/32 words. */
JANG_FORCE_INLINE void jang_unpack_body(const uint32_t *in, int64_t n, const int bits, uint8_t *q) {
    const uint32_t mask = (1u << bits) - 1;
    uint64_t acc = 0;
    int nacc = 0;
    for (int64_t i = 0; i < n; i++) {
        if (nacc < bits) {
            acc |= (uint64_t)*in++ << nacc;
            nacc += 32;
        }
        q[i] = (uint8_t)(acc & mask);
        acc >>= bits;
        nacc -= bits;
    }
}

static inline float jang_round_dt(float x, jang_dtype dt) {
    return dt == JANG_DT_BF16 ? jang_round_bf16(x) : jang_round_f16(x);
}

#endif
