/* pool.h — a persistent worker pool for data-parallel loops (matmuls over rows, attention over
 * heads). Threads are created once; each jang_pool_run wakes them, runs fn(ctx, i, n) for
 * i = 0..n-1 (n = thread count, the caller being worker 0) and returns when all are done.
 * Tested by tests/test_util.c. */
#ifndef JANG_POOL_H
#define JANG_POOL_H

#include <stdint.h>

typedef struct jang_pool jang_pool;
typedef void (*jang_pool_fn)(void *ctx, int worker, int n_workers);

/* n_threads <= 0 means one per online CPU. Returns NULL (with error detail) on failure. */
jang_pool *jang_pool_create(int n_threads);
void jang_pool_free(jang_pool *p);
int jang_pool_size(const jang_pool *p);
/* Runs fn on every worker and waits. Not reentrant: call from one thread at a time. */
void jang_pool_run(jang_pool *p, jang_pool_fn fn, void *ctx);

/* The [begin, end) share of n items for worker w of nw, in multiples of `align` items. */
static inline void jang_pool_split(int64_t n, int w, int nw, int64_t align, int64_t *begin,
                                   int64_t *end) {
    int64_t blocks = (n + align - 1) / align;
    int64_t b0 = blocks * w / nw, b1 = blocks * (w + 1) / nw;
    *begin = b0 * align < n ? b0 * align : n;
    *end = b1 * align < n ? b1 * align : n;
}

#endif
