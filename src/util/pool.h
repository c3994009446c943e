/* pool.h — a persistent worker pool for data-parallel loops (matmuls over rows, attention over
 * heads). Threads are created once; each jang_pool_run wakes them, runs fn(ctx, i, n) exactly once
 * for each share i = 0..n-1 (n = thread count) and returns when all are done. Share i normally
 * runs on worker i (the caller is worker 0), but a thread that finishes early takes over shares
 * whose thread has not started yet (pool.c), so fn must depend on i only, never on which thread
 * runs it. Waiting threads spin briefly before sleeping, so the back-to-back runs of a decode step
 * (hundreds per token) do not each pay a futex wake-up. Each share also owns a scratch buffer
 * that grows on demand and lives as long as the pool (no per-call malloc in the kernels).
 * Tested by tests/test_util.c.
 */
#ifndef JANG_POOL_H
#define JANG_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct jang_pool jang_pool;
typedef void (*jang_pool_fn)(void *ctx, int worker, int n_workers);

/* n_threads <= 0 means one per online CPU. Returns NULL (with error detail) on failure. */
jang_pool *jang_pool_create(int n_threads);
void jang_pool_free(jang_pool *p);
int jang_pool_size(const jang_pool *p);
/* Runs fn on every worker and waits. Not reentrant: call from one thread at a time. */
void jang_pool_run(jang_pool *p, jang_pool_fn fn, void *ctx);

/* A 64-byte aligned buffer of at least `bytes` owned by the pool: slot 0..n-1 belongs to share
 * `slot` (use it only from inside fn for that share), slot n (JANG_POOL_SHARED) to the calling
 * thread between runs (shares may read it during a run). Contents persist between calls until
 * the slot grows. Returns NULL (with error detail) when memory runs out. */
#define JANG_POOL_SHARED(p) jang_pool_size(p)
void *jang_pool_scratch(jang_pool *p, int slot, size_t bytes);
/* Grows every share's slot (not the shared one) to at least `bytes`, from the calling thread
 * between runs, so that fn can take its slot without a failure path. false (with error detail)
 * when memory runs out. */
bool jang_pool_reserve(jang_pool *p, size_t bytes);

/* The [begin, end) share of n items for worker w of nw, in multiples of `align` items. */
static inline void jang_pool_split(int64_t n, int w, int nw, int64_t align, int64_t *begin,
                                   int64_t *end) {
    int64_t blocks = (n + align - 1) / align;
    int64_t b0 = blocks * w / nw, b1 = blocks * (w + 1) / nw;
    *begin = b0 * align < n ? b0 * align : n;
    *end = b1 * align < n ? b1 * align : n;
}

#endif
