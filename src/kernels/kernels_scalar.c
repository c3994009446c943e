/* kernels_scalar.c — the "scalar" table: the correct, simple reference every fast kernel is
 * checked against (tests/test_kernels.c), and what JANG_ISA=scalar runs.
 *
 * Each worker converts one weight row at a time to f32 (jang_weight_row: affine rows unpacked
 * from the LSB-first bit stream of DESIGN.md §3.2 and dequantized as scale * q + bias in f32) into
 * its scratch and dots it with every token's activations, so the weights are read once per call.
 */
#include "../quant/quant.h"
#include "kernels.h"
#include "util.h"

#include <math.h>
#include <string.h>

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

static void ref_rows(const jang_kjob *j, int64_t r0, int64_t r1, void *scratch) {
    const jang_weight *w = j->w;
    float *row = scratch;
    for (int64_t r = r0; r < r1; r++) {
        const float *wr;
        if (w->kind == JANG_WK_F32) {
            wr = (const float *)w->data + r * w->cols;
        } else {
            jang_weight_row(w, r, row);
            wr = row;
        }
        float b = j->bias ? j->bias[r] : 0.0f;
        for (int64_t t = 0; t < j->n; t++)
            j->y[t * w->rows + r] = dot_f32(wr, j->x + t * w->cols, w->cols) + b;
    }
}

/* The reference attention of one query (what the forward pass did inline before the kernel tables).
 */
static void ref_attend1(const float *q, const float *k, const float *v, int64_t stride, int64_t len,
                        int64_t hd, float scale, float *sc, float *o) {
    float mx = -INFINITY;
    for (int64_t j = 0; j < len; j++) {
        const float *kj = k + j * stride;
        float s = 0.0f;
        for (int64_t i = 0; i < hd; i++)
            s += q[i] * kj[i];
        sc[j] = s * scale;
        if (sc[j] > mx) mx = sc[j];
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < len; j++)
        sum += sc[j] = expf(sc[j] - mx);
    float inv = 1.0f / sum;
    memset(o, 0, (size_t)hd * sizeof(float));
    for (int64_t j = 0; j < len; j++) {
        const float *vj = v + j * stride;
        float p = sc[j] * inv;
        for (int64_t i = 0; i < hd; i++)
            o[i] += p * vj[i];
    }
}

static void ref_attend(const float *q, int64_t qs, int nq, const float *k, const float *v,
                       int64_t stride, int64_t len, int64_t hd, float scale, float *sc, float *o,
                       int64_t os) {
    for (int u = 0; u < nq; u++)
        ref_attend1(q + u * qs, k, v, stride, len + u, hd, scale, sc, o + u * os);
}

static void ref_swiglu(float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
}

#define REF_ROW_(b) [b] = {ref_rows, NULL},
const jang_kernels jang_kernels_scalar = {
    .name = "scalar",
    .affine = {JANG_AFFINE_BITS_MAP(REF_ROW_)},
    .plain = {ref_rows, ref_rows, ref_rows},
    .attend = ref_attend,
    .swiglu = ref_swiglu,
};
