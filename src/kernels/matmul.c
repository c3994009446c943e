/* matmul.c — jang_matmul_isa: the default kernel table (cpuid, or JANG_ISA), the activations
 * prepared for the affine kernels and the output rows split over the worker pool.
 *
 * Memory: the quantized activations live in the pool's shared scratch and each worker's tile
 * scales / padded rows in its own scratch (pool.h), so a call allocates nothing once the buffers
 * have grown to the largest matrix. The reference arithmetic is kernels_scalar.c, the fast one
 * kernels_body.h. Tested by tests/test_kernels.c and, through the model, tests/test_model*.c.
 */
#include "kernels.h"
#include "util.h"

#include <cpuid.h>
#include <pthread.h>
#include <string.h>

/* ---- row access (the reference dequantization) ----------------------------------------------- */

static float scale_at(jang_dtype dt, const uint16_t *p, int64_t i) {
    return dt == JANG_DT_BF16 ? jang_bf16_to_f32(p[i]) : jang_f16_to_f32(p[i]);
}

void jang_weight_row(const jang_weight *w, int64_t r, float *out) {
    int64_t cols = w->cols;
    switch (w->kind) {
    case JANG_WK_F32:
        memcpy(out, (const float *)w->data + r * cols, (size_t)cols * sizeof(float));
        break;
    case JANG_WK_F16: {
        const uint16_t *p = (const uint16_t *)w->data + r * cols;
        for (int64_t c = 0; c < cols; c++)
            out[c] = jang_f16_to_f32(p[c]);
        break;
    }
    case JANG_WK_BF16: {
        const uint16_t *p = (const uint16_t *)w->data + r * cols;
        for (int64_t c = 0; c < cols; c++)
            out[c] = jang_bf16_to_f32(p[c]);
        break;
    }
    case JANG_WK_AFFINE: {
        const int bits = w->bits;
        const int64_t words = cols * bits / 32, ng = cols / w->group;
        const uint8_t *row = (const uint8_t *)((const uint32_t *)w->data + r * words);
        const uint32_t mask = (1u << bits) - 1;
        for (int64_t g = 0; g < ng; g++) {
            float s = scale_at(w->sdtype, w->scales, r * ng + g);
            float b = scale_at(w->sdtype, w->biases, r * ng + g);
            for (int64_t k = g * w->group; k < (g + 1) * w->group; k++) {
                int64_t bit = k * bits;
                /* a value spans at most 2 bytes for bits <= 8 */
                uint32_t v = row[bit >> 3];
                if ((bit & 7) + bits > 8) v |= (uint32_t)row[(bit >> 3) + 1] << 8;
                uint32_t q = (v >> (bit & 7)) & mask;
                out[k] = s * (float)q + b;
            }
        }
        break;
    }
    }
}

/* ---- dispatch -------------------------------------------------------------------------------- */

const char *jang_isa_name(jang_isa isa) {
    switch (isa) {
#define JANG_X_(e, s)                                                                              \
    case JANG_ISA_##e:                                                                             \
        return s;
        JANG_ISA_MAP(JANG_X_)
#undef JANG_X_
    case JANG_ISA_COUNT:
        break;
    }
    return "?";
}

/* F16C has no __builtin_cpu_supports name in clang 14, so ask cpuid directly
 * (leaf 1, ECX bit 29); avx2/fma/avx512 through the builtin, which also
 * checks that the OS saves the wide registers. */
static bool cpu_has_f16c(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    return (c >> 29) & 1u;
}

bool jang_isa_supported(jang_isa isa) {
    __builtin_cpu_init();
    switch (isa) {
    case JANG_ISA_SCALAR:
        return true;
    case JANG_ISA_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    case JANG_ISA_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && cpu_has_f16c();
    case JANG_ISA_AVX512VNNI:
        return jang_isa_supported(JANG_ISA_AVX512) && __builtin_cpu_supports("avx512vnni");
    case JANG_ISA_COUNT:
        break;
    }
    return false;
}

const char *jang_kernels_active_name(void) { return jang_isa_name(jang_isa_active()); }

