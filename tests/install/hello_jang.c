/* hello_jang.c — the smallest program against an installed libjang: scripts/check-install builds it
 * with `pkg-config --cflags --libs jang` (the shared library) and runs it on tests/data/tiny/llama.
 * Opens the model, one context, one forward step of token 1 at position 0; prints the top token.
 */
#include <jang.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: hello_jang MODEL\n");
        return 2;
    }
    jang_model *m = NULL;
    jang_context *c = NULL;
    float *logits = NULL;
    int32_t tok = 1, top = 0;
    jang_status s = jang_model_open(argv[1], NULL, &m);
    if (!s) s = jang_context_init(m, NULL, &c);
    if (!s && !(logits = malloc((size_t)jang_model_get_desc(m)->vocab_size * sizeof *logits)))
        s = JANG_E_NOMEM;
    if (!s) s = jang_context_forward(c, &tok, 1, 0, false, logits);
    if (!s) {
        for (int64_t i = 1; i < jang_model_get_desc(m)->vocab_size; i++)
            if (logits[i] > logits[top]) top = (int32_t)i;
        printf("libjang %s: top token %d (logit %.4f)\n", jang_version(), top, logits[top]);
    } else {
        fprintf(stderr, "hello_jang: %s: %s\n", jang_status_str(s), jang_last_error());
    }
    free(logits);
    jang_context_free(c);
    jang_model_close(m);
    return s ? 1 : 0;
}
