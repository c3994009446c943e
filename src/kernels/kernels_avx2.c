/* kernels_avx2.c — the AVX2 + FMA + F16C table: vector primitives for kernels_body.h, compiled
 * with -mavx2 -mfma -mf16c (Makefile, per-file flags) and used only when cpuid says so
 * (matmul.c). 16 int16 lanes per vector: a 4-bit block is 16 bytes zero-extended to 16 lanes
 * (low nibbles, then v >> 4), 8-bit is one zero-extension, 2-bit shifts the same lanes by 0/2/4/6
 * (vpsrlvd on the two halves for group 32), and 3/5/6-bit gather each code's two bytes with
 * vpshufb and mask it in place (kernels_isa.h: lanes are paired by bit offset, which the per-group
 * rescale undoes), one shuffle and one AND per 16 codes.
 * Tested by tests/test_kernels.c.
 */
#define KB_L 16
#include "kernels_isa.h"

#include <immintrin.h>

#define KB_FL 8
#define KB_NT 16 /* f32 GEMM register tile: KB_MR rows x KB_NT tokens (12 accumulators) */
#define KB_MR 6
#define KB_FN(name) name##_avx2
typedef __m256i kb_vi;
typedef __m256 kb_vf;

static inline kb_vi kb_izero(void) { return _mm256_setzero_si256(); }
static inline kb_vf kb_fzero(void) { return _mm256_setzero_ps(); }

static inline kb_vi kb_dot(kb_vi acc, kb_vi w, const int16_t *x) {
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(w, _mm256_loadu_si256((const __m256i *)x)));
    /* keep the sums in program order: GCC's reassociation of the integer adds otherwise keeps
     * every product of a group alive at once and spills */
    __asm__("" : "+x"(acc));
    return acc;
}

/* int32 lane p holds codes shifted left by KB_PAIR_SHIFT(bits, p) (3/5/6 bits) */
static inline __m256 kb_unshift(const int bits) {
#define US_(p) 1.0f / (float)(1 << KB_PAIR_SHIFT(bits, p))
    return _mm256_setr_ps(US_(0), US_(1), US_(2), US_(3), US_(4), US_(5), US_(6), US_(7));
#undef US_
}

static inline kb_vf kb_fma_is(kb_vf acc, kb_vi i, float s, const int bits) {
    __m256 v = _mm256_cvtepi32_ps(i);
    if (!KB_ALIGNED(bits)) v = _mm256_mul_ps(v, kb_unshift(bits));
    return _mm256_fmadd_ps(v, _mm256_set1_ps(s), acc);
}

static inline kb_vf kb_fmadd(kb_vf a, kb_vf b, kb_vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline kb_vf kb_loadf(const float *p) { return _mm256_loadu_ps(p); }
static inline void kb_storef(float *p, kb_vf v) { _mm256_storeu_ps(p, v); }
static inline kb_vf kb_set1(float s) { return _mm256_set1_ps(s); }

static inline kb_vf kb_fadd(kb_vf a, kb_vf b) { return _mm256_add_ps(a, b); }
static inline kb_vf kb_fsub(kb_vf a, kb_vf b) { return _mm256_sub_ps(a, b); }
static inline kb_vf kb_fmul(kb_vf a, kb_vf b) { return _mm256_mul_ps(a, b); }
static inline kb_vf kb_fdiv(kb_vf a, kb_vf b) { return _mm256_div_ps(a, b); }
static inline kb_vf kb_fmin(kb_vf a, kb_vf b) { return _mm256_min_ps(a, b); }
static inline kb_vf kb_fmax(kb_vf a, kb_vf b) { return _mm256_max_ps(a, b); }
/* nearest integer (ties to even), as float */
static inline kb_vf kb_fround(kb_vf a) {
    return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
/* 2^n for integral n in [-126, 127] */
static inline kb_vf kb_pow2i(kb_vf n) {
    __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}

/* out[0..4) = the horizontal sums of a[0..4) */
static inline void kb_hsum4(const kb_vf a[4], float *out) {
    __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1)));
}

