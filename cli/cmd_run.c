/* cmd_run.c — `jang run -m MODEL -p PROMPT`: tokenize, prefill, sample, stream text.
 *
 * MODEL is a GGUF file or a model directory (HF safetensors, JANG or MLX). With --chat the prompt
 * is wrapped in the model's chat format (recognised from its template; unknown templates are an
 * error unless --raw). Ends with prompt and generation speed on stderr.
 * Tested by tests/test_cli.c (arguments) and the README's quickstart on the real model.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *model, *prompt, *system;
    int64_t n_predict;
    bool chat, raw, echo;
    int threads;
    int64_t ctx;
    jang_sampler_opts sampling;
} run_opts;

static void usage(FILE *f) {
    fprintf(f, "usage: jang run -m MODEL -p PROMPT [options]\n"
               "  -m, --model PATH       GGUF file or model directory (HF, JANG, MLX)\n"
               "  -p, --prompt TEXT      the prompt\n"
               "  -n, --n-predict N      tokens to generate (default 128)\n"
               "      --chat             wrap the prompt in the model's chat format\n"
               "      --system TEXT      system message for --chat (default: the template's)\n"
               "      --raw              never apply a chat format, even with --chat\n"
               "  -t, --threads N        threads (default: all CPUs)\n"
               "  -c, --ctx N            context length (default: min(model, 4096))\n"
               "      --temp T           temperature, 0 = greedy (default 0.8)\n"
               "      --top-k K          (default 40; 0 = off)\n"
               "      --top-p P          (default 0.95; 1 = off)\n"
               "      --min-p P          (default 0.05; 0 = off)\n"
               "      --repeat-penalty R (default 1.0 = off), --repeat-last-n N (default 64)\n"
               "  -s, --seed S           sampling seed (default 24301)\n"
               "      --no-echo          do not print the prompt\n");
}

/* Parses a number argument; returns false (after printing why) when malformed. */
static bool parse_num(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s ? s : "", &end);
    if (!s || end == s || *end || errno || !(v >= lo && v <= hi)) {
        fprintf(stderr, "jang run: %s expects a number in [%g, %g], got '%s'\n", opt, lo, hi,
                s ? s : "");
        return false;
    }
    *out = v;
    return true;
}

