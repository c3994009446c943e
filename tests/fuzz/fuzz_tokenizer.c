/* fuzz_tokenizer.c — libFuzzer target for the tokenizer.
 *
 * The first input byte picks a mode; the rest is the payload:
 *   0-3  encode the payload as text with tests/data/tokenizer/smollm2 (byte-level BPE) or tok512
 *        (BPE over characters with byte fallback), flags from the low bit; every id must be in
 *        range, decode and streaming decode must agree, and valid UTF-8 without special-token
 *        parsing must round-trip exactly through the byte-level tokenizer;
 *   4    decode the payload as int32 ids (out-of-range ids must fail cleanly);
 *   5    load the payload as a GGUF vocabulary (jang_gguf_open_memory + jang_tokenizer_from_gguf)
 *        and, when it loads, encode and decode a fixed text with it.
 * Run from the repository root: make build-fuzz/fuzz_tokenizer && make fuzz.
 */
#include "jang.h"

#include "../../src/format/gguf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static jang_tokenizer *tk[2];
static bool spellable[256]; /* smollm2 has a token for byte b (21 bytes have none: dropped) */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *paths[2] = {"tests/data/tokenizer/smollm2", "tests/data/tokenizer/tok512"};
    for (int i = 0; i < 2; i++)
        if (jang_tokenizer_from_hf(paths[i], &tk[i]) != JANG_OK) {
            fprintf(stderr, "fuzz_tokenizer: %s (run from the repository root)\n",
                    jang_last_error());
            abort();
        }
    for (int b = 0; b < 256; b++) { /* GPT-2's byte alphabet */
        int n = 0, cp = -1;
        for (int k = 0; k < 256; k++) {
            bool pr = (k >= 0x21 && k <= 0x7E) || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE);
            if (k == b) cp = pr ? k : 256 + n;
            if (!pr) n++;
        }
        char s[3];
        size_t l = 1;
        if (cp < 0x80)
            s[0] = (char)cp;
        else
            s[0] = (char)(0xC0 | (cp >> 6)), s[1] = (char)(0x80 | (cp & 0x3F)), l = 2;
        spellable[b] = jang_tokenizer_find(tk[0], s, l) >= 0;
    }
    return 0;
}

/* Valid UTF-8 that smollm2 can spell byte for byte (so it must round-trip). */
static bool valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t l;
        uint32_t cp;
        if (c < 0x80)
            l = 1, cp = c;
        else if (c >= 0xC2 && c <= 0xDF)
            l = 2, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            l = 3, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            l = 4, cp = c & 0x07;
        else
            return false;
        if (i + l > n) return false;
        for (size_t k = 0; k < l; k++)
            if (!spellable[s[i + k]]) return false;
        for (size_t k = 1; k < l; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((l == 3 && cp < 0x800) || (l == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += l;
    }
    return true;
}

static void check_text(const jang_tokenizer *t, const char *text, size_t n, unsigned flags,
                       bool lossless) {
    int32_t *ids = NULL;
    int64_t m = 0;
    if (jang_tokenizer_encode(t, text, n, flags, &ids, &m) != JANG_OK) abort();
    for (int64_t i = 0; i < m; i++)
        if (ids[i] < 0 || ids[i] >= jang_tokenizer_n_vocab(t)) abort();
    char *back = NULL;
    size_t bl = 0;
    if (jang_tokenizer_decode(t, ids, m, JANG_DECODE_SPECIAL, &back, &bl) != JANG_OK) abort();
    if (lossless && (bl != n || memcmp(back, text, n))) abort();
    /* streaming gives the same bytes */
    jang_detok_stream st;
    jang_detok_stream_init(&st);
    char *acc = malloc(bl + 16);
    char piece[65536];
    size_t w = 0, k;
    for (int64_t i = 0; i < m; i++) {
        if (jang_detok_stream_next(t, &st, ids[i], JANG_DECODE_SPECIAL, piece, sizeof piece, &k))
            abort();
        if (w + k > bl) abort();
        memcpy(acc + w, piece, k);
        w += k;
    }
    w += jang_detok_stream_flush(&st, acc + w, 8);
    if (w != bl || memcmp(acc, back, bl)) abort();
    free(acc);
    free(back);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    unsigned mode = data[0] % 6;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    char *copy = malloc(n ? n : 1); /* exact size, so ASan sees over-reads */
    memcpy(copy, p, n);
    if (mode < 4) {
        const jang_tokenizer *t = tk[mode >> 1];
        unsigned flags = (mode & 1) ? JANG_ENCODE_PARSE_SPECIAL | JANG_ENCODE_ADD_SPECIAL : 0;
        check_text(t, copy, n, flags, mode == 0 && valid_utf8(p, n));
    } else if (mode == 4) {
        int64_t m = (int64_t)(n / 4);
        int32_t *ids = malloc((size_t)(m ? m : 1) * 4);
        memcpy(ids, copy, (size_t)m * 4);
        for (int i = 0; i < 2; i++) {
            bool in_range = true;
            for (int64_t k = 0; k < m; k++)
                if (ids[k] < 0 || ids[k] >= jang_tokenizer_n_vocab(tk[i])) in_range = false;
            char *txt = NULL;
            size_t tl;
            jang_status s = jang_tokenizer_decode(tk[i], ids, m, 0, &txt, &tl);
            if ((s == JANG_OK) != in_range) abort();
            free(txt);
        }
        free(ids);
    } else {
        jang_gguf *g = NULL;
        jang_tokenizer *t = NULL;
        if (jang_gguf_open_memory(n ? copy : NULL, n, "fuzz.gguf", &g) == JANG_OK) {
            if (jang_tokenizer_from_gguf(g, &t) == JANG_OK) {
                static const char text[] = "Hello <|im_start|> w\xc3\xb6rld 123 \xff\n\n  x";
                check_text(t, text, sizeof text - 1, JANG_ENCODE_PARSE_SPECIAL, false);
                check_text(t, text, sizeof text - 1, JANG_ENCODE_ADD_SPECIAL, false);
                jang_tokenizer_free(t);
            } else if (!jang_last_error()[0]) {
                abort(); /* failures must say why */
            }
            jang_gguf_close(g);
        }
    }
    free(copy);
    return 0;
}
