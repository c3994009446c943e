/* kernels_bench.c — memory bandwidth and matmul kernel speed (DESIGN.md §8): a STREAM-style copy,
 * triad and read on the same thread pool the kernels use, then GEMV (one token) GB/s and % of the
 * measured bandwidth per bit width on the real shapes of SmolLM2-135M and Qwen2.5-0.5B and on
 * 4096x4096 / 4096x14336, then GEMM GFLOP/s for M = 512 tokens.
 *
 * GEMV weights are cycled through enough copies to exceed 96 MB, so every call reads its matrix
 * from DRAM as a decode step does (a 4-bit SmolLM2 is 75 MB, larger than the L3). Times are the
 * median of --reps calls after warm-up; bytes are the codes + scales + biases as stored. Affine
 * weights use group 64 and f16 scales (what `jang convert` writes by default). Results go to
 * docs/PERFORMANCE.md.
 *
 * Build: make bench. Run: build/bench/kernels_bench [--threads 2] [--isa avx2] [--reps 20]
 *   [--only stream,gemv,gemm] [--bits 2,3,4] [--scalar] (also time the scalar reference)
 *   [--quick] (only the shapes larger than the caches) [--hot] (no copies: cache-resident
 *   weights for the small shapes, i.e. the compute ceiling)
 */
#include "jang.h"
#include "kernels.h"
#include "pool.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)rng;
}

/* ---- STREAM-style bandwidth on the pool ------------------------------------------------------ */

#ifndef KB_STREAMS
#define KB_STREAMS 8 /* read streams per thread */
#endif

typedef struct {
    double *a, *b, *c;
    int64_t n;
    int op; /* 0 copy, 1 triad, 2 read */
    double sums[64];
} stream_ctx;

static void stream_worker(void *arg, int w, int nw) {
    stream_ctx *s = arg;
    int64_t i0, i1;
    jang_pool_split(s->n, w, nw, 64, &i0, &i1);
    double *a = s->a, *b = s->b, *c = s->c;
    if (s->op == 0) {
        for (int64_t i = i0; i < i1; i++)
            c[i] = a[i];
    } else if (s->op == 1) {
        for (int64_t i = i0; i < i1; i++)
            a[i] = b[i] + 3.0 * c[i];
    } else { /* read: the thread's range as KB_STREAMS streams read side by side (one stream per
              * core leaves this VM's DRAM half idle: the GEMV kernels read 4 rows at a time), 4
              * independent sums each so the loop is bandwidth-, not latency-bound */
        int64_t q = (i1 - i0) / KB_STREAMS / 4 * 4;
        double acc[KB_STREAMS][4] = {{0}};
        for (int64_t i = 0; i < q; i += 4)
            for (int st = 0; st < KB_STREAMS; st++)
                for (int k = 0; k < 4; k++)
                    acc[st][k] += a[i0 + st * q + i + k];
        double sum = 0;
        for (int st = 0; st < KB_STREAMS; st++)
            for (int k = 0; k < 4; k++)
                sum += acc[st][k];
        s->sums[w & 63] = sum;
    }
}

static double stream_bw[3];

static void run_stream(jang_pool *pool, int reps) {
    const int64_t n = (int64_t)(128u << 20) / 8; /* 128 MB per array */
    stream_ctx s = {.n = n};
    s.a = aligned_alloc(64, (size_t)n * 8);
    s.b = aligned_alloc(64, (size_t)n * 8);
    s.c = aligned_alloc(64, (size_t)n * 8);
    if (!s.a || !s.b || !s.c) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < n; i++)
        s.a[i] = 1.0, s.b[i] = 2.0, s.c[i] = 0.5;
    static const char *names[] = {"copy", "triad", "read"};
    static const double bytes_per[] = {16, 24, 8};
    /* read covers all but < 4 * KB_STREAMS elements per thread */
    printf("## STREAM-style bandwidth, %d threads, 3 x 128 MB arrays, best of %d\n\n",
           jang_pool_size(pool), reps);
    printf("| kernel | GB/s (best) | GB/s (median) |\n|---|---:|---:|\n");
    for (int op = 0; op < 3; op++) {
        s.op = op;
        double *t = malloc((size_t)reps * sizeof(double));
        jang_pool_run(pool, stream_worker, &s);
        for (int r = 0; r < reps; r++) {
            double t0 = now_s();
            jang_pool_run(pool, stream_worker, &s);
            t[r] = now_s() - t0;
        }
        qsort(t, (size_t)reps, sizeof(double), cmp_d);
        double bytes = bytes_per[op] * (double)n;
        stream_bw[op] = bytes / t[0] / 1e9;
        printf("| %s | %.1f | %.1f |\n", names[op], bytes / t[0] / 1e9, bytes / t[reps / 2] / 1e9);
        free(t);
    }
    printf("\n");
    free(s.a), free(s.b), free(s.c);
}

