/* backend_cpu.c — the CPU backend: backend memory is host memory, the matrix products, attention
 * and SwiGLU run the kernel table of src/kernels/ chosen per instance (cpuid, JANG_ISA or the
 * caller's choice) over the instance's own worker pool; norms, RoPE and the element-wise ops are
 * plain loops (a few percent of a step). Weights stay where the loader put them (the file's
 * memory map or converted buffers). Tested by tests/test_backend.c and the model tests.
 */
#include "../kernels/matmul.h"
#include "backend.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cpu_backend {
    jang_backend base;
    jang_isa isa;
    jang_pool *pool;
    char desc[64];
} cpu_backend;

static cpu_backend *cpu(jang_backend *be) { return (cpu_backend *)be; }

static jang_status cpu_create(const jang_backend_opts *o, jang_backend **out) {
    *out = NULL;
    jang_isa isa;
    jang_status s;
    if (o && o->isa) { /* the caller's choice; JANG_ISA is not consulted */
        if ((s = jang_isa_from_name(o->isa, &isa))) return s;
    } else { /* JANG_ISA or the best: a bad JANG_ISA is an error here, not an abort later */
        if ((s = jang_kernels_init())) return s;
        isa = jang_isa_active();
    }
    cpu_backend *b = jang_calloc(1, sizeof *b, "CPU backend");
    if (!b) return JANG_E_NOMEM;
    b->base.i = &jang_backend_cpu;
    b->isa = isa;
    b->pool = jang_pool_create(o ? o->n_threads : 0);
    if (!b->pool) {
        free(b);
        return JANG_E_NOMEM;
    }
    snprintf(b->desc, sizeof b->desc, "cpu %s, %d threads", jang_isa_name(isa),
             jang_pool_size(b->pool));
    *out = &b->base;
    return JANG_OK;
}

static void cpu_free(jang_backend *be) {
    if (!be) return;
    jang_pool_free(cpu(be)->pool);
    free(be);
}

static const char *cpu_describe(const jang_backend *be) { return ((const cpu_backend *)be)->desc; }

static bool cpu_supports(const jang_backend *be, jang_op op, const jang_weight *w) {
    if ((unsigned)op >= JANG_OP_COUNT) return false;
    if (!w || (op != JANG_OP_MATMUL && op != JANG_OP_EMBED)) return true;
    if (w->kind != JANG_WK_AFFINE) return w->kind >= JANG_WK_F32 && w->kind <= JANG_WK_BF16;
    return jang_affine_bits_valid(w->bits) && jang_affine_group_valid(w->group) &&
           w->cols % w->group == 0;
}

/* ---- memory -----------------------------------------------------------------------------------
 */

static jang_status cpu_alloc(jang_backend *be, size_t bytes, void **out) {
    size_t cap = ((bytes ? bytes : 1) + 63) & ~(size_t)63; /* 0 bytes: a buffer of its own */
    *out = cap >= bytes ? aligned_alloc(64, cap) : NULL;
    if (!*out) return jang_fail(JANG_E_NOMEM, "out of memory for %zu bytes of activations", bytes);
    memset(*out, 0, cap);
    return JANG_OK;
}

static void cpu_release(jang_backend *be, void *p) { free(p); }

static jang_status cpu_copy(jang_backend *be, void *dst, const void *src, size_t bytes) {
    if (bytes) memcpy(dst, src, bytes);
    return JANG_OK;
}

static jang_status cpu_place_weight(jang_backend *be, jang_weight *w, void **owned) {
    *owned = NULL; /* read in place */
    return JANG_OK;
}

/* ---- ops --------------------------------------------------------------------------------------
 */

static jang_status cpu_embed(jang_backend *be, const jang_weight *w, const int32_t *tokens,
                             int64_t n, float *out) {
    for (int64_t t = 0; t < n; t++)
        jang_weight_row(w, tokens[t], out + t * w->cols);
    return JANG_OK;
}

