/* logits_dump.c — raw logits of a fixed token sequence, for bit-identity checks across refactors.
 *
 * Usage: logits-dump MODEL OUT.bin [N_PROMPT [N_DECODE]]   (defaults 24 and 8)
 * Token ids are a fixed pseudo-random sequence within the vocabulary. Writes, as raw f32: the
 * logits of every prompt position from one batched call (the GEMM path), then the logits of
 * N_DECODE single-token steps after it (the GEMV path). Two builds are bit-identical on a model
 * when `cmp` finds the files equal. Build: make build/tools/logits-dump.
 */
#include "jang.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL OUT.bin [N_PROMPT [N_DECODE]]\n", argv[0]);
        return 2;
    }
    int np = argc > 3 ? atoi(argv[3]) : 24, nd = argc > 4 ? atoi(argv[4]) : 8;
    if (np < 1 || nd < 0 || np > 4096 || nd > 4096) return fprintf(stderr, "bad counts\n"), 2;
    jang_context_opts o;
    jang_context_opts_init(&o);
    o.max_ctx = np + nd;
    jang_model *m = NULL;
    jang_context *c = NULL;
    jang_status s = jang_model_open(argv[1], NULL, &m);
    if (!s) s = jang_context_init(m, &o, &c);
    if (s) return fprintf(stderr, "%s: %s\n", jang_status_str(s), jang_last_error()), 1;
    int64_t V = jang_model_get_desc(m)->vocab_size;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(np + nd));
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < np + nd; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ids[i] = (int32_t)(x % (uint64_t)V);
    }
    float *l = malloc(sizeof(float) * (size_t)V * (size_t)np);
    FILE *f = fopen(argv[2], "wb");
    if (!ids || !l || !f) return fprintf(stderr, "out of memory or %s\n", argv[2]), 1;
    s = jang_context_forward(c, ids, np, 0, true, l);
    if (!s) fwrite(l, sizeof(float), (size_t)V * (size_t)np, f);
    for (int k = 0; k < nd && !s; k++)
        if (!(s = jang_context_forward(c, ids + np + k, 1, np + k, false, l)))
            fwrite(l, sizeof(float), (size_t)V, f);
    fclose(f);
    if (s) return fprintf(stderr, "%s: %s\n", jang_status_str(s), jang_last_error()), 1;
    jang_context_free(c);
    jang_model_close(m);
    free(l);
    free(ids);
    return 0;
}
