/* test_sampler.c — sampling filters against their definitions: greedy is argmax, frequencies
 * follow softmax(logits / T), top-k / top-p / min-p cut exactly the tokens they should, the
 * repetition penalty follows llama.cpp's rule, and a seed reproduces a sequence. */
#include "test.h"

#include <stdlib.h>

static void draw_counts(jang_sampler_opts *o, const float *logits, int64_t V, int n, int *counts) {
    jang_sampler *s = NULL;
    REQUIRE_OK(jang_sampler_init(o, V, &s));
    float *l = malloc((size_t)V * sizeof(float));
    for (int i = 0; i < n; i++) {
        memcpy(l, logits, (size_t)V * sizeof(float));
        int32_t t = jang_sampler_sample(s, l);
        REQUIRE(t >= 0 && t < V);
        counts[t]++;
    }
    free(l);
    jang_sampler_free(s);
}

TEST(sampler_greedy_is_argmax) {
    jang_sampler_opts o;
    jang_sampler_opts_init(&o);
    o.temperature = 0;
    float l[5] = {0.1f, 3.0f, -1.0f, 3.0f, 2.9f};
    int c[5] = {0};
    draw_counts(&o, l, 5, 10, c);
    CHECK_EQ_INT(c[1], 10); /* ties go to the lowest id */
}

TEST(sampler_frequencies_follow_softmax) {
    jang_sampler_opts o;
    jang_sampler_opts_init(&o);
    o.temperature = 1.0f, o.top_k = 0, o.top_p = 1.0f, o.min_p = 0;
    float l[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
    int c[3] = {0};
    const int n = 40000;
    draw_counts(&o, l, 3, n, c);
    CHECK(fabs(c[0] / (double)n - 0.5) < 0.015);
    CHECK(fabs(c[1] / (double)n - 0.3) < 0.015);
    CHECK(fabs(c[2] / (double)n - 0.2) < 0.015);
    /* temperature 0.5 squares the odds: p ∝ 0.25, 0.09, 0.04 */
    o.temperature = 0.5f;
    memset(c, 0, sizeof c);
    draw_counts(&o, l, 3, n, c);
    CHECK(fabs(c[0] / (double)n - 0.25 / 0.38) < 0.015);
}

TEST(sampler_filters_cut_the_right_tokens) {
    jang_sampler_opts o;
    jang_sampler_opts_init(&o);
    o.temperature = 1.0f, o.top_k = 0, o.top_p = 1.0f, o.min_p = 0;
    float l[4] = {logf(0.4f), logf(0.3f), logf(0.2f), logf(0.1f)};
    int c[4] = {0};
    o.top_k = 2;
    draw_counts(&o, l, 4, 5000, c);
    CHECK(c[2] == 0 && c[3] == 0 && c[0] > 0 && c[1] > 0);
    o.top_k = 0, o.top_p = 0.65f; /* 0.4 + 0.3 reaches 0.65 */
    memset(c, 0, sizeof c);
    draw_counts(&o, l, 4, 5000, c);
    CHECK(c[2] == 0 && c[3] == 0 && c[1] > 0);
    o.top_p = 1.0f, o.min_p = 0.45f; /* keeps p >= 0.18 */
    memset(c, 0, sizeof c);
    draw_counts(&o, l, 4, 5000, c);
    CHECK(c[3] == 0 && c[2] > 0);
    /* top-k with a large vocabulary selects exactly the k largest */
    enum { V = 5000 };
    static float big[V];
    for (int i = 0; i < V; i++)
        big[i] = (float)((i * 7919) % V) / 100.0f;
    static int bc[V];
    o.min_p = 0, o.top_k = 3, o.temperature = 100.0f;
    draw_counts(&o, big, V, 3000, bc);
    int nz = 0;
    for (int i = 0; i < V; i++)
        if (bc[i]) {
            nz++;
            CHECK(big[i] >= (float)(V - 3) / 100.0f);
        }
    CHECK_EQ_INT(nz, 3);
}

TEST(sampler_repetition_penalty_and_seed) {
    jang_sampler_opts o;
    jang_sampler_opts_init(&o);
    o.temperature = 0, o.repeat_penalty = 2.0f;
    jang_sampler *s = NULL;
    REQUIRE_OK(jang_sampler_init(&o, 3, &s));
    float l[3] = {2.0f, 1.5f, -1.0f};
    jang_sampler_accept(s, 0);
    jang_sampler_accept(s, 0);
    CHECK_EQ_INT(jang_sampler_sample(s, l), 1); /* 2.0 / 2 = 1.0 < 1.5 */
    CHECK(l[0] == 1.0f);                        /* penalised once, not per occurrence */
    jang_sampler_free(s);

    jang_sampler_opts_init(&o);
    int32_t seq[2][32];
    for (int run = 0; run < 2; run++) {
        REQUIRE_OK(jang_sampler_init(&o, 8, &s));
        for (int i = 0; i < 32; i++) {
            float u[8] = {1, 1.1f, 0.9f, 1.2f, 0.8f, 1, 1.05f, 0.95f};
            seq[run][i] = jang_sampler_sample(s, u);
        }
        jang_sampler_free(s);
    }
    CHECK(memcmp(seq[0], seq[1], sizeof seq[0]) == 0);
    o.temperature = -1;
    CHECK(jang_sampler_init(&o, 8, &s) == JANG_E_ARG);
}
