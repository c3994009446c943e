/* cmd_bench.c — `jang bench -m MODEL [-m MODEL ...] [-p 512] [-n 128] [-r 5] [-t N] [--parallel
 * P]`: whole-model speed in llama-bench's terms (DESIGN.md §8), so the two tools' tables can be set
 * side by side:
 *   ppP   one forward pass over a P-token prompt from an empty cache (logits of the last token);
 *   tgN   N single-token forward passes from an empty cache (logits of every step);
 *   tgN xP  (--parallel P > 1) P sequences on one loaded model, each in its own context, decoded
 *         together: N batched steps (jang_decode_batch) of one token per sequence; t/s is the
 *         aggregate (P * N tokens over the time), what a server decoding P requests gets.
 * Each test runs once to warm up, then -r times; the table gives the median tokens/s and the
 * spread (sample standard deviation, llama-bench's "±") with min and max, and for tg the weight
 * bytes read per second (jang_model_weight_bytes × tokens/s: what the decode step streams from
 * memory, to set against the machine's bandwidth, bench/kernels_bench). Token ids are fixed
 * pseudo-random ids below the vocabulary size: a matmul's speed does not depend on them.
 * JANG_ISA=scalar|avx2|avx512|avx512vnni forces a kernel table. Results: docs/PERFORMANCE.md.
 */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *device;
    cli_strs models;
    int threads, runs, parallel;
    int64_t pp, tg;
} bench_opts;

#define F(field) CLI_FIELD(bench_opts, field)
static const cli_opt bench_rows[] = {
    {"model", 'm', CLI_STRS, F(models), .meta = "MODEL", .required = true,
     .help = "GGUF file or model directory (HF, JANG, MLX); repeatable"},
    {"n-prompt", 'p', CLI_INT, F(pp), .lo = 0, .hi = 1 << 20, .meta = "N",
     .help = "prompt tokens for the ppN test (default 512; 0 skips it)"},
    {"n-gen", 'n', CLI_INT, F(tg), .lo = 0, .hi = 1 << 20, .meta = "N",
     .help = "generated tokens for the tgN test (default 128; 0 skips it)"},
    {"repetitions", 'r', CLI_INT, F(runs), .lo = 1, .hi = 1000, .meta = "N",
     .help = "runs per test after one warm-up (default 5)"},
    {"threads", 't', CLI_INT, F(threads), .lo = 1, .hi = 1024, .meta = "N",
     .help = "threads (default: all CPUs)"},
    {"device", 0, CLI_STR, F(device), .meta = "NAME",
     .help = "where the model runs: cpu (default), or cuda in a make CUDA=1 build"},
    {"parallel", 0, CLI_INT, F(parallel), .lo = 1, .hi = 256, .meta = "P",
     .help = "also decode P sequences together (batched decode; aggregate t/s) (default 1)"},
};
#undef F

static const cli_cmd bench_cmd = {
    "bench", "-m MODEL [-m MODEL ...] [options]", bench_rows, CLI_COUNT(bench_rows),
    "Prints a Markdown table: median tokens/s, ± sample standard deviation, min, max;\n"
    "for tg also the weight bytes streamed per second. JANG_ISA=scalar|avx2|avx512|avx512vnni\n"
    "forces a kernel table.\n"};

static int parse_args(int argc, char **argv, bench_opts *o) {
    memset(o, 0, sizeof *o);
    o->runs = 5, o->pp = 512, o->tg = 128, o->parallel = 1;
    int rc = cli_parse(&bench_cmd, o, argc, argv);
    if (rc) return rc;
    if (!o->pp && !o->tg) {
        fprintf(stderr, "jang bench: -p and -n are both 0: nothing to measure\n");
        return 2;
    }
    return 0;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *model, double wmb, int threads, const char *test, double *tps,
                   int runs, double bytes_per_token) {
    double mean = 0, var = 0;
    for (int i = 0; i < runs; i++)
        mean += tps[i] / runs;
    for (int i = 0; i < runs; i++)
        var += (tps[i] - mean) * (tps[i] - mean);
    double sd = runs > 1 ? sqrt(var / (runs - 1)) : 0;
    qsort(tps, (size_t)runs, sizeof(double), cmp_d);
    double med = runs % 2 ? tps[runs / 2] : 0.5 * (tps[runs / 2 - 1] + tps[runs / 2]);
    char gbs[32] = "";
    if (bytes_per_token > 0) snprintf(gbs, sizeof gbs, "%.1f", med * bytes_per_token / 1e9);
    printf("| %s | %.1f | %d | %s | %.2f ± %.2f | %.2f | %.2f | %s |\n", model, wmb, threads, test,
           med, sd, tps[0], tps[runs - 1], gbs);
    fflush(stdout);
}

/* tgN xP: P contexts (the first, cx, runs the steps on its threads; the others hold their KV
 * caches) decoded together, N batched steps of one token each; aggregate t/s. */
