/* quantize_gguf_demo.c — DEMO / PRECURSOR of `jang convert` (issue 4): GGUF -> JANG v2 directory.
 *
 * Not the converter: no allocation profiles, no tiers, fixed demo bit widths. It exists to produce
 * a real mixed-precision JANG v2 directory from the SmolLM2 GGUF for the compatibility checks
 * (tools/check_mlx_load.py), exercising every code width. It reads the GGUF with our reader,
 * maps names to HF/MLX and undoes llama.cpp's fix-ups (Q/K row permutation ...), dequantizes to
 * f32, quantizes every 2-D ".weight" matrix whose in_features allow it with the affine quantizer
 * (RTN, MLX-exact; F16 scales as jang does), keeps the rest as F16, and writes everything with
 * jang_dir_writer: shards + index + config.json (an HF LlamaConfig/Qwen2Config built from the
 * GGUF metadata, plus the quantization blocks) + jang_config.json + tokenizer files copied from
 * --tokenizer-dir (e.g. transformers' AutoTokenizer(gguf_file=...).save_pretrained output).
 *
 * Demo widths (--scheme mixed, the default): attention q/k/v/o 8/6/5/8 bits; MLP gate/up/down
 * cycle through 2, 3, 4, 5, 6 bits by layer; embeddings 6 bits; group 64, or 128 for down_proj
 * when in_features allows it, 32 for v_proj. --scheme uniformB: B bits g64 everywhere.
 *
 * Usage: build/tools/quantize-gguf-demo MODEL.gguf OUT_DIR [--tokenizer-dir DIR] [--force]
 *          [--scheme mixed|uniformB] [--max-shard-bytes N] [--method rtn|mse] [--mlx]
 * Build: make build/tools/quantize-gguf-demo. Not part of make test.
 */
#include "jang.h"
#include "util.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    const char *gguf, *out, *tok_dir;
    bool force, mlx;
    int uniform; /* 0: mixed; else every module at this width */
    uint64_t max_shard;
    jang_affine_method method;
} opts;

typedef struct {
    const jang_gguf_tensor *t;
    char name[256]; /* HF/MLX tensor name */
    jang_gguf_fix fix;
    int bits, group; /* bits 0: kept as F16 */
} plan_item;

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int layer_of(const char *name) {
    const char *p = strstr(name, "layers.");
    return p ? atoi(p + 7) : -1;
}

/* The demo's choice of (bits, group) for a 2-D weight, or bits 0 to keep it unquantized. */
static void choose(const opts *o, const char *name, int64_t in, int *bits, int *group) {
    *bits = 0;
    *group = 64;
    if (!ends_with(name, ".weight") || strstr(name, "norm")) return;
    int b = o->uniform ? o->uniform : 4, g = 64;
    if (!o->uniform) {
        int layer = layer_of(name);
        static const int cycle[5] = {2, 3, 4, 5, 6};
        if (strstr(name, "q_proj") || strstr(name, "o_proj"))
            b = 8;
        else if (strstr(name, "k_proj"))
            b = 6;
        else if (strstr(name, "v_proj"))
            b = 5, g = 32;
        else if (strstr(name, "embed_tokens") || strstr(name, "lm_head"))
            b = 6;
        else if (strstr(name, "gate_proj"))
            b = cycle[(layer + 0) % 5];
        else if (strstr(name, "up_proj"))
            b = cycle[(layer + 1) % 5];
        else if (strstr(name, "down_proj"))
            b = cycle[(layer + 2) % 5], g = in % 128 == 0 ? 128 : 64;
    }
    if (in % g != 0) return; /* stays F16, like jang's passthrough */
    *bits = b;
    *group = g;
}

