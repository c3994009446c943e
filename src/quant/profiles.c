/* profiles.c — the JANG profiles (jang_tools/allocate.py JANG_PROFILES and JANG_K_TARGETS) and the
 * parsing of `jang convert -p ARG` (jang_tools/__main__.py cmd_convert, BIT_TO_PROFILE), plus the
 * recipe and action names of the allocation API. Tested by tests/test_alloc.c against
 * tests/data/alloc/profiles.tsv (jang's own CLI, by tools/gen_alloc_goldens.py).
 */
#include "alloc.h"
#include "util.h"

#include <ctype.h>
#include <string.h>

/* X(name, CRITICAL, IMPORTANT, COMPRESS bits, K target, target_bits) in jang's order: the fixed
 * profiles as JANG_PROFILES lists them, then JANG_K_TARGETS. target_bits is what `jang convert`
 * records: the K target, or the first digit of a fixed profile's name (JANG_1L: 1). */
#define JANG_PROFILE_MAP(X)                                                                        \
    X(JANG_2S, 6, 4, 2, 0, 2)                                                                      \
    X(JANG_2M, 8, 4, 2, 0, 2)                                                                      \
    X(JANG_2L, 8, 6, 2, 0, 2)                                                                      \
    X(JANG_1L, 8, 8, 2, 0, 1)                                                                      \
    X(JANG_3S, 6, 3, 3, 0, 3)                                                                      \
    X(JANG_3M, 8, 3, 3, 0, 3)                                                                      \
    X(JANG_3L, 8, 4, 3, 0, 3)                                                                      \
    X(JANG_4S, 6, 4, 4, 0, 4)                                                                      \
    X(JANG_4M, 8, 4, 4, 0, 4)                                                                      \
    X(JANG_4L, 8, 6, 4, 0, 4)                                                                      \
    X(JANG_6M, 8, 6, 6, 0, 6)                                                                      \
    X(JANG_2K, 0, 0, 0, 2.0, 2)                                                                    \
    X(JANG_3K, 0, 0, 0, 3.0, 3)                                                                    \
    X(JANG_4K, 0, 0, 0, 4.0, 4)                                                                    \
    X(JANG_5K, 0, 0, 0, 5.0, 5)                                                                    \
    X(JANG_6K, 0, 0, 0, 6.0, 6)

static const jang_profile profiles[] = {
#define JANG_X_(n, c, i, p, k, t) {#n, c, i, p, k, t},
    JANG_PROFILE_MAP(JANG_X_)
#undef JANG_X_
};
enum { N_PROFILES = (int)(sizeof profiles / sizeof profiles[0]) };

/* BIT_TO_PROFILE: `-p N` for N = 1..8. */
static const char *const bit_to_profile[9] = {NULL,      "JANG_1L", "JANG_2S", "JANG_3K", "JANG_4K",
                                              "JANG_5K", "JANG_6K", "JANG_6M", "JANG_6M"};

int jang_profile_count(void) { return N_PROFILES; }

const jang_profile *jang_profile_at(int i) {
    return i >= 0 && i < N_PROFILES ? &profiles[i] : NULL;
}

static const jang_profile *find(const char *upper) {
    for (int i = 0; i < N_PROFILES; i++)
        if (!strcmp(profiles[i].name, upper)) return &profiles[i];
    return NULL;
}

jang_status jang_profile_parse(const char *arg, const jang_profile **out) {
    if (!arg || !out) return jang_fail(JANG_E_ARG, "jang_profile_parse: NULL");
    size_t n = strlen(arg);
    bool digits = n > 0;
    for (size_t i = 0; i < n; i++)
        digits = digits && isdigit((unsigned char)arg[i]);
    if (digits) {
        /* raw.isdigit() -> profile_for_bits(int(raw)): clamped to 1..8 ("0" is JANG_1L, "9",
         * "007" and any longer number JANG_6M). Only ASCII digits: Python also accepts other
         * Unicode decimal digits here. */
        while (n > 1 && *arg == '0')
            arg++, n--;
        int v = n > 2 ? 99 : atoi(arg);
        *out = find(bit_to_profile[v < 1 ? 1 : v > 8 ? 8 : v]);
        return JANG_OK;
    }
    /* Otherwise raw.upper() must name a profile exactly (no trimming). */
    char up[32];
    if (n >= sizeof up) goto bad;
    for (size_t i = 0; i <= n; i++)
        up[i] = (char)toupper((unsigned char)arg[i]);
    if ((*out = find(up))) return JANG_OK;
bad:;
    char buf[64];
    *out = NULL;
    return jang_fail(JANG_E_ARG,
                     "unknown profile '%s' (JANG_1L, 2S, 2M, 2L, 3S, 3M, 3L, 4S, 4M, 4L, 6M, "
                     "JANG_2K..6K, or a number 1-8)",
                     jang_printable(arg, n, buf, sizeof buf));
}

static const char *const recipe_names[] = {
#define JANG_X_(e, s) s,
    JANG_RECIPE_MAP(JANG_X_)
#undef JANG_X_
};

const char *jang_recipe_name(jang_recipe r) {
    return (unsigned)r < JANG_RECIPE_COUNT ? recipe_names[r] : "?";
}

bool jang_recipe_parse(const char *s, jang_recipe *out) {
    for (int i = 0; s && i < JANG_RECIPE_COUNT; i++)
        if (!strcmp(s, recipe_names[i])) {
            *out = (jang_recipe)i;
            return true;
        }
    return false;
}

const char *jang_alloc_action_name(jang_alloc_action a) {
    switch (a) {
#define JANG_X_(e, s)                                                                              \
    case JANG_ALLOC_##e:                                                                           \
        return s;
        JANG_ALLOC_ACTION_MAP(JANG_X_)
#undef JANG_X_
    }
    return "?";
}
