/* test_eval.c — the evaluation harness (src/eval/): SHA-256 against the FIPS examples; the
 * perplexity / KLD math against brute force over full distributions (a known distribution, an
 * identical run giving exactly 0, a perturbed run, the top-k lower bound); the chunked run and the
 * scorer on the tiny models of tests/data/tiny against plain forward passes; reference files
 * (round trip, header mismatches, truncation, corruption); MMLU CSV parsing, prompts and
 * jang_tools' answer extractor (expectations computed with its Python code); HellaSwag loading;
 * and `jang ppl / mmlu / hellaswag` end to end on the tiny llama with a small byte-level
 * tokenizer written here, plus their bad arguments.
 */
#include "test.h"

#include "../src/eval/eval_internal.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers --------------------------------------------------------------------------------- */

static uint64_t rng_state = 88172645463325252ull;
static double urand(void) { /* xorshift64, [0, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static double nrand(void) { /* Box-Muller */
    double u = urand() + 1e-12, v = urand();
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static void softmax_d(const float *x, int64_t n, double *p) {
    double mx = x[0], s = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > mx) mx = x[i];
    for (int64_t i = 0; i < n; i++)
        s += exp((double)x[i] - mx);
    for (int64_t i = 0; i < n; i++)
        p[i] = exp((double)x[i] - mx) / s;
}

