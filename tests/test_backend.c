/* test_backend.c — every op of every built backend (src/backend/backend.h) against plain
 * double-precision references written here, on random data and odd shapes: lifecycle, supports(),
 * memory, embed, rmsnorm, matmul (and its invariant mode), rope, kv_store + attention over several
 * sequences in one call, glu, add, scale, gather and scatter_add. The backend's memory is reached
 * only through alloc / from_host / to_host, weights only through place_weight, so a GPU backend
 * added to BACKENDS is tested as it is; names not built are skipped. Each backend runs in two
 * configurations (CPU: 3 threads with the default kernel table, 1 thread with the scalar one).
 *
 * References use their own f16/bf16 decoding and their own MLX packing (DESIGN §3.2), never the
 * library's. Tolerances come from the f32 arithmetic (each says its reason next to it); the
 * element-wise add, scale and the copies must be exact. check() prints the first mismatches and
 * the largest error relative to its bound, like test_kernels.c's check_tensor.
 */
#include "test.h"

#include "../src/backend/backend.h"
#include "../src/format/format.h"
#include "util.h"

#include <stdlib.h>

/* Backends to test: a name not built in (jang_backend_find fails) is skipped. */
static const char *const BACKENDS[] = {"cpu", "cuda"};
#define N_BACKENDS (int)(sizeof BACKENDS / sizeof BACKENDS[0])

/* Configurations each backend's ops run in. */
static const jang_backend_opts CONFIGS[] = {{.n_threads = 3, .isa = NULL},
                                            {.n_threads = 1, .isa = "scalar"}};
#define N_CONFIGS (int)(sizeof CONFIGS / sizeof CONFIGS[0])

static const double EPS = 0x1p-24; /* f32 unit roundoff */

/* Every affine code width and group size (format.h's lists). */
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
static float *frand_n(int64_t n, float mul) {
    float *p = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        p[i] = frand() * mul;
    return p;
}

/* ---- comparing -------------------------------------------------------------------------------
 */

/* |got - ref| <= bound per element; prints the first mismatches and the largest |diff| / bound.
 * Returns the number of mismatches (and records a failure when there are any). */
static int check_at(const char *file, int line, const char *what, const float *got,
                    const double *ref, const double *bound, int64_t n) {
    int bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        double r = bound[i] > 0 ? d / bound[i] : (d > 0 ? INFINITY : 0);
        if (r > worst || isnan(d)) worst = isnan(d) ? INFINITY : r;
        if (!(d <= bound[i])) {
            if (bad < 5)
                printf("    %s: [%lld] %.9g vs reference %.9g (diff %.3g, bound %.3g)\n", what,
                       (long long)i, got[i], ref[i], d, bound[i]);
            bad++;
        }
    }
    if (bad) {
        printf("    %s: %d of %lld outside the bound; max |diff|/bound %.3g\n", what, bad,
               (long long)n, worst);
        test_fail_at(file, line, "%s: mismatches", what);
    }
    return bad;
}
#define check(what, got, ref, bound, n) check_at(__FILE__, __LINE__, what, got, ref, bound, n)

/* ---- backend access --------------------------------------------------------------------------
 */

typedef struct {
    const jang_backend_i *B;
    jang_backend *be;
    char label[96];
    void *bufs[64]; /* backend buffers to release at the end */
    int n_bufs;
} bk;

static void *dev_alloc(bk *k, size_t bytes) {
    void *p = NULL;
    jang_status s = k->B->alloc(k->be, bytes, &p);
    if (s) {
        test_fail_at(__FILE__, __LINE__, "%s: alloc %zu: %s", k->label, bytes, jang_last_error());
        abort(); /* nothing sensible to do after; the tests allocate little */
    }
    if (k->n_bufs < (int)(sizeof k->bufs / sizeof k->bufs[0])) k->bufs[k->n_bufs++] = p;
    return p;
}
static void *dev_put(bk *k, const void *host, size_t bytes) {
    void *p = dev_alloc(k, bytes);
    CHECK_OK(k->B->from_host(k->be, p, host, bytes));
    return p;
}
static void dev_get(bk *k, void *host, const void *dev, size_t bytes) {
    CHECK_OK(k->B->to_host(k->be, host, dev, bytes));
}
static void dev_release_all(bk *k) {
    for (int i = 0; i < k->n_bufs; i++)
        k->B->release(k->be, k->bufs[i]);
    k->n_bufs = 0;
}

/* Runs fn on every built backend in every configuration. */
static void for_each_backend(void (*fn)(bk *)) {
    int ran = 0;
    for (int b = 0; b < N_BACKENDS; b++) {
        const jang_backend_i *B = jang_backend_find(BACKENDS[b]);
        if (!B) continue;
        for (int c = 0; c < N_CONFIGS; c++) {
            bk k = {.B = B};
            snprintf(k.label, sizeof k.label, "%s (threads %d, isa %s)", B->name,
                     CONFIGS[c].n_threads, CONFIGS[c].isa ? CONFIGS[c].isa : "default");
            jang_status s = B->create(&CONFIGS[c], &k.be);
            if (s == JANG_E_UNSUPPORTED && b > 0) { /* a GPU backend built, no GPU here */
                printf("    %s: %s: not tested here\n", k.label, jang_last_error());
                break;
            }
            CHECK_MSG(s == JANG_OK, "%s: create: %s", k.label, jang_last_error());
            if (s) continue;
            rng_state = 0x5eed0000u + (uint64_t)(b * N_CONFIGS + c);
            fn(&k);
            dev_release_all(&k);
            B->free(k.be);
            ran++;
        }
    }
    CHECK(ran > 0);
}

