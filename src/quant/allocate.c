/* allocate.c — allocation plans: for every source tensor, quantize (bits, group size), keep
 * unquantized, or drop.
 *   JANG:       exactly what `jang convert -p PROFILE [-b B]` (jang 2.5.x, convert.py +
 * allocate.py) decides, quirks included (each noted where implemented): its tensor filter, the
 *               fixed-profile and K-budget allocators (allocate_bits_*_compact), the MoE floors,
 *               its group sizes, routers and SSM state kept in float, and the tensors it drops.
 *   UNIFORM, MIXED_*: what mlx_lm.convert decides for `-q --q-bits B --q-group-size G` and for
 *               `--quant-predicate mixed_2_6|3_4|3_6|4_6` (mlx-lm 0.32: mixed_quant_predicate_
 *               builder, quantize_model's predicate wrapper, the models' own quant_predicate).
 * Tested by tests/test_alloc.c against goldens written from jang and mlx-lm themselves by
 * tools/gen_alloc_goldens.py.
 */
#include "alloc.h"
#include "util.h"

#include <ctype.h>
#include <string.h>

static bool has(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static bool starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int64_t n_elements(const jang_alloc_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++)
        n *= t->shape[i];
    return n;
}

void jang_alloc_opts_init(jang_alloc_opts *o) {
    memset(o, 0, sizeof *o);
    o->recipe = JANG_RECIPE_JANG;
    o->profile = NULL; /* JANG_2S */
    o->mlp_asymmetry = true;
    o->bits = 4;
}

jang_plan *jang_plan_new(int64_t n) {
    if (n < 0) return NULL;
    jang_plan *p = jang_calloc(1, sizeof *p, "allocation plan");
    if (!p) return NULL;
    p->entries = jang_calloc(n ? (size_t)n : 1, sizeof *p->entries, "allocation plan");
    if (!p->entries) {
        free(p);
        return NULL;
    }
    p->n = n;
    for (int64_t i = 0; i < n; i++) {
        p->entries[i].action = JANG_ALLOC_KEEP;
        p->entries[i].tier = JANG_TIER_COMPRESS;
    }
    return p;
}

void jang_plan_free(jang_plan *p) {
    if (!p) return;
    free(p->entries);
    free(p);
}

/* ---- jang ------------------------------------------------------------------------------------ */

/* Python's int(s) on ASCII: surrounding whitespace, an optional sign, digits with single
 * underscores between them ("1_0" is 10). false where Python raises ValueError. */
static bool py_int(const char *s, int64_t *out) {
    while (isspace((unsigned char)*s))
        s++;
    bool neg = *s == '-';
    if (*s == '+' || *s == '-') s++;
    if (!isdigit((unsigned char)*s)) return false;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s == '_' && isdigit((unsigned char)s[1])) continue;
        if (!isdigit((unsigned char)*s)) break;
        v = v > INT64_MAX / 20 ? INT64_MAX / 20 : v * 10 + (*s - '0');
    }
    while (isspace((unsigned char)*s))
        s++;
    if (*s) return false;
    *out = neg ? -v : v;
    return true;
}

/* allocate.py: the number after the first "layers" component that has a successor (even when
 * that successor is not a number: the search stops there). */
static bool layer_index(const char *name, int64_t *out) {
    const char *p = name;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (len == 6 && !memcmp(p, "layers", 6) && dot) {
            const char *q = dot + 1;
            const char *e = strchr(q, '.');
            size_t ln = e ? (size_t)(e - q) : strlen(q);
            char buf[32];
            if (ln >= sizeof buf) return false;
            memcpy(buf, q, ln);
            buf[ln] = 0;
            return py_int(buf, out);
        }
        if (!dot) return false;
        p = dot + 1;
    }
}

/* convert.py _is_vision_tensor_name. */
static bool is_vision(const char *lower) {
    return starts_with(lower, "model.visual") || has(lower, ".visual.") ||
           starts_with(lower, "vision_tower") || has(lower, "vision_model") ||
           has(lower, "vision_encoder") || has(lower, "embed_vision");
}

