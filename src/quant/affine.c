/* affine.c — MLX-compatible group-wise affine quantization (DESIGN §3.1, §3.2) and an
 * error-minimising search for the same on-disk format (DESIGN §4.3).
 *
 * RTN reproduces mlx 0.32's CPU `mx.quantize` bit for bit (mlx/backend/cpu/quantized.cpp,
 * `quantize<T, U>`): everything is computed in float32 from the source values, the codes use the
 * unrounded float32 scale and bias, and only the stored scale and bias are rounded (to nearest
 * even) to the scale dtype. Dequantization reproduces `mx.dequantize`, whose output has the scale
 * dtype: out = rd(rd(scale * q) + bias) with rd = rounding to that dtype (no fused multiply-add).
 * The MSE method searches clip ratios per group, refits scale and bias by weighted least squares,
 * rounds them to the storage dtype, ranks the candidates by their weighted squared error, and
 * replaces the RTN result only when the best one's exact error (MLX's dequantization arithmetic,
 * in double) is smaller: never worse than RTN. Rows are split statically over a worker pool; the
 * result does not depend on the thread count.
 * Tested by tests/test_affine.c against goldens written by tools/gen_affine_goldens.py (mlx).
 */
#include "pool.h"
#include "quant.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- names and argument checks ------------------------------------------------------------ */

const char *jang_affine_method_name(jang_affine_method m) {
    switch (m) {
#define JANG_X_(e, s)                                                                              \
    case JANG_AFFINE_##e:                                                                          \
        return s;
        JANG_AFFINE_METHOD_MAP(JANG_X_)
#undef JANG_X_
    }
    return "?";
}

bool jang_affine_method_parse(const char *s, jang_affine_method *out) {
#define JANG_X_(e, name)                                                                           \
    if (s && strcmp(s, name) == 0) {                                                               \
        *out = JANG_AFFINE_##e;                                                                    \
        return true;                                                                               \
    }
    JANG_AFFINE_METHOD_MAP(JANG_X_)
#undef JANG_X_
    return false;
}

void jang_affine_opts_init(jang_affine_opts *o) {
    memset(o, 0, sizeof *o);
    o->method = JANG_AFFINE_RTN;
    o->n_threads = 0;
    o->col_weight = NULL;
    o->mse_steps = 0;
}

bool jang_affine_bits_valid(int bits) { return jang_affine_bits_ok(bits); }

bool jang_affine_group_valid(int group) { return jang_affine_group_ok(group); }

static jang_status check_shape(const char *fn, int64_t rows, int64_t cols, int bits, int group,
                               jang_dtype dt) {
    if (!jang_affine_bits_valid(bits))
        return jang_fail(JANG_E_ARG, "%s: bits %d not supported (%s)", fn, bits,
                         JANG_AFFINE_BITS_TEXT);
    if (!jang_affine_group_valid(group))
        return jang_fail(JANG_E_ARG, "%s: group size %d not supported (%s)", fn, group,
                         JANG_AFFINE_GROUPS_TEXT);
    if (dt != JANG_DT_F16 && dt != JANG_DT_BF16)
        return jang_fail(JANG_E_ARG, "%s: scale dtype must be F16 or BF16, not %s", fn,
                         jang_dtype_name(dt));
    if (rows < 0 || cols <= 0 || cols % group != 0)
        return jang_fail(JANG_E_ARG,
                         "%s: shape (%lld, %lld): columns must be a positive multiple of the group "
                         "size %d",
                         fn, (long long)rows, (long long)cols, group);
    return JANG_OK;
}

/* ---- pack / unpack ------------------------------------------------------------------------ */

static void pack_codes(const uint8_t *q, int64_t n, int bits, uint32_t *out) {
    switch (bits) {
#define JANG_X_(b)                                                                                 \
    case b:                                                                                        \
        jang_pack_body(q, n, b, out);                                                              \
        return;
        JANG_AFFINE_BITS_MAP(JANG_X_)
#undef JANG_X_
    }
    JANG_ASSERT(0 && "unsupported bits");
}