/* ---- weights ---------------------------------------------------------------------------------
 */

/* f16 / bf16 bits to their value, independently of util.h. */
static double f16_value(uint16_t h) {
    int e = h >> 10 & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return h & 0x8000 ? -v : v;
}
static double bf16_value(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* DESIGN §3.2: each row an LSB-first bit stream over little-endian bytes, value k at bits
 * [k*bits, (k+1)*bits). */
static void pack_row(const uint8_t *q, int64_t cols, int bits, uint8_t *bytes) {
    memset(bytes, 0, (size_t)(cols * bits / 8));
    for (int64_t k = 0; k < cols; k++)
        for (int i = 0; i < bits; i++)
            if (q[k] >> i & 1) bytes[(k * bits + i) / 8] |= (uint8_t)(1u << ((k * bits + i) % 8));
}

typedef struct {
    jang_weight w; /* host view; placed copies are made per backend */
    void *data;
    uint16_t *scales, *biases;
    double *val;  /* (rows, cols) the value of each element */
    double *mag;  /* (rows, cols) |scale * q| + |bias| (affine) or |value|: for rounding bounds */
    double *qerr; /* (rows, cols / group) affine: |scale| * sum of the group's codes */
} tweight;

static void make_plain(tweight *t, int64_t rows, int64_t cols, jang_wkind kind) {
    memset(t, 0, sizeof *t);
    const int64_t n = rows * cols;
    t->val = malloc((size_t)n * sizeof(double));
    t->mag = malloc((size_t)n * sizeof(double));
    t->data = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) {
        float v = frand() * 0.1f;
        if (kind == JANG_WK_F32) {
            ((float *)t->data)[i] = v;
            t->val[i] = v;
        } else if (kind == JANG_WK_F16) {
            uint16_t h = jang_f32_to_f16(v);
            ((uint16_t *)t->data)[i] = h;
            t->val[i] = f16_value(h);
        } else {
            uint16_t h = jang_f32_to_bf16(v);
            ((uint16_t *)t->data)[i] = h;
            t->val[i] = bf16_value(h);
        }
        t->mag[i] = fabs(t->val[i]);
    }
    t->w = (jang_weight){.kind = kind, .rows = rows, .cols = cols, .data = t->data};
}

static void make_affine(tweight *t, int64_t rows, int64_t cols, int bits, int group,
                        jang_dtype sdt) {
    memset(t, 0, sizeof *t);
    const int64_t ng = cols / group, n = rows * cols;
    uint8_t *q = malloc((size_t)n);
    t->val = malloc((size_t)n * sizeof(double));
    t->mag = malloc((size_t)n * sizeof(double));
    t->qerr = calloc((size_t)(rows * ng), sizeof(double));
    t->data = calloc((size_t)(n * bits / 8), 1);
    t->scales = malloc((size_t)(rows * ng) * 2);
    t->biases = malloc((size_t)(rows * ng) * 2);
    for (int64_t i = 0; i < n; i++)
        q[i] = (uint8_t)(rnd() & ((1u << bits) - 1));
    for (int64_t i = 0; i < rows * ng; i++) {
        float s = (0.2f + 0.8f * (frand() + 1)) / (float)((1 << bits) - 1),
              b = -0.5f + 0.2f * frand();
        t->scales[i] = sdt == JANG_DT_BF16 ? jang_f32_to_bf16(s) : jang_f32_to_f16(s);
        t->biases[i] = sdt == JANG_DT_BF16 ? jang_f32_to_bf16(b) : jang_f32_to_f16(b);
    }
    for (int64_t r = 0; r < rows; r++) {
        pack_row(q + r * cols, cols, bits, (uint8_t *)t->data + r * cols * bits / 8);
        for (int64_t c = 0; c < cols; c++) {
            const int64_t g = r * ng + c / group;
            double s = sdt == JANG_DT_BF16 ? bf16_value(t->scales[g]) : f16_value(t->scales[g]);
            double b = sdt == JANG_DT_BF16 ? bf16_value(t->biases[g]) : f16_value(t->biases[g]);
            t->val[r * cols + c] = s * q[r * cols + c] + b;
            t->mag[r * cols + c] = fabs(s * q[r * cols + c]) + fabs(b);
            t->qerr[g] += fabs(s) * q[r * cols + c];
        }
    }
    free(q);
    t->w = (jang_weight){.kind = JANG_WK_AFFINE,
                         .rows = rows,
                         .cols = cols,
                         .data = t->data,
                         .scales = t->scales,
                         .biases = t->biases,
                         .sdtype = sdt,
                         .bits = bits,
                         .group = group};
}

static void free_weight(tweight *t) {
    free(t->data), free(t->scales), free(t->biases), free(t->val), free(t->mag), free(t->qerr);
}

/* The backend's copy of t (place_weight on a copy of the view); *owned for release. */
static jang_weight place(bk *k, const tweight *t, void **owned) {
    jang_weight w = t->w;
    *owned = NULL;
    CHECK_OK(k->B->place_weight(k->be, &w, owned));
    return w;
}

TEST(backend_reference_packing_example) {
    /* The packer the references use, on DESIGN §3.2's example; test_affine.c explains why the
     * bytes differ from the ones printed there (they match mlx). */
    const uint8_t q[8] = {5, 3, 7, 1, 0, 6, 2, 4};
    uint8_t bytes[3];
    pack_row(q, 8, 3, bytes);
    CHECK_EQ_INT(bytes[0], 0xDD);
    CHECK_EQ_INT(bytes[1], 0x03);
    CHECK_EQ_INT(bytes[2], 0x8B);
    CHECK(f16_value(0x3C00) == 1.0 && f16_value(0xC000) == -2.0 && f16_value(0x0001) == 0x1p-24);
    CHECK(bf16_value(0x3F80) == 1.0 && bf16_value(0xBF00) == -0.5);
}

