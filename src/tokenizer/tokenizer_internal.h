/* tokenizer_internal.h — the tokenizer's shared structure, used by tokenizer.c (vocabulary, special
 * tokens, encode/decode driver), tokenizer_bpe.c (pre-tokenizer regexes, byte-level map, BPE
 * merges), tokenizer_spm.c (SentencePiece score merges), tokenizer_gguf.c and tokenizer_hf.c
 * (loaders), and by src/model/hf_export.c (tokenizer.json from GGUF metadata). Not part of the
 * public API. Tested by tests/test_tokenizer.c.
 */
#ifndef JANG_TOKENIZER_INTERNAL_H
#define JANG_TOKENIZER_INTERNAL_H

#include "util.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Token attributes (a bit set, like llama.cpp's llama_token_attr: a token can be both
 * user-defined and, after the end-of-generation fix-ups, control). */
enum {
    TA_NORMAL = 1 << 0,
    TA_UNKNOWN = 1 << 1,
    TA_CONTROL = 1 << 2,
    TA_USER = 1 << 3,
    TA_UNUSED = 1 << 4,
    TA_BYTE = 1 << 5,
    TA_LSTRIP = 1 << 6, /* matching it eats the whitespace before it */
    TA_RSTRIP = 1 << 7, /* ... after it */
};
#define TA_SPECIAL (TA_CONTROL | TA_USER | TA_UNKNOWN) /* split out of the text before BPE */

typedef struct tok_token {
    uint32_t off, len; /* text in t->text */
    float score;       /* SentencePiece score (GGUF tokenizer.ggml.scores) */
    uint8_t type;      /* jang_token_type as the file says */
    uint8_t attr;      /* TA_* */
} tok_token;

typedef enum {
    TOK_BPE_BYTES, /* byte-level BPE: pieces are raw bytes, tokens spell them in GPT-2's alphabet */
    TOK_BPE_CHARS, /* BPE over UTF-8 characters (tokenizer.json without ByteLevel), byte fallback */
    TOK_SPM,       /* SentencePiece BPE by scores (GGUF "llama") */
} tok_kind;

/* Pre-tokenizer steps, applied in order to every piece. */
typedef enum { STEP_SPLIT, STEP_PREFIX_SPACE, STEP_METASPACE } tok_step_kind;
typedef enum { SPLIT_ISOLATED, SPLIT_REMOVED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT } tok_split_mode;
typedef enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER } tok_prepend;

typedef struct tok_step {
    tok_step_kind kind;
    pcre2_code *re;      /* STEP_SPLIT */
    tok_split_mode mode; /* STEP_SPLIT */
    bool invert;         /* STEP_SPLIT: the pieces are what does not match */
    char rep[8];         /* STEP_METASPACE: replacement for ' ' (UTF-8, usually U+2581) */
    size_t rep_len;
    tok_prepend prepend; /* STEP_METASPACE */
    bool split;          /* STEP_METASPACE: split before each replacement character */
} tok_step;

/* Normalizer steps (tokenizer.json), applied to every text fragment before pre-tokenizing. */
typedef enum {
    NORM_NFC,
    NORM_NFD,
    NORM_NFKC,
    NORM_NFKD,
    NORM_LOWER,
    NORM_PREPEND,
    NORM_REPLACE,
    NORM_STRIP
} tok_norm_kind;

typedef struct tok_norm {
    tok_norm_kind kind;
    char *a; /* PREPEND: the prefix; REPLACE: the literal pattern (when re == NULL) */
    size_t a_len;
    char *b; /* REPLACE: the replacement */
    size_t b_len;
    pcre2_code *re;   /* REPLACE with a regex pattern */
    bool left, right; /* STRIP */
} tok_norm;

typedef struct tok_merge {
    uint64_t key; /* (left id << 32) | right id; 0 with id < 0 marks an empty slot */
    int32_t rank;
    int32_t id; /* the merged token */
} tok_merge;

#define TOK_MAX_AFFIX 8

struct jang_tokenizer {
    tok_kind kind;
    char pre[64]; /* pre-tokenizer name for messages / jang_tokenizer_pre */
    char *chat_template;

    int32_t n_vocab;
    tok_token *tok; /* (n_vocab) */
    char *text;     /* every token's text, NUL-terminated one after the other */
    size_t text_len, text_cap;
    struct tok_slot {
        uint32_t tag; /* upper hash bits: most misses never touch the token table */
        int32_t id;   /* -1 = empty */
    } * map;          /* open-addressing hash of token text -> id */
    uint64_t map_mask;
    int32_t max_token_len;

