/* pool.c — persistent pthread worker pool (see pool.h).
 *
 * A run publishes fn/ctx and bumps an atomic generation counter (release). The n shares of a run
 * are claimed, not assigned: each share has a claim word holding the last generation that took
 * it, and a thread runs share i only after moving that word to the current generation with a
 * compare-and-swap. Each worker starts with its own share, then helps with any share still
 * unclaimed; the caller does share 0 and then the same. So a worker that the OS has not scheduled
 * (this box is shared; 2 cores) costs the run its share's time on another thread, not a
 * time slice. A claim can only succeed for the live generation: when a run completes every claim
 * word holds its generation, so a late thread's claim for an old one fails.
 * Waiting (workers for a run, the caller for the last share) spins on the atomics for a while
 * (a decode step issues a few hundred short runs back to back; a futex wake-up costs
 * microseconds per run) and then sleeps on a condition variable.
 */
#include "pool.h"
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* Pause iterations before a waiting thread sleeps: about 0.1-0.5 ms. */
#define SPIN_ITERS 20000

typedef struct {
    void *ptr;
    size_t cap;
} scratch_slot;

struct jang_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    _Atomic uint64_t generation;
    _Atomic uint64_t *claims; /* (n) last generation that claimed share i */
    _Atomic int finished;     /* shares of the live generation that are done */
    _Atomic bool quit;
    jang_pool_fn fn; /* published before the generation bump */
    void *ctx;
    scratch_slot *scratch; /* (n + 1) */
};

typedef struct {
    jang_pool *p;
    int id;
} worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static bool claim(jang_pool *p, int i, uint64_t g) {
    uint64_t v = atomic_load_explicit(&p->claims[i], memory_order_relaxed);
    while (v < g)
        if (atomic_compare_exchange_weak_explicit(&p->claims[i], &v, g, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    return false;
}

/* Runs every share of generation g this thread can claim, starting at `first`. */
static void run_shares(jang_pool *p, uint64_t g, int first) {
    for (int k = 0; k < p->n; k++) {
        int i = (first + k) % p->n;
        if (!claim(p, i, g)) continue;
        p->fn(p->ctx, i, p->n); /* stable: g cannot complete before this share */
        if (atomic_fetch_add_explicit(&p->finished, 1, memory_order_acq_rel) == p->n - 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void *worker_main(void *arg) {
    worker_arg wa = *(worker_arg *)arg;
    free(arg);
    jang_pool *p = wa.p;
    uint64_t seen = 0;
    for (;;) {
        uint64_t g = atomic_load_explicit(&p->generation, memory_order_acquire);
        for (int i = 0; i < SPIN_ITERS && g == seen; i++) {
            if (atomic_load_explicit(&p->quit, memory_order_relaxed)) break;
            cpu_relax();
            g = atomic_load_explicit(&p->generation, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
                   !atomic_load(&p->quit))
                pthread_cond_wait(&p->start, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = g;
        run_shares(p, g, wa.id);
    }
}

jang_pool *jang_pool_create(int n_threads) {
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)c : 1;
    }
    if (n_threads > 1024) n_threads = 1024;
    jang_pool *p = jang_calloc(1, sizeof *p, "thread pool");
    if (!p) return NULL;
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->finished, 0);
    atomic_init(&p->quit, false);
    p->threads = jang_calloc((size_t)n_threads, sizeof *p->threads, "thread pool");
    p->scratch = jang_calloc((size_t)n_threads + 1, sizeof *p->scratch, "thread pool");
    p->claims = jang_calloc((size_t)n_threads, sizeof *p->claims, "thread pool");
    if (p->claims)
        for (int i = 0; i < n_threads; i++)
            atomic_init(&p->claims[i], 0);
    if (!p->threads || !p->scratch || !p->claims) {
        p->n = 1;
        jang_pool_free(p);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) {
            wa->p = p;
            wa->id = i;
        }
        if (!wa || pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            jang_fail(JANG_E_NOMEM, "thread pool: cannot start thread %d", i);
            p->n = i; /* join the ones that started */
            jang_pool_free(p);
            return NULL;
        }
    }
    return p;
}

void jang_pool_free(jang_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, true);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    if (p->scratch)
        for (int i = 0; i <= p->n; i++)
            free(p->scratch[i].ptr);
    free(p->scratch);
    free((void *)p->claims);
    free(p->threads);
    free(p);
}

int jang_pool_size(const jang_pool *p) { return p ? p->n : 1; }

void jang_pool_run(jang_pool *p, jang_pool_fn fn, void *ctx) {
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    uint64_t g = atomic_fetch_add_explicit(&p->generation, 1, memory_order_release) + 1;
    pthread_cond_broadcast(&p->start); /* cheap when nobody sleeps */
    pthread_mutex_unlock(&p->mu);
    run_shares(p, g, 0);
    for (int i = 0; i < SPIN_ITERS; i++) {
        if (atomic_load_explicit(&p->finished, memory_order_acquire) == p->n) return;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->finished, memory_order_acquire) < p->n)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void *jang_pool_scratch(jang_pool *p, int slot, size_t bytes) {
    JANG_ASSERT(p && slot >= 0 && slot <= p->n);
    scratch_slot *s = &p->scratch[slot];
    if (bytes > s->cap) {
        size_t cap = (bytes + 63) & ~(size_t)63;
        if (cap < bytes) return NULL;
        free(s->ptr);
        s->ptr = aligned_alloc(64, cap);
        s->cap = s->ptr ? cap : 0;
        if (!s->ptr)
            jang_fail(JANG_E_NOMEM, "thread pool: no memory for %zu bytes of scratch", cap);
    }
    return s->ptr;
}

bool jang_pool_reserve(jang_pool *p, size_t bytes) {
    for (int i = 0; i < jang_pool_size(p); i++)
        if (!jang_pool_scratch(p, i, bytes)) return false;
    return true;
}