static void unpack_codes(const uint32_t *in, int64_t n, int bits, uint8_t *q) {
    switch (bits) {
#define JANG_X_(b)                                                                                 \
    case b:                                                                                        \
        jang_unpack_body(in, n, b, q);                                                             \
        return;
        JANG_AFFINE_BITS_MAP(JANG_X_)
#undef JANG_X_
    }
    JANG_ASSERT(0 && "unsupported bits");
}

jang_status jang_affine_pack(const uint8_t *q, int64_t n, int bits, uint32_t *packed) {
    if (!jang_affine_bits_valid(bits))
        return jang_fail(JANG_E_ARG, "affine pack: bits %d not supported", bits);
    if (n < 0 || (n * bits) % 32 != 0)
        return jang_fail(JANG_E_ARG,
                         "affine pack: %lld values of %d bits is not whole uint32 words",
                         (long long)n, bits);
    for (int64_t i = 0; i < n; i++)
        if (q[i] >> bits)
            return jang_fail(JANG_E_ARG, "affine pack: value %u at %lld does not fit %d bits", q[i],
                             (long long)i, bits);
    pack_codes(q, n, bits, packed);
    return JANG_OK;
}

jang_status jang_affine_unpack(const uint32_t *packed, int64_t n, int bits, uint8_t *q) {
    if (!jang_affine_bits_valid(bits))
        return jang_fail(JANG_E_ARG, "affine unpack: bits %d not supported", bits);
    if (n < 0 || (n * bits) % 32 != 0)
        return jang_fail(JANG_E_ARG,
                         "affine unpack: %lld values of %d bits is not whole uint32 words",
                         (long long)n, bits);
    unpack_codes(packed, n, bits, q);
    return JANG_OK;
}

/* ---- one group ---------------------------------------------------------------------------- */

static inline uint16_t store_dt(float x, jang_dtype dt) {
    return dt == JANG_DT_BF16 ? jang_f32_to_bf16(x) : jang_f32_to_f16(x);
}
static inline float load_dt(uint16_t h, jang_dtype dt) {
    return dt == JANG_DT_BF16 ? jang_bf16_to_f32(h) : jang_f16_to_f32(h);
}

/* MLX's dequantized value of code q, as MLX computes it in the scale dtype. */
JANG_FORCE_INLINE float deq_value(float s, float b, float q, const jang_dtype dt) {
    return jang_round_dt(jang_round_dt(s * q, dt) + b, dt);
}

typedef struct {
    float lo, hi;      /* group min and max */
    float scale, bias; /* rounded to the scale dtype, as floats */
} group_result;

/* The group loops use GCC/clang vector extensions, 4 floats at a time (SSE2, the x86-64
 * baseline): the same IEEE operations as the scalar code, lane by lane, so results are exact and do
 * not depend on the compiler's auto-vectorizer. */
typedef float vf4 __attribute__((vector_size(16)));
typedef int32_t vi4 __attribute__((vector_size(16)));
typedef uint32_t vu4 __attribute__((vector_size(16)));

