/* quant_rmse.c — quantizer error and speed on real models: RTN (MLX-exact) vs the MSE search.
 *
 * Error mode (default): every 2-D tensor of each GGUF model is dequantized to f32 by libjang (the
 * GGUF itself is already quantized, so that is the reference), quantized with each method for
 * every (bits, group) whose group divides the input dimension, dequantized with MLX's exact
 * arithmetic, and the relative RMSE sqrt(sum (w - w')^2 / sum w^2) over all covered weights is
 * printed as a Markdown table (with the share of weights each group size covers).
 * Speed mode (--speed): quantizes the model's largest 2-D tensor (first --rows rows) with each
 * method at 1 and --threads threads and prints source GB/s (f32 input bytes / wall time).
 *
 * The name "synthetic" instead of a file measures a fixed-seed Student-t matrix (no GGUF grid).
 * Build: make bench. Run, e.g.:
 *   build/bench/quant_rmse ~/.cache/jang/models/smollm2-135m-instruct-q4_1.gguf
 *   build/bench/quant_rmse --speed ~/.cache/jang/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
 * Options: --bits 2,3,4 --groups 32,64,128 --dtype f16|bf16 --threads N; speed mode: --rows N
 * (rows of the tensor), --reps N (best of N timings, default 3). Speed mode prints the load average
 * at the start and, per line, process CPU time / wall time of the best run (about the thread
 * count when the threads really ran in parallel): on a shared machine, trust only such lines.
 */
#include "../src/quant/quant.h"
#include "jang.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LIST 8
#define CHUNK_ROWS 2048

typedef struct {
    int bits[MAX_LIST], n_bits;
    int groups[MAX_LIST], n_groups;
    jang_dtype dt;
    int threads;
    int64_t speed_rows;
    int reps;
    bool speed;
} config;

