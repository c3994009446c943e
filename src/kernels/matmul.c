/* matmul.c — reference matrix products over jang_weight (see matmul.h).
 *
 * Each worker owns a contiguous range of output rows; it converts one weight row to f32 at a
 * time and dots it with every token's activations, so the weights are read once per call.
 * Affine rows are unpacked with the LSB-first bit-stream layout of DESIGN.md §3.2 and
 * dequantized as scale * q + bias in f32.
 */
#include "matmul.h"
#include "util.h"

#include <string.h>

static float scale_at(jang_dtype dt, const uint16_t *p, int64_t i) {
    return dt == JANG_DT_BF16 ? jang_bf16_to_f32(p[i]) : jang_f16_to_f32(p[i]);
}

void jang_weight_row(const jang_weight *w, int64_t r, float *out) {
    int64_t cols = w->cols;
    switch (w->kind) {
    case JANG_WK_F32:
        memcpy(out, (const float *)w->data + r * cols, (size_t)cols * sizeof(float));
        break;
    case JANG_WK_F16: {
        const uint16_t *p = (const uint16_t *)w->data + r * cols;
        for (int64_t c = 0; c < cols; c++)
            out[c] = jang_f16_to_f32(p[c]);
        break;
    }
    case JANG_WK_BF16: {
        const uint16_t *p = (const uint16_t *)w->data + r * cols;
        for (int64_t c = 0; c < cols; c++)
            out[c] = jang_bf16_to_f32(p[c]);
        break;
    }
    case JANG_WK_AFFINE: {
        const int bits = w->bits;
        const int64_t words = cols * bits / 32, ng = cols / w->group;
        const uint8_t *row = (const uint8_t *)((const uint32_t *)w->data + r * words);
        const uint32_t mask = (1u << bits) - 1;
        for (int64_t g = 0; g < ng; g++) {
            float s = scale_at(w->sdtype, w->scales, r * ng + g);
            float b = scale_at(w->sdtype, w->biases, r * ng + g);
            for (int64_t k = g * w->group; k < (g + 1) * w->group; k++) {
                int64_t bit = k * bits;
                /* a value spans at most 2 bytes for bits <= 8 */
                uint32_t v = row[bit >> 3];
                if ((bit & 7) + bits > 8) v |= (uint32_t)row[(bit >> 3) + 1] << 8;
                uint32_t q = (v >> (bit & 7)) & mask;
                out[k] = s * (float)q + b;
            }
        }
        break;
    }
    }
}

static float dot_f32(const float *a, const float *b, int64_t n) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

typedef struct {
    const jang_weight *w;
    const float *x, *bias;
    float *y, *scratch;
    int64_t n;
} matmul_ctx;

static void matmul_worker(void *arg, int wid, int nw) {
    matmul_ctx *c = arg;
    const jang_weight *w = c->w;
    int64_t r0, r1;
    jang_pool_split(w->rows, wid, nw, 4, &r0, &r1);
    float *row = c->scratch + (size_t)wid * (size_t)w->cols;
    for (int64_t r = r0; r < r1; r++) {
        const float *wr;
        if (w->kind == JANG_WK_F32) {
            wr = (const float *)w->data + r * w->cols;
        } else {
            jang_weight_row(w, r, row);
            wr = row;
        }
        float b = c->bias ? c->bias[r] : 0.0f;
        for (int64_t t = 0; t < c->n; t++)
            c->y[t * w->rows + r] = dot_f32(wr, c->x + t * w->cols, w->cols) + b;
    }
}

void jang_matmul(jang_pool *pool, const jang_weight *w, const float *x, int64_t n,
                 const float *bias, float *y) {
    int nw = jang_pool_size(pool);
    float *scratch = malloc((size_t)nw * (size_t)w->cols * sizeof(float));
    JANG_ASSERT(scratch != NULL);
    matmul_ctx c = {w, x, bias, y, scratch, n};
    jang_pool_run(pool, matmul_worker, &c);
    free(scratch);
}