const jang_kernels *jang_isa_kernels(jang_isa isa) {
    static const jang_kernels *const tables[JANG_ISA_COUNT] = {
        [JANG_ISA_SCALAR] = &jang_kernels_scalar,
        [JANG_ISA_AVX2] = &jang_kernels_avx2,
        [JANG_ISA_AVX512] = &jang_kernels_avx512,
        [JANG_ISA_AVX512VNNI] = &jang_kernels_avx512vnni,
    };
    JANG_ASSERT(isa >= 0 && isa < JANG_ISA_COUNT);
    return tables[isa];
}

jang_status jang_isa_from_name(const char *name, jang_isa *out) {
    for (int i = 0; i < JANG_ISA_COUNT; i++)
        if (name && !strcmp(name, jang_isa_name((jang_isa)i))) {
            if (!jang_isa_supported((jang_isa)i))
                return jang_fail(JANG_E_UNSUPPORTED,
                                 "JANG_ISA=%s: this CPU cannot run the %s kernels", name, name);
            *out = (jang_isa)i;
            return JANG_OK;
        }
    char buf[64];
    return jang_fail(JANG_E_ARG,
                     "JANG_ISA=%s: unknown (expected scalar, avx2, avx512 or avx512vnni)",
                     jang_printable(name ? name : "", name ? strlen(name) : 0, buf, sizeof buf));
}

static pthread_once_t isa_once = PTHREAD_ONCE_INIT;
static jang_isa isa_chosen = JANG_ISA_SCALAR;
static jang_status isa_status = JANG_OK;
static char isa_error[256];

static bool gemv_prefetch;

/* GEMV software prefetch (kernels_body.h) by CPU vendor, measured 2026-11-27
 * (docs/PERFORMANCE.md): on the AMD EPYC (Zen 3) dev VM it doubled decode speed, on the device
 * machine's Intel Xeon (Sapphire Rapids) it cut 4-bit GEMV bandwidth by a third or more. So on for
 * AMD, off otherwise; JANG_PREFETCH=0|1 overrides. */
static bool prefetch_default(void) {
    const char *env = getenv("JANG_PREFETCH");
    if (env && (!strcmp(env, "0") || !strcmp(env, "1"))) return env[0] == '1';
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return false;
    return b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u; /* "AuthenticAMD" */
}

static pthread_once_t prefetch_once = PTHREAD_ONCE_INIT;
static void prefetch_choose(void) { gemv_prefetch = prefetch_default(); }

static void isa_choose(void) {
    const char *env = getenv("JANG_ISA");
    if (env && *env) {
        isa_status = jang_isa_from_name(env, &isa_chosen);
        if (isa_status) snprintf(isa_error, sizeof isa_error, "%s", jang_last_error());
        return;
    }
    /* the best supported table, except avx512vnni, which only JANG_ISA selects: on the device
     * machine's Sapphire Rapids its GEMV measured the same as avx512's within the VM's noise
     * (docs/PERFORMANCE.md "AVX-512") */
    for (int i = JANG_ISA_AVX512; i >= 0; i--)
        if (jang_isa_supported((jang_isa)i)) {
            isa_chosen = (jang_isa)i;
            return;
        }
}

jang_status jang_kernels_init(void) {
    pthread_once(&isa_once, isa_choose);
    return isa_status ? jang_fail(isa_status, "%s", isa_error) : JANG_OK;
}

jang_isa jang_isa_active(void) {
    if (jang_kernels_init() != JANG_OK) {
        fprintf(stderr, "jang: %s\n", isa_error);
        abort();
    }
    return isa_chosen;
}

/* ---- the driver ------------------------------------------------------------------------------ */

size_t jang_kernel_scratch_bytes(const jang_weight *w) {
    /* f32 rows: the scalar table's one row, the fast tables' GEMM tile */
    size_t rows = (size_t)JANG_KERNEL_MAX_TILE_ROWS * (size_t)w->cols * sizeof(float);
    if (w->kind != JANG_WK_AFFINE) return rows;
    size_t ng = (size_t)(w->cols / w->group), rbytes = (size_t)w->cols * (size_t)w->bits / 8;
    return 2 * JANG_KERNEL_MAX_TILE_ROWS * ng * sizeof(float) + rows + rbytes +
           3 * JANG_KERNEL_OVERREAD;
}

typedef struct {
    jang_pool *pool;
    const jang_kjob *job;
    jang_krows_fn rows;
    jang_kprep_fn prep;
    size_t scratch;
} matmul_ctx;

