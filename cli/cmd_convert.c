/* cmd_convert.c — `jang convert SRC -o OUT [allocation] [options]`: a Hugging Face safetensors
 * directory or a GGUF file to a JANG v2 directory (the library's jang_converter_*).
 *
 * Parses the arguments strictly (exit 2 with a message on bad usage), opens the source and plans
 * every tensor, then either prints the allocation table (--dry-run) or streams the conversion
 * with a progress bar on a terminal (plain progress lines otherwise), and ends with a summary:
 * recipe, JANG bits, true bpw, size, time and throughput. SIGINT / SIGTERM stop it cleanly: the
 * library removes its temporary directory and no output is left (exit 130 / 143); a second
 * signal kills at once. Exit 1 on failures. Tested by tests/test_convert.c.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TARGET_BPW 4.5

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
    if (!g_stop) {
        g_stop = sig;
        static const char msg[] = "\njang convert: interrupted; cleaning up (again to kill now)\n";
        ssize_t r = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)r;
    }
    signal(sig, SIG_DFL); /* a second signal kills */
}

typedef struct {
    const char *src, *out, *profile, *recipe;
    const char *shard_s; /* --shard-size as given; shard: its bytes */
    int bits, group, block, threads, sample_rows;
    int method; /* a jang_affine_method: the index of --method's choice */
    double target;
    bool dry_run, force;
    uint64_t shard;
} convert_args;

/* DEFAULT_TARGET_BPW as text, for the usage */
#define STR_(x) #x
#define STR(x) STR_(x)
/* --method's choices from the library's list, in enum order: a choice's index is its value */
static const char *const method_names[] = {
#define JANG_X_(e, name) name,
    JANG_AFFINE_METHOD_MAP(JANG_X_)
#undef JANG_X_
        NULL};

#define F(field) CLI_FIELD(convert_args, field)
static const cli_opt convert_rows[] = {
    {"SRC", 0, CLI_POS, F(src), .required = true,
     .help = "a Hugging Face model directory (F32/F16/BF16 safetensors, sharded\n"
             "or not, with config.json; tokenizer files are copied) or a GGUF\n"
             "file (dequantized; config.json and tokenizer.json are written)"},
    {"output", 'o', CLI_STR, F(out), .meta = "OUT",
     .help = "the JANG v2 directory to write (must not exist, see --force)"},
    {.kind = CLI_HEADING,
     .help = "allocation (at most one; default --target-bpw " STR(DEFAULT_TARGET_BPW) "):"},
    {"profile", 'p', CLI_STR, F(profile), .meta = "P",
     .help = "a JANG profile as jang 2.5 allocates it: JANG_1L 2S 2M 2L 3S 3M\n"
             "3L 4S 4M 4L 6M, the budget profiles JANG_2K..JANG_6K, or jang's\n"
             "numbers 1..8"},
    {"block-size", 'b', CLI_INT, F(block), .lo = 32, .hi = 128, .meta = "N",
     .help = "with -p: jang's block size (32, 64, 128; default auto)"},
    {"bits", 0, CLI_INT, F(bits), .lo = 2, .hi = 8, .meta = "B",
     .help = "uniform B-bit (2 3 4 5 6 8), as mlx-lm's -q --q-bits"},
    {"group-size", 0, CLI_INT, F(group), .lo = 32, .hi = 128, .meta = "G",
     .help = "with --bits or --recipe: group size 32, 64, 128 (default 64)"},
    {"recipe", 0, CLI_STR, F(recipe), .meta = "R",
     .help = "mlx-lm's mixed_2_6, mixed_3_4, mixed_3_6 or mixed_4_6"},
    {"target-bpw", 0, CLI_NUM, F(target), .lo = 0.5, .hi = 32, .meta = "X",
     .help = "our allocator: the TRUE bits per weight of the file (codes +\n"
             "scales + biases + unquantized tensors) at most X, within 1%;\n"
             "bits and group per tensor from its measured quantization error\n"
             "(see docs/QUALITY.md)"},
    {.kind = CLI_HEADING, .help = "options:"},
    {"method", 0, CLI_CHOICE, F(method), .meta = "M", .choices = method_names,
     .help = "rtn (bit-exact with MLX's mx.quantize) or mse (default: an\n"
             "error-minimising range search, same format)"},
    {"dry-run", 0, CLI_FLAG, F(dry_run),
     .help = "print the allocation table and the size; write nothing"},
    {"force", 0, CLI_FLAG, F(force), .help = "replace an existing output directory"},
    {"threads", 't', CLI_INT, F(threads), .lo = 1, .hi = 1024, .meta = "N",
     .help = "worker threads (default: all CPUs)"},
    {"shard-size", 0, CLI_STR, F(shard_s), .meta = "BYTES",
     .help =
         "largest tensor bytes per shard, suffix K/M/G allowed (binary:\n1K = 1024; default 5G)"},
    {"sample-rows", 0, CLI_INT, F(sample_rows), .lo = 1, .hi = 1 << 30, .meta = "N",
     .help = "--target-bpw: rows measured per tensor (default 128)"},
};
#undef F

