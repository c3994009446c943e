/* cuda_ops.cu — the CUDA kernels behind the CUDA backend, correct first (tests/test_cuda.c checks
 * each against the CPU backend on random data, outputs poisoned before each run):
 *   - affine matmul: a block per 4 output rows, its 8 warps splitting the rows' 32-code chunks (a
 *     chunk lies inside one group, since every group size is a multiple of 32); a lane unpacks a
 *     chunk's codes from its BITS 32-bit words with shifts known at compile time and adds
 *     scale * q·x + bias * Σx for each of the 4 rows, the chunk's activations loaded once for the
 *     4, for up to 8 tokens per pass over the weights; the partial sums are reduced in a fixed
 *     order, so a token's result does not depend on the other tokens of the call (batch
 *     invariance).
 *     One instantiation per (bits, group) of the width list in src/format/format.h.
 *   - plain F32/F16/BF16 matmul: the same shape, the threads striding the columns.
 *   - embed, RMSNorm, RoPE, attention (a block per (token, head): scores, softmax, P·V in three
 *     passes over a scratch row), GLU, add, scale, gather, scatter-add.
 * Prompt tokens go through the same matmul (8 tokens per pass): tensor-core GEMM is the next step
 * (docs/PERFORMANCE.md says how far this is from the machine's limits).
 */
#include "../format/format.h"
#include "cuda_ops.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

static __device__ __forceinline__ float half_at(const uint16_t *p, int64_t i, bool bf16) {
    uint16_t v = p[i];
    if (bf16) return __uint_as_float((uint32_t)v << 16);
    return __half2float(__ushort_as_half(v));
}

static __device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Code k (0..31) of a 32-code chunk held in BITS words. */
template <int BITS> static __device__ __forceinline__ uint32_t code_at(const uint32_t *w, int k) {
    const int bit = k * BITS, i = bit >> 5, sh = bit & 31;
    uint32_t v = w[i] >> sh;
    if (sh + BITS > 32) v |= w[i + 1] << (32 - sh);
    return v & ((1u << BITS) - 1u);
}

/* R rows per block of WARPS warps; the warps split the row's 32-code chunks (split-K inside the
 * block), each lane holds one chunk's x (per token) in registers and applies it to the R rows, so
 * activations are read once per R rows; partial sums are reduced in a fixed order (lane, warp). */
#define AFF_R 4
#define AFF_WARPS 8
template <int NT> static __device__ __forceinline__ void zero_acc(float (&acc)[AFF_R][NT]) {
#pragma unroll
    for (int r = 0; r < AFF_R; r++)
#pragma unroll
        for (int t = 0; t < NT; t++)
            acc[r][t] = 0.0f;
}

/* The end of a matmul pass: each (row, token) sum reduced over the lanes, then over the warps, in
 * a fixed order (the same whatever the number of tokens: batch invariance), plus the bias. */
template <int NT>
static __device__ __forceinline__ void
reduce_store(const float (&acc)[AFF_R][NT], float (*red)[AFF_R * NT], int nt, int64_t r0,
             int64_t rows, int64_t t0, const float *bias, float *y) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
#pragma unroll
    for (int r = 0; r < AFF_R; r++)
#pragma unroll
        for (int t = 0; t < NT; t++)
            if (t < nt) { /* uniform across the warp */
                const float v = warp_sum(acc[r][t]);
                if (lane == 0) red[warp][r * NT + t] = v;
            }
    __syncthreads();
    if (threadIdx.x < AFF_R * NT) {
        const int r = threadIdx.x / NT, t = threadIdx.x % NT;
        float v = 0.0f;
        for (int i = 0; i < nw; i++)
            v += red[i][threadIdx.x];
        if (t < nt && r0 + r < rows) y[(t0 + t) * rows + r0 + r] = v + (bias ? bias[r0 + r] : 0.0f);
    }
    __syncthreads();
}

