/* cmd_hellaswag.c — `jang hellaswag -m MODEL`: accuracy on the 2-way HellaSwag pairs (correct vs
 * first wrong ending, ../shared/data/hellaswag-ppl by default) by the total log-likelihood of
 * each full line, with a 95% Wilson interval; chance is 50%. The work is in src/eval/hellaswag.c.
 * Tested by tests/test_eval.c (a tiny end-to-end run).
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *model, *data;
    int64_t limit;
    int threads;
    bool verbose;
} hs_opts;

static void usage(FILE *f) {
    fprintf(f, "usage: jang hellaswag -m MODEL [options]\n"
               "  -m, --model PATH    GGUF file or model directory (HF, JANG, MLX)\n"
               "      --data DIR      *_correct.txt* and *_wrong.txt* line pairs\n"
               "                      (default ../shared/data/hellaswag-ppl)\n"
               "      --limit N       the first N pairs only\n"
               "  -t, --threads N     threads (default: all CPUs)\n"
               "  -v, --verbose       print both log-likelihoods of every pair\n");
}

static int parse_args(int argc, char **argv, hs_opts *o) {
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
        bool needs = !strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--data") ||
                     !strcmp(a, "--limit") || !strcmp(a, "-t") || !strcmp(a, "--threads");
        if (needs && !v) {
            fprintf(stderr, "jang hellaswag: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            o->model = argv[++i];
        } else if (!strcmp(a, "--data")) {
            o->data = argv[++i];
        } else if (!strcmp(a, "--limit")) {
            if (!cli_parse_num("hellaswag", a, argv[++i], 1, 1e9, &x)) return 2;
            o->limit = (int64_t)x;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!cli_parse_num("hellaswag", a, argv[++i], 1, 1024, &x)) return 2;
            o->threads = (int)x;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            o->verbose = true;
        } else {
            fprintf(stderr, "jang hellaswag: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!o->model) {
        fprintf(stderr, "jang hellaswag: -m MODEL is required\n");
        usage(stderr);
        return 2;
    }
    return 0;
}

typedef struct {
    bool verbose;
    int64_t total;
} hs_progress;

static void on_pair(void *ud, int64_t i, double lc, double lw, const jang_hellaswag_result *r) {
    hs_progress *p = ud;
    if (p->verbose) {
        printf("%lld: correct %.4f, wrong %.4f%s\n", (long long)i + 1, lc, lw,
               lc > lw ? "  ok" : "");
        fflush(stdout);
    }
    char acc[32];
    snprintf(acc, sizeof acc, ", %.2f%%", 100.0 * (double)r->n_correct / (double)r->n);
    cli_progress("jang hellaswag", r->n, p->total, acc);
}

int cmd_hellaswag(int argc, char **argv) {
    hs_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    char dbuf[4096];
    const char *dir = o.data ? o.data : cli_default_data("hellaswag-ppl", dbuf, sizeof dbuf);
    if (!dir) {
        fprintf(stderr,
                "jang hellaswag: no HellaSwag data: %s is absent; pass --data DIR (with "
                "*_correct.txt* and *_wrong.txt*)\n",
                dbuf);
        return 1;
    }
    jang_hellaswag *h = NULL;
    jang_gguf *g = NULL;
    jang_tokenizer *tok = NULL;
    jang_model *m = NULL;
    jang_context *cx = NULL;
    jang_status s;
    rc = 1;
    if ((s = jang_hellaswag_load(dir, o.limit, &h)) ||
        (s = cli_open_tokenizer(o.model, &g, &tok))) {
        cli_error("hellaswag", s);
        goto done;
    }
    jang_context_opts co;
    jang_context_opts_init(&co);
    co.n_threads = o.threads;
    if ((s = jang_model_open(o.model, NULL, &m)) || (s = jang_context_init(m, &co, &cx))) {
        cli_error("hellaswag", s);
        goto done;
    }
    fprintf(stderr, "jang hellaswag: %lld pairs from %s\n", (long long)h->n, h->correct_path);
    hs_progress pg = {o.verbose, h->n};
    jang_hellaswag_result r;
    if ((s = jang_hellaswag_run(cx, tok, h, on_pair, &pg, &r))) {
        fprintf(stderr, "\n");
        cli_error("hellaswag", s);
        goto done;
    }
    double lo, hi;
    jang_wilson_interval(r.n_correct, r.n, 1.96, &lo, &hi);
    printf("HellaSwag 2-way (correct vs first wrong ending, total log-likelihood of each line): "
           "%lld / %lld = %.2f%% [95%% Wilson %.2f%%, %.2f%%]; chance 50%%%s\n",
           (long long)r.n_correct, (long long)r.n, 100.0 * (double)r.n_correct / (double)r.n,
           100 * lo, 100 * hi, lo <= 0.5 ? " (interval includes chance)" : "");
    rc = 0;
done:
    jang_context_free(cx);
    jang_model_close(m);
    jang_tokenizer_free(tok);
    jang_gguf_close(g);
    jang_hellaswag_free(h);
    return rc;
}
