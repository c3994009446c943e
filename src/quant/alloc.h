/* alloc.h — internal pieces shared by the allocators: tiers.c (jang's tier rules, MoE floors and
 * architecture detection), profiles.c (the JANG profile table) and allocate.c (the plans).
 * Public entry points are in include/jang.h ("Allocation"). Tested by tests/test_alloc.c against
 * jang 2.5.x and mlx-lm (goldens by tools/gen_alloc_goldens.py).
 */
#ifndef JANG_ALLOC_H
#define JANG_ALLOC_H

#include "jang.h"

/* jang's bit-width upgrade path: sorted(ALLOWED_BIT_WIDTHS) of jang_tools/format/spec.py. This is
 * jang's constant, not the quantizer's width table (which could grow without jang changing). */
#define JANG_PATH_MAP(X) X(2) X(3) X(4) X(5) X(6) X(8)

/* Next / previous width on the path; 0 at either end (Python's None). bits must be on it. */
int jang_path_next(int bits);
int jang_path_prev(int bits);

/* A lower-cased copy of a name (Python's str.lower for ASCII; other bytes are kept as they are,
 * where Python would lower-case non-ASCII letters too). Small names live in buf. */
typedef struct jang_lname {
    char *s;
    char buf[200];
} jang_lname;

/* Returns l->s, or NULL when out of memory. */
const char *jang_lname_init(jang_lname *l, const char *name);
void jang_lname_free(jang_lname *l);

/* jang's classify_tensor on an already lower-cased name. */
jang_tier jang_tier_of_lower(const char *lower, int64_t n_experts, bool has_shared_mlp);
/* _apply_mlp_asymmetry_floor(name, bits, num_experts, base_bits) on a lower-cased name. */
int jang_mlp_floor(const char *lower, int bits, int64_t n_experts, int base_bits);
/* _apply_relu2_asymmetry_floor(name, bits, True): routed expert up_proj 4, down_proj 3. */
int jang_relu2_floor(const char *lower, int bits);
/* _is_any_routed_expert_mlp. */
bool jang_is_routed_expert_mlp(const char *lower);
/* convert.py's _is_moe_router_gate (routers and shared_expert_gate, stored unquantized). */
bool jang_is_moe_router_gate(const char *lower);

/* jang_alloc_model_from_hf_config on a config.json already parsed by the caller (the converter
 * reads it once); `file` names it in errors. */
struct json_t;
jang_status jang_alloc_model_from_hf_json(const struct json_t *cfg, const char *file,
                                          jang_alloc_model *out);

#endif