static jang_status cpu_rmsnorm(jang_backend *be, float *out, const float *x, const float *w,
                               int64_t rows, int64_t width, float eps, float offset) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * width;
        float *o = out + r * width;
        float ss = 0.0f;
        for (int64_t i = 0; i < width; i++)
            ss += xr[i] * xr[i];
        float inv = 1.0f / sqrtf(ss / (float)width + eps);
        if (offset == 0.0f)
            for (int64_t i = 0; i < width; i++)
                o[i] = w[i] * (xr[i] * inv);
        else
            for (int64_t i = 0; i < width; i++)
                o[i] = (offset + w[i]) * (xr[i] * inv);
    }
    return JANG_OK;
}

static jang_status cpu_matmul(jang_backend *be, const jang_weight *w, const float *x, int64_t n,
                              const float *bias, float *y, bool invariant) {
    return jang_matmul_isa(cpu(be)->pool, cpu(be)->isa, w, x, n, bias, y, invariant);
}

static jang_status cpu_rope(jang_backend *be, float *x, int64_t n, int64_t n_heads, int64_t hd,
                            const int64_t *pos, const jang_rope_desc *r) {
    const int64_t half = r->rope_dim / 2;
    /* neox pairs (i, i + half), interleaved pairs (2i, 2i + 1) */
    const int64_t step = r->neox ? 1 : 2, other = r->neox ? half : 1;
    for (int64_t t = 0; t < n; t++) {
        float *xt = x + t * n_heads * hd;
        for (int64_t i = 0; i < half; i++) {
            float ang = (float)pos[t] * r->inv_freq[i];
            float c = cosf(ang) * r->mscale, s = sinf(ang) * r->mscale;
            for (int64_t h = 0; h < n_heads; h++) {
                float *p = xt + h * hd + i * step;
                float x0 = p[0], x1 = p[other];
                p[0] = x0 * c - x1 * s;
                p[other] = x1 * c + x0 * s;
            }
        }
    }
    return JANG_OK;
}

static jang_status cpu_kv_store(jang_backend *be, const float *k, const float *v, int64_t kvd,
                                const jang_seq_view *seqs, int n_seqs) {
    const size_t row = (size_t)kvd * sizeof(float);
    for (int s = 0; s < n_seqs; s++) {
        const jang_seq_view *q = &seqs[s];
        memcpy(q->k + q->pos * kvd, k + q->t0 * kvd, (size_t)q->n * row);
        memcpy(q->v + q->pos * kvd, v + q->t0 * kvd, (size_t)q->n * row);
    }
    return JANG_OK;
}

/* Attention jobs are (sequence, block of up to JANG_ATTEND_MAX_Q consecutive tokens, KV head),
 * each running the query heads that share the KV head one after the other (the keys and values,
 * read once per block and head, are then still in cache); dealt out round-robin, since a job's
 * cost grows with its position (contiguous ranges gave the last worker three quarters of a
 * 512-token prompt). A job's result does not depend on which worker runs it. */
typedef struct {
    cpu_backend *b;
    const float *q;
    const jang_seq_view *seqs;
    const int64_t *first_block; /* (n_seqs + 1): blocks of sequences before s */
    int n_seqs;
    const jang_attn_desc *a;
    size_t scores;
    float *out;
} attn_job;

static void attn_worker(void *arg, int w, int nw) {
    const attn_job *c = arg;
    const jang_attn_desc *a = c->a;
    const int64_t hd = a->head_dim, kvd = a->n_kv_heads * hd, qd = a->n_heads * hd;
    const int64_t group = a->n_heads / a->n_kv_heads, nb = c->first_block[c->n_seqs];
    float *sc = jang_pool_scratch(c->b->pool, w, c->scores); /* reserved by the caller */
    int s = 0;
    for (int64_t job = w; job < nb * a->n_kv_heads; job += nw) {
        const int64_t blk = job / a->n_kv_heads, kvh = job % a->n_kv_heads;
        while (c->first_block[s + 1] <= blk)
            s++;
        const jang_seq_view *sq = &c->seqs[s];
        const int64_t u = (blk - c->first_block[s]) * JANG_ATTEND_MAX_Q, t = sq->t0 + u;
        const int nq = sq->n - u < JANG_ATTEND_MAX_Q ? (int)(sq->n - u) : JANG_ATTEND_MAX_Q;
        for (int64_t h = kvh * group; h < (kvh + 1) * group; h++)
            jang_attend_isa(c->b->isa, c->q + t * qd + h * hd, qd, nq, sq->k + kvh * hd,
                            sq->v + kvh * hd, kvd, sq->pos + u + 1, hd, a->scale, sc,
                            c->out + t * qd + h * hd, qd);
    }
}

