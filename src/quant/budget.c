/* budget.c — our allocator: (bits, group) per tensor for a true-size budget (`--target-bpw X`;
 * jang.h "Our allocator", DESIGN §4.3).
 *
 * 1. Variables: the tensors the base plan (jang's keep/drop decisions) quantizes; options: every
 *    (bits, group) of the quantizer whose group divides in_features. Bytes of an option, exactly
 *    as stored: rows * (in * bits / 8 + in / group * 4) (a 2-byte scale and bias per group).
 * 2. Errors (jang_budget_measure): each variable's evenly spaced sample rows quantized with every
 *    option, relative squared error ||W - W'||^2 / ||W||^2 with W' = scale * q + bias from the
 *    stored (rounded) scale and bias; tensors are spread over a worker pool.
 * 3. Weights: jang_alloc_tensor.sensitivity when > 0, else the role prior below.
 * 4. Solver (jang_budget_solve): per variable the options that are not dominated (more bytes,
 *    no less error) and lie on the lower convex hull of (bytes, weighted error); every variable
 *    starts at its cheapest option; a max-heap of "next hull step" slopes (error removed per
 *    byte) takes upgrades while they fit the budget, dropping a variable whose next step does not
 *    fit; then the leftover bytes go, one upgrade at a time, to the largest error reduction that
 *    still fits among all options (hull or not). The greedy is optimal for the convex relaxation
 *    and never exceeds the budget by construction. When more than 1% is left (a big tensor whose
 *    next step is larger than the bytes left, beside tensors at their error floor), trades pay
 *    for that step by downgrading others when the total error drops, then padding moves tensors
 *    to costlier options, the smallest error increase first, until within 1%.
 * Tested by tests/test_convert.c (solver on synthetic errors, bounds, and real conversions).
 */
#include "alloc.h"
#include "pool.h"
#include "quant.h"
#include "util.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

/* ---- options ------------------------------------------------------------------------------- */

static const int opt_bits_list[] = {
#define JANG_X_(b) b,
    JANG_AFFINE_BITS_MAP(JANG_X_)
#undef JANG_X_
};
static const int opt_group_list[] = {
#define JANG_X_(g) g,
    JANG_AFFINE_GROUPS_MAP(JANG_X_)
#undef JANG_X_
};
enum {
    N_BITS = (int)(sizeof opt_bits_list / sizeof opt_bits_list[0]),
    N_GROUPS = (int)(sizeof opt_group_list / sizeof opt_group_list[0]),
    N_OPT = N_BITS * N_GROUPS,
};
_Static_assert(N_OPT <= JANG_BUDGET_MAX_OPTIONS, "raise JANG_BUDGET_MAX_OPTIONS");

int jang_budget_n_options(void) { return N_OPT; }

void jang_budget_option(int k, int *bits, int *group) {
    JANG_ASSERT(k >= 0 && k < N_OPT);
    *bits = opt_bits_list[k / N_GROUPS];
    *group = opt_group_list[k % N_GROUPS];
}

void jang_budget_opts_init(jang_budget_opts *o) {
    memset(o, 0, sizeof *o);
    o->method = JANG_AFFINE_MSE;
    o->scale_dtype = JANG_DT_F16;
    o->priors = true;
}

static int64_t n_el(const jang_alloc_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++)
        n *= t->shape[i];
    return n;
}

static int64_t t_cols(const jang_alloc_tensor *t) {
    return t->n_dims > 0 ? t->shape[t->n_dims - 1] : 1;
}

static int64_t t_rows(const jang_alloc_tensor *t) {
    int64_t c = t_cols(t);
    return c > 0 ? n_el(t) / c : 0;
}

static bool is_var(const jang_alloc_tensor *t, const jang_plan *base, int64_t i) {
    return base->entries[i].action == JANG_ALLOC_QUANT && t->n_dims >= 2 && t_cols(t) > 0 &&
           t_cols(t) % opt_group_list[0] == 0;
}

static bool allowed(const jang_alloc_tensor *t, int k) {
    int b, g;
    jang_budget_option(k, &b, &g);
    return t_cols(t) % g == 0;
}