/* ---- weights --------------------------------------------------------------------------------- */

typedef struct {
    jang_weight w;
    void *mem;
    size_t bytes; /* as stored */
} bweight;

/* bits 0: f16 plain; 32: f32 plain; else affine group 64, f16 scales. */
static void make_weight(bweight *b, int64_t rows, int64_t cols, int bits) {
    memset(b, 0, sizeof *b);
    b->w.rows = rows;
    b->w.cols = cols;
    if (bits == 0 || bits == 32) {
        size_t esz = bits ? 4 : 2;
        b->bytes = (size_t)(rows * cols) * esz;
        b->mem = aligned_alloc(64, (b->bytes + 63) & ~(size_t)63);
        uint16_t *h = b->mem;
        float *f = b->mem;
        for (int64_t i = 0; i < rows * cols; i++) {
            float v = ((float)(rnd() % 2001) - 1000.0f) * 1e-4f;
            if (bits)
                f[i] = v;
            else
                h[i] = jang_f32_to_f16(v);
        }
        b->w.kind = bits ? JANG_WK_F32 : JANG_WK_F16;
        b->w.data = b->mem;
        return;
    }
    const int group = 64;
    size_t cbytes = (size_t)(rows * cols * bits / 8), ng = (size_t)(rows * cols / group);
    b->bytes = cbytes + 4 * ng;
    b->mem = aligned_alloc(64, (b->bytes + 127) & ~(size_t)63);
    uint8_t *p = b->mem;
    for (size_t i = 0; i < cbytes; i++)
        p[i] = (uint8_t)rnd();
    uint16_t *s = (uint16_t *)(p + cbytes);
    for (size_t i = 0; i < 2 * ng; i++)
        s[i] = jang_f32_to_f16(((float)(rnd() % 1000) + 1.0f) * 1e-5f);
    b->w.kind = JANG_WK_AFFINE;
    b->w.data = p;
    b->w.scales = s;
    b->w.biases = s + ng;
    b->w.sdtype = JANG_DT_F16;
    b->w.bits = bits;
    b->w.group = group;
}

/* ---- GEMV ------------------------------------------------------------------------------------ */

typedef struct {
    const char *model;
    int64_t rows, cols;
} shape;

static const shape SHAPES[] = {
    {"SmolLM2 q/o", 576, 576},       {"SmolLM2 gate/up", 1536, 576}, {"SmolLM2 down", 576, 1536},
    {"SmolLM2 lm_head", 49152, 576}, {"Qwen q/o", 896, 896},         {"Qwen k/v", 128, 896},
    {"Qwen gate/up", 4864, 896},     {"Qwen down", 896, 4864},       {"Qwen lm_head", 151936, 896},
    {"square", 4096, 4096},          {"FFN", 4096, 14336},           {"FFN down", 14336, 4096},
};
#define NSHAPES (int)(sizeof SHAPES / sizeof SHAPES[0])

static bool
    hot; /* --hot: one copy of each matrix (cache-resident when small): the compute ceiling */

