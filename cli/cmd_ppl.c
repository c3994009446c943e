/* cmd_ppl.c — `jang ppl -m MODEL -f TEXT`: perplexity over non-overlapping chunks as
 * llama-perplexity computes it, optionally saving the run as a reference (--save-ref) or
 * comparing against one (--ref: KL divergence, top-token agreement, Δp, PPL ratio).
 * The text is read whole, one trailing newline dropped and tokenized with the model's rule for
 * BOS (as llama-perplexity does); the numbers come from src/eval/ppl.c.
 * Tested by tests/test_cli.c / tests/test_eval.c; cross-checked in docs/QUALITY.md.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *device;
    const char *model, *text, *save_ref, *ref;
    int64_t n_ctx, n_chunks, n_batch;
    int threads, parallel;
    int topk, samples;
    bool topk_set;
} ppl_opts;

#define F(field) CLI_FIELD(ppl_opts, field)
static const cli_opt ppl_rows[] = {
    {"model", 'm', CLI_STR, F(model), .meta = "MODEL", .required = true,
     .help = "GGUF file or model directory (HF, JANG, MLX)"},
    {"file", 'f', CLI_STR, F(text), .meta = "TEXT", .required = true,
     .help = "the text file (e.g. ../shared/data/wikitext-2-raw/wiki.test.raw)"},
    {"ctx", 'c', CLI_INT, F(n_ctx), .lo = 4, .hi = 1 << 20, .meta = "N",
     .help = "tokens per chunk (default 512); the second half is scored"},
    {"chunks", 0, CLI_INT, F(n_chunks), .lo = 1, .hi = 1e9, .meta = "N",
     .help = "evaluate only the first N chunks (default: all)"},
    {"batch", 'b', CLI_INT, F(n_batch), .lo = 1, .hi = 1 << 20, .meta = "N",
     .help = "tokens per forward call (default: the chunk)"},
    {"threads", 't', CLI_INT, F(threads), .lo = 1, .hi = 1024, .meta = "N",
     .help = "threads (default: all CPUs), shared by the --parallel contexts"},
    {"device", 0, CLI_STR, F(device), .meta = "NAME",
     .help = "where the model runs: cpu (default), or cuda in a make CUDA=1 build"},
    {"parallel", 0, CLI_INT, F(parallel), .lo = 1, .hi = 64, .meta = "P",
     .help = "P chunks at once, one context each on the one loaded model\n"
             "(default 1; the numbers do not change)"},
    {"save-ref", 0, CLI_STR, F(save_ref), .meta = "FILE",
     .help = "save this run as a reference (top-k log-probs + tail mass)"},
    {"topk", 0, CLI_INT, F(topk), .lo = 1, .hi = JANG_REF_MAX_TOPK, .meta = "K",
     .help = "top tokens kept per position with --save-ref (default 64)"},
    {"tail-samples", 0, CLI_INT, F(samples), .lo = 0, .hi = JANG_REF_MAX_TOPK, .meta = "M",
     .help = "tail tokens sampled per position with --save-ref (default\n"
             "64; they make the KLD unbiased, 0 = top-k lower bound)"},
    {"ref", 0, CLI_STR, F(ref), .meta = "FILE",
     .help = "compare against a saved reference: KL divergence etc."},
};
#undef F

static const cli_cmd ppl_cmd = {"ppl", "-m MODEL -f TEXT [options]", ppl_rows, CLI_COUNT(ppl_rows),
                                NULL};

static int parse_args(int argc, char **argv, ppl_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_ctx = 512;
    o->parallel = 1;
    o->topk = -1, o->samples = -1; /* below their ranges: not given */
    int rc = cli_parse(&ppl_cmd, o, argc, argv);
    if (rc) return rc;
    o->topk_set = o->topk >= 0 || o->samples >= 0;
    if (o->topk < 0) o->topk = 64;
    if (o->samples < 0) o->samples = 64;
    if (o->save_ref && o->ref) {
        fprintf(stderr, "jang ppl: --save-ref and --ref exclude each other\n");
        return 2;
    }
    if (o->topk_set && !o->save_ref) {
        fprintf(stderr, "jang ppl: --topk and --tail-samples only apply with --save-ref\n");
        return 2;
    }
    return 0;
}

/* SHA-256 of the first n token ids (int32 little-endian, as in memory on the hosts we run on);
 * zero when the text has fewer. */
static void tokens_hash(const int32_t *ids, int64_t n_ids, int64_t n, uint8_t out[32]) {
    memset(out, 0, 32);
    if (n <= n_ids) jang_sha256(ids, (size_t)n * sizeof(int32_t), out);
}

static void on_chunk(void *ud, int64_t c, int64_t n, const jang_ppl_stats *st) {
    (void)ud;
    if (!st->has_ref) {
        printf("[%lld]%.4f,", (long long)c + 1, st->ppl);
        if (c + 1 == n) printf("\n");
    } else {
        if (c == 0)
            printf("chunk        PPL        ln(PPL/PPL_base)      KL divergence        same top\n");
        printf("%5lld  %9.4f  %10.5f ± %8.5f  %9.5f ± %8.5f  %6.2f%%\n", (long long)c + 1, st->ppl,
               st->ln_ratio, st->ln_ratio_err, st->kld, st->kld_err, 100 * st->same_top);
    }
    fflush(stdout);
}

