/* test_kernels.c — every kernel table this CPU can run against the scalar reference
 * (kernels_scalar.c): affine weights for every (bits x group x scale dtype), plain F32/F16/BF16,
 * random data, odd shapes (rows not a multiple of any tile, 1..9 groups per row) and 1, 2, 3, 7,
 * 8, 16 and 33 tokens (both sides of JANG_KERNEL_GEMM_MIN), on a 2-thread pool; the attention
 * kernel; and the names JANG_ISA accepts. The AVX-512 table runs where the CPU has it
 * (docs/PERFORMANCE.md says where it was run).
 *
 * Tolerance (per width, from the arithmetic; check_tensor prints the first mismatches and the
 * largest error relative to the bound, like llm.c's check_tensor):
 *   |y - y_ref| <= QERR[bits] * sum_g |s_g| * sum_{c in g} q_c * max_{c in g} |x_c|
 *                + SUMERR * (cols + 8) * sum_c |w_c x_c|
 * QERR, only below JANG_KERNEL_GEMM_MIN tokens: the int16 kernels round activations to steps of
 * max|x_g| / 32767, an error of at most half a step per element, weighted by the exact integer
 * codes: 1/65534 for every width (codes are exact in int16 and the int32 sums are exact). From
 * JANG_KERNEL_GEMM_MIN tokens the weights are dequantized exactly as the reference does (0).
 * SUMERR: both sides sum in f32 in different orders; the worst case of a recursive sum is
 * n * 2^-24 of sum |terms| each. Plain weights have QERR = 0. The bound is checked to be tight: a
 * single code moved by one step must fail it.
 */
#include "test.h"

#include "../src/kernels/kernels.h"
#include "util.h"

#include <stdlib.h>

static const double QERR[JANG_AFFINE_MAX_BITS + 1] = {
    0, 0, 1.0 / 65534, 1.0 / 65534, 1.0 / 65534, 1.0 / 65534, 1.0 / 65534, 0, 1.0 / 65534};
static const double SUMERR = 0x1p-24;

/* Every code width and group size of the qtype table (quant.h): every kernel row is checked. */
#define LIST_(v) v,
static const int ALL_BITS[] = {JANG_AFFINE_BITS_MAP(LIST_)};
static const int ALL_GROUPS[] = {JANG_AFFINE_GROUPS_MAP(LIST_)};
#undef LIST_
enum { N_BITS = JANG_AFFINE_N_BITS, N_GROUPS = JANG_AFFINE_N_GROUPS };

static uint64_t rng_state;
static uint32_t rnd(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}
static float frand(void) { return (float)rnd() / 2147483648.0f - 1.0f; } /* [-1, 1) */
/* activations with the occasional large outlier, as in real residual streams */
static float xrand(void) {
    float v = frand();
    return rnd() % 64 == 0 ? v * 20.0f : v;
}

/* Compares got with ref under per-element bounds; prints the first mismatches and the largest
 * error relative to its bound. Returns the number of mismatches. */
static double worst_seen; /* largest |diff| / bound over the cases of a test */

static int check_tensor(const char *what, const float *got, const float *ref, const double *bound,
                        int64_t n, bool quiet) {
    int bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        double r = bound[i] > 0 ? d / bound[i] : (d > 0 ? INFINITY : 0);
        if (r > worst) worst = r;
        if (!(d <= bound[i])) {
            if (bad < 5 && !quiet)
                printf("    %s: [%lld] %.9g vs reference %.9g (diff %.3g, bound %.3g)\n", what,
                       (long long)i, got[i], ref[i], d, bound[i]);
            bad++;
        }
    }
    if (bad && !quiet)
        printf("    %s: %d of %lld outside the bound; max |diff|/bound %.3g\n", what, bad,
               (long long)n, worst);
    if (worst > worst_seen) worst_seen = worst;
    return bad;
}

typedef struct {
    jang_weight w;
    uint32_t *codes;
    uint16_t *scales, *biases;
    uint8_t *q; /* (rows, cols) codes, unpacked */
    void *plain;
} test_weight;