template <int BITS, int GROUP, int NT>
__global__ void __launch_bounds__(AFF_WARPS * 32, NT == 1 ? (BITS <= 4 ? 4 : 3) : 2)
    affine_matmul(const uint32_t *codes, const uint16_t *scales, const uint16_t *biases, bool bf16,
                  int64_t rows, int64_t cols, const float *x, int64_t n, const float *bias,
                  float *y) {
    __shared__ float red[AFF_WARPS][AFF_R * NT];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    const int64_t r0 = (int64_t)blockIdx.x * AFF_R;
    const int64_t chunks = cols / 32, ng = cols / GROUP, wpr = cols * BITS / 32;
    for (int64_t t0 = 0; t0 < n; t0 += NT) {
        const int nt = n - t0 < NT ? (int)(n - t0) : NT;
        float acc[AFF_R][NT];
        zero_acc<NT>(acc);
        for (int64_t c = warp * 32 + lane; c < chunks; c += nw * 32) {
            uint32_t w[AFF_R][BITS];
            float s[AFF_R], b[AFF_R];
            const int64_t g = c * 32 / GROUP;
#pragma unroll
            for (int r = 0; r < AFF_R; r++) {
                const bool in = r0 + r < rows;
                const uint32_t *row = codes + (r0 + r) * wpr + c * BITS;
#pragma unroll
                for (int i = 0; i < BITS; i++)
                    w[r][i] = in ? __ldg(row + i) : 0u;
                s[r] = in ? half_at(scales, (r0 + r) * ng + g, bf16) : 0.0f;
                b[r] = in ? half_at(biases, (r0 + r) * ng + g, bf16) : 0.0f;
            }
#pragma unroll
            for (int t = 0; t < NT; t++) {
                if (t < nt) {
                    const float4 *xv = (const float4 *)(x + (t0 + t) * cols + c * 32);
                    float xs[32];
#pragma unroll
                    for (int k = 0; k < 8; k++) {
                        const float4 v = __ldg(xv + k);
                        xs[4 * k] = v.x, xs[4 * k + 1] = v.y, xs[4 * k + 2] = v.z,
                               xs[4 * k + 3] = v.w;
                    }
                    float sx = 0.0f;
#pragma unroll
                    for (int k = 0; k < 32; k++)
                        sx += xs[k];
#pragma unroll
                    for (int r = 0; r < AFF_R; r++) {
                        float qx = 0.0f;
#pragma unroll
                        for (int k = 0; k < 32; k++) /* 2^23 + q as float, minus 2^23: exact */
                            qx += (__uint_as_float(0x4B000000u | code_at<BITS>(w[r], k)) -
                                   8388608.0f) *
                                  xs[k];
                        acc[r][t] += s[r] * qx + b[r] * sx;
                    }
                }
            }
        }
        reduce_store<NT>(acc, red, nt, r0, rows, t0, bias, y);
    }
}

template <typename T> static __device__ __forceinline__ float to_f(T v);
template <> __device__ __forceinline__ float to_f<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 v) {
    return __bfloat162float(v);
}

/* Plain weights: the affine kernel's shape (a block per AFF_R rows, the threads striding the
 * columns, each activation loaded once for the AFF_R rows, a fixed-order reduction). */
template <typename T, int NT>
__global__ void __launch_bounds__(AFF_WARPS * 32, NT == 1 ? 4 : 2)
    plain_matmul(const T *wt, int64_t rows, int64_t cols, const float *x, int64_t n,
                 const float *bias, float *y) {
    __shared__ float red[AFF_WARPS][AFF_R * NT];
    const int64_t r0 = (int64_t)blockIdx.x * AFF_R;
    for (int64_t t0 = 0; t0 < n; t0 += NT) {
        const int nt = n - t0 < NT ? (int)(n - t0) : NT;
        float acc[AFF_R][NT];
        zero_acc<NT>(acc);
        for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
            float wv[AFF_R];
#pragma unroll
            for (int r = 0; r < AFF_R; r++)
                wv[r] = r0 + r < rows ? to_f<T>(wt[(r0 + r) * cols + c]) : 0.0f;
#pragma unroll
            for (int t = 0; t < NT; t++)
                if (t < nt) {
                    const float xv = __ldg(x + (t0 + t) * cols + c);
#pragma unroll
                    for (int r = 0; r < AFF_R; r++)
                        acc[r][t] += wv[r] * xv;
                }
        }
        reduce_store<NT>(acc, red, nt, r0, rows, t0, bias, y);
    }
}

extern "C" int jang_cu_affine_supported(int bits, int group) {
#define G_(g) || group == g
#define B_(b) || bits == b
    return (0 JANG_AFFINE_BITS_MAP(B_)) && (0 JANG_AFFINE_GROUPS_MAP(G_));
#undef G_
#undef B_
}

template <int NT>
static int launch_matmul(const jang_weight *w, const float *x, int64_t n, const float *bias,
                         float *y, dim3 grid, dim3 block, cudaStream_t st);