/* Stored bytes of a quantized tensor: codes + a 2-byte scale and bias per group. */
static uint64_t quant_bytes(const jang_alloc_tensor *t, int bits, int group) {
    uint64_t rows = (uint64_t)t_rows(t), cols = (uint64_t)t_cols(t);
    return rows * (cols * (uint64_t)bits / 8 + cols / (uint64_t)group * 4);
}

void jang_plan_size(const jang_alloc_tensor *t, int64_t n, const jang_plan *p, uint64_t *bytes,
                    int64_t *params) {
    uint64_t b = 0;
    int64_t q = 0;
    for (int64_t i = 0; i < n; i++) {
        const jang_alloc_entry *e = &p->entries[i];
        if (e->action == JANG_ALLOC_QUANT) {
            b += quant_bytes(&t[i], e->bits, e->group);
            q += n_el(&t[i]);
        } else if (e->action == JANG_ALLOC_KEEP) {
            b += (uint64_t)n_el(&t[i]) * jang_dtype_size(e->keep_dtype);
            q += n_el(&t[i]);
        }
    }
    *bytes = b;
    *params = q;
}

/* Fixed bytes (kept tensors), and the smallest / largest bytes of the variables. */
static void budget_range(const jang_alloc_tensor *t, int64_t n, const jang_plan *base,
                         uint64_t *fixed, uint64_t *vmin, uint64_t *vmax, int64_t *params) {
    *fixed = *vmin = *vmax = 0;
    *params = 0;
    for (int64_t i = 0; i < n; i++) {
        const jang_alloc_entry *e = &base->entries[i];
        if (e->action == JANG_ALLOC_DROP) continue;
        *params += n_el(&t[i]);
        if (!is_var(&t[i], base, i)) {
            *fixed += e->action == JANG_ALLOC_QUANT
                          ? quant_bytes(&t[i], e->bits, e->group)
                          : (uint64_t)n_el(&t[i]) * jang_dtype_size(e->keep_dtype);
            continue;
        }
        uint64_t lo = UINT64_MAX, hi = 0;
        for (int k = 0; k < N_OPT; k++) {
            if (!allowed(&t[i], k)) continue;
            int b, g;
            jang_budget_option(k, &b, &g);
            uint64_t c = quant_bytes(&t[i], b, g);
            lo = c < lo ? c : lo;
            hi = c > hi ? c : hi;
        }
        *vmin += lo;
        *vmax += hi;
    }
}

jang_status jang_budget_bounds(const jang_alloc_tensor *t, int64_t n, const jang_plan *base,
                               double *min_bpw, double *max_bpw) {
    uint64_t fixed, vmin, vmax;
    int64_t params;
    budget_range(t, n, base, &fixed, &vmin, &vmax, &params);
    if (params <= 0) return jang_fail(JANG_E_ARG, "budget: the plan writes no parameters");
    *min_bpw = (double)(fixed + vmin) * 8.0 / (double)params;
    *max_bpw = (double)(fixed + vmax) * 8.0 / (double)params;
    return JANG_OK;
}

/* ---- measuring ----------------------------------------------------------------------------- */

typedef struct measure_job {
    const jang_alloc_tensor *t;
    const jang_budget_opts *o;
    jang_rows_fn read;
    void *ctx;
    double *err;
    int64_t *vars, n_vars;
    int64_t next, done; /* atomics */
    pthread_mutex_t mu;
    jang_status status; /* first failure */
    char detail[1024];
} measure_job;

static void job_fail(measure_job *jb, jang_status s, const char *detail) {
    pthread_mutex_lock(&jb->mu);
    if (jb->status == JANG_OK) {
        jb->status = s;
        snprintf(jb->detail, sizeof jb->detail, "%s", detail);
    }
    pthread_mutex_unlock(&jb->mu);
}