static uint16_t to_half(float v, jang_dtype dt) {
    return dt == JANG_DT_BF16 ? jang_f32_to_bf16(v) : jang_f32_to_f16(v);
}
static float from_half(uint16_t h, jang_dtype dt) {
    return dt == JANG_DT_BF16 ? jang_bf16_to_f32(h) : jang_f16_to_f32(h);
}

static void make_affine(test_weight *t, int64_t rows, int64_t cols, int bits, int group,
                        jang_dtype sdt) {
    memset(t, 0, sizeof *t);
    int64_t ng = cols / group;
    t->q = malloc((size_t)(rows * cols));
    t->codes = malloc((size_t)(rows * cols * bits / 8));
    t->scales = malloc((size_t)(rows * ng) * 2);
    t->biases = malloc((size_t)(rows * ng) * 2);
    for (int64_t i = 0; i < rows * cols; i++)
        t->q[i] = (uint8_t)(rnd() & ((1u << bits) - 1));
    for (int64_t i = 0; i < rows * ng; i++) {
        /* MLX-like: scale ~ range / (2^b - 1), bias ~ -range / 2 */
        t->scales[i] = to_half((0.2f + 0.8f * (frand() + 1)) / (float)((1 << bits) - 1), sdt);
        t->biases[i] = to_half(-0.5f + 0.2f * frand(), sdt);
    }
    jang_affine_pack(t->q, rows * cols, bits, t->codes);
    t->w = (jang_weight){.kind = JANG_WK_AFFINE,
                         .rows = rows,
                         .cols = cols,
                         .data = t->codes,
                         .scales = t->scales,
                         .biases = t->biases,
                         .sdtype = sdt,
                         .bits = bits,
                         .group = group};
}

static void make_plain(test_weight *t, int64_t rows, int64_t cols, jang_wkind kind) {
    memset(t, 0, sizeof *t);
    size_t esz = kind == JANG_WK_F32 ? 4 : 2;
    t->plain = malloc((size_t)(rows * cols) * esz);
    for (int64_t i = 0; i < rows * cols; i++) {
        float v = frand() * 0.1f;
        if (kind == JANG_WK_F32)
            ((float *)t->plain)[i] = v;
        else
            ((uint16_t *)t->plain)[i] =
                to_half(v, kind == JANG_WK_F16 ? JANG_DT_F16 : JANG_DT_BF16);
    }
    t->w = (jang_weight){.kind = kind, .rows = rows, .cols = cols, .data = t->plain};
}

static void free_weight(test_weight *t) {
    free(t->q), free(t->codes), free(t->scales), free(t->biases), free(t->plain);
}

/* Per-element bounds for y (n, rows) from the tolerance model above. */
static void bounds(const test_weight *t, const float *x, int64_t n, double *bound) {
    const bool int16 = n < JANG_KERNEL_GEMM_MIN;
    const jang_weight *w = &t->w;
    float *row = malloc((size_t)w->cols * sizeof(float));
    for (int64_t r = 0; r < w->rows; r++) {
        jang_weight_row(w, r, row);
        for (int64_t k = 0; k < n; k++) {
            const float *xt = x + k * w->cols;
            double sum_abs = 0, qterm = 0;
            for (int64_t c = 0; c < w->cols; c++)
                sum_abs += fabs((double)row[c] * xt[c]);
            if (w->kind == JANG_WK_AFFINE && int16) {
                int64_t ng = w->cols / w->group;
                for (int64_t g = 0; g < ng; g++) {
                    double amax = 0, qs = 0;
                    for (int64_t c = g * w->group; c < (g + 1) * w->group; c++) {
                        amax = fmax(amax, fabs((double)xt[c]));
                        qs += t->q[r * w->cols + c];
                    }
                    qterm += fabs(from_half(w->scales[r * ng + g], w->sdtype)) * qs * amax;
                }
                qterm *= QERR[w->bits];
            }
            bound[k * w->rows + r] = qterm + SUMERR * (double)(w->cols + 8) * sum_abs + 1e-30;
        }
    }
    free(row);
}