/* ---- lifecycle, registry, supports -----------------------------------------------------------
 */

TEST(backend_lifecycle) {
    int built = 0;
    for (int b = 0; b < N_BACKENDS; b++) {
        const jang_backend_i *B = jang_backend_find(BACKENDS[b]);
        if (!B) continue;
        built++;
        CHECK_STR(B->name, BACKENDS[b]);
        const jang_backend_opts opts[] = {
            {1, NULL}, {3, NULL}, {1, "scalar"}, {3, "scalar"}, {0, NULL}};
        for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
            jang_backend *be = NULL;
            CHECK_OK(B->create(&opts[i], &be));
            if (!be) continue;
            CHECK(be->i == B);
            const char *d = B->describe(be);
            CHECK_MSG(d && d[0], "%s: describe() empty", B->name);
            if (d && !strcmp(B->name, "cpu") && opts[i].n_threads > 0) {
                char want[32];
                snprintf(want, sizeof want, "%d thread", opts[i].n_threads);
                CHECK_MSG(strstr(d, want), "describe \"%s\" lacks \"%s\"", d, want);
                if (opts[i].isa) CHECK_MSG(strstr(d, opts[i].isa), "describe \"%s\"", d);
            }
            B->release(be, NULL); /* "NULL is fine" */
            B->free(be);
        }
        B->free(NULL); /* house style: every free accepts NULL */
        if (!strcmp(B->name, "cpu")) {
            static jang_backend sentinel;
            jang_backend *be = &sentinel; /* must be reset */
            const jang_backend_opts bad = {1, "bogus"};
            CHECK_EQ_INT(B->create(&bad, &be), JANG_E_ARG);
            CHECK(be == NULL);
            CHECK_MSG(strstr(jang_last_error(), "bogus"), "error \"%s\" does not name 'bogus'",
                      jang_last_error());
        }
    }
    CHECK(built > 0);
    CHECK(jang_backend_find("cpu") == &jang_backend_cpu);
    CHECK(jang_backend_find("nope") == NULL);
    CHECK_MSG(strstr(jang_last_error(), "'nope'") && strstr(jang_last_error(), "cpu") &&
                  strstr(jang_last_error(), jang_backend_names()),
              "error \"%s\" should name 'nope' and the built-in list", jang_last_error());
    CHECK(jang_backend_find(NULL) == NULL);
    /* op names: one each, distinct, "?" past the end */
    for (int i = 0; i < JANG_OP_COUNT; i++) {
        CHECK(strcmp(jang_op_name((jang_op)i), "?") != 0);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(jang_op_name((jang_op)i), jang_op_name((jang_op)j)) != 0);
    }
    CHECK_STR(jang_op_name(JANG_OP_COUNT), "?");
    CHECK_STR(jang_op_name(JANG_OP_SCATTER_ADD), "scatter_add");
}

static void supports_case(bk *k) {
    if (strcmp(k->B->name, "cpu") != 0) return; /* what a GPU backend supports is its own */
    for (int op = 0; op < JANG_OP_COUNT; op++)
        CHECK_MSG(k->B->supports(k->be, (jang_op)op, NULL), "cpu does not support %s",
                  jang_op_name((jang_op)op));
    const jang_wkind plain[] = {JANG_WK_F32, JANG_WK_F16, JANG_WK_BF16};
    for (int i = 0; i < 3; i++) {
        jang_weight w = {.kind = plain[i], .rows = 3, .cols = 5};
        CHECK(k->B->supports(k->be, JANG_OP_MATMUL, &w));
        CHECK(k->B->supports(k->be, JANG_OP_EMBED, &w));
    }
    for (int bi = 0; bi < N_BITS; bi++)
        for (int gi = 0; gi < N_GROUPS; gi++) {
            jang_weight w = {.kind = JANG_WK_AFFINE,
                             .rows = 3,
                             .cols = 2 * ALL_GROUPS[gi],
                             .bits = ALL_BITS[bi],
                             .group = ALL_GROUPS[gi]};
            CHECK_MSG(k->B->supports(k->be, JANG_OP_MATMUL, &w), "%d bits", ALL_BITS[bi]);
            CHECK_MSG(k->B->supports(k->be, JANG_OP_EMBED, &w), "%d bits", ALL_BITS[bi]);
        }
    /* (bits, group, cols): a width or group not in the lists, or cols not a multiple of group */
    const int bad[][3] = {{1, 64, 128}, {7, 64, 128}, {9, 64, 128},  {0, 64, 128}, {4, 0, 128},
                          {4, 48, 96},  {4, 16, 64},  {4, 256, 256}, {4, 64, 96},  {4, 32, 40}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jang_weight w = {.kind = JANG_WK_AFFINE,
                         .rows = 3,
                         .cols = bad[i][2],
                         .bits = bad[i][0],
                         .group = bad[i][1]};
        CHECK_MSG(!k->B->supports(k->be, JANG_OP_MATMUL, &w), "matmul bits %d group %d cols %d",
                  bad[i][0], bad[i][1], bad[i][2]);
        CHECK_MSG(!k->B->supports(k->be, JANG_OP_EMBED, &w), "embed bits %d group %d cols %d",
                  bad[i][0], bad[i][1], bad[i][2]);
    }
}
TEST(backend_supports) { for_each_backend(supports_case); }