static int parse_args(int argc, char **argv, run_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = 128;
    o->echo = true;
    jang_sampler_opts_init(&o->sampling);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
#define OPT(s, l) (!strcmp(a, s) || !strcmp(a, l))
#define NEEDV()                                                                                    \
    do {                                                                                           \
        if (!v) {                                                                                  \
            fprintf(stderr, "jang run: %s needs a value\n", a);                                    \
            return 2;                                                                              \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
        if (OPT("-h", "--help")) {
            usage(stdout);
            return -1;
        } else if (OPT("-m", "--model")) {
            NEEDV();
            o->model = v;
        } else if (OPT("-p", "--prompt")) {
            NEEDV();
            o->prompt = v;
        } else if (!strcmp(a, "--system")) {
            NEEDV();
            o->system = v;
        } else if (OPT("-n", "--n-predict")) {
            NEEDV();
            if (!parse_num(a, v, 0, 1e9, &x)) return 2;
            o->n_predict = (int64_t)x;
        } else if (OPT("-t", "--threads")) {
            NEEDV();
            if (!parse_num(a, v, 1, 1024, &x)) return 2;
            o->threads = (int)x;
        } else if (OPT("-c", "--ctx")) {
            NEEDV();
            if (!parse_num(a, v, 1, 1 << 24, &x)) return 2;
            o->ctx = (int64_t)x;
        } else if (!strcmp(a, "--temp")) {
            NEEDV();
            if (!parse_num(a, v, 0, 100, &x)) return 2;
            o->sampling.temperature = (float)x;
        } else if (!strcmp(a, "--top-k")) {
            NEEDV();
            if (!parse_num(a, v, 0, 1e9, &x)) return 2;
            o->sampling.top_k = (int32_t)x;
        } else if (!strcmp(a, "--top-p")) {
            NEEDV();
            if (!parse_num(a, v, 1e-6, 1, &x)) return 2;
            o->sampling.top_p = (float)x;
        } else if (!strcmp(a, "--min-p")) {
            NEEDV();
            if (!parse_num(a, v, 0, 0.999, &x)) return 2;
            o->sampling.min_p = (float)x;
        } else if (!strcmp(a, "--repeat-penalty")) {
            NEEDV();
            if (!parse_num(a, v, 1e-3, 100, &x)) return 2;
            o->sampling.repeat_penalty = (float)x;
        } else if (!strcmp(a, "--repeat-last-n")) {
            NEEDV();
            if (!parse_num(a, v, 0, 1 << 20, &x)) return 2;
            o->sampling.repeat_last_n = (int32_t)x;
        } else if (OPT("-s", "--seed")) {
            NEEDV();
            if (!parse_num(a, v, 0, 1.8e19, &x)) return 2;
            o->sampling.seed = (uint64_t)x;
        } else if (!strcmp(a, "--chat")) {
            o->chat = true;
        } else if (!strcmp(a, "--raw")) {
            o->raw = true;
        } else if (!strcmp(a, "--no-echo")) {
            o->echo = false;
        } else {
            fprintf(stderr, "jang run: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
#undef OPT
#undef NEEDV
    }
    if (!o->model || !o->prompt) {
        fprintf(stderr, "jang run: %s is required\n", !o->model ? "-m MODEL" : "-p PROMPT");
        usage(stderr);
        return 2;
    }
    return 0;
}

/* The tokenizer of a model path: the GGUF's vocabulary, or tokenizer.json in the directory. */
static jang_status open_tokenizer(const char *path, jang_gguf **g, jang_tokenizer **tok) {
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    bool gguf = f && fread(magic, 1, 4, f) == 4 && !memcmp(magic, "GGUF", 4);
    if (f) fclose(f);
    if (!gguf) return jang_tokenizer_from_hf(path, tok);
    jang_status s = jang_gguf_open(path, g);
    return s ? s : jang_tokenizer_from_gguf(*g, tok);
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
    if ((s = open_tokenizer(o.model, &g, &tok))) {
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
    jang_context_opts co;
    jang_context_opts_init(&co);
    co.n_threads = o.threads;
    co.max_ctx = o.ctx;
    double t0 = cli_now_s();
    if ((s = jang_model_open(o.model, NULL, &m)) || (s = jang_context_init(m, &co, &cx))) {
        cli_error("run", s);
        goto done;
    }
    double t_load = cli_now_s() - t0;
    const jang_model_desc *d = jang_model_get_desc(m);
    int64_t ctx = jang_context_max_ctx(cx);
    if (n_ids >= ctx) {
        fprintf(stderr, "jang run: the prompt has %lld tokens, the context only %lld (-c)\n",
                (long long)n_ids, (long long)ctx);
        goto done;
    }
    if (jang_tokenizer_n_vocab(tok) > d->vocab_size)
        fprintf(stderr, "jang run: warning: tokenizer has %lld tokens, the model %lld\n",
                (long long)jang_tokenizer_n_vocab(tok), (long long)d->vocab_size);
    logits = malloc((size_t)d->vocab_size * sizeof(float));
    if (!logits || (s = jang_sampler_init(&o.sampling, d->vocab_size, &smp))) {
        cli_error("run", logits ? s : JANG_E_NOMEM);
        goto done;
    }
    if (o.echo) {
        fputs(text, stdout);
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
    for (int64_t i = 0; i < n_ids; i++)
        jang_sampler_accept(smp, ids[i]);
    double t_prompt = cli_now_s() - t1;
    jang_detok_stream ds;
    jang_detok_stream_init(&ds);
    int64_t pos = n_ids, n_gen = 0;
    double t2 = cli_now_s();
    while (n_gen < o.n_predict && pos < ctx) {
        int32_t next = jang_sampler_sample(smp, logits);
        jang_sampler_accept(smp, next);
        n_gen++;
        if (jang_tokenizer_is_eog(tok, next)) break;
        print_piece(tok, &ds, next);
        if (n_gen == o.n_predict || pos + 1 >= ctx) break;
        if ((s = jang_context_forward(cx, &next, 1, pos, false, logits))) {
            cli_error("run", s);
            goto done;
        }
        pos++;
    }
    char tail[16];
    size_t tl = jang_detok_stream_flush(&ds, tail, sizeof tail);
    fwrite(tail, 1, tl, stdout);
    double t_gen = cli_now_s() - t2;
    printf("\n");
    fflush(stdout);
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