static void prep_worker(void *arg, int wid, int nw) {
    matmul_ctx *c = arg;
    int64_t t0, t1;
    jang_pool_split(c->job->n, wid, nw, 1, &t0, &t1);
    if (t0 < t1) c->prep(c->job, t0, t1);
}

static void rows_worker(void *arg, int wid, int nw) {
    matmul_ctx *c = arg;
    int64_t r0, r1;
    jang_pool_split(c->job->w->rows, wid, nw, 16, &r0, &r1);
    if (r0 >= r1) return;
    void *scratch = jang_pool_scratch(c->pool, wid, c->scratch); /* reserved by the caller */
    c->rows(c->job, r0, r1, scratch);
}

jang_status jang_matmul_isa(jang_pool *pool, jang_isa isa, const jang_weight *w, const float *x,
                            int64_t n, const float *bias, float *y, bool invariant) {
    JANG_ASSERT(pool != NULL && n >= 0);
    if (n == 0 || w->rows == 0) return JANG_OK;
    const jang_kernels *k = jang_isa_kernels(isa);
    pthread_once(&prefetch_once, prefetch_choose);
    jang_kjob job = {.w = w, .x = x, .bias = bias, .y = y, .n = n, .prefetch = gemv_prefetch};
    matmul_ctx c = {.pool = pool, .job = &job, .scratch = jang_kernel_scratch_bytes(w)};
    if (!jang_pool_reserve(pool, c.scratch)) return JANG_E_NOMEM;
    if (w->kind == JANG_WK_AFFINE) {
        JANG_ASSERT(w->bits >= 2 && w->bits <= JANG_AFFINE_MAX_BITS && k->affine[w->bits].rows);
        JANG_ASSERT(w->group > 0 && w->cols % w->group == 0);
        c.rows = k->affine[w->bits].rows;
        c.prep = k->affine[w->bits].prep;
    } else {
        c.rows = k->plain[w->kind];
        if (n >= 2 && !invariant) c.prep = k->plain_prep;
    }
    if (c.prep) {
        const bool panels = w->kind != JANG_WK_AFFINE || (n >= JANG_KERNEL_GEMM_MIN && !invariant);
        size_t nn = (size_t)n, nc = nn * (size_t)w->cols;
        size_t ng = w->kind == JANG_WK_AFFINE ? (size_t)(w->cols / w->group) : 0;
        size_t pt = (size_t)k->panel_tokens, np = (nn + pt - 1) / pt;
        size_t bytes =
            panels ? np * pt * (size_t)w->cols * sizeof(float)
                   : ((nc * sizeof(int16_t) + 63) & ~(size_t)63) + 2 * nn * ng * sizeof(float);
        uint8_t *buf = jang_pool_scratch(pool, JANG_POOL_SHARED(pool), bytes);
        if (!buf) return JANG_E_NOMEM;
        if (panels) {
            job.xf = (float *)buf;
            if (nn % pt) /* the last panel's padding tokens: zeros */
                memset(job.xf + (np - 1) * pt * (size_t)w->cols, 0,
                       pt * (size_t)w->cols * sizeof(float));
        } else {
            job.xq = (int16_t *)buf;
            job.dx = (float *)(buf + ((nc * sizeof(int16_t) + 63) & ~(size_t)63));
            job.sx = job.dx + nn * ng;
        }
        if (n >= 2 * jang_pool_size(pool))
            jang_pool_run(pool, prep_worker, &c);
        else
            c.prep(&job, 0, n);
    }
    jang_pool_run(pool, rows_worker, &c);
    return JANG_OK;
}

void jang_attend_isa(jang_isa isa, const float *q, int64_t qstride, int nq, const float *k,
                     const float *v, int64_t stride, int64_t len, int64_t hd, float scale,
                     float *scores, float *out, int64_t ostride) {
    JANG_ASSERT(nq >= 1 && nq <= JANG_ATTEND_MAX_Q);
    jang_isa_kernels(isa)->attend(q, qstride, nq, k, v, stride, len, hd, scale, scores, out,
                                  ostride);
}

void jang_swiglu_isa(jang_isa isa, float *a, const float *b, int64_t n) {
    jang_isa_kernels(isa)->swiglu(a, b, n);
}
