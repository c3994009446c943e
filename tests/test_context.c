/* test_context.c — the runtime's model / context split: several contexts on one loaded model, run
 * from several threads at once, and one batched decode step over several sequences of different
 * lengths, each giving exactly (bit for bit) the logits of its sequence run alone in its own
 * context. On the tiny transformers fixtures (f32 weights) and on a 4-bit JANG conversion of one
 * (affine kernels). `make tsan` runs these under ThreadSanitizer.
 */
#include "test.h"

#include <pthread.h>
#include <stdlib.h>

enum { NSEQ = 4, MAXLEN = 40, NDEC = 6 };

/* Sequence s: a prompt of 3 + 5*s tokens, then NDEC tokens fed one at a time. */
static int prompt_len(int s) { return 3 + 5 * s; }

static void make_tokens(int64_t V, int32_t tok[NSEQ][MAXLEN]) {
    uint32_t r = 2024;
    for (int s = 0; s < NSEQ; s++)
        for (int i = 0; i < MAXLEN; i++) {
            r = r * 1664525u + 1013904223u;
            tok[s][i] = (int32_t)((r >> 8) % (uint32_t)V);
        }
}

/* Runs sequence s alone in c: the prompt in one call (last logits), then NDEC single-token
 * steps; out receives (1 + NDEC, V) logits. */
static jang_status run_alone(jang_context *c, const int32_t *tok, int s, int64_t V, float *out) {
    int n = prompt_len(s);
    jang_status st = jang_context_forward(c, tok, n, 0, false, out);
    for (int k = 0; k < NDEC && !st; k++)
        st = jang_context_forward(c, tok + n + k, 1, n + k, false, out + (size_t)(k + 1) * V);
    return st;
}

typedef struct {
    jang_context *c;
    const int32_t *tok;
    int s;
    int64_t V;
    float *out;
    jang_status st;
} thread_job;

static void *thread_main(void *arg) {
    thread_job *j = arg;
    /* twice, so that each thread's second run starts while others are mid-sequence */
    j->st = run_alone(j->c, j->tok, j->s, j->V, j->out);
    if (!j->st) j->st = run_alone(j->c, j->tok, j->s, j->V, j->out);
    return NULL;
}

static jang_context *ctx_on(jang_model *m, int threads) {
    jang_context_opts o;
    jang_context_opts_init(&o);
    o.n_threads = threads;
    o.max_ctx = 64;
    jang_context *c = NULL;
    jang_status s = jang_context_init(m, &o, &c);
    CHECK_MSG(s == JANG_OK, "context: %s", jang_last_error());
    return c;
}

static void check_model(const char *path) {
    jang_model *m = NULL;
    jang_status st = jang_model_open(path, NULL, &m);
    CHECK_MSG(st == JANG_OK, "%s: %s", path, jang_last_error());
    if (st) return;
    const int64_t V = jang_model_get_desc(m)->vocab_size;
    const size_t per = (size_t)(1 + NDEC) * (size_t)V;
    static int32_t tok[NSEQ][MAXLEN];
    make_tokens(V, tok);
    float *alone = malloc(NSEQ * per * sizeof(float)), *par = malloc(NSEQ * per * sizeof(float));
    float *bat = malloc(NSEQ * per * sizeof(float)), *step = malloc(NSEQ * (size_t)V * 4);
    jang_context *c[NSEQ] = {0};
    REQUIRE(alone && par && bat && step);

    /* the references: each sequence alone, one after the other, in one context */
    jang_context *ref = ctx_on(m, 2);
    for (int s = 0; s < NSEQ && ref; s++)
        CHECK_OK(run_alone(ref, tok[s], s, V, alone + s * per));
    jang_context_free(ref);

    /* NSEQ contexts on the one model, NSEQ threads at once */
    for (int s = 0; s < NSEQ; s++)
        c[s] = ctx_on(m, 1);
    pthread_t th[NSEQ];
    thread_job jobs[NSEQ];
    for (int s = 0; s < NSEQ; s++) {
        jobs[s] = (thread_job){c[s], tok[s], s, V, par + s * per, JANG_OK};
        CHECK(pthread_create(&th[s], NULL, thread_main, &jobs[s]) == 0);
    }
    for (int s = 0; s < NSEQ; s++) {
        pthread_join(th[s], NULL);
        CHECK_MSG(jobs[s].st == JANG_OK, "thread %d: %s", s, jang_status_str(jobs[s].st));
        CHECK_MSG(!memcmp(par + s * per, alone + s * per, per * sizeof(float)),
                  "%s: sequence %d in its own thread differs from it alone", path, s);
    }

    /* batched decode: prompts of different lengths prefilled per context, then NDEC steps of
     * all sequences together (the step runs on c[1]'s threads: any context may lead) */
    for (int s = 0; s < NSEQ; s++)
        CHECK_OK(jang_context_forward(c[s], tok[s], prompt_len(s), 0, false, bat + s * per));
    jang_context *order[NSEQ] = {c[1], c[0], c[3], c[2]};
    const int idx[NSEQ] = {1, 0, 3, 2};
    for (int k = 0; k < NDEC; k++) {
        int32_t t[NSEQ];
        int64_t pos[NSEQ];
        for (int i = 0; i < NSEQ; i++) {
            int s = idx[i];
            t[i] = tok[s][prompt_len(s) + k];
            pos[i] = prompt_len(s) + k;
        }
        CHECK_OK(jang_decode_batch(order, NSEQ, t, pos, step));
        for (int i = 0; i < NSEQ; i++)
            memcpy(bat + idx[i] * per + (size_t)(k + 1) * V, step + (size_t)i * V, V * 4);
    }
    for (int s = 0; s < NSEQ; s++)
        CHECK_MSG(!memcmp(bat + s * per, alone + s * per, per * sizeof(float)),
                  "%s: sequence %d in a batched decode differs from it alone", path, s);

    /* bad batches: a context twice, a position past the cache, a token outside the vocabulary */
    int32_t t2[2] = {1, 2};
    int64_t p2[2] = {3, 3};
    jang_context *twice[2] = {c[0], c[0]};
    CHECK(jang_decode_batch(twice, 2, t2, p2, step) == JANG_E_ARG);
    p2[1] = 64;
    CHECK(jang_decode_batch(c, 2, t2, p2, step) == JANG_E_ARG);
    p2[1] = 3, t2[0] = (int32_t)V;
    CHECK(jang_decode_batch(c, 2, t2, p2, step) == JANG_E_ARG);
    CHECK(jang_decode_batch(c, 0, t2, p2, step) == JANG_E_ARG);

    for (int s = 0; s < NSEQ; s++)
        jang_context_free(c[s]);
    free(alone), free(par), free(bat), free(step);
    jang_model_close(m);
}