static int64_t argmax_f(const float *x, int64_t n) {
    int64_t a = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[a]) a = i;
    return a;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static bool close_to(double a, double b, double abs_tol, double rel_tol) {
    return fabs(a - b) <= abs_tol + rel_tol * fabs(b);
}
#define CHECK_CLOSE(a, b, at, rt)                                                                  \
    CHECK_MSG(close_to((a), (b), (at), (rt)), "%s = %.10g, expected %s = %.10g", #a, (double)(a),  \
              #b, (double)(b))

static void hex(const uint8_t *d, int n, char *out) {
    for (int i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static bool write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    *n = b ? fread(b, 1, (size_t)sz, f) : 0;
    fclose(f);
    return b;
}

/* A tiny fixture and one context on it (the context owns nothing of the model: close_tiny). */
static jang_context *open_tiny(const char *arch, int64_t max_ctx) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/%s", test_data_path("tiny"), arch);
    jang_context_opts o;
    jang_context_opts_init(&o);
    o.n_threads = 1;
    o.max_ctx = max_ctx;
    jang_model *m = NULL;
    jang_context *c = NULL;
    jang_status s = jang_model_open(dir, NULL, &m);
    if (!s) s = jang_context_init(m, &o, &c);
    CHECK_MSG(s == JANG_OK, "%s: %s", arch, jang_last_error());
    if (s) jang_model_close(m);
    return c;
}

static void close_tiny(jang_context *c) {
    jang_model *m = c ? (jang_model *)jang_context_model(c) : NULL;
    jang_context_free(c);
    jang_model_close(m);
}

/* ---- SHA-256 --------------------------------------------------------------------------------- */

TEST(eval_sha256) {
    static const struct {
        const char *msg, *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    char h[65];
    uint8_t d[32];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        jang_sha256(v[i].msg, strlen(v[i].msg), d);
        hex(d, 32, h);
        CHECK_STR(h, v[i].hex);
    }
    /* one million 'a', fed in uneven pieces */
    char *a = malloc(1000000);
    REQUIRE(a);
    memset(a, 'a', 1000000);
    jang_sha256_ctx c;
    jang_sha256_init(&c);
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t n = step < 1000000 - off ? step : 1000000 - off;
        jang_sha256_update(&c, a + off, n);
        off += n;
        step = step * 7 % 131 + 1;
    }
    jang_sha256_final(&c, d);
    hex(d, 32, h);
    CHECK_STR(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

/* ---- row helpers ----------------------------------------------------------------------------- */

TEST(eval_topk_tail) {
    enum { V = 40 };
    float x[V];
    for (int i = 0; i < V; i++)
        x[i] = (float)(int)(nrand() * 3); /* integers: plenty of ties */
    int32_t ids[V];
    for (int k = 1; k <= V; k += 13) {
        jang_eval_topk(x, V, k, ids);
        /* brute force: rank of i = number of j before it (higher logit, or equal and lower id) */
        for (int r = 0; r < k; r++) {
            int i = ids[r], rank = 0;
            for (int j = 0; j < V; j++)
                rank += x[j] > x[i] || (x[j] == x[i] && j < i);
            CHECK_MSG(rank == r, "k=%d: position %d holds id %d of rank %d", k, r, i, rank);
        }
        int32_t am;
        double lse = jang_eval_lse(x, V, &am);
        CHECK_EQ_INT(am, ids[0]);
        double p[V], tail = 0;
        softmax_d(x, V, p);
        uint8_t mask[V] = {0};
        for (int j = 0; j < V; j++) {
            bool in = false;
            for (int r = 0; r < k; r++)
                in = in || ids[r] == j;
            if (!in) tail += p[j];
        }
        CHECK_CLOSE(jang_eval_tail(x, V, lse, ids, k, mask, 0, 0, NULL, NULL), tail, 1e-7, 1e-6);
        for (int j = 0; j < V; j++)
            CHECK(mask[j] == 0);
        if (k == V) continue;
        /* systematic tail samples: tail tokens in id order, in proportion to probability */
        enum { M = 4000 };
        static int32_t sid[M];
        static float slp[M];
        CHECK_CLOSE(jang_eval_tail(x, V, lse, ids, k, mask, M, 7, sid, slp), tail, 1e-7, 1e-6);
        int count[V] = {0};
        for (int j = 0; j < M; j++) {
            REQUIRE(sid[j] >= 0 && sid[j] < V);
            CHECK(j == 0 || sid[j] >= sid[j - 1]);
            CHECK(slp[j] == jang_eval_logp(x, lse, sid[j]));
            count[sid[j]]++;
        }
        for (int j = 0; j < V; j++) {
            bool in = false;
            for (int r = 0; r < k; r++)
                in = in || ids[r] == j;
            /* systematic sampling: each count is the floor or the ceiling of M p_j / P_T */
            double want = in ? 0 : M * p[j] / tail;
            CHECK_MSG(fabs(count[j] - want) < 1.0 + 1e-9, "k=%d id %d: %d samples, expected %.2f",
                      k, j, count[j], want);
            CHECK(mask[j] == 0);
        }
    }
    /* an empty tail gives -1 samples */
    int32_t all[V], sid[3];
    float slp[3];
    uint8_t mask[V] = {0};
    jang_eval_topk(x, V, V, all);
    double lse = jang_eval_lse(x, V, NULL);
    CHECK(jang_eval_tail(x, V, lse, all, V, mask, 3, 1, sid, slp) == 0);
    CHECK(sid[0] == -1 && sid[2] == -1 && slp[1] == 0);
}

/* ---- perplexity and KLD math ----------------------------------------------------------------- */

TEST(eval_ppl_known_distribution) {
    enum { V = 8 };
    jang_ppl_acc *a = NULL;
    REQUIRE_OK(jang_ppl_acc_init(V, &a));
    /* uniform: PPL = V exactly, no spread */
    float u[V] = {0};
    for (int i = 0; i < 100; i++)
        CHECK_OK(jang_ppl_acc_add(a, u, i % V, NULL));
    jang_ppl_stats st;
    jang_ppl_acc_stats(a, &st);
    CHECK_EQ_INT(st.count, 100);
    CHECK_CLOSE(st.ppl, 8.0, 1e-9, 1e-6);
    CHECK_CLOSE(st.ppl_err, 0.0, 1e-6, 0);
    CHECK(!st.has_ref);
    jang_ppl_acc_free(a);
    /* p(target) = 1/2 on even positions and 1/4 on odd ones: PPL = 2^1.5, and
     * llama-perplexity's error sqrt(var / (n - 1)) * PPL with var = (ln 2 / 2)^2 */
    REQUIRE_OK(jang_ppl_acc_init(V, &a));
    float half[V], quarter[V];
    for (int i = 0; i < V; i++) {
        half[i] = (float)log(0.5 / 7);
        quarter[i] = (float)log(0.75 / 7);
    }
    half[3] = (float)log(0.5);
    quarter[3] = (float)log(0.25);
    int n = 200;
    for (int i = 0; i < n; i++)
        CHECK_OK(jang_ppl_acc_add(a, i % 2 ? quarter : half, 3, NULL));
    jang_ppl_acc_stats(a, &st);
    CHECK_CLOSE(st.ppl, pow(2, 1.5), 1e-9, 1e-6);
    CHECK_CLOSE(st.nll, 1.5 * log(2), 1e-9, 1e-6);
    CHECK_CLOSE(st.ppl_err, sqrt(pow(0.5 * log(2), 2) / (n - 1)) * pow(2, 1.5), 1e-9, 1e-5);
    /* bad targets */
    CHECK(jang_ppl_acc_add(a, half, V, NULL) == JANG_E_ARG);
    CHECK(jang_ppl_acc_add(a, half, -1, NULL) == JANG_E_ARG);
    jang_ppl_acc_free(a);
    double lo, hi;
    jang_wilson_interval(50, 100, 1.96, &lo, &hi);
    CHECK_CLOSE(lo, 0.4038, 1e-4, 0);
    CHECK_CLOSE(hi, 0.5962, 1e-4, 0);
    jang_wilson_interval(0, 10, 1.96, &lo, &hi);
    CHECK(lo == 0 && hi > 0.27 && hi < 0.28);
}

TEST(eval_kld_identical_is_zero) {
    enum { V = 64, N = 300, K = 6, M = 5 };
    jang_ppl_acc *a = NULL;
    REQUIRE_OK(jang_ppl_acc_init(V, &a));
    float x[V];
    void *buf = malloc(jang_ref_token_bytes(K, M));
    REQUIRE(buf);
    for (int n = 0; n < N; n++) {
        for (int i = 0; i < V; i++)
            x[i] = (float)(nrand() * 4);
        int32_t t = (int32_t)(urand() * V);
        jang_ref_token rt;
        CHECK_OK(jang_ref_token_make(x, V, t, K, M, (uint64_t)n, buf, &rt));
        CHECK(rt.tail > 0 && rt.m == M && rt.sample_ids[0] >= 0);
        CHECK_OK(jang_ppl_acc_add(a, x, t, &rt));
    }
    jang_ppl_stats st;
    jang_ppl_acc_stats(a, &st);
    CHECK(st.has_ref);
    CHECK_MSG(st.kld == 0 && st.kld_max == 0 && st.kld_min == 0 && st.kld_lower == 0,
              "KLD %g (max %g, lower %g)", st.kld, st.kld_max, st.kld_lower);
    CHECK(st.dp == 0 && st.dp_rms == 0);
    CHECK(st.same_top == 1);
    CHECK(st.ppl == st.ppl_base && st.ln_ratio == 0);
    free(buf);
    jang_ppl_acc_free(a);
}

/* A perturbed run against brute force over the full distributions: with k = V the KLD is exact;
 * with k < V the lower bound equals the KL of the top-k + tail coarse-graining and stays below the
 * exact KL, and the sampled estimate equals its formula over the record's samples and lands
 * within its error of the exact KL. */
static void kld_case(int32_t K, int32_t M) {
    enum { V = 50, N = 400 };
    jang_ppl_acc *a = NULL;
    REQUIRE_OK(jang_ppl_acc_init(V, &a));
    float P[V], Q[V];
    double p[V], q[V], coarse[N], exact_sum = 0, coarse_sum = 0, nll = 0, nll_b = 0, dp = 0;
    double tail_sum = 0, est[N], est_sum = 0, diff_sum = 0, diff2 = 0;
    int same = 0;
    void *buf = malloc(jang_ref_token_bytes(K, M));
    int32_t *ids = malloc((size_t)K * sizeof(int32_t));
    REQUIRE(buf && ids);
    for (int n = 0; n < N; n++) {
        for (int i = 0; i < V; i++) {
            P[i] = (float)(nrand() * 3);
            Q[i] = P[i] + (float)(nrand() * 0.5);
        }
        int32_t t = (int32_t)(urand() * V);
        jang_ref_token rt;
        REQUIRE_OK(jang_ref_token_make(P, V, t, K, M, (uint64_t)n * 7919, buf, &rt));
        REQUIRE_OK(jang_ppl_acc_add(a, Q, t, &rt));
        softmax_d(P, V, p);
        softmax_d(Q, V, q);
        jang_eval_topk(P, V, K, ids);
        double ex = 0, co = 0, pt = 1, qt = 1;
        for (int i = 0; i < V; i++)
            ex += p[i] * log(p[i] / q[i]);
        for (int j = 0; j < K; j++) {
            co += p[ids[j]] * log(p[ids[j]] / q[ids[j]]);
            pt -= p[ids[j]];
            qt -= q[ids[j]];
        }
        double top = co;
        if (K < V) co += pt * log(pt / qt);
        coarse[n] = co;
        double e = co;
        if (M > 0 && K < V) {
            double sm = 0;
            for (int j = 0; j < M; j++)
                sm += log(p[rt.sample_ids[j]] / q[rt.sample_ids[j]]);
            e = top + pt * sm / M;
        }
        est[n] = e;
        est_sum += e;
        diff_sum += e - ex;
        diff2 += (e - ex) * (e - ex);
        exact_sum += ex;
        coarse_sum += co;
        CHECK_MSG(co <= ex + 1e-12, "coarse KL %g above the exact %g", co, ex);
        nll += -log(q[t]);
        nll_b += -log(p[t]);
        dp += q[t] - p[t];
        same += argmax_f(P, V) == argmax_f(Q, V);
        tail_sum += K < V ? pt : 0;
    }
    jang_ppl_stats st;
    jang_ppl_acc_stats(a, &st);
    CHECK_EQ_INT(st.count, N);
    CHECK_CLOSE(st.kld_lower, coarse_sum / N, 1e-6, 1e-5);
    CHECK_CLOSE(st.kld, est_sum / N, 1e-6, 1e-5);
    if (K == V) CHECK_CLOSE(st.kld, exact_sum / N, 1e-6, 1e-5);
    if (K < V)
        CHECK_MSG(st.kld_lower < exact_sum / N, "top-%d bound %g not below %g", K, st.kld_lower,
                  exact_sum / N);
    if (K < V && M > 0) {
        /* unbiased: the mean sampling error is within 3 of its standard errors */
        double md = diff_sum / N, sd = sqrt((diff2 / N - md * md) / (N - 1));
        CHECK_MSG(fabs(md) < 3 * sd, "top-%d + %d samples: mean error %g, its error %g", K, M, md,
                  sd);
        CHECK_MSG(fabs(st.kld - exact_sum / N) < fabs(st.kld_lower - exact_sum / N),
                  "samples %g no closer to %g than the bound %g", st.kld, exact_sum / N,
                  st.kld_lower);
    }
    double *qv = M > 0 && K < V ? est : coarse;
    qsort(qv, N, sizeof(double), cmp_d);
    CHECK_CLOSE(st.kld_median, 0.5 * (qv[N / 2] + qv[N / 2 - 1]), 1e-6, 1e-4);
    double f = 0.99 * (N - 1);
    int ip = (int)f;
    CHECK_CLOSE(st.kld_q99, (1 - (f - ip)) * qv[ip] + (f - ip) * qv[ip + 1], 1e-6, 1e-4);
    CHECK_CLOSE(st.kld_max, qv[N - 1], 1e-6, 1e-4);
    CHECK_CLOSE(st.ppl, exp(nll / N), 1e-9, 1e-5);
    CHECK_CLOSE(st.ppl_base, exp(nll_b / N), 1e-9, 1e-5);
    CHECK_CLOSE(st.ln_ratio, (nll - nll_b) / N, 1e-6, 1e-4);
    CHECK_CLOSE(st.dp, dp / N, 1e-7, 1e-5);
    CHECK_CLOSE(st.same_top, (double)same / N, 1e-12, 0);
    CHECK_CLOSE(st.tail_mean, tail_sum / N, 1e-7, 1e-5);
    CHECK(st.kld_err > 0 && st.kld_err < st.kld);
    free(buf);
    free(ids);
    jang_ppl_acc_free(a);
}

TEST(eval_kld_bruteforce) {
    kld_case(50, 0);
    kld_case(4, 0);
    kld_case(4, 16);
}

/* ---- reference files ------------------------------------------------------------------------- */

static void ref_info(jang_ref_info *in, int32_t V, int32_t K, int32_t M) {
    memset(in, 0, sizeof *in);
    snprintf(in->model, sizeof in->model, "test-model");
    jang_sha256("text", 4, in->text_sha256);
    jang_sha256("vocab", 5, in->vocab_sha256);
    jang_sha256("ids", 3, in->tokens_sha256);
    in->n_text_tokens = 20;
    in->n_ctx = 8;
    in->n_vocab = V;
    in->n_chunks = 2;
    in->n_scored = 8 - 1 - 4;
    in->topk = K;
    in->n_samples = M;
    in->bos = 1;
}

/* Writes a 2-chunk reference of 6 random records to path; logits kept in rows (6, V). */
static bool write_ref(const char *path, const jang_ref_info *in, float *rows, int32_t *targets) {
    jang_ref_writer *w = NULL;
    if (jang_ref_writer_open(path, in, &w)) return false;
    for (int r = 0; r < 6; r++) {
        for (int i = 0; i < in->n_vocab; i++)
            rows[r * in->n_vocab + i] = (float)(nrand() * 2);
        targets[r] = (int32_t)(urand() * in->n_vocab);
        if (jang_ref_writer_add(w, rows + r * in->n_vocab, targets[r])) {
            jang_ref_writer_abort(w);
            return false;
        }
    }
    return jang_ref_writer_finish(w) == JANG_OK;
}

TEST(eval_ref_roundtrip) {
    enum { V = 20, K = 4, M = 3 };
    jang_ref_info in;
    ref_info(&in, V, K, M);
    char path[600];
    snprintf(path, sizeof path, "%s/ref.bin", test_tmpdir());
    float rows[6 * V];
    int32_t targets[6];
    REQUIRE(write_ref(path, &in, rows, targets));
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && sb.st_size == 512 + 6 * (12 + 8 * K + 8 * M));
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0);
    jang_ref *r = NULL;
    REQUIRE_OK(jang_ref_open(path, &r));
    const jang_ref_info *ri = jang_ref_get_info(r);
    CHECK_STR(ri->model, "test-model");
    CHECK(!memcmp(ri->text_sha256, in.text_sha256, 32));
    CHECK(!memcmp(ri->vocab_sha256, in.vocab_sha256, 32));
    CHECK(!memcmp(ri->tokens_sha256, in.tokens_sha256, 32));
    CHECK(ri->n_ctx == 8 && ri->n_vocab == V && ri->n_chunks == 2 && ri->n_scored == 3 &&
          ri->topk == K && ri->n_samples == M && ri->bos == 1 && ri->n_text_tokens == 20);
    uint8_t buf[12 + 8 * K + 8 * M];
    for (int i = 0; i < 6; i++) {
        jang_ref_token got, want;
        REQUIRE(jang_ref_get(r, i, &got));
        REQUIRE_OK(jang_ref_token_make(rows + i * V, V, targets[i], K, M, (uint64_t)i, buf, &want));
        CHECK(got.target == want.target && got.target_logp == want.target_logp &&
              got.tail == want.tail && got.k == K && got.m == M);
        CHECK(!memcmp(got.ids, want.ids, K * 4) && !memcmp(got.logp, want.logp, K * 4));
        CHECK(!memcmp(got.sample_ids, want.sample_ids, M * 4) &&
              !memcmp(got.sample_logp, want.sample_logp, M * 4));
    }
    jang_ref_token t;
    CHECK(!jang_ref_get(r, 6, &t) && !jang_ref_get(r, -1, &t));
    /* header checks */
    CHECK_OK(jang_ref_check(r, &in));
    jang_ref_info other = in;
    jang_sha256("other text", 10, other.text_sha256);
    CHECK(jang_ref_check(r, &other) == JANG_E_ARG);
    CHECK_MSG(strstr(jang_last_error(), "another text"), "%s", jang_last_error());
    other = in;
    other.n_ctx = 16;
    CHECK(jang_ref_check(r, &other) == JANG_E_ARG);
    CHECK_MSG(strstr(jang_last_error(), "context of 8 tokens, this run 16"), "%s",
              jang_last_error());
    other = in;
    jang_sha256("vocab2", 6, other.vocab_sha256); /* informational only */
    CHECK_OK(jang_ref_check(r, &other));
    other = in;
    jang_sha256("ids2", 4, other.tokens_sha256);
    CHECK(jang_ref_check(r, &other) == JANG_E_ARG);
    CHECK_MSG(strstr(jang_last_error(), "other ids than for the reference"), "%s",
              jang_last_error());
    other = in;
    other.n_text_tokens = 21;
    CHECK(jang_ref_check(r, &other) == JANG_E_ARG);
    CHECK_MSG(strstr(jang_last_error(), "21 tokens with this tokenizer, 20 with the reference"),
              "%s", jang_last_error());
    other = in;
    other.bos = -1;
    CHECK(jang_ref_check(r, &other) == JANG_E_ARG);
    CHECK_MSG(strstr(jang_last_error(), "BOS"), "%s", jang_last_error());
    other = in;
    other.n_vocab = V + 1;
    CHECK(jang_ref_check(r, &other) == JANG_E_ARG);
    jang_ref_close(r);
}

