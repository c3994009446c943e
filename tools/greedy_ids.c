/* greedy_ids.c — greedy continuation ids from our runtime, for cross-checks with other runtimes.
 *
 * Usage: greedy-ids MODEL N ID [ID ...]
 * Prints one line per generated token: "<id> <top1 logit> <top2 id> <top2 logit>", so a caller
 * comparing with another runtime can tell a real divergence from a near-tie (float rounding).
 * Build: make build/tools/greedy-ids. Used by tools/check_mlx_generate.py.
 */
#include "jang.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL N ID [ID ...]\n", argv[0]);
        return 2;
    }
    int n_gen = atoi(argv[2]), n = argc - 3;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(n + n_gen + 1));
    for (int i = 0; i < n; i++) ids[i] = atoi(argv[3 + i]);
    jang_context_opts o;
    jang_context_opts_init(&o);
    o.max_ctx = n + n_gen + 1;
    jang_model *m = NULL;
    jang_context *c = NULL;
    jang_status s = jang_model_open(argv[1], NULL, &m);
    if (!s) s = jang_context_init(m, &o, &c);
    if (s) return fprintf(stderr, "%s: %s\n", jang_status_str(s), jang_last_error()), 1;
    int64_t V = jang_model_get_desc(m)->vocab_size;
    float *l = malloc(sizeof(float) * (size_t)V);
    s = jang_context_forward(c, ids, n, 0, false, l);
    for (int k = 0; k < n_gen && !s; k++) {
        int64_t a = 0, b = -1;
        for (int64_t i = 1; i < V; i++)
            if (l[i] > l[a]) b = a, a = i;
            else if (b < 0 || l[i] > l[b]) b = i;
        printf("%lld %.6f %lld %.6f\n", (long long)a, l[a], (long long)b, l[b]);
        ids[n + k] = (int32_t)a;
        if (k + 1 < n_gen) s = jang_context_forward(c, ids + n + k, 1, n + k, false, l);
    }
    if (s) return fprintf(stderr, "%s: %s\n", jang_status_str(s), jang_last_error()), 1;
    jang_context_free(c);
    jang_model_close(m);
    free(l);
    free(ids);
    return 0;
}
