/* tokenizer_export.c — developer tool for tools/check_tokenizer_export.py (not part of make test).
 *
 *   tokenizer-export export MODEL.gguf OUTDIR   writes OUTDIR/tokenizer.json and
 *                                               tokenizer_config.json (jang_tokenizer_export_hf,
 *                                               what `jang convert` writes for a GGUF source)
 *   tokenizer-export ids MODEL TEXTS.json       prints, one JSON array per line, the ids our
 *                                               tokenizer gives each text of the JSON array
 *                                               TEXTS.json (MODEL: a GGUF file, or a directory
 *                                               with tokenizer.json), with BOS/EOS as the model
 *                                               adds them and special tokens parsed
 * Build: make build/tools/tokenizer-export.
 */
#include "jang.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int fail(const char *what) {
    fprintf(stderr, "tokenizer-export: %s: %s\n", what, jang_last_error());
    return 1;
}

static int write_file(const char *dir, const char *name, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, strlen(text), f) != strlen(text) || fclose(f) != 0) {
        perror(path);
        return 1;
    }
    return 0;
}

static bool is_gguf(const char *path) {
    FILE *f = fopen(path, "rb");
    char m[4] = {0};
    bool g = f && fread(m, 1, 4, f) == 4 && !memcmp(m, "GGUF", 4);
    if (f) fclose(f);
    return g;
}

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[1], "export") && strcmp(argv[1], "ids"))) {
        fprintf(stderr, "usage: tokenizer-export export MODEL.gguf OUTDIR\n"
                        "       tokenizer-export ids MODEL TEXTS.json\n");
        return 2;
    }
    jang_gguf *g = NULL;
    if (!strcmp(argv[1], "export")) {
        char *tj = NULL, *tc = NULL;
        if (jang_gguf_open(argv[2], &g) || jang_tokenizer_export_hf(g, &tj, &tc))
            return fail(argv[2]);
        mkdir(argv[3], 0777);
        int rc = write_file(argv[3], "tokenizer.json", tj) ||
                 write_file(argv[3], "tokenizer_config.json", tc);
        free(tj);
        free(tc);
        jang_gguf_close(g);
        return rc;
    }
    jang_tokenizer *t = NULL;
    if (is_gguf(argv[2]) ? jang_gguf_open(argv[2], &g) || jang_tokenizer_from_gguf(g, &t)
                         : jang_tokenizer_from_hf(argv[2], &t) != JANG_OK)
        return fail(argv[2]);
    json_error_t e;
    json_t *texts = json_load_file(argv[3], 0, &e);
    if (!json_is_array(texts)) {
        fprintf(stderr, "tokenizer-export: %s: not a JSON array (%s)\n", argv[3], e.text);
        return 1;
    }
    for (size_t i = 0; i < json_array_size(texts); i++) {
        json_t *s = json_array_get(texts, i);
        int32_t *ids = NULL;
        int64_t n = 0;
        if (jang_tokenizer_encode(t, json_string_value(s), json_string_length(s),
                                  JANG_ENCODE_ADD_SPECIAL | JANG_ENCODE_PARSE_SPECIAL, &ids, &n))
            return fail("encode");
        putchar('[');
        for (int64_t k = 0; k < n; k++)
            printf(k ? ",%d" : "%d", ids[k]);
        printf("]\n");
        free(ids);
    }
    json_decref(texts);
    jang_tokenizer_free(t);
    jang_gguf_close(g);
    return 0;
}