static double time_gemv(jang_pool *pool, jang_isa isa, int64_t rows, int64_t cols, int bits,
                        int reps, size_t *bytes_out) {
    bweight one;
    make_weight(&one, rows, cols, bits);
    size_t bytes = one.bytes;
    /* enough copies to stream > 96 MB between visits of the same copy */
    int copies = (int)((96u << 20) / bytes) + 1;
    if (copies > 64) copies = 64;
    if (hot) copies = 1;
    bweight *ws = malloc((size_t)copies * sizeof *ws);
    ws[0] = one;
    for (int i = 1; i < copies; i++) {
        ws[i] = one;
        ws[i].mem = aligned_alloc(64, (one.bytes + 127) & ~(size_t)63);
        memcpy(ws[i].mem, one.mem, one.bytes);
        ptrdiff_t d = (uint8_t *)ws[i].mem - (uint8_t *)one.mem;
        ws[i].w.data = (const uint8_t *)one.w.data + d;
        if (one.w.scales) {
            ws[i].w.scales = (const uint16_t *)((const uint8_t *)one.w.scales + d);
            ws[i].w.biases = (const uint16_t *)((const uint8_t *)one.w.biases + d);
        }
    }
    float *x = malloc((size_t)cols * sizeof(float)), *y = malloc((size_t)rows * sizeof(float));
    for (int64_t i = 0; i < cols; i++)
        x[i] = ((float)(rnd() % 2001) - 1000.0f) * 1e-3f;
    for (int i = 0; i < copies; i++) /* warm-up: page in, grow scratch */
        (void)jang_matmul_isa(pool, isa, &ws[i].w, x, 1, NULL, y, false);
    int calls = reps * copies > 2000 ? reps * copies : 2000;
    if (isa == JANG_ISA_SCALAR) calls = copies < 3 ? 3 : copies;
    double *t = malloc((size_t)calls * sizeof(double));
    int done = 0;
    double start = now_s();
    for (; done < calls; done++) {
        double t0 = now_s();
        (void)jang_matmul_isa(pool, isa, &ws[done % copies].w, x, 1, NULL, y, false);
        t[done] = now_s() - t0;
        if (now_s() - start > 3.0 && done >= reps) {
            done++;
            break;
        }
    }
    qsort(t, (size_t)done, sizeof(double), cmp_d);
    double med = t[done / 2];
    for (int i = 0; i < copies; i++)
        free(ws[i].mem);
    free(ws), free(x), free(y), free(t);
    *bytes_out = bytes;
    return med;
}

static const char *bits_name(int bits) {
    static char buf[16];
    if (bits == 0) return "f16";
    if (bits == 32) return "f32";
    snprintf(buf, sizeof buf, "%d-bit", bits);
    return buf;
}

static bool quick; /* --quick: only the shapes larger than the caches */

static void run_gemv(jang_pool *pool, jang_isa isa, const int *bits, int nbits, int reps,
                     bool scalar) {
    double bw = stream_bw[2] > 0 ? stream_bw[2] : 0;
    printf("## GEMV (1 token), %s, %d threads, weights %s, median of >= %d calls\n\n",
           jang_isa_name(isa), jang_pool_size(pool), hot ? "hot (one copy)" : "from DRAM", reps);
    printf("Bandwidth reference: read %.1f GB/s, triad %.1f GB/s, copy %.1f GB/s (above).\n\n",
           stream_bw[2], stream_bw[1], stream_bw[0]);
    printf("| shape (rows x cols) | width | MB | us | GB/s | %% of read | %% of triad |%s\n",
           scalar ? " scalar us | speed-up |" : "");
    printf("|---|---|---:|---:|---:|---:|---:|%s\n", scalar ? "---:|---:|" : "");
    for (int s = quick ? NSHAPES - 3 : 0; s < NSHAPES; s++)
        for (int b = 0; b < nbits; b++) {
            size_t bytes;
            double t = time_gemv(pool, isa, SHAPES[s].rows, SHAPES[s].cols, bits[b], reps, &bytes);
            double gbs = (double)bytes / t / 1e9;
            printf("| %s %lldx%lld | %s | %.2f | %.1f | %.1f | %.0f%% | %.0f%% |", SHAPES[s].model,
                   (long long)SHAPES[s].rows, (long long)SHAPES[s].cols, bits_name(bits[b]),
                   (double)bytes / 1e6, t * 1e6, gbs, bw > 0 ? 100 * gbs / bw : 0,
                   stream_bw[1] > 0 ? 100 * gbs / stream_bw[1] : 0);
            if (scalar) {
                size_t b2;
                double ts = time_gemv(pool, JANG_ISA_SCALAR, SHAPES[s].rows, SHAPES[s].cols,
                                      bits[b], reps, &b2);
                printf(" %.1f | %.1fx |", ts * 1e6, ts / t);
            }
            printf("\n");
            fflush(stdout);
        }
    printf("\n");
}

/* ---- GEMM ------------------------------------------------------------------------------------ */

