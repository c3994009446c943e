/* tokenizer_speed.c — tokenizer load time and encode / decode throughput on a text file.
 *
 * Loads a tokenizer from a GGUF file or a tokenizer.json (file or directory), encodes the whole
 * text (no special tokens added or parsed) --runs times after one warm-up, and prints the median
 * and the spread of the encode and decode times in MB/s of text, wall clock and CPU time of the
 * calling thread (the dev box is shared: CPU time is the steadier number). Decoding must give the
 * text back (checked).
 *
 * Build: make bench. Run, e.g.:
 *   build/bench/tokenizer_speed ~/.cache/jang/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf \
 *       ../shared/data/wikitext-2-raw/wiki.test.raw
 *   build/bench/tokenizer_speed tests/data/tokenizer/smollm2
 * ../shared/data/wikitext-2-raw/wiki.test.raw Options: --runs N (default 5).
 */
#include "jang.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *t, int n, size_t bytes) {
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    double med = t[n / 2];
    printf("  %-12s median %.3f s = %6.2f MB/s  (min %.3f s, max %.3f s)\n", what, med,
           (double)bytes / med / 1e6, t[0], t[n - 1]);
}

int main(int argc, char **argv) {
    int runs = 5;
    const char *pos[2] = {NULL, NULL};
    int np = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (np < 2)
            pos[np++] = argv[i];
    }
    if (np != 2 || runs < 1 || runs > 100) {
        fprintf(stderr, "usage: %s [--runs N] MODEL.gguf|tokenizer.json|DIR TEXT\n", argv[0]);
        return 2;
    }
    size_t len = strlen(pos[0]);
    bool gguf = len > 5 && !strcmp(pos[0] + len - 5, ".gguf");
    jang_gguf *g = NULL;
    jang_tokenizer *t = NULL;
    double t0 = clock_s(CLOCK_MONOTONIC);
    jang_status s = gguf ? jang_gguf_open(pos[0], &g) : JANG_OK;
    if (!s) s = gguf ? jang_tokenizer_from_gguf(g, &t) : jang_tokenizer_from_hf(pos[0], &t);
    double t_load = clock_s(CLOCK_MONOTONIC) - t0;
    if (s) {
        fprintf(stderr, "tokenizer_speed: %s\n", jang_last_error());
        return 1;
    }
    FILE *f = fopen(pos[1], "rb");
    if (!f) {
        perror(pos[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    size_t n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc(n + 1);
    if (!text || fread(text, 1, n, f) != n) {
        fprintf(stderr, "tokenizer_speed: cannot read %s\n", pos[1]);
        return 1;
    }
    fclose(f);
    printf("%s: %s tokenizer (pre %s), %lld tokens, loaded in %.3f s\n", pos[0],
           jang_tokenizer_kind(t), jang_tokenizer_pre(t), (long long)jang_tokenizer_n_vocab(t),
           t_load);
    double *ew = calloc((size_t)runs, sizeof *ew), *ec = calloc((size_t)runs, sizeof *ec);
    double *dw = calloc((size_t)runs, sizeof *dw), *dc = calloc((size_t)runs, sizeof *dc);
    int32_t *ids = NULL;
    int64_t m = 0;
    int bad = 0;
    for (int r = -1; r < runs; r++) {
        free(ids);
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        if ((s = jang_tokenizer_encode(t, text, n, 0, &ids, &m))) break;
        double w1 = clock_s(CLOCK_MONOTONIC), c1 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        char *back = NULL;
        size_t bl = 0;
        if ((s = jang_tokenizer_decode(t, ids, m, 0, &back, &bl))) break;
        double w2 = clock_s(CLOCK_MONOTONIC), c2 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        bad += bl != n || memcmp(back, text, n) != 0;
        free(back);
        if (r >= 0) ew[r] = w1 - w0, ec[r] = c1 - c0, dw[r] = w2 - w1, dc[r] = c2 - c1;
    }
    if (s) {
        fprintf(stderr, "tokenizer_speed: %s\n", jang_last_error());
        return 1;
    }
    printf("%s: %zu bytes -> %lld tokens (%.2f bytes/token); %d runs\n", pos[1], n, (long long)m,
           (double)n / (double)(m ? m : 1), runs);
    report("encode wall", ew, runs, n);
    report("encode CPU", ec, runs, n);
    report("decode wall", dw, runs, n);
    report("decode CPU", dc, runs, n);
    if (bad)
        printf("  WARNING: decode(encode(text)) != text in %d runs (lossy vocabulary?)\n", bad);
    free(ids);
    free(text);
    free(ew), free(ec), free(dw), free(dc);
    jang_tokenizer_free(t);
    jang_gguf_close(g);
    return 0;
}
