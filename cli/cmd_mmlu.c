/* cmd_mmlu.c — `jang mmlu -m MODEL`: MMLU accuracy with a 95% Wilson interval, per subject and
 * overall, against chance (25%). --protocol jang200 (default): JANG's 200 questions, greedy
 * answer letter through the chat template; --protocol full: every subject, 5-shot from the dev
 * split, letter by log-likelihood. Data: --data DIR, default ../shared/data/mmlu.
 * The work is in src/eval/mmlu.c. Tested by tests/test_eval.c (a tiny end-to-end run).
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *model, *data, *protocol_name;
    jang_mmlu_protocol protocol;
    int64_t limit, max_new, ctx;
    int threads;
    bool verbose;
} mmlu_opts;

#define F(field) CLI_FIELD(mmlu_opts, field)
static const cli_opt mmlu_rows[] = {
    {"model", 'm', CLI_STR, F(model), .meta = "MODEL", .required = true,
     .help = "GGUF file or model directory (HF, JANG, MLX)"},
    {"data", 0, CLI_STR, F(data), .meta = "DIR",
     .help = "MMLU CSVs: DIR/test/*_test.csv, DIR/dev/*_dev.csv\n(default ../shared/data/mmlu)"},
    {"protocol", 0, CLI_STR, F(protocol_name), .meta = "P",
     .help = "jang200 (default): 10 subjects x 20 questions, greedy letter\n"
             "through the chat template; full: all 57 subjects, 5-shot,\n"
             "letter by log-likelihood"},
    {"limit", 0, CLI_INT, F(limit), .lo = 1, .hi = 1e9, .meta = "N",
     .help = "at most N questions per subject"},
    {"max-new", 0, CLI_INT, F(max_new), .lo = 1, .hi = 4096, .meta = "N",
     .help = "jang200 answer tokens (default 30, as jang_tools)"},
    {"ctx", 'c', CLI_INT, F(ctx), .lo = 16, .hi = 1 << 20, .meta = "N",
     .help = "context (default: min(model, 4096)); longer prompts lose\ntokens on the left"},
    {"threads", 't', CLI_INT, F(threads), .lo = 1, .hi = 1024, .meta = "N",
     .help = "threads (default: all CPUs)"},
    {"verbose", 'v', CLI_FLAG, F(verbose),
     .help = "print every question's prediction (and jang200 response)"},
};
#undef F

static const cli_cmd mmlu_cmd = {"mmlu", "-m MODEL [options]", mmlu_rows, CLI_COUNT(mmlu_rows),
                                 NULL};

static int parse_args(int argc, char **argv, mmlu_opts *o) {
    memset(o, 0, sizeof *o);
    o->protocol = JANG_MMLU_JANG200;
    o->max_new = 30;
    int rc = cli_parse(&mmlu_cmd, o, argc, argv);
    if (rc) return rc;
    /* a string checked by the library's parser (not a CLI_CHOICE row, whose message says "must
     * be"): tests/test_eval.c expects this wording */
    if (o->protocol_name && !jang_mmlu_protocol_parse(o->protocol_name, &o->protocol)) {
        fprintf(stderr, "jang mmlu: --protocol is jang200 or full, got '%s'\n", o->protocol_name);
        return 2;
    }
    return 0;
}

typedef struct {
    bool verbose;
    int64_t done, total;
} progress;

static void on_item(void *ud, const jang_mmlu *d, int64_t s, int64_t i, int pred,
                    const char *response) {
    progress *p = ud;
    p->done++;
    const jang_mmlu_subject *sj = &d->subjects[s];
    if (p->verbose) {
        printf("%s %lld: predicted %c, answer %c%s", sj->name, (long long)i + 1,
               pred >= 0 ? 'A' + pred : '-', 'A' + sj->test[i].answer,
               pred == sj->test[i].answer ? "  ok" : "");
        if (response) {
            printf("  | ");
            for (const char *c = response; *c; c++)
                putchar(*c == '\n' ? ' ' : *c);
        }
        printf("\n");
        fflush(stdout);
    }
    cli_progress("jang mmlu", p->done, p->total, "");
}