static void run_gemm(jang_pool *pool, jang_isa isa, const int *bits, int nbits, int reps,
                     bool scalar) {
    const int64_t M = 512;
    static const shape gs[] = {
        {"SmolLM2 q/o", 576, 576},   {"SmolLM2 gate/up", 1536, 576}, {"SmolLM2 down", 576, 1536},
        {"Qwen gate/up", 4864, 896}, {"Qwen down", 896, 4864},       {"square", 4096, 4096},
    };
    printf("## GEMM, M = %lld tokens, %s, %d threads, median of %d\n\n", (long long)M,
           jang_isa_name(isa), jang_pool_size(pool), reps);
    printf("| shape (rows x cols) | width | ms | GFLOP/s |%s\n", scalar ? " scalar GFLOP/s |" : "");
    printf("|---|---|---:|---:|%s\n", scalar ? "---:|" : "");
    for (size_t s = quick ? 4 : 0; s < sizeof gs / sizeof gs[0]; s++)
        for (int b = 0; b < nbits; b++) {
            bweight w;
            make_weight(&w, gs[s].rows, gs[s].cols, bits[b]);
            float *x = malloc((size_t)(M * gs[s].cols) * sizeof(float));
            float *y = malloc((size_t)(M * gs[s].rows) * sizeof(float));
            for (int64_t i = 0; i < M * gs[s].cols; i++)
                x[i] = ((float)(rnd() % 2001) - 1000.0f) * 1e-3f;
            double flop = 2.0 * (double)gs[s].rows * (double)gs[s].cols * (double)M;
            int r = flop > 2e10 ? (reps + 3) / 4 : reps;
            double *t = malloc((size_t)r * sizeof(double));
            (void)jang_matmul_isa(pool, isa, &w.w, x, M, NULL, y, false);
            for (int k = 0; k < r; k++) {
                double t0 = now_s();
                (void)jang_matmul_isa(pool, isa, &w.w, x, M, NULL, y, false);
                t[k] = now_s() - t0;
            }
            qsort(t, (size_t)r, sizeof(double), cmp_d);
            printf("| %s %lldx%lld | %s | %.2f | %.1f |", gs[s].model, (long long)gs[s].rows,
                   (long long)gs[s].cols, bits_name(bits[b]), t[r / 2] * 1e3,
                   flop / t[r / 2] / 1e9);
            if (scalar && flop < 2e10) {
                double t0 = now_s();
                (void)jang_matmul_isa(pool, JANG_ISA_SCALAR, &w.w, x, M, NULL, y, false);
                printf(" %.1f |", flop / (now_s() - t0) / 1e9);
            } else if (scalar) {
                printf(" - |");
            }
            printf("\n");
            fflush(stdout);
            free(t), free(x), free(y), free(w.mem);
        }
    printf("\n");
}

int main(int argc, char **argv) {
    int threads = 2, reps = 20;
    const char *only = NULL, *isa_name = NULL;
#define LIST_(b) b,
    int bits[16] = {JANG_AFFINE_BITS_MAP(LIST_) 0}; /* every width, then 0: f16 weights */
#undef LIST_
    int nbits = JANG_AFFINE_N_BITS + 1;
    bool scalar = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--threads") && v)
            threads = atoi(v), i++;
        else if (!strcmp(a, "--reps") && v)
            reps = atoi(v), i++;
        else if (!strcmp(a, "--only") && v)
            only = v, i++;
        else if (!strcmp(a, "--isa") && v)
            isa_name = v, i++;
        else if (!strcmp(a, "--scalar"))
            scalar = true;
        else if (!strcmp(a, "--quick"))
            quick = true;
        else if (!strcmp(a, "--hot"))
            hot = true;
        else if (!strcmp(a, "--bits") && v) {
            nbits = 0;
            for (const char *p = v; *p && nbits < 16;) {
                bits[nbits++] = (int)strtol(p, (char **)&p, 10);
                if (*p == ',') p++;
            }
            i++;
        } else {
            fprintf(stderr, "usage: kernels_bench [--threads N] [--isa NAME] [--reps N] "
                            "[--only stream,gemv,gemm] [--bits 2,3,4,...,0=f16,32=f32] [--scalar] "
                            "[--quick] [--hot]\n");
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    jang_isa isa;
    if (isa_name) {
        if (jang_isa_from_name(isa_name, &isa) != JANG_OK) {
            fprintf(stderr, "kernels_bench: %s\n", jang_last_error());
            return 1;
        }
    } else {
        isa = jang_isa_active();
    }
    jang_pool *pool = jang_pool_create(threads);
    if (!pool) return 1;
    if (!only || strstr(only, "stream")) run_stream(pool, 10);
    if (!only || strstr(only, "gemv")) run_gemv(pool, isa, bits, nbits, reps, scalar);
    if (!only || strstr(only, "gemm")) run_gemm(pool, isa, bits, nbits, 5, scalar);
    jang_pool_free(pool);
    return 0;
}
