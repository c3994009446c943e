/* gguf_names.c — llama.cpp tensor names -> Hugging Face / MLX names, and the value fix-ups that
 * undo what llama.cpp's convert_hf_to_gguf.py did to them:
 *   - Llama-family Q/K weights (and biases) are row-permuted for interleaved RoPE:
 *     w.reshape(n_head, 2, hd/2, ...).swapaxes(1, 2); we apply the inverse.
 *   - Gemma norm weights are stored as 1 + w.
 *   - Mamba's A_log is stored as A = -exp(A_log).
 * Both the names and the fix-ups come from the architecture's traits row (arch.c): a name maps
 * when its stem (before ".weight" / ".bias") is a tensor of that row. Stacked MoE experts keep
 * their GGUF stacking and take MLX's "switch_mlp" names. Tested by tests/test_desc.c.
 */
#include "arch.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static const char *const fix_names[] = {
#define JANG_X_(e, s) s,
    JANG_GGUF_FIX_MAP(JANG_X_)
#undef JANG_X_
};

const char *jang_gguf_fix_name(jang_gguf_fix f) {
    return (unsigned)f < sizeof fix_names / sizeof fix_names[0] ? fix_names[f] : "?";
}

/* The fix-up of a name that matched row tensor r by its stem, with suffix `suffix`: the row's,
 * for every suffix (a permuted projection's bias is permuted like its weight), except that the
 * 1 + w of Gemma norms is a weight's only. */
static jang_gguf_fix fix_of(const jang_arch_tensor *r, const char *suffix) {
    if (r->fix == JANG_GGUF_FIX_MINUS_ONE && strcmp(suffix, ".weight") != 0)
        return JANG_GGUF_FIX_NONE;
    return r->fix;
}

jang_status jang_gguf_map_name(jang_arch arch, const char *gguf_name, char *out, size_t cap,
                               jang_gguf_fix *fix) {
    char pbuf[96];
    const char *pn = jang_printable(gguf_name, strlen(gguf_name), pbuf, sizeof pbuf);
    if (fix) *fix = JANG_GGUF_FIX_NONE;
    if (cap) out[0] = '\0';
    const jang_arch_traits *t = jang_arch_traits_of(arch);
    /* split off the ".weight" / ".bias" suffix (Mamba's ssm_a and ssm_d have none) */
    size_t len = jang_arch_name_stem(gguf_name);
    const char *suffix = gguf_name + len;

    const jang_arch_tensor *r;
    int n;
    if (!strncmp(gguf_name, "blk.", 4)) {
        char *end;
        long layer = strtol(gguf_name + 4, &end, 10);
        if (end == gguf_name + 4 || *end != '.' || layer < 0 || layer > 100000)
            return jang_fail(JANG_E_NOTFOUND, "tensor '%s': malformed block index", pn);
        const char *stem = end + 1;
        if ((stem - gguf_name) > (ptrdiff_t)len)
            return jang_fail(JANG_E_NOTFOUND, "tensor '%s': malformed name", pn);
        r = jang_arch_find_gguf(t, stem, len - (size_t)(stem - gguf_name), true);
        if (!r)
            return jang_fail(JANG_E_NOTFOUND, "tensor '%s': no HF name known for %s", pn,
                             jang_arch_name(arch));
        n = snprintf(out, cap, "%s%ld.%.*s%s", t->layer_prefix, layer,
                     (int)jang_arch_name_stem(r->hf), r->hf, suffix);
    } else if (!strcmp(gguf_name, "rope_freqs.weight")) {
        return jang_fail(JANG_E_NOTFOUND,
                         "tensor '%s': llama.cpp-only (Llama-3 RoPE factors); HF keeps them in "
                         "config.json rope_scaling",
                         pn);
    } else {
        r = jang_arch_find_gguf(t, gguf_name, len, false);
        if (!r)
            return jang_fail(JANG_E_NOTFOUND, "tensor '%s': no HF name known for %s", pn,
                             jang_arch_name(arch));
        n = snprintf(out, cap, "%.*s%s", (int)jang_arch_name_stem(r->hf), r->hf, suffix);
    }
    if (n < 0 || (size_t)n >= cap)
        return jang_fail(JANG_E_ARG, "tensor '%s': output buffer too small", pn);
    if (fix) *fix = fix_of(r, suffix);
    return JANG_OK;
}

jang_status jang_unpermute_rows(float *w, int64_t rows, int64_t cols, int64_t n_head) {
    if (n_head <= 0 || rows <= 0 || cols <= 0 || rows % n_head || (rows / n_head) % 2)
        return jang_fail(JANG_E_ARG,
                         "unpermute: %lld rows cannot split into %lld heads of even size",
                         (long long)rows, (long long)n_head);
    int64_t hd = rows / n_head, half = hd / 2;
    size_t row_bytes = (size_t)cols * sizeof(float);
    float *tmp = jang_malloc((size_t)hd * row_bytes, "unpermute");
    if (!tmp) return JANG_E_NOMEM;
    for (int64_t h = 0; h < n_head; h++) {
        float *base = w + h * hd * cols;
        /* permuted row 2i + j holds original row j * half + i */
        for (int64_t i = 0; i < half; i++)
            for (int64_t j = 0; j < 2; j++)
                memcpy(tmp + (j * half + i) * cols, base + (2 * i + j) * cols, row_bytes);
        memcpy(base, tmp, (size_t)hd * row_bytes);
    }
    free(tmp);
    return JANG_OK;
}