static jang_status cpu_attention(jang_backend *be, const float *q, const jang_seq_view *seqs,
                                 int n_seqs, const jang_attn_desc *a, float *out) {
    cpu_backend *b = cpu(be);
    int64_t fb_local[9], *fb = fb_local, longest = 0;
    if (n_seqs + 1 > 9 && !(fb = jang_malloc(((size_t)n_seqs + 1) * sizeof *fb, "attention")))
        return JANG_E_NOMEM;
    fb[0] = 0;
    for (int s = 0; s < n_seqs; s++) {
        fb[s + 1] = fb[s] + (seqs[s].n + JANG_ATTEND_MAX_Q - 1) / JANG_ATTEND_MAX_Q;
        if (seqs[s].pos + seqs[s].n > longest) longest = seqs[s].pos + seqs[s].n;
    }
    attn_job c = {b,
                  q,
                  seqs,
                  fb,
                  n_seqs,
                  a,
                  (size_t)JANG_ATTEND_MAX_Q * (size_t)(longest + JANG_ATTEND_MAX_Q) * sizeof(float),
                  out};
    jang_status st = JANG_OK;
    if (!jang_pool_reserve(b->pool, c.scores))
        st = JANG_E_NOMEM;
    else
        jang_pool_run(b->pool, attn_worker, &c);
    if (fb != fb_local) free(fb);
    return st;
}

static float gelu_tanh(float x) {
    const float k = 0.7978845608028654f; /* sqrt(2 / pi) */
    return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

static jang_status cpu_glu(jang_backend *be, jang_glu_kind act, float *a, const float *b,
                           int64_t n) {
    switch (act) {
    case JANG_GLU_SILU:
        jang_swiglu_isa(cpu(be)->isa, a, b, n);
        return JANG_OK;
    case JANG_GLU_GELU_TANH:
        for (int64_t i = 0; i < n; i++)
            a[i] = gelu_tanh(a[i]) * b[i];
        return JANG_OK;
    }
    return jang_fail(JANG_E_UNSUPPORTED, "cpu backend: GLU activation %d", (int)act);
}

static jang_status cpu_add(jang_backend *be, float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        x[i] += y[i];
    return JANG_OK;
}

static jang_status cpu_scale(jang_backend *be, float *x, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        x[i] *= s;
    return JANG_OK;
}

static jang_status cpu_gather(jang_backend *be, float *dst, const float *src, const int32_t *idx,
                              int64_t n, int64_t width) {
    for (int64_t i = 0; i < n; i++)
        memcpy(dst + i * width, src + (int64_t)idx[i] * width, (size_t)width * sizeof(float));
    return JANG_OK;
}

static jang_status cpu_scatter_add(jang_backend *be, float *dst, const float *src,
                                   const int32_t *idx, const float *wt, int64_t n, int64_t width) {
    for (int64_t i = 0; i < n; i++) {
        float *d = dst + (int64_t)idx[i] * width;
        const float *s = src + i * width;
        for (int64_t c = 0; c < width; c++)
            d[c] += wt[i] * s[c];
    }
    return JANG_OK;
}

const jang_backend_i jang_backend_cpu = {
    .name = "cpu",
    .create = cpu_create,
    .free = cpu_free,
    .describe = cpu_describe,
    .supports = cpu_supports,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .from_host = cpu_copy,
    .to_host = cpu_copy,
    .place_weight = cpu_place_weight,
    .embed = cpu_embed,
    .rmsnorm = cpu_rmsnorm,
    .matmul = cpu_matmul,
    .rope = cpu_rope,
    .kv_store = cpu_kv_store,
    .attention = cpu_attention,
    .glu = cpu_glu,
    .add = cpu_add,
    .scale = cpu_scale,
    .gather = cpu_gather,
    .scatter_add = cpu_scatter_add,
};
