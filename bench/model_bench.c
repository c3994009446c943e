/* model_bench.c — whole-model speed in llama-bench's terms (DESIGN.md §8): pp512 (one forward
 * pass over a 512-token prompt) and tg128 (128 single-token forward passes from an empty context,
 * logits of every step), --runs runs after one warm-up of each, reported as the median and the
 * spread (sample standard deviation, as llama-bench's "±") in tokens/s. Token ids are fixed
 * pseudo-random ids below the vocabulary size; the speed of a matmul does not depend on them.
 *
 * Build: make bench. Run, e.g.:
 *   build/bench/model_bench -m ~/.cache/jang/work/smol-u4 -t 2 [-p 512] [-n 128] [-r 5]
 * The kernel table is the one jang_matmul picks (JANG_ISA=scalar|avx2|avx512 forces one).
 */
#include "jang.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *test, double *tps, int runs) {
    double mean = 0, var = 0;
    for (int i = 0; i < runs; i++)
        mean += tps[i] / runs;
    for (int i = 0; i < runs; i++)
        var += (tps[i] - mean) * (tps[i] - mean);
    double sd = runs > 1 ? sqrt(var / (runs - 1)) : 0;
    qsort(tps, (size_t)runs, sizeof(double), cmp_d);
    printf("| %s | %.2f | %.2f | %.2f | %.2f |\n", test, tps[runs / 2], sd, tps[0], tps[runs - 1]);
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *path = NULL;
    int threads = 2, runs = 5;
    int64_t pp = 512, tg = 128;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-m") && v)
            path = v, i++;
        else if (!strcmp(a, "-t") && v)
            threads = atoi(v), i++;
        else if (!strcmp(a, "-p") && v)
            pp = atoll(v), i++;
        else if (!strcmp(a, "-n") && v)
            tg = atoll(v), i++;
        else if (!strcmp(a, "-r") && v)
            runs = atoi(v), i++;
        else
            path = NULL, i = argc;
    }
    if (!path || runs < 1 || pp < 0 || tg < 0) {
        fprintf(stderr, "usage: model_bench -m MODEL [-t threads] [-p 512] [-n 128] [-r 5]\n");
        return 2;
    }
    jang_model_opts o;
    jang_model_opts_init(&o);
    o.n_threads = threads;
    o.max_ctx = (pp > tg ? pp : tg) + 1;
    jang_model *m = NULL;
    jang_status s = jang_model_open(path, &o, &m);
    if (s) {
        fprintf(stderr, "model_bench: %s: %s\n", jang_status_str(s), jang_last_error());
        return 1;
    }
    const jang_model_desc *d = jang_model_get_desc(m);
    int64_t n = pp > tg ? pp : tg;
    int32_t *ids = malloc((size_t)n * sizeof(int32_t));
    float *logits = malloc((size_t)d->vocab_size * sizeof(float));
    uint32_t r = 12345;
    for (int64_t i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        ids[i] = (int32_t)((r >> 8) % (uint32_t)d->vocab_size);
    }
    double *tps = malloc((size_t)runs * sizeof(double));
    printf("model %s, %d threads\n\n| test | t/s (median) | ± (sd) | min | max |\n"
           "|---|---:|---:|---:|---:|\n",
           path, threads);
    if (pp > 0) {
        char name[32];
        snprintf(name, sizeof name, "pp%lld", (long long)pp);
        for (int k = -1; k < runs; k++) { /* k = -1: warm-up */
            double t0 = now_s();
            if ((s = jang_model_forward(m, ids, pp, 0, false, logits))) break;
            if (k >= 0) tps[k] = (double)pp / (now_s() - t0);
        }
        if (!s) report(name, tps, runs);
    }
    if (tg > 0 && !s) {
        char name[32];
        snprintf(name, sizeof name, "tg%lld", (long long)tg);
        for (int k = -1; k < runs && !s; k++) {
            double t0 = now_s();
            for (int64_t i = 0; i < tg && !s; i++)
                s = jang_model_forward(m, ids + i, 1, i, false, logits);
            if (k >= 0) tps[k] = (double)tg / (now_s() - t0);
        }
        if (!s) report(name, tps, runs);
    }
    if (s) fprintf(stderr, "model_bench: %s: %s\n", jang_status_str(s), jang_last_error());
    free(tps), free(ids), free(logits);
    jang_model_close(m);
    return s ? 1 : 0;
}