static void print_ref_stats(const jang_ppl_stats *st, const jang_ref_info *ri) {
    printf("\n====== Perplexity statistics ======\n");
    printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", st->ppl, st->ppl_err);
    printf("Mean PPL(base)                : %10.6f ± %10.6f\n", st->ppl_base, st->ppl_base_err);
    printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", st->ln_ratio, st->ln_ratio_err);
    printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", st->ppl_ratio, st->ppl_ratio_err);
    printf("\n====== KL divergence statistics ======\n");
    printf("Mean    KLD: %10.6f ± %10.6f\n", st->kld, st->kld_err);
    printf("Maximum KLD: %10.6f\n", st->kld_max);
    printf("99.9%%   KLD: %10.6f\n", st->kld_q999);
    printf("99.0%%   KLD: %10.6f\n", st->kld_q99);
    printf("90.0%%   KLD: %10.6f\n", st->kld_q90);
    printf("Median  KLD: %10.6f\n", st->kld_median);
    printf("Minimum KLD: %10.6f\n", st->kld_min);
    if (ri->n_samples > 0)
        printf("(reference: top-%d + tail mass + %d tail samples per position: an unbiased KLD\n"
               " estimate; the top-%d + tail-mass lower bound is %.6f; mean tail mass %.4f)\n",
               ri->topk, ri->n_samples, ri->topk, st->kld_lower, st->tail_mean);
    else
        printf("(reference: top-%d + tail mass per position: the KLD is a lower bound, short by\n"
               " the tail mass (mean %.4f, max %.4f) times the divergence inside the tail)\n",
               ri->topk, st->tail_mean, st->tail_max);
    printf("\n====== Token probability statistics ======\n");
    printf("Mean    Δp: %6.3f ± %5.3f %%\n", 100 * st->dp, 100 * st->dp_err);
    printf("RMS Δp    : %6.3f ± %5.3f %%\n", 100 * st->dp_rms, 100 * st->dp_rms_err);
    printf("Same top p: %6.3f ± %5.3f %%\n", 100 * st->same_top, 100 * st->same_top_err);
}