static const cli_cmd convert_cmd = {
    "convert", "SRC -o OUT [allocation] [options]", convert_rows, CLI_COUNT(convert_rows),
    "Why the default: --target-bpw " STR(
        DEFAULT_TARGET_BPW) " gives the size of a 4-bit model "
                            "with group-64 scales\n(mlx 4-bit g64 and JANG_4K land near 4.5 true "
                            "bpw) and spends those "
                            "bits where measured\nerrors say they help most, with the MSE "
                            "quantizer; -p JANG_4K "
                            "reproduces jang instead.\n"};

static bool parse_bytes(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    uint64_t mul = 1;
    if (end == s || errno || s[0] == '-') return false;
    if (*end == 'K' || *end == 'k')
        mul = 1024, end++;
    else if (*end == 'M' || *end == 'm')
        mul = 1024 * 1024, end++;
    else if (*end == 'G' || *end == 'g')
        mul = 1024ull * 1024 * 1024, end++;
    if (*end == 'B' || *end == 'b') end++;
    if (*end || v == 0 || v > UINT64_MAX / mul) return false;
    *out = v * mul;
    return true;
}

static int parse_args(int argc, char **argv, convert_args *a) {
    memset(a, 0, sizeof *a);
    a->method = JANG_AFFINE_MSE;
    int rc = cli_parse(&convert_cmd, a, argc, argv);
    if (rc) return rc;
    /* values the table's ranges cannot say */
    if (a->block && !jang_affine_group_valid(a->block)) {
        fprintf(stderr, "jang convert: -b/--block-size must be 32, 64 or 128, got '%d'\n",
                a->block);
        return 2;
    }
    if (a->bits && !jang_affine_bits_valid(a->bits)) {
        fprintf(stderr, "jang convert: --bits must be 2, 3, 4, 5, 6 or 8, got '%d'\n", a->bits);
        return 2;
    }
    if (a->group && !jang_affine_group_valid(a->group)) {
        fprintf(stderr, "jang convert: --group-size must be 32, 64 or 128, got '%d'\n", a->group);
        return 2;
    }
    if (a->shard_s && !parse_bytes(a->shard_s, &a->shard)) {
        fprintf(stderr,
                "jang convert: --shard-size expects a positive byte count (K/M/G "
                "suffixes allowed), got '%s'\n",
                a->shard_s);
        return 2;
    }
    int n_alloc = !!a->profile + !!a->bits + !!a->recipe + (a->target > 0);
    if (!a->out && !a->dry_run) {
        fprintf(stderr, "jang convert: -o OUT is required (or --dry-run)\n");
        return 2;
    }
    if (n_alloc > 1) {
        fprintf(stderr, "jang convert: give at most one of -p, --bits, --recipe, --target-bpw\n");
        return 2;
    }
    if (a->group && !a->bits && !a->recipe) {
        fprintf(stderr, "jang convert: --group-size goes with --bits or --recipe (JANG profiles "
                        "take -b)\n");
        return 2;
    }
    if (a->block && !a->profile) {
        fprintf(stderr, "jang convert: -b/--block-size goes with -p\n");
        return 2;
    }
    if (n_alloc == 0) a->target = DEFAULT_TARGET_BPW;
    return 0;
}

/* ---- progress ------------------------------------------------------------------------------ */

typedef struct progress_state {
    bool tty;
    double t0, last, phase_t0;
    int last_pct;
    jang_convert_phase phase;
    bool started, line_open;
} progress_state;

static void fmt_eta(char *buf, size_t cap, double s) {
    if (!(s >= 0) || s > 359999) {
        snprintf(buf, cap, "--:--");
        return;
    }
    int t = (int)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, cap, "%d:%02d", t / 60, t % 60);
}

