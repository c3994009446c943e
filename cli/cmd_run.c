/* cmd_run.c — `jang run -m MODEL -p PROMPT`: tokenize, prefill, sample, stream text.
 *
 * MODEL is a GGUF file or a model directory (HF safetensors, JANG or MLX). With --chat the prompt
 * is wrapped in the model's chat format (recognised from its template; unknown templates are an
 * error unless --raw). Ends with prompt and generation speed on stderr; says on stderr the seed
 * (random unless --seed), a -c past the model's trained context, and a generation cut short by a
 * full context. Logits that are not finite (weights holding NaN/Inf) stop it with exit 1 and the
 * position, after the prompt and after each generated token, rather than sampling from them.
 * Tested by tests/test_cli.c (arguments) and the README's quickstart on the real model.
 */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *device;
    const char *model, *prompt, *system;
    int64_t n_predict;
    bool chat, raw, echo;
    int threads;
    int64_t ctx;
    jang_sampler_opts sampling;
} run_opts;

#define F(field) CLI_FIELD(run_opts, field)
static const cli_opt run_rows[] = {
    {"model", 'm', CLI_STR, F(model), .meta = "MODEL", .required = true,
     .help = "GGUF file or model directory (HF, JANG, MLX)"},
    {"prompt", 'p', CLI_STR, F(prompt), .meta = "PROMPT", .required = true, .help = "the prompt"},
    {"n-predict", 'n', CLI_INT, F(n_predict), .lo = -1, .hi = 1e9, .meta = "N",
     .help = "tokens to generate (default 128; -1 = until the end of\n"
             "generation or a full context)"},
    {"chat", 0, CLI_FLAG, F(chat),
     .help = "wrap the prompt in the model's chat format (the echo is\nthe prompt alone, never the "
             "template)"},
    {"system", 0, CLI_STR, F(system), .meta = "TEXT",
     .help = "system message for --chat (default: the template's)"},
    {"raw", 0, CLI_FLAG, F(raw), .help = "never apply a chat format, even with --chat"},
    {"threads", 't', CLI_INT, F(threads), .lo = 1, .hi = 1024, .meta = "N",
     .help = "threads (default: all CPUs)"},
    {"device", 0, CLI_STR, F(device), .meta = "NAME",
     .help = "where the model runs: cpu (default), or cuda in a make CUDA=1 build"},
    {"ctx", 'c', CLI_INT, F(ctx), .lo = 0, .hi = 1 << 24, .meta = "N",
     .help = "context length (default: min(model, 4096); 0 = the model's)"},
    {"temp", 0, CLI_NUM, F(sampling.temperature), .lo = 0, .hi = 100, .meta = "T",
     .help = "temperature, 0 = greedy (default 0.8)"},
    {"top-k", 0, CLI_INT, F(sampling.top_k), .lo = 0, .hi = 1e9, .meta = "K",
     .help = "keep the K most likely tokens (default 40; 0 = off)"},
    {"top-p", 0, CLI_NUM, F(sampling.top_p), .lo = 1e-6, .hi = 1, .meta = "P",
     .help = "keep the likeliest tokens up to probability P (default 0.95;\n1 = off)"},
    {"min-p", 0, CLI_NUM, F(sampling.min_p), .lo = 0, .hi = 0.999, .meta = "P",
     .help = "drop tokens below P x the top probability (default 0.05;\n0 = off)"},
    {"repeat-penalty", 0, CLI_NUM, F(sampling.repeat_penalty), .lo = 1e-3, .hi = 100, .meta = "R",
     .help = "repetition penalty (default 1.0 = off)"},
    {"repeat-last-n", 0, CLI_INT, F(sampling.repeat_last_n), .lo = 0, .hi = 1 << 20, .meta = "N",
     .help = "tokens the repeat penalty looks back on (default 64)"},
    {"seed", 's', CLI_INT, F(sampling.seed), .lo = 0, .hi = 1.8e19, .meta = "S",
     .help = "sampling seed (default: random; printed on stderr)"},
    {"no-echo", 0, CLI_FLAG_OFF, F(echo),
     .help = "do not print the prompt (or, with --chat,\nthe user's prompt)"},
};
#undef F

