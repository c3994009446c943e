/* qdir_dequant_dump.c — dequantizes every quantized module of a JANG v2 / MLX directory with
 * libjang (jang_qmodel_open + jang_affine_dequantize) into one safetensors file, for the Python
 * compatibility checks (tools/check_mlx_load.py, tools/check_jang_compat.py) to compare with
 * mx.dequantize bit for bit.
 *
 * Usage: build/tools/qdir-dequant-dump DIR OUT.safetensors
 * OUT holds one tensor per quantized module, named by the module path, with the logical shape
 * (..., out, in) in the scale dtype (F16/BF16: mx.dequantize's output dtype; exact, since
 * jang_affine_dequantize returns the F16/BF16 results as f32). stdout gets one TSV line per module:
 * module, bits, group, rows, cols, scale dtype, where (bits, group) came from.
 * Build: make build/tools/qdir-dequant-dump. Not part of make test.
 */
#include "jang.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, jang_status s) {
    fprintf(stderr, "qdir-dequant-dump: %s: %s: %s\n", what, jang_status_str(s), jang_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: qdir-dequant-dump DIR OUT.safetensors\n");
        return 2;
    }
    jang_qmodel *m = NULL;
    jang_status s = jang_qmodel_open(argv[1], &m);
    if (s) return fail(argv[1], s);
    jang_st_writer *w = NULL;
    if ((s = jang_st_writer_open(argv[2], &w))) return fail(argv[2], s);
    for (int64_t i = 0; i < jang_qmodel_count(m) && !s; i++) {
        const jang_qtensor *e = jang_qmodel_get(m, i);
        if (!e->quantized) continue;
        if (e->scale_dtype == JANG_DT_F32) {
            fprintf(stderr, "qdir-dequant-dump: %s: F32 scales not supported, skipped\n", e->name);
            continue;
        }
        s = jang_st_writer_declare(w, e->name, e->scale_dtype, e->n_dims, e->shape);
    }
    for (int64_t i = 0; i < jang_qmodel_count(m) && !s; i++) {
        const jang_qtensor *e = jang_qmodel_get(m, i);
        if (!e->quantized || e->scale_dtype == JANG_DT_F32) continue;
        size_t nw = e->weight->n_bytes, ns = e->scales->n_bytes;
        uint32_t *codes = malloc(nw ? nw : 1); /* copies: the views need not be aligned */
        uint16_t *sc = malloc(ns ? ns : 1), *bi = malloc(ns ? ns : 1);
        float *out = malloc((size_t)e->n_params * sizeof(float));
        uint16_t *h = malloc((size_t)e->n_params * 2);
        if (!codes || !sc || !bi || !out || !h) return fail(e->name, JANG_E_NOMEM);
        memcpy(codes, e->codes, nw);
        memcpy(sc, e->scale_data, ns);
        memcpy(bi, e->bias_data, ns);
        s = jang_affine_dequantize(codes, sc, bi, e->rows, e->cols, e->bits, e->group,
                                   e->scale_dtype, out);
        for (int64_t k = 0; !s && k < e->n_params; k++)
            h[k] =
                e->scale_dtype == JANG_DT_F16 ? jang_f32_to_f16(out[k]) : jang_f32_to_bf16(out[k]);
        if (!s) s = jang_st_writer_write(w, h, (size_t)e->n_params * 2);
        if (s) fail(e->name, s);
        printf("%s\t%d\t%d\t%lld\t%lld\t%s\t%s\n", e->name, e->bits, e->group, (long long)e->rows,
               (long long)e->cols, jang_dtype_name(e->scale_dtype), jang_qsource_name(e->source));
        free(codes), free(sc), free(bi), free(out), free(h);
    }
    if (s) {
        jang_st_writer_abort(w);
        jang_qmodel_close(m);
        return 1;
    }
    if ((s = jang_st_writer_finish(w))) return fail(argv[2], s);
    jang_qmodel_close(m);
    return 0;
}
