/* gemv_arith_avx2.c — the measurement behind the GEMV arithmetic of src/kernels/kernels_body.h:
 * the same 4-bit, group-64 GEMV inner loop written three ways, timed in thread CPU time (steady
 * on a shared machine) on one core with the weights hot in L2 (512 x 1024):
 *   f32 FMA        codes unpacked to int32 (broadcast uint32, vpsrlvd, and), converted, FMA
 *   int16 pmaddwd  16 bytes zero-extended to 32 int16 codes (and / shift), pmaddwd + add
 *   int8 pmaddubsw 32 bytes -> 64 uint8 codes, pmaddubsw with int8 activations, pmaddwd(1)
 * Prints Gcodes/s per core; results and the decision in docs/PERFORMANCE.md ("Kernel arithmetic").
 * Not a correctness test (the kernels' tests are tests/test_kernels.c).
 *
 * Build: make bench (compiled with the AVX2 flags: the file name ends in _avx2).
 * Run: build/bench/gemv_arith_avx2
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
#define ROWS 512
#define COLS 1024
#define G 64
#define NG (COLS / G)
static uint8_t W[ROWS * COLS / 2];
static float S[ROWS * NG], B[ROWS * NG], x[COLS], y[ROWS], sx[NG], dx[NG];
static int16_t x16[COLS];
static int8_t x8[COLS];
static inline float hs(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}
#define BAR(v) __asm__("" : "+x"(v))
/* f32: 8 codes per step from a uint32, srlv, cvt, fma */
static void f32_4(void) {
    const __m256i sh = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28), m = _mm256_set1_epi32(15);
    for (int r = 0; r < ROWS; r += 2) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        float bs0 = 0, bs1 = 0;
        const uint32_t *w0 = (const uint32_t *)(W + (size_t)r * COLS / 2),
                       *w1 = (const uint32_t *)(W + (size_t)(r + 1) * COLS / 2);
        for (int g = 0; g < NG; g++) {
            __m256 p0 = _mm256_setzero_ps(), p1 = p0;
            for (int k = 0; k < G / 8; k++) {
                __m256 xv = _mm256_loadu_ps(x + g * G + k * 8);
                p0 = _mm256_fmadd_ps(
                    _mm256_cvtepi32_ps(_mm256_and_si256(
                        _mm256_srlv_epi32(_mm256_set1_epi32(w0[g * 8 + k]), sh), m)),
                    xv, p0);
                p1 = _mm256_fmadd_ps(
                    _mm256_cvtepi32_ps(_mm256_and_si256(
                        _mm256_srlv_epi32(_mm256_set1_epi32(w1[g * 8 + k]), sh), m)),
                    xv, p1);
            }
            a0 = _mm256_fmadd_ps(p0, _mm256_set1_ps(S[r * NG + g]), a0);
            a1 = _mm256_fmadd_ps(p1, _mm256_set1_ps(S[(r + 1) * NG + g]), a1);
            bs0 += B[r * NG + g] * sx[g];
            bs1 += B[(r + 1) * NG + g] * sx[g];
        }
        y[r] = hs(a0) + bs0;
        y[r + 1] = hs(a1) + bs1;
    }
}
/* int16: 16 bytes -> 32 codes (zx, and, srl), pmaddwd + add */
static void i16_4(void) {
    const __m256i m = _mm256_set1_epi16(15);
    for (int r = 0; r < ROWS; r += 2) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        float bs0 = 0, bs1 = 0;
        for (int g = 0; g < NG; g++) {
            __m256i p0 = _mm256_setzero_si256(), p1 = p0;
            for (int k = 0; k < G; k += 32) {
                __m256i xa = _mm256_loadu_si256((const __m256i *)(x16 + g * G + k)),
                        xb = _mm256_loadu_si256((const __m256i *)(x16 + g * G + k + 16));
                __m256i v0 = _mm256_cvtepu8_epi16(
                    _mm_loadu_si128((const __m128i *)(W + (size_t)r * COLS / 2 + (g * G + k) / 2)));
                __m256i v1 = _mm256_cvtepu8_epi16(_mm_loadu_si128(
                    (const __m128i *)(W + (size_t)(r + 1) * COLS / 2 + (g * G + k) / 2)));
                p0 = _mm256_add_epi32(p0, _mm256_madd_epi16(_mm256_and_si256(v0, m), xa));
                BAR(p0);
                p0 = _mm256_add_epi32(p0, _mm256_madd_epi16(_mm256_srli_epi16(v0, 4), xb));
                BAR(p0);
                p1 = _mm256_add_epi32(p1, _mm256_madd_epi16(_mm256_and_si256(v1, m), xa));
                BAR(p1);
                p1 = _mm256_add_epi32(p1, _mm256_madd_epi16(_mm256_srli_epi16(v1, 4), xb));
                BAR(p1);
            }
            a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(S[r * NG + g] * dx[g]), a0);
            a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1),
                                 _mm256_set1_ps(S[(r + 1) * NG + g] * dx[g]), a1);
            bs0 += B[r * NG + g] * sx[g];
            bs1 += B[(r + 1) * NG + g] * sx[g];
        }
        y[r] = hs(a0) + bs0;
        y[r + 1] = hs(a1) + bs1;
    }
}
/* int8: 32 bytes -> 64 codes (and, srl+and), 2 pmaddubsw, add16, pmaddwd(1) */
static void i8_4(void) {
    const __m256i m = _mm256_set1_epi8(15), one = _mm256_set1_epi16(1);
    for (int r = 0; r < ROWS; r += 2) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        float bs0 = 0, bs1 = 0;
        for (int g = 0; g < NG; g++) {
            __m256i xa = _mm256_loadu_si256((const __m256i *)(x8 + g * G)),
                    xb = _mm256_loadu_si256((const __m256i *)(x8 + g * G + 32));
            __m256i v0 =
                        _mm256_loadu_si256((const __m256i *)(W + (size_t)r * COLS / 2 + g * G / 2)),
                    v1 = _mm256_loadu_si256(
                        (const __m256i *)(W + (size_t)(r + 1) * COLS / 2 + g * G / 2));
            __m256i s0 = _mm256_add_epi16(
                _mm256_maddubs_epi16(_mm256_and_si256(v0, m), xa),
                _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v0, 4), m), xb));
            __m256i s1 = _mm256_add_epi16(
                _mm256_maddubs_epi16(_mm256_and_si256(v1, m), xa),
                _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v1, 4), m), xb));
            a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(s0, one)),
                                 _mm256_set1_ps(S[r * NG + g] * dx[g]), a0);
            a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(s1, one)),
                                 _mm256_set1_ps(S[(r + 1) * NG + g] * dx[g]), a1);
            bs0 += B[r * NG + g] * sx[g];
            bs1 += B[(r + 1) * NG + g] * sx[g];
        }
        y[r] = hs(a0) + bs0;
        y[r + 1] = hs(a1) + bs1;
    }
}
static volatile float sink;
static double run(void (*f)(void)) {
    double best = 1e9;
    for (int i = 0; i < 300; i++) {
        double t = cpu();
        f();
        t = cpu() - t;
        if (t < best) best = t;
        sink += y[i % ROWS];
    }
    return best;
}
int main(void) {
    for (size_t i = 0; i < sizeof W; i++)
        W[i] = rand();
    for (int i = 0; i < ROWS * NG; i++) {
        S[i] = 0.01f;
        B[i] = -0.1f;
    }
    for (int i = 0; i < COLS; i++) {
        x[i] = (rand() % 200 - 100) * 0.01f;
        x16[i] = (int16_t)(x[i] * 300);
        x8[i] = (int8_t)(x[i] * 1.2);
    }
    for (int g = 0; g < NG; g++) {
        sx[g] = 1;
        dx[g] = 1;
    }
    const char *nm[] = {"f32 FMA", "int16 pmaddwd", "int8 pmaddubsw"};
    void (*fs[])(void) = {f32_4, i16_4, i8_4};
    for (int rep = 0; rep < 2; rep++)
        for (int k = 0; k < 3; k++) {
            double t = run(fs[k]);
            printf("4-bit %-16s %.1f us  %.1f Gcodes/s per core\n", nm[k], t * 1e6,
                   (double)ROWS * COLS / t / 1e9);
        }
}