static void on_progress(void *ctx, const jang_convert_progress *p) {
    progress_state *ps = ctx;
    double t = cli_now_s();
    if (!ps->started || p->phase != ps->phase) {
        if (ps->line_open) fputc('\n', stderr);
        ps->line_open = false;
        ps->started = true;
        ps->phase = p->phase;
        ps->phase_t0 = t;
        ps->last = t;
        ps->last_pct = 0;
    }
    bool measuring = p->phase == JANG_CONVERT_MEASURE;
    double frac = measuring ? (p->total ? (double)p->done / (double)p->total : 1)
                            : (p->bytes_total ? (double)p->bytes_done / (double)p->bytes_total : 1);
    bool end = measuring ? p->done == p->total : p->done == p->total && !p->tensor;
    double el = t - ps->phase_t0;
    char eta[32];
    fmt_eta(eta, sizeof eta, frac > 0.001 ? el * (1 - frac) / frac : -1);
    if (ps->tty) {
        if (!end && t - ps->last < 0.1) return;
        ps->last = t;
        char bar[31];
        int fill = (int)(frac * 30 + 0.5);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        if (measuring)
            fprintf(stderr, "\r  measuring errors [%s] %lld/%lld tensors  ETA %s  ", bar,
                    (long long)p->done, (long long)p->total, eta);
        else
            fprintf(stderr, "\r  writing [%s] %lld/%lld tensors  %.1f/%.1f MB  ETA %s  ", bar,
                    (long long)p->done, (long long)p->total, (double)p->bytes_done / 1e6,
                    (double)p->bytes_total / 1e6, eta);
        ps->line_open = true;
        if (end) {
            fputc('\n', stderr);
            ps->line_open = false;
        }
        fflush(stderr);
        return;
    }
    /* plain lines: at most one per 10% and per 2 seconds, and the last one */
    int pct = (int)(frac * 100);
    if (!end && (pct < ps->last_pct + 10 || t - ps->last < 2)) return;
    if (end && ps->last_pct == 100) return;
    ps->last = t;
    ps->last_pct = end ? 100 : pct - pct % 10;
    if (measuring)
        fprintf(stderr, "jang convert: measuring errors %3d%% (%lld/%lld tensors, %.1f s)\n",
                end ? 100 : pct, (long long)p->done, (long long)p->total, el);
    else
        fprintf(stderr, "jang convert: writing %3d%% (%lld/%lld tensors, %.1f/%.1f MB, %.1f s)\n",
                end ? 100 : pct, (long long)p->done, (long long)p->total,
                (double)p->bytes_done / 1e6, (double)p->bytes_total / 1e6, el);
}

/* ---- output -------------------------------------------------------------------------------- */

static void shape_str(char *buf, size_t cap, const int64_t *shape, int n) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

static void print_table(const jang_converter *c) {
    printf("%-52s %-14s %-9s %-6s %4s %5s %12s %9s\n", "tensor", "shape", "tier", "action", "bits",
           "group", "bytes", "rel.err");
    for (int64_t i = 0; i < jang_converter_count(c); i++) {
        const jang_convert_tensor *t = jang_converter_get(c, i);
        char shape[64], bits[8] = "-", group[8] = "-", err[16] = "-";
        shape_str(shape, sizeof shape, t->shape, t->n_dims);
        const char *action = jang_alloc_action_name(t->action);
        if (t->action == JANG_ALLOC_QUANT) {
            snprintf(bits, sizeof bits, "%d", t->bits);
            snprintf(group, sizeof group, "%d", t->group);
            if (!isnan(t->rel_err)) snprintf(err, sizeof err, "%.2e", t->rel_err);
        } else if (t->action == JANG_ALLOC_KEEP) {
            snprintf(bits, sizeof bits, "%s", jang_dtype_name(t->dtype));
        }
        printf("%-52s %-14s %-9s %-6s %4s %5s %12llu %9s\n", t->name, shape,
               jang_tier_name(t->tier), action, bits, group, (unsigned long long)t->bytes, err);
    }
}

