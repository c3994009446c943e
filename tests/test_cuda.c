/* test_cuda.c — the CUDA backend against the CPU backend, through the public API: whole-model
 * logits (prompt and decode steps) on the tiny transformers fixtures, a 4-bit and a 3-bit JANG
 * conversion of one, and, when JANG_CUDA_MODEL names one, a real model: mean KL divergence of the
 * softmax <= 1e-4 and the same top token at >= 99.5% of positions. Also: batched decode on the
 * GPU equals each sequence decoded alone, bit for bit (its matmul is batch-invariant by
 * construction). Skipped where the build has no CUDA backend or the machine no GPU; `make
 * test-cuda` runs it on the device machine. Op-level checks are tests/test_backend.c's.
 */
#include "test.h"

#include <stdlib.h>

/* A context on path with the backend `be`; NULL (and a skip reason in why) when the CUDA backend
 * is absent here. */
static jang_context *open_on(const char *path, const char *be, int64_t ctx, char *why, size_t cap) {
    jang_model_opts mo;
    jang_model_opts_init(&mo);
    mo.backend = be;
    jang_model *m = NULL;
    jang_status s = jang_model_open(path, &mo, &m);
    jang_context_opts co;
    jang_context_opts_init(&co);
    co.max_ctx = ctx;
    co.n_threads = 2;
    jang_context *c = NULL;
    if (!s) s = jang_context_init(m, &co, &c);
    if (s) {
        snprintf(why, cap, "%s", jang_last_error());
        jang_model_close(m);
        return NULL;
    }
    return c;
}

static void close_ctx(jang_context *c) {
    jang_model *m = c ? (jang_model *)jang_context_model(c) : NULL;
    jang_context_free(c);
    jang_model_close(m);
}