/* ---- memory ----------------------------------------------------------------------------------
 */

static void memory_case(bk *k) {
    const size_t sizes[] = {1, 3, 64, 1000, 4099};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const size_t n = sizes[i];
        uint8_t *h = malloc(n), *src = malloc(n), *back = malloc(n);
        memset(h, 0xAB, n);
        uint8_t *p = dev_alloc(k, n);
        dev_get(k, h, p, n);
        size_t nz = 0;
        for (size_t j = 0; j < n; j++)
            nz += h[j] != 0;
        CHECK_MSG(nz == 0, "%s: alloc(%zu): %zu bytes not zero", k->label, n, nz);
        for (size_t j = 0; j < n; j++)
            src[j] = (uint8_t)rnd();
        CHECK_OK(k->B->from_host(k->be, p, src, n));
        memset(back, 0, n);
        dev_get(k, back, p, n);
        CHECK_MSG(!memcmp(src, back, n), "%s: %zu bytes did not round-trip", k->label, n);
        if (n > 12) { /* a copy into the middle leaves the rest alone */
            const uint8_t mid[7] = {1, 2, 3, 4, 5, 6, 7};
            CHECK_OK(k->B->from_host(k->be, p + 5, mid, 7));
            memcpy(src + 5, mid, 7);
            dev_get(k, back, p, n);
            CHECK_MSG(!memcmp(src, back, n), "%s: partial copy", k->label);
            uint8_t part[4];
            dev_get(k, part, p + n - 4, 4);
            CHECK(!memcmp(part, src + n - 4, 4));
        }
        CHECK_OK(k->B->from_host(k->be, p, src, 0)); /* nothing to copy */
        free(h), free(src), free(back);
    }
    k->B->release(k->be, NULL);
    void *none = NULL; /* an empty buffer (a cache of no positions) is not out of memory */
    CHECK_OK(k->B->alloc(k->be, 0, &none));
    k->B->release(k->be, none);
}
TEST(backend_memory) { for_each_backend(memory_case); }

/* ---- embed -----------------------------------------------------------------------------------
 */

static void embed_one(bk *k, const tweight *t, const char *what) {
    const int64_t rows = t->w.rows, cols = t->w.cols;
    int32_t tokens[9] = {0, (int32_t)(rows - 1), 3, 3, 1, (int32_t)(rows / 2), 2, 0, 5};
    const int64_t n = 9;
    void *owned;
    jang_weight w = place(k, t, &owned);
    float *out = dev_alloc(k, (size_t)(n * cols) * sizeof(float));
    CHECK(k->B->supports(k->be, JANG_OP_EMBED, &w));
    CHECK_OK(k->B->embed(k->be, &w, tokens, n, out));
    float *got = malloc((size_t)(n * cols) * sizeof(float));
    double *ref = malloc((size_t)(n * cols) * sizeof(double));
    double *bound = malloc((size_t)(n * cols) * sizeof(double));
    dev_get(k, got, out, (size_t)(n * cols) * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < cols; c++) {
            ref[i * cols + c] = t->val[tokens[i] * cols + c];
            /* plain rows are copies; affine s * q + b rounds once or twice in f32 */
            bound[i * cols + c] =
                t->w.kind == JANG_WK_AFFINE ? 2 * EPS * t->mag[tokens[i] * cols + c] : 0;
        }
    char label[160];
    snprintf(label, sizeof label, "%s embed %s", k->label, what);
    check(label, got, ref, bound, n * cols);
    k->B->release(k->be, owned);
    free(got), free(ref), free(bound);
}

static void embed_case(bk *k) {
    const jang_wkind plain[] = {JANG_WK_F32, JANG_WK_F16, JANG_WK_BF16};
    const char *names[] = {"f32", "f16", "bf16"};
    for (int i = 0; i < 3; i++) {
        tweight t;
        make_plain(&t, 11, 13, plain[i]);
        embed_one(k, &t, names[i]);
        free_weight(&t);
    }
    for (int bi = 0; bi < N_BITS; bi++)
        for (int gi = 0; gi < N_GROUPS; gi++) {
            tweight t;
            char what[64];
            const int bits = ALL_BITS[bi], group = ALL_GROUPS[gi];
            make_affine(&t, 7, group * 3, bits, group, gi == 1 ? JANG_DT_BF16 : JANG_DT_F16);
            snprintf(what, sizeof what, "affine %d bits g%d", bits, group);
            embed_one(k, &t, what);
            free_weight(&t);
        }
}
TEST(backend_embed) { for_each_backend(embed_case); }

/* ---- rmsnorm ---------------------------------------------------------------------------------
 */