extern "C" int jang_cu_matmul(const jang_weight *w, const float *x, int64_t n, const float *bias,
                              float *y, jang_cu_stream stream) {
    if (n <= 0 || w->rows <= 0) return 0;
    /* warps per block: enough for the row's chunks (affine: 32 codes each) or columns, <= 8 */
    const int64_t units = w->kind == JANG_WK_AFFINE ? w->cols / 32 : w->cols / 4;
    const int warps = units >= 32 * AFF_WARPS      ? AFF_WARPS
                      : (int)(units + 31) / 32 > 0 ? (int)(units + 31) / 32
                                                   : 1;
    const dim3 grid((unsigned)((w->rows + AFF_R - 1) / AFF_R)), block(32 * warps);
    cudaStream_t st = (cudaStream_t)stream;
    /* tokens per pass over the weights: 1 (decode), 4 or 8; fewer accumulators, more warps */
    if (n == 1) return launch_matmul<1>(w, x, n, bias, y, grid, block, st);
    if (n <= 4) return launch_matmul<4>(w, x, n, bias, y, grid, block, st);
    return launch_matmul<8>(w, x, n, bias, y, grid, block, st);
}

template <int NT>
static int launch_matmul(const jang_weight *w, const float *x, int64_t n, const float *bias,
                         float *y, dim3 grid, dim3 block, cudaStream_t st) {
    switch (w->kind) {
    case JANG_WK_F32:
        plain_matmul<float, NT>
            <<<grid, block, 0, st>>>((const float *)w->data, w->rows, w->cols, x, n, bias, y);
        break;
    case JANG_WK_F16:
        plain_matmul<__half, NT>
            <<<grid, block, 0, st>>>((const __half *)w->data, w->rows, w->cols, x, n, bias, y);
        break;
    case JANG_WK_BF16:
        plain_matmul<__nv_bfloat16, NT><<<grid, block, 0, st>>>((const __nv_bfloat16 *)w->data,
                                                                w->rows, w->cols, x, n, bias, y);
        break;
    case JANG_WK_AFFINE: {
        const bool bf16 = w->sdtype == JANG_DT_BF16;
        const uint32_t *codes = (const uint32_t *)w->data;
#define CASE_G_(g)                                                                                 \
    case g:                                                                                        \
        affine_matmul<bits_, g, NT><<<grid, block, 0, st>>>(codes, w->scales, w->biases, bf16,     \
                                                            w->rows, w->cols, x, n, bias, y);      \
        break;
#define CASE_B_(b)                                                                                 \
    case b: {                                                                                      \
        constexpr int bits_ = b;                                                                   \
        switch (w->group) {                                                                        \
            JANG_AFFINE_GROUPS_MAP(CASE_G_)                                                        \
        default:                                                                                   \
            return (int)cudaErrorInvalidValue;                                                     \
        }                                                                                          \
        break;                                                                                     \
    }
        switch (w->bits) {
            JANG_AFFINE_BITS_MAP(CASE_B_)
        default:
            return (int)cudaErrorInvalidValue;
        }
#undef CASE_B_
#undef CASE_G_
        break;
    }
    }
    return (int)cudaGetLastError();
}

/* ---- embedding ---------------------------------------------------------------------------- */

__global__ void embed_kernel(jang_weight w, const int32_t *tok, float *out) {
    const int64_t t = blockIdx.x, r = tok[t], cols = w.cols;
    float *o = out + t * cols;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
        float v;
        if (w.kind == JANG_WK_F32) {
            v = ((const float *)w.data)[r * cols + c];
        } else if (w.kind == JANG_WK_F16 || w.kind == JANG_WK_BF16) {
            v = half_at((const uint16_t *)w.data, r * cols + c, w.kind == JANG_WK_BF16);
        } else {
            const uint8_t *row = (const uint8_t *)w.data + r * (cols * w.bits / 8);
            const int64_t bit = c * w.bits;
            uint32_t u = row[bit >> 3];
            if ((bit & 7) + w.bits > 8) u |= (uint32_t)row[(bit >> 3) + 1] << 8;
            const float q = (float)((u >> (bit & 7)) & ((1u << w.bits) - 1u));
            const int64_t ng = cols / w.group, g = r * ng + c / w.group;
            const bool bf = w.sdtype == JANG_DT_BF16;
            v = half_at(w.scales, g, bf) * q + half_at(w.biases, g, bf);
        }
        o[c] = v;
    }
}