static void expect_open_error(const char *path, jang_status want, const char *needle) {
    jang_ref *r = NULL;
    jang_status s = jang_ref_open(path, &r);
    CHECK_MSG(s == want, "%s: status %s, expected %s (%s)", needle, jang_status_str(s),
              jang_status_str(want), jang_last_error());
    CHECK_MSG(strstr(jang_last_error(), needle), "error lacks \"%s\": %s", needle,
              jang_last_error());
    CHECK(r == NULL);
    jang_ref_close(r);
}

TEST(eval_ref_corrupt) {
    enum { V = 20, K = 4, M = 3 };
    jang_ref_info in;
    ref_info(&in, V, K, M);
    char path[600], bad[600];
    snprintf(path, sizeof path, "%s/ref.bin", test_tmpdir());
    snprintf(bad, sizeof bad, "%s/bad.bin", test_tmpdir());
    float rows[6 * V];
    int32_t targets[6];
    REQUIRE(write_ref(path, &in, rows, targets));
    size_t n = 0;
    char *b = read_bytes(path, &n);
    REQUIRE(b && n == 512 + 6 * (12 + 8 * K + 8 * M));
    REQUIRE(write_bytes(bad, b, n - 7));
    expect_open_error(bad, JANG_E_FORMAT, "truncated");
    REQUIRE(write_bytes(bad, b, 100));
    expect_open_error(bad, JANG_E_FORMAT, "shorter than its header");
    char *big = malloc(n + 1);
    REQUIRE(big);
    memcpy(big, b, n);
    big[n] = 0;
    REQUIRE(write_bytes(bad, big, n + 1));
    expect_open_error(bad, JANG_E_FORMAT, "trailing bytes");
    free(big);
    b[600] ^= 0x40;
    REQUIRE(write_bytes(bad, b, n));
    expect_open_error(bad, JANG_E_FORMAT, "checksum mismatch");
    b[600] ^= 0x40;
    b[0] = 'X';
    REQUIRE(write_bytes(bad, b, n));
    expect_open_error(bad, JANG_E_FORMAT, "bad magic");
    b[0] = 'J';
    b[8] = 2; /* version */
    REQUIRE(write_bytes(bad, b, n));
    expect_open_error(bad, JANG_E_UNSUPPORTED, "version 2");
    b[8] = 1;
    b[16] = 9; /* n_ctx 9 with n_scored 3 */
    REQUIRE(write_bytes(bad, b, n));
    expect_open_error(bad, JANG_E_FORMAT, "scored positions");
    b[16] = 8;
    /* a record that is wrong but carries a valid checksum: its tail mass is off */
    float tail = 0.5f;
    memcpy(b + 512 + 8, &tail, 4);
    jang_sha256(b + 512, n - 512, (uint8_t *)b + 128);
    REQUIRE(write_bytes(bad, b, n));
    expect_open_error(bad, JANG_E_FORMAT, "probabilities sum to");
    /* a tail sample that is one of the top tokens, checksum valid */
    free(b);
    b = read_bytes(path, &n);
    REQUIRE(b);
    memcpy(b + 512 + 12 + 8 * K, b + 512 + 12, 4);
    jang_sha256(b + 512, n - 512, (uint8_t *)b + 128);
    REQUIRE(write_bytes(bad, b, n));
    expect_open_error(bad, JANG_E_FORMAT, "is a top token");
    free(b);
    expect_open_error("/nonexistent/ref.bin", JANG_E_IO, "/nonexistent/ref.bin");
    /* writer: fewer records than announced fails and leaves nothing; more fails at once */
    char p2[600];
    snprintf(p2, sizeof p2, "%s/short.bin", test_tmpdir());
    jang_ref_writer *w = NULL;
    REQUIRE_OK(jang_ref_writer_open(p2, &in, &w));
    CHECK_OK(jang_ref_writer_add(w, rows, 0));
    CHECK(jang_ref_writer_finish(w) == JANG_E_ARG);
    CHECK_MSG(strstr(jang_last_error(), "1 records written, the header announces 6"), "%s",
              jang_last_error());
    CHECK(access(p2, F_OK) != 0);
    REQUIRE_OK(jang_ref_writer_open(p2, &in, &w));
    for (int i = 0; i < 6; i++)
        CHECK_OK(jang_ref_writer_add(w, rows + i * V, 1));
    CHECK(jang_ref_writer_add(w, rows, 1) == JANG_E_ARG);
    jang_ref_writer_abort(w);
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp", p2);
    CHECK(access(p2, F_OK) != 0 && access(tmp, F_OK) != 0);
    jang_ref_info bad_in = in;
    bad_in.topk = V + 1;
    CHECK(jang_ref_writer_open(p2, &bad_in, &w) == JANG_E_ARG && w == NULL);
}

