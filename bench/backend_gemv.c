/* backend_gemv.c — a backend's matmul op on decode shapes, as the forward pass calls it: GB/s of
 * weights (codes + scales + biases as stored) for 1, 4 and 8 tokens, per code width, against the
 * machine's own copy bandwidth measured in the same run (CUDA: a device-to-device copy, counting
 * bytes read and written). Weights are cycled through copies totalling > 4x the L2 (or LLC), so
 * each call reads its matrix from memory, as a decode step does. Times: --reps calls after a
 * warm-up, the whole loop closed by a 4-byte to_host (which waits for the device), per call.
 *
 * Build: make bench (CUDA=1 for the cuda backend). Run:
 *   build/bench/backend_gemv [--backend cuda] [--rows 4096] [--cols 14336] [--bits 2,3,4,5,6,8]
 *     [--group 64] [--reps 200]
 * Results: docs/PERFORMANCE.md "CUDA".
 */
#include "../src/backend/backend.h"
#include "jang.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef JANG_CUDA
#include <cuda_runtime_api.h>
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rs = 88172645463325252ull;
static uint32_t rnd(void) {
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return (uint32_t)rs;
}

/* Device-to-device copy GB/s (read + write), the ceiling a GEMV's bytes are measured against. */
static double copy_gbs(void) {
#ifdef JANG_CUDA
    size_t n = (size_t)1 << 30;
    void *a = NULL, *b = NULL;
    if (cudaMalloc(&a, n) || cudaMalloc(&b, n)) return 0;
    cudaMemset(a, 1, n);
    cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice);
    cudaDeviceSynchronize();
    double t0 = now_s();
    for (int i = 0; i < 10; i++)
        cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice);
    cudaDeviceSynchronize();
    double t = (now_s() - t0) / 10;
    cudaFree(a), cudaFree(b);
    return 2.0 * (double)n / t / 1e9;
#else
    return 0;
#endif
}

int main(int argc, char **argv) {
    const char *bname = "cuda", *bits_s = "2,3,4,5,6,8";
    int64_t rows = 4096, cols = 14336;
    int group = 64, reps = 200;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--backend"))
            bname = argv[i + 1];
        else if (!strcmp(argv[i], "--rows"))
            rows = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--cols"))
            cols = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--bits"))
            bits_s = argv[i + 1];
        else if (!strcmp(argv[i], "--group"))
            group = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
        else
            return fprintf(stderr, "unknown option %s\n", argv[i]), 2;
    }
    if (rows < 1 || cols < group || cols % group || reps < 1)
        return fprintf(stderr, "bad sizes\n"), 2;
    const jang_backend_i *B = jang_backend_find(bname);
    jang_backend *be = NULL;
    jang_backend_opts bo = {0, NULL};
    if (!B || B->create(&bo, &be)) return fprintf(stderr, "%s\n", jang_last_error()), 1;
    double peak = !strcmp(bname, "cuda") ? copy_gbs() : 0;
    printf("backend_gemv: %s, %lld x %lld, group %d; device copy %.0f GB/s (read + write)\n\n",
           B->describe(be), (long long)rows, (long long)cols, group, peak);
    printf("| weights | bytes MB | tokens | us / call | GB/s | %% of copy "
           "|\n|---|---:|---:|---:|---:|---:|\n");
    float *x = NULL, *y = NULL, one;
    float *hx = malloc((size_t)(8 * cols) * sizeof(float));
    for (int64_t i = 0; i < 8 * cols; i++)
        hx[i] = (float)(rnd() % 2001) / 1000.0f - 1.0f;
    if (B->alloc(be, (size_t)(8 * cols) * 4, (void **)&x) ||
        B->alloc(be, (size_t)(8 * rows) * 4, (void **)&y) ||
        B->from_host(be, x, hx, (size_t)(8 * cols) * 4))
        return fprintf(stderr, "%s\n", jang_last_error()), 1;
    for (const char *p = bits_s; *p;) {
        int bits = atoi(p); /* 16: plain f16 */
        while (*p && *p != ',')
            p++;
        if (*p) p++;
        jang_weight w = {.rows = rows, .cols = cols};
        size_t cb, sb = 0;
        if (bits == 16) {
            w.kind = JANG_WK_F16, cb = (size_t)(rows * cols) * 2;
        } else {
            w.kind = JANG_WK_AFFINE, w.bits = bits, w.group = group, w.sdtype = JANG_DT_F16;
            cb = (size_t)(rows * cols * bits / 8), sb = (size_t)(rows * (cols / group)) * 2;
        }
        uint8_t *codes = malloc(cb);
        uint16_t *sc = malloc(sb + 2), *bi = malloc(sb + 2);
        for (size_t i = 0; i < cb; i++)
            codes[i] = (uint8_t)rnd();
        if (bits == 16)
            for (size_t i = 0; i < cb / 2; i++)
                ((uint16_t *)codes)[i] = 0x3000 + (uint16_t)(rnd() % 0x800); /* small f16 */
        for (size_t i = 0; i < sb / 2; i++)
            sc[i] = 0x1800 + (uint16_t)(rnd() % 0x400), bi[i] = 0x9800 + (uint16_t)(rnd() % 0x400);
        const double bytes = (double)cb + 2.0 * (double)sb;
        const int copies = (int)(4 * 60e6 / bytes) + 2; /* > 4x a 60 MB L2 */
        jang_weight *ws = malloc((size_t)copies * sizeof *ws);
        void **own = malloc((size_t)copies * sizeof *own);
        for (int c = 0; c < copies; c++) {
            ws[c] = w;
            ws[c].data = codes, ws[c].scales = sc, ws[c].biases = bi;
            if (B->place_weight(be, &ws[c], &own[c]))
                return fprintf(stderr, "%s\n", jang_last_error()), 1;
        }
        static const int toks[] = {1, 4, 8};
        for (int k = 0; k < 3; k++) {
            for (int i = 0; i < 10; i++)
                B->matmul(be, &ws[i % copies], x, toks[k], NULL, y, true);
            B->to_host(be, &one, y, 4);
            double t0 = now_s();
            for (int i = 0; i < reps; i++)
                B->matmul(be, &ws[i % copies], x, toks[k], NULL, y, true);
            B->to_host(be, &one, y, 4);
            double t = (now_s() - t0) / reps;
            char name[32];
            snprintf(name, sizeof name, bits == 16 ? "f16" : "%d-bit", bits);
            printf("| %s | %.1f | %d | %.2f | %.0f | %.0f%% |\n", name, bytes / 1e6, toks[k],
                   t * 1e6, bytes / t / 1e9, peak > 0 ? 100.0 * bytes / t / 1e9 / peak : 0.0);
        }
        for (int c = 0; c < copies; c++)
            B->release(be, own[c]);
        free(ws), free(own), free(codes), free(sc), free(bi);
    }
    B->release(be, x), B->release(be, y);
    B->free(be);
    free(hx);
    return 0;
}
