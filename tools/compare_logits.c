/* compare_logits.c — our runtime's logits against a peer's on the same token ids.
 *
 * Usage: compare-logits MODEL REF.bin   (REF.bin as written by tools/llama_logits.c)
 * Runs MODEL (any path jang_model_open accepts) on REF's tokens in one batch and prints, over
 * all positions: top-1 agreement, mean / max KL(ref || ours) of the softmax distributions, and
 * the max absolute logit difference. Exit status 0 always (it reports; tools/compare-llama judges).
 */
#include "jang.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void log_softmax(const float *x, int64_t n, double *out) {
    double mx = x[0];
    for (int64_t i = 1; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += exp(x[i] - mx);
    double lse = mx + log(s);
    for (int64_t i = 0; i < n; i++)
        out[i] = x[i] - lse;
}

static int64_t argmax(const float *x, int64_t n) {
    int64_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL REF.bin\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f) return perror(argv[2]), 1;
    int32_t n, nv;
    if (fread(&n, 4, 1, f) != 1 || fread(&nv, 4, 1, f) != 1 || n <= 0 || nv <= 0) return 1;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)n);
    float *ref = malloc(sizeof(float) * (size_t)n * (size_t)nv);
    if (fread(tok, 4, (size_t)n, f) != (size_t)n ||
        fread(ref, 4, (size_t)n * (size_t)nv, f) != (size_t)n * (size_t)nv)
        return fprintf(stderr, "%s: short file\n", argv[2]), 1;
    fclose(f);
    jang_context_opts o;
    jang_context_opts_init(&o);
    o.max_ctx = n;
    jang_model *m = NULL;
    jang_context *c = NULL;
    jang_status s = jang_model_open(argv[1], NULL, &m);
    if (!s) s = jang_context_init(m, &o, &c);
    if (s) return fprintf(stderr, "%s: %s\n", jang_status_str(s), jang_last_error()), 1;
    int64_t V = jang_model_get_desc(m)->vocab_size;
    if (V != nv) return fprintf(stderr, "vocab %lld vs %d\n", (long long)V, nv), 1;
    float *ours = malloc(sizeof(float) * (size_t)n * (size_t)nv);
    s = jang_context_forward(c, tok, n, 0, true, ours);
    if (s) return fprintf(stderr, "%s: %s\n", jang_status_str(s), jang_last_error()), 1;
    double *lp = malloc(sizeof(double) * (size_t)nv), *lq = malloc(sizeof(double) * (size_t)nv);
    double kl_sum = 0, kl_max = 0, dmax = 0;
    int same = 0;
    for (int32_t t = 0; t < n; t++) {
        const float *a = ref + (size_t)t * nv, *b = ours + (size_t)t * nv;
        log_softmax(a, nv, lp);
        log_softmax(b, nv, lq);
        double kl = 0;
        for (int32_t i = 0; i < nv; i++) {
            kl += exp(lp[i]) * (lp[i] - lq[i]);
            double d = fabs((double)a[i] - b[i]);
            if (d > dmax) dmax = d;
        }
        kl_sum += kl;
        if (kl > kl_max) kl_max = kl;
        same += argmax(a, nv) == argmax(b, nv);
    }
    printf("positions %d  same top-1 %.2f%%  mean KL %.3g  max KL %.3g  max |dlogit| %.4g\n", n,
           100.0 * same / n, kl_sum / n, kl_max, dmax);
    jang_context_free(c);
    jang_model_close(m);
    return 0;
}