/* ---- the chunked run on a tiny model --------------------------------------------------------- */

enum { TN = 70, TC = 16 };

/* Brute force: each chunk in one forward pass with all logits, as llama-perplexity scores it. */
static void brute_chunks(jang_context *m, const int32_t *tok, int n_chunks, float *all) {
    int64_t V = jang_model_get_desc(jang_context_model(m))->vocab_size;
    for (int c = 0; c < n_chunks; c++) {
        int32_t ch[TC];
        memcpy(ch, tok + c * TC, sizeof ch);
        ch[0] = 1;
        CHECK_OK(jang_context_forward(m, ch, TC, 0, true, all + (size_t)c * TC * V));
    }
}

TEST(eval_ppl_run_tiny) {
    jang_context *m = open_tiny("llama", 64), *m2 = open_tiny("llama3rope", 64);
    if (!m || !m2) {
        close_tiny(m);
        close_tiny(m2);
        return;
    }
    const int64_t V = jang_model_get_desc(jang_context_model(m))->vocab_size;
    int32_t tok[TN];
    for (int i = 0; i < TN; i++)
        tok[i] = 3 + (int32_t)(urand() * (double)(V - 3));
    CHECK_EQ_INT(jang_ppl_max_chunks(TN, TC), 4);
    CHECK_EQ_INT(jang_ppl_max_chunks(31, TC), 0);
    float *P = malloc((size_t)3 * TC * V * sizeof(float));
    float *Q = malloc((size_t)3 * TC * V * sizeof(float));
    double *p = malloc((size_t)V * sizeof(double)), *q = malloc((size_t)V * sizeof(double));
    REQUIRE(P && Q && p && q);
    brute_chunks(m, tok, 3, P);
    brute_chunks(m2, tok, 3, Q);
    double nll = 0, nll_q = 0, kl = 0;
    int count = 0, same = 0;
    for (int c = 0; c < 3; c++)
        for (int t = TC / 2; t < TC - 1; t++) {
            const float *rp = P + ((size_t)c * TC + t) * V, *rq = Q + ((size_t)c * TC + t) * V;
            softmax_d(rp, V, p);
            softmax_d(rq, V, q);
            int32_t target = tok[c * TC + t + 1];
            nll -= log(p[target]);
            nll_q -= log(q[target]);
            for (int64_t i = 0; i < V; i++)
                kl += p[i] * log(p[i] / q[i]);
            same += argmax_f(rp, V) == argmax_f(rq, V);
            count++;
        }
    jang_ppl_opts o;
    jang_ppl_opts_init(&o);
    o.n_ctx = TC;
    o.n_chunks = 3;
    o.bos = 1;
    jang_ppl_stats st;
    REQUIRE_OK(jang_ppl_run(&m, 1, tok, TN, &o, NULL, NULL, &st));
    CHECK_EQ_INT(st.count, 3 * 7);
    CHECK_CLOSE(st.ppl, exp(nll / count), 1e-9, 1e-5);
    o.n_batch = 3; /* batch size must not matter */
    jang_ppl_stats st3;
    REQUIRE_OK(jang_ppl_run(&m, 1, tok, TN, &o, NULL, NULL, &st3));
    CHECK_CLOSE(st3.ppl, st.ppl, 1e-9, 1e-5);
    o.n_batch = 0;
    /* two contexts on the one model, two chunks at a time: exactly the one-context numbers */
    jang_context_opts co;
    jang_context_opts_init(&co);
    co.n_threads = 1;
    co.max_ctx = 64;
    jang_context *par[2] = {m, NULL};
    REQUIRE_OK(jang_context_init(jang_context_model(m), &co, &par[1]));
    jang_ppl_stats stp;
    REQUIRE_OK(jang_ppl_run(par, 2, tok, TN, &o, NULL, NULL, &stp));
    CHECK(stp.count == st.count && stp.ppl == st.ppl && stp.ppl_err == st.ppl_err);
    jang_context_free(par[1]);
    /* save a full (top-256) reference from llama, then: llama again gives KLD 0 exactly, the
     * llama3-RoPE variant (same weights, other RoPE) the brute-force KLD */
    char path[600], path8[600];
    snprintf(path, sizeof path, "%s/tiny.ref", test_tmpdir());
    snprintf(path8, sizeof path8, "%s/tiny8.ref", test_tmpdir());
    for (int pass = 0; pass < 2; pass++) {
        jang_ref_info in;
        memset(&in, 0, sizeof in);
        snprintf(in.model, sizeof in.model, "tiny llama");
        in.n_text_tokens = TN;
        in.n_ctx = TC;
        in.n_vocab = (int32_t)V;
        in.n_chunks = 3;
        in.n_scored = TC - 1 - TC / 2;
        in.topk = pass == 0 ? (int32_t)V : 8;
        in.n_samples = pass == 0 ? 0 : 16;
        in.bos = 1;
        jang_ref_writer *w = NULL;
        REQUIRE_OK(jang_ref_writer_open(pass == 0 ? path : path8, &in, &w));
        jang_status s = jang_ppl_run(&m, 1, tok, TN, &o, w, NULL, &st);
        CHECK_OK(s);
        if (s) {
            jang_ref_writer_abort(w);
            continue;
        }
        CHECK_OK(jang_ref_writer_finish(w));
    }
    jang_ref *ref = NULL, *ref8 = NULL;
    REQUIRE_OK(jang_ref_open(path, &ref));
    REQUIRE_OK(jang_ref_open(path8, &ref8));
    REQUIRE_OK(jang_ppl_run(&m, 1, tok, TN, &o, NULL, ref, &st));
    CHECK_MSG(st.kld == 0 && st.kld_max == 0, "identical run: KLD %g", st.kld);
    CHECK(st.same_top == 1 && st.ln_ratio == 0 && st.dp == 0);
    CHECK_CLOSE(st.ppl_base, exp(nll / count), 1e-9, 1e-5);
    REQUIRE_OK(jang_ppl_run(&m2, 1, tok, TN, &o, NULL, ref, &st));
    CHECK_MSG(kl / count > 1e-6, "the perturbation is too small to test: %g", kl / count);
    CHECK_CLOSE(st.kld, kl / count, 1e-9, 1e-4);
    CHECK_CLOSE(st.ppl, exp(nll_q / count), 1e-9, 1e-5);
    CHECK_CLOSE(st.ppl_base, exp(nll / count), 1e-9, 1e-5);
    CHECK_CLOSE(st.same_top, (double)same / count, 1e-12, 0);
    CHECK(st.tail_max == 0);
    jang_ppl_stats s8;
    REQUIRE_OK(jang_ppl_run(&m2, 1, tok, TN, &o, NULL, ref8, &s8));
    CHECK_MSG(s8.kld_lower <= st.kld * (1 + 1e-6) && s8.kld_lower > 0, "top-8 bound %g vs %g",
              s8.kld_lower, st.kld);
    CHECK_MSG(fabs(s8.kld - st.kld) < 3 * s8.kld_err, "top-8 + 16 samples %g vs exact %g (± %g)",
              s8.kld, st.kld, s8.kld_err);
    CHECK(s8.tail_mean > 0);
    /* fewer chunks than the reference holds is fine; more is an error */
    o.n_chunks = 2;
    REQUIRE_OK(jang_ppl_run(&m2, 1, tok, TN, &o, NULL, ref, &s8));
    CHECK_EQ_INT(s8.count, 2 * 7);
    o.n_chunks = 4;
    CHECK(jang_ppl_run(&m2, 1, tok, TN, &o, NULL, ref, &s8) == JANG_E_ARG);
    CHECK_MSG(strstr(jang_last_error(), "holds only 3"), "%s", jang_last_error());
    o.n_chunks = 3;
    /* another text under the same reference: the targets differ */
    int32_t tok2[TN];
    memcpy(tok2, tok, sizeof tok2);
    tok2[TC + 12] = tok2[TC + 12] == 5 ? 6 : 5;
    CHECK(jang_ppl_run(&m, 1, tok2, TN, &o, NULL, ref, &s8) == JANG_E_ARG);
    CHECK_MSG(strstr(jang_last_error(), "chunk 2, position 11") &&
                  strstr(jang_last_error(), "another text or tokenizer"),
              "%s", jang_last_error());
    /* too short a text, too long a context */
    CHECK(jang_ppl_run(&m, 1, tok, 31, &o, NULL, NULL, &s8) == JANG_E_ARG);
    CHECK_MSG(strstr(jang_last_error(), "needs at least 32"), "%s", jang_last_error());
    o.n_ctx = 128;
    CHECK(jang_ppl_run(&m, 1, tok, TN, &o, NULL, NULL, &s8) == JANG_E_ARG);
    jang_ref_close(ref);
    jang_ref_close(ref8);
    free(P);
    free(Q);
    free(p);
    free(q);
    close_tiny(m);
    close_tiny(m2);
}