/* ssm_layout.forced_passthrough_bits: conv1d and the SSM state leaves stay float. */
static bool forced_passthrough(const char *name) {
    if (ends_with(name, "conv1d.weight") || ends_with(name, "conv1d.bias")) return true;
    const char *dot = strrchr(name, '.');
    const char *leaf = dot ? dot + 1 : name;
    return !strcmp(leaf, "A_log") || !strcmp(leaf, "D") || !strcmp(leaf, "dt_bias");
}

/* convert.py's first pass: does jang allocate bits to this tensor (tensor_info)? Quirks kept:
 * the skip patterns are architectures.py's layer rules with importance 0, matched as
 * case-sensitive substrings: "norm" (so any name containing "norm") and, with the Mamba rule
 * table, "D" (any name containing a capital D); 3-D tensors under 100k elements are skipped. */
static bool jang_allocates(const jang_alloc_tensor *t, const char *lower,
                           const jang_alloc_model *m) {
    const char *name = t->name;
    if (has(name, "input_layernorm") || has(name, "post_attention_layernorm") || has(name, "norm"))
        return false;
    if (m->skip_state_d && has(name, "D")) return false;
    if (ends_with(name, ".bias")) return false;
    if (has(lower, "layernorm") || has(lower, "rmsnorm")) return false;
    if (has(name, "weight_scale_inv") || has(name, "_scale_inv")) return false;
    if (has(name, "activation_scale")) return false;
    if (ends_with(name, ".layer_scalar")) return false;
    if (has(name, "q_norm") || has(name, "k_norm")) return false;
    if (has(name, "lm_head") && m->tied_embeddings) return false;
    if (is_vision(lower)) return false;
    if (t->n_dims < 2) return false;
    if (t->n_dims > 2 && n_elements(t) < 100000) return false;
    return true;
}

/* convert.py _get_tensor_group_size then _get_mlx_compatible_group_size: routers ask for 64
 * whatever the global block size (quirk: even below a user's -b 32); the largest of 128/64/32 not
 * above the request that divides in_features wins; 0 when none does (kept in float). */
static int jang_group(const char *lower, int64_t in_dim, int block_size) {
    int gs = block_size;
    if (has(lower, ".gate.") || ends_with(lower, ".gate") || has(lower, "shared_expert_gate"))
        gs = 64;
    if (in_dim <= 0) return 0;
    static const int cand[] = {128, 64, 32};
    for (int i = 0; i < 3; i++)
        if (cand[i] <= gs && in_dim % cand[i] == 0) return cand[i];
    return 0;
}

typedef struct {
    int64_t idx; /* input index */
    int64_t n_blocks;
    int64_t layer;
    bool has_layer;
    jang_tier tier;
    int bits;
} jinfo;

/* allocate_bits_profile_compact. */
static void jang_profile_bits(jinfo *info, int64_t ni, char **lower, const jang_alloc_model *m,
                              const jang_profile *pr, bool mlp_asym, bool relu2) {
    for (int64_t k = 0; k < ni; k++) {
        const char *l = lower[info[k].idx];
        int b = info[k].tier == JANG_TIER_CRITICAL    ? pr->critical
                : info[k].tier == JANG_TIER_IMPORTANT ? pr->important
                                                      : pr->compress;
        if (mlp_asym) b = jang_mlp_floor(l, b, m->n_experts, 0);
        if (relu2) {
            b = jang_relu2_floor(l, b);
            /* _apply_gateless_relu2_conv_floor: conv1d raised to the CRITICAL width. */
            if (has(l, "conv1d") && b < pr->critical) b = pr->critical;
        }
        info[k].bits = b;
    }
}

static int cmp_blocks(const void *a, const void *b) {
    const jinfo *x = *(const jinfo *const *)a, *y = *(const jinfo *const *)b;
    if (x->n_blocks != y->n_blocks) return x->n_blocks < y->n_blocks ? -1 : 1;
    return x < y ? -1 : x > y; /* stable: Python's sort keeps jang's visiting order */
}

