/* cmd_inspect.c — `jang inspect PATH`: what a model file or directory holds.
 *
 * PATH: a GGUF file, a safetensors file, or a model directory (config.json + safetensors, single
 * or sharded). Prints the architecture (jang_model_desc), a tokenizer summary, a per-tensor table
 * (name, type, shape, bytes; for GGUF also the HF name) and totals (parameters, bytes, bits per
 * weight, per-type counts). A JANG v2 / MLX quantized directory is listed by module (bits, group,
 * tier, logical shape, bytes) with JANG bits and true bits per weight (DESIGN §2).
 * Tested by tests/test_cli.c and tests/test_jang_dir.c.
 */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    bool tensors; /* print the per-tensor table */
} inspect_opts;

/* Per-type tallies for the totals line. */
typedef struct {
    char name[16];
    int64_t count;
    int64_t params;
    uint64_t bytes;
} type_tally;

typedef struct {
    type_tally t[64];
    int n;
    int64_t params;
    uint64_t bytes;
} tallies;

static void tally_add(tallies *ts, const char *type, int64_t params, uint64_t bytes) {
    int i;
    for (i = 0; i < ts->n; i++)
        if (!strcmp(ts->t[i].name, type)) break;
    if (i == ts->n && ts->n < (int)(sizeof ts->t / sizeof ts->t[0])) {
        snprintf(ts->t[i].name, sizeof ts->t[i].name, "%s", type);
        ts->n++;
    }
    if (i < ts->n) {
        ts->t[i].count++;
        ts->t[i].params += params;
        ts->t[i].bytes += bytes;
    }
    ts->params += params;
    ts->bytes += bytes;
}

static void human_count(char *buf, size_t cap, double x) {
    if (x >= 1e9)
        snprintf(buf, cap, "%.2fB", x / 1e9);
    else if (x >= 1e6)
        snprintf(buf, cap, "%.2fM", x / 1e6);
    else if (x >= 1e3)
        snprintf(buf, cap, "%.1fK", x / 1e3);
    else
        snprintf(buf, cap, "%.0f", x);
}

/* Decimal units, as every jang command and doc prints sizes: 1 kB = 1000 B, 1 MB = 10^6 B. */
static void human_bytes(char *buf, size_t cap, double x) {
    if (x >= 1e9)
        snprintf(buf, cap, "%.2f GB", x / 1e9);
    else if (x >= 1e6)
        snprintf(buf, cap, "%.2f MB", x / 1e6);
    else if (x >= 1e3)
        snprintf(buf, cap, "%.1f kB", x / 1e3);
    else
        snprintf(buf, cap, "%.0f B", x);
}

static void shape_str(char *buf, size_t cap, const int64_t *shape, int n) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

static void print_desc(const jang_model_desc *d) {
    if (d->model_name[0]) printf("model:         %s\n", d->model_name);
    printf("architecture:  %s (%s)\n", jang_arch_name(d->arch), d->arch_name);
    if (d->arch == JANG_ARCH_MAMBA) {
        printf("dimensions:    layers %lld, dim %lld, d_inner %lld, d_state %lld, d_conv %lld, "
               "dt_rank %lld, vocab %lld\n",
               (long long)d->n_layers, (long long)d->dim, (long long)d->ssm_d_inner,
               (long long)d->ssm_d_state, (long long)d->ssm_d_conv, (long long)d->ssm_dt_rank,
               (long long)d->vocab_size);
    } else {
        printf("dimensions:    layers %lld, dim %lld, ffn %lld, heads %lld, kv heads %lld, "
               "head dim %lld, vocab %lld, context %lld\n",
               (long long)d->n_layers, (long long)d->dim, (long long)d->ffn_dim,
               (long long)d->n_heads, (long long)d->n_kv_heads, (long long)d->head_dim,
               (long long)d->vocab_size, (long long)d->max_seq_len);
        char num[32];
        printf("rope:          theta %s, dim %lld, scaling %s",
               cli_num_text(d->rope_theta, num, sizeof num), (long long)d->rope_dim,
               jang_rope_scaling_name(d->rope_scaling));
        if (d->rope_scaling != JANG_ROPE_SCALING_NONE)
            printf(" (factor %s, original context %lld)",
                   cli_num_text(d->rope_factor, num, sizeof num), (long long)d->rope_orig_ctx);
        printf("\n");
        printf("attention:     %s%s%s\n", d->attn_bias ? "q/k/v bias, " : "",
               d->qk_norm ? "q/k norm, " : "", d->sliding_window ? "sliding window" : "full");
    }
    if (d->n_experts)
        printf("experts:       %lld (%lld per token), expert ffn %lld, shared ffn %lld\n",
               (long long)d->n_experts, (long long)d->n_experts_used, (long long)d->moe_ffn_dim,
               (long long)d->shared_expert_ffn_dim);
    printf("norm eps:      %g\n", d->norm_eps);
    printf("embeddings:    %s\n",
           d->tied_embeddings ? "tied (no separate output matrix)" : "separate output matrix");
}

