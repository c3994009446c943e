/* tokenizer_bpe.c — BPE encoding: pre-tokenizer regexes (PCRE2 with UTF + UCP, JIT-compiled), the
 * GPT-2 byte <-> unicode alphabet, and the merge loop.
 *
 * Pre-tokenizing follows llama.cpp's unicode_regex_split: each regex of a list is applied to every
 * piece the previous one produced, as its own subject (so look-aheads see the piece's end), and
 * both the matches and the text between them become pieces (tokenizers' Split "isolated").
 * The regexes for a GGUF tokenizer.ggml.pre are llama.cpp's (llama-vocab.cpp, llm_tokenizer_bpe).
 * The merge loop is llama.cpp's / tokenizers': repeatedly merge the adjacent pair of lowest rank,
 * leftmost first, with a binary heap and lazy deletion: O(n log n) per pre-token.
 */
#include "tokenizer_internal.h"

#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * GPT-2's byte alphabet: printable Latin-1 bytes stand for themselves, the other 68 bytes for
 * U+0100.. in byte order (tokenizers' bytes_char, llama.cpp's unicode_byte_to_utf8_map).
 */
static bool byte_is_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t tok_byte_to_cp(uint8_t b) {
    if (byte_is_printable(b)) return b;
    uint32_t n = 0;
    for (unsigned k = 0; k < b; k++)
        if (!byte_is_printable(k)) n++;
    return 256 + n;
}

int tok_cp_to_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    uint32_t n = 0;
    for (unsigned k = 0; k < 256; k++)
        if (!byte_is_printable(k) && n++ == cp - 256) return (int)k;
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * Regexes
 */

/* Rewrites \s so that it also matches U+0085 (NEL): llama.cpp's whitespace table and Oniguruma
 * (tokenizers) include it, PCRE2's \s with UCP (= \p{Xps}) does not. */
static char *rewrite_ws(const char *p, size_t n, size_t *out_len) {
    char *o = malloc(n * 12 + 1);
    if (!o) return NULL;
    size_t w = 0;
    bool in_class = false;
    for (size_t i = 0; i < n;) {
        char ch = p[i];
        if (ch == '\\' && i + 1 < n) {
            char nx = p[i + 1];
            if (nx == 's') {
                const char *r = in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
                memcpy(o + w, r, strlen(r));
                w += strlen(r);
            } else if (nx == 'S' && !in_class) {
                memcpy(o + w, "[^\\s\\x{85}]", 11);
                w += 11;
            } else {
                o[w++] = ch;
                o[w++] = nx;
            }
            i += 2;
            continue;
        }
        if (!in_class && ch == '[') {
            in_class = true;
            o[w++] = p[i++];
            if (i < n && p[i] == '^') o[w++] = p[i++];
            if (i < n && p[i] == ']') o[w++] = p[i++]; /* a leading ] is a literal */
            continue;
        }
        if (in_class && ch == '[' && i + 1 < n && p[i + 1] == ':') { /* [:alpha:] */
            while (i < n && !(p[i] == ']' && p[i - 1] == ':'))
                o[w++] = p[i++];
            if (i < n) o[w++] = p[i++];
            continue;
        }
        if (in_class && ch == ']') in_class = false;
        o[w++] = p[i++];
    }
    o[w] = '\0';
    *out_len = w;
    return o;
}

jang_status tok_regex_compile(const char *pat, size_t len, bool literal, pcre2_code **out,
                              const char *what) {
    *out = NULL;
    size_t n = len;
    char *rw = NULL;
    const char *src = pat;
    if (!literal) {
        rw = rewrite_ws(pat, len, &n);
        if (!rw) return jang_fail(JANG_E_NOMEM, "%s: out of memory", what);
        src = rw;
    }
    int err;
    PCRE2_SIZE erroff;
    uint32_t opt = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, n, opt, &err, &erroff, NULL);
    free(rw);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        char buf[120];
        return jang_fail(JANG_E_UNSUPPORTED, "%s: pre-tokenizer regex '%s' does not compile: %s",
                         what, jang_printable(pat, len, buf, sizeof buf), (const char *)msg);
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* without JIT the interpreter runs it */
    *out = re;
    return JANG_OK;
}

/* llama.cpp's pre-tokenizer regex lists (LLAMA_VOCAB_PRE_TYPE_*). */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_CONTRACT "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3                                                                                  \
    RE_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"       \
                "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                                   \
    RE_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"            \
                "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* tekken and gpt-4o: the tokenizer.json originals (llama.cpp rewrites them for std::regex) */