/* Runs `isa` and the scalar reference on (t, n tokens); returns the mismatch count. */
static int compare(jang_pool *pool, jang_isa isa, const test_weight *t, int64_t n, bool with_bias,
                   const char *what, bool quiet) {
    const jang_weight *w = &t->w;
    float *x = malloc((size_t)(n * w->cols) * sizeof(float));
    float *bias = malloc((size_t)w->rows * sizeof(float));
    float *y = malloc((size_t)(n * w->rows) * sizeof(float));
    float *ref = malloc((size_t)(n * w->rows) * sizeof(float));
    double *bound = malloc((size_t)(n * w->rows) * sizeof(double));
    for (int64_t i = 0; i < n * w->cols; i++)
        x[i] = xrand();
    for (int64_t i = 0; i < w->rows; i++)
        bias[i] = frand();
    CHECK_OK(jang_matmul_isa(pool, JANG_ISA_SCALAR, w, x, n, with_bias ? bias : NULL, ref, false));
    CHECK_OK(jang_matmul_isa(pool, isa, w, x, n, with_bias ? bias : NULL, y, false));
    bounds(t, x, n, bound);
    int bad = check_tensor(what, y, ref, bound, n * w->rows, quiet);
    free(x), free(bias), free(y), free(ref), free(bound);
    return bad;
}

static const int64_t TOKENS[] = {1, 2, 3, 7, 8, 16, 33};
/* (rows, groups per row): rows off every tile size, rows split over 2 workers */
static const int64_t SHAPES[][2] = {{1, 1}, {7, 3}, {37, 9}, {70, 2}};

#define NT (int)(sizeof TOKENS / sizeof TOKENS[0])
#define NS (int)(sizeof SHAPES / sizeof SHAPES[0])

static void affine_all(jang_isa isa) {
    jang_pool *pool = jang_pool_create(2);
    REQUIRE(pool);
    static const jang_dtype sdts[] = {JANG_DT_F16, JANG_DT_BF16};
    int cases = 0, failed = 0;
    for (int bi = 0; bi < N_BITS; bi++)
        for (int gi = 0; gi < N_GROUPS; gi++)
            for (int di = 0; di < 2; di++)
                for (int si = 0; si < NS; si++) {
                    const int bits = ALL_BITS[bi], group = ALL_GROUPS[gi];
                    test_weight t;
                    make_affine(&t, SHAPES[si][0], SHAPES[si][1] * group, bits, group, sdts[di]);
                    for (int ni = 0; ni < NT; ni++) {
                        char what[160];
                        snprintf(what, sizeof what,
                                 "%s affine bits %d group %d %s (%lld x %lld) n %lld",
                                 jang_isa_name(isa), bits, group, jang_dtype_name(sdts[di]),
                                 (long long)t.w.rows, (long long)t.w.cols, (long long)TOKENS[ni]);
                        int bad = compare(pool, isa, &t, TOKENS[ni], (ni + si) % 2 == 0, what,
                                          failed >= 3);
                        cases++;
                        if (bad) failed++;
                    }
                    free_weight(&t);
                }
    CHECK_MSG(failed == 0, "%s: %d of %d affine cases outside the tolerance", jang_isa_name(isa),
              failed, cases);
    printf("    %s: %d affine cases, largest |diff|/bound %.3f\n", jang_isa_name(isa), cases,
           worst_seen);
    jang_pool_free(pool);
}