static void print_totals(const tallies *ts) {
    char p[32], b[32];
    human_count(p, sizeof p, (double)ts->params);
    human_bytes(b, sizeof b, (double)ts->bytes);
    printf("totals:        %lld parameters (%s), %llu bytes (%s), %.3f bits per weight\n",
           (long long)ts->params, p, (unsigned long long)ts->bytes, b,
           ts->params ? (double)ts->bytes * 8.0 / (double)ts->params : 0.0);
    for (int i = 0; i < ts->n; i++) {
        human_count(p, sizeof p, (double)ts->t[i].params);
        human_bytes(b, sizeof b, (double)ts->t[i].bytes);
        printf("  %-8s %5lld tensors  %10s params  %12s  %6.3f bpw\n", ts->t[i].name,
               (long long)ts->t[i].count, p, b,
               ts->t[i].params ? (double)ts->t[i].bytes * 8.0 / (double)ts->t[i].params : 0.0);
    }
}

/* ---- GGUF ------------------------------------------------------------------------------- */

static void print_gguf_tokenizer(const jang_gguf *g) {
    const char *model = jang_gguf_get_str(g, "tokenizer.ggml.model");
    if (!model) {
        printf("tokenizer:     none in file\n");
        return;
    }
    const char *pre = jang_gguf_get_str(g, "tokenizer.ggml.pre");
    const jang_gguf_value *toks = jang_gguf_find(g, "tokenizer.ggml.tokens");
    const jang_gguf_value *merges = jang_gguf_find(g, "tokenizer.ggml.merges");
    int64_t bos = -1, eos = -1;
    jang_gguf_get_i64(g, "tokenizer.ggml.bos_token_id", &bos);
    jang_gguf_get_i64(g, "tokenizer.ggml.eos_token_id", &eos);
    printf("tokenizer:     %s", model);
    if (pre) printf(" (pre-tokenizer %s)", pre);
    if (toks && toks->type == JANG_GGUF_ARRAY)
        printf(", %llu tokens", (unsigned long long)toks->v.arr.n);
    if (merges && merges->type == JANG_GGUF_ARRAY)
        printf(", %llu merges", (unsigned long long)merges->v.arr.n);
    if (bos >= 0) printf(", bos %lld", (long long)bos);
    if (eos >= 0) printf(", eos %lld", (long long)eos);
    printf(", chat template %s\n", jang_gguf_find(g, "tokenizer.chat_template") ? "yes" : "no");
}