static void print_row(const char *name, int64_t k, int64_t n) {
    double lo, hi;
    jang_wilson_interval(k, n, 1.96, &lo, &hi);
    printf("%-38s %5lld / %-5lld  %6.2f%%  [%6.2f%%, %6.2f%%]%s\n", name, (long long)k,
           (long long)n, n ? 100.0 * (double)k / (double)n : 0.0, 100 * lo, 100 * hi,
           lo <= 0.25 ? "  (includes chance)" : "");
}

int cmd_mmlu(int argc, char **argv) {
    mmlu_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    char dbuf[4096];
    const char *dir = o.data ? o.data : cli_default_data("mmlu", dbuf, sizeof dbuf);
    if (!dir) {
        fprintf(stderr,
                "jang mmlu: no MMLU data: %s is absent; pass --data DIR (DIR/test/*_test.csv "
                "and DIR/dev/*_dev.csv)\n",
                dbuf);
        return 1;
    }
    jang_mmlu *d = NULL;
    jang_gguf *g = NULL;
    jang_tokenizer *tok = NULL;
    jang_model *m = NULL;
    jang_context *cx = NULL;
    jang_status s;
    rc = 1;
    if ((s = jang_mmlu_load(dir, o.protocol, o.limit, &d))) {
        cli_error("mmlu", s);
        goto done;
    }
    if ((s = cli_open_tokenizer(o.model, &g, &tok))) {
        cli_error("mmlu", s);
        goto done;
    }
    jang_chat_format cf;
    if (o.protocol == JANG_MMLU_JANG200 &&
        (s = jang_chat_detect(jang_tokenizer_chat_template(tok), &cf))) {
        fprintf(stderr,
                "jang mmlu: the jang200 protocol goes through the model's chat template: %s%s%s\n"
                "(--protocol full needs none)\n",
                jang_status_str(s), jang_last_error()[0] ? ": " : "", jang_last_error());
        goto done;
    }
    jang_context_opts co;
    jang_context_opts_init(&co);
    co.n_threads = o.threads;
    co.max_ctx = o.ctx;
    if ((s = jang_model_open(o.model, NULL, &m)) || (s = jang_context_init(m, &co, &cx))) {
        cli_error("mmlu", s);
        goto done;
    }
    progress pg = {o.verbose, 0, 0};
    for (int64_t i = 0; i < d->n_subjects; i++)
        pg.total += d->subjects[i].n_test;
    fprintf(stderr, "jang mmlu: %s protocol, %lld subjects, %lld questions, data %s\n",
            jang_mmlu_protocol_name(o.protocol), (long long)d->n_subjects, (long long)pg.total,
            dir);
    jang_mmlu_opts opt;
    jang_mmlu_opts_init(&opt);
    opt.chat = o.protocol == JANG_MMLU_JANG200 ? &cf : NULL;
    opt.max_new = o.max_new;
    opt.on_item = on_item;
    opt.ud = &pg;
    int64_t n_trunc = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((s = jang_mmlu_run(cx, tok, d, &opt, &n_trunc))) {
        fprintf(stderr, "\n");
        cli_error("mmlu", s);
        goto done;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("\nMMLU, %s protocol (%s): accuracy with 95%% Wilson interval; chance is 25%%\n",
           jang_mmlu_protocol_name(o.protocol),
           o.protocol == JANG_MMLU_JANG200 ? "greedy letter through the chat template"
                                           : "5-shot, letter by log-likelihood");
    int64_t k = 0, n = 0;
    for (int64_t i = 0; i < d->n_subjects; i++) {
        const jang_mmlu_subject *sj = &d->subjects[i];
        print_row(sj->name, sj->n_correct, sj->n_answered);
        k += sj->n_correct;
        n += sj->n_answered;
    }
    printf("%.78s\n",
           "------------------------------------------------------------------------------");
    print_row("total", k, n);
    if (n_trunc)
        printf("%lld prompt(s) longer than the context lost tokens on the left (-c)\n",
               (long long)n_trunc);
    fprintf(stderr, "jang mmlu: %.1f s\n",
            (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    rc = 0;
done:
    jang_context_free(cx);
    jang_model_close(m);
    jang_tokenizer_free(tok);
    jang_gguf_close(g);
    jang_mmlu_free(d);
    return rc;
}