static void rmsnorm_case(bk *k) {
    const int64_t widths[] = {1, 7, 64, 129}, rows = 5;
    const float offsets[] = {0.0f, 1.0f};
    for (int wi = 0; wi < 4; wi++)
        for (int oi = 0; oi < 2; oi++)
            for (int inplace = 0; inplace < 2; inplace++) {
                const int64_t width = widths[wi], n = rows * width;
                const float eps = oi ? 1e-6f : 1e-5f, off = offsets[oi];
                float *x = frand_n(n, 3.0f), *w = frand_n(width, 1.0f), *got = malloc(n * 4);
                x[n - 1] *= 1e-3f; /* a tiny row end, where eps matters for width 1 */
                double *ref = malloc((size_t)n * sizeof(double)), *bound = malloc(n * 8);
                float *dx = dev_put(k, x, (size_t)n * 4), *dw = dev_put(k, w, (size_t)width * 4);
                float *dout = inplace ? dx : dev_alloc(k, (size_t)n * 4);
                CHECK_OK(k->B->rmsnorm(k->be, dout, dx, dw, rows, width, eps, off));
                dev_get(k, got, dout, (size_t)n * 4);
                for (int64_t r = 0; r < rows; r++) {
                    double ss = 0;
                    for (int64_t i = 0; i < width; i++)
                        ss += (double)x[r * width + i] * x[r * width + i];
                    const double inv = 1.0 / sqrt(ss / (double)width + eps);
                    for (int64_t i = 0; i < width; i++) {
                        const int64_t j = r * width + i;
                        ref[j] = ((double)off + w[i]) * x[j] * inv;
                        /* an f32 sum of squares over the row, a square root and three products */
                        bound[j] = (width + 8) * EPS * (fabs((double)off + w[i]) + fabs(w[i])) *
                                       fabs(x[j] * inv) +
                                   1e-30;
                    }
                }
                if (!inplace) { /* x untouched */
                    float *xb = malloc(n * 4);
                    dev_get(k, xb, dx, (size_t)n * 4);
                    CHECK_MSG(!memcmp(xb, x, (size_t)n * 4), "%s: rmsnorm wrote x", k->label);
                    free(xb);
                }
                char label[200];
                snprintf(label, sizeof label, "%s rmsnorm width %lld offset %g%s", k->label,
                         (long long)width, off, inplace ? " in place" : "");
                check(label, got, ref, bound, n);
                free(x), free(w), free(got), free(ref), free(bound);
                dev_release_all(k);
            }
}
TEST(backend_rmsnorm) { for_each_backend(rmsnorm_case); }

/* ---- matmul ----------------------------------------------------------------------------------
 */

/* y = x Wᵀ (+ bias) in double from the element values; the bound is test_kernels.c's model:
 * f32 sums in any order, (cols + 8) eps of sum |w||x| (|w| as |s q| + |b| for affine, whose
 * dequantization rounds), plus, for affine, int16-quantized activations (half a step of
 * max|x_g| / 32767 per element, weighted by |s| times the codes): a bound for every path. */
static void matmul_ref(const tweight *t, const float *x, int64_t n, const float *bias, double *ref,
                       double *bound) {
    const int64_t rows = t->w.rows, cols = t->w.cols;
    for (int64_t tok = 0; tok < n; tok++)
        for (int64_t r = 0; r < rows; r++) {
            const float *xt = x + tok * cols;
            double s = 0, mag = 0, q = 0;
            for (int64_t c = 0; c < cols; c++) {
                s += t->val[r * cols + c] * xt[c];
                mag += t->mag[r * cols + c] * fabs(xt[c]);
            }
            if (t->w.kind == JANG_WK_AFFINE) {
                const int64_t ng = cols / t->w.group;
                for (int64_t g = 0; g < ng; g++) {
                    double amax = 0;
                    for (int64_t c = g * t->w.group; c < (g + 1) * t->w.group; c++)
                        amax = fmax(amax, fabs(xt[c]));
                    q += t->qerr[r * ng + g] * amax / 65534;
                }
            }
            ref[tok * rows + r] = s + (bias ? bias[r] : 0);
            bound[tok * rows + r] =
                q + EPS * (double)(cols + 8) * mag + EPS * (bias ? fabs(bias[r]) : 0) + 1e-30;
        }
}

static void matmul_one(bk *k, const tweight *t, const char *what) {
    const int64_t rows = t->w.rows, cols = t->w.cols, tokens[] = {1, 3, 9, 17};
    void *owned;
    jang_weight w = place(k, t, &owned);
    CHECK(k->B->supports(k->be, JANG_OP_MATMUL, &w));
    for (int ti = 0; ti < 4; ti++)
        for (int variant = 0; variant < 4; variant++) {
            const int64_t n = tokens[ti];
            const bool with_bias = variant & 1, inv = variant & 2;
            float *x = frand_n(n * cols, 1.0f), *bias = frand_n(rows, 1.0f);
            for (int64_t i = 0; i < n * cols; i++)
                if (rnd() % 64 == 0) x[i] *= 20.0f; /* outliers, as in residual streams */
            float *got = malloc((size_t)(n * rows) * 4), *one = malloc((size_t)rows * 4);
            double *ref = malloc((size_t)(n * rows) * 8), *bound = malloc((size_t)(n * rows) * 8);
            float *dx = dev_put(k, x, (size_t)(n * cols) * 4);
            float *db = with_bias ? dev_put(k, bias, (size_t)rows * 4) : NULL;
            float *dy = dev_alloc(k, (size_t)(n * rows) * 4);
            CHECK_OK(k->B->matmul(k->be, &w, dx, n, db, dy, inv));
            dev_get(k, got, dy, (size_t)(n * rows) * 4);
            matmul_ref(t, x, n, with_bias ? bias : NULL, ref, bound);
            char label[200];
            snprintf(label, sizeof label, "%s matmul %s, %lld tokens%s%s", k->label, what,
                     (long long)n, with_bias ? ", bias" : "", inv ? ", invariant" : "");
            check(label, got, ref, bound, n * rows);
            if (inv) /* each token's row is its one-token call's, bit for bit */
                for (int64_t tok = 0; tok < n; tok++) {
                    CHECK_OK(k->B->matmul(k->be, &w, dx + tok * cols, 1, db, dy, true));
                    dev_get(k, one, dy, (size_t)rows * 4);
                    CHECK_MSG(!memcmp(one, got + tok * rows, (size_t)rows * 4),
                              "%s: token %lld differs from its one-token call", label,
                              (long long)tok);
                }
            free(x), free(bias), free(got), free(one), free(ref), free(bound);
            dev_release_all(k);
        }
    k->B->release(k->be, owned);
}