static inline float kb_hsum(kb_vf v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* 8 scales (f16 or bf16) as f32 */
static inline __m256 kb_cvt8(const uint16_t *p, bool bf16) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (bf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

static inline kb_vf kb_loadw(const int kind, const uint8_t *p) {
    if (kind == JANG_WK_F32) return _mm256_loadu_ps((const float *)p);
    return kb_cvt8((const uint16_t *)p, kind == JANG_WK_BF16);
}

/* dst[i] = f32(src[i]) * (mul ? mul[i] : 1) for n scales of dtype dt (F16 or BF16) */
static inline void kb_cvt_halfs(const uint16_t *src, jang_dtype dt, int64_t n, const float *mul,
                                float *dst) {
    const bool bf = dt == JANG_DT_BF16;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = kb_cvt8(src + i, bf);
        if (mul) v = _mm256_mul_ps(v, _mm256_loadu_ps(mul + i));
        _mm256_storeu_ps(dst + i, v);
    }
    for (; i < n; i++) { /* scalar tail (no library calls: this runs once per row tile) */
        float v;
        if (bf) {
            const uint32_t u = (uint32_t)src[i] << 16;
            memcpy(&v, &u, sizeof v);
        } else {
            v = _cvtsh_ss(src[i]);
        }
        dst[i] = mul ? v * mul[i] : v;
    }
}

static inline float kb_dotf(const float *a, const float *b, int64_t n) {
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
    float s = kb_hsum(acc);
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* max |x| and sum x over n (a multiple of 16) */
static inline void kb_absmax_sum(const float *x, int64_t n, float *amax, float *sum) {
    const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m0 = _mm256_setzero_ps(), m1 = m0, s0 = m0, s1 = m0;
    for (int64_t i = 0; i < n; i += 16) {
        __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        m0 = _mm256_max_ps(m0, _mm256_and_ps(a, abs));
        m1 = _mm256_max_ps(m1, _mm256_and_ps(b, abs));
        s0 = _mm256_add_ps(s0, a);
        s1 = _mm256_add_ps(s1, b);
    }
    m0 = _mm256_max_ps(m0, m1);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m0), _mm256_extractf128_ps(m0, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    *amax = _mm_cvtss_f32(h);
    *sum = kb_hsum(_mm256_add_ps(s0, s1));
}

/* out[i] = rint(x[i] * inv) as int16 for n (a multiple of 16) values with |x * inv| <= 32767 */
static inline void kb_quant16(const float *x, float inv, int64_t n, int16_t *out) {
    const __m256 s = _mm256_set1_ps(inv);
    for (int64_t i = 0; i < n; i += 16) {
        __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i), s));
        __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8), s));
        __m256i p = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xd8);
        _mm256_storeu_si256((__m256i *)(out + i), p);
    }
}

/* out[0..16) = s * q + b for the codes of v, multiply then add as the reference (no FMA) */
static inline void kb_dequant16(kb_vi v, const int bits, float s, float b, float *out) {
    const __m256 sv = _mm256_set1_ps(s), bv = _mm256_set1_ps(b);
    __m256 lo = _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(v)));
    __m256 hi = _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm256_extracti128_si256(v, 1)));
    if (!KB_ALIGNED(bits)) { /* int16 lane l holds pair l/2 */
#define US_(l) 1.0f / (float)(1 << KB_PAIR_SHIFT(bits, (l) / 2))
        lo = _mm256_mul_ps(
            lo, _mm256_setr_ps(US_(0), US_(1), US_(2), US_(3), US_(4), US_(5), US_(6), US_(7)));
        hi = _mm256_mul_ps(hi, _mm256_setr_ps(US_(8), US_(9), US_(10), US_(11), US_(12), US_(13),
                                              US_(14), US_(15)));
#undef US_
    }
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_mul_ps(lo, sv), bv));
    _mm256_storeu_ps(out + 8, _mm256_add_ps(_mm256_mul_ps(hi, sv), bv));
}

/* One block of codes at p (see kernels_body.h for the order). */
static inline __attribute__((always_inline)) void kb_unpack(const uint8_t *p, const int bits,
                                                            const int group, kb_vi *out) {
    if (KB_ALIGNED(bits)) {
        const int B = KB_BYTES(bits, group), NV = KB_NV(bits, group);
        const __m256i mask = _mm256_set1_epi16((short)((1 << bits) - 1));
        if (B == 16) {
            const __m256i v = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p));
            for (int j = 0; j < NV; j++) {
                const int s = j * bits;
                __m256i u = s ? _mm256_srli_epi16(v, s) : v;
                out[j] = s + bits < 8 ? _mm256_and_si256(u, mask) : u;
            }
        } else { /* 8 bytes in both halves: shifts 2j (low half) and 2j+1 (high half) */
            const __m128i b8 = _mm_loadl_epi64((const __m128i *)p);
            const __m256i v = _mm256_cvtepu8_epi16(_mm_unpacklo_epi64(b8, b8));
            for (int j = 0; j < NV; j++) {
                const int s0 = 2 * j * bits, s1 = (2 * j + 1) * bits;
                const __m256i cnt = _mm256_setr_epi32(s0, s0, s0, s0, s1, s1, s1, s1);
                out[j] = _mm256_and_si256(_mm256_srlv_epi32(v, cnt), mask);
            }
        }
        return;
    }
    /* 3, 5, 6 bits: lanes 2p, 2p+1 = codes p, p+8 of the 16 at p (2*bits bytes), each masked in
     * place at bit offset KB_PAIR_SHIFT(bits, p) of its byte pair */
#define C_(l) ((l) / 2 + 8 * ((l) % 2))
#define SH_(l) (char)(C_(l) * bits / 8), (char)(C_(l) * bits / 8 + 1)
#define MK_(l) (short)(((1 << bits) - 1) << KB_PAIR_SHIFT(bits, (l) / 2))
    const __m256i shuf =
        _mm256_setr_epi8(SH_(0), SH_(1), SH_(2), SH_(3), SH_(4), SH_(5), SH_(6), SH_(7), SH_(8),
                         SH_(9), SH_(10), SH_(11), SH_(12), SH_(13), SH_(14), SH_(15));
    const __m256i mask =
        _mm256_setr_epi16(MK_(0), MK_(1), MK_(2), MK_(3), MK_(4), MK_(5), MK_(6), MK_(7), MK_(8),
                          MK_(9), MK_(10), MK_(11), MK_(12), MK_(13), MK_(14), MK_(15));
#undef C_
#undef SH_
#undef MK_
    __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
    out[0] = _mm256_and_si256(_mm256_shuffle_epi8(v, shuf), mask);
}

#include "kernels_body.h"

KB_TABLE(jang_kernels_avx2, "avx2");