/* Relative squared error of quantizing w (rows, cols) with (bits, group). */
static jang_status option_error(const float *w, int64_t rows, int64_t cols, int bits, int group,
                                const jang_budget_opts *o, double norm, uint32_t *packed,
                                uint16_t *sc, uint16_t *bi, uint8_t *q, double *out) {
    jang_affine_opts ao;
    jang_affine_opts_init(&ao);
    ao.method = o->method;
    ao.n_threads = 1;
    jang_status s =
        jang_affine_quantize(w, rows, cols, bits, group, o->scale_dtype, &ao, packed, sc, bi);
    if (s) return s;
    const int64_t ng = cols / group, wpr = cols * bits / 32;
    double e = 0;
    for (int64_t r = 0; r < rows; r++) {
        if ((s = jang_affine_unpack(packed + r * wpr, cols, bits, q))) return s;
        for (int64_t g = 0; g < ng; g++) {
            uint16_t sh = sc[r * ng + g], bh = bi[r * ng + g];
            float scale =
                o->scale_dtype == JANG_DT_BF16 ? jang_bf16_to_f32(sh) : jang_f16_to_f32(sh);
            float bias =
                o->scale_dtype == JANG_DT_BF16 ? jang_bf16_to_f32(bh) : jang_f16_to_f32(bh);
            const float *x = w + r * cols + g * group;
            const uint8_t *qq = q + g * group;
            for (int j = 0; j < group; j++) {
                double d = (double)x[j] - ((double)scale * qq[j] + bias);
                e += d * d;
            }
        }
    }
    *out = norm > 0 ? e / norm : 0.0;
    return JANG_OK;
}

static void measure_worker(void *ctx, int wid, int nw) {
    (void)wid, (void)nw;
    measure_job *jb = ctx;
    const jang_budget_opts *o = jb->o;
    float *w = NULL;
    uint32_t *packed = NULL;
    uint16_t *sc = NULL, *bi = NULL;
    uint8_t *q = NULL;
    size_t cap = 0; /* elements the buffers hold */
    for (;;) {
        if (jb->status != JANG_OK) break;
        if (o->cancel && *o->cancel) {
            job_fail(jb, JANG_E_CANCELED, "interrupted while measuring tensor errors");
            break;
        }
        int64_t v = __atomic_fetch_add(&jb->next, 1, __ATOMIC_RELAXED);
        if (v >= jb->n_vars) break;
        int64_t i = jb->vars[v];
        const jang_alloc_tensor *t = &jb->t[i];
        int64_t rows = t_rows(t), cols = t_cols(t);
        int64_t want = o->sample_rows > 0 ? o->sample_rows : 128;
        int64_t S = rows < want ? rows : want;
        size_t need = (size_t)(S * cols);
        if (need > cap) {
            free(w), free(packed), free(sc), free(bi), free(q);
            w = jang_malloc(need * sizeof *w, "budget sample");
            packed = jang_malloc(need * sizeof *packed / 4 + 16, "budget sample");
            sc = jang_malloc(need / 32 * sizeof *sc + 16, "budget sample");
            bi = jang_malloc(need / 32 * sizeof *bi + 16, "budget sample");
            q = jang_malloc(need + 16, "budget sample"); /* >= one row */
            cap = need;
            if (!w || !packed || !sc || !bi || !q) {
                job_fail(jb, JANG_E_NOMEM, "out of memory for the budget samples");
                cap = 0;
                break;
            }
        }
        jang_status s = JANG_OK;
        for (int64_t k = 0; k < S && s == JANG_OK; k++) {
            int64_t r = (int64_t)(((double)k + 0.5) * (double)rows / (double)S);
            if (r >= rows) r = rows - 1;
            s = jb->read(jb->ctx, i, r, 1, w + k * cols);
            for (int64_t c = 0; s == JANG_OK && c < cols; c++)
                if (!isfinite(w[k * cols + c]))
                    s = jang_fail(JANG_E_FORMAT,
                                  "tensor '%s': non-finite value %g at row %lld, "
                                  "column %lld",
                                  t->name, (double)w[k * cols + c], (long long)r, (long long)c);
        }
        double norm = 0;
        for (size_t x = 0; s == JANG_OK && x < need; x++)
            norm += (double)w[x] * w[x];
        for (int k = 0; s == JANG_OK && k < N_OPT; k++) {
            if (!allowed(t, k)) continue;
            int b, g;
            jang_budget_option(k, &b, &g);
            s = option_error(w, S, cols, b, g, o, norm, packed, sc, bi, q,
                             &jb->err[i * JANG_BUDGET_MAX_OPTIONS + k]);
        }
        if (s != JANG_OK) {
            char d[1024];
            snprintf(d, sizeof d, "%s", jang_last_error());
            job_fail(jb, s, d);
            break;
        }
        int64_t done = __atomic_add_fetch(&jb->done, 1, __ATOMIC_RELAXED);
        if (o->progress) {
            pthread_mutex_lock(&jb->mu);
            o->progress(o->progress_ctx, done, jb->n_vars);
            pthread_mutex_unlock(&jb->mu);
        }
    }
    free(w), free(packed), free(sc), free(bi), free(q);
}