static void matmul_case(bk *k) {
    tweight t;
    make_plain(&t, 37, 45, JANG_WK_F16);
    matmul_one(k, &t, "f16 37x45");
    free_weight(&t);
    make_plain(&t, 13, 7, JANG_WK_F32);
    matmul_one(k, &t, "f32 13x7");
    free_weight(&t);
    make_affine(&t, 37, 96, 4, 32, JANG_DT_F16);
    matmul_one(k, &t, "affine 4 bits g32 37x96");
    free_weight(&t);
    make_affine(&t, 19, 128, 3, 64, JANG_DT_BF16);
    matmul_one(k, &t, "affine 3 bits g64 19x128");
    free_weight(&t);
}
TEST(backend_matmul) { for_each_backend(matmul_case); }

/* ---- rope ------------------------------------------------------------------------------------
 */

/* The angle is the f32 product pos * inv_freq, as transformers computes it (its rotary embedding
 * multiplies in f32), then rounded: large positions give exactly that angle, not the real one.
 * cos, sin and the rotation are in double. */
static void rope_case(bk *k) {
    const int64_t n_heads = 3, hd = 20, n = 8;
    const int64_t pos[8] = {0, 1, 2, 7, 100, 4095, 131071, 500000};
    const int64_t dims[] = {20, 8, 2};
    const float mscales[] = {1.0f, 1.3f};
    for (int di = 0; di < 3; di++)
        for (int neox = 0; neox < 2; neox++)
            for (int mi = 0; mi < 2; mi++) {
                const int64_t rd = dims[di], half = rd / 2, len = n * n_heads * hd;
                float *inv = malloc((size_t)half * 4);
                for (int64_t i = 0; i < half; i++)
                    inv[i] = (float)pow(10000.0, -2.0 * (double)i / (double)rd);
                float *x = frand_n(len, 2.0f), *got = malloc((size_t)len * 4);
                double *ref = malloc((size_t)len * 8), *bound = malloc((size_t)len * 8);
                float *dx = dev_put(k, x, (size_t)len * 4),
                      *dinv = dev_put(k, inv, (size_t)half * 4);
                const jang_rope_desc r = {rd, neox, dinv, mscales[mi]};
                CHECK_OK(k->B->rope(k->be, dx, n, n_heads, hd, pos, &r));
                dev_get(k, got, dx, (size_t)len * 4);
                for (int64_t i = 0; i < len; i++)
                    ref[i] = x[i], bound[i] = 0; /* dims past rope_dim: untouched */
                for (int64_t t = 0; t < n; t++)
                    for (int64_t h = 0; h < n_heads; h++)
                        for (int64_t i = 0; i < half; i++) {
                            const float ang = (float)pos[t] * inv[i];
                            const double c = cos(ang) * mscales[mi], s = sin(ang) * mscales[mi];
                            const int64_t base = (t * n_heads + h) * hd;
                            const int64_t a = base + (neox ? i : 2 * i);
                            const int64_t b = base + (neox ? i + half : 2 * i + 1);
                            const double x0 = x[a], x1 = x[b];
                            ref[a] = x0 * c - x1 * s;
                            ref[b] = x1 * c + x0 * s;
                            /* f32 cos and sin of the angle (within an ulp or two), the mscale
                             * products and the rotation's two products and a sum */
                            bound[a] = bound[b] = 8 * EPS * mscales[mi] * (fabs(x0) + fabs(x1));
                        }
                char label[200];
                snprintf(label, sizeof label, "%s rope dim %lld of %lld %s mscale %g", k->label,
                         (long long)rd, (long long)hd, neox ? "neox" : "interleaved", mscales[mi]);
                check(label, got, ref, bound, len);
                free(inv), free(x), free(got), free(ref), free(bound);
                dev_release_all(k);
            }
}
TEST(backend_rope) { for_each_backend(rope_case); }

/* ---- kv_store + attention --------------------------------------------------------------------
 */

typedef struct {
    int64_t pos, n;
} seq_shape;

/* One batched step: sequences with their own caches (cap positions), rows t0 given in the
 * sequences' reverse order (the contract allows any). Cache rows before pos are history,
 * rows from pos on start as NaN: kv_store must fill pos .. pos+n-1 and attention must read
 * nothing past them. */