static inline vf4 vload(const float *p) {
    vf4 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline vf4 vset(float x) { return (vf4){x, x, x, x}; }
static inline float vsum(vf4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }
/* m ? a : b per lane, m from a vector comparison (all ones or zero) */
static inline vf4 vsel(vi4 m, vf4 a, vf4 b) { return (vf4)(((vi4)a & m) | ((vi4)b & ~m)); }
static inline vf4 vclamp(vf4 x, vf4 hi) {
    x = vsel(x < vset(0.0f), vset(0.0f), x);
    return vsel(x > hi, hi, x);
}
/* Rounds x in [0, n] (n < 2^22) to the nearest integer, ties to even: the same as rintf there. */
static inline vf4 vround_small(vf4 x) { return (x + vset(0x1.8p23f)) - vset(0x1.8p23f); }
/* jang_round_f16 / jang_round_bf16 (util.h) per lane */
static inline vf4 vround_dt(vf4 x, const jang_dtype dt) {
    vu4 u = (vu4)x;
    if (dt == JANG_DT_BF16) {
        u += 0x7fffu + ((u >> 16) & 1u);
        return (vf4)(u & 0xffff0000u);
    }
    vu4 sign = u & 0x80000000u, ax = u & 0x7fffffffu;
    vu4 rn = (ax + 0xfffu + ((ax >> 13) & 1u)) & 0xffffe000u;
    vu4 sub = (vu4)(((vf4)ax + vset(0.75f)) - vset(0.75f));
    vi4 small = (vi4)(ax < 0x38800000u);
    vu4 r = (vu4)(((vi4)sub & small) | ((vi4)rn & ~small));
    vi4 big = (vi4)(r > 0x477fe000u);
    r = (vu4)(((vi4)r & ~big) | (vi4)(0x7f800000u & (vu4)big));
    return (vf4)(r | sign);
}
static inline void vstore_codes(vf4 qf, uint8_t *q) {
    vi4 qi = __builtin_convertvector(qf, vi4);
    for (int l = 0; l < 4; l++)
        q[l] = (uint8_t)qi[l];
}

/* Outcome of quantizing one group. */
enum { GROUP_OK, GROUP_NONFINITE, GROUP_OVERFLOW };

/* MLX RTN of one group of G values (mlx quantize<T, U>): codes into q. Returns GROUP_NONFINITE
 * for inf/nan input, GROUP_OVERFLOW when the stored scale or bias does not fit the dtype. */
JANG_FORCE_INLINE int rtn_group(const float *w, const int G, int bits, const jang_dtype dt,
                                uint8_t *q, group_result *r) {
    const float n_bins = (float)((1 << bits) - 1);
    const float eps = (float)1e-7;
    /* min and max (for finite input the lane order cannot change them, except the sign of a
     * zero, which never reaches the result) */
    vf4 mn = vload(w), mx = mn, fin = mn - mn; /* x - x is 0, or nan for inf/nan */
    for (int j = 4; j < G; j += 4) {
        vf4 x = vload(w + j);
        mx = vsel(mx < x, x, mx);
        mn = vsel(x < mn, x, mn);
        fin += x - x;
    }
    if (vsum(fin) != 0.0f) return GROUP_NONFINITE;
    float w_min = mn[0], w_max = mx[0];
    for (int l = 1; l < 4; l++) {
        w_max = w_max < mx[l] ? mx[l] : w_max; /* std::max(w_max, x) */
        w_min = mn[l] < w_min ? mn[l] : w_min; /* std::min(w_min, x) */
    }
    bool mask = fabsf(w_min) > fabsf(w_max);
    float scale = (w_max - w_min) / n_bins;
    scale = scale < eps ? eps : scale; /* std::max(scale, eps) */
    scale = mask ? scale : -scale;
    float edge = mask ? w_min : w_max;
    float q0 = rintf(edge / scale);
    float bias = 0.0f;
    if (q0 != 0.0f) {
        scale = edge / q0;
        bias = edge;
    }
    /* rint((w - bias) / scale) clipped to [0, n]: clipping first gives the same integer */
    for (int j = 0; j < G; j += 4)
        vstore_codes(vround_small(vclamp((vload(w + j) - bias) / scale, vset(n_bins))), q + j);
    r->lo = w_min;
    r->hi = w_max;
    r->scale = jang_round_dt(scale, dt);
    r->bias = jang_round_dt(bias, dt);
    return isfinite(r->scale) && isfinite(r->bias) ? GROUP_OK : GROUP_OVERFLOW;
}

/* Exact weighted squared error of codes q under the stored (s, b), accumulated in double (the
 * final comparison against RTN). */
JANG_FORCE_INLINE double error_d(const float *w, const float *c, const int G, const uint8_t *q,
                                 float s, float b, const jang_dtype dt) {
    const vf4 vs = vset(s), vb = vset(b);
    double e = 0;
    for (int j = 0; j < G; j += 4) {
        vf4 qf = {(float)q[j], (float)q[j + 1], (float)q[j + 2], (float)q[j + 3]};
        vf4 deq = vround_dt(vround_dt(vs * qf, dt) + vb, dt);
        for (int l = 0; l < 4; l++) {
            double d = (double)deq[l] - w[j + l];
            e += (double)c[j + l] * d * d;
        }
    }
    return e;
}

/* Weighted least-squares sums of codes against the group: sum c*q, c*q^2, c*q*w. */
typedef struct {
    double sq, sqq, sqx;
} ls_sums;

/* One candidate grid (s, b): codes (into q when want_codes) = nearest grid point (via the
 * reciprocal), their least-squares sums and their weighted squared error sum c (s*q + b - w)^2 in
 * f32, without MLX's rounding of the dequantized values: the search ranks candidates with it,
 * the final choice against RTN uses the exact error. */
JANG_FORCE_INLINE float eval_grid(const float *w, const float *c, const int G, float n_bins,
                                  float s, float b, const bool want_codes, uint8_t *q,
                                  ls_sums *ls) {
    const vf4 inv = vset(1.0f / s), vs = vset(s), vb = vset(b), hi = vset(n_bins);
    vf4 e = vset(0), aq = vset(0), aqq = vset(0), aqx = vset(0);
    for (int j = 0; j < G; j += 4) {
        vf4 x = vload(w + j), cw = vload(c + j);
        vf4 qf = vround_small(vclamp((x - vb) * inv, hi));
        if (want_codes) vstore_codes(qf, q + j);
        vf4 cq = cw * qf, d = vs * qf + vb - x;
        aq += cq;
        aqq += cq * qf;
        aqx += cq * x;
        e += cw * d * d;
    }
    ls->sq = vsum(aq);
    ls->sqq = vsum(aqq);
    ls->sqx = vsum(aqx);
    return vsum(e);
}

/* (s, b) minimising sum c (s*q + b - w)^2 for the codes behind ls; sw = sum c, sx = sum c*w.
 * Equal codes leave the slope undetermined: keep s_prev and fit the offset. */
static inline void ls_solve(const ls_sums *ls, double sw, double sx, float s_prev, float *s,
                            float *b) {
    double det = sw * ls->sqq - ls->sq * ls->sq;
    if (det > 1e-9 * sw * ls->sqq) {
        *s = (float)((sw * ls->sqx - ls->sq * sx) / det);
        *b = (float)((ls->sqq * sx - ls->sq * ls->sqx) / det);
    } else {
        *s = s_prev;
        *b = (float)((sx - (double)s_prev * ls->sq) / sw);
    }
}

/* The search: `steps` clip ratios per group, each followed by MSE_ITERS least-squares refits.
 * How far the range may shrink depends on the width: low widths gain from clipping the tails,
 * 8 bits hardly at all. Tuned on SmolLM2-135M (docs/QUALITY.md); 8 vs 16 steps differ by < 0.5%
 * in error. */
#define MSE_ITERS 2
static int default_steps(int bits) { return bits <= 3 ? 12 : 8; }
static float max_shrink(int bits) {
    return bits == 2   ? 0.6f
           : bits == 3 ? 0.5f
           : bits == 4 ? 0.2f
           : bits == 5 ? 0.1f
           : bits == 6 ? 0.08f
                       : 0.03f;
}

static const float ones[JANG_AFFINE_MAX_GROUP] = {
#define O8 1, 1, 1, 1, 1, 1, 1, 1
    O8, O8, O8, O8, O8, O8, O8, O8, O8,
    O8, O8, O8, O8, O8, O8, O8
#undef O8
};

/* The MSE search for one group: q gets the chosen codes, r the stored scale and bias. The RTN
 * answer is the first candidate and is only replaced by a smaller exact error. */
JANG_FORCE_INLINE int mse_group(const float *w, const float *c, const int G, int bits,
                                const jang_dtype dt, int steps, uint8_t *q, group_result *r) {
    int st = rtn_group(w, G, bits, dt, q, r);
    if (st != GROUP_OK) return st;
    if (!c) c = ones;
    const float n_bins = (float)((1 << bits) - 1);
    const float range = r->hi - r->lo;
    double e_rtn = error_d(w, c, G, q, r->scale, r->bias, dt);
    if (!(range > 0) || e_rtn == 0.0) return GROUP_OK;
    double sw = 0, sx = 0;
    for (int j = 0; j < G; j++) {
        sw += c[j];
        sx += (double)c[j] * w[j];
    }
    if (!(sw > 0)) return GROUP_OK;
    float best = (float)e_rtn, best_s = 0, best_b = 0;
    bool found = false;
    ls_sums ls;
    const float shrink = max_shrink(bits);
    for (int k = 0; k < steps; k++) {
        /* shrink [lo, hi] symmetrically by k/steps of the allowed ratio; then alternate least-
         * squares refits and re-snapping the codes, every (scale, bias) rounded to the dtype */
        float cut = range * shrink * (float)k / (float)steps * 0.5f;
        float S = jang_round_dt((range - 2 * cut) / n_bins, dt), B = jang_round_dt(r->lo + cut, dt);
        for (int it = 0; it <= MSE_ITERS; it++) {
            /* the codes run 0..n upwards: only a positive finite step makes sense */
            if (!(S > 0) || !isfinite(S) || !isfinite(B)) break;
            float e = eval_grid(w, c, G, n_bins, S, B, false, NULL, &ls);
            if (e < best) {
                best = e;
                best_s = S;
                best_b = B;
                found = true;
            }
            if (it == MSE_ITERS) break;
            float fs, fb;
            ls_solve(&ls, sw, sx, S, &fs, &fb);
            S = jang_round_dt(fs, dt);
            B = jang_round_dt(fb, dt);
        }
    }
    if (found) {
        /* decide in double, with a margin, so that "never worse than RTN" holds under any
         * summation order */
        uint8_t bq[JANG_AFFINE_MAX_GROUP];
        eval_grid(w, c, G, n_bins, best_s, best_b, true, bq, &ls);
        double e_new = error_d(w, c, G, bq, best_s, best_b, dt);
        if (e_new < e_rtn * (1.0 - 1e-9)) {
            memcpy(q, bq, (size_t)G);
            r->scale = best_s;
            r->bias = best_b;
        }
    }
    return GROUP_OK;
}

/* ---- rows over a worker pool -------------------------------------------------------------- */

typedef struct {
    const float *w; /* (rows, cols) */
    int64_t rows, cols;
    int bits, group;
    jang_dtype dt;
    jang_affine_method method;
    const float *col_weight; /* (cols) or NULL */
    int steps;
    uint32_t *packed;          /* (rows, cols*bits/32) */
    uint16_t *scales, *biases; /* (rows, cols/group) */
    /* per worker: first failure, as row * cols + col, or -1 */
    int64_t *bad;
    int *bad_kind; /* GROUP_NONFINITE or GROUP_OVERFLOW */
} quant_job;

JANG_FORCE_INLINE void quant_rows(quant_job *jb, int64_t r0, int64_t r1, const int G,
                                  const jang_dtype dt, int wid) {
    const int64_t cols = jb->cols, ng = cols / G, wpg = (int64_t)G * jb->bits / 32;
    const int64_t wpr = cols * jb->bits / 32;
    uint8_t q[JANG_AFFINE_MAX_GROUP];
    for (int64_t r = r0; r < r1; r++) {
        const float *row = jb->w + r * cols;
        for (int64_t g = 0; g < ng; g++) {
            const float *x = row + g * G;
            group_result res;
            int st = jb->method == JANG_AFFINE_MSE
                         ? mse_group(x, jb->col_weight ? jb->col_weight + g * G : NULL, G, jb->bits,
                                     dt, jb->steps, q, &res)
                         : rtn_group(x, G, jb->bits, dt, q, &res);
            if (st != GROUP_OK) {
                int j = 0;
                while (st == GROUP_NONFINITE && isfinite(x[j]))
                    j++;
                jb->bad[wid] = r * cols + g * G + j;
                jb->bad_kind[wid] = st;
                return;
            }
            jb->scales[r * ng + g] = store_dt(res.scale, dt);
            jb->biases[r * ng + g] = store_dt(res.bias, dt);
            pack_codes(q, G, jb->bits, jb->packed + r * wpr + g * wpg);
        }
    }
}

static void quant_worker(void *ctx, int wid, int nw) {
    quant_job *jb = ctx;
    int64_t r0, r1;
    jang_pool_split(jb->rows, wid, nw, 1, &r0, &r1);
    /* group size and scale dtype are compile-time constants in each copy of the loops */
#define JANG_X_(g)                                                                                 \
    case g:                                                                                        \
        if (jb->dt == JANG_DT_BF16)                                                                \
            quant_rows(jb, r0, r1, g, JANG_DT_BF16, wid);                                          \
        else                                                                                       \
            quant_rows(jb, r0, r1, g, JANG_DT_F16, wid);                                           \
        break;
    switch (jb->group) {
        JANG_AFFINE_GROUPS_MAP(JANG_X_)
    default:
        JANG_ASSERT(0 && "unsupported group size");
    }
#undef JANG_X_
}

static int pick_threads(int n_threads, int64_t rows) {
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)c : 1;
    }
    if (n_threads > 256) n_threads = 256;
    if ((int64_t)n_threads > rows) n_threads = rows > 0 ? (int)rows : 1;
    return n_threads;
}

