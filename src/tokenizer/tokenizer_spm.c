/* tokenizer_spm.c — SentencePiece BPE by scores (llama.cpp's llm_tokenizer_spm, Llama-2 style):
 * start from UTF-8 characters, repeatedly merge the adjacent pair whose concatenation is the
 * vocabulary token of highest score (leftmost on ties), then emit each symbol's token, or its
 * bytes as <0xNN> byte tokens when the symbol is not a token (byte fallback).
 * The caller (tokenizer.c) has already added the space prefix and turned ' ' into U+2581.
 */
#include "tokenizer_internal.h"

#include <string.h>

static inline bool spm_before(const tok_heap_item *a, const tok_heap_item *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void spm_try(tok_ctx *c, const char *s, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const tok_sym *L = &c->sym[l], *R = &c->sym[r];
    uint32_t size = L->len + R->len;
    int32_t id = tok_find(c->t, s + L->off, size); /* the pair is contiguous in s */
    if (id < 0) return;
    const tok_heap_item it = {
        .score = c->t->tok[id].score, .left = l, .right = r, .a = (int32_t)size};
    tok_heap_push(c, it, spm_before);
}

/* Merges and emits s[0, len), one run between break bytes. */
static jang_status spm_run(tok_ctx *c, const char *s, size_t len) {
    const jang_tokenizer *t = c->t;
    if (len == 0) return JANG_OK;
    /* symbols: one per UTF-8 character (lead-byte length, clamped: invalid bytes stay bytes) */
    int64_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t l = (size_t)tok_utf8_len((uint8_t)s[i]);
        if (l > len - i) l = len - i;
        i += l;
        n++;
    }
    if (n > INT32_MAX / 4) return jang_fail(JANG_E_ARG, "tokenizer: fragment too long");
    if (n > c->cap_sym) {
        tok_sym *p = realloc(c->sym, (size_t)n * sizeof *p);
        if (!p) return jang_fail(JANG_E_NOMEM, "tokenizer: out of memory for symbols");
        c->sym = p;
        c->cap_sym = n;
    }
    if (3 * n > c->cap_heap) {
        tok_heap_item *h = realloc(c->heap, (size_t)(3 * n) * sizeof *h);
        if (!h) return jang_fail(JANG_E_NOMEM, "tokenizer: out of memory for the merge queue");
        c->heap = h;
        c->cap_heap = 3 * n;
    }
    int32_t k = 0;
    for (size_t i = 0; i < len; k++) {
        size_t l = (size_t)tok_utf8_len((uint8_t)s[i]);
        if (l > len - i) l = len - i;
        c->sym[k] = (tok_sym){.id = -1,
                              .prev = k - 1,
                              .next = k + 1 < n ? k + 1 : -1,
                              .off = (uint32_t)i,
                              .len = (uint32_t)l};
        i += l;
    }
    c->n_heap = 0;
    for (int32_t i = 1; i < (int32_t)n; i++)
        spm_try(c, s, i - 1, i);
    while (c->n_heap > 0) {
        tok_heap_item it = tok_heap_pop(c, spm_before);
        tok_sym *L = &c->sym[it.left], *R = &c->sym[it.right];
        if (L->len == 0 || R->len == 0 || L->len + R->len != (uint32_t)it.a) continue; /* stale */
        L->len += R->len;
        R->len = 0;
        L->next = R->next;
        if (R->next >= 0) c->sym[R->next].prev = it.left;
        spm_try(c, s, L->prev, it.left);
        spm_try(c, s, it.left, L->next);
    }
    jang_status st;
    for (int32_t i = 0; i >= 0; i = c->sym[i].next) {
        const tok_sym *y = &c->sym[i];
        int32_t id = tok_find(t, s + y->off, y->len);
        if (id >= 0) {
            if ((st = tok_emit(c, id))) return st;
            continue;
        }
        for (uint32_t b = 0; b < y->len; b++) { /* byte fallback */
            uint8_t ch = (uint8_t)s[y->off + b];
            int32_t bid = t->byte_tok[ch];
            if (bid < 0) bid = tok_find(t, (const char *)&ch, 1);
            if (bid < 0) bid = t->unk;
            if (bid >= 0 && (st = tok_emit(c, bid))) return st;
        }
    }
    return JANG_OK;
}

/* A break byte is in no token of two or more bytes, so its symbol never merges and the runs on
 * either side never meet: merging them apart gives the same result as one queue over the whole
 * fragment, with small queues (a 1 MB text is one fragment for SentencePiece). */
jang_status tok_spm_fragment(tok_ctx *c, const char *s, size_t len) {
    const jang_tokenizer *t = c->t;
    size_t start = 0;
    jang_status st;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = (uint8_t)s[i];
        if (b >= 128 || !t->spm_break[b]) continue;
        if ((st = spm_run(c, s + start, i - start))) return st;
        if ((st = spm_run(c, s + i, 1))) return st;
        start = i + 1;
    }
    return spm_run(c, s + start, len - start);
}
