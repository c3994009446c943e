/* test_model_quant.c — the runtime on a JANG directory: the tiny Llama of tests/data/tiny is
 * quantized with mixed widths (2..8 bits, groups 32/64, the embedding too) and written with the
 * JANG directory writer; the same codes dequantized to f32 are written as a plain HF directory.
 * Both must give the same logits (the affine path of the matmul and of the embedding look-up
 * against the f32 path), and the 8-bit-heavy model must stay close to transformers' logits. */
#include "test.h"

#include "../src/kernels/kernels.h"
#include "util.h"

#include <jansson.h>
#include <stdlib.h>

typedef struct {
    const char *suffix; /* module path suffix */
    int bits, group;
} qrule;

static const qrule rules[] = {
    {"self_attn.q_proj", 8, 32}, {"self_attn.k_proj", 6, 64}, {"self_attn.v_proj", 5, 32},
    {"self_attn.o_proj", 4, 64}, {"mlp.gate_proj", 3, 32},    {"mlp.up_proj", 8, 64},
    {"mlp.down_proj", 2, 32},    {"embed_tokens", 6, 64},     {"lm_head", 8, 32},
};

static const qrule *rule_for(const char *name) {
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        size_t a = strlen(name), b = strlen(rules[i].suffix);
        if (a > b + 7 && !strncmp(name + a - b - 7, rules[i].suffix, b) &&
            !strcmp(name + a - 7, ".weight"))
            return &rules[i];
    }
    return NULL;
}

/* f32 (rows, cols) from codes: scale * q + bias in f32, the runtime's arithmetic */
static void dequant_f32(const uint32_t *packed, const uint16_t *sc, const uint16_t *bi,
                        int64_t rows, int64_t cols, int bits, int group, float *out) {
    uint8_t *q = malloc((size_t)(rows * cols));
    jang_affine_unpack(packed, rows * cols, bits, q);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            int64_t g = r * (cols / group) + c / group;
            out[r * cols + c] =
                jang_f16_to_f32(sc[g]) * (float)q[r * cols + c] + jang_f16_to_f32(bi[g]);
        }
    free(q);
}

static bool write_dirs(const char *src, const char *jdir, const char *fdir) {
    jang_st *st = NULL;
    if (jang_st_open(src, &st) != JANG_OK) return false;
    char *cfg_path = jang_path_join(src, "config.json"), *cfg = NULL;
    size_t cfg_len = 0;
    jang_read_file(cfg_path, 1 << 20, &cfg, &cfg_len);
    jang_dir_writer *w = NULL;
    jang_st_writer *fw = NULL;
    char fpath[1024];
    snprintf(fpath, sizeof fpath, "%s/model.safetensors", fdir);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s/'", fdir, cfg_path, fdir);
    bool ok = cfg && system(cmd) == 0 && jang_dir_writer_open(jdir, NULL, &w) == JANG_OK &&
              jang_st_writer_open(fpath, &fw) == JANG_OK;
    int64_t n = jang_st_count(st);
    for (int64_t i = 0; ok && i < n; i++) {
        const jang_tensor *t = jang_st_get(st, i);
        const qrule *r = rule_for(t->name);
        ok = jang_st_writer_declare(fw, t->name, JANG_DT_F32, t->n_dims, t->shape) == JANG_OK;
        if (!ok) break;
        if (r) {
            char mod[256];
            snprintf(mod, sizeof mod, "%.*s", (int)(strlen(t->name) - 7), t->name);
            ok = jang_dir_writer_declare_quantized(w, mod, 2, t->shape, r->bits, r->group,
                                                   JANG_DT_F16, NULL) == JANG_OK;
        } else {
            ok = jang_dir_writer_declare(w, t->name, t->dtype, t->n_dims, t->shape) == JANG_OK;
        }
    }
    for (int64_t i = 0; ok && i < n; i++) {
        const jang_tensor *t = jang_st_get(st, i);
        const qrule *r = rule_for(t->name);
        float *f = malloc(t->n_bytes);
        memcpy(f, t->data, t->n_bytes);
        if (r) {
            int64_t rows = t->shape[0], cols = t->shape[1], ng = rows * cols / r->group;
            uint32_t *p = malloc((size_t)(rows * cols * r->bits / 32) * 4);
            uint16_t *sc = malloc((size_t)ng * 2), *bi = malloc((size_t)ng * 2);
            ok = jang_affine_quantize(f, rows, cols, r->bits, r->group, JANG_DT_F16, NULL, p, sc,
                                      bi) == JANG_OK &&
                 jang_dir_writer_write_quantized(w, p, sc, bi) == JANG_OK;
            dequant_f32(p, sc, bi, rows, cols, r->bits, r->group, f);
            free(p), free(sc), free(bi);
        } else {
            ok = jang_dir_writer_write(w, t->data, t->n_bytes) == JANG_OK;
        }
        ok = ok && jang_st_writer_write(fw, f, t->n_bytes) == JANG_OK;
        free(f);
    }
    jang_dir_meta meta;
    jang_dir_meta_init(&meta);
    meta.hf_config_json = cfg;
    if (ok) ok = jang_dir_writer_finish(w, &meta) == JANG_OK, w = NULL;
    if (ok) ok = jang_st_writer_finish(fw) == JANG_OK, fw = NULL;
    if (!ok) fprintf(stdout, "    write failed: %s\n", jang_last_error());
    jang_dir_writer_abort(w);
    jang_st_writer_abort(fw);
    free(cfg);
    free(cfg_path);
    jang_st_close(st);
    return ok;
}