/* ---- the scorer ------------------------------------------------------------------------------ */

/* log p(seq[from+1 ..] | ...) by one forward pass over the whole sequence */
static double brute_loglik(jang_context *m, const int32_t *seq, int n, int n_ctx) {
    int64_t V = jang_model_get_desc(jang_context_model(m))->vocab_size;
    float *lg = malloc((size_t)n * V * sizeof(float));
    double *p = malloc((size_t)V * sizeof(double)), ll = 0;
    CHECK_OK(jang_context_forward(m, seq, n, 0, true, lg));
    for (int t = n_ctx - 1; t < n - 1; t++) {
        softmax_d(lg + (size_t)t * V, V, p);
        ll += log(p[seq[t + 1]]);
    }
    free(lg);
    free(p);
    return ll;
}

static bool stop_at_first(void *ud, int32_t tok) {
    (void)tok;
    return *(bool *)ud;
}

TEST(eval_scorer) {
    jang_context *m = open_tiny("qwen2", 64), *ref = open_tiny("qwen2", 64);
    if (!m || !ref) {
        close_tiny(m);
        close_tiny(ref);
        return;
    }
    int64_t V = jang_model_get_desc(jang_context_model(m))->vocab_size;
    int32_t a[20], b[20];
    for (int i = 0; i < 20; i++)
        a[i] = (int32_t)(urand() * (double)V);
    memcpy(b, a, sizeof b);
    for (int i = 12; i < 20; i++)
        b[i] = (int32_t)(urand() * (double)V);
    jang_scorer *s = NULL;
    REQUIRE_OK(jang_scorer_init(m, 5, &s));
    double ll;
    bool greedy;
    /* fresh, then sharing a 12-token prefix, then a prefix of what is cached, then again */
    const struct {
        const int32_t *seq;
        int n_ctx, n;
    } calls[] = {{a, 8, 20}, {b, 8, 20}, {b, 3, 10}, {a, 8, 20}, {a, 1, 2}, {a, 19, 20}};
    for (size_t k = 0; k < sizeof calls / sizeof calls[0]; k++) {
        REQUIRE_OK(jang_scorer_loglik(s, calls[k].seq, calls[k].n_ctx,
                                      calls[k].seq + calls[k].n_ctx, calls[k].n - calls[k].n_ctx,
                                      &ll, &greedy));
        double want = brute_loglik(ref, calls[k].seq, calls[k].n, calls[k].n_ctx);
        CHECK_MSG(close_to(ll, want, 1e-4, 1e-5), "call %zu: %.8f vs %.8f", k, ll, want);
    }
    /* greedy: the argmax chain of full forward passes */
    int32_t out[8], seq[16];
    int64_t n_out = 0;
    bool stop = false;
    REQUIRE_OK(jang_scorer_greedy(s, a, 6, 5, stop_at_first, &stop, out, &n_out));
    CHECK_EQ_INT(n_out, 5);
    memcpy(seq, a, 6 * sizeof(int32_t));
    float *lg = malloc((size_t)16 * V * sizeof(float));
    REQUIRE(lg);
    for (int k = 0; k < 5; k++) {
        CHECK_OK(jang_context_forward(ref, seq, 6 + k, 0, true, lg));
        seq[6 + k] = (int32_t)argmax_f(lg + (size_t)(5 + k) * V, V);
        CHECK_MSG(out[k] == seq[6 + k], "greedy token %d: %d vs %d", k, out[k], seq[6 + k]);
    }
    /* loglik of the greedy continuation says greedy */
    REQUIRE_OK(jang_scorer_loglik(s, seq, 6, seq + 6, 5, &ll, &greedy));
    CHECK(greedy);
    stop = true;
    REQUIRE_OK(jang_scorer_greedy(s, a, 6, 5, stop_at_first, &stop, out, &n_out));
    CHECK_EQ_INT(n_out, 1);
    CHECK_EQ_INT(out[0], seq[6]);
    /* bad arguments */
    CHECK(jang_scorer_loglik(s, a, 0, a, 1, &ll, NULL) == JANG_E_ARG);
    int32_t big = (int32_t)V;
    CHECK(jang_scorer_loglik(s, a, 3, &big, 1, &ll, NULL) == JANG_E_ARG);
    int32_t *huge = calloc(80, sizeof(int32_t));
    CHECK(jang_scorer_loglik(s, huge, 70, huge, 10, &ll, NULL) == JANG_E_ARG);
    free(huge);
    free(lg);
    jang_scorer_free(s);
    close_tiny(m);
    close_tiny(ref);
}