static void plain_all(jang_isa isa) {
    jang_pool *pool = jang_pool_create(2);
    REQUIRE(pool);
    static const jang_wkind kinds[] = {JANG_WK_F32, JANG_WK_F16, JANG_WK_BF16};
    static const int64_t shapes[][2] = {{1, 8}, {5, 13}, {37, 100}, {70, 576}};
    int failed = 0;
    for (int ki = 0; ki < 3; ki++)
        for (int si = 0; si < 4; si++) {
            test_weight t;
            make_plain(&t, shapes[si][0], shapes[si][1], kinds[ki]);
            for (int ni = 0; ni < NT; ni++) {
                char what[160];
                snprintf(what, sizeof what, "%s plain kind %d (%lld x %lld) n %lld",
                         jang_isa_name(isa), (int)kinds[ki], (long long)t.w.rows,
                         (long long)t.w.cols, (long long)TOKENS[ni]);
                if (compare(pool, isa, &t, TOKENS[ni], ni % 2 == 1, what, failed >= 3)) failed++;
            }
            free_weight(&t);
        }
    CHECK_MSG(failed == 0, "%s: %d plain cases outside the tolerance", jang_isa_name(isa), failed);
    printf("    %s: plain cases, largest |diff|/bound %.3f\n", jang_isa_name(isa), worst_seen);
    jang_pool_free(pool);
}

static void for_each_fast_isa(void (*fn)(jang_isa)) {
    int ran = 0;
    for (int i = 0; i < JANG_ISA_COUNT; i++) {
        if (i == JANG_ISA_SCALAR) continue;
        if (!jang_isa_supported((jang_isa)i)) {
            printf("    %s: not supported by this CPU, not tested here\n",
                   jang_isa_name((jang_isa)i));
            continue;
        }
        rng_state = 12345 + (uint64_t)i;
        worst_seen = 0;
        fn((jang_isa)i);
        ran++;
    }
    if (!ran) test_skip("no fast kernel table runs on this CPU");
}

TEST(kernels_affine_match_reference) { for_each_fast_isa(affine_all); }

TEST(kernels_plain_match_reference) { for_each_fast_isa(plain_all); }

/* The tolerance is not vacuous: one code moved by one step in one row is caught. */
static void flipped_code(jang_isa isa) {
    jang_pool *pool = jang_pool_create(2);
    REQUIRE(pool);
    for (int bi = 0, bits; bi < N_BITS && (bits = ALL_BITS[bi]) > 0; bi++) {
        test_weight t, u;
        rng_state = 99;
        make_affine(&t, 9, 256, bits, 64, JANG_DT_F16);
        rng_state = 99;
        make_affine(&u, 9, 256, bits, 64, JANG_DT_F16);
        int64_t at = 4 * 256 + 77;
        u.q[at] = (uint8_t)(u.q[at] ^ 1);
        jang_affine_pack(u.q, 9 * 256, bits, u.codes);
        /* ISA on the flipped weights against the reference on the true ones */
        float *x = malloc(256 * sizeof(float)), y[9], ref[9];
        double bound[9];
        for (int i = 0; i < 256; i++)
            x[i] = 1.0f + 0.1f * frand();
        CHECK_OK(jang_matmul_isa(pool, JANG_ISA_SCALAR, &t.w, x, 1, NULL, ref, false));
        CHECK_OK(jang_matmul_isa(pool, isa, &u.w, x, 1, NULL, y, false));
        bounds(&t, x, 1, bound);
        CHECK_MSG(check_tensor("flipped", y, ref, bound, 9, true) == 1,
                  "%s bits %d: a flipped code went unnoticed", jang_isa_name(isa), bits);
        free(x);
        free_weight(&t);
        free_weight(&u);
    }
    jang_pool_free(pool);
}

TEST(kernels_tolerance_catches_one_code) { for_each_fast_isa(flipped_code); }

/* The integer sums cannot overflow: every code at its maximum, every activation at the int16
 * extreme of its group (+/-32767), group 128 (the longest int32 accumulation), both signs. */