static float *run_logits(const char *dir, const int32_t *ids, int64_t n, int64_t *vocab) {
    jang_model *m = NULL;
    jang_context *c = NULL;
    jang_context_opts o;
    jang_context_opts_init(&o);
    o.n_threads = 2;
    o.max_ctx = 64;
    if (jang_model_open(dir, NULL, &m) != JANG_OK || jang_context_init(m, &o, &c) != JANG_OK) {
        jang_model_close(m);
        fprintf(stdout, "    %s: %s\n", dir, jang_last_error());
        return NULL;
    }
    *vocab = jang_model_get_desc(m)->vocab_size;
    float *l = malloc((size_t)(n * *vocab) * sizeof(float));
    if (jang_context_forward(c, ids, n, 0, true, l) != JANG_OK) free(l), l = NULL;
    jang_context_free(c);
    jang_model_close(m);
    return l;
}

TEST(model_jang_dir_matches_f32_of_same_codes) {
    char src[512], jdir[600], fdir[600];
    snprintf(src, sizeof src, "%s/llama", test_data_path("tiny"));
    snprintf(jdir, sizeof jdir, "%s/jang", test_tmpdir());
    snprintf(fdir, sizeof fdir, "%s/f32", test_tmpdir());
    REQUIRE(write_dirs(src, jdir, fdir));
    const int32_t ids[12] = {1, 17, 200, 45, 3, 99, 128, 255, 7, 64, 64, 12};
    int64_t V = 0, V2 = 0;
    float *a = run_logits(jdir, ids, 12, &V), *b = run_logits(fdir, ids, 12, &V2);
    REQUIRE(a && b && V == V2);
    double md = 0, mb = 0;
    for (int64_t i = 0; i < 12 * V; i++) {
        md = fmax(md, fabs((double)a[i] - b[i]));
        mb = fmax(mb, fabs((double)b[i]));
    }
    /* The scalar reference dequantizes exactly like the f32 directory: only summation order
     * differs. The fast tables round activations to int16 per group (kernels_body.h: 2^-16 of
     * the group's largest activation per element), measured 2.2e-4 at the logits here. */
    double tol = jang_isa_active() == JANG_ISA_SCALAR ? 1e-5 : 1e-3;
    CHECK_MSG(md / mb < tol, "affine vs f32 of the same codes (%s kernels): relative error %.3g",
              jang_isa_name(jang_isa_active()), md / mb);
    free(a);
    free(b);
}