/* ---- MMLU ------------------------------------------------------------------------------------ */

static void write_text(const char *path, const char *text) {
    CHECK_MSG(write_bytes(path, text, strlen(text)), "cannot write %s", path);
}

TEST(eval_mmlu_csv) {
    char dir[600], p[2048];
    snprintf(dir, sizeof dir, "%s/mmlu", test_tmpdir());
    snprintf(p, sizeof p, "mkdir -p %s/test %s/dev", dir, dir);
    REQUIRE(system(p) == 0);
    snprintf(p, sizeof p, "%s/test/zoology_test.csv", dir);
    write_text(p, "question,choice0,choice1,choice2,choice3,answer\r\n"
                  "\"A \"\"quoted\"\", multi\nline question?\",1,\"2, two\",3,,2\r\n"
                  "Plain question,a,b,c,d,D\n"
                  "\n"
                  "Third,w,x,y,z,0");
    snprintf(p, sizeof p, "%s/dev/zoology_dev.csv", dir);
    write_text(p, "Shot one?,p,q,r,s,1\nShot two?,p,q,r,s,3\n");
    snprintf(p, sizeof p, "%s/test/abstract_algebra_test.csv", dir);
    write_text(p, "Q1,a,b,c,d,0\n");
    snprintf(p, sizeof p, "%s/dev/abstract_algebra_dev.csv", dir);
    write_text(p, "S1,a,b,c,d,2\n");
    jang_mmlu *d = NULL;
    REQUIRE_OK(jang_mmlu_load(dir, JANG_MMLU_FULL, 0, &d));
    REQUIRE(d->n_subjects == 2);
    CHECK_STR(d->subjects[0].name, "abstract_algebra");
    const jang_mmlu_subject *z = &d->subjects[1];
    CHECK_STR(z->name, "zoology");
    REQUIRE(z->n_test == 3 && z->n_dev == 2);
    CHECK_STR(z->test[0].question, "A \"quoted\", multi\nline question?");
    CHECK_STR(z->test[0].choices[1], "2, two");
    CHECK_STR(z->test[0].choices[3], "");
    CHECK_EQ_INT(z->test[0].answer, 2);
    CHECK_EQ_INT(z->test[1].answer, 3);
    CHECK_STR(z->test[2].choices[3], "z");
    char *pr = NULL;
    REQUIRE_OK(jang_mmlu_prompt(d, 1, 1, &pr));
    CHECK_STR(pr, "The following are multiple choice questions (with answers) about zoology.\n\n"
                  "Shot one?\nA. p\nB. q\nC. r\nD. s\nAnswer: B\n\n"
                  "Shot two?\nA. p\nB. q\nC. r\nD. s\nAnswer: D\n\n"
                  "Plain question\nA. a\nB. b\nC. c\nD. d\nAnswer:");
    free(pr);
    REQUIRE_OK(jang_mmlu_prompt(d, 0, 0, &pr));
    CHECK(strstr(pr, "about abstract algebra.\n\nS1\n") != NULL);
    free(pr);
    CHECK(jang_mmlu_prompt(d, 0, 1, &pr) == JANG_E_ARG);
    jang_mmlu_free(d);
    REQUIRE_OK(jang_mmlu_load(dir, JANG_MMLU_FULL, 1, &d));
    CHECK_EQ_INT(d->subjects[1].n_test, 1);
    jang_mmlu_free(d);
    /* malformed files name the file and line */
    static const struct {
        const char *csv, *err;
    } bad[] = {
        {"q,a,b,c,d\n", "zoology_test.csv:1: 5 fields"},
        {"q,a,b,c,d,0\nq,a,b,c,d,E\n", "zoology_test.csv:2: answer 'E'"},
        {"q,a,b,c,d,0\n\"open,a,b,c,d,0\n", "zoology_test.csv:2: unterminated"},
        {"\"q\"x,a,b,c,d,0\n", "text after a closing quote"},
        {"question,choice0,choice1,choice2,choice3,answer\n", "no questions"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(p, sizeof p, "%s/test/zoology_test.csv", dir);
        write_text(p, bad[i].csv);
        CHECK(jang_mmlu_load(dir, JANG_MMLU_FULL, 0, &d) == JANG_E_FORMAT);
        CHECK_MSG(strstr(jang_last_error(), bad[i].err), "case %zu: %s", i, jang_last_error());
    }
    /* jang200 needs its 10 subjects: the first missing one is named */
    CHECK(jang_mmlu_load(dir, JANG_MMLU_JANG200, 0, &d) == JANG_E_IO);
    CHECK_MSG(strstr(jang_last_error(), "anatomy_test.csv"), "%s", jang_last_error());
    static const char *const subj[] = {"anatomy",
                                       "astronomy",
                                       "college_computer_science",
                                       "college_physics",
                                       "high_school_biology",
                                       "high_school_chemistry",
                                       "high_school_mathematics",
                                       "logical_fallacies",
                                       "world_religions"};
    for (int i = 0; i < 9; i++) {
        snprintf(p, sizeof p, "%s/test/%s_test.csv", dir, subj[i]);
        write_text(p, "What is 1+1?,1,2,3,4,1\nWhat is 2+2?,4,5,6,7,0\n");
    }
    REQUIRE_OK(jang_mmlu_load(dir, JANG_MMLU_JANG200, 0, &d));
    CHECK_EQ_INT(d->n_subjects, 10);
    REQUIRE_OK(jang_mmlu_prompt(d, 1, 0, &pr));
    CHECK_STR(pr, "What is 1+1?\nA. 1\nB. 2\nC. 3\nD. 4\n"
                  "Answer with just the letter (A, B, C, or D).");
    free(pr);
    jang_mmlu_free(d);
    CHECK(jang_mmlu_load("/nonexistent", JANG_MMLU_FULL, 0, &d) == JANG_E_NOTFOUND);
    jang_mmlu_protocol pp;
    CHECK(jang_mmlu_protocol_parse("full", &pp) && pp == JANG_MMLU_FULL);
    CHECK(!jang_mmlu_protocol_parse("fast", &pp));
}

TEST(eval_mmlu_extract_answer) {
    /* expectations from jang_tools.benchmark._extract_answer(response, thinking=False) */
    static const struct {
        const char *in;
        int want;
    } c[] = {
        {"B", 1},
        {" C<|im_end|>", 2},
        {"The answer is C.", 2},
        {"answer: (d)", 3},
        {"Correct: b", 1},
        {"**A**", 0},
        {"I pick **D** here", 3},
        {"\\boxed{B}", 1},
        {"A. 4", 0},
        {"The result\nB.\nmore text", 1},
        {"  c  \n", 2},
        {"xyz", -1},
        {"", -1},
        {"Option is A", 0},
        {"Hello world, this is a long sentence without any of the early letters xyz", 0},
        {"Dogs are mammals", 0},
        {"\xc3\xa9lan vital: the real answer is D", 3},
        {"The capital is Paris", 0},
        {"1234", -1},
        {"It is (b) because of reasons that are long enough to push text", 0},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        CHECK_MSG(jang_mmlu_extract_answer(c[i].in) == c[i].want, "\"%s\": %d, expected %d",
                  c[i].in, jang_mmlu_extract_answer(c[i].in), c[i].want);
    CHECK_EQ_INT(jang_mmlu_extract_answer(NULL), -1);
}

/* ---- HellaSwag ------------------------------------------------------------------------------- */

TEST(eval_hellaswag_load) {
    char dir[600], p[2048];
    snprintf(dir, sizeof dir, "%s/hs", test_tmpdir());
    REQUIRE(mkdir(dir, 0755) == 0);
    snprintf(p, sizeof p, "%s/x_correct.txt.3", dir);
    write_text(p, "ctx one. good end\r\nctx two. good\nctx three. good");
    snprintf(p, sizeof p, "%s/x_wrong.txt.3", dir);
    write_text(p, "ctx one. bad end\nctx two. bad\nctx three. bad\n");
    jang_hellaswag *h = NULL;
    REQUIRE_OK(jang_hellaswag_load(dir, 0, &h));
    CHECK_EQ_INT(h->n, 3);
    CHECK_STR(h->correct[0], "ctx one. good end");
    CHECK_STR(h->correct[2], "ctx three. good");
    CHECK_STR(h->wrong[2], "ctx three. bad");
    CHECK(strstr(h->wrong_path, "x_wrong.txt.3") != NULL);
    jang_hellaswag_free(h);
    REQUIRE_OK(jang_hellaswag_load(dir, 2, &h));
    CHECK_EQ_INT(h->n, 2);
    jang_hellaswag_free(h);
    write_text(p, "ctx one. bad end\n");
    CHECK(jang_hellaswag_load(dir, 0, &h) == JANG_E_FORMAT);
    CHECK_MSG(strstr(jang_last_error(), "do not line up"), "%s", jang_last_error());
    CHECK(jang_hellaswag_load(test_tmpdir(), 0, &h) == JANG_E_NOTFOUND);
}

/* ---- the commands end to end ----------------------------------------------------------------- */

/* run_jang (runner.c) with printf-style arguments */
static bool jang_cmd(run_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool jang_cmd(run_result *r, const char *fmt, ...) {
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return run_jang(args, r);
}

#define CHECK_HAS(hay, needle)                                                                     \
    CHECK_MSG(strstr((hay), (needle)) != NULL, "output lacks \"%s\":\n%.3000s", (needle), (hay))

/* A model directory: the tiny llama's weights with a byte-level BPE tokenizer of 102 tokens
 * (3 specials, printable ASCII, space, newline, 3 merges), BOS added, SmolLM2's chat template. */
static bool make_model_dir(const char *dir, bool chat_template) {
    char p[4096];
    char *tiny = realpath(test_data_path("tiny"), NULL);
    if (!tiny) return false;
    snprintf(p, sizeof p,
             "mkdir -p %s && ln -sf %s/llama/config.json %s/ && "
             "ln -sf %s/llama/model.safetensors %s/",
             dir, tiny, dir, tiny, dir);
    free(tiny);
    if (system(p) != 0) return false;
    static char tj[16384];
    size_t n = 0;
#define ADD(...) n += (size_t)snprintf(tj + n, sizeof tj - n, __VA_ARGS__)
    ADD("{\"version\":\"1.0\",\"added_tokens\":[");
    static const char *const sp[3] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    for (int i = 0; i < 3; i++)
        ADD("%s{\"id\":%d,\"content\":\"%s\",\"single_word\":false,\"lstrip\":false,"
            "\"rstrip\":false,\"normalized\":false,\"special\":true}",
            i ? "," : "", i, sp[i]);
    ADD("],\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":"
        "false,\"trim_offsets\":true,\"use_regex\":true},\"post_processor\":null,\"decoder\":{"
        "\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":"
        "true},\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,"
        "\"fuse_unk\":false,\"byte_fallback\":false,\"ignore_merges\":false,\"vocab\":{");
    int id = 0;
    for (int i = 0; i < 3; i++)
        ADD("\"%s\":%d,", sp[i], id++);
    for (int c = 33; c < 127; c++) {
        if (c == '"' || c == '\\')
            ADD("\"\\%c\":%d,", c, id++);
        else
            ADD("\"%c\":%d,", c, id++);
    }
    ADD("\"\\u0120\":%d,\"\\u010a\":%d,\"\\u0120t\":%d,\"he\":%d,\"\\u0120the\":%d},", id, id + 1,
        id + 2, id + 3, id + 4);
    ADD("\"merges\":[[\"\\u0120\",\"t\"],[\"h\",\"e\"],[\"\\u0120t\",\"he\"]]}}");
#undef ADD
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    if (!write_bytes(p, tj, n)) return false;
    size_t tl = 0;
    char *tmpl = read_bytes(test_data_path("chat/smollm2.template"), &tl);
    if (!tmpl) return false;
    tmpl[tl] = '\0';
    json_t *cfg = json_pack("{s:b,s:s,s:s}", "add_bos_token", 1, "bos_token", "<|endoftext|>",
                            "eos_token", "<|im_end|>");
    if (cfg && chat_template) json_object_set_new(cfg, "chat_template", json_string(tmpl));
    free(tmpl);
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    bool ok = cfg && json_dump_file(cfg, p, 0) == 0;
    json_decref(cfg);
    return ok;
}

static void write_words(const char *path, int n_words, unsigned seed) {
    static const char *const w[] = {"the",  "cat", "sat", "on",  "a",    "mat",  "and",
                                    "then", "it",  "ran", "far", "away", "from", "home"};
    FILE *f = fopen(path, "w");
    if (!f) return;
    for (int i = 0; i < n_words; i++) {
        seed = seed * 1103515245u + 12345u;
        fprintf(f, "%s%s", w[(seed >> 16) % 14], i % 9 == 8 ? ".\n" : " ");
    }
    fclose(f);
}

TEST(eval_cli_ppl) {
    char dir[600], text[600], text2[600], ref[600], cut[700];
    snprintf(dir, sizeof dir, "%s/model", test_tmpdir());
    snprintf(text, sizeof text, "%s/text.txt", test_tmpdir());
    snprintf(text2, sizeof text2, "%s/text2.txt", test_tmpdir());
    snprintf(ref, sizeof ref, "%s/run.ref", test_tmpdir());
    snprintf(cut, sizeof cut, "%s/cut.ref", test_tmpdir());
    REQUIRE(make_model_dir(dir, true));
    write_words(text, 60, 1);
    write_words(text2, 60, 2);
    static run_result r;
    REQUIRE(jang_cmd(&r, "ppl -m %s -f %s -c 32 --chunks 3 -t 1 --save-ref %s --topk 16", dir, text,
                     ref));
    CHECK_MSG(r.status == 0, "status %d: %s", r.status, r.err);
    CHECK_HAS(r.out, "[1]");
    CHECK_HAS(r.out, "Final estimate: PPL = ");
    CHECK_HAS(r.out, "(45 positions, 3 chunks of 32)");
    CHECK_HAS(r.err, "BOS at each chunk start");
    CHECK_HAS(r.out, "reference saved");
    char final_line[128] = "";
    const char *fl = strstr(r.out, "Final estimate");
    if (fl) snprintf(final_line, sizeof final_line, "%.40s", fl);
    /* three chunks at once in three contexts: the same numbers */
    REQUIRE(jang_cmd(&r, "ppl -m %s -f %s -c 32 --chunks 3 -t 2 --parallel 3", dir, text));
    CHECK_MSG(r.status == 0, "status %d: %s", r.status, r.err);
    CHECK_HAS(r.out, final_line);
    REQUIRE(jang_cmd(&r, "ppl -m %s -f %s -c 32 -t 1 -b 7 --ref %s", dir, text, ref));
    CHECK_MSG(r.status == 0, "status %d: %s", r.status, r.err);
    CHECK_HAS(r.out, "Mean    KLD:   0.000000");
    CHECK_HAS(r.out, "Same top p: 100.000");
    CHECK_HAS(r.out, "Mean PPL(Q)/PPL(base)         :   1.000000");
    CHECK_HAS(r.out, final_line);
    CHECK_HAS(r.out, "(45 positions, 3 chunks of 32)");
    REQUIRE(jang_cmd(&r, "ppl -m %s -f %s -c 32 -t 1 --ref %s --chunks 2", dir, text, ref));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.out, "(30 positions, 2 chunks of 32)");
    /* mismatches and broken files */
    REQUIRE(jang_cmd(&r, "ppl -m %s -f %s -c 32 -t 1 --ref %s", dir, text2, ref));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "does not fit this run: the reference was made on another text");
    REQUIRE(jang_cmd(&r, "ppl -m %s -f %s -c 16 -t 1 --ref %s", dir, text, ref));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "context of 32 tokens, this run 16");
    REQUIRE(jang_cmd(&r, "ppl -m %s -f %s -c 32 -t 1 --ref %s --chunks 4", dir, text, ref));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "holds only 3 chunks");
    size_t n = 0;
    char *b = read_bytes(ref, &n);
    REQUIRE(b);
    write_bytes(cut, b, n / 2);
    free(b);
    REQUIRE(jang_cmd(&r, "ppl -m %s -f %s -c 32 -t 1 --ref %s", dir, text, cut));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "truncated");
    REQUIRE(jang_cmd(&r, "ppl -m %s -f %s -c 32 -t 1 --ref %s", dir, text, text));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "not a jang reference file");
    REQUIRE(jang_cmd(&r, "ppl -m %s -f %s -c 512 -t 1", dir, text));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "a context of 512 needs at least 1024");
    /* bad arguments */
    static const struct {
        const char *args, *err;
    } bad[] = {
        {"ppl", "-m MODEL is required"},
        {"ppl -m x", "-f TEXT is required"},
        {"ppl -m x -f y --save-ref a --ref b", "exclude each other"},
        {"ppl -m x -f y --topk 8", "--topk and --tail-samples only apply with --save-ref"},
        {"ppl -m x -f y --tail-samples 8", "only apply with --save-ref"},
        {"ppl -m x -f y --tail-samples -1 --save-ref a", "--tail-samples expects a number"},
        {"ppl -m x -f y -c 2", "-c expects a number"},
        {"ppl -m x -f y --chunks 0", "--chunks expects a number"},
        {"ppl -m x -f y --topk 5000 --save-ref a", "--topk expects a number"},
        {"ppl -m x -f y --frob", "unknown option '--frob'"},
        {"ppl -m", "-m needs a value"},
        {"mmlu", "-m MODEL is required"},
        {"mmlu -m x --protocol fast", "--protocol is jang200 or full"},
        {"mmlu -m x --limit -3", "--limit expects a number"},
        {"hellaswag", "-m MODEL is required"},
        {"hellaswag -m x --limit", "--limit needs a value"},
        {"hellaswag -m x --bogus", "unknown option '--bogus'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        REQUIRE(jang_cmd(&r, "%s", bad[i].args));
        CHECK_MSG(r.status == 2, "'%s': status %d", bad[i].args, r.status);
        CHECK_HAS(r.err, bad[i].err);
    }
    REQUIRE(jang_cmd(&r, "ppl --help"));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.out, "--save-ref FILE");
}