static void attention_step(bk *k, const jang_attn_desc *a, const seq_shape *shape, int ns) {
    const int64_t hd = a->head_dim, kvd = a->n_kv_heads * hd, qd = a->n_heads * hd;
    const int64_t grp = a->n_heads / a->n_kv_heads;
    int64_t nt = 0, cap = 0;
    for (int s = 0; s < ns; s++) {
        nt += shape[s].n;
        if (shape[s].pos + shape[s].n + 3 > cap) cap = shape[s].pos + shape[s].n + 3;
    }
    jang_seq_view *seqs = calloc((size_t)ns, sizeof *seqs);
    float **hk = calloc((size_t)ns, sizeof *hk), **hv = calloc((size_t)ns, sizeof *hv);
    int64_t t0 = nt;
    for (int s = 0; s < ns; s++) {
        t0 -= shape[s].n;
        hk[s] = frand_n(cap * kvd, 1.0f), hv[s] = frand_n(cap * kvd, 1.0f);
        for (int64_t i = shape[s].pos * kvd; i < cap * kvd; i++)
            hk[s][i] = hv[s][i] = NAN;
        seqs[s] = (jang_seq_view){dev_put(k, hk[s], (size_t)(cap * kvd) * 4),
                                  dev_put(k, hv[s], (size_t)(cap * kvd) * 4), shape[s].pos, t0,
                                  shape[s].n};
    }
    float *q = frand_n(nt * qd, 1.5f), *kn = frand_n(nt * kvd, 1.5f), *vn = frand_n(nt * kvd, 1.0f);
    float *dq = dev_put(k, q, (size_t)(nt * qd) * 4), *dk = dev_put(k, kn, (size_t)(nt * kvd) * 4);
    float *dv = dev_put(k, vn, (size_t)(nt * kvd) * 4), *dout = dev_alloc(k, (size_t)(nt * qd) * 4);
    CHECK_OK(k->B->kv_store(k->be, dk, dv, kvd, seqs, ns));
    CHECK_OK(k->B->attention(k->be, dq, seqs, ns, a, dout));

    /* the caches: history kept, the new rows written, the rest untouched */
    float *cache = malloc((size_t)(cap * kvd) * 4);
    for (int s = 0; s < ns; s++) {
        const jang_seq_view *sq = &seqs[s];
        memcpy(hk[s] + sq->pos * kvd, kn + sq->t0 * kvd, (size_t)(sq->n * kvd) * 4);
        memcpy(hv[s] + sq->pos * kvd, vn + sq->t0 * kvd, (size_t)(sq->n * kvd) * 4);
        dev_get(k, cache, sq->k, (size_t)(cap * kvd) * 4);
        CHECK_MSG(!memcmp(cache, hk[s], (size_t)(cap * kvd) * 4), "%s: kv_store k of sequence %d",
                  k->label, s);
        dev_get(k, cache, sq->v, (size_t)(cap * kvd) * 4);
        CHECK_MSG(!memcmp(cache, hv[s], (size_t)(cap * kvd) * 4), "%s: kv_store v of sequence %d",
                  k->label, s);
    }
    free(cache);

    /* softmax(scale q.k) v over positions 0 .. pos+u, in double */
    float *got = malloc((size_t)(nt * qd) * 4);
    double *ref = malloc((size_t)(nt * qd) * 8), *bound = malloc((size_t)(nt * qd) * 8);
    double *p = malloc((size_t)cap * 8), *delta = malloc((size_t)cap * 8);
    dev_get(k, got, dout, (size_t)(nt * qd) * 4);
    for (int s = 0; s < ns; s++) {
        const jang_seq_view *sq = &seqs[s];
        for (int64_t u = 0; u < sq->n; u++)
            for (int64_t h = 0; h < a->n_heads; h++) {
                const float *qh = q + (sq->t0 + u) * qd + h * hd;
                const int64_t kvh = h / grp, len = sq->pos + u + 1;
                double mx = -INFINITY, sum = 0, dmax = 0;
                for (int64_t j = 0; j < len; j++) {
                    const float *kj = hk[s] + j * kvd + kvh * hd;
                    double d = 0, m = 0;
                    for (int64_t i = 0; i < hd; i++)
                        d += (double)qh[i] * kj[i], m += fabs((double)qh[i] * kj[i]);
                    p[j] = d * a->scale;
                    delta[j] = (hd + 2) * EPS * m * a->scale; /* the f32 dot and scale */
                    if (p[j] > mx) mx = p[j];
                    if (delta[j] > dmax) dmax = delta[j];
                }
                for (int64_t j = 0; j < len; j++)
                    sum += p[j] = exp(p[j] - mx);
                for (int64_t i = 0; i < hd; i++) {
                    double o = 0, m = 0;
                    for (int64_t j = 0; j < len; j++) {
                        const double vj = hv[s][j * kvd + kvh * hd + i];
                        o += p[j] / sum * vj, m += p[j] / sum * fabs(vj);
                    }
                    const int64_t at = (sq->t0 + u) * qd + h * hd + i;
                    ref[at] = o;
                    /* score errors move each weight by exp(2 dmax); exp within 2 ulp, the
                     * f32 sums over len terms */
                    bound[at] = m * (2 * dmax + (2 * (double)len + 16) * EPS) + 1e-30;
                }
            }
    }
    char label[200];
    snprintf(label, sizeof label, "%s attention %lld heads / %lld kv heads of %lld, %d sequences",
             k->label, (long long)a->n_heads, (long long)a->n_kv_heads, (long long)hd, ns);
    check(label, got, ref, bound, nt * qd);
    for (int s = 0; s < ns; s++)
        free(hk[s]), free(hv[s]);
    free(hk), free(hv), free(seqs), free(q), free(kn), free(vn), free(got), free(ref), free(bound);
    free(p), free(delta);
    dev_release_all(k);
}

static void attention_case(bk *k) {
    const seq_shape few[] = {{0, 1}, {5, 7}, {13, 1}, {0, 9}, {40, 3}};
    const seq_shape many[] = {{0, 2}, {1, 1}, {3, 5},  {8, 1},  {0, 1}, {20, 6},
                              {2, 3}, {7, 4}, {11, 1}, {0, 13}, {30, 2}}; /* more than 8 */
    const jang_attn_desc g1 = {8, 2, 20, 1.0f / sqrtf(20.0f)};
    const jang_attn_desc g2 = {4, 1, 64, 1.0f / sqrtf(64.0f)};
    const jang_attn_desc g3 = {12, 3, 7, 0.3f};
    attention_step(k, &g1, few, 5);
    attention_step(k, &g2, few, 5);
    attention_step(k, &g3, many, 11);
    const seq_shape one[] = {{0, 1}};
    attention_step(k, &g1, one, 1); /* the first token of a prompt: only itself */
}
TEST(backend_attention) { for_each_backend(attention_case); }

