/* backend.h — where the forward pass's operations run: a backend is a table of ops with a
 * capability query (ggml's ggml_backend_i + supports_op), so the forward pass (src/model/forward.c)
 * says *what* happens and the backend decides *where* and *how*.
 *
 * Memory: activations, KV caches and placed weights are backend memory, named by plain pointers
 * that only the backend dereferences (host memory for the CPU backend, device memory for a GPU
 * backend). The caller never reads them; data crosses with from_host / to_host. Host-side
 * arguments (token ids, positions, sequence lists) are passed by value or as host arrays.
 *
 * Instances: one per context (each owns its worker pool and scratch, so contexts run in parallel
 * threads); the model keeps one for placing its weights. An instance is used by one thread at a
 * time. Every op returns a status (JANG_E_NOMEM when scratch cannot grow, never an abort).
 *
 * Adding a backend: implement jang_backend_i in src/backend/backend_<name>.c and add it to the
 * registry in backend.c; nothing in src/model/ changes. Tested by tests/test_backend.c (every op
 * of every backend against the scalar reference) and through the model tests.
 */
#ifndef JANG_BACKEND_H
#define JANG_BACKEND_H

#include "../quant/weight.h"
#include "jang.h"

/* The ops of the table: X(enum suffix, name). */
#define JANG_OP_MAP(X)                                                                             \
    X(EMBED, "embed")                                                                              \
    X(RMSNORM, "rmsnorm")                                                                          \
    X(MATMUL, "matmul")                                                                            \
    X(ROPE, "rope")                                                                                \
    X(KV_STORE, "kv_store")                                                                        \
    X(ATTENTION, "attention")                                                                      \
    X(GLU, "glu")                                                                                  \
    X(ADD, "add")                                                                                  \
    X(SCALE, "scale")                                                                              \
    X(GATHER, "gather")                                                                            \
    X(SCATTER_ADD, "scatter_add")

typedef enum {
#define JANG_X_(e, s) JANG_OP_##e,
    JANG_OP_MAP(JANG_X_)
#undef JANG_X_
        JANG_OP_COUNT
} jang_op;

const char *jang_op_name(jang_op op);

/* The gated FFN's activation (arch.h's traits choose it). */
typedef enum {
    JANG_GLU_SILU,      /* a = silu(a) * b (SwiGLU) */
    JANG_GLU_GELU_TANH, /* a = gelu_tanh(a) * b (GeGLU) */
} jang_glu_kind;

/* RoPE of one forward step: per token its position; rotated dims per head; inverse frequencies
 * (dims/2 floats, backend memory, from jang_backend_i.from_host) and the YaRN factor on cos/sin. */
typedef struct jang_rope_desc {
    int64_t rope_dim;
    bool neox; /* pairs (i, i + d/2) as transformers' rotate_half; false: (2i, 2i+1) */
    const float *inv_freq;
    float mscale;
} jang_rope_desc;

/* One sequence of a forward step: its tokens are rows t0 .. t0+n-1 of the step's activations, at
 * positions pos .. pos+n-1; k and v are this layer's cache (max positions x kv_dim, backend
 * memory) of its context. Several sequences make a batched step. */
typedef struct jang_seq_view {
    float *k, *v;
    int64_t pos, t0, n;
} jang_seq_view;

/* Attention geometry (GQA: n_heads query heads share n_kv_heads key/value heads). */
typedef struct jang_attn_desc {
    int64_t n_heads, n_kv_heads, head_dim;
    float scale; /* on q.k: 1/sqrt(head_dim) */
} jang_attn_desc;

typedef struct jang_backend jang_backend;

typedef struct jang_backend_opts {
    int n_threads;   /* CPU worker threads; <= 0: one per CPU */
    const char *isa; /* CPU: kernel table ("scalar", "avx2", ...); NULL: JANG_ISA, else the best */
} jang_backend_opts;