static jang_status bench_parallel(const bench_opts *o, const jang_model *m, jang_context *cx,
                                  const int32_t *ids, const char *name, int threads, double *tps) {
    const int P = o->parallel;
    const int64_t V = jang_model_get_desc(m)->vocab_size;
    jang_context **c = calloc((size_t)P, sizeof *c);
    int32_t *tok = malloc((size_t)P * sizeof *tok);
    int64_t *pos = malloc((size_t)P * sizeof *pos);
    float *logits = malloc((size_t)P * (size_t)V * sizeof(float));
    jang_status s = c && tok && pos && logits ? JANG_OK : JANG_E_NOMEM;
    jang_context_opts co;
    jang_context_opts_init(&co);
    co.n_threads = 1; /* only cx's threads run */
    co.max_ctx = o->tg + 1;
    if (c) c[0] = cx;
    for (int i = 1; i < P && !s; i++)
        s = jang_context_init(m, &co, &c[i]);
    for (int k = -1; k < o->runs && !s; k++) { /* k = -1: warm-up */
        double t0 = cli_now_s();
        for (int64_t step = 0; step < o->tg && !s; step++) {
            for (int i = 0; i < P; i++) /* a different token per sequence */
                tok[i] = ids[(step + 7 * i) % o->tg], pos[i] = step;
            s = jang_decode_batch(c, P, tok, pos, logits);
        }
        if (k >= 0) tps[k] = (double)(P * o->tg) / (cli_now_s() - t0);
    }
    if (!s) {
        char test[48];
        snprintf(test, sizeof test, "tg%lld x%d", (long long)o->tg, P);
        double wbytes = (double)jang_model_weight_bytes(m);
        report(name, wbytes / 1e6, threads, test, tps, o->runs, wbytes / P);
    }
    for (int i = 1; c && i < P; i++)
        jang_context_free(c[i]);
    free(c), free(tok), free(pos), free(logits);
    return s;
}

/* One model: open, warm up and time pp then tg (then tg xP with --parallel). */
static int bench_model(const bench_opts *o, const char *path, bool *header) {
    jang_context_opts co;
    jang_context_opts_init(&co);
    co.n_threads = o->threads;
    co.max_ctx = (o->pp > o->tg ? o->pp : o->tg) + 1;
    jang_model *m = NULL;
    jang_context *cx = NULL;
    jang_model_opts mo;
    jang_model_opts_init(&mo);
    mo.backend = o->device;
    jang_status s = jang_model_open(path, &mo, &m);
    if (!s) s = jang_context_init(m, &co, &cx);
    if (s) {
        jang_model_close(m);
        return cli_error("bench", s);
    }
    const jang_model_desc *d = jang_model_get_desc(m);
    int64_t n = o->pp > o->tg ? o->pp : o->tg;
    int32_t *ids = malloc((size_t)n * sizeof(int32_t));
    float *logits = malloc((size_t)d->vocab_size * sizeof(float));
    double *tps = malloc((size_t)o->runs * sizeof(double));
    if (!ids || !logits || !tps) {
        fprintf(stderr, "jang bench: out of memory\n");
        free(ids), free(logits), free(tps);
        jang_context_free(cx);
        jang_model_close(m);
        return 1;
    }
    uint32_t r = 12345;
    for (int64_t i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        ids[i] = (int32_t)((r >> 8) % (uint32_t)d->vocab_size);
    }
    double wbytes = (double)jang_model_weight_bytes(m);
    const char *name = strrchr(path, '/') && strrchr(path, '/')[1] ? strrchr(path, '/') + 1 : path;
    int threads = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (!*header) { /* the kernel table is known once a model has opened (JANG_ISA checked) */
        printf("jang bench: kernels %s, %d threads, %d runs after a warm-up\n\n"
               "| model | weights MB | threads | test | t/s | min | max | weights GB/s |\n"
               "|---|---:|---:|---|---:|---:|---:|---:|\n",
               jang_kernels_active_name(), threads, o->runs);
        *header = true;
    }
    char test[32];
    if (o->pp > 0) {
        snprintf(test, sizeof test, "pp%lld", (long long)o->pp);
        for (int k = -1; k < o->runs && !s; k++) { /* k = -1: warm-up */
            double t0 = cli_now_s();
            s = jang_context_forward(cx, ids, o->pp, 0, false, logits);
            if (k >= 0) tps[k] = (double)o->pp / (cli_now_s() - t0);
        }
        if (!s) report(name, wbytes / 1e6, threads, test, tps, o->runs, 0);
    }
    if (o->tg > 0 && !s) {
        snprintf(test, sizeof test, "tg%lld", (long long)o->tg);
        for (int k = -1; k < o->runs && !s; k++) {
            double t0 = cli_now_s();
            for (int64_t i = 0; i < o->tg && !s; i++)
                s = jang_context_forward(cx, ids + i, 1, i, false, logits);
            if (k >= 0) tps[k] = (double)o->tg / (cli_now_s() - t0);
        }
        if (!s) report(name, wbytes / 1e6, threads, test, tps, o->runs, wbytes);
    }
    if (o->parallel > 1 && o->tg > 0 && !s) s = bench_parallel(o, m, cx, ids, name, threads, tps);
    free(tps), free(ids), free(logits);
    jang_context_free(cx);
    jang_model_close(m);
    if (s) {
        fprintf(stderr, "jang bench: %s: ", path);
        return cli_error("bench", s);
    }
    return 0;
}

int cmd_bench(int argc, char **argv) {
    bench_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    int failed = 0;
    bool header = false;
    for (int i = 0; i < o.models.n; i++)
        failed += bench_model(&o, o.models.v[i], &header) != 0;
    return failed ? 1 : 0;
}