/* f32 source values of a GGUF tensor, fixed up to the HF layout; malloc'ed. */
static float *load_values(const jang_model_desc *d, const plan_item *p) {
    const jang_gguf_tensor *t = p->t;
    float *buf = malloc((size_t)t->n_elements * sizeof(float));
    if (!buf) return NULL;
    if (jang_gguf_dequantize(t, buf) != JANG_OK) {
        free(buf);
        return NULL;
    }
    int64_t rows = t->n_dims == 2 ? t->shape[0] : t->n_elements;
    int64_t cols = t->n_dims == 2 ? t->shape[1] : 1;
    jang_status s = JANG_OK;
    if (p->fix == JANG_GGUF_FIX_UNPERMUTE_Q) s = jang_unpermute_rows(buf, rows, cols, d->n_heads);
    if (p->fix == JANG_GGUF_FIX_UNPERMUTE_K)
        s = jang_unpermute_rows(buf, rows, cols, d->n_kv_heads);
    if (p->fix == JANG_GGUF_FIX_MINUS_ONE)
        for (int64_t k = 0; k < t->n_elements; k++)
            buf[k] -= 1.0f;
    if (p->fix == JANG_GGUF_FIX_LOG_NEG)
        for (int64_t k = 0; k < t->n_elements; k++)
            buf[k] = logf(-buf[k]);
    if (s != JANG_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* An HF config.json for the architectures the demo knows. */
static char *hf_config(const jang_model_desc *d) {
    const char *type = d->arch == JANG_ARCH_QWEN2 ? "qwen2" : "llama";
    const char *cls = d->arch == JANG_ARCH_QWEN2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
    char *buf = malloc(4096);
    if (!buf) return NULL;
    snprintf(buf, 4096,
             "{\"architectures\": [\"%s\"], \"model_type\": \"%s\", \"hidden_size\": %lld, "
             "\"intermediate_size\": %lld, \"num_attention_heads\": %lld, "
             "\"num_key_value_heads\": %lld, \"head_dim\": %lld, \"num_hidden_layers\": %lld, "
             "\"vocab_size\": %lld, \"max_position_embeddings\": %lld, \"rms_norm_eps\": %.17g, "
             "\"rope_theta\": %.17g, \"tie_word_embeddings\": %s, \"hidden_act\": \"silu\", "
             "\"attention_bias\": %s, \"mlp_bias\": false, \"bos_token_id\": %lld, "
             "\"eos_token_id\": %lld, \"torch_dtype\": \"float16\"}",
             cls, type, (long long)d->dim, (long long)d->ffn_dim, (long long)d->n_heads,
             (long long)d->n_kv_heads, (long long)d->head_dim, (long long)d->n_layers,
             (long long)d->vocab_size, (long long)d->max_seq_len, d->norm_eps, d->rope_theta,
             d->tied_embeddings ? "true" : "false", d->attn_bias ? "true" : "false",
             (long long)d->bos_token_id, (long long)d->eos_token_id);
    return buf;
}

/* Regular files of dir (tokenizer files), as jang_dir_file entries. */
static int list_files(const char *dir, jang_dir_file **out, char ***paths) {
    *out = NULL;
    *paths = NULL;
    if (!dir) return 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *p = jang_path_join(dir, e->d_name);
        if (!p || !jang_file_exists(p) || !strcmp(e->d_name, "config.json") ||
            ends_with(e->d_name, ".safetensors")) {
            free(p);
            continue;
        }
        *out = realloc(*out, (size_t)(n + 1) * sizeof **out);
        *paths = realloc(*paths, (size_t)(n + 1) * sizeof **paths);
        if (!*out || !*paths) abort();
        (*paths)[n] = p;
        (*out)[n] = (jang_dir_file){.name = strrchr(p, '/') + 1, .src_path = p};
        n++;
    }
    closedir(d);
    return n;
}

static int fail(const char *what, jang_status s) {
    fprintf(stderr, "quantize-gguf-demo: %s: %s: %s\n", what, jang_status_str(s),
            jang_last_error());
    return 1;
}

static void usage(void) {
    fprintf(stderr, "usage: quantize-gguf-demo MODEL.gguf OUT_DIR [--tokenizer-dir DIR] [--force]\n"
                    "         [--scheme mixed|uniformB] [--max-shard-bytes N] [--method rtn|mse] "
                    "[--mlx]\n");
}

int main(int argc, char **argv) {
    opts o = {.max_shard = (uint64_t)5 * 1024 * 1024 * 1024, .method = JANG_AFFINE_RTN};
    int pos = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokenizer-dir") && i + 1 < argc)
            o.tok_dir = argv[++i];
        else if (!strcmp(argv[i], "--force"))
            o.force = true;
        else if (!strcmp(argv[i], "--mlx"))
            o.mlx = true;
        else if (!strcmp(argv[i], "--scheme") && i + 1 < argc)
            o.uniform = !strncmp(argv[++i], "uniform", 7) ? atoi(argv[i] + 7) : 0;
        else if (!strcmp(argv[i], "--max-shard-bytes") && i + 1 < argc)
            o.max_shard = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--method") && i + 1 < argc) {
            if (!jang_affine_method_parse(argv[++i], &o.method)) {
                usage();
                return 2;
            }
        } else if (argv[i][0] != '-' && pos == 0)
            o.gguf = argv[i], pos++;
        else if (argv[i][0] != '-' && pos == 1)
            o.out = argv[i], pos++;
        else {
            usage();
            return 2;
        }
    }
    if (pos != 2) {
        usage();
        return 2;
    }

    jang_gguf *g = NULL;
    jang_status s = jang_gguf_open(o.gguf, &g);
    if (s) return fail(o.gguf, s);
    jang_model_desc d;
    if ((s = jang_desc_from_gguf(g, &d))) return fail("model description", s);
    if (d.arch != JANG_ARCH_LLAMA && d.arch != JANG_ARCH_QWEN2) {
        fprintf(stderr, "quantize-gguf-demo: architecture %s: the demo knows llama and qwen2\n",
                jang_arch_name(d.arch));
        return 1;
    }

    /* plan: every tensor, its HF name, fix-up and (bits, group) */
    int64_t nt = jang_gguf_n_tensors(g), np = 0;
    plan_item *plan = calloc((size_t)nt, sizeof *plan);
    if (!plan) return fail("plan", JANG_E_NOMEM);
    for (int64_t i = 0; i < nt; i++) {
        plan_item *p = &plan[np];
        p->t = jang_gguf_tensor_at(g, i);
        s = jang_gguf_map_name(d.arch, p->t->name, p->name, sizeof p->name, &p->fix);
        if (s == JANG_E_NOTFOUND) {
            fprintf(stderr, "  skipping %s (no HF counterpart)\n", p->t->name);
            continue;
        }
        if (s) return fail(p->t->name, s);
        if (p->t->n_dims == 2) choose(&o, p->name, p->t->shape[1], &p->bits, &p->group);
        np++;
    }

    jang_dir_writer_opts wo;
    jang_dir_writer_opts_init(&wo);
    wo.force = o.force;
    wo.max_shard_bytes = o.max_shard;
    jang_dir_writer *w = NULL;
    if ((s = jang_dir_writer_open(o.out, &wo, &w))) return fail(o.out, s);
    for (int64_t i = 0; i < np; i++) {
        const plan_item *p = &plan[i];
        if (p->bits) {
            char mod[256];
            snprintf(mod, sizeof mod, "%.*s", (int)(strlen(p->name) - 7), p->name);
            s = jang_dir_writer_declare_quantized(w, mod, 2, p->t->shape, p->bits, p->group,
                                                  JANG_DT_F16, p->name);
        } else {
            s = jang_dir_writer_declare(w, p->name, JANG_DT_F16, p->t->n_dims, p->t->shape);
        }
        if (s) {
            jang_dir_writer_abort(w);
            return fail(p->name, s);
        }
    }
    jang_affine_opts ao;
    jang_affine_opts_init(&ao);
    ao.method = o.method;
    int64_t n_q = 0;
    for (int64_t i = 0; i < np; i++) {
        const plan_item *p = &plan[i];
        float *v = load_values(&d, p);
        if (!v) {
            jang_dir_writer_abort(w);
            return fail(p->name, JANG_E_FORMAT);
        }
        if (p->bits) {
            int64_t rows = p->t->shape[0], cols = p->t->shape[1];
            uint32_t *packed = malloc((size_t)(rows * cols / 32 * p->bits) * 4);
            uint16_t *sc = malloc((size_t)(rows * cols / p->group) * 2);
            uint16_t *bi = malloc((size_t)(rows * cols / p->group) * 2);
            /* jang casts the source to f16 before mx.quantize; do the same */
            for (int64_t k = 0; k < rows * cols; k++)
                v[k] = jang_round_f16(v[k]);
            s = packed && sc && bi ? jang_affine_quantize(v, rows, cols, p->bits, p->group,
                                                          JANG_DT_F16, &ao, packed, sc, bi)
                                   : JANG_E_NOMEM;
            if (s == JANG_OK) s = jang_dir_writer_write_quantized(w, packed, sc, bi);
            free(packed), free(sc), free(bi);
            n_q++;
        } else {
            uint16_t *h = malloc((size_t)p->t->n_elements * 2);
            for (int64_t k = 0; h && k < p->t->n_elements; k++)
                h[k] = jang_f32_to_f16(v[k]);
            s = h ? jang_dir_writer_write(w, h, (size_t)p->t->n_elements * 2) : JANG_E_NOMEM;
            free(h);
        }
        free(v);
        if (s) {
            jang_dir_writer_abort(w); /* a no-op free when w is already poisoned */
            return fail(p->name, s);
        }
    }

    char *cfg = hf_config(&d);
    jang_dir_file *files = NULL;
    char **paths = NULL;
    int nf = list_files(o.tok_dir, &files, &paths);
    if (nf < 0) {
        fprintf(stderr, "quantize-gguf-demo: cannot list %s\n", o.tok_dir);
        jang_dir_writer_abort(w);
        return 1;
    }
    jang_dir_meta meta;
    jang_dir_meta_init(&meta);
    meta.hf_config_json = cfg;
    meta.jang = !o.mlx;
    meta.block_size = 64;
    meta.method = "jang-c-demo";
    char profile[32];
    snprintf(profile, sizeof profile, o.uniform ? "demo-uniform%d" : "demo-mixed", o.uniform);
    meta.profile = profile;
    meta.backend =
        o.method == JANG_AFFINE_RTN ? "jang-c affine rtn (mx.quantize-exact)" : "jang-c affine mse";
    meta.source_name = d.model_name[0] ? d.model_name : o.gguf;
    meta.source_dtype = "gguf";
    meta.quantization_extra_json = "{\"note\": \"tools/quantize_gguf_demo.c, not jang convert\"}";
    meta.files = files;
    meta.n_files = nf;
    s = jang_dir_writer_finish(w, &meta);
    for (int i = 0; i < nf; i++)
        free(paths[i]);
    free(paths);
    free(files);
    free(cfg);
    free(plan);
    jang_gguf_close(g);
    if (s) return fail(o.out, s);
    fprintf(stderr, "wrote %s: %lld quantized modules, %lld tensors kept F16, %d tokenizer files\n",
            o.out, (long long)n_q, (long long)(np - n_q), nf);
    return 0;
}
