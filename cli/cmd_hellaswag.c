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

#define F(field) CLI_FIELD(hs_opts, field)
static const cli_opt hs_rows[] = {
    {"model", 'm', CLI_STR, F(model), .meta = "MODEL", .required = true,
     .help = "GGUF file or model directory (HF, JANG, MLX)"},
    {"data", 0, CLI_STR, F(data), .meta = "DIR",
     .help = "*_correct.txt* and *_wrong.txt* line pairs\n(default ../shared/data/hellaswag-ppl)"},
    {"limit", 0, CLI_INT, F(limit), .lo = 1, .hi = 1e9, .meta = "N",
     .help = "the first N pairs only"},
    {"threads", 't', CLI_INT, F(threads), .lo = 1, .hi = 1024, .meta = "N",
     .help = "threads (default: all CPUs)"},
    {"verbose", 'v', CLI_FLAG, F(verbose), .help = "print both log-likelihoods of every pair"},
};
#undef F

static const cli_cmd hs_cmd = {"hellaswag", "-m MODEL [options]", hs_rows, CLI_COUNT(hs_rows),
                               NULL};

static int parse_args(int argc, char **argv, hs_opts *o) {
    memset(o, 0, sizeof *o);
    return cli_parse(&hs_cmd, o, argc, argv);
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
