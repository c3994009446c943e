/* dequant_dump.c — writes every tensor of a GGUF file, dequantized by libjang, to stdout as a
 * binary stream for tools/check_gguf_dequant.py (which compares it with gguf-py bit for bit).
 *
 * Usage: build/tools/dequant-dump FILE.gguf [TENSOR_NAME...] > dump.bin
 * Stream (little-endian), one record per tensor in file order (or in the order named):
 *   u32 name_len, name bytes, u32 ggml type, i64 n_elements, u8 ok,
 *   then, when ok == 1, n_elements float32 values (ok == 0: type not supported by jang);
 * then a terminating u32 0xffffffff. Errors go to stderr with exit status 1.
 * Build: make build/tools/dequant-dump. Not part of make test.
 */
#include "jang.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int put(const void *p, size_t n) { return fwrite(p, 1, n, stdout) == n ? 0 : -1; }

static int dump(const jang_gguf_tensor *t) {
    uint32_t len = (uint32_t)strlen(t->name);
    int64_t n = t->n_elements;
    uint8_t ok = jang_ggml_can_dequantize(t->type);
    if (put(&len, 4) || put(t->name, len) || put(&t->type, 4) || put(&n, 8) || put(&ok, 1))
        return -1;
    if (!ok) return 0;
    float *out = malloc((size_t)(n ? n : 1) * sizeof(float));
    if (!out) {
        fprintf(stderr, "dequant-dump: %s: out of memory\n", t->name);
        return -1;
    }
    jang_status s = jang_gguf_dequantize(t, out);
    if (s != JANG_OK) {
        fprintf(stderr, "dequant-dump: %s\n", jang_last_error());
        free(out);
        return -1;
    }
    int r = put(out, (size_t)n * sizeof(float));
    free(out);
    return r;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE.gguf [TENSOR_NAME...] > dump.bin\n", argv[0]);
        return 2;
    }
    jang_gguf *g;
    if (jang_gguf_open(argv[1], &g) != JANG_OK) {
        fprintf(stderr, "dequant-dump: %s\n", jang_last_error());
        return 1;
    }
    int rc = 0;
    if (argc > 2) {
        for (int i = 2; i < argc && !rc; i++) {
            const jang_gguf_tensor *t = jang_gguf_find_tensor(g, argv[i]);
            if (!t) {
                fprintf(stderr, "dequant-dump: %s: no tensor '%s'\n", argv[1], argv[i]);
                rc = 1;
            } else if (dump(t)) {
                rc = 1;
            }
        }
    } else {
        for (int64_t i = 0; i < jang_gguf_n_tensors(g) && !rc; i++)
            if (dump(jang_gguf_tensor_at(g, i))) rc = 1;
    }
    uint32_t end = 0xffffffffu;
    if (!rc && (put(&end, 4) || fflush(stdout))) rc = 1;
    jang_gguf_close(g);
    return rc;
}