/* allocate_bits_budget_compact — the K profiles. info is in jang's visiting order. */
static jang_status jang_budget_bits(jinfo *info, int64_t ni, char **lower,
                                    const jang_alloc_model *m, double target) {
    int64_t total_blocks = 0, critical_blocks = 0;
    for (int64_t k = 0; k < ni; k++) {
        total_blocks += info[k].n_blocks;
        if (info[k].tier == JANG_TIER_CRITICAL) critical_blocks += info[k].n_blocks;
    }
    double target_total = target * (double)total_blocks;
    int base = 2;
    if (target >= 2) {
#define JANG_X_(b)                                                                                 \
    if ((b) <= target) base = (b);
        JANG_PATH_MAP(JANG_X_)
#undef JANG_X_
    }
    /* Boost CRITICAL by up to 4 steps when it is under 5% of the blocks (MoE), else 2. Quirk:
     * the per-block allocate_bits_budget caps the boost in bits, not steps; `jang convert` always
     * takes this compact path, which counts steps. */
    double pct = total_blocks > 0 ? (double)critical_blocks / (double)total_blocks : 0;
    int max_boost = pct < 0.05 ? 4 : 2;
    int64_t n_layers = 1, max_id = 0;
    bool any_layer = false;
    for (int64_t k = 0; k < ni; k++) {
        info[k].bits = base;
        if (info[k].tier == JANG_TIER_CRITICAL)
            for (int s = 0; s < max_boost; s++) {
                int nx = jang_path_next(info[k].bits);
                if (!nx) break;
                info[k].bits = nx;
            }
        if (info[k].has_layer && (!any_layer || info[k].layer > max_id)) max_id = info[k].layer;
        any_layer = any_layer || info[k].has_layer;
    }
    if (any_layer) n_layers = max_id + 1;
    /* +1 step for the first two and last two layers, on top of the boost (CRITICAL tensors there
     * get boost + 1). At base 2, routed expert MLPs are left out. */
    for (int64_t k = 0; k < ni; k++) {
        if (!info[k].has_layer) continue;
        if (base == 2 && jang_is_routed_expert_mlp(lower[info[k].idx])) continue;
        if (info[k].layer < 2 || info[k].layer >= n_layers - 2) {
            int nx = jang_path_next(info[k].bits);
            if (nx) info[k].bits = nx;
        }
    }
    int64_t current_total = 0;
    for (int64_t k = 0; k < ni; k++)
        current_total += (int64_t)info[k].bits * info[k].n_blocks;
    double overspend = (double)current_total - target_total;
    int lower_bits = jang_path_prev(base);
    /* Pay the overspend by dropping COMPRESS tensors to the width below the base, smallest first.
     * Quirks: at base 2 there is no lower width and nothing is paid (JANG_2K overspends); a
     * tensor already raised by the first/last-layer bonus drops two steps (base+1 -> base-1)
     * while the bookkeeping counts one; the savings are counted at (base - lower) per block, so
     * the walk stops by that estimate, not the true total; the MoE floors (with the K guard)
     * veto drops, even with --no-mlp-asymmetry-floor. */
    if (overspend > 0 && lower_bits) {
        jinfo **cl = jang_malloc((size_t)(ni ? ni : 1) * sizeof *cl, "allocation");
        if (!cl) return JANG_E_NOMEM;
        int64_t nc = 0;
        for (int64_t k = 0; k < ni; k++)
            if (info[k].tier == JANG_TIER_COMPRESS) cl[nc++] = &info[k];
        qsort(cl, (size_t)nc, sizeof *cl, cmp_blocks);
        double remaining = overspend;
        for (int64_t k = 0; k < nc; k++) {
            if (remaining <= 0) break;
            if (jang_mlp_floor(lower[cl[k]->idx], lower_bits, m->n_experts, base) > lower_bits)
                continue;
            cl[k]->bits = lower_bits;
            remaining -= (double)((int64_t)(base - lower_bits) * cl[k]->n_blocks);
        }
        free(cl);
    }
    return JANG_OK;
}

typedef struct {
    int64_t idx;
    const char *name;
    int32_t shard;
} ord_item;