TEST(eval_cli_mmlu_hellaswag) {
    char dir[600], data[600], p[2048];
    snprintf(dir, sizeof dir, "%s/model", test_tmpdir());
    snprintf(data, sizeof data, "%s/mmlu", test_tmpdir());
    REQUIRE(make_model_dir(dir, true));
    snprintf(p, sizeof p, "mkdir -p %s/test %s/dev", data, data);
    REQUIRE(system(p) == 0);
    static const char *const subj[] = {"abstract_algebra",
                                       "anatomy",
                                       "astronomy",
                                       "college_computer_science",
                                       "college_physics",
                                       "high_school_biology",
                                       "high_school_chemistry",
                                       "high_school_mathematics",
                                       "logical_fallacies",
                                       "world_religions"};
    for (int i = 0; i < 10; i++) {
        snprintf(p, sizeof p, "%s/test/%s_test.csv", data, subj[i]);
        write_text(p, "question,choice0,choice1,choice2,choice3,answer\n"
                      "What is 1+1?,1,2,3,4,1\n\"Pick, please\",x,y,z,w,3\nThird?,a,b,c,d,0\n");
        snprintf(p, sizeof p, "%s/dev/%s_dev.csv", data, subj[i]);
        write_text(p, "Shot?,a,b,c,d,2\nShot 2?,e,f,g,h,0\n");
    }
    static run_result r;
    REQUIRE(jang_cmd(&r, "mmlu -m %s --data %s --protocol full --limit 2 -t 1 -v", dir, data));
    CHECK_MSG(r.status == 0, "status %d: %s", r.status, r.err);
    CHECK_HAS(r.out, "MMLU, full protocol");
    CHECK_HAS(r.out, "chance is 25%");
    CHECK_HAS(r.out, "abstract_algebra");
    CHECK_HAS(r.out, "world_religions");
    CHECK_HAS(r.out, "/ 20");
    CHECK_HAS(r.out, "predicted ");
    REQUIRE(jang_cmd(&r, "mmlu -m %s --data %s --limit 1 --max-new 4 -t 1 -v", dir, data));
    CHECK_MSG(r.status == 0, "status %d: %s", r.status, r.err);
    CHECK_HAS(r.out, "MMLU, jang200 protocol (greedy letter through the chat template)");
    CHECK_HAS(r.out, "total");
    CHECK_HAS(r.out, "/ 10");
    CHECK_HAS(r.err, "10 subjects, 10 questions");
    REQUIRE(jang_cmd(&r, "mmlu -m %s --data /nonexistent/mmlu", dir));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "/nonexistent/mmlu");
    /* a model without a chat template cannot run jang200 */
    char plain[600];
    snprintf(plain, sizeof plain, "%s/plain", test_tmpdir());
    REQUIRE(make_model_dir(plain, false));
    REQUIRE(jang_cmd(&r, "mmlu -m %s --data %s", plain, data));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "the jang200 protocol goes through the model's chat template");
    /* HellaSwag */
    char hs[600];
    snprintf(hs, sizeof hs, "%s/hs", test_tmpdir());
    REQUIRE(mkdir(hs, 0755) == 0);
    snprintf(p, sizeof p, "%s/v_correct.txt.4", hs);
    write_text(p, "the cat sat on a mat.\nit ran far away.\nthe mat sat.\nhome at last.\n");
    snprintf(p, sizeof p, "%s/v_wrong.txt.4", hs);
    write_text(p, "the cat sat on a ham.\nit ran far home.\nthe mat ran.\nhome at first.\n");
    REQUIRE(jang_cmd(&r, "hellaswag -m %s --data %s -t 1 -v", dir, hs));
    CHECK_MSG(r.status == 0, "status %d: %s", r.status, r.err);
    CHECK_HAS(r.out, "HellaSwag 2-way");
    CHECK_HAS(r.out, "/ 4 = ");
    CHECK_HAS(r.out, "4: correct ");
    REQUIRE(jang_cmd(&r, "hellaswag -m %s --data %s --limit 2 -t 1", dir, hs));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.out, "/ 2 = ");
    REQUIRE(jang_cmd(&r, "hellaswag -m %s --data %s", dir, test_tmpdir()));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "no *_correct.txt* file");
}