/* ---- glu, add, scale -------------------------------------------------------------------------
 */

static void elementwise_case(bk *k) {
    const int64_t sizes[] = {1, 7, 33, 1000};
    for (int si = 0; si < 4; si++) {
        const int64_t n = sizes[si];
        float *a = frand_n(n, 6.0f), *b = frand_n(n, 2.0f), *got = malloc((size_t)n * 4);
        const float extreme[] = {-100.0f, 100.0f, -20.0f, 20.0f, 0.0f, -1e-3f, 9.0f};
        for (int64_t i = 0; i < n && i < 7; i++)
            a[(i * 5) % n] = extreme[i];
        double *ref = malloc((size_t)n * 8), *bound = malloc((size_t)n * 8);
        for (int act = 0; act < 2; act++) {
            float *da = dev_put(k, a, (size_t)n * 4), *db = dev_put(k, b, (size_t)n * 4);
            CHECK_OK(k->B->glu(k->be, act ? JANG_GLU_GELU_TANH : JANG_GLU_SILU, da, db, n));
            dev_get(k, got, da, (size_t)n * 4);
            for (int64_t i = 0; i < n; i++) {
                const double x = a[i];
                const double f =
                    act ? 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)))
                        : x / (1 + exp(-x));
                ref[i] = f * b[i];
                /* a few ulp of the result; GELU's 1 + tanh cancels for negative x, an f32 ulp
                 * of 1 times |x b| / 2 */
                bound[i] = 16 * EPS * fabs(ref[i]) + 4 * EPS * fabs(x * b[i]) + 1e-35;
            }
            char label[160];
            snprintf(label, sizeof label, "%s glu %s n %lld", k->label, act ? "gelu_tanh" : "silu",
                     (long long)n);
            check(label, got, ref, bound, n);
        }
        /* add and scale: one f32 operation each, exact in the double reference rounded */
        float *da = dev_put(k, a, (size_t)n * 4), *db = dev_put(k, b, (size_t)n * 4);
        CHECK_OK(k->B->add(k->be, da, db, n));
        dev_get(k, got, da, (size_t)n * 4);
        for (int64_t i = 0; i < n; i++)
            ref[i] = (float)((double)a[i] + b[i]), bound[i] = 0;
        char label[160];
        snprintf(label, sizeof label, "%s add n %lld", k->label, (long long)n);
        check(label, got, ref, bound, n);
        CHECK_OK(k->B->scale(k->be, db, -0.37f, n));
        dev_get(k, got, db, (size_t)n * 4);
        for (int64_t i = 0; i < n; i++)
            ref[i] = (float)((double)b[i] * -0.37f);
        snprintf(label, sizeof label, "%s scale n %lld", k->label, (long long)n);
        check(label, got, ref, bound, n);
        free(a), free(b), free(got), free(ref), free(bound);
        dev_release_all(k);
    }
}
TEST(backend_glu_add_scale) { for_each_backend(elementwise_case); }

/* ---- gather, scatter_add ---------------------------------------------------------------------
 */

static void route_case(bk *k) {
    const int64_t widths[] = {1, 13, 64}, src_rows = 6, n = 11;
    const int32_t idx[11] = {3, 0, 5, 3, 3, 1, 0, 5, 2, 3, 4}; /* repeats, out of order */
    for (int wi = 0; wi < 3; wi++) {
        const int64_t width = widths[wi];
        float *src = frand_n(src_rows * width, 2.0f), *got = malloc((size_t)(n * width) * 4);
        double *ref = malloc((size_t)(n * width) * 8), *bound = calloc((size_t)(n * width), 8);
        float *dsrc = dev_put(k, src, (size_t)(src_rows * width) * 4);
        float *ddst = dev_alloc(k, (size_t)(n * width) * 4);
        CHECK_OK(k->B->gather(k->be, ddst, dsrc, idx, n, width));
        dev_get(k, got, ddst, (size_t)(n * width) * 4);
        for (int64_t i = 0; i < n; i++)
            for (int64_t c = 0; c < width; c++)
                ref[i * width + c] = src[idx[i] * width + c];
        char label[160];
        snprintf(label, sizeof label, "%s gather width %lld", k->label, (long long)width);
        check(label, got, ref, bound, n * width);

        /* scatter_add: n rows of `rows` back into src_rows rows, weighted */
        float *rows = frand_n(n * width, 1.0f), *wt = frand_n(n, 1.0f), *dst = src;
        float *drows = dev_put(k, rows, (size_t)(n * width) * 4);
        CHECK_OK(k->B->scatter_add(k->be, dsrc, drows, idx, wt, n, width));
        dev_get(k, got, dsrc, (size_t)(src_rows * width) * 4);
        for (int64_t r = 0; r < src_rows; r++)
            for (int64_t c = 0; c < width; c++) {
                double s = dst[r * width + c], m = fabs(s);
                int hits = 0;
                for (int64_t i = 0; i < n; i++)
                    if (idx[i] == r) {
                        s += (double)wt[i] * rows[i * width + c];
                        m += fabs((double)wt[i] * rows[i * width + c]);
                        hits++;
                    }
                ref[r * width + c] = s;
                bound[r * width + c] = 2 * (hits + 1) * EPS * m; /* a product and a sum each */
            }
        snprintf(label, sizeof label, "%s scatter_add width %lld", k->label, (long long)width);
        check(label, got, ref, bound, src_rows * width);
        free(src), free(got), free(ref), free(bound), free(rows), free(wt);
        dev_release_all(k);
    }
}
TEST(backend_gather_scatter_add) { for_each_backend(route_case); }