static int cmp_ord(const void *a, const void *b) {
    const ord_item *x = a, *y = b;
    if (x->shard != y->shard) return x->shard < y->shard ? -1 : 1;
    int c = strcmp(x->name, y->name); /* byte order = Python's code-point order for UTF-8 */
    if (c) return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static const jang_profile *profile_named(const char *name) {
    for (int i = 0; i < jang_profile_count(); i++)
        if (!strcmp(jang_profile_at(i)->name, name)) return jang_profile_at(i);
    return NULL;
}

static jang_status plan_jang(const jang_alloc_tensor *t, int64_t n, char **lower,
                             const jang_alloc_model *m, const jang_alloc_opts *o, jang_plan *p) {
    const jang_profile *pr = o->profile ? o->profile : profile_named("JANG_2S");
    JANG_ASSERT(pr);
    if (o->block_size < 0) return jang_fail(JANG_E_ARG, "block size %d", o->block_size);
    /* Global block size: -b, default 64. 150+ experts: 128 unless an MLA qk_nope_head_dim is not a
     * multiple of 128. Quirk: the test is "== 64", so an explicit -b 64 is upgraded too. */
    int bs = o->block_size > 0 ? o->block_size : 64;
    if (bs == 64 && m->has_moe && m->n_experts >= 150)
        bs = m->qk_nope_head_dim > 0 && m->qk_nope_head_dim % 128 != 0 ? 64 : 128;
    snprintf(p->label, sizeof p->label, "%s", pr->name);
    p->block_size = bs;
    p->target_bits = pr->target_bits;

    jang_status s = JANG_OK;
    ord_item *ord = jang_malloc((size_t)(n ? n : 1) * sizeof *ord, "allocation");
    jinfo *info = jang_calloc((size_t)(n ? n : 1), sizeof *info, "allocation");
    bool *seen = jang_calloc((size_t)(n ? n : 1), sizeof *seen, "allocation");
    if (!ord || !info || !seen) {
        s = JANG_E_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        ord[i] = (ord_item){i, t[i].name, t[i].shard};
    qsort(ord, (size_t)n, sizeof *ord, cmp_ord);

    /* tensor_info, in jang's visiting order: files sorted by name, keys sorted in each. */
    int64_t ni = 0;
    bool any_gate_proj = false;
    for (int64_t k = 0; k < n; k++) {
        int64_t i = ord[k].idx;
        if (!jang_allocates(&t[i], lower[i], m)) continue;
        jinfo *f = &info[ni++];
        f->idx = i;
        f->n_blocks = (n_elements(&t[i]) + bs - 1) / bs;
        f->tier = jang_tier_of_lower(lower[i], m->n_experts, m->has_shared_mlp);
        f->has_layer = layer_index(t[i].name, &f->layer);
        any_gate_proj = any_gate_proj || has(t[i].name, "gate_proj");
    }
    /* Gate-less relu2 experts (Nemotron-H): declared activation, experts, no gate_proj at all. */
    bool relu2 = m->relu2_act && !any_gate_proj && m->n_experts > 0;
    if (pr->k_target > 0)
        s = jang_budget_bits(info, ni, lower, m, pr->k_target);
    else
        jang_profile_bits(info, ni, lower, m, pr, o->mlp_asymmetry, relu2);
    if (s != JANG_OK) goto done;

    int64_t sum_bits = 0, sum_blocks = 0;
    for (int64_t k = 0; k < ni; k++) {
        int64_t i = info[k].idx;
        const char *l = lower[i];
        jang_alloc_entry *e = &p->entries[i];
        seen[i] = true;
        e->n_blocks = info[k].n_blocks;
        e->keep_dtype = JANG_DT_F16; /* jang casts what it keeps to float16 */
        sum_bits += (int64_t)info[k].bits * info[k].n_blocks;
        sum_blocks += info[k].n_blocks;
        /* Vision convolutions, SSM state, and (on MoE models) routers stay float. Quirk: routers
         * still take part in the K budget above. */
        if ((has(l, "patch_embed") || has(l, "temporal_embed") || has(l, "patch_conv")) &&
            has(l, ".weight"))
            continue;
        if (forced_passthrough(t[i].name)) continue;
        if (jang_is_moe_router_gate(l) && m->n_experts > 0) continue;
        int g = jang_group(l, t[i].shape[t[i].n_dims - 1], bs);
        if (!g) continue; /* no MLX group size divides in_features: float */
        e->action = JANG_ALLOC_QUANT;
        e->bits = info[k].bits;
        e->group = g;
    }
    p->jang_bits = sum_blocks ? (double)sum_bits / (double)sum_blocks : 0;
    /* The other tensors: convert.py's "non-quantized tensors" pass keeps norms, biases, 1-D and
     * small N-D tensors and vision tensors, and drops everything else (a tied model's lm_head,
     * 2-D tensors caught by the skip patterns, 0-D scalars). F32 routing biases stay F32.
     * (Not reproduced: its test on the output name, which only matters for a source tensor named
     * like the output module of a quantized one.) */
    for (int64_t i = 0; i < n; i++) {
        if (seen[i]) continue;
        jang_alloc_entry *e = &p->entries[i];
        const char *l = lower[i];
        bool keep = !ends_with(t[i].name, ".importance") &&
                    (has(l, "norm") || ends_with(t[i].name, ".bias") || t[i].n_dims == 1 ||
                     (t[i].n_dims > 2 && n_elements(&t[i]) < 100000) || is_vision(l));
        e->action = keep ? JANG_ALLOC_KEEP : JANG_ALLOC_DROP;
        e->keep_dtype = JANG_DT_F16;
        if (keep && !forced_passthrough(t[i].name) && ends_with(l, "e_score_correction_bias") &&
            t[i].dtype == JANG_DT_F32)
            e->keep_dtype = JANG_DT_F32;
    }
done:
    free(ord);
    free(info);
    free(seen);
    return s;
}

/* ---- mlx-lm ---------------------------------------------------------------------------------- */

/* The MLX module path of a tensor: the name without ".weight"; per-expert checkpoint tensors
 * "<p>.experts.<e>.(w1|w2|w3|gate_proj|up_proj|down_proj).weight" become the stacked
 * "<p>.switch_mlp.(gate_proj|down_proj|up_proj)" that mlx-lm's sanitize builds. */
static char *mlx_path(const char *name) {
    bool weight = ends_with(name, ".weight");
    char *p = jang_strndup(name, strlen(name) - (weight ? 7 : 0));
    if (!p) return NULL;
    const char *leaf = strrchr(p, '.');
    if (!leaf || !weight) return p;
    static const char *const map[][2] = {{"w1", "gate_proj"},    {"w2", "down_proj"},
                                         {"w3", "up_proj"},      {"gate_proj", "gate_proj"},
                                         {"up_proj", "up_proj"}, {"down_proj", "down_proj"}};
    const char *to = NULL;
    for (int i = 0; i < 6; i++)
        if (!strcmp(leaf + 1, map[i][0])) to = map[i][1];
    if (!to) return p;
    /* walk back over ".<digits>" and ".experts" */
    const char *d = leaf;
    while (d > p && isdigit((unsigned char)d[-1]))
        d--;
    if (d == leaf || d <= p || d[-1] != '.') return p;
    const char *ex = d - 1;
    if (ex - p < 9 || memcmp(ex - 8, ".experts", 8) != 0 || ex - 8 == p) return p;
    size_t pre = (size_t)(ex - 8 - p);
    char *q = jang_malloc(pre + strlen(".switch_mlp.") + strlen(to) + 1, "tensor name");
    if (q) sprintf(q, "%.*s.switch_mlp.%s", (int)pre, p, to);
    free(p);
    return q;
}

/* Python's str.isdigit on ASCII. */
static bool all_digits(const char *s, size_t n) {
    if (!n) return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return false;
    return true;
}

/* Component k of a dotted path (pointer and length); false when there are not that many. */
static bool component(const char *path, int k, const char **c, size_t *len) {
    const char *p = path;
    for (int i = 0; i < k; i++) {
        p = strchr(p, '.');
        if (!p) return false;
        p++;
    }
    const char *e = strchr(p, '.');
    *c = p;
    *len = e ? (size_t)(e - p) : strlen(p);
    return true;
}

static jang_status plan_mlx(const jang_alloc_tensor *t, int64_t n, const jang_alloc_model *m,
                            const jang_alloc_opts *o, jang_plan *p) {
    int group = o->group > 0 ? o->group : 64;
    if (!jang_affine_group_valid(group)) return jang_fail(JANG_E_ARG, "group size %d", group);
    int low = 0, high = 6;
    switch (o->recipe) {
    case JANG_RECIPE_MIXED_2_6:
        low = 2;
        break;
    case JANG_RECIPE_MIXED_3_4:
        low = 3, high = 4;
        break;
    case JANG_RECIPE_MIXED_3_6:
        low = 3;
        break;
    case JANG_RECIPE_MIXED_4_6:
        low = 4;
        break;
    default:
        if (!jang_affine_bits_valid(o->bits)) return jang_fail(JANG_E_ARG, "bits %d", o->bits);
        break;
    }
    bool mixed = low != 0;
    if (mixed)
        snprintf(p->label, sizeof p->label, "%s", jang_recipe_name(o->recipe));
    else
        snprintf(p->label, sizeof p->label, "uniform %d-bit g%d", o->bits, group);
    p->block_size = group;

    char **paths = jang_calloc((size_t)(n ? n : 1), sizeof *paths, "allocation");
    if (!paths) return JANG_E_NOMEM;
    jang_status s = JANG_OK;
    int loc = -1;
    for (int64_t i = 0; i < n; i++) {
        if (!(paths[i] = mlx_path(t[i].name))) {
            s = JANG_E_NOMEM;
            goto done;
        }
        /* mixed_quant_predicate_builder: the layer index sits at the first all-digit component
         * of the first module path containing "down_proj" (quirk: with no such component, the
         * loop variable is left at the last component). */
        if (mixed && loc < 0 && has(paths[i], "down_proj")) {
            const char *c;
            size_t len;
            for (loc = 0; component(paths[i], loc, &c, &len); loc++)
                if (all_digits(c, len)) break;
            if (!component(paths[i], loc, &c, &len)) loc--;
        }
    }
    if (mixed && loc < 0) {
        s = jang_fail(JANG_E_UNSUPPORTED, "%s: Model does not have expected keys for mixed quant.",
                      jang_recipe_name(o->recipe));
        goto done;
    }
    int64_t nl = m->n_layers; /* len(model.layers) */
    int64_t sum_bits = 0, sum_blocks = 0;
    for (int64_t i = 0; i < n; i++) {
        jang_alloc_entry *e = &p->entries[i];
        e->keep_dtype = t[i].dtype;
        if (m->tied_embeddings && !strcmp(t[i].name, "lm_head.weight")) {
            e->action = JANG_ALLOC_DROP; /* sanitize() pops a tied lm_head */
            continue;
        }
        /* Modules with to_quantized (Linear, Embedding, SwitchLinear), whose in_features the
         * requested group size divides (checked with --q-group-size even where a predicate
         * asks for another group). */
        bool stacked = has(t[i].name, "switch_mlp") || has(t[i].name, "experts");
        bool quantizable =
            ends_with(t[i].name, ".weight") && (t[i].n_dims == 2 || (t[i].n_dims == 3 && stacked));
        if (!quantizable || t[i].shape[t[i].n_dims - 1] % group != 0) continue;
        int bits = o->bits, g = group;
        const char *path = paths[i];
        if (mixed) {
            const char *c;
            size_t len;
            int64_t idx = 0;
            if (component(path, loc, &c, &len)) {
                char buf[32];
                if (len >= sizeof buf) len = sizeof buf - 1;
                memcpy(buf, c, len);
                buf[len] = 0;
                if (!py_int(buf, &idx)) {
                    s = jang_fail(JANG_E_UNSUPPORTED,
                                  "%s: module '%s' has no layer number at component %d (mlx-lm "
                                  "fails the same way)",
                                  jang_recipe_name(o->recipe), path, loc);
                    goto done;
                }
            }
            /* Python floor division and a non-negative modulo. */
            int64_t e8 = nl / 8, l8 = 7 * nl / 8, r = (idx - e8) % 3;
            if (r < 0) r += 3;
            bool more = idx < e8 || idx >= l8 || r == 2;
            bool v = has(path, "v_proj") || has(path, "v_a_proj") || has(path, "v_b_proj");
            if ((v && more) || (has(path, "down_proj") && more) || has(path, "lm_head"))
                bits = high;
            else
                bits = low;
        } else if (!strcmp(m->model_type, "qwen3_moe") && ends_with(path, "mlp.gate")) {
            bits = 8, g = 64; /* Qwen3-MoE's own quant_predicate: routers at 8 bits (uniform
                                 only: a recipe replaces the model's predicate) */
        }
        e->action = JANG_ALLOC_QUANT;
        e->bits = bits;
        e->group = g;
        int64_t blocks = (n_elements(&t[i]) + g - 1) / g;
        sum_bits += bits * blocks;
        sum_blocks += blocks;
    }
    p->jang_bits = sum_blocks ? (double)sum_bits / (double)sum_blocks : 0;
done:
    for (int64_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    return s;
}

/* ---- entry point ----------------------------------------------------------------------------- */

jang_status jang_plan_make(const jang_alloc_tensor *tensors, int64_t n, const jang_alloc_model *m,
                           const jang_alloc_opts *opts, jang_plan **out) {
    if (!out || !m || (n > 0 && !tensors) || n < 0)
        return jang_fail(JANG_E_ARG, "jang_plan_make: bad arguments");
    *out = NULL;
    jang_alloc_opts dflt;
    if (!opts) {
        jang_alloc_opts_init(&dflt);
        opts = &dflt;
    }
    for (int64_t i = 0; i < n; i++) {
        if (!tensors[i].name)
            return jang_fail(JANG_E_ARG, "jang_plan_make: tensor %lld has no name", (long long)i);
        if (tensors[i].n_dims < 0 || tensors[i].n_dims > JANG_MAX_DIMS)
            return jang_fail(JANG_E_ARG, "%s: %d dimensions", tensors[i].name, tensors[i].n_dims);
        for (int d = 0; d < tensors[i].n_dims; d++)
            if (tensors[i].shape[d] < 0)
                return jang_fail(JANG_E_ARG, "%s: negative dimension", tensors[i].name);
    }
    jang_plan *p = jang_plan_new(n);
    char **lower = jang_calloc((size_t)(n ? n : 1), sizeof *lower, "allocation");
    jang_status s = JANG_OK;
    if (!p || !lower) {
        s = JANG_E_NOMEM;
        goto done;
    }
    p->recipe = opts->recipe;
    for (int64_t i = 0; i < n; i++) {
        jang_lname l;
        if (!jang_lname_init(&l, tensors[i].name) || !(lower[i] = jang_strdup(l.s))) {
            jang_lname_free(&l);
            s = JANG_E_NOMEM;
            goto done;
        }
        jang_lname_free(&l);
        p->entries[i].tier = jang_tier_of_lower(lower[i], m->n_experts, m->has_shared_mlp);
    }
    if (opts->recipe == JANG_RECIPE_JANG)
        s = plan_jang(tensors, n, lower, m, opts, p);
    else if (opts->recipe == JANG_RECIPE_TARGET_BPW)
        s = jang_fail(JANG_E_ARG, "target-bpw plans are made by jang_budget_solve");
    else if ((unsigned)opts->recipe < JANG_RECIPE_COUNT)
        s = plan_mlx(tensors, n, m, opts, p);
    else
        s = jang_fail(JANG_E_ARG, "unknown recipe %d", (int)opts->recipe);
done:
    if (lower)
        for (int64_t i = 0; i < n; i++)
            free(lower[i]);
    free(lower);
    if (s != JANG_OK) {
        jang_plan_free(p);
        return s;
    }
    *out = p;
    return JANG_OK;
}