jang_status jang_budget_measure(const jang_alloc_tensor *t, int64_t n, const jang_plan *base,
                                const jang_budget_opts *o, jang_rows_fn read, void *ctx,
                                double *err) {
    if (!t || !base || !o || !read || !err || base->n != n)
        return jang_fail(JANG_E_ARG, "jang_budget_measure: bad arguments");
    for (int64_t i = 0; i < n * JANG_BUDGET_MAX_OPTIONS; i++)
        err[i] = NAN;
    measure_job jb = {.t = t, .o = o, .read = read, .ctx = ctx, .err = err};
    jb.vars = jang_malloc((size_t)(n ? n : 1) * sizeof *jb.vars, "budget");
    if (!jb.vars) return JANG_E_NOMEM;
    for (int64_t i = 0; i < n; i++)
        if (is_var(&t[i], base, i)) jb.vars[jb.n_vars++] = i;
    pthread_mutex_init(&jb.mu, NULL);
    int nt = o->n_threads;
    if (nt <= 0) nt = 0; /* the pool picks one per CPU */
    jang_pool *pool = nt == 1 ? NULL : jang_pool_create(nt);
    if (nt != 1 && !pool) {
        free(jb.vars);
        pthread_mutex_destroy(&jb.mu);
        return JANG_E_NOMEM;
    }
    jang_pool_run(pool, measure_worker, &jb);
    jang_pool_free(pool);
    pthread_mutex_destroy(&jb.mu);
    free(jb.vars);
    if (jb.status != JANG_OK) return jang_fail(jb.status, "%s", jb.detail);
    return JANG_OK;
}

/* ---- priors -------------------------------------------------------------------------------- */

