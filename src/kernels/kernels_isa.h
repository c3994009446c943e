/* kernels_isa.h — what an ISA file (kernels_avx2.c, kernels_avx512.c) includes first, after
 * defining KB_L (int16 lanes per vector): the headers, and the code geometry shared by its
 * unpacker and kernels_body.h (see that file for the order of codes in a block).
 */
#ifndef JANG_KERNELS_ISA_H
#define JANG_KERNELS_ISA_H

#include "../quant/quant.h"
#include "kernels.h"
#include "util.h"

#include <string.h>

#ifndef KB_L
#error "define KB_L before including kernels_isa.h"
#endif

/* ---- code geometry --------------------------------------------------------------------------- */

#define KB_ALIGNED(bits) (8 % (bits) == 0)
/* bytes loaded per block by the byte-aligned unpack */
#define KB_BYTES(bits, group) ((group) * (bits) / 8 < KB_L ? (group) * (bits) / 8 : KB_L)
/* codes per block, and vectors per block */
#define KB_NB(bits, group) (KB_ALIGNED(bits) ? KB_BYTES(bits, group) * (8 / (bits)) : KB_L)
#define KB_NV(bits, group) (KB_NB(bits, group) / KB_L)
#define KB_MAX_NB (4 * KB_L) /* 2 bits, group >= 4 * KB_L */
#define KB_MAX_NV 4
#define KB_MAX_R 4
#define KB_MAX_T 4

/* Widths 3, 5, 6 (a code may straddle two bytes): each 16 lanes hold 16 consecutive codes with
 * lanes 2p and 2p+1 holding codes p and p+8 (p < 8), which sit at the same bit offset within
 * their byte pair, (p*bits) % 8. The unpacker only masks each code in place (q << that offset),
 * pmaddwd sums lanes of equal offset, and int32 lane p (mod 8) is scaled back by
 * 2^-((p*bits) % 8) once per group (exact: a power of two). */
#define KB_PAIR_SHIFT(bits, p) (((p) % 8) * (bits) % 8)

/* The code (index within its block) that position i of the block's int16 vectors holds. */
JANG_FORCE_INLINE int kb_code_of(const int bits, const int group, int i) {
    if (!KB_ALIGNED(bits)) {
        int m = i % 16;
        return i - m + m / 2 + 8 * (m % 2);
    }
    const int B = KB_BYTES(bits, group), per = 8 / bits;
    int j = i / KB_L, l = i % KB_L;
    int k = j * (KB_L / B) + l / B;
    return (l % B) * per + k;
}

#endif
