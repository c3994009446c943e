/* kernels_avx512.c — the AVX-512 (F + BW + VL, with F16C) table: vector primitives for
 * kernels_body.h, compiled with -mavx512f -mavx512bw -mavx512vl -mfma -mf16c (Makefile) and used
 * only when cpuid says so (matmul.c). 32 int16 lanes per vector: byte-aligned widths zero-extend
 * up to 32 bytes to lanes and shift them with vpsrlvw (per-lane counts when the bytes repeat);
 * 3/5/6-bit codes take each 256-bit half's 16 codes from a broadcast 16-byte window with vpshufb
 * and a mask in place (kernels_isa.h). With KB_VNNI defined (kernels_avx512vnni.c) the int16 dot
 * is vpdpwssd (pmaddwd + add fused), a separate table since not every AVX-512 CPU has VNNI.
 * Tested by tests/test_kernels.c (on the device machine: this dev box has no
 * AVX-512).
 */
#define KB_L 32
#include "kernels_isa.h"

#include <immintrin.h>

#define KB_FL 16
#define KB_NT 32 /* f32 GEMM register tile: KB_MR rows x KB_NT tokens (24 accumulators) */
#define KB_MR 12
#ifndef KB_FN /* kernels_avx512vnni.c includes this file with its own names */
#define KB_FN(name) name##_avx512
#endif
typedef __m512i kb_vi;
typedef __m512 kb_vf;

static inline kb_vi kb_izero(void) { return _mm512_setzero_si512(); }
static inline kb_vf kb_fzero(void) { return _mm512_setzero_ps(); }

static inline kb_vi kb_dot(kb_vi acc, kb_vi w, const int16_t *x) {
#ifdef KB_VNNI /* pmaddwd + add in one instruction */
    return _mm512_dpwssd_epi32(acc, w, _mm512_loadu_si512(x));
#else
    acc = _mm512_add_epi32(acc, _mm512_madd_epi16(w, _mm512_loadu_si512(x)));
    __asm__("" : "+v"(acc)); /* keep the sums in program order (see kernels_avx2.c) */
    return acc;
#endif
}

/* int32 lane p holds codes shifted left by KB_PAIR_SHIFT(bits, p) (3/5/6 bits) */
static inline __m512 kb_unshift(const int bits) {
#define US_(p) 1.0f / (float)(1 << KB_PAIR_SHIFT(bits, p))
    return _mm512_setr_ps(US_(0), US_(1), US_(2), US_(3), US_(4), US_(5), US_(6), US_(7), US_(8),
                          US_(9), US_(10), US_(11), US_(12), US_(13), US_(14), US_(15));
#undef US_
}

static inline kb_vf kb_fma_is(kb_vf acc, kb_vi i, float s, const int bits) {
    __m512 v = _mm512_cvtepi32_ps(i);
    if (!KB_ALIGNED(bits)) v = _mm512_mul_ps(v, kb_unshift(bits));
    return _mm512_fmadd_ps(v, _mm512_set1_ps(s), acc);
}

static inline kb_vf kb_fmadd(kb_vf a, kb_vf b, kb_vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline kb_vf kb_loadf(const float *p) { return _mm512_loadu_ps(p); }
static inline void kb_storef(float *p, kb_vf v) { _mm512_storeu_ps(p, v); }
static inline kb_vf kb_set1(float s) { return _mm512_set1_ps(s); }
static inline float kb_hsum(kb_vf v) { return _mm512_reduce_add_ps(v); }
static inline kb_vf kb_fadd(kb_vf a, kb_vf b) { return _mm512_add_ps(a, b); }
static inline kb_vf kb_fsub(kb_vf a, kb_vf b) { return _mm512_sub_ps(a, b); }
static inline kb_vf kb_fmul(kb_vf a, kb_vf b) { return _mm512_mul_ps(a, b); }
static inline kb_vf kb_fdiv(kb_vf a, kb_vf b) { return _mm512_div_ps(a, b); }
static inline kb_vf kb_fmin(kb_vf a, kb_vf b) { return _mm512_min_ps(a, b); }
static inline kb_vf kb_fmax(kb_vf a, kb_vf b) { return _mm512_max_ps(a, b); }
/* nearest integer (ties to even), as float */
static inline kb_vf kb_fround(kb_vf a) {
    return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
/* 2^n for integral n in [-126, 127] */
static inline kb_vf kb_pow2i(kb_vf n) {
    __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
}

/* out[0..4) = the horizontal sums of a[0..4) */
static inline void kb_hsum4(const kb_vf a[4], float *out) {
    __m256 h[4];
    for (int i = 0; i < 4; i++)
        h[i] = _mm256_add_ps(_mm512_castps512_ps256(a[i]),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a[i]), 1)));
    __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(h[0], h[1]), _mm256_hadd_ps(h[2], h[3]));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1)));
}

