/* llama_logits.c — a peer oracle: llama.cpp's logits for a text, every position.
 *
 * Build (after tools/build-llama-cpp): tools/compare-llama (does it for you).
 * Usage: llama-logits MODEL.gguf TEXTFILE OUT.bin [max_tokens]
 * OUT.bin: int32 n_tokens, int32 n_vocab, int32 tokens[n_tokens], float logits[n_tokens][n_vocab]
 * Tokenized by llama.cpp with its BOS rule (add_special) and specials parsed; f32 CPU, 1 sequence.
 */
#include "llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL.gguf TEXTFILE OUT.bin [max_tokens]\n", argv[0]);
        return 2;
    }
    int max_tokens = argc > 4 ? atoi(argv[4]) : 512;
    FILE *f = fopen(argv[2], "rb");
    if (!f) return perror(argv[2]), 1;
    static char text[1 << 20];
    size_t tl = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[tl] = 0;
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) return fprintf(stderr, "cannot load %s\n", argv[1]), 1;
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    int32_t *tok = malloc(sizeof(int32_t) * (tl + 16));
    int n = llama_tokenize(vocab, text, (int32_t)tl, tok, (int32_t)tl + 16, true, true);
    if (n < 0) return fprintf(stderr, "tokenize failed\n"), 1;
    if (n > max_tokens) n = max_tokens;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n + 8;
    cp.n_batch = (uint32_t)n;
    cp.n_ubatch = (uint32_t)n;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) return fprintf(stderr, "cannot create context\n"), 1;
    struct llama_batch b = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        b.token[i] = tok[i];
        b.pos[i] = i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = 1;
    }
    b.n_tokens = n;
    if (llama_decode(ctx, b) != 0) return fprintf(stderr, "decode failed\n"), 1;
    int32_t nv = llama_vocab_n_tokens(vocab);
    FILE *o = fopen(argv[3], "wb");
    if (!o) return perror(argv[3]), 1;
    fwrite(&n, 4, 1, o);
    fwrite(&nv, 4, 1, o);
    fwrite(tok, 4, (size_t)n, o);
    for (int i = 0; i < n; i++)
        fwrite(llama_get_logits_ith(ctx, i), 4, (size_t)nv, o);
    fclose(o);
    llama_batch_free(b);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    fprintf(stderr, "llama-logits: %d tokens, vocab %d -> %s\n", n, nv, argv[3]);
    return 0;
}