static const cli_cmd run_cmd = {"run", "-m MODEL -p PROMPT [options]", run_rows,
                                CLI_COUNT(run_rows), NULL};

static int parse_args(int argc, char **argv, run_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = 128;
    o->echo = true;
    o->ctx = -1; /* not given (-c accepts 0 and up) */
    jang_sampler_opts_init(&o->sampling);
    o->sampling.seed = UINT64_MAX; /* not given (--seed accepts up to 1.8e19) */
    return cli_parse(&run_cmd, o, argc, argv);
}

/* A seed short enough to type back with --seed: 32 bits from getrandom, else from the clock. */
static uint64_t random_seed(void) {
    uint32_t v;
    if (getrandom(&v, sizeof v, 0) == (ssize_t)sizeof v) return v;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec * 2654435761u ^ (uint64_t)getpid()) &
           0xffffffffu;
}

/* 0 when the logits row can be sampled; else exit 1 after saying where. NaN or +Inf anywhere, or
 * every logit -Inf, come only from non-finite weights or activations (one pass over the row). */
static int check_logits(const float *logits, int64_t n, int64_t pos) {
    bool nan = false, inf = false, any_finite = false;
    for (int64_t i = 0; i < n; i++) {
        float x = logits[i];
        nan |= isnan(x);
        inf |= x == INFINITY;
        any_finite |= x > -INFINITY && x < INFINITY;
    }
    if (!nan && !inf && any_finite) return 0;
    fprintf(stderr,
            "\njang run: the model produced %s logits at position %lld: its weights contain "
            "NaN/Inf? try jang validate\n",
            nan   ? "NaN"
            : inf ? "Inf"
                  : "all -Inf",
            (long long)pos);
    return 1;
}

static void print_piece(const jang_tokenizer *tok, jang_detok_stream *ds, int32_t id) {
    char buf[512];
    size_t len = 0;
    if (jang_detok_stream_next(tok, ds, id, 0, buf, sizeof buf, &len) == JANG_OK)
        fwrite(buf, 1, len, stdout);
    fflush(stdout);
}