typedef struct jang_backend_i {
    const char *name;
    jang_status (*create)(const jang_backend_opts *o, jang_backend **out);
    void (*free)(jang_backend *be);
    /* A human-readable description ("cpu avx2, 8 threads"). */
    const char *(*describe)(const jang_backend *be);
    /* Whether the op can run here; for MATMUL and EMBED, on this weight (NULL: any). */
    bool (*supports)(const jang_backend *be, jang_op op, const jang_weight *w);

    /* ---- memory */
    jang_status (*alloc)(jang_backend *be, size_t bytes, void **out); /* zeroed */
    void (*release)(jang_backend *be, void *p);                       /* NULL is fine */
    jang_status (*from_host)(jang_backend *be, void *dst, const void *src, size_t bytes);
    jang_status (*to_host)(jang_backend *be, void *dst, const void *src, size_t bytes);
    /* Makes a weight read by the ops: may copy its data to backend memory and repoint w (the host
     * data stays valid until the model closes); *owned receives what release must free (NULL
     * when w still points at host memory). */
    jang_status (*place_weight)(jang_backend *be, jang_weight *w, void **owned);

    /* ---- ops (every pointer argument is backend memory unless it says host) */
    /* out[t] = row tokens[t] of w, for n tokens (host ids, already range-checked). */
    jang_status (*embed)(jang_backend *be, const jang_weight *w, const int32_t *tokens, int64_t n,
                         float *out);
    /* out[r] = (offset + w) * x[r] / rms(x[r]) for rows of `width`; out may be x. */
    jang_status (*rmsnorm)(jang_backend *be, float *out, const float *x, const float *w,
                           int64_t rows, int64_t width, float eps, float offset);
    /* y (n, rows) = x (n, cols) · Wᵀ (+ bias (rows) when not NULL). invariant: each token's row
     * must be bit-identical to what the one-token call gives (the tokens are different sequences
     * of a batched step); otherwise they are one sequence's and may take a faster path. */
    jang_status (*matmul)(jang_backend *be, const jang_weight *w, const float *x, int64_t n,
                          const float *bias, float *y, bool invariant);
    /* Rotates, in place, n_heads heads of head_dim floats in each of n tokens (row stride
     * n_heads * head_dim) at positions pos[t] (host). */
    jang_status (*rope)(jang_backend *be, float *x, int64_t n, int64_t n_heads, int64_t head_dim,
                        const int64_t *pos, const jang_rope_desc *r);
    /* Writes rows t0.. of k and v (kv_dim floats each) into each sequence's cache at its
     * positions. */
    jang_status (*kv_store)(jang_backend *be, const float *k, const float *v, int64_t kv_dim,
                            const jang_seq_view *seqs, int n_seqs);
    /* Causal attention of every sequence's tokens over its cache (positions 0 .. pos+u for
     * token u): out rows like q's (n_heads * head_dim). */
    jang_status (*attention)(jang_backend *be, const float *q, const jang_seq_view *seqs,
                             int n_seqs, const jang_attn_desc *a, float *out);
    /* a[i] = act(a[i]) * b[i] for i < n. */
    jang_status (*glu)(jang_backend *be, jang_glu_kind act, float *a, const float *b, int64_t n);
    /* x[i] += y[i]. */
    jang_status (*add)(jang_backend *be, float *x, const float *y, int64_t n);
    /* x[i] *= s. */
    jang_status (*scale)(jang_backend *be, float *x, float s, int64_t n);
    /* dst[i] = src[idx[i]] for n rows of `width` floats (idx host): tokens to their experts. */
    jang_status (*gather)(jang_backend *be, float *dst, const float *src, const int32_t *idx,
                          int64_t n, int64_t width);
    /* dst[idx[i]] += wt[i] * src[i] for n rows of `width` (idx, wt host; idx may repeat): expert
     * outputs back to their tokens, weighted by the router. */
    jang_status (*scatter_add)(jang_backend *be, float *dst, const float *src, const int32_t *idx,
                               const float *wt, int64_t n, int64_t width);
} jang_backend_i;

struct jang_backend {
    const jang_backend_i *i;
};

/* The backend named `name` ("cpu"); NULL with error detail for an unknown or unbuilt one. */
const jang_backend_i *jang_backend_find(const char *name);
/* Names of the backends built in, for messages ("cpu"). */
const char *jang_backend_names(void);

extern const jang_backend_i jang_backend_cpu;
#ifdef JANG_CUDA
extern const jang_backend_i jang_backend_cuda; /* backend_cuda.c, `make CUDA=1` */
#endif

#endif
