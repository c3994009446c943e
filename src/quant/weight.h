/* weight.h — a weight view: one linear layer's matrix as stored (plain F32/F16/BF16 rows, or MLX
 * affine groups: packed uint32 codes + f16/bf16 scales and biases), wherever a backend placed it.
 * The loader (src/model/model_load.c) fills it from the file, a backend may move its data (device
 * memory), the kernels (src/kernels/) read it. Header only.
 */
#ifndef JANG_WEIGHT_H
#define JANG_WEIGHT_H

#include "jang.h"

typedef enum {
    JANG_WK_F32,
    JANG_WK_F16,
    JANG_WK_BF16,
    JANG_WK_AFFINE,
} jang_wkind;

typedef struct jang_weight {
    jang_wkind kind;
    int64_t rows, cols;              /* out features, in features */
    const void *data;                /* (rows, cols) elements, or uint32 (rows, cols*bits/32) */
    const uint16_t *scales, *biases; /* AFFINE: (rows, cols/group), f16 or bf16 */
    jang_dtype sdtype;               /* AFFINE: dtype of scales and biases */
    int bits, group;                 /* AFFINE */
} jang_weight;

/* Bytes of the matrix as stored (codes + scales + biases for AFFINE). */
static inline int64_t jang_weight_bytes(const jang_weight *w) {
    switch (w->kind) {
    case JANG_WK_F32:
        return w->rows * w->cols * 4;
    case JANG_WK_F16:
    case JANG_WK_BF16:
        return w->rows * w->cols * 2;
    case JANG_WK_AFFINE:
        return w->rows * w->cols * w->bits / 8 + 2 * w->rows * (w->cols / w->group) * 2;
    }
    return 0;
}

#endif