static int inspect_gguf(const char *path, const inspect_opts *o) {
    jang_gguf *g = NULL;
    jang_status s = jang_gguf_open(path, &g);
    if (s) return cli_error("inspect", s);
    struct stat st;
    char sz[32] = "?";
    if (stat(path, &st) == 0) human_bytes(sz, sizeof sz, (double)st.st_size);
    printf("file:          %s (GGUF v%u, %s, %lld tensors, %lld metadata keys)\n", path,
           jang_gguf_version(g), sz, (long long)jang_gguf_n_tensors(g),
           (long long)jang_gguf_n_kv(g));
    jang_model_desc d;
    jang_arch arch = JANG_ARCH_UNKNOWN;
    s = jang_desc_from_gguf(g, &d);
    if (s == JANG_OK) {
        print_desc(&d);
        arch = d.arch;
    } else {
        printf("architecture:  not understood: %s\n", jang_last_error());
    }
    print_gguf_tokenizer(g);
    tallies ts = {0};
    if (o->tensors)
        printf("\n%-36s %-8s %-18s %12s  %s\n", "tensor (GGUF)", "type", "shape", "bytes",
               "HF/MLX name");
    for (int64_t i = 0; i < jang_gguf_n_tensors(g); i++) {
        const jang_gguf_tensor *t = jang_gguf_tensor_at(g, i);
        const char *tn = jang_ggml_type_name(t->type);
        char unk[32];
        if (!tn) snprintf(unk, sizeof unk, "type%u?", t->type), tn = unk;
        tally_add(&ts, tn, t->n_elements, t->n_bytes);
        if (!o->tensors) continue;
        char shp[96], hf[256];
        shape_str(shp, sizeof shp, t->shape, t->n_dims);
        jang_gguf_fix fix = JANG_GGUF_FIX_NONE;
        if (jang_gguf_map_name(arch, t->name, hf, sizeof hf, &fix) != JANG_OK)
            snprintf(hf, sizeof hf, "-");
        printf("%-36s %-8s %-18s %12zu  %s%s%s\n", t->name, tn, shp, t->n_bytes, hf,
               fix ? "  * " : "", fix ? jang_gguf_fix_name(fix) : "");
    }
    printf("\n");
    print_totals(&ts);
    jang_gguf_close(g);
    return 0;
}

/* ---- safetensors ------------------------------------------------------------------------ */

static void print_hf_tokenizer(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    json_error_t err;
    json_t *tj = json_load_file(path, 0, &err);
    if (!tj) {
        printf("tokenizer:     %s\n", err.line >= 0 && err.position > 0
                                          ? "tokenizer.json is not valid JSON"
                                          : "no tokenizer.json");
        return;
    }
    json_t *model = json_object_get(tj, "model");
    const char *type = json_string_value(json_object_get(model, "type"));
    json_t *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges");
    json_t *added = json_object_get(tj, "added_tokens");
    printf("tokenizer:     %s", type ? type : "?");
    if (json_is_object(vocab)) printf(", %zu tokens", json_object_size(vocab));
    if (json_is_array(vocab)) printf(", %zu tokens", json_array_size(vocab));
    if (json_is_array(merges)) printf(", %zu merges", json_array_size(merges));
    if (json_is_array(added)) printf(", %zu added tokens", json_array_size(added));
    json_decref(tj);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_t *tc = json_load_file(path, 0, &err);
    printf(", chat template %s\n", json_object_get(tc, "chat_template") ? "yes" : "no");
    json_decref(tc);
}

static bool has_scales(const jang_st *st) {
    for (int64_t i = 0; i < jang_st_count(st); i++) {
        const char *n = jang_st_get(st, i)->name;
        size_t len = strlen(n);
        if (len > 7 && !strcmp(n + len - 7, ".scales")) return true;
    }
    return false;
}

/* ---- JANG v2 / MLX quantized directories ------------------------------------------------ */

/* "bits:          4 (95% of quantized weights), 6 (5%)": the widths the modules really use, by
 * share of quantized (unpacked) parameters, largest first. The config's top-level default can be
 * a width few modules use (a mixed model lists most modules one by one). */