int cmd_ppl(int argc, char **argv) {
    ppl_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    jang_gguf *g = NULL;
    jang_tokenizer *tok = NULL;
    jang_model *m = NULL;
    jang_context *cxs[64] = {0}; /* --parallel's contexts */
    jang_ref *ref = NULL;
    jang_ref_writer *w = NULL;
    char *text = NULL;
    int32_t *ids = NULL;
    jang_status s;
    rc = 1;
    /* the text: hashed as read, then one trailing newline dropped (llama-perplexity's -f) */
    FILE *f = fopen(o.text, "rb");
    if (!f) {
        fprintf(stderr, "jang ppl: cannot open %s\n", o.text);
        goto done;
    }
    size_t cap = 1 << 20, len = 0;
    text = malloc(cap);
    for (size_t got; text && (got = fread(text + len, 1, cap - len, f)) > 0;) {
        len += got;
        if (len == cap) {
            char *nt = realloc(text, cap *= 2);
            if (!nt) free(text);
            text = nt;
        }
    }
    bool read_err = ferror(f);
    fclose(f);
    if (!text || read_err) {
        fprintf(stderr, "jang ppl: cannot read %s\n", o.text);
        goto done;
    }
    jang_ref_info info;
    memset(&info, 0, sizeof info);
    jang_sha256(text, len, info.text_sha256);
    if (len > 0 && text[len - 1] == '\n') len--;
    if ((s = cli_open_tokenizer(o.model, &g, &tok))) {
        cli_error("ppl", s);
        goto done;
    }
    int64_t n_ids = 0;
    double t0 = cli_now_s();
    if ((s = jang_tokenizer_encode(tok, text, len, JANG_ENCODE_ADD_SPECIAL, &ids, &n_ids))) {
        cli_error("ppl", s);
        goto done;
    }
    double t_tok = cli_now_s() - t0;
    jang_tokenizer_fingerprint(tok, info.vocab_sha256);
    info.n_text_tokens = n_ids;
    info.n_ctx = (int32_t)o.n_ctx;
    info.n_scored = (int32_t)(o.n_ctx - 1 - o.n_ctx / 2);
    info.bos = jang_tokenizer_adds_bos(tok) ? jang_tokenizer_bos(tok) : -1;
    int64_t max_chunks = jang_ppl_max_chunks(n_ids, o.n_ctx);
    if (max_chunks == 0) {
        fprintf(stderr, "jang ppl: %s gives %lld tokens; a context of %lld needs at least %lld\n",
                o.text, (long long)n_ids, (long long)o.n_ctx, (long long)(2 * o.n_ctx));
        goto done;
    }
    int64_t n_chunks = o.n_chunks > 0 && o.n_chunks < max_chunks ? o.n_chunks : max_chunks;
    if (o.ref) {
        if ((s = jang_ref_open(o.ref, &ref))) {
            cli_error("ppl", s);
            goto done;
        }
        const jang_ref_info *ri = jang_ref_get_info(ref);
        if (o.n_chunks > ri->n_chunks) {
            fprintf(stderr, "jang ppl: --chunks %lld, but %s holds only %d chunks\n",
                    (long long)o.n_chunks, o.ref, ri->n_chunks);
            goto done;
        }
        if (n_chunks > ri->n_chunks) n_chunks = ri->n_chunks;
        tokens_hash(ids, n_ids, (int64_t)ri->n_chunks * o.n_ctx, info.tokens_sha256);
    } else {
        tokens_hash(ids, n_ids, n_chunks * o.n_ctx, info.tokens_sha256);
    }
    jang_context_opts co;
    jang_context_opts_init(&co);
    int cpus = o.threads > 0 ? o.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    co.n_threads = cpus / o.parallel > 1 ? cpus / o.parallel : 1; /* the threads, shared */
    co.max_ctx = o.n_ctx;
    jang_model_opts mo;
    jang_model_opts_init(&mo);
    mo.backend = o.device;
    if ((s = jang_model_open(o.model, &mo, &m))) {
        cli_error("ppl", s);
        goto done;
    }
    for (int i = 0; i < o.parallel; i++)
        if ((s = jang_context_init(m, &co, &cxs[i]))) {
            cli_error("ppl", s);
            goto done;
        }
    const jang_model_desc *d = jang_model_get_desc(m);
    info.n_vocab = (int32_t)d->vocab_size;
    if (o.ref && (s = jang_ref_check(ref, &info))) {
        fprintf(stderr, "jang ppl: %s does not fit this run: %s\n", o.ref, jang_last_error());
        goto done;
    }
    if (o.ref && memcmp(jang_ref_get_info(ref)->vocab_sha256, info.vocab_sha256, 32) != 0)
        fprintf(stderr, "jang ppl: note: this tokenizer's vocabulary differs from the "
                        "reference's, but the text gives the same token ids\n");
    if (o.save_ref) {
        snprintf(info.model, sizeof info.model, "%s", o.model);
        info.n_chunks = (int32_t)n_chunks;
        info.topk = o.topk < info.n_vocab ? o.topk : info.n_vocab;
        info.n_samples = info.topk < info.n_vocab ? o.samples : 0;
        if ((s = jang_ref_writer_open(o.save_ref, &info, &w))) {
            cli_error("ppl", s);
            goto done;
        }
    }
    fprintf(stderr,
            "jang ppl: %s: %lld tokens (tokenized in %.2f s), %lld chunks of %lld, scoring %d "
            "each, BOS %s\n",
            o.text, (long long)n_ids, t_tok, (long long)n_chunks, (long long)o.n_ctx, info.n_scored,
            info.bos >= 0 ? "at each chunk start" : "none");
    if (o.ref)
        fprintf(stderr, "jang ppl: reference %s (model %s, top-%d + %d tail samples)\n", o.ref,
                jang_ref_get_info(ref)->model, jang_ref_get_info(ref)->topk,
                jang_ref_get_info(ref)->n_samples);
    jang_ppl_opts po;
    jang_ppl_opts_init(&po);
    po.n_ctx = o.n_ctx;
    po.n_chunks = n_chunks;
    po.n_batch = o.n_batch;
    po.bos = info.bos;
    po.on_chunk = on_chunk;
    jang_ppl_stats st;
    double t1 = cli_now_s();
    s = jang_ppl_run(cxs, o.parallel, ids, n_ids, &po, w, ref, &st);
    if (s) {
        printf("\n");
        cli_error("ppl", s);
        goto done;
    }
    double t_run = cli_now_s() - t1;
    if (w) {
        s = jang_ref_writer_finish(w);
        w = NULL;
        if (s) {
            cli_error("ppl", s);
            goto done;
        }
    }
    if (ref) print_ref_stats(&st, jang_ref_get_info(ref));
    printf("\nFinal estimate: PPL = %.4f +/- %.5f  (%lld positions, %lld chunks of %lld)\n", st.ppl,
           st.ppl_err, (long long)st.count, (long long)n_chunks, (long long)o.n_ctx);
    if (o.save_ref)
        printf("reference saved to %s (top-%d + %d tail samples)\n", o.save_ref, info.topk,
               info.n_samples);
    fprintf(stderr, "jang ppl: %.1f s, %.1f tokens/s\n", t_run,
            t_run > 0 ? (double)(n_chunks * (o.n_ctx - 1)) / t_run : 0.0);
    rc = 0;
done:
    jang_ref_writer_abort(w);
    jang_ref_close(ref);
    free(ids);
    free(text);
    for (int i = 0; i < 64; i++)
        jang_context_free(cxs[i]);
    jang_model_close(m);
    jang_tokenizer_free(tok);
    jang_gguf_close(g);
    return rc;
}