static void extremes(jang_isa isa) {
    jang_pool *pool = jang_pool_create(2);
    REQUIRE(pool);
    for (int bi = 0, bits; bi < N_BITS && (bits = ALL_BITS[bi]) > 0; bi++)
        for (int sign = -1; sign <= 1; sign += 2) {
            test_weight t;
            make_affine(&t, 5, 512, bits, 128, JANG_DT_F16);
            memset(t.q, (1 << bits) - 1, 5 * 512);
            jang_affine_pack(t.q, 5 * 512, bits, t.codes);
            float *x = malloc(512 * sizeof(float)), y[5], ref[5];
            double bound[5];
            for (int i = 0; i < 512; i++)
                x[i] = (float)sign * 3.0f;
            CHECK_OK(jang_matmul_isa(pool, JANG_ISA_SCALAR, &t.w, x, 1, NULL, ref, false));
            CHECK_OK(jang_matmul_isa(pool, isa, &t.w, x, 1, NULL, y, false));
            bounds(&t, x, 1, bound);
            char what[96];
            snprintf(what, sizeof what, "%s extremes bits %d sign %d", jang_isa_name(isa), bits,
                     sign);
            CHECK_MSG(check_tensor(what, y, ref, bound, 5, false) == 0, "%s", what);
            free(x);
            free_weight(&t);
        }
    jang_pool_free(pool);
}

TEST(kernels_no_overflow_at_extremes) { for_each_fast_isa(extremes); }

/* Attention of nq = 1..4 consecutive queries against len + u positions (the CPU backend's blocks),
 * odd lengths and head sizes, queries, keys and values strided as in the CPU backend's attention
 * and the KV cache. Bound per query: a score differs by at most e = 2 hd 2^-24 scale sum_i |q_i
 * k_ji| (summation order), each probability by a factor of at most (1 + 2 max e + 4 2^-24) (the
 * vector exp is within 2 ulp of expf), and the output by (2 max e + (len + 12) 2^-23) max_j |v_ji|.
 */
static void attend_all(jang_isa isa) {
    const jang_kernels *k = jang_isa_kernels(isa), *ref = jang_isa_kernels(JANG_ISA_SCALAR);
    static const int64_t lens[] = {1, 3, 4, 7, 33, 200}, hds[] = {64, 80, 12, 128};
    int failed = 0;
    for (int nq = 1; nq <= JANG_ATTEND_MAX_Q; nq++)
        for (int hi = 0; hi < 4; hi++)
            for (int li = 0; li < 6; li++) {
                const int64_t hd = hds[hi], len = lens[li], stride = 3 * hd + 5, ld = len + nq - 1;
                const int64_t qs = 2 * hd + 3; /* query / output stride */
                float *q = malloc((size_t)(nq * qs) * sizeof(float));
                float *kv = malloc((size_t)(2 * ld * stride) * sizeof(float));
                float *sc = malloc((size_t)(nq * ld) * sizeof(float)),
                      *sc2 = malloc((size_t)(nq * ld) * sizeof(float));
                float *o = malloc((size_t)(nq * qs) * sizeof(float)),
                      *o2 = malloc((size_t)(nq * qs) * sizeof(float));
                double *bound = malloc((size_t)hd * sizeof(double));
                for (int64_t i = 0; i < nq * qs; i++)
                    q[i] = 2.0f * frand();
                for (int64_t i = 0; i < 2 * ld * stride; i++)
                    kv[i] = frand();
                const float *kk = kv, *vv = kv + ld * stride, scale = 0.125f;
                ref->attend(q, qs, nq, kk, vv, stride, len, hd, scale, sc, o2, qs);
                k->attend(q, qs, nq, kk, vv, stride, len, hd, scale, sc2, o, qs);
                for (int u = 0; u < nq; u++) {
                    const int64_t n = len + u;
                    double e = 0;
                    for (int64_t j = 0; j < n; j++) {
                        double a = 0;
                        for (int64_t i = 0; i < hd; i++)
                            a += fabs((double)q[u * qs + i] * kk[j * stride + i]);
                        e = fmax(e, 2.0 * (double)hd * 0x1p-24 * scale * a);
                    }
                    for (int64_t i = 0; i < hd; i++) {
                        double vmax = 0;
                        for (int64_t j = 0; j < n; j++)
                            vmax = fmax(vmax, fabs((double)vv[j * stride + i]));
                        bound[i] = (2 * e + (double)(n + 12) * 0x1p-23) * vmax + 1e-30;
                    }
                    char what[96];
                    snprintf(what, sizeof what, "%s attend nq %d query %d hd %lld len %lld",
                             jang_isa_name(isa), nq, u, (long long)hd, (long long)n);
                    if (check_tensor(what, o + u * qs, o2 + u * qs, bound, hd, failed >= 3))
                        failed++;
                }
                free(q), free(kv), free(sc), free(sc2), free(o), free(o2), free(bound);
            }
    CHECK_MSG(failed == 0, "%s: %d attention cases outside the tolerance", jang_isa_name(isa),
              failed);
    printf("    %s: attention, largest |diff|/bound %.3f\n", jang_isa_name(isa), worst_seen);
}