static void print_bits_share(const jang_qmodel *m) {
    int64_t per[65] = {0}, total = 0;
    for (int64_t i = 0; i < jang_qmodel_count(m); i++) {
        const jang_qtensor *e = jang_qmodel_get(m, i);
        if (!e->quantized || e->bits < 0 || e->bits > 64) continue;
        per[e->bits] += e->n_params;
        total += e->n_params;
    }
    if (total == 0) return;
    printf("bits:         ");
    for (bool first = true;; first = false) {
        int b = -1;
        for (int k = 0; k <= 64; k++)
            if (per[k] > 0 && (b < 0 || per[k] > per[b])) b = k;
        if (b < 0) break;
        double pct = 100.0 * (double)per[b] / (double)total;
        char p[16] = "<1%";
        if (pct >= 1) snprintf(p, sizeof p, "%.0f%%", pct);
        printf("%s %d (%s%s)", first ? "" : ",", b, p, first ? " of quantized weights" : "");
        per[b] = 0;
    }
    printf("\n");
}

static void print_quantized(const jang_qmodel *m, const inspect_opts *o) {
    const jang_qmodel_info *in = jang_qmodel_get_info(m);
    if (in->is_jang)
        printf("format:        JANG v%s (jang_config.json%s%s%s%s)\n",
               in->format_version[0] ? in->format_version : "?", in->profile[0] ? ", profile " : "",
               in->profile, in->method[0] ? ", method " : "", in->method);
    else
        printf("format:        MLX quantized (config.json quantization, no jang_config.json)\n");
    printf("quantization:  %lld quantized modules, %lld plain tensors; default %d bits, group %d; "
           "%lld config.json entries, %lld manifest entries\n",
           (long long)in->n_quantized, (long long)in->n_plain, in->default_bits, in->default_group,
           (long long)in->n_config_entries, (long long)in->n_manifest_entries);
    print_bits_share(m);
    if (o->tensors)
        printf("\n%-56s %-6s %4s %5s %-4s %-20s %12s\n", "tensor (module)", "type", "bits", "group",
               "tier", "shape (logical)", "bytes");
    tallies ts = {0};
    for (int64_t i = 0; i < jang_qmodel_count(m); i++) {
        const jang_qtensor *e = jang_qmodel_get(m, i);
        char type[16];
        if (e->quantized)
            snprintf(type, sizeof type, "q%d", e->bits);
        else
            snprintf(type, sizeof type, "%s", jang_dtype_name(e->tensor->dtype));
        tally_add(&ts, type, e->n_params, e->n_bytes);
        if (!o->tensors) continue;
        char shp[128], bits[8] = "-", group[8] = "-";
        shape_str(shp, sizeof shp, e->shape, e->n_dims);
        if (e->quantized) {
            snprintf(bits, sizeof bits, "%d", e->bits);
            snprintf(group, sizeof group, "%d", e->group);
        }
        /* tier: the allocator's class; "-" until it is recorded in the directory */
        printf("%-56s %-6s %4s %5s %-4s %-20s %12zu\n", e->name, type, bits, group, "-", shp,
               e->n_bytes);
    }
    printf("\n");
    print_totals(&ts);
    printf("               (quantized parameters counted unpacked: out x in per module)\n");
    jang_qmodel_stats st;
    jang_qmodel_get_stats(m, &st);
    printf("JANG bits:     %.3f (block-weighted mean code width over quantized modules, "
           "blocks of %d",
           st.jang_bits, in->block_size);
    if (in->is_jang && in->actual_bits == in->actual_bits)
        printf("; jang_config.json actual_bits %.2f", in->actual_bits);
    printf(")\n");
    printf("true bpw:      %.3f (all %llu tensor bytes x 8 / %lld parameters; quantized modules "
           "alone %.3f)\n",
           st.true_bpw, (unsigned long long)st.bytes, (long long)st.n_params,
           st.n_quant_params ? (double)st.quant_bytes * 8.0 / (double)st.n_quant_params : 0.0);
    int64_t blocks = 0;
    for (int b = 0; b <= 8; b++)
        blocks += st.blocks_per_bits[b];
    printf("bit widths:   ");
    for (int b = 0; b <= 8; b++)
        if (st.blocks_per_bits[b])
            printf(" %d-bit %.1f%%", b, 100.0 * (double)st.blocks_per_bits[b] / (double)blocks);
    printf(" of blocks\n");
}