extern "C" int jang_cu_embed(const jang_weight *w, const int32_t *tok, int64_t n, float *out,
                             jang_cu_stream stream) {
    if (n <= 0) return 0;
    embed_kernel<<<(unsigned)n, 256, 0, (cudaStream_t)stream>>>(*w, tok, out);
    return (int)cudaGetLastError();
}

/* ---- norms, RoPE, element-wise -------------------------------------------------------------- */

static __device__ float block_sum(float v, float *sh) {
    v = warp_sum(v);
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    __syncthreads();
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    float s = 0.0f;
    for (int i = 0; i < nw; i++)
        s += sh[i];
    return s;
}

static __device__ float block_max(float v, float *sh) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    __syncthreads();
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    float m = sh[0];
    for (int i = 1; i < nw; i++)
        m = fmaxf(m, sh[i]);
    return m;
}

__global__ void rmsnorm_kernel(float *out, const float *x, const float *w, int64_t width, float eps,
                               float offset) {
    __shared__ float sh[32];
    const float *xr = x + (int64_t)blockIdx.x * width;
    float *o = out + (int64_t)blockIdx.x * width;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x)
        ss += xr[i] * xr[i];
    const float inv = rsqrtf(block_sum(ss, sh) / (float)width + eps);
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x)
        o[i] = (offset + w[i]) * (xr[i] * inv);
}

extern "C" int jang_cu_rmsnorm(float *out, const float *x, const float *w, int64_t rows,
                               int64_t width, float eps, float offset, jang_cu_stream stream) {
    if (rows <= 0) return 0;
    rmsnorm_kernel<<<(unsigned)rows, 256, 0, (cudaStream_t)stream>>>(out, x, w, width, eps, offset);
    return (int)cudaGetLastError();
}

__global__ void rope_kernel(float *x, int64_t n_heads, int64_t hd, const int64_t *pos, int64_t half,
                            int neox, const float *inv_freq, float mscale) {
    const int64_t t = blockIdx.x / n_heads, h = blockIdx.x % n_heads;
    float *p = x + (t * n_heads + h) * hd;
    const int64_t step = neox ? 1 : 2, other = neox ? half : 1;
    for (int64_t i = threadIdx.x; i < half; i += blockDim.x) {
        const float ang = (float)pos[t] * inv_freq[i];
        const float c = cosf(ang) * mscale, s = sinf(ang) * mscale;
        float *q = p + i * step;
        const float x0 = q[0], x1 = q[other];
        q[0] = x0 * c - x1 * s;
        q[other] = x1 * c + x0 * s;
    }
}

extern "C" int jang_cu_rope(float *x, int64_t n, int64_t n_heads, int64_t hd, const int64_t *pos,
                            int64_t rope_dim, int neox, const float *inv_freq, float mscale,
                            jang_cu_stream stream) {
    if (n <= 0 || rope_dim < 2) return 0;
    rope_kernel<<<(unsigned)(n * n_heads), 64, 0, (cudaStream_t)stream>>>(
        x, n_heads, hd, pos, rope_dim / 2, neox, inv_freq, mscale);
    return (int)cudaGetLastError();
}

/* One block per (token, head): scores over the token's visible positions into its scratch row,
 * softmax, then out[d] = sum_j p_j v_j[d] with the threads over d. */
__global__ void attention_kernel(const float *q, const jang_cu_tok *toks, int64_t n_heads,
                                 int64_t n_kv_heads, int64_t hd, float scale, int64_t max_len,
                                 float *scores, float *out) {
    __shared__ float sh[32];
    extern __shared__ float qs[];
    const int64_t t = blockIdx.x / n_heads, h = blockIdx.x % n_heads;
    const int64_t kvh = h / (n_heads / n_kv_heads), kvd = n_kv_heads * hd;
    const jang_cu_tok tk = toks[t];
    const float *qh = q + (t * n_heads + h) * hd;
    for (int64_t d = threadIdx.x; d < hd; d += blockDim.x)
        qs[d] = qh[d];
    __syncthreads();
    float *sc = scores + (t * n_heads + h) * max_len;
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < tk.len; j += blockDim.x) {
        const float *kj = tk.k + j * kvd + kvh * hd;
        float s = 0.0f;
        for (int64_t d = 0; d < hd; d++)
            s += qs[d] * kj[d];
        s *= scale;
        sc[j] = s;
        mx = fmaxf(mx, s);
    }
    mx = block_max(mx, sh);
    float sum = 0.0f;
    for (int64_t j = threadIdx.x; j < tk.len; j += blockDim.x) {
        const float e = __expf(sc[j] - mx);
        sc[j] = e;
        sum += e;
    }
    const float inv = 1.0f / block_sum(sum, sh);
    __syncthreads(); /* every sc[j] written before any thread reads them all */
    float *o = out + (t * n_heads + h) * hd;
    for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) {
        const float *vd = tk.v + kvh * hd + d;
        float acc = 0.0f;
        for (int64_t j = 0; j < tk.len; j++)
            acc += sc[j] * vd[j * kvd];
        o[d] = acc * inv;
    }
}