int cmd_run(int argc, char **argv) {
    run_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    jang_gguf *g = NULL;
    jang_tokenizer *tok = NULL;
    jang_model *m = NULL;
    jang_context *cx = NULL;
    jang_sampler *smp = NULL;
    char *prompt = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    rc = 1;
    jang_status s;
    if (cli_check_model_path("run", o.model)) goto done;
    if ((s = cli_open_tokenizer(o.model, &g, &tok))) {
        cli_error("run", s);
        goto done;
    }
    if (o.chat && !o.raw) {
        jang_chat_format cf;
        if ((s = jang_chat_detect(jang_tokenizer_chat_template(tok), &cf)) ||
            (s = jang_chat_apply(&cf, o.system, o.prompt, &prompt))) {
            cli_error("run", s);
            goto done;
        }
    }
    const char *text = prompt ? prompt : o.prompt;
    int64_t n_ids = 0;
    if ((s = jang_tokenizer_encode(tok, text, strlen(text),
                                   JANG_ENCODE_ADD_SPECIAL | JANG_ENCODE_PARSE_SPECIAL, &ids,
                                   &n_ids))) {
        cli_error("run", s);
        goto done;
    }
    if (n_ids == 0) {
        fprintf(stderr, "jang run: the prompt encodes to no tokens\n");
        goto done;
    }
    double t0 = cli_now_s();
    jang_model_opts mo;
    jang_model_opts_init(&mo);
    mo.backend = o.device;
    if ((s = jang_model_open(o.model, &mo, &m))) {
        cli_error("run", s);
        goto done;
    }
    const jang_model_desc *d = jang_model_get_desc(m);
    jang_context_opts co;
    jang_context_opts_init(&co);
    co.n_threads = o.threads;
    co.max_ctx = o.ctx == 0 ? d->max_seq_len : o.ctx; /* <= 0: the library's default */
    if (o.ctx > 0 && d->max_seq_len > 0 && o.ctx > d->max_seq_len)
        fprintf(stderr, "jang run: warning: -c %lld is past the model's trained context (%lld)\n",
                (long long)o.ctx, (long long)d->max_seq_len);
    if ((s = jang_context_init(m, &co, &cx))) {
        cli_error("run", s);
        goto done;
    }
    double t_load = cli_now_s() - t0;
    int64_t ctx = jang_context_max_ctx(cx);
    if (n_ids >= ctx) {
        fprintf(stderr, "jang run: the prompt has %lld tokens, the context only %lld (-c)\n",
                (long long)n_ids, (long long)ctx);
        goto done;
    }
    if (jang_tokenizer_n_vocab(tok) > d->vocab_size)
        fprintf(stderr, "jang run: warning: tokenizer has %lld tokens, the model %lld\n",
                (long long)jang_tokenizer_n_vocab(tok), (long long)d->vocab_size);
    if (o.sampling.seed == UINT64_MAX) o.sampling.seed = random_seed();
    fprintf(stderr, "jang run: seed %llu\n", (unsigned long long)o.sampling.seed);
    logits = malloc((size_t)d->vocab_size * sizeof(float));
    if (!logits || (s = jang_sampler_init(&o.sampling, d->vocab_size, &smp))) {
        cli_error("run", logits ? s : JANG_E_NOMEM);
        goto done;
    }
    if (o.echo) { /* with a chat format, the user's prompt on its line, not the template */
        fputs(prompt ? o.prompt : text, stdout);
        if (prompt) fputc('\n', stdout);
        fflush(stdout);
    }
    /* prefill in chunks of 512 tokens */
    double t1 = cli_now_s();
    for (int64_t i = 0; i < n_ids; i += 512) {
        int64_t nb = n_ids - i < 512 ? n_ids - i : 512;
        if ((s = jang_context_forward(cx, ids + i, nb, i, false, logits))) {
            cli_error("run", s);
            goto done;
        }
    }
    if (check_logits(logits, d->vocab_size, n_ids - 1)) goto done;
    for (int64_t i = 0; i < n_ids; i++)
        jang_sampler_accept(smp, ids[i]);
    double t_prompt = cli_now_s() - t1;
    jang_detok_stream ds;
    jang_detok_stream_init(&ds);
    int64_t pos = n_ids, n_gen = 0;
    bool full = false; /* stopped by the context, not by -n or the end of generation */
    double t2 = cli_now_s();
    while ((o.n_predict < 0 || n_gen < o.n_predict) && pos < ctx) {
        int32_t next = jang_sampler_sample(smp, logits);
        jang_sampler_accept(smp, next);
        n_gen++;
        if (jang_tokenizer_is_eog(tok, next)) break;
        print_piece(tok, &ds, next);
        if (n_gen == o.n_predict) break;
        if (pos + 1 >= ctx) {
            full = true;
            break;
        }
        if ((s = jang_context_forward(cx, &next, 1, pos, false, logits))) {
            cli_error("run", s);
            goto done;
        }
        if (check_logits(logits, d->vocab_size, pos)) goto done;
        pos++;
    }
    char tail[16];
    size_t tl = jang_detok_stream_flush(&ds, tail, sizeof tail);
    fwrite(tail, 1, tl, stdout);
    double t_gen = cli_now_s() - t2;
    printf("\n");
    fflush(stdout);
    if (full)
        fprintf(stderr, "\njang run: context full at %lld tokens (-c)\n", (long long)(pos + 1));
    fprintf(stderr,
            "\njang run: load %.2f s | prompt %lld tokens, %.1f tokens/s | generated %lld "
            "tokens, %.1f tokens/s\n",
            t_load, (long long)n_ids, t_prompt > 0 ? (double)n_ids / t_prompt : 0.0,
            (long long)n_gen, t_gen > 0 ? (double)n_gen / t_gen : 0.0);
    rc = 0;
done:
    jang_sampler_free(smp);
    free(logits);
    free(ids);
    free(prompt);
    jang_context_free(cx);
    jang_model_close(m);
    jang_tokenizer_free(tok);
    jang_gguf_close(g);
    return rc;
}