static int inspect_safetensors(const char *path, const inspect_opts *o) {
    jang_st *st = NULL;
    jang_status s = jang_st_open(path, &st);
    if (s) return cli_error("inspect", s);
    printf("file:          %s (safetensors, %d file%s, %lld tensors", path, jang_st_n_files(st),
           jang_st_n_files(st) == 1 ? "" : "s", (long long)jang_st_count(st));
    const char *fmt = jang_st_metadata(st, "format");
    if (fmt) printf(", format \"%s\"", fmt);
    printf(")\n");
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        char cfg[4096];
        snprintf(cfg, sizeof cfg, "%s/config.json", path);
        jang_model_desc d;
        if (stat(cfg, &sb) != 0)
            printf("architecture:  no config.json\n");
        else if (jang_desc_from_hf_config(path, &d) == JANG_OK)
            print_desc(&d);
        else
            printf("architecture:  not understood: %s\n", jang_last_error());
        print_hf_tokenizer(path);
        jang_qmodel *qm = NULL;
        if (jang_qmodel_open(path, &qm) == JANG_OK && jang_qmodel_get_info(qm)->n_quantized > 0) {
            print_quantized(qm, o);
            jang_qmodel_close(qm);
            jang_st_close(st);
            return 0;
        }
        if (!qm && has_scales(st)) printf("quantization:  not understood: %s\n", jang_last_error());
        jang_qmodel_close(qm);
    }
    tallies ts = {0};
    if (o->tensors) printf("\n%-56s %-5s %-20s %12s\n", "tensor", "type", "shape", "bytes");
    for (int64_t i = 0; i < jang_st_count(st); i++) {
        const jang_tensor *t = jang_st_get(st, i);
        tally_add(&ts, jang_dtype_name(t->dtype), t->n_elements, t->n_bytes);
        if (!o->tensors) continue;
        char shp[128];
        shape_str(shp, sizeof shp, t->shape, t->n_dims);
        printf("%-56s %-5s %-20s %12zu\n", t->name, jang_dtype_name(t->dtype), shp, t->n_bytes);
    }
    printf("\n");
    print_totals(&ts);
    printf("               (parameters count stored elements; packed quantized tensors are "
           "counted as stored)\n");
    jang_st_close(st);
    return 0;
}

static bool is_gguf(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char m[4] = {0};
    size_t n = fread(m, 1, 4, f);
    fclose(f);
    return n == 4 && !memcmp(m, "GGUF", 4);
}

typedef struct {
    const char *path;
    inspect_opts o;
} inspect_args;

#define F(field) CLI_FIELD(inspect_args, field)
static const cli_opt inspect_rows[] = {
    {"PATH", 0, CLI_POS, F(path), .required = true,
     .help = "a GGUF file, a safetensors file, or a model directory"},
    {"summary", 's', CLI_FLAG_OFF, F(o.tensors), .help = "omit the per-tensor table"},
};
#undef F

static const cli_cmd inspect_cmd = {"inspect", "PATH [--summary]", inspect_rows,
                                    CLI_COUNT(inspect_rows), NULL};

int cmd_inspect(int argc, char **argv) {
    inspect_args a = {.o = {.tensors = true}};
    int rc = cli_parse(&inspect_cmd, &a, argc, argv);
    if (rc) return rc < 0 ? 0 : rc;
    const char *path = a.path;
    const inspect_opts o = a.o;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "jang inspect: %s: no such file or directory\n", path);
        return 1;
    }
    if (S_ISREG(sb.st_mode) && is_gguf(path)) return inspect_gguf(path, &o);
    return inspect_safetensors(path, &o);
}