/* SwiGLU: the vector exp against expf over the range that matters (|x| up to 100, where e^-x
 * clamps), odd lengths. Bound: 6 ulp of the result (2 of exp, its propagation, the division). */
static void swiglu_all(jang_isa isa) {
    const jang_kernels *k = jang_isa_kernels(isa), *ref = jang_isa_kernels(JANG_ISA_SCALAR);
    const int64_t n = 1003;
    float *a = malloc(n * sizeof(float)), *a2 = malloc(n * sizeof(float)),
          *b = malloc(n * sizeof(float));
    double *bound = malloc(n * sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        a[i] = a2[i] = (float)(i - n / 2) * 0.2f + 0.05f * frand();
        b[i] = frand();
    }
    ref->swiglu(a2, b, n);
    k->swiglu(a, b, n);
    for (int64_t i = 0; i < n; i++)
        bound[i] = 6.0 * 0x1p-23 * fabs((double)a2[i]) + 1e-35;
    char what[64];
    snprintf(what, sizeof what, "%s swiglu", jang_isa_name(isa));
    CHECK_MSG(check_tensor(what, a, a2, bound, n, false) == 0, "%s", what);
    free(a), free(a2), free(b), free(bound);
}

/* Batch invariance: in an invariant call each token's row of y is bit-identical to the one-token
 * call's (what makes a batched decode step give each sequence its own logits), for 2 .. 12 tokens
 * (both sides of JANG_KERNEL_GEMM_MIN). For every table this CPU runs, scalar included: every
 * affine (bits x group) and every plain kind. */
static int invariant_case(jang_pool *pool, jang_isa isa, const test_weight *t, const char *what) {
    const jang_weight *w = &t->w;
    const int64_t n = 12;
    float *x = malloc((size_t)(n * w->cols) * sizeof(float));
    float *bias = malloc((size_t)w->rows * sizeof(float));
    float *yb = malloc((size_t)(n * w->rows) * sizeof(float));
    float *y1 = malloc((size_t)w->rows * sizeof(float));
    for (int64_t i = 0; i < n * w->cols; i++)
        x[i] = xrand();
    for (int64_t i = 0; i < w->rows; i++)
        bias[i] = frand();
    int bad = 0;
    for (int64_t m = 2; m <= n; m++) {
        CHECK_OK(jang_matmul_isa(pool, isa, w, x, m, bias, yb, true));
        for (int64_t u = 0; u < m; u++) {
            CHECK_OK(jang_matmul_isa(pool, isa, w, x + u * w->cols, 1, bias, y1, false));
            if (memcmp(y1, yb + u * w->rows, (size_t)w->rows * sizeof(float))) {
                if (!bad)
                    printf("    %s: token %lld of %lld differs from its one-token call\n", what,
                           (long long)u, (long long)m);
                bad++;
            }
        }
    }
    free(x), free(bias), free(yb), free(y1);
    return bad;
}