static int parse_list(const char *s, int *out) {
    int n = 0;
    while (*s && n < MAX_LIST) {
        out[n++] = (int)strtol(s, (char **)&s, 10);
        if (*s == ',') s++;
    }
    return n;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Quantizes w (rows, cols) with one method, dequantizes, returns sum of squared errors. */
static double quant_sse(const float *w, int64_t rows, int64_t cols, int bits, int group,
                        jang_affine_method m, const config *cfg, uint32_t *pk, uint16_t *sc,
                        uint16_t *bi, float *deq) {
    jang_affine_opts o;
    jang_affine_opts_init(&o);
    o.method = m;
    o.n_threads = cfg->threads;
    jang_status st = jang_affine_quantize(w, rows, cols, bits, group, cfg->dt, &o, pk, sc, bi);
    if (st == JANG_OK)
        st = jang_affine_dequantize(pk, sc, bi, rows, cols, bits, group, cfg->dt, deq);
    if (st != JANG_OK) {
        fprintf(stderr, "quant_rmse: %s\n", jang_last_error());
        exit(1);
    }
    double e = 0;
    for (int64_t i = 0; i < rows * cols; i++) {
        double d = (double)deq[i] - w[i];
        e += d * d;
    }
    return e;
}

static bool is_weight(const jang_gguf_tensor *t) {
    return t->n_dims == 2 && t->shape[0] > 1 && jang_ggml_can_dequantize(t->type);
}

/* Error statistics of one model (or synthetic matrix) over every (bits, group, method). */
typedef struct {
    double sse[MAX_LIST][MAX_LIST][2], ssw[MAX_LIST];
    int64_t covered[MAX_LIST], total, n_tensors;
    double t_q[2];
    uint32_t *pk;
    uint16_t *sc, *bi;
    float *deq;
} err_stats;

static void stats_init(err_stats *st, int64_t max_cols) {
    memset(st, 0, sizeof *st);
    size_t chunk = (size_t)CHUNK_ROWS * (size_t)max_cols;
    st->pk = malloc(chunk * sizeof *st->pk);
    st->sc = malloc(chunk * 2);
    st->bi = malloc(chunk * 2);
    st->deq = malloc(chunk * sizeof *st->deq);
    if (!st->pk || !st->sc || !st->bi || !st->deq) {
        fprintf(stderr, "quant_rmse: out of memory\n");
        exit(1);
    }
}

static void stats_add(err_stats *st, const float *w, int64_t rows, int64_t cols,
                      const config *cfg) {
    st->n_tensors++;
    st->total += rows * cols;
    for (int64_t r0 = 0; r0 < rows; r0 += CHUNK_ROWS) {
        int64_t nr = rows - r0 < CHUNK_ROWS ? rows - r0 : CHUNK_ROWS;
        const float *x = w + r0 * cols;
        double sw = 0;
        for (int64_t k = 0; k < nr * cols; k++)
            sw += (double)x[k] * x[k];
        for (int gi = 0; gi < cfg->n_groups; gi++) {
            if (cols % cfg->groups[gi]) continue;
            st->ssw[gi] += sw;
            st->covered[gi] += nr * cols;
            for (int bi_ = 0; bi_ < cfg->n_bits; bi_++)
                for (int m = 0; m < 2; m++) {
                    double ts = now();
                    st->sse[bi_][gi][m] += quant_sse(x, nr, cols, cfg->bits[bi_], cfg->groups[gi],
                                                     m ? JANG_AFFINE_MSE : JANG_AFFINE_RTN, cfg,
                                                     st->pk, st->sc, st->bi, st->deq);
                    st->t_q[m] += now() - ts;
                }
        }
    }
}

static void stats_print(err_stats *st, const char *name, double seconds, const config *cfg) {
    printf(
        "\n%s: %lld 2-D tensors, %lld weights, scale dtype %s, %.0f s (rtn %.0f s, mse %.0f s)\n\n",
        name, (long long)st->n_tensors, (long long)st->total, jang_dtype_name(cfg->dt), seconds,
        st->t_q[0], st->t_q[1]);
    printf("| bits | group | weights covered | RTN rel. RMSE | MSE rel. RMSE | MSE vs RTN |\n");
    printf("|---:|---:|---:|---:|---:|---:|\n");
    for (int bi_ = 0; bi_ < cfg->n_bits; bi_++)
        for (int gi = 0; gi < cfg->n_groups; gi++) {
            if (!st->covered[gi]) continue;
            double r = sqrt(st->sse[bi_][gi][0] / st->ssw[gi]);
            double m = sqrt(st->sse[bi_][gi][1] / st->ssw[gi]);
            printf("| %d | %d | %.1f%% | %.5f | %.5f | %+.1f%% |\n", cfg->bits[bi_],
                   cfg->groups[gi], 100.0 * (double)st->covered[gi] / (double)st->total, r, m,
                   100.0 * (m / r - 1.0));
        }
    fflush(stdout);
    free(st->pk);
    free(st->sc);
    free(st->bi);
    free(st->deq);
}

static int run_error(const char *path, const config *cfg) {
    jang_gguf *g;
    if (jang_gguf_open(path, &g) != JANG_OK) {
        fprintf(stderr, "quant_rmse: %s\n", jang_last_error());
        return 1;
    }
    int64_t max_cols = 0;
    for (int64_t i = 0; i < jang_gguf_n_tensors(g); i++) {
        const jang_gguf_tensor *t = jang_gguf_tensor_at(g, i);
        if (is_weight(t) && t->shape[1] > max_cols) max_cols = t->shape[1];
    }
    err_stats st;
    stats_init(&st, max_cols);
    double t0 = now();
    for (int64_t i = 0; i < jang_gguf_n_tensors(g); i++) {
        const jang_gguf_tensor *t = jang_gguf_tensor_at(g, i);
        if (!is_weight(t)) continue;
        float *w = malloc((size_t)t->n_elements * sizeof *w);
        if (!w || jang_gguf_dequantize(t, w) != JANG_OK) {
            fprintf(stderr, "quant_rmse: %s: %s\n", t->name, jang_last_error());
            return 1;
        }
        stats_add(&st, w, t->shape[0], t->shape[1], cfg);
        free(w);
    }
    stats_print(&st, base_name(path), now() - t0, cfg);
    jang_gguf_close(g);
    return 0;
}

static double rnd_unit(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return ((double)(*x >> 11) + 0.5) / 9007199254740992.0;
}
static double rnd_normal(uint64_t *x) {
    double u = rnd_unit(x), v = rnd_unit(x);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* "synthetic": a 2048 x 4096 matrix of Student-t (5 dof) values with log-normal row scales, a
 * stand-in for unquantized weights (the real models here are GGUF-quantized already, so their
 * values sit on 32-wide grids that favour some (bits, group) pairs). Fixed seed. */
static int run_synthetic(const config *cfg) {
    const int64_t rows = 2048, cols = 4096;
    float *w = malloc((size_t)(rows * cols) * sizeof *w);
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (int64_t r = 0; r < rows; r++) {
        double row_scale = 0.02 * exp(0.5 * rnd_normal(&x));
        for (int64_t c = 0; c < cols; c++) {
            double chi2 = 0;
            for (int k = 0; k < 5; k++) {
                double z = rnd_normal(&x);
                chi2 += z * z;
            }
            w[r * cols + c] = (float)(row_scale * rnd_normal(&x) / sqrt(chi2 / 5));
        }
    }
    err_stats st;
    stats_init(&st, cols);
    double t0 = now();
    stats_add(&st, w, rows, cols, cfg);
    stats_print(&st, "synthetic Student-t(5) 2048 x 4096", now() - t0, cfg);
    free(w);
    return 0;
}

static int run_speed(const char *path, const config *cfg) {
    jang_gguf *g;
    if (jang_gguf_open(path, &g) != JANG_OK) {
        fprintf(stderr, "quant_rmse: %s\n", jang_last_error());
        return 1;
    }
    const jang_gguf_tensor *best = NULL;
    for (int64_t i = 0; i < jang_gguf_n_tensors(g); i++) {
        const jang_gguf_tensor *t = jang_gguf_tensor_at(g, i);
        if (is_weight(t) && t->shape[1] % 128 == 0 && (!best || t->n_elements > best->n_elements))
            best = t;
    }
    if (!best) {
        fprintf(stderr, "quant_rmse: no 2-D tensor with cols %% 128 == 0\n");
        return 1;
    }
    float *w = malloc((size_t)best->n_elements * sizeof *w);
    if (!w || jang_gguf_dequantize(best, w) != JANG_OK) {
        fprintf(stderr, "quant_rmse: %s\n", jang_last_error());
        return 1;
    }
    int64_t cols = best->shape[1];
    int64_t rows =
        cfg->speed_rows > 0 && cfg->speed_rows < best->shape[0] ? cfg->speed_rows : best->shape[0];
    size_t n = (size_t)(rows * cols);
    uint32_t *pk = malloc(n * sizeof *pk);
    uint16_t *sc = malloc(n * 2), *bi = malloc(n * 2);
    char load[64] = "?";
    FILE *lf = fopen("/proc/loadavg", "r");
    if (lf) {
        if (!fgets(load, sizeof load, lf)) strcpy(load, "?");
        load[strcspn(load, "\n")] = 0;
        fclose(lf);
    }
    printf("\nload average at start: %s\n", load);
    printf("\n%s: %s, first %lld x %lld (%.1f MB of f32), scale dtype %s\n\n", base_name(path),
           best->name, (long long)rows, (long long)cols, (double)n * 4 / 1e6,
           jang_dtype_name(cfg->dt));
    printf(
        "| method | bits | group | threads | ms (best of %d) | source GB/s | Mweights/s | CPU/wall "
        "|\n",
        cfg->reps);
    printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int m = 0; m < 2; m++)
        for (int bi_ = 0; bi_ < cfg->n_bits; bi_++)
            for (int gi = 0; gi < cfg->n_groups; gi++)
                for (int th = 1; th <= cfg->threads;
                     th = th == cfg->threads ? th + 1 : cfg->threads) {
                    jang_affine_opts o;
                    jang_affine_opts_init(&o);
                    o.method = m ? JANG_AFFINE_MSE : JANG_AFFINE_RTN;
                    o.n_threads = th;
                    double best_t = 1e30, best_cpu = 0;
                    for (int rep = 0; rep < cfg->reps; rep++) {
                        double t0 = now(), c0 = cpu_now();
                        if (jang_affine_quantize(w, rows, cols, cfg->bits[bi_], cfg->groups[gi],
                                                 cfg->dt, &o, pk, sc, bi) != JANG_OK) {
                            fprintf(stderr, "quant_rmse: %s\n", jang_last_error());
                            return 1;
                        }
                        double dt = now() - t0;
                        if (dt < best_t) {
                            best_t = dt;
                            best_cpu = cpu_now() - c0;
                        }
                    }
                    printf("| %s | %d | %d | %d | %.1f | %.3f | %.1f | %.2f |\n",
                           jang_affine_method_name(o.method), cfg->bits[bi_], cfg->groups[gi], th,
                           best_t * 1e3, (double)n * 4 / best_t / 1e9, (double)n / best_t / 1e6,
                           best_cpu / best_t);
                    fflush(stdout);
                }
    free(w);
    free(pk);
    free(sc);
    free(bi);
    jang_gguf_close(g);
    return 0;
}

int main(int argc, char **argv) {
#define LIST_(v) v,
    config cfg = {.bits = {JANG_AFFINE_BITS_MAP(LIST_)},
                  .n_bits = JANG_AFFINE_N_BITS,
                  .groups = {JANG_AFFINE_GROUPS_MAP(LIST_)},
                  .n_groups = JANG_AFFINE_N_GROUPS,
                  .dt = JANG_DT_F16,
                  .threads = 2,
                  .speed_rows = 0,
                  .reps = 3};
#undef LIST_
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--speed")) {
            cfg.speed = true;
            continue;
        }
        i++;
        if (!strcmp(a, "--bits"))
            cfg.n_bits = parse_list(v, cfg.bits);
        else if (!strcmp(a, "--groups"))
            cfg.n_groups = parse_list(v, cfg.groups);
        else if (!strcmp(a, "--threads"))
            cfg.threads = atoi(v);
        else if (!strcmp(a, "--rows"))
            cfg.speed_rows = atoll(v);
        else if (!strcmp(a, "--reps"))
            cfg.reps = atoi(v);
        else if (!strcmp(a, "--dtype"))
            cfg.dt = !strcmp(v, "bf16") ? JANG_DT_BF16 : JANG_DT_F16;
        else {
            fprintf(stderr, "quant_rmse: unknown option %s\n", a);
            return 2;
        }
    }
    if (i >= argc || cfg.threads < 1 || cfg.reps < 1) {
        fprintf(stderr,
                "usage: quant_rmse [--speed] [--bits 2,3,4] [--groups 32,64,128] "
                "[--dtype f16|bf16] [--threads N] [--rows N] [--reps N] MODEL.gguf|synthetic...\n");
        return 2;
    }
    for (; i < argc; i++) {
        int rc = !strcmp(argv[i], "synthetic") ? run_synthetic(&cfg)
                 : cfg.speed                   ? run_speed(argv[i], &cfg)
                                               : run_error(argv[i], &cfg);
        if (rc) return rc;
    }
    return 0;
}