/* 16 halves (f16 or bf16) as f32 */
static inline __m512 kb_cvt16(const uint16_t *p, bool bf16) {
    __m256i h = _mm256_loadu_si256((const __m256i *)p);
    if (bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

static inline kb_vf kb_loadw(const int kind, const uint8_t *p) {
    if (kind == JANG_WK_F32) return _mm512_loadu_ps((const float *)p);
    return kb_cvt16((const uint16_t *)p, kind == JANG_WK_BF16);
}

static inline void kb_cvt_halfs(const uint16_t *src, jang_dtype dt, int64_t n, const float *mul,
                                float *dst) {
    const bool bf = dt == JANG_DT_BF16;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = kb_cvt16(src + i, bf);
        if (mul) v = _mm512_mul_ps(v, _mm512_loadu_ps(mul + i));
        _mm512_storeu_ps(dst + i, v);
    }
    if (i < n) { /* the tail with masked loads: rows of 9 or 14 groups are common */
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        __m256i h = _mm256_maskz_loadu_epi16(m, src + i);
        __m512 v = bf ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))
                      : _mm512_cvtph_ps(h);
        if (mul) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, mul + i));
        _mm512_mask_storeu_ps(dst + i, m, v);
    }
}

static inline float kb_dotf(const float *a, const float *b, int64_t n) {
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
    float s = _mm512_reduce_add_ps(acc);
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* max |x| and sum x over n (a multiple of 16) */
static inline void kb_absmax_sum(const float *x, int64_t n, float *amax, float *sum) {
    __m512 m = _mm512_setzero_ps(), s = m;
    for (int64_t i = 0; i < n; i += 16) {
        __m512 a = _mm512_loadu_ps(x + i);
        m = _mm512_max_ps(m, _mm512_abs_ps(a));
        s = _mm512_add_ps(s, a);
    }
    *amax = _mm512_reduce_max_ps(m);
    *sum = _mm512_reduce_add_ps(s);
}

/* out[i] = rint(x[i] * inv) as int16 for n (a multiple of 16) values with |x * inv| <= 32767 */
static inline void kb_quant16(const float *x, float inv, int64_t n, int16_t *out) {
    const __m512 s = _mm512_set1_ps(inv);
    for (int64_t i = 0; i < n; i += 16) {
        __m512i a = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + i), s));
        _mm256_storeu_si256((__m256i *)(out + i), _mm512_cvtsepi32_epi16(a));
    }
}

/* 32 int16 lanes from 16-bit values v(l), l = 0..31 (as 16 dwords, low lane first) */
#define KB_W2_(v, l) (int)(((unsigned)(v(l)) & 0xffff) | ((unsigned)(v((l) + 1)) << 16))
#define KB_EPI16_(v)                                                                               \
    _mm512_setr_epi32(KB_W2_(v, 0), KB_W2_(v, 2), KB_W2_(v, 4), KB_W2_(v, 6), KB_W2_(v, 8),        \
                      KB_W2_(v, 10), KB_W2_(v, 12), KB_W2_(v, 14), KB_W2_(v, 16), KB_W2_(v, 18),   \
                      KB_W2_(v, 20), KB_W2_(v, 22), KB_W2_(v, 24), KB_W2_(v, 26), KB_W2_(v, 28),   \
                      KB_W2_(v, 30))