static void log_softmax(const float *x, int64_t n, double *out) {
    double mx = x[0], s = 0;
    for (int64_t i = 1; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    for (int64_t i = 0; i < n; i++)
        s += exp(x[i] - mx);
    for (int64_t i = 0; i < n; i++)
        out[i] = x[i] - mx - log(s);
}

static int64_t argmax(const float *x, int64_t n) {
    int64_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* Prompt of np tokens (all logits) then nd decode steps on both backends; compares. Returns
 * false when CUDA is not available (test skipped). */
static bool compare_backends(const char *path, int np, int nd) {
    char why[512];
    jang_context *gpu = open_on(path, "cuda", np + nd, why, sizeof why);
    if (!gpu) {
        test_skip(why);
        return false;
    }
    jang_context *cpu = open_on(path, "cpu", np + nd, why, sizeof why);
    CHECK_MSG(cpu != NULL, "%s: cpu: %s", path, why);
    if (!cpu) {
        close_ctx(gpu);
        return true;
    }
    const int64_t V = jang_model_get_desc(jang_context_model(cpu))->vocab_size;
    int32_t *tok = malloc((size_t)(np + nd) * sizeof *tok);
    float *a = malloc((size_t)(np + nd) * (size_t)V * sizeof(float));
    float *b = malloc((size_t)(np + nd) * (size_t)V * sizeof(float));
    double *la = malloc((size_t)V * sizeof(double)), *lb = malloc((size_t)V * sizeof(double));
    if (!tok || !a || !b || !la || !lb) {
        CHECK_MSG(0, "out of memory");
        return true;
    }
    uint32_t r = 7;
    for (int i = 0; i < np + nd; i++)
        r = r * 1664525u + 1013904223u, tok[i] = (int32_t)((r >> 8) % (uint32_t)V);
    for (int64_t i = 0; i < (np + nd) * V; i++)
        b[i] = NAN; /* poisoned: every logit must be written */
    CHECK_OK(jang_context_forward(cpu, tok, np, 0, true, a));
    CHECK_OK(jang_context_forward(gpu, tok, np, 0, true, b));
    for (int k = 0; k < nd; k++) {
        CHECK_OK(jang_context_forward(cpu, tok + np + k, 1, np + k, false, a + (np + k) * V));
        CHECK_OK(jang_context_forward(gpu, tok + np + k, 1, np + k, false, b + (np + k) * V));
    }
    double kl = 0;
    int same = 0, n = np + nd;
    for (int t = 0; t < n; t++) {
        log_softmax(a + (int64_t)t * V, V, la);
        log_softmax(b + (int64_t)t * V, V, lb);
        double k1 = 0;
        for (int64_t i = 0; i < V; i++)
            k1 += exp(la[i]) * (la[i] - lb[i]);
        kl += k1;
        same += argmax(a + (int64_t)t * V, V) == argmax(b + (int64_t)t * V, V);
    }
    printf("    %s: %d positions, mean KLD %.3g, same top %.1f%% (%s)\n", path, n, kl / n,
           100.0 * same / n, jang_context_backend(gpu));
    CHECK_MSG(kl / n <= 1e-4 && !isnan(kl), "%s: mean KLD %.3g > 1e-4", path, kl / n);
    CHECK_MSG(same * 1000 >= n * 995, "%s: same top token at %d of %d positions", path, same, n);
    free(tok), free(a), free(b), free(la), free(lb);
    close_ctx(cpu);
    close_ctx(gpu);
    return true;
}

static void convert_to(const char *src, const char *out, int bits, int group) {
    jang_convert_opts o;
    jang_convert_opts_init(&o);
    o.n_threads = 2;
    o.alloc.recipe = JANG_RECIPE_UNIFORM;
    o.alloc.bits = bits;
    o.alloc.group = group;
    jang_converter *cv = NULL;
    jang_status s = jang_converter_open(src, &o, &cv);
    if (!s) s = jang_converter_write(cv, out);
    jang_converter_close(cv);
    CHECK_OK(s);
}

TEST(cuda_matches_cpu_tiny) {
    static const char *archs[] = {"llama", "llama3rope", "qwen2", "qwen3"};
    char dir[600];
    for (int i = 0; i < 4; i++) {
        snprintf(dir, sizeof dir, "%s/%s", test_data_path("tiny"), archs[i]);
        if (!compare_backends(dir, 24, 8)) return;
    }
    /* quantized: every width through the GPU's affine kernels (uniform, f16 scales) */
    snprintf(dir, sizeof dir, "%s/qwen2", test_data_path("tiny"));
    static const int bits[] = {2, 3, 4, 5, 6, 8}, groups[] = {32, 64, 32, 128, 64, 32};
    for (int i = 0; i < 6; i++) {
        char out[700];
        snprintf(out, sizeof out, "%s/q%d", test_tmpdir(), bits[i]);
        convert_to(dir, out, bits[i], groups[i]);
        compare_backends(out, 24, 8);
    }
}

TEST(cuda_matches_cpu_real_model) {
    const char *path = getenv("JANG_CUDA_MODEL");
    if (!path || !*path) {
        test_skip("JANG_CUDA_MODEL not set");
        return;
    }
    compare_backends(path, 64, 16);
}

TEST(cuda_batched_decode_equals_alone) {
    char dir[600], why[512];
    snprintf(dir, sizeof dir, "%s/qwen3", test_data_path("tiny"));
    jang_context *c[3] = {0};
    for (int i = 0; i < 3; i++)
        if (!(c[i] = open_on(dir, "cuda", 32, why, sizeof why))) {
            for (int j = 0; j < i; j++)
                close_ctx(c[j]);
            test_skip(why);
            return;
        }
    /* three contexts on three models would not share weights: use the first's model */
    jang_context *b[3] = {c[0], NULL, NULL};
    jang_context_opts co;
    jang_context_opts_init(&co);
    co.max_ctx = 32;
    const jang_model *m = jang_context_model(c[0]);
    REQUIRE_OK(jang_context_init(m, &co, &b[1]));
    REQUIRE_OK(jang_context_init(m, &co, &b[2]));
    const int64_t V = jang_model_get_desc(m)->vocab_size;
    float *alone = malloc((size_t)6 * V * sizeof(float)),
          *bat = malloc((size_t)6 * V * sizeof(float));
    float *step = malloc(3 * (size_t)V * sizeof(float));
    REQUIRE(alone && bat && step);
    int32_t tok[3][8];
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < 8; i++)
            tok[s][i] = (int32_t)((s * 31 + i * 7 + 3) % V);
    for (int s = 0; s < 3; s++) { /* alone: prompt of 2 + s tokens then 2 steps, in c[1] */
        CHECK_OK(jang_context_forward(c[1], tok[s], 2 + s, 0, false, step));
        for (int k = 0; k < 2; k++)
            CHECK_OK(jang_context_forward(c[1], &tok[s][2 + s + k], 1, 2 + s + k, false,
                                          alone + ((size_t)s * 2 + k) * V));
    }
    for (int s = 0; s < 3; s++)
        CHECK_OK(jang_context_forward(b[s], tok[s], 2 + s, 0, false, step));
    for (int k = 0; k < 2; k++) {
        int32_t t[3];
        int64_t pos[3];
        for (int s = 0; s < 3; s++)
            t[s] = tok[s][2 + s + k], pos[s] = 2 + s + k;
        CHECK_OK(jang_decode_batch(b, 3, t, pos, step));
        for (int s = 0; s < 3; s++)
            memcpy(bat + ((size_t)s * 2 + k) * V, step + (size_t)s * V, V * sizeof(float));
    }
    CHECK_MSG(!memcmp(alone, bat, 6 * (size_t)V * sizeof(float)),
              "batched decode on the GPU differs from each sequence alone");
    free(alone), free(bat), free(step);
    jang_context_free(b[1]);
    jang_context_free(b[2]);
    for (int i = 0; i < 3; i++)
        close_ctx(c[i]);
}