static jang_status quantize_impl(const char *fn, const float *w, int64_t rows, int64_t cols,
                                 int bits, int group, jang_dtype scale_dtype,
                                 const jang_affine_opts *opts, jang_affine_method method,
                                 uint32_t *packed, uint16_t *scales, uint16_t *biases) {
    jang_affine_opts def;
    if (!opts) {
        jang_affine_opts_init(&def);
        opts = &def;
    }
    jang_status st = check_shape(fn, rows, cols, bits, group, scale_dtype);
    if (st) return st;
    if (method != JANG_AFFINE_RTN && method != JANG_AFFINE_MSE)
        return jang_fail(JANG_E_ARG, "%s: unknown method %d", fn, (int)method);
    if (rows == 0) return JANG_OK;
    if (!w || !packed || !scales || !biases)
        return jang_fail(JANG_E_ARG, "%s: NULL data pointer", fn);
    if (method == JANG_AFFINE_MSE && opts->col_weight)
        for (int64_t c = 0; c < cols; c++)
            if (!(opts->col_weight[c] >= 0) || !isfinite(opts->col_weight[c]))
                return jang_fail(JANG_E_ARG, "%s: column weight %lld is %g (must be finite, >= 0)",
                                 fn, (long long)c, (double)opts->col_weight[c]);

    int nt = pick_threads(opts->n_threads, rows);
    quant_job jb = {
        .w = w,
        .rows = rows,
        .cols = cols,
        .bits = bits,
        .group = group,
        .dt = scale_dtype,
        .method = method,
        .col_weight = opts->col_weight,
        .steps = opts->mse_steps > 0 ? opts->mse_steps : default_steps(bits),
        .packed = packed,
        .scales = scales,
        .biases = biases,
    };
    jb.bad = jang_malloc((size_t)nt * sizeof *jb.bad, "quantizer state");
    jb.bad_kind = jang_calloc((size_t)nt, sizeof *jb.bad_kind, "quantizer state");
    jang_pool *pool = NULL;
    if (!jb.bad || !jb.bad_kind) {
        st = JANG_E_NOMEM;
        goto done;
    }
    for (int i = 0; i < nt; i++)
        jb.bad[i] = -1;
    if (nt > 1 && !(pool = jang_pool_create(nt))) {
        st = JANG_E_NOMEM;
        goto done;
    }
    jang_pool_run(pool, quant_worker, &jb);
    /* report the first failure in row-major order */
    int64_t first = -1;
    int kind = 0;
    for (int i = 0; i < nt; i++)
        if (jb.bad[i] >= 0 && (first < 0 || jb.bad[i] < first)) {
            first = jb.bad[i];
            kind = jb.bad_kind[i];
        }
    if (first >= 0) {
        long long r = (long long)(first / cols), c = (long long)(first % cols);
        if (kind == GROUP_NONFINITE)
            st = jang_fail(JANG_E_ARG, "%s: non-finite value %g at row %lld, column %lld", fn,
                           (double)w[first], r, c);
        else
            st = jang_fail(JANG_E_ARG,
                           "%s: row %lld, columns %lld..%lld: scale or bias out of %s range "
                           "(values too large)",
                           fn, r, c, c + group - 1, jang_dtype_name(scale_dtype));
    }
done:
    jang_pool_free(pool);
    free(jb.bad);
    free(jb.bad_kind);
    return st;
}