TEST(context_threads_and_batched_decode_tiny) {
    static const char *archs[] = {"llama", "qwen2", "qwen3"};
    char dir[600];
    for (int i = 0; i < 3; i++) {
        snprintf(dir, sizeof dir, "%s/%s", test_data_path("tiny"), archs[i]);
        check_model(dir);
    }
}

TEST(context_threads_and_batched_decode_jang) {
    char src[600], out[700];
    snprintf(src, sizeof src, "%s/qwen2", test_data_path("tiny"));
    snprintf(out, sizeof out, "%s/q4", test_tmpdir());
    jang_convert_opts o;
    jang_convert_opts_init(&o);
    o.n_threads = 2;
    o.alloc.recipe = JANG_RECIPE_UNIFORM;
    o.alloc.bits = 4;
    o.alloc.group = 32;
    jang_converter *cv = NULL;
    jang_status s = jang_converter_open(src, &o, &cv);
    if (!s) s = jang_converter_write(cv, out);
    jang_converter_close(cv);
    REQUIRE_OK(s);
    check_model(out);
}

TEST(context_errors) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/llama", test_data_path("tiny"));
    jang_model *m = NULL;
    REQUIRE_OK(jang_model_open(dir, NULL, &m));
    jang_context_opts o;
    jang_context_opts_init(&o);
    jang_context *c = NULL;
    o.max_ctx = ((int64_t)1 << 24) + 1;
    CHECK(jang_context_init(m, &o, &c) == JANG_E_ARG && c == NULL);
    o.max_ctx = 16;
    o.isa = "bogus";
    CHECK(jang_context_init(m, &o, &c) == JANG_E_ARG && c == NULL);
    CHECK(strstr(jang_last_error(), "bogus") != NULL);
    o.isa = "scalar";
    REQUIRE_OK(jang_context_init(m, &o, &c));
    CHECK(strstr(jang_context_backend(c), "scalar") != NULL);
    CHECK(jang_context_max_ctx(c) == 16);
    int32_t t = 1;
    float *lg = malloc((size_t)jang_model_get_desc(m)->vocab_size * sizeof(float));
    CHECK(jang_context_forward(c, &t, 1, 16, false, lg) == JANG_E_ARG);
    CHECK_OK(jang_context_forward(c, &t, 1, 15, false, lg));
    free(lg);
    jang_context_free(c);
    jang_context_free(NULL);
    jang_model_close(m);
    jang_model_opts mo;
    jang_model_opts_init(&mo);
    mo.backend = "nope";
    CHECK(jang_model_open(dir, &mo, &m) == JANG_E_ARG && m == NULL);
    CHECK(strstr(jang_last_error(), "nope") != NULL);
}