    tok_merge *merges; /* open-addressing hash of (left, right) -> (rank, merged id) */
    uint64_t merge_mask;
    int64_t n_merges;

    int32_t byte_tok[256]; /* byte-level: id of the token spelling byte b; others: <0xNN> ids */

    tok_step *steps;
    int n_steps;
    tok_norm *norms;
    int n_norms;

    /* special tokens matched in the text, grouped by first byte, longest first in each group */
    int32_t *spec;
    int32_t spec_start[257];

    int32_t bos, eos, eot, eom, unk, pad;
    bool add_bos, add_eos;
    int32_t prefix[TOK_MAX_AFFIX], suffix[TOK_MAX_AFFIX]; /* ids JANG_ENCODE_ADD_SPECIAL adds */
    int n_prefix, n_suffix;
    bool add_space_prefix;  /* SPM: " " before the text and after each special token */
    bool escape_spaces;     /* SPM: ' ' -> U+2581 */
    bool strip_space;       /* decode: drop the leading space of the first visible piece */
    bool ignore_merges;     /* a whole pre-token that is in the vocabulary is taken as is */
    bool byte_fallback;     /* BPE_CHARS: unknown characters become <0xNN> tokens */
    bool fuse_unk;          /* BPE_CHARS: consecutive unknown characters give one <unk> */
    bool sanitize_utf8;     /* replace invalid UTF-8 before normalizers / regexes */
    uint8_t *eog;           /* (n_vocab) 1 = ends generation */
    uint8_t spm_break[128]; /* SPM: ASCII bytes no token of two or more bytes contains ('\n'):
                             * merges never cross them, so the merge queue restarts there */
};

/* ---- vocabulary building (tokenizer.c) ---- */
jang_status tok_alloc_vocab(jang_tokenizer *t, int64_t n, const char *what);
/* Sets the text of token id (copied); empty texts are allowed (not entered into the map). */
jang_status tok_set_text(jang_tokenizer *t, int32_t id, const char *s, size_t len);
/* Builds the text -> id map. With later_wins, a later id wins on duplicate texts; without,
 * a duplicate is a JANG_E_FORMAT error naming both ids (what names the file). */
jang_status tok_build_map(jang_tokenizer *t, bool later_wins, const char *what);
/* Maps text to id with `id` winning over an existing entry (used for added tokens). */
jang_status tok_map_put(jang_tokenizer *t, int32_t id);
int32_t tok_find(const jang_tokenizer *t, const char *s, size_t len);
static inline const char *tok_text(const jang_tokenizer *t, int32_t id) {
    return t->text + t->tok[id].off;
}
/* Merge table. */
jang_status tok_merges_alloc(jang_tokenizer *t, int64_t n);
/* Adds a merge "left right" (texts) with the given rank; what/index name it in errors. */
jang_status tok_merge_add_text(jang_tokenizer *t, const char *l, size_t ll, const char *r,
                               size_t rl, int32_t rank, const char *what);
static inline bool tok_merge_find(const jang_tokenizer *t, int32_t l, int32_t r, int32_t *rank,
                                  int32_t *id) {
    if (!t->merges) return false;
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    uint64_t h = (key * 0x9E3779B97F4A7C15ull) >> 17;
    for (uint64_t i = h & t->merge_mask;; i = (i + 1) & t->merge_mask) {
        const tok_merge *m = &t->merges[i];
        if (m->id < 0) return false;
        if (m->key == key) {
            *rank = m->rank;
            *id = m->id;
            return true;
        }
    }
}
/* Final fix-ups common to both loaders: special-token groups, EOT / EOG detection, byte tokens,
 * the prefix/suffix ids from add_bos/add_eos when the loader did not set them. */
jang_status tok_finish(jang_tokenizer *t, const char *model_name, const char *what);

/* ---- regexes (tokenizer_bpe.c) ---- */
/* Compiles a pre-tokenizer pattern with PCRE2 (UTF, UCP, JIT when available). \s also matches
 * U+0085 as in llama.cpp and Oniguruma. literal: the pattern is a plain string. */
jang_status tok_regex_compile(const char *pat, size_t len, bool literal, pcre2_code **out,
                              const char *what);