/* out[0..32) = s * q + b for the codes of v, multiply then add as the reference (no FMA) */
static inline void kb_dequant16(kb_vi v, const int bits, float s, float b, float *out) {
    const __m512 sv = _mm512_set1_ps(s), bv = _mm512_set1_ps(b);
    __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(_mm512_castsi512_si256(v)));
    __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(v, 1)));
    if (!KB_ALIGNED(bits)) { /* int16 lane l holds pair (l/2) % 8: the same 16 factors twice */
#define US_(l) 1.0f / (float)(1 << KB_PAIR_SHIFT(bits, (l) / 2))
        const __m512 u =
            _mm512_setr_ps(US_(0), US_(1), US_(2), US_(3), US_(4), US_(5), US_(6), US_(7), US_(8),
                           US_(9), US_(10), US_(11), US_(12), US_(13), US_(14), US_(15));
#undef US_
        lo = _mm512_mul_ps(lo, u);
        hi = _mm512_mul_ps(hi, u);
    }
    _mm512_storeu_ps(out, _mm512_add_ps(_mm512_mul_ps(lo, sv), bv));
    _mm512_storeu_ps(out + 16, _mm512_add_ps(_mm512_mul_ps(hi, sv), bv));
}

/* One block of codes at p (see kernels_body.h for the order). */
static inline __attribute__((always_inline)) void kb_unpack(const uint8_t *p, const int bits,
                                                            const int group, kb_vi *out) {
    if (KB_ALIGNED(bits)) {
        const int B = KB_BYTES(bits, group), NV = KB_NV(bits, group);
        const __m512i mask = _mm512_set1_epi16((short)((1 << bits) - 1));
        __m512i v;
        if (B == 32) {
            v = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)p));
        } else if (B == 16) {
            v = _mm512_cvtepu8_epi16(
                _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p)));
        } else { /* 8 bytes, 4 times */
            uint64_t q;
            memcpy(&q, p, 8);
            v = _mm512_cvtepu8_epi16(_mm256_set1_epi64x((long long)q));
        }
        for (int j = 0; j < NV; j++) {
            if (B == 32) {
                const int s = j * bits;
                __m512i u = s ? _mm512_srli_epi16(v, s) : v;
                out[j] = s + bits < 8 ? _mm512_and_si512(u, mask) : u;
            } else { /* lane l: shift (j*(32/B) + l/B) * bits */
#define KB_SHIFT_(l) ((j * (KB_L / B) + (l) / B) * bits)
                out[j] = _mm512_and_si512(_mm512_srlv_epi16(v, KB_EPI16_(KB_SHIFT_)), mask);
#undef KB_SHIFT_
            }
        }
        return;
    }
    /* 3, 5, 6 bits: half h holds the 16 codes at p + 2*bits*h; in each half, lanes 2p, 2p+1 =
     * codes p, p+8, masked in place at bit offset KB_PAIR_SHIFT(bits, p) (see kernels_isa.h) */
#define C_(l) ((l) / 2 + 8 * ((l) % 2))
#define SH_(l) (char)(C_(l) * bits / 8), (char)(C_(l) * bits / 8 + 1)
    const __m512i shuf = _mm512_broadcast_i64x4(
        _mm256_setr_epi8(SH_(0), SH_(1), SH_(2), SH_(3), SH_(4), SH_(5), SH_(6), SH_(7), SH_(8),
                         SH_(9), SH_(10), SH_(11), SH_(12), SH_(13), SH_(14), SH_(15)));
#undef C_
#undef SH_
#define MK_(l) (((1 << bits) - 1) << KB_PAIR_SHIFT(bits, ((l) % 16) / 2))
    const __m512i mask = KB_EPI16_(MK_);
#undef MK_
    __m256i lo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
    __m256i hi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(p + 2 * bits)));
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    out[0] = _mm512_and_si512(_mm512_shuffle_epi8(v, shuf), mask);
}

#include "kernels_body.h"

#ifdef KB_VNNI
KB_TABLE(jang_kernels_avx512vnni, "avx512vnni");
#else
KB_TABLE(jang_kernels_avx512, "avx512");
#endif