static bool has(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

/* "layers.N." -> N, or -1. */
static int64_t layer_of(const char *name) {
    const char *p = strstr(name, "layers.");
    if (!p) return -1;
    p += 7;
    if (*p < '0' || *p > '9') return -1;
    int64_t v = 0;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (*p++ - '0');
    return v;
}

/* The role prior of a tensor's relative error (when no sensitivity is given). A layer matrix's
 * output noise enters the residual stream beside the updates of every other layer, so its share
 * of the final error shrinks with depth; the output head's error reaches the logits directly.
 * So lm_head (and an embedding tied to it) weighs as much as n_layers layer matrices (at least
 * 8, at most 64): on SmolLM2 at 4.5 bpw, weights 8 and 16 starved the head (3-bit, KL of the
 * logits +60% against 32) and 128 starved the layers (KL +20%). An untied input embedding feeds
 * the residual stream unmixed (2); attention, jang's CRITICAL tier, next (2); the first and last
 * two layers count more, as in jang's K profiles and llama.cpp's k-quant mixes (x1.5). */
#define PRIOR_HEAD_MIN 8.0
#define PRIOR_HEAD_MAX 64.0
#define PRIOR_EMBED 2.0     /* untied input embedding */
#define PRIOR_CRITICAL 2.0  /* jang CRITICAL tier: attention, MLA, shared experts, dense MoE MLP */
#define PRIOR_IMPORTANT 1.5 /* jang IMPORTANT tier */
#define PRIOR_EDGE 1.5      /* tensors of the first two and last two layers */

static double prior(const jang_alloc_tensor *t, jang_tier tier, const jang_alloc_model *m) {
    const char *name = t->name;
    double w;
    bool embed = has(name, "embed_tokens") || has(name, "wte") || has(name, "word_embeddings");
    if (has(name, "lm_head") || (embed && m->tied_embeddings))
        w = fmin(fmax((double)m->n_layers, PRIOR_HEAD_MIN), PRIOR_HEAD_MAX);
    else if (embed)
        w = PRIOR_EMBED;
    else if (tier == JANG_TIER_CRITICAL)
        w = PRIOR_CRITICAL;
    else if (tier == JANG_TIER_IMPORTANT)
        w = PRIOR_IMPORTANT;
    else
        w = 1.0;
    int64_t l = layer_of(name);
    if (l >= 0 && m->n_layers > 0 && (l < 2 || l >= m->n_layers - 2)) w *= PRIOR_EDGE;
    return w;
}

/* ---- solving ------------------------------------------------------------------------------- */

typedef struct pt {
    uint64_t cost;
    double err; /* weighted */
    int k;
} pt;

typedef struct var {
    int64_t i;
    pt all[JANG_BUDGET_MAX_OPTIONS]; /* allowed options, by cost */
    int n_all;
    int hull[JANG_BUDGET_MAX_OPTIONS]; /* indices into all: the lower convex hull */
    int n_hull;
    int h;   /* current hull position */
    int cur; /* current index into all */
} var;

static int cmp_pt(const void *a, const void *b) {
    const pt *x = a, *y = b;
    if (x->cost != y->cost) return x->cost < y->cost ? -1 : 1;
    if (x->err != y->err) return x->err < y->err ? -1 : 1;
    return x->k - y->k;
}

static void build_hull(var *v) {
    qsort(v->all, (size_t)v->n_all, sizeof *v->all, cmp_pt);
    /* non-dominated: strictly less error than every cheaper option */
    int nd[JANG_BUDGET_MAX_OPTIONS], n = 0;
    for (int a = 0; a < v->n_all; a++)
        if (n == 0 || v->all[a].err < v->all[nd[n - 1]].err) {
            if (n > 0 && v->all[a].cost == v->all[nd[n - 1]].cost) continue;
            nd[n++] = a;
        }
    /* lower convex hull: slopes (error removed per byte) must decrease */
    v->n_hull = 0;
    for (int a = 0; a < n; a++) {
        while (v->n_hull >= 2) {
            const pt *p0 = &v->all[v->hull[v->n_hull - 2]], *p1 = &v->all[v->hull[v->n_hull - 1]],
                     *p2 = &v->all[nd[a]];
            double s01 = (p0->err - p1->err) / (double)(p1->cost - p0->cost);
            double s02 = (p0->err - p2->err) / (double)(p2->cost - p0->cost);
            if (s02 >= s01)
                v->n_hull--; /* p1 lies above the segment p0-p2 */
            else
                break;
        }
        v->hull[v->n_hull++] = nd[a];
    }
}

typedef struct heap_item {
    double slope;
    int64_t v;
} heap_item;

static bool heap_less(const heap_item *a, const heap_item *b) { /* a below b: max-heap on slope */
    if (a->slope != b->slope) return a->slope < b->slope;
    return a->v > b->v; /* ties: the earlier tensor first */
}

static void heap_push(heap_item *h, int64_t *n, heap_item x) {
    int64_t i = (*n)++;
    h[i] = x;
    while (i > 0 && heap_less(&h[(i - 1) / 2], &h[i])) {
        heap_item t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static heap_item heap_pop(heap_item *h, int64_t *n) {
    heap_item top = h[0];
    h[0] = h[--*n];
    for (int64_t i = 0;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && heap_less(&h[m], &h[l])) m = l;
        if (r < *n && heap_less(&h[m], &h[r])) m = r;
        if (m == i) break;
        heap_item t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
    return top;
}

static double step_slope(const var *v) {
    const pt *a = &v->all[v->hull[v->h]], *b = &v->all[v->hull[v->h + 1]];
    return (a->err - b->err) / (double)(b->cost - a->cost);
}

/* The largest error reduction that still fits the budget, one option change at a time, among
 * all options (hull or not), until none fits. */
static void fill(var *vars, int64_t nv, uint64_t *used, uint64_t budget) {
    for (;;) {
        int64_t best_v = -1;
        int best_x = -1;
        double best_gain = 0;
        for (int64_t a = 0; a < nv; a++) {
            const var *v = &vars[a];
            const pt *c = &v->all[v->cur];
            for (int x = 0; x < v->n_all; x++) {
                const pt *q = &v->all[x];
                if (q->cost <= c->cost || *used + (q->cost - c->cost) > budget) continue;
                double gain = c->err - q->err;
                if (gain > best_gain) best_gain = gain, best_v = a, best_x = x;
            }
        }
        if (best_v < 0) return;
        var *v = &vars[best_v];
        *used += v->all[best_x].cost - v->all[v->cur].cost;
        v->cur = best_x;
    }
}

typedef struct down {
    int64_t v;
    int x;
    double loss;
    uint64_t freed;
} down;

static int cmp_down(const void *a, const void *b) {
    const down *x = a, *y = b;
    double rx = x->loss / (double)x->freed, ry = y->loss / (double)y->freed;
    if (rx != ry) return rx < ry ? -1 : 1;
    return x->v < y->v ? -1 : x->v > y->v;
}

/* One trade: the upgrade with the best error reduction per byte among those that do not fit,
 * paid for by downgrading other tensors, each to its option losing the least error per byte
 * freed, cheapest first, if the trade lowers the total error. This is what the greedy misses when
 * a big tensor (an embedding of a fifth of the model) waits for a step larger than the bytes left
 * while the rest sit at their error floor. Returns whether a trade was made. */
static bool trade(var *vars, int64_t nv, uint64_t *used, uint64_t budget) {
    down *d = jang_malloc((size_t)(nv ? nv : 1) * sizeof *d, "budget");
    if (!d) return false;
    bool done = false;
    do { /* the candidate upgrade: the best gain per byte */
        int64_t ua = -1;
        int ux = -1;
        double best = 0;
        for (int64_t a = 0; a < nv; a++) {
            const var *v = &vars[a];
            const pt *c = &v->all[v->cur];
            for (int x = 0; x < v->n_all; x++) {
                const pt *q = &v->all[x];
                if (q->cost <= c->cost || *used + (q->cost - c->cost) <= budget) continue;
                double r = (c->err - q->err) / (double)(q->cost - c->cost);
                if (r > best) best = r, ua = a, ux = x;
            }
        }
        if (ua < 0) break; /* leaves the do-while */
        const var *u = &vars[ua];
        double gain = u->all[u->cur].err - u->all[ux].err;
        uint64_t need = *used + (u->all[ux].cost - u->all[u->cur].cost) - budget;
        int64_t nd = 0;
        for (int64_t a = 0; a < nv; a++) {
            if (a == ua) continue;
            const var *v = &vars[a];
            const pt *c = &v->all[v->cur];
            down bestd = {-1, -1, 0, 0};
            for (int x = 0; x < v->n_all; x++) {
                const pt *q = &v->all[x];
                if (q->cost >= c->cost) continue;
                down t = {a, x, fmax(q->err - c->err, 0), c->cost - q->cost};
                if (bestd.v < 0 || t.loss / (double)t.freed < bestd.loss / (double)bestd.freed)
                    bestd = t;
            }
            if (bestd.v >= 0) d[nd++] = bestd;
        }
        qsort(d, (size_t)nd, sizeof *d, cmp_down);
        uint64_t freed = 0;
        double loss = 0;
        int64_t k = 0;
        while (k < nd && freed < need) {
            freed += d[k].freed;
            loss += d[k].loss;
            k++;
        }
        if (freed >= need && loss < gain) {
            for (int64_t j = 0; j < k; j++) {
                var *v = &vars[d[j].v];
                *used -= v->all[v->cur].cost - v->all[d[j].x].cost;
                v->cur = d[j].x;
            }
            var *w = &vars[ua];
            *used += w->all[ux].cost - w->all[w->cur].cost;
            w->cur = ux;
            done = true;
        }
    } while (0);
    free(d);
    JANG_ASSERT(*used <= budget);
    return done;
}

/* Last resort for the 1% rule, when no trade pays: move tensors to costlier options that fit,
 * the smallest error increase first (options no worse come first: a tensor at its error floor,
 * where more bits buy nothing measurable, takes more bits), until within 1% or nothing fits. A
 * few bytes of the file then buy nothing, or cost a little error: the size was asked for. */
static void pad(var *vars, int64_t nv, uint64_t *used, uint64_t budget, uint64_t floor_bytes) {
    while (*used < floor_bytes) {
        int64_t bv = -1;
        int bx = -1;
        double bgain = -INFINITY;
        uint64_t bextra = 0;
        for (int64_t a = 0; a < nv; a++) {
            const var *v = &vars[a];
            const pt *c = &v->all[v->cur];
            for (int x = 0; x < v->n_all; x++) {
                const pt *q = &v->all[x];
                if (q->cost <= c->cost || *used + (q->cost - c->cost) > budget) continue;
                double gain = c->err - q->err;
                uint64_t extra = q->cost - c->cost;
                if (gain > bgain || (gain == bgain && extra > bextra))
                    bgain = gain, bextra = extra, bv = a, bx = x;
            }
        }
        if (bv < 0) return;
        *used += bextra;
        vars[bv].cur = bx;
    }
}

jang_status jang_budget_solve(const jang_alloc_tensor *t, int64_t n, const jang_alloc_model *m,
                              const jang_plan *base, const double *err, const jang_budget_opts *o,
                              jang_plan **out) {
    *out = NULL;
    if (!t || !m || !base || !err || !o || base->n != n)
        return jang_fail(JANG_E_ARG, "jang_budget_solve: bad arguments");
    double X = o->target_bpw;
    if (!(X > 0) || !isfinite(X))
        return jang_fail(JANG_E_ARG, "target bpw %g: must be a positive number", X);
    uint64_t fixed, vmin, vmax;
    int64_t params;
    budget_range(t, n, base, &fixed, &vmin, &vmax, &params);
    if (params <= 0) return jang_fail(JANG_E_ARG, "budget: the plan writes no parameters");
    double min_bpw = (double)(fixed + vmin) * 8.0 / (double)params;
    double max_bpw = (double)(fixed + vmax) * 8.0 / (double)params;
    /* the largest byte count whose true bpw is <= X */
    uint64_t budget = (uint64_t)floorl((long double)X * (long double)params / 8.0L);
    if (fixed + vmin > budget)
        return jang_fail(JANG_E_ARG,
                         "target %.4g bpw is below the minimum achievable %.4f bpw (every "
                         "quantized tensor at 2 bits with its largest group; the %.1f MB of "
                         "unquantized tensors alone take %.3f bpw)",
                         X, min_bpw, (double)fixed / 1e6, (double)fixed * 8.0 / (double)params);
    if (X > max_bpw * 1.01)
        return jang_fail(
            JANG_E_ARG,
            "target %.4g bpw is above the maximum achievable %.4f bpw (every quantized "
            "tensor at 8 bits, group 32)",
            X, max_bpw);

    jang_plan *p = jang_plan_new(n);
    var *vars = jang_calloc((size_t)(n ? n : 1), sizeof *vars, "budget");
    heap_item *heap = jang_malloc((size_t)(n ? n : 1) * sizeof *heap, "budget");
    if (!p || !vars || !heap) {
        jang_plan_free(p);
        free(vars), free(heap);
        return JANG_E_NOMEM;
    }
    int64_t nv = 0;
    uint64_t used = fixed;
    jang_status s = JANG_OK;
    for (int64_t i = 0; i < n; i++) {
        p->entries[i] = base->entries[i];
        p->entries[i].n_blocks = 0;
        if (!is_var(&t[i], base, i)) continue;
        var *v = &vars[nv];
        v->i = i;
        double w = t[i].sensitivity > 0 ? t[i].sensitivity
                   : o->priors          ? prior(&t[i], base->entries[i].tier, m)
                                        : 1.0;
        for (int k = 0; k < N_OPT; k++) {
            if (!allowed(&t[i], k)) continue;
            double e = err[i * JANG_BUDGET_MAX_OPTIONS + k];
            if (!(e >= 0) || !isfinite(e)) {
                s = jang_fail(JANG_E_ARG, "budget: tensor '%s' has no error for option %d",
                              t[i].name, k);
                goto done;
            }
            int b, g;
            jang_budget_option(k, &b, &g);
            v->all[v->n_all++] = (pt){quant_bytes(&t[i], b, g), w * e, k};
        }
        build_hull(v);
        v->h = 0;
        v->cur = v->hull[0];
        used += v->all[v->cur].cost;
        nv++;
    }
    JANG_ASSERT(used <= budget);
    /* greedy over hull steps */
    int64_t nh = 0;
    for (int64_t a = 0; a < nv; a++)
        if (vars[a].n_hull > 1) heap_push(heap, &nh, (heap_item){step_slope(&vars[a]), a});
    while (nh > 0) {
        heap_item top = heap_pop(heap, &nh);
        var *v = &vars[top.v];
        const pt *a = &v->all[v->hull[v->h]], *b = &v->all[v->hull[v->h + 1]];
        uint64_t extra = b->cost - a->cost;
        if (used + extra > budget) continue; /* further steps cost more still */
        used += extra;
        v->h++;
        v->cur = v->hull[v->h];
        if (v->h + 1 < v->n_hull) heap_push(heap, &nh, (heap_item){step_slope(v), top.v});
    }
    fill(vars, nv, &used, budget);
    /* within 1%: trade when the only upgrades left do not fit, then pad */
    uint64_t floor_bytes = (uint64_t)ceill((long double)budget * 0.99L);
    for (int round = 0; round < 256 && used < floor_bytes; round++) {
        if (!trade(vars, nv, &used, budget)) break;
        fill(vars, nv, &used, budget);
    }
    if (used < floor_bytes) pad(vars, nv, &used, budget, floor_bytes);
    JANG_ASSERT(used <= budget);
    /* the plan */
    int64_t per_group[JANG_AFFINE_MAX_GROUP + 1] = {0};
    for (int64_t a = 0; a < nv; a++) {
        jang_alloc_entry *e = &p->entries[vars[a].i];
        e->action = JANG_ALLOC_QUANT;
        jang_budget_option(vars[a].all[vars[a].cur].k, &e->bits, &e->group);
        per_group[e->group] += n_el(&t[vars[a].i]);
    }
    int bs = 64;
    int64_t best = -1;
    for (int g = 0; g < N_GROUPS; g++)
        if (per_group[opt_group_list[g]] > best)
            best = per_group[opt_group_list[g]], bs = opt_group_list[g];
    double sb = 0, sn = 0;
    for (int64_t a = 0; a < nv; a++) {
        jang_alloc_entry *e = &p->entries[vars[a].i];
        e->n_blocks = (n_el(&t[vars[a].i]) + bs - 1) / bs;
        sb += (double)e->bits * (double)e->n_blocks;
        sn += (double)e->n_blocks;
    }
    p->recipe = JANG_RECIPE_TARGET_BPW;
    snprintf(p->label, sizeof p->label, "target %.4g bpw", X);
    p->block_size = bs;
    p->target_bits = X;
    p->jang_bits = sn > 0 ? sb / sn : 0;
    (void)max_bpw;
done:
    free(vars);
    free(heap);
    if (s != JANG_OK) {
        jang_plan_free(p);
        return s;
    }
    *out = p;
    return JANG_OK;
}
