/* rope.c — RoPE's inverse frequencies as transformers' rope init functions compute them (default,
 * linear, llama3, yarn), on the host once per model; the rotation itself is a backend op
 * (backend.h). Tested through tests/test_model.c (the llama3rope fixture) against transformers.
 */
#include "model_internal.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>

static double yarn_correction_dim(double n_rot, double dim, double base, double max_pos) {
    return (dim * log(max_pos / (n_rot * 2.0 * M_PI))) / (2.0 * log(base));
}

jang_status jang_rope_freqs(const jang_model_desc *d, float **inv_freq, float *mscale) {
    int64_t half = d->rope_dim / 2;
    *inv_freq = NULL;
    *mscale = 1.0f;
    float *f = jang_malloc((size_t)(half > 0 ? half : 1) * sizeof(float), "rope");
    if (!f) return JANG_E_NOMEM;
    /* transformers computes base ** (arange(0, dim, 2) / dim) in float32 (int64 -> float) */
    for (int64_t i = 0; i < half; i++)
        f[i] = (float)(1.0 / pow(d->rope_theta, (double)(2 * i) / (double)d->rope_dim));
    switch (d->rope_scaling) {
    case JANG_ROPE_SCALING_NONE:
        break;
    case JANG_ROPE_SCALING_LINEAR:
        for (int64_t i = 0; i < half; i++)
            f[i] = (float)(f[i] / d->rope_factor);
        break;
    case JANG_ROPE_SCALING_LLAMA3: {
        double orig = (double)d->rope_orig_ctx, lo = d->rope_low_freq_factor,
               hi = d->rope_high_freq_factor, factor = d->rope_factor;
        if (!(orig > 0) || !(hi > lo)) {
            free(f);
            return jang_fail(JANG_E_FORMAT, "llama3 RoPE scaling needs original context and "
                                            "high_freq_factor > low_freq_factor");
        }
        double low_wl = orig / lo, high_wl = orig / hi;
        for (int64_t i = 0; i < half; i++) {
            double wl = 2.0 * M_PI / f[i];
            double v = f[i];
            if (wl > low_wl) {
                v = f[i] / factor;
            } else if (wl >= high_wl) {
                double smooth = (orig / wl - lo) / (hi - lo);
                v = (1 - smooth) * f[i] / factor + smooth * f[i];
            }
            f[i] = (float)v;
        }
        break;
    }
    case JANG_ROPE_SCALING_YARN: {
        double dim = (double)d->rope_dim, base = d->rope_theta, factor = d->rope_factor;
        double orig = d->rope_orig_ctx > 0 ? (double)d->rope_orig_ctx : (double)d->max_seq_len;
        double low = floor(yarn_correction_dim(d->rope_beta_fast, dim, base, orig));
        double high = ceil(yarn_correction_dim(d->rope_beta_slow, dim, base, orig));
        if (low < 0) low = 0;
        if (high > dim - 1) high = dim - 1;
        if (low == high) high += 0.001;
        for (int64_t i = 0; i < half; i++) {
            double pos_freq = pow(base, (double)(2 * i) / dim);
            double extra = 1.0 / pos_freq, inter = 1.0 / (factor * pos_freq);
            double ramp = ((double)i - low) / (high - low);
            ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
            double ef = 1.0 - ramp; /* extrapolation factor */
            f[i] = (float)(inter * (1 - ef) + extra * ef);
        }
        *mscale = factor > 1 ? (float)(0.1 * log(factor) + 1.0) : 1.0f;
        break;
    }
    default:
        free(f);
        return jang_fail(JANG_E_UNSUPPORTED, "RoPE scaling %s",
                         jang_rope_scaling_name(d->rope_scaling));
    }
    *inv_freq = f;
    return JANG_OK;
}