#define RE_UPPER "[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]"
#define RE_LOWER "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]"
#define RE_TEKKEN                                                                                  \
    "[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER "*" RE_LOWER "+|[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER             \
    "+" RE_LOWER "*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_GPT4O                                                                                   \
    "[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER "*" RE_LOWER "+" RE_CONTRACT                                 \
    "?|[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER "+" RE_LOWER "*" RE_CONTRACT                               \
    "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|"                                 \
    "\\s+(?!\\S)|\\s+"

typedef struct pre_preset {
    const char *re[6];
    bool clean_spaces, ignore_merges, add_bos, no_bos;
} pre_preset;

enum {
    P_DEFAULT,
    P_GPT2,
    P_LLAMA3,
    P_LLAMA3_PLAIN,
    P_QWEN2,
    P_STARCODER,
    P_DEEPSEEK_CODER,
    P_DEEPSEEK3,
    P_FALCON,
    P_CHATGLM4,
    P_PORO,
    P_TEKKEN,
    P_GPT4O,
    P_SEED_CODER
};

static const pre_preset presets[] = {
    [P_DEFAULT] = {{"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}, true},
    [P_GPT2] = {{RE_GPT2}, true},
    [P_LLAMA3] = {{RE_LLAMA3}, true, true, true},
    [P_LLAMA3_PLAIN] = {{RE_LLAMA3}, true},
    [P_QWEN2] = {{RE_QWEN2}, false},
    [P_STARCODER] = {{"\\p{N}", RE_GPT2}, true},
    [P_DEEPSEEK_CODER] = {{"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+",
                           "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+",
                           "\\p{N}"},
                          false},
    [P_DEEPSEEK3] =
        {{"\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
          "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?"
          "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"},
         false},
    [P_FALCON] = {{"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}, true},
    [P_CHATGLM4] = {{RE_LLAMA3}, true, false, false, true},
    [P_PORO] = {{" ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{0964}\\x{06D4}\\x{060C})]+"},
                false},
    [P_TEKKEN] = {{RE_TEKKEN}, false, true, true},
    [P_GPT4O] = {{RE_GPT4O}, false},
    [P_SEED_CODER] = {{RE_CONTRACT
                       "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|"
                       "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
                      false},
};

static const struct {
    const char *name;
    int preset;
} pre_names[] = {
    {"default", P_DEFAULT},
    {"llama3", P_LLAMA3},
    {"llama-v3", P_LLAMA3},
    {"llama-bpe", P_LLAMA3},
    {"falcon3", P_LLAMA3},
    {"falcon-h1", P_LLAMA3},
    {"pixtral", P_LLAMA3},
    {"midm-2.0", P_LLAMA3},
    {"lfm2", P_LLAMA3},
    {"jina-v5-nano", P_LLAMA3},
    {"dbrx", P_LLAMA3_PLAIN},
    {"smaug-bpe", P_LLAMA3_PLAIN},
    {"deepseek-coder", P_DEEPSEEK_CODER},
    {"deepseek-v3", P_DEEPSEEK3},
    {"falcon", P_FALCON},
    {"mpt", P_GPT2},
    {"olmo", P_GPT2},
    {"jais", P_GPT2},
    {"gpt-2", P_GPT2},
    {"phi-2", P_GPT2},
    {"jina-es", P_GPT2},
    {"jina-de", P_GPT2},
    {"gigachat", P_GPT2},
    {"jina-v2-es", P_GPT2},
    {"jina-v2-de", P_GPT2},
    {"a.x-4.0", P_GPT2},
    {"mellum", P_GPT2},
    {"modern-bert", P_GPT2},
    {"exaone4", P_GPT2},
    {"trillion", P_GPT2},
    {"granite-docling", P_GPT2},
    {"jina-v1-en", P_GPT2},
    {"jina-v2-code", P_GPT2},
    {"roberta-bpe", P_GPT2},
    {"starcoder", P_STARCODER},
    {"refact", P_STARCODER},
    {"command-r", P_STARCODER},
    {"smollm", P_STARCODER},
    {"codeshell", P_STARCODER},
    {"exaone", P_STARCODER},
    {"minerva-7b", P_STARCODER},
    {"mellum2", P_STARCODER},
    {"qwen2", P_QWEN2},
    {"deepseek-r1-qwen", P_QWEN2},
    {"kormo", P_QWEN2},
    {"f2llmv2", P_QWEN2},
    {"stablelm2", P_QWEN2},
    {"megrez", P_QWEN2},
    {"hunyuan", P_QWEN2},
    {"solar-open", P_QWEN2},
    {"chatglm-bpe", P_CHATGLM4},
    {"glm4", P_CHATGLM4},
    {"poro-chat", P_PORO},
    {"bloom", P_PORO},
    {"gpt3-finnish", P_PORO},
    {"tekken", P_TEKKEN},
    {"gpt-4o", P_GPT4O},
    {"llama4", P_GPT4O},
    {"kanana2", P_GPT4O},
    {"talkie", P_GPT4O},
    {"minimax-m2", P_GPT4O},
    {"seed-coder", P_SEED_CODER},
};

jang_status tok_pre_from_gguf(jang_tokenizer *t, const char *pre, bool *clean_spaces,
                              bool *ignore_merges, bool *add_bos, bool *no_bos, const char *what) {
    int p = -1;
    if (!pre || !pre[0]) {
        /* llama.cpp falls back to its 'default' list with a warning; old GGUFs without the key
         * (gpt-neox, gpt-2 conversions) were byte-level BPE with GPT-2's regex, so use that */
        p = P_GPT2;
    } else {
        for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++)
            if (!strcmp(pre_names[i].name, pre)) p = pre_names[i].preset;
    }
    if (p < 0)
        return jang_fail(JANG_E_UNSUPPORTED, "%s: unknown pre-tokenizer type '%s'", what, pre);
    const pre_preset *ps = &presets[p];
    int n = 0;
    while (n < 6 && ps->re[n])
        n++;
    t->steps = jang_calloc((size_t)n, sizeof *t->steps, what);
    if (!t->steps) return JANG_E_NOMEM;
    for (int i = 0; i < n; i++) {
        tok_step *st = &t->steps[t->n_steps];
        st->kind = STEP_SPLIT;
        st->mode = SPLIT_ISOLATED;
        jang_status s = tok_regex_compile(ps->re[i], strlen(ps->re[i]), false, &st->re, what);
        if (s) return s;
        t->n_steps++;
    }
    *clean_spaces = ps->clean_spaces;
    *ignore_merges = ps->ignore_merges;
    *add_bos = ps->add_bos;
    *no_bos = ps->no_bos;
    return JANG_OK;
}

bool tok_pre_regexes(const char *pre, const char *const **re, int *n_re, bool *ignore_merges,
                     bool *add_bos) {
    int p = -1;
    if (!pre || !pre[0]) {
        p = P_GPT2;
    } else {
        for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++)
            if (!strcmp(pre_names[i].name, pre)) p = pre_names[i].preset;
    }
    if (p < 0) return false;
    const pre_preset *ps = &presets[p];
    int n = 0;
    while (n < 6 && ps->re[n])
        n++;
    *re = ps->re;
    *n_re = n;
    *ignore_merges = ps->ignore_merges;
    *add_bos = ps->add_bos && !ps->no_bos;
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Pre-tokenizing
 */
static jang_status span_push(tok_ctx *c, int k, uint32_t off, uint32_t len, bool origin) {
    if (c->n_sp[k] == c->cap_sp[k]) {
        int64_t cap = c->cap_sp[k] ? c->cap_sp[k] * 2 : 256;
        tok_span *p = realloc(c->sp[k], (size_t)cap * sizeof *p);
        if (!p) return jang_fail(JANG_E_NOMEM, "tokenizer: out of memory for pieces");
        c->sp[k] = p;
        c->cap_sp[k] = cap;
    }
    c->sp[k][c->n_sp[k]++] = (tok_span){off, len, origin};
    return JANG_OK;
}

/* Finds the next match of re in s[0, n) at or after start: 1 found (*ms, *me), 0 none. */
static int re_next(tok_ctx *c, const pcre2_code *re, const char *s, size_t n, size_t start,
                   size_t *ms, size_t *me, jang_status *err) {
    if (!c->md) {
        c->md = pcre2_match_data_create(1, NULL);
        if (!c->md) {
            *err = jang_fail(JANG_E_NOMEM, "tokenizer: out of memory for regex match data");
            return -1;
        }
    }
    for (;;) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, c->md, c->mctx);
        if (rc >= 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
            *ms = ov[0];
            *me = ov[1];
            return 1;
        }
        if (rc == PCRE2_ERROR_NOMATCH) return 0;
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !c->jit) {
            c->mctx = pcre2_match_context_create(NULL);
            c->jit = pcre2_jit_stack_create(64 * 1024, 64 * 1024 * 1024, NULL);
            if (!c->mctx || !c->jit) {
                *err = jang_fail(JANG_E_NOMEM, "tokenizer: out of memory for the regex stack");
                return -1;
            }
            pcre2_jit_stack_assign(c->mctx, NULL, c->jit);
            continue;
        }
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(rc, msg, sizeof msg);
        *err = jang_fail(JANG_E_UNSUPPORTED,
                         "tokenizer: pre-tokenizer regex failed on a %zu-byte "
                         "piece: %s",
                         n, (const char *)msg);
        return -1;
    }
}

/* Splits every piece of list src into list dst with st's regex and mode. */
static jang_status step_split(tok_ctx *c, const tok_step *st, int src, int dst) {
    c->n_sp[dst] = 0;
    jang_status err = JANG_OK;
    for (int64_t k = 0; k < c->n_sp[src]; k++) {
        tok_span p = c->sp[src][k];
        const char *s = c->buf + p.off;
        size_t pos = 0, search = 0;
        int64_t first = c->n_sp[dst];
        bool prev_match = false, have_prev = false, pending = false;
        size_t pend_off = 0, pend_len = 0;
        for (;;) {
            size_t ms = p.len, me = p.len;
            int r = search <= p.len ? re_next(c, st->re, s, p.len, search, &ms, &me, &err) : 0;
            if (r < 0) return err;
            if (r == 0) ms = me = p.len;
            if (r == 1 && me == ms) { /* empty match: no piece; look again one character on */
                search = ms + (ms < p.len ? (size_t)tok_utf8_len((uint8_t)s[ms]) : 1);
                if (search > p.len)
                    r = 0, ms = me = p.len;
                else
                    continue;
            }
            /* two segments: the gap [pos, ms) and the match [ms, me) */
            for (int seg = 0; seg < 2; seg++) {
                size_t a = seg == 0 ? pos : ms, b = seg == 0 ? ms : me;
                if (b <= a) continue;
                bool is_match = (seg == 1) != st->invert;
                uint32_t off = p.off + (uint32_t)a, len = (uint32_t)(b - a);
                switch (st->mode) {
                case SPLIT_ISOLATED:
                    err = span_push(c, dst, off, len, false);
                    break;
                case SPLIT_REMOVED:
                    if (!is_match) err = span_push(c, dst, off, len, false);
                    break;
                case SPLIT_MERGED_PREV:
                    if (is_match && have_prev && !prev_match)
                        c->sp[dst][c->n_sp[dst] - 1].len += len;
                    else
                        err = span_push(c, dst, off, len, false);
                    break;
                case SPLIT_MERGED_NEXT:
                    if (is_match) {
                        if (pending)
                            err = span_push(c, dst, (uint32_t)pend_off, (uint32_t)pend_len, false);
                        pending = true, pend_off = off, pend_len = len;
                    } else if (pending) {
                        err =
                            span_push(c, dst, (uint32_t)pend_off, (uint32_t)pend_len + len, false);
                        pending = false;
                    } else {
                        err = span_push(c, dst, off, len, false);
                    }
                    break;
                }
                if (err) return err;
                prev_match = is_match;
                have_prev = true;
            }
            pos = me;
            search = me;
            if (r == 0 || pos >= p.len) break;
        }
        if (pending && (err = span_push(c, dst, (uint32_t)pend_off, (uint32_t)pend_len, false)))
            return err;
        if (p.origin && c->n_sp[dst] > first && c->sp[dst][first].off == p.off)
            c->sp[dst][first].origin = true;
    }
    return JANG_OK;
}

/* ByteLevel add_prefix_space: " " before every piece that does not start with one. */
static jang_status step_prefix_space(tok_ctx *c, int src, int dst) {
    c->n_sp[dst] = 0;
    for (int64_t k = 0; k < c->n_sp[src]; k++) {
        tok_span p = c->sp[src][k];
        jang_status st;
        if (p.len > 0 && c->buf[p.off] == ' ') {
            if ((st = span_push(c, dst, p.off, p.len, p.origin))) return st;
            continue;
        }
        if ((st = tok_buf_reserve(c, p.len + 1))) return st;
        uint32_t off = (uint32_t)c->buf_len;
        c->buf[off] = ' ';
        memcpy(c->buf + off + 1, c->buf + p.off, p.len);
        c->buf_len += p.len + 1;
        if ((st = span_push(c, dst, off, p.len + 1, p.origin))) return st;
    }
    return JANG_OK;
}

/* Metaspace: ' ' -> replacement, a replacement before the piece (always, or only at the start of
 * the text), then a split before each replacement character. */
static jang_status step_metaspace(tok_ctx *c, const tok_step *ms, int src, int dst) {
    c->n_sp[dst] = 0;
    for (int64_t k = 0; k < c->n_sp[src]; k++) {
        tok_span p = c->sp[src][k];
        jang_status st;
        if ((st = tok_buf_reserve(c, (size_t)p.len * ms->rep_len + ms->rep_len))) return st;
        const char *s = c->buf + p.off;
        char *o = c->buf + c->buf_len;
        size_t w = 0;
        bool starts = false;
        if (p.len > 0) {
            starts = s[0] == ' ' || (p.len >= ms->rep_len && !memcmp(s, ms->rep, ms->rep_len));
        }
        bool prepend = !starts && (ms->prepend == PREPEND_ALWAYS ||
                                   (ms->prepend == PREPEND_FIRST && p.origin));
        if (prepend) memcpy(o, ms->rep, ms->rep_len), w += ms->rep_len;
        for (uint32_t i = 0; i < p.len; i++) {
            if (s[i] == ' ') {
                memcpy(o + w, ms->rep, ms->rep_len);
                w += ms->rep_len;
            } else {
                o[w++] = s[i];
            }
        }
        uint32_t off = (uint32_t)c->buf_len;
        c->buf_len += w;
        if (!ms->split) {
            if ((st = span_push(c, dst, off, (uint32_t)w, p.origin))) return st;
            continue;
        }
        /* split before each replacement (MergedWithNext; a run of them stays apart) */
        size_t start = 0;
        for (size_t i = 0; i <= w; i++) {
            bool at_rep = i < w && i + ms->rep_len <= w && !memcmp(o + i, ms->rep, ms->rep_len);
            if ((at_rep && i > start) || (i == w && w > start)) {
                if ((st = span_push(c, dst, off + (uint32_t)start, (uint32_t)(i - start),
                                    p.origin && start == 0)))
                    return st;
                start = i;
            }
            if (at_rep) i += ms->rep_len - 1;
        }
    }
    return JANG_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The merge loop
 */
static inline bool bpe_less(const tok_heap_item *a, const tok_heap_item *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void try_pair(tok_ctx *c, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    int32_t a = c->sym[l].id, b = c->sym[r].id, rank, id;
    if (a < 0 || b < 0 || !tok_merge_find(c->t, a, b, &rank, &id)) return;
    const tok_heap_item it = {.rank = rank, .left = l, .right = r, .a = a, .b = b, .id = id};
    tok_heap_push(c, it, bpe_less);
}

static jang_status reserve_syms(tok_ctx *c, int64_t n) {
    if (n > c->cap_sym) {
        int64_t cap = c->cap_sym ? c->cap_sym : 64;
        while (cap < n)
            cap *= 2;
        tok_sym *s = realloc(c->sym, (size_t)cap * sizeof *s);
        if (!s) return jang_fail(JANG_E_NOMEM, "tokenizer: out of memory for symbols");
        c->sym = s;
        c->cap_sym = cap;
    }
    if (3 * n > c->cap_heap) {
        int64_t cap = c->cap_heap ? c->cap_heap : 192;
        while (cap < 3 * n)
            cap *= 2;
        tok_heap_item *h = realloc(c->heap, (size_t)cap * sizeof *h);
        if (!h) return jang_fail(JANG_E_NOMEM, "tokenizer: out of memory for the merge queue");
        c->heap = h;
        c->cap_heap = cap;
    }
    return JANG_OK;
}

static jang_status add_sym(tok_ctx *c, int64_t *n, int32_t id, uint32_t off, uint32_t len) {
    jang_status st = reserve_syms(c, *n + 1);
    if (st) return st;
    c->sym[*n] = (tok_sym){
        .id = id, .prev = (int32_t)*n - 1, .next = (int32_t)*n + 1, .off = off, .len = len};
    (*n)++;
    return JANG_OK;
}

/* BPE-encodes one pre-token w[0, n). */
static jang_status bpe_word(tok_ctx *c, const char *w, size_t n) {
    const jang_tokenizer *t = c->t;
    jang_status st;
    if (n == 0) return JANG_OK;
    if (t->ignore_merges) {
        const char *spell = w;
        size_t sl = n;
        if (t->kind == TOK_BPE_BYTES) {
            if (c->cap_tmp < n * 2) {
                char *p = realloc(c->tmp, n * 2);
                if (!p) return jang_fail(JANG_E_NOMEM, "tokenizer: out of memory");
                c->tmp = p;
                c->cap_tmp = n * 2;
            }
            sl = 0;
            for (size_t i = 0; i < n; i++)
                sl += (size_t)tok_utf8_encode(tok_byte_to_cp((uint8_t)w[i]), c->tmp + sl);
            spell = c->tmp;
        }
        int32_t id = tok_find(t, spell, sl);
        if (id >= 0) return tok_emit(c, id);
    }
    int64_t ns = 0;
    if (t->kind == TOK_BPE_BYTES) {
        if ((st = reserve_syms(c, (int64_t)n))) return st;
        for (size_t i = 0; i < n; i++)
            c->sym[i] = (tok_sym){.id = t->byte_tok[(uint8_t)w[i]],
                                  .prev = (int32_t)i - 1,
                                  .next = (int32_t)i + 1,
                                  .off = (uint32_t)i,
                                  .len = 1};
        ns = (int64_t)n;
    } else {
        /* characters; unknown ones become byte tokens (byte_fallback) or <unk> (fused) */
        bool unk_open = false;
        for (size_t i = 0; i < n;) {
            size_t l = (size_t)tok_utf8_len((uint8_t)w[i]);
            if (l > n - i) l = n - i;
            int32_t id = tok_find(t, w + i, l);
            if (id >= 0) {
                unk_open = false;
                if ((st = add_sym(c, &ns, id, (uint32_t)i, (uint32_t)l))) return st;
            } else {
                bool fb = t->byte_fallback;
                for (size_t k = 0; fb && k < l; k++)
                    fb = t->byte_tok[(uint8_t)w[i + k]] >= 0;
                if (fb) {
                    unk_open = false;
                    for (size_t k = 0; k < l; k++)
                        if ((st = add_sym(c, &ns, t->byte_tok[(uint8_t)w[i + k]], (uint32_t)(i + k),
                                          1)))
                            return st;
                } else if (t->unk >= 0) {
                    if (unk_open && t->fuse_unk) {
                        c->sym[ns - 1].len += (uint32_t)l;
                    } else {
                        if ((st = add_sym(c, &ns, t->unk, (uint32_t)i, (uint32_t)l))) return st;
                        unk_open = true;
                    }
                }
            }
            i += l;
        }
        if (ns == 0) return JANG_OK;
    }
    c->sym[ns - 1].next = -1;
    if (ns > 1) {
        c->n_heap = 0;
        for (int32_t i = 1; i < (int32_t)ns; i++)
            try_pair(c, i - 1, i);
        while (c->n_heap > 0) {
            tok_heap_item it = tok_heap_pop(c, bpe_less);
            tok_sym *L = &c->sym[it.left], *R = &c->sym[it.right];
            if (L->len == 0 || R->len == 0 || L->next != it.right || L->id != it.a || R->id != it.b)
                continue; /* stale */
            L->id = it.id;
            L->len += R->len;
            R->len = 0;
            L->next = R->next;
            if (R->next >= 0) c->sym[R->next].prev = it.left;
            try_pair(c, L->prev, it.left);
            try_pair(c, it.left, L->next);
        }
    }
    for (int32_t i = 0; i >= 0; i = c->sym[i].next) {
        int32_t id = c->sym[i].id;
        /* a byte the vocabulary cannot spell is dropped, as llama.cpp and tokenizers do */
        if (id >= 0 && (st = tok_emit(c, id))) return st;
    }
    return JANG_OK;
}

jang_status tok_bpe_fragment(tok_ctx *c, uint32_t off, uint32_t len, bool origin) {
    const jang_tokenizer *t = c->t;
    jang_status st;
    int cur = 0;
    c->n_sp[0] = 0;
    if ((st = span_push(c, 0, off, len, origin))) return st;
    for (int i = 0; i < t->n_steps; i++) {
        const tok_step *s = &t->steps[i];
        int nx = cur ^ 1;
        if (s->kind == STEP_SPLIT)
            st = step_split(c, s, cur, nx);
        else if (s->kind == STEP_PREFIX_SPACE)
            st = step_prefix_space(c, cur, nx);
        else
            st = step_metaspace(c, s, cur, nx);
        if (st) return st;
        cur = nx;
    }
    for (int64_t k = 0; k < c->n_sp[cur]; k++) {
        tok_span p = c->sp[cur][k];
        if ((st = bpe_word(c, c->buf + p.off, p.len))) return st;
    }
    return JANG_OK;
}