static void print_summary(const jang_convert_summary *s, const char *src, const char *out,
                          double t_plan, double t_write, bool dry) {
    printf("%s %s\n", dry ? "plan (dry run, nothing written):" : "converted", out ? out : "");
    printf("  source      %s (%s, %.1f MB of tensors)\n", src, s->source_kind,
           (double)s->src_bytes / 1e6);
    printf("  allocation  %s, method %s\n", s->label, jang_affine_method_name(s->method));
    printf("  tensors     %lld quantized, %lld kept in float, %lld dropped\n",
           (long long)s->n_quantized, (long long)s->n_kept, (long long)s->n_dropped);
    printf("  size        %.2f MB for %.1fM parameters: %.4f true bpw, %.3f JANG bits (block %d)",
           (double)s->bytes / 1e6, (double)s->n_params / 1e6, s->true_bpw, s->jang_bits,
           s->block_size);
    if (s->target_bpw > 0) printf(", target %.4g bpw", s->target_bpw);
    printf("\n");
    double total = t_plan + t_write;
    if (dry)
        printf("  time        %.2f s to plan\n", t_plan);
    else
        printf("  time        %.2f s (plan %.2f s, write %.2f s), %.1f MB/s of source, %.1fM "
               "params/s\n",
               total, t_plan, t_write, total > 0 ? (double)s->src_bytes / 1e6 / total : 0,
               total > 0 ? (double)s->n_params / 1e6 / total : 0);
}

int cmd_convert(int argc, char **argv) {
    convert_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    jang_convert_opts o;
    jang_convert_opts_init(&o);
    o.method = a.method;
    o.n_threads = a.threads;
    o.force = a.force;
    o.sample_rows = a.sample_rows;
    if (a.shard) o.max_shard_bytes = a.shard;
    if (a.profile) {
        const jang_profile *p;
        if (jang_profile_parse(a.profile, &p) != JANG_OK) {
            fprintf(stderr,
                    "jang convert: unknown profile '%s' (JANG_1L .. JANG_6M, JANG_2K .. "
                    "JANG_6K, or 1..8)\n",
                    a.profile);
            return 2;
        }
        o.alloc.recipe = JANG_RECIPE_JANG;
        o.alloc.profile = p;
        o.alloc.block_size = a.block;
    } else if (a.bits) {
        o.alloc.recipe = JANG_RECIPE_UNIFORM;
        o.alloc.bits = a.bits;
        o.alloc.group = a.group;
    } else if (a.recipe) {
        jang_recipe r;
        if (!jang_recipe_parse(a.recipe, &r) || r == JANG_RECIPE_JANG || r == JANG_RECIPE_UNIFORM ||
            r == JANG_RECIPE_TARGET_BPW) {
            fprintf(stderr,
                    "jang convert: unknown recipe '%s' (mixed_2_6, mixed_3_4, mixed_3_6, "
                    "mixed_4_6)\n",
                    a.recipe);
            return 2;
        }
        o.alloc.recipe = r;
        o.alloc.group = a.group;
    } else {
        o.target_bpw = a.target;
    }
    progress_state ps = {.tty = isatty(STDERR_FILENO) == 1};
    o.progress = on_progress;
    o.progress_ctx = &ps;
    o.cancel = &g_stop;

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    double t0 = cli_now_s();
    jang_converter *c = NULL;
    jang_status s = JANG_OK;
    if (!a.dry_run) s = jang_convert_check_output(a.src, a.out, a.force); /* before any work */
    if (s == JANG_OK) s = jang_converter_open(a.src, &o, &c);
    double t_plan = cli_now_s() - t0;
    if (s == JANG_OK) {
        jang_convert_summary sum;
        jang_converter_summary(c, &sum);
        for (int i = 0; i < sum.n_notes; i++)
            fprintf(stderr, "jang convert: note: %s\n", sum.notes[i]);
        if (a.dry_run) {
            print_table(c);
            print_summary(&sum, a.src, a.out, t_plan, 0, true);
            rc = 0;
        } else {
            double t1 = cli_now_s();
            s = jang_converter_write(c, a.out);
            if (s == JANG_OK) {
                print_summary(&sum, a.src, a.out, t_plan, cli_now_s() - t1, false);
                rc = 0;
            }
        }
    }
    if (s != JANG_OK) {
        if (ps.line_open) fputc('\n', stderr);
        rc = s == JANG_E_CANCELED ? 128 + (int)g_stop : cli_error("convert", s);
        if (s == JANG_E_CANCELED)
            fprintf(stderr, "jang convert: interrupted; nothing was written\n");
    }
    jang_converter_close(c);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}