/* Sets t->steps to llama.cpp's regexes for a GGUF tokenizer.ggml.pre; flags it implies. */
jang_status tok_pre_from_gguf(jang_tokenizer *t, const char *pre, bool *clean_spaces,
                              bool *ignore_merges, bool *add_bos, bool *no_bos, const char *what);
/* The same preset as plain data (tokenizer_export.c): its regexes in order (*n_re of them), whether
 * whole vocabulary words skip the merges, and whether BOS is added. false when pre is unknown. */
bool tok_pre_regexes(const char *pre, const char *const **re, int *n_re, bool *ignore_merges,
                     bool *add_bos);
/* GPT-2 byte <-> unicode: the code point byte b is spelled with, and the inverse (-1 if none). */
uint32_t tok_byte_to_cp(uint8_t b);
int tok_cp_to_byte(uint32_t cp);

/* ---- encoding scratch (one per encode call) ---- */
typedef struct tok_span {
    uint32_t off, len; /* in ctx->buf */
    bool origin;       /* starts at offset 0 of the caller's text (Metaspace "first") */
} tok_span;

typedef struct tok_sym {
    int32_t id; /* token id (-1: none) */
    int32_t prev, next;
    uint32_t off, len; /* bytes in the word (SPM: in the fragment) */
} tok_sym;

typedef struct tok_heap_item {
    float score;  /* SPM: higher first */
    int32_t rank; /* BPE: lower first */
    int32_t left, right;
    int32_t a, b; /* BPE: ids the pair had when pushed; SPM: a = size in bytes */
    int32_t id;   /* BPE: merged id */
} tok_heap_item;

typedef struct tok_ctx {
    const jang_tokenizer *t;
    int32_t *out;
    int64_t n_out, cap_out;
    char *buf; /* arena for fragments and pieces */
    size_t buf_len, buf_cap;
    tok_span *sp[2];
    int64_t n_sp[2], cap_sp[2];
    tok_sym *sym;
    int64_t cap_sym;
    tok_heap_item *heap;
    int64_t n_heap, cap_heap;
    char *tmp; /* word spelling for ignore_merges */
    size_t cap_tmp;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
} tok_ctx;

/* The merge heap shared by BPE (lowest rank first) and SentencePiece (highest score first): a
 * binary min-heap of c->heap[0 .. n_heap) under `before`; static inline so that each caller's
 * comparison is inlined (the tokenizer's hot loop). */
typedef bool (*tok_heap_before)(const tok_heap_item *a, const tok_heap_item *b);

static inline void tok_heap_push(tok_ctx *c, tok_heap_item it, tok_heap_before before) {
    int64_t i = c->n_heap++;
    tok_heap_item *h = c->heap;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!before(&it, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = it;
}

static inline tok_heap_item tok_heap_pop(tok_ctx *c, tok_heap_before before) {
    tok_heap_item *h = c->heap;
    tok_heap_item top = h[0], last = h[--c->n_heap];
    int64_t n = c->n_heap, i = 0;
    for (;;) {
        int64_t l = 2 * i + 1;
        if (l >= n) break;
        int64_t m = (l + 1 < n && before(&h[l + 1], &h[l])) ? l + 1 : l;
        if (!before(&h[m], &last)) break;
        h[i] = h[m];
        i = m;
    }
    if (n > 0) h[i] = last;
    return top;
}

jang_status tok_emit(tok_ctx *c, int32_t id);
jang_status tok_buf_reserve(tok_ctx *c, size_t extra);
/* Pre-tokenizes and BPE-encodes one normalized fragment held in c->buf[off, off+len). */
jang_status tok_bpe_fragment(tok_ctx *c, uint32_t off, uint32_t len, bool origin);
/* SentencePiece-encodes s[0, len) (already prefixed and escaped). */
jang_status tok_spm_fragment(tok_ctx *c, const char *s, size_t len);
void tok_ctx_free(tok_ctx *c);

/* ---- loaders ---- */
void tok_free_steps(jang_tokenizer *t);

/* UTF-8 helpers */
static inline int tok_utf8_len(uint8_t lead) { /* llama.cpp's unicode_len_utf8 */
    static const uint8_t lut[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lut[lead >> 4];
}
/* Strict decode of one character at s[0..n): its length, or 0 when invalid (overlong,
 * surrogate, > U+10FFFF, truncated). */
int tok_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);
int tok_utf8_encode(uint32_t cp, char *out);

#endif
