/* fma_peak_avx2.c — one core's f32 FMA peak, the ceiling docs/PERFORMANCE.md ("GEMM") compares the
 * GEMM tile with: 12 independent chains of 256-bit vfmadd (enough to cover the FMA latency on
 * both pipes of a Zen 3 or Intel core), timed in thread CPU time. Prints GFLOP/s (2 per lane).
 *
 * Build: make bench (compiled with the AVX2 flags: the file name ends in _avx2).
 * Run: build/bench/fma_peak_avx2
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
    const long iters = 100000000;
    const __m256 b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-4f);
    __m256 a0 = _mm256_set1_ps(0.0f), a1 = _mm256_set1_ps(0.1f), a2 = _mm256_set1_ps(0.2f),
           a3 = _mm256_set1_ps(0.3f), a4 = _mm256_set1_ps(0.4f), a5 = _mm256_set1_ps(0.5f),
           a6 = _mm256_set1_ps(0.6f), a7 = _mm256_set1_ps(0.7f), a8 = _mm256_set1_ps(0.8f),
           a9 = _mm256_set1_ps(0.9f), a10 = _mm256_set1_ps(1.0f), a11 = _mm256_set1_ps(1.1f);
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = cpu();
        for (long n = 0; n < iters; n++) {
            a0 = _mm256_fmadd_ps(a0, b, c), a1 = _mm256_fmadd_ps(a1, b, c);
            a2 = _mm256_fmadd_ps(a2, b, c), a3 = _mm256_fmadd_ps(a3, b, c);
            a4 = _mm256_fmadd_ps(a4, b, c), a5 = _mm256_fmadd_ps(a5, b, c);
            a6 = _mm256_fmadd_ps(a6, b, c), a7 = _mm256_fmadd_ps(a7, b, c);
            a8 = _mm256_fmadd_ps(a8, b, c), a9 = _mm256_fmadd_ps(a9, b, c);
            a10 = _mm256_fmadd_ps(a10, b, c), a11 = _mm256_fmadd_ps(a11, b, c);
        }
        double gf = (double)iters * 12 * 16 / (cpu() - t0) / 1e9;
        if (gf > best) best = gf;
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    printf("f32 FMA peak, one core: %.1f GFLOP/s (best of 3; checksum %g)\n", best, (double)out[0]);
    return 0;
}