extern "C" int jang_cu_attention(const float *q, const jang_cu_tok *toks, int64_t n,
                                 int64_t n_heads, int64_t n_kv_heads, int64_t hd, float scale,
                                 int64_t max_len, float *scores, float *out,
                                 jang_cu_stream stream) {
    if (n <= 0) return 0;
    attention_kernel<<<(unsigned)(n * n_heads), 128, (size_t)hd * sizeof(float),
                       (cudaStream_t)stream>>>(q, toks, n_heads, n_kv_heads, hd, scale, max_len,
                                               scores, out);
    return (int)cudaGetLastError();
}

__global__ void glu_kernel(int act, float *a, const float *b, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const float x = a[i];
        float g;
        if (act == 0)
            g = x / (1.0f + expf(-x));
        else
            g = 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
        a[i] = g * b[i];
    }
}

__global__ void add_kernel(float *x, const float *y, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        x[i] += y[i];
}

__global__ void scale_kernel(float *x, float s, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        x[i] *= s;
}

static unsigned blocks_for(int64_t n) {
    int64_t b = (n + 255) / 256;
    return (unsigned)(b < 4096 ? (b > 0 ? b : 1) : 4096);
}

extern "C" int jang_cu_glu(int act, float *a, const float *b, int64_t n, jang_cu_stream stream) {
    if (n <= 0) return 0;
    glu_kernel<<<blocks_for(n), 256, 0, (cudaStream_t)stream>>>(act, a, b, n);
    return (int)cudaGetLastError();
}

extern "C" int jang_cu_add(float *x, const float *y, int64_t n, jang_cu_stream stream) {
    if (n <= 0) return 0;
    add_kernel<<<blocks_for(n), 256, 0, (cudaStream_t)stream>>>(x, y, n);
    return (int)cudaGetLastError();
}

extern "C" int jang_cu_scale(float *x, float s, int64_t n, jang_cu_stream stream) {
    if (n <= 0) return 0;
    scale_kernel<<<blocks_for(n), 256, 0, (cudaStream_t)stream>>>(x, s, n);
    return (int)cudaGetLastError();
}

__global__ void gather_kernel(float *dst, const float *src, const int32_t *idx, int64_t width) {
    const int64_t i = blockIdx.x;
    for (int64_t c = threadIdx.x; c < width; c += blockDim.x)
        dst[i * width + c] = src[(int64_t)idx[i] * width + c];
}

__global__ void scatter_add_kernel(float *dst, const float *src, const int32_t *idx,
                                   const float *wt, int64_t width) {
    const int64_t i = blockIdx.x;
    for (int64_t c = threadIdx.x; c < width; c += blockDim.x)
        atomicAdd(&dst[(int64_t)idx[i] * width + c], wt[i] * src[i * width + c]);
}

extern "C" int jang_cu_gather(float *dst, const float *src, const int32_t *idx, int64_t n,
                              int64_t width, jang_cu_stream stream) {
    if (n <= 0) return 0;
    gather_kernel<<<(unsigned)n, 256, 0, (cudaStream_t)stream>>>(dst, src, idx, width);
    return (int)cudaGetLastError();
}

extern "C" int jang_cu_scatter_add(float *dst, const float *src, const int32_t *idx,
                                   const float *wt, int64_t n, int64_t width,
                                   jang_cu_stream stream) {
    if (n <= 0) return 0;
    scatter_add_kernel<<<(unsigned)n, 256, 0, (cudaStream_t)stream>>>(dst, src, idx, wt, width);
    return (int)cudaGetLastError();
}