jang_status jang_affine_quantize(const float *w, int64_t rows, int64_t cols, int bits, int group,
                                 jang_dtype scale_dtype, const jang_affine_opts *opts,
                                 uint32_t *packed, uint16_t *scales, uint16_t *biases) {
    jang_affine_method m = opts ? opts->method : JANG_AFFINE_RTN;
    return quantize_impl("affine quantize", w, rows, cols, bits, group, scale_dtype, opts, m,
                         packed, scales, biases);
}

jang_status jang_affine_quantize_mse(const float *w, int64_t rows, int64_t cols, int bits,
                                     int group, jang_dtype scale_dtype,
                                     const jang_affine_opts *opts, uint32_t *packed,
                                     uint16_t *scales, uint16_t *biases) {
    return quantize_impl("affine quantize (mse)", w, rows, cols, bits, group, scale_dtype, opts,
                         JANG_AFFINE_MSE, packed, scales, biases);
}

/* ---- dequantize --------------------------------------------------------------------------- */

/* One row of groups: out = rd(rd(scale * q) + bias), rd rounding to the scale dtype. */
JANG_FORCE_INLINE void dequant_row(const uint32_t *packed, const uint16_t *scales,
                                   const uint16_t *biases, int64_t cols, int bits, int group,
                                   const jang_dtype dt, float *out) {
    const int64_t wpg = (int64_t)group * bits / 32;
    uint8_t q[JANG_AFFINE_MAX_GROUP];
    for (int64_t g = 0; g < cols / group; g++) {
        const vf4 s = vset(load_dt(scales[g], dt)), b = vset(load_dt(biases[g], dt));
        unpack_codes(packed + g * wpg, group, bits, q);
        float *o = out + g * group;
        for (int j = 0; j < group; j += 4) {
            vf4 qf = {(float)q[j], (float)q[j + 1], (float)q[j + 2], (float)q[j + 3]};
            vf4 v = vround_dt(vround_dt(s * qf, dt) + b, dt);
            memcpy(o + j, &v, sizeof v);
        }
    }
}

jang_status jang_affine_dequantize(const uint32_t *packed, const uint16_t *scales,
                                   const uint16_t *biases, int64_t rows, int64_t cols, int bits,
                                   int group, jang_dtype scale_dtype, float *out) {
    jang_status st = check_shape("affine dequantize", rows, cols, bits, group, scale_dtype);
    if (st) return st;
    if (rows > 0 && (!packed || !scales || !biases || !out))
        return jang_fail(JANG_E_ARG, "affine dequantize: NULL data pointer");
    const int64_t ng = cols / group, wpr = cols * bits / 32;
    for (int64_t r = 0; r < rows; r++) {
        if (scale_dtype == JANG_DT_BF16)
            dequant_row(packed + r * wpr, scales + r * ng, biases + r * ng, cols, bits, group,
                        JANG_DT_BF16, out + r * cols);
        else
            dequant_row(packed + r * wpr, scales + r * ng, biases + r * ng, cols, bits, group,
                        JANG_DT_F16, out + r * cols);
    }
    return JANG_OK;
}
