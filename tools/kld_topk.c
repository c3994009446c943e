/* kld_topk.c — how close a top-k (+ tail samples) reference gets to the exact KL divergence, on
 * real models: runs the reference and the evaluated GGUF over the first N chunks of a text
 * (llama-perplexity chunking, as `jang ppl`), keeps both models' full logits of the scored
 * positions, and compares the exact mean KL(P||Q) with what jang_ppl_acc reports from records made
 * by jang_ref_token_make (the code `jang ppl --save-ref / --ref` uses) for several (k, m).
 *   make build/tools/kld-topk
 *   build/tools/kld-topk REF.gguf QUANT.gguf TEXT [N_CHUNKS=2] [CTX=512] [THREADS=2]
 * Memory: 2 x N x (CTX/2) x vocabulary floats. Numbers in docs/QUALITY.md.
 */
#include "jang.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* the percentile as llama-perplexity (and jang_ppl_acc_stats) computes it */
static double percentile(const double *v, int n, double f) {
    double p = f * (n - 1);
    int i = (int)p;
    return i + 1 < n ? (1 - (p - i)) * v[i] + (p - i) * v[i + 1] : v[n - 1];
}

static float *scored_logits(const char *path, const int32_t *tok, int n_chunks, int ctx, int bos,
                            int threads, int64_t *V) {
    jang_context_opts o;
    jang_context_opts_init(&o);
    o.n_threads = threads;
    o.max_ctx = ctx;
    jang_model *m = NULL;
    jang_context *c = NULL;
    if (jang_model_open(path, NULL, &m) || jang_context_init(m, &o, &c)) {
        fprintf(stderr, "%s: %s\n", path, jang_last_error());
        exit(1);
    }
    *V = jang_model_get_desc(m)->vocab_size;
    int first = ctx / 2, ns = ctx - 1 - first;
    float *out = malloc((size_t)n_chunks * ns * (size_t)*V * sizeof(float));
    float *lg = malloc((size_t)ns * (size_t)*V * sizeof(float));
    int32_t *ch = malloc((size_t)ctx * sizeof(int32_t));
    if (!out || !lg || !ch) exit(1);
    for (int c = 0; c < n_chunks; c++) {
        memcpy(ch, tok + (size_t)c * ctx, (size_t)ctx * sizeof(int32_t));
        if (bos >= 0) ch[0] = bos;
        if (jang_context_forward(c, ch, first, 0, false, lg) ||
            jang_context_forward(c, ch + first, ns, first, true, lg)) {
            fprintf(stderr, "%s\n", jang_last_error());
            exit(1);
        }
        memcpy(out + (size_t)c * ns * *V, lg, (size_t)ns * (size_t)*V * sizeof(float));
    }
    free(lg);
    free(ch);
    jang_context_free(c);
    jang_model_close(m);
    return out;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: kld-topk REF.gguf QUANT.gguf TEXT [N_CHUNKS] [CTX] [THREADS]\n");
        return 2;
    }
    int n_chunks = argc > 4 ? atoi(argv[4]) : 2, ctx = argc > 5 ? atoi(argv[5]) : 512;
    int threads = argc > 6 ? atoi(argv[6]) : 2;
    jang_gguf *g = NULL;
    jang_tokenizer *t = NULL;
    if (jang_gguf_open(argv[1], &g) || jang_tokenizer_from_gguf(g, &t)) {
        fprintf(stderr, "%s\n", jang_last_error());
        return 1;
    }
    FILE *f = fopen(argv[3], "rb");
    if (!f) return 1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)len);
    if (!text || fread(text, 1, (size_t)len, f) != (size_t)len) return 1;
    fclose(f);
    if (len > 0 && text[len - 1] == '\n') len--;
    int32_t *tok = NULL;
    int64_t n = 0;
    if (jang_tokenizer_encode(t, text, (size_t)len, JANG_ENCODE_ADD_SPECIAL, &tok, &n)) return 1;
    if (jang_ppl_max_chunks(n, ctx) < n_chunks) return 1;
    int bos = jang_tokenizer_adds_bos(t) ? jang_tokenizer_bos(t) : -1;
    int64_t V;
    float *P = scored_logits(argv[1], tok, n_chunks, ctx, bos, threads, &V);
    float *Q = scored_logits(argv[2], tok, n_chunks, ctx, bos, threads, &V);
    static const int32_t cfg[][2] = {{32, 0},   {256, 0}, {1024, 0},  {32, 8},    {32, 32},
                                     {32, 128}, {64, 64}, {128, 128}, {256, 256}, {1024, 1024}};
    enum { NC = sizeof cfg / sizeof cfg[0] };
    jang_ppl_acc *acc[NC];
    void *buf[NC];
    for (int j = 0; j < NC; j++) {
        if (jang_ppl_acc_init(V, &acc[j])) return 1;
        buf[j] = malloc(jang_ref_token_bytes(cfg[j][0], cfg[j][1]));
    }
    int first = ctx / 2, ns = ctx - 1 - first, N = n_chunks * ns;
    double ex = 0, ex2 = 0;
    double *p = malloc((size_t)V * sizeof(double)), *exv = malloc((size_t)N * sizeof(double));
    for (int r = 0; r < N; r++) {
        const float *a = P + (size_t)r * V, *b = Q + (size_t)r * V;
        int c = r / ns, pos = first + r % ns;
        int32_t target = tok[(size_t)c * ctx + pos + 1];
        double ma = a[0], mb = b[0], sa = 0, sb = 0, kl = 0;
        for (int64_t i = 1; i < V; i++) {
            ma = a[i] > ma ? a[i] : ma;
            mb = b[i] > mb ? b[i] : mb;
        }
        for (int64_t i = 0; i < V; i++) {
            sa += exp(a[i] - ma);
            sb += exp(b[i] - mb);
        }
        double la = ma + log(sa), lb = mb + log(sb);
        for (int64_t i = 0; i < V; i++) {
            p[i] = exp(a[i] - la);
            kl += p[i] * ((a[i] - la) - (b[i] - lb));
        }
        ex += kl;
        ex2 += kl * kl;
        exv[r] = kl;
        for (int j = 0; j < NC; j++) {
            jang_ref_token rt;
            if (jang_ref_token_make(a, (int32_t)V, target, cfg[j][0], cfg[j][1], (uint64_t)r,
                                    buf[j], &rt) ||
                jang_ppl_acc_add(acc[j], b, target, &rt)) {
                fprintf(stderr, "%s\n", jang_last_error());
                return 1;
            }
        }
    }
    double m = ex / N, e = sqrt((ex2 / N - m * m) / (N - 1));
    qsort(exv, (size_t)N, sizeof(double), cmp_double);
    printf("%d positions (%d chunks of %d): exact mean KLD %.6f ± %.6f, median %.6f, 99%% %.6f, "
           "99.9%% %.6f\n",
           N, n_chunks, ctx, m, e, percentile(exv, N, 0.5), percentile(exv, N, 0.99),
           percentile(exv, N, 0.999));
    printf("   k     m  tail mass  lower bound (share)  estimate ± error     vs exact  median   "
           "  99%%       99.9%%\n");
    for (int j = 0; j < NC; j++) {
        jang_ppl_stats st;
        jang_ppl_acc_stats(acc[j], &st);
        printf("%4d  %4d  %.4f     %.6f (%5.1f%%)    %.6f ± %.6f  %+6.2f%%  %.6f  %.6f  %.6f\n",
               cfg[j][0], cfg[j][1], st.tail_mean, st.kld_lower, 100 * st.kld_lower / m, st.kld,
               st.kld_err, 100 * (st.kld - m) / m, st.kld_median, st.kld_q99, st.kld_q999);
        jang_ppl_acc_free(acc[j]);
        free(buf[j]);
    }
    free(p);
    free(exv);
    free(P);
    free(Q);
    free(tok);
    free(text);
    jang_tokenizer_free(t);
    jang_gguf_close(g);
    return 0;
}