TEST(kernels_small_batches_are_batch_invariant) {
    jang_pool *pool = jang_pool_create(2);
    REQUIRE(pool);
    static const int bits_list[] = {2, 3, 4, 5, 6, 8}, groups[] = {32, 64, 128};
    static const jang_wkind kinds[] = {JANG_WK_F32, JANG_WK_F16, JANG_WK_BF16};
    int cases = 0, failed = 0;
    for (int i = 0; i < JANG_ISA_COUNT; i++) {
        const jang_isa isa = (jang_isa)i;
        if (!jang_isa_supported(isa)) continue;
        rng_state = 777 + (uint64_t)i;
        char what[128];
        for (int bi = 0; bi < 6; bi++)
            for (int gi = 0; gi < 3; gi++) {
                test_weight t;
                make_affine(&t, 37, 3 * groups[gi], bits_list[bi], groups[gi], JANG_DT_F16);
                snprintf(what, sizeof what, "%s affine bits %d group %d", jang_isa_name(isa),
                         bits_list[bi], groups[gi]);
                failed += invariant_case(pool, isa, &t, what) != 0;
                cases++;
                free_weight(&t);
            }
        for (int ki = 0; ki < 3; ki++) {
            test_weight t;
            make_plain(&t, 37, 100, kinds[ki]);
            snprintf(what, sizeof what, "%s plain kind %d", jang_isa_name(isa), (int)kinds[ki]);
            failed += invariant_case(pool, isa, &t, what) != 0;
            cases++;
            free_weight(&t);
        }
    }
    CHECK_MSG(failed == 0, "%d of %d cases depend on the batch", failed, cases);
    printf("    %d cases (every table this CPU runs), 2..12 tokens\n", cases);
    jang_pool_free(pool);
}

TEST(kernels_swiglu_matches_reference) { for_each_fast_isa(swiglu_all); }

/* SwiGLU over a batch of rows gives each row what it gets alone, whatever the row width (the
 * vector tail included): a batched decode step applies it once to all the sequences' rows. */
TEST(kernels_swiglu_is_position_invariant) {
    enum { W = 37, R = 64 };
    float a[R * W], b[R * W], one[W];
    for (int i = 0; i < JANG_ISA_COUNT; i++) {
        if (!jang_isa_supported((jang_isa)i)) continue;
        const jang_kernels *k = jang_isa_kernels((jang_isa)i);
        rng_state = 99;
        for (int j = 0; j < R * W; j++)
            a[j] = 12 * frand(), b[j] = frand();
        float a0[R * W];
        memcpy(a0, a, sizeof a);
        k->swiglu(a, b, R * W);
        for (int r = 0; r < R; r++) {
            memcpy(one, a0 + r * W, sizeof one);
            k->swiglu(one, b + r * W, W);
            CHECK_MSG(!memcmp(one, a + r * W, sizeof one), "%s: row %d differs in a batch",
                      jang_isa_name((jang_isa)i), r);
        }
    }
}

TEST(kernels_attend_matches_reference) { for_each_fast_isa(attend_all); }

/* Dispatch: the table chosen here, and the names JANG_ISA accepts. */
TEST(kernels_isa_dispatch_and_names) {
    CHECK_OK(jang_kernels_init());
    jang_isa a = jang_isa_active();
    CHECK(jang_isa_supported(a));
    printf("    active: %s\n", jang_isa_name(a));
    jang_isa got = JANG_ISA_COUNT;
    CHECK_OK(jang_isa_from_name("scalar", &got));
    CHECK(got == JANG_ISA_SCALAR);
    CHECK(jang_isa_from_name("bogus", &got) == JANG_E_ARG);
    CHECK(strstr(jang_last_error(), "JANG_ISA=bogus: unknown") != NULL);
    for (int i = 1; i < JANG_ISA_COUNT; i++) {
        jang_status s = jang_isa_from_name(jang_isa_name((jang_isa)i), &got);
        if (jang_isa_supported((jang_isa)i))
            CHECK(s == JANG_OK && got == (jang_isa)i);
        else
            CHECK(s == JANG_E_UNSUPPORTED && strstr(jang_last_error(), "cannot run") != NULL);
    }
}
