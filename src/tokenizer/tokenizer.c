/* tokenizer.c — the tokenizer's vocabulary (text -> id hash, merge table), special tokens and
 * end-of-generation rules, and the encode / decode driver shared by every tokenizer kind.
 *
 * Encoding follows llama.cpp's llama_vocab::tokenize: the text is cut at special tokens (control
 * ones only with JANG_ENCODE_PARSE_SPECIAL; user-defined ones always), then each remaining
 * fragment is normalized (tokenizer.json), pre-tokenized and BPE-merged (tokenizer_bpe.c), or
 * prefixed, escaped and merged by scores (tokenizer_spm.c). Decoding follows token_to_piece.
 * Loaders: tokenizer_gguf.c, tokenizer_hf.c. Tests: tests/test_tokenizer.c.
 */
#include "tokenizer_internal.h"

#include <string.h>
#include <utf8proc.h>

static const char *const token_type_names[] = {
#define JANG_X_(e, v, s) [v] = s,
    JANG_TOKEN_TYPE_MAP(JANG_X_)
#undef JANG_X_
};

const char *jang_token_type_name(jang_token_type t) {
    if ((unsigned)t >= sizeof token_type_names / sizeof token_type_names[0]) return "invalid";
    return token_type_names[t];
}

/* ---------------------------------------------------------------------------------------------
 * UTF-8
 */
int tok_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp) {
    uint8_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, v = c & 0x07, min = 0x10000;
    else
        return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

int tok_utf8_encode(uint32_t cp, char *out) {
    uint8_t *o = (uint8_t *)out;
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---------------------------------------------------------------------------------------------
 * Vocabulary: token texts in one buffer, an open-addressing hash from text to id.
 */
static inline uint64_t mix64(uint64_t x) { /* murmur3's finalizer */
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = n * 0x9E3779B97F4A7C15ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = mix64(h ^ w) + 0x9E3779B97F4A7C15ull;
    }
    uint64_t w = 0;
    memcpy(&w, s + i, n - i);
    return mix64(h ^ w);
}

jang_status tok_alloc_vocab(jang_tokenizer *t, int64_t n, const char *what) {
    if (n <= 0 || n > INT32_MAX / 2)
        return jang_fail(JANG_E_FORMAT, "%s: vocabulary of %lld tokens", what, (long long)n);
    t->n_vocab = (int32_t)n;
    t->tok = jang_calloc((size_t)n, sizeof *t->tok, what);
    t->eog = jang_calloc((size_t)n, 1, what);
    if (!t->tok || !t->eog) return JANG_E_NOMEM;
    t->text_cap = (size_t)n * 8 + 64;
    t->text = jang_malloc(t->text_cap, what);
    if (!t->text) return JANG_E_NOMEM;
    t->text[0] = '\0';
    t->text_len = 1; /* offset 0 is the empty string */
    return JANG_OK;
}

jang_status tok_set_text(jang_tokenizer *t, int32_t id, const char *s, size_t len) {
    if (len > UINT32_MAX / 2) return jang_fail(JANG_E_FORMAT, "token %d: text too long", id);
    if (t->text_len + len + 1 > t->text_cap) {
        size_t cap = t->text_cap * 2;
        while (cap < t->text_len + len + 1)
            cap *= 2;
        if (cap > UINT32_MAX) return jang_fail(JANG_E_FORMAT, "vocabulary text over 4 GiB");
        char *p = realloc(t->text, cap);
        if (!p) return jang_fail(JANG_E_NOMEM, "out of memory for the vocabulary text");
        t->text = p;
        t->text_cap = cap;
    }
    if (len == 0) {
        t->tok[id].off = 0;
        t->tok[id].len = 0;
        return JANG_OK;
    }
    t->tok[id].off = (uint32_t)t->text_len;
    t->tok[id].len = (uint32_t)len;
    memcpy(t->text + t->text_len, s, len);
    t->text[t->text_len + len] = '\0';
    t->text_len += len + 1;
    if ((int32_t)len > t->max_token_len) t->max_token_len = (int32_t)len;
    return JANG_OK;
}

int32_t tok_find(const jang_tokenizer *t, const char *s, size_t len) {
    if (!t->map || len == 0) return -1;
    uint64_t h = hash_bytes(s, len);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint64_t i = h & t->map_mask;; i = (i + 1) & t->map_mask) {
        int32_t id = t->map[i].id;
        if (id < 0) return -1;
        if (t->map[i].tag == tag && t->tok[id].len == len && memcmp(tok_text(t, id), s, len) == 0)
            return id;
    }
}

static jang_status map_insert(jang_tokenizer *t, int32_t id, bool later_wins, const char *what) {
    const tok_token *k = &t->tok[id];
    if (k->len == 0) return JANG_OK;
    const char *s = tok_text(t, id);
    uint64_t h = hash_bytes(s, k->len);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint64_t i = h & t->map_mask;; i = (i + 1) & t->map_mask) {
        int32_t o = t->map[i].id;
        if (o < 0) {
            t->map[i].id = id;
            t->map[i].tag = tag;
            return JANG_OK;
        }
        if (t->map[i].tag == tag && t->tok[o].len == k->len &&
            memcmp(tok_text(t, o), s, k->len) == 0) {
            if (later_wins) {
                t->map[i].id = id;
                return JANG_OK;
            }
            char buf[96];
            return jang_fail(JANG_E_FORMAT, "%s: duplicate token '%s' has ids %d and %d", what,
                             jang_printable(s, k->len, buf, sizeof buf), o, id);
        }
    }
}

jang_status tok_build_map(jang_tokenizer *t, bool later_wins, const char *what) {
    uint64_t cap = 64;
    while (cap < (uint64_t)t->n_vocab * 2)
        cap *= 2;
    free(t->map);
    t->map = jang_malloc(cap * sizeof *t->map, what);
    if (!t->map) return JANG_E_NOMEM;
    memset(t->map, 0xff, cap * sizeof *t->map); /* id -1 */
    t->map_mask = cap - 1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        jang_status s = map_insert(t, id, later_wins, what);
        if (s) return s;
    }
    return JANG_OK;
}

jang_status tok_map_put(jang_tokenizer *t, int32_t id) { return map_insert(t, id, true, ""); }

jang_status tok_merges_alloc(jang_tokenizer *t, int64_t n) {
    uint64_t cap = 64;
    while (cap < (uint64_t)n * 2)
        cap *= 2;
    t->merges = jang_malloc(cap * sizeof *t->merges, "merges");
    if (!t->merges) return JANG_E_NOMEM;
    for (uint64_t i = 0; i < cap; i++)
        t->merges[i].key = 0, t->merges[i].id = -1;
    t->merge_mask = cap - 1;
    t->n_merges = 0;
    return JANG_OK;
}

jang_status tok_merge_add_text(jang_tokenizer *t, const char *l, size_t ll, const char *r,
                               size_t rl, int32_t rank, const char *what) {
    char b1[80], b2[80];
    int32_t a = tok_find(t, l, ll), b = tok_find(t, r, rl);
    if (a < 0 || b < 0)
        return jang_fail(JANG_E_FORMAT, "%s: merge %d '%s %s': '%s' is not in the vocabulary", what,
                         rank, jang_printable(l, ll, b1, sizeof b1),
                         jang_printable(r, rl, b2, sizeof b2), a < 0 ? b1 : b2);
    char stack[256];
    char *cat = ll + rl <= sizeof stack ? stack : jang_malloc(ll + rl, what);
    if (!cat) return JANG_E_NOMEM;
    memcpy(cat, l, ll);
    memcpy(cat + ll, r, rl);
    int32_t m = tok_find(t, cat, ll + rl);
    if (cat != stack) free(cat);
    if (m < 0)
        return jang_fail(JANG_E_FORMAT,
                         "%s: merge %d '%s %s': the merged token is not in the "
                         "vocabulary",
                         what, rank, jang_printable(l, ll, b1, sizeof b1),
                         jang_printable(r, rl, b2, sizeof b2));
    JANG_ASSERT((uint64_t)t->n_merges < t->merge_mask);
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint64_t h = (key * 0x9E3779B97F4A7C15ull) >> 17;
    for (uint64_t i = h & t->merge_mask;; i = (i + 1) & t->merge_mask) {
        tok_merge *e = &t->merges[i];
        if (e->id < 0) {
            e->key = key, e->rank = rank, e->id = m;
            t->n_merges++;
            return JANG_OK;
        }
        if (e->key == key) return JANG_OK; /* a repeated pair keeps its first rank (llama.cpp) */
    }
}

/* ---------------------------------------------------------------------------------------------
 * Final fix-ups shared by the loaders (llama.cpp llama_vocab::impl::load, special-token part).
 */
static const char *const eot_texts[] = {"<|eot_id|>",
                                        "<|im_end|>",
                                        "<|end|>",
                                        "<end_of_turn>",
                                        "<|endoftext|>",
                                        "<|end_of_text|>",
                                        "<EOT>",
                                        "_<EOT>",
                                        "[EOT]",
                                        "<\xef\xbd\x9c"
                                        "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                        "<end_of_utterance>",
                                        NULL};
static const char *const eog_texts[] = {"<|eot_id|>",
                                        "<|im_end|>",
                                        "<|end|>",
                                        "<|return|>",
                                        "<|call|>",
                                        "<|flush|>",
                                        "<|calls|>",
                                        "<end_of_turn>",
                                        "<|endoftext|>",
                                        "<|eom_id|>",
                                        "<EOT>",
                                        "_<EOT>",
                                        "[EOT]",
                                        "[EOS]",
                                        "<|end_of_text|>",
                                        "<end_of_utterance>",
                                        "<eos>",
                                        "<turn|>",
                                        "<|tool_response>",
                                        "<\xef\xbd\x9c"
                                        "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                        "[e~[",
                                        NULL};
/* fill-in-the-middle pad / repo / file-separator tokens end generation too */
static const char *const fim_eog_texts[] = {
    "<|fim_pad|>",   "<fim-pad>",  "<fim_pad>", "<PAD>",      "[PAD]",        "<|fim_repo|>",
    "<|repo_name|>", "<fim-repo>", "<REPO>",    "<reponame>", "<|file_sep|>", NULL};

static int32_t find_str(const jang_tokenizer *t, const char *s) {
    return tok_find(t, s, strlen(s));
}

static void mark_control(jang_tokenizer *t, int32_t id) {
    if (id >= 0) t->tok[id].attr |= TA_CONTROL;
}

static int cmp_spec(const void *pa, const void *pb, void *ctx) {
    const jang_tokenizer *t = ctx;
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    uint8_t fa = (uint8_t)tok_text(t, a)[0], fb = (uint8_t)tok_text(t, b)[0];
    if (fa != fb) return fa < fb ? -1 : 1;
    if (t->tok[a].len != t->tok[b].len) return t->tok[a].len > t->tok[b].len ? -1 : 1;
    return a < b ? -1 : a > b;
}

jang_status tok_finish(jang_tokenizer *t, const char *model_name, const char *what) {
    /* special ids out of range are dropped */
    int32_t *ids[] = {&t->bos, &t->eos, &t->eot, &t->eom, &t->unk, &t->pad};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (*ids[i] >= t->n_vocab || *ids[i] < -1) *ids[i] = -1;

    /* EOT: by text, in the order of the list (<|im_end|> before <|endoftext|> for ChatML) */
    if (t->eot < 0)
        for (int i = 0; eot_texts[i] && t->eot < 0; i++)
            t->eot = find_str(t, eot_texts[i]);
    mark_control(t, t->eot);
    if (t->eom < 0) t->eom = find_str(t, "<|eom_id|>");
    mark_control(t, t->eom);

    /* control tokens named "unused" are unused */
    for (int32_t id = 0; id < t->n_vocab; id++)
        if ((t->tok[id].attr & TA_CONTROL) && strstr(tok_text(t, id), "unused"))
            t->tok[id].attr |= TA_UNUSED;

    /* end of generation */
    for (int i = 0; fim_eog_texts[i]; i++) {
        int32_t id = find_str(t, fim_eog_texts[i]);
        if (id >= 0) t->eog[id] = 1, mark_control(t, id);
    }
    for (int i = 0; eog_texts[i]; i++) {
        int32_t id = find_str(t, eog_texts[i]);
        if (id >= 0) t->eog[id] = 1, mark_control(t, id);
    }
    /* llama.cpp also forces "</s>" to control + end of generation; we do so only where the file
     * does not call it a normal token: Qwen2's vocabulary has "</s>" as ordinary text (HTML) */
    int32_t e_s = find_str(t, "</s>");
    if (e_s >= 0 && !(t->tok[e_s].attr & TA_NORMAL)) t->eog[e_s] = 1, mark_control(t, e_s);
    if (t->eos >= 0) t->eog[t->eos] = 1;
    if (t->eot >= 0) t->eog[t->eot] = 1;
    if (t->eom >= 0) t->eog[t->eom] = 1;
    /* o200k_harmony / solar-open: <|end|> is not the end when <|return|> and <|call|> exist */
    int32_t e_end = find_str(t, "<|end|>"), e_ret = find_str(t, "<|return|>");
    int32_t e_call = find_str(t, "<|call|>"), e_calls = find_str(t, "<|calls|>");
    int32_t e_flush = find_str(t, "<|flush|>");
    if (e_end >= 0 && ((e_ret >= 0 && e_call >= 0) || (e_calls >= 0 && e_flush >= 0))) {
        t->eog[e_end] = 0;
        t->tok[e_end].attr = TA_USER;
    }
    int32_t e_tool = find_str(t, "<|tool_response>");
    if (e_tool >= 0 && e_s >= 0) {
        t->eog[e_s] = 0;
        t->tok[e_s].attr = TA_NORMAL;
    }

    /* Phi-3: special tokens swallow the whitespace after them (llama.cpp's per-model rule) */
    if (model_name) {
        char low[128];
        size_t n = strlen(model_name);
        if (n >= sizeof low) n = sizeof low - 1;
        for (size_t i = 0; i < n; i++)
            low[i] = (char)(model_name[i] >= 'A' && model_name[i] <= 'Z' ? model_name[i] + 32
                                                                         : model_name[i]);
        low[n] = '\0';
        if (strstr(low, "phi-3") || strstr(low, "phi3")) {
            for (int32_t id = 0; id < t->n_vocab; id++)
                if (t->tok[id].attr & TA_SPECIAL) t->tok[id].attr |= TA_RSTRIP;
            int32_t s = find_str(t, "</s>");
            if (s >= 0) t->tok[s].attr |= TA_RSTRIP;
            const char *keep[] = {"<unk>", "<s>", "<|endoftext|>"};
            for (int i = 0; i < 3; i++) {
                int32_t k = find_str(t, keep[i]);
                if (k >= 0) t->tok[k].attr &= (uint8_t)~TA_RSTRIP;
            }
        }
    }

    /* SentencePiece: bytes that never occur inside a multi-byte token split the merge work */
    for (int b = 0; b < 128; b++)
        t->spm_break[b] = 1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const uint8_t *p = (const uint8_t *)tok_text(t, id);
        if (t->tok[id].len >= 2)
            for (uint32_t i = 0; i < t->tok[id].len; i++)
                if (p[i] < 128) t->spm_break[p[i]] = 0;
    }

    /* special tokens matched in the text: grouped by first byte, longest first */
    int64_t n_spec = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if ((t->tok[id].attr & TA_SPECIAL) && t->tok[id].len > 0) n_spec++;
    free(t->spec);
    t->spec = jang_malloc((size_t)(n_spec ? n_spec : 1) * sizeof *t->spec, what);
    if (!t->spec) return JANG_E_NOMEM;
    n_spec = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if ((t->tok[id].attr & TA_SPECIAL) && t->tok[id].len > 0) t->spec[n_spec++] = id;
    qsort_r(t->spec, (size_t)n_spec, sizeof *t->spec, cmp_spec, t);
    int64_t j = 0;
    for (int b = 0; b < 256; b++) {
        t->spec_start[b] = (int32_t)j;
        while (j < n_spec && (uint8_t)tok_text(t, t->spec[j])[0] == b)
            j++;
    }
    t->spec_start[256] = (int32_t)j;

    /* BOS / EOS added by JANG_ENCODE_ADD_SPECIAL (a tokenizer.json template sets these itself) */
    if (t->n_prefix == 0 && t->add_bos) {
        if (t->bos < 0)
            return jang_fail(JANG_E_FORMAT, "%s: add_bos_token is true but there is no BOS token",
                             what);
        t->prefix[t->n_prefix++] = t->bos;
    }
    if (t->n_suffix == 0 && t->add_eos) {
        if (t->eos < 0)
            return jang_fail(JANG_E_FORMAT, "%s: add_eos_token is true but there is no EOS token",
                             what);
        t->suffix[t->n_suffix++] = t->eos;
    }
    return JANG_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Public accessors
 */
void tok_free_steps(jang_tokenizer *t) {
    for (int i = 0; i < t->n_steps; i++)
        pcre2_code_free(t->steps[i].re);
    free(t->steps);
    t->steps = NULL;
    t->n_steps = 0;
    for (int i = 0; i < t->n_norms; i++) {
        free(t->norms[i].a);
        free(t->norms[i].b);
        pcre2_code_free(t->norms[i].re);
    }
    free(t->norms);
    t->norms = NULL;
    t->n_norms = 0;
}

void jang_tokenizer_free(jang_tokenizer *t) {
    if (!t) return;
    tok_free_steps(t);
    free(t->tok);
    free(t->text);
    free(t->map);
    free(t->merges);
    free(t->spec);
    free(t->eog);
    free(t->chat_template);
    free(t);
}

int64_t jang_tokenizer_n_vocab(const jang_tokenizer *t) { return t->n_vocab; }
int32_t jang_tokenizer_bos(const jang_tokenizer *t) { return t->bos; }
int32_t jang_tokenizer_eos(const jang_tokenizer *t) { return t->eos; }
int32_t jang_tokenizer_eot(const jang_tokenizer *t) { return t->eot; }
int32_t jang_tokenizer_unk(const jang_tokenizer *t) { return t->unk; }
int32_t jang_tokenizer_pad(const jang_tokenizer *t) { return t->pad; }
bool jang_tokenizer_adds_bos(const jang_tokenizer *t) {
    return t->n_prefix > 0 && t->prefix[0] == t->bos;
}
bool jang_tokenizer_adds_eos(const jang_tokenizer *t) {
    return t->n_suffix > 0 && t->suffix[t->n_suffix - 1] == t->eos;
}
bool jang_tokenizer_is_eog(const jang_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && t->eog[id];
}
int32_t jang_tokenizer_find(const jang_tokenizer *t, const char *text, size_t len) {
    return text ? tok_find(t, text, len) : -1;
}
const char *jang_tokenizer_token_text(const jang_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab) return NULL;
    if (len) *len = t->tok[id].len;
    return tok_text(t, id);
}
jang_token_type jang_tokenizer_token_type(const jang_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_vocab) return JANG_TOKEN_UNDEFINED;
    return (jang_token_type)t->tok[id].type;
}
const char *jang_tokenizer_kind(const jang_tokenizer *t) {
    return t->kind == TOK_SPM ? "spm" : t->kind == TOK_BPE_CHARS ? "bpe-chars" : "bpe";
}
const char *jang_tokenizer_pre(const jang_tokenizer *t) { return t->pre; }
const char *jang_tokenizer_chat_template(const jang_tokenizer *t) { return t->chat_template; }

/* ---------------------------------------------------------------------------------------------
 * Encoding
 */
jang_status tok_emit(tok_ctx *c, int32_t id) {
    if (c->n_out == c->cap_out) {
        int64_t cap = c->cap_out ? c->cap_out * 2 : 256;
        int32_t *p = realloc(c->out, (size_t)cap * sizeof *p);
        if (!p)
            return jang_fail(JANG_E_NOMEM, "tokenizer: out of memory for %lld ids", (long long)cap);
        c->out = p;
        c->cap_out = cap;
    }
    c->out[c->n_out++] = id;
    return JANG_OK;
}

jang_status tok_buf_reserve(tok_ctx *c, size_t extra) {
    if (c->buf_len + extra <= c->buf_cap) return JANG_OK;
    size_t cap = c->buf_cap ? c->buf_cap : 4096;
    while (cap < c->buf_len + extra)
        cap *= 2;
    if (cap > UINT32_MAX)
        return jang_fail(JANG_E_ARG, "tokenizer: text too long (%zu bytes of work space)", cap);
    char *p = realloc(c->buf, cap);
    if (!p) return jang_fail(JANG_E_NOMEM, "tokenizer: out of memory (%zu bytes)", cap);
    c->buf = p;
    c->buf_cap = cap;
    return JANG_OK;
}

void tok_ctx_free(tok_ctx *c) {
    free(c->out);
    free(c->buf);
    free(c->sp[0]);
    free(c->sp[1]);
    free(c->sym);
    free(c->heap);
    free(c->tmp);
    pcre2_match_data_free(c->md);
    pcre2_match_context_free(c->mctx);
    pcre2_jit_stack_free(c->jit);
}

/* Appends s[0, n) to the arena, replacing invalid UTF-8 bytes by U+FFFD (one per byte, like
 * llama.cpp's unicode_cpts_from_utf8) when the tokenizer needs valid UTF-8. */
static jang_status buf_append_text(tok_ctx *c, const char *s, size_t n, bool sanitize) {
    jang_status st = tok_buf_reserve(c, sanitize ? n * 3 : n);
    if (st) return st;
    char *o = c->buf + c->buf_len;
    if (!sanitize) {
        memcpy(o, s, n);
        c->buf_len += n;
        return JANG_OK;
    }
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0, w = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            o[w++] = (char)u[i++];
            continue;
        }
        uint32_t cp;
        int l = tok_utf8_decode(u + i, n - i, &cp);
        if (l == 0) {
            memcpy(o + w, "\xEF\xBF\xBD", 3);
            w += 3;
            i++;
        } else {
            memcpy(o + w, u + i, (size_t)l);
            w += (size_t)l;
            i += (size_t)l;
        }
    }
    c->buf_len += w;
    return JANG_OK;
}

/* Applies the tokenizer.json normalizers to c->buf[*off, *off + *len), appending the result. */

/* What the Strip normalizer removes: Unicode White_Space (the controls 9-13 and 0x85, and the
 * Zs / Zl / Zp categories). */
static bool strip_space(uint32_t cp) {
    const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)cp);
    return (cp >= 9 && cp <= 13) || cp == 0x85 || p->category == UTF8PROC_CATEGORY_ZS ||
           p->category == UTF8PROC_CATEGORY_ZL || p->category == UTF8PROC_CATEGORY_ZP;
}

static jang_status normalize(tok_ctx *c, uint32_t *off, uint32_t *len) {
    const jang_tokenizer *t = c->t;
    for (int i = 0; i < t->n_norms; i++) {
        const tok_norm *nm = &t->norms[i];
        const char *s = c->buf + *off;
        size_t n = *len;
        jang_status st;
        switch (nm->kind) {
        case NORM_NFC:
        case NORM_NFD:
        case NORM_NFKC:
        case NORM_NFKD: {
            if (n == 0) break;
            int opt = UTF8PROC_STABLE;
            opt |= (nm->kind == NORM_NFC || nm->kind == NORM_NFKC) ? UTF8PROC_COMPOSE
                                                                   : UTF8PROC_DECOMPOSE;
            if (nm->kind == NORM_NFKC || nm->kind == NORM_NFKD) opt |= UTF8PROC_COMPAT;
            utf8proc_uint8_t *dst = NULL;
            utf8proc_ssize_t r =
                utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst, opt);
            if (r < 0) {
                free(dst);
                return jang_fail(JANG_E_FORMAT, "tokenizer: normalization failed: %s",
                                 utf8proc_errmsg(r));
            }
            if ((st = tok_buf_reserve(c, (size_t)r))) {
                free(dst);
                return st;
            }
            *off = (uint32_t)c->buf_len;
            memcpy(c->buf + c->buf_len, dst, (size_t)r);
            c->buf_len += (size_t)r;
            *len = (uint32_t)r;
            free(dst);
            break;
        }
        case NORM_LOWER: {
            /* tokenizers Lowercase = Rust to_lowercase: simple mappings plus U+0130 -> "i\u0307" */
            if ((st = tok_buf_reserve(c, n * 3 + 8))) return st;
            s = c->buf + *off;
            char *o = c->buf + c->buf_len;
            size_t w = 0, i2 = 0;
            while (i2 < n) {
                uint32_t cp;
                int l = tok_utf8_decode((const uint8_t *)s + i2, n - i2, &cp);
                if (l == 0) cp = 0xFFFD, l = 1;
                i2 += (size_t)l;
                if (cp == 0x130) { /* the one full (SpecialCasing) mapping Rust applies */
                    memcpy(o + w, "i\xCC\x87", 3);
                    w += 3;
                    continue;
                }
                w += (size_t)tok_utf8_encode((uint32_t)utf8proc_tolower((utf8proc_int32_t)cp),
                                             o + w);
            }
            *off = (uint32_t)c->buf_len;
            *len = (uint32_t)w;
            c->buf_len += w;
            break;
        }
        case NORM_PREPEND:
            if (n == 0) break;
            if ((st = tok_buf_reserve(c, n + nm->a_len))) return st;
            memcpy(c->buf + c->buf_len, nm->a, nm->a_len);
            memcpy(c->buf + c->buf_len + nm->a_len, c->buf + *off, n);
            *off = (uint32_t)c->buf_len;
            *len = (uint32_t)(n + nm->a_len);
            c->buf_len += n + nm->a_len;
            break;
        case NORM_REPLACE: {
            if (n == 0) break;
            /* worst case every byte replaced */
            size_t grow = nm->b_len > 1 ? n * nm->b_len : n;
            if ((st = tok_buf_reserve(c, grow + 8))) return st;
            s = c->buf + *off;
            char *o = c->buf + c->buf_len;
            size_t w = 0, i2 = 0;
            if (!nm->re) {
                while (i2 < n) {
                    if (nm->a_len && i2 + nm->a_len <= n && memcmp(s + i2, nm->a, nm->a_len) == 0) {
                        memcpy(o + w, nm->b, nm->b_len);
                        w += nm->b_len;
                        i2 += nm->a_len;
                    } else {
                        o[w++] = s[i2++];
                    }
                }
            } else {
                pcre2_match_data *md = pcre2_match_data_create_from_pattern(nm->re, NULL);
                if (!md) return jang_fail(JANG_E_NOMEM, "tokenizer: out of memory");
                while (i2 <= n) {
                    int rc =
                        pcre2_match(nm->re, (PCRE2_SPTR)s, n, i2, PCRE2_NO_UTF_CHECK, md, NULL);
                    if (rc < 0) break;
                    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                    if (ov[1] == ov[0]) { /* empty match: copy one character */
                        if (ov[0] >= n) break;
                        size_t l = (size_t)tok_utf8_len((uint8_t)s[ov[0]]);
                        memcpy(o + w, s + i2, ov[0] - i2 + l);
                        w += ov[0] - i2 + l;
                        i2 = ov[0] + l;
                        continue;
                    }
                    memcpy(o + w, s + i2, ov[0] - i2);
                    w += ov[0] - i2;
                    memcpy(o + w, nm->b, nm->b_len);
                    w += nm->b_len;
                    i2 = ov[1];
                }
                pcre2_match_data_free(md);
                if (i2 < n) {
                    memcpy(o + w, s + i2, n - i2);
                    w += n - i2;
                }
            }
            *off = (uint32_t)c->buf_len;
            *len = (uint32_t)w;
            c->buf_len += w;
            break;
        }
        case NORM_STRIP: {
            size_t a = 0, b = n;
            while (nm->left && a < b) {
                uint32_t cp;
                int l = tok_utf8_decode((const uint8_t *)s + a, b - a, &cp);
                if (!l) break;
                if (!strip_space(cp)) break;
                a += (size_t)l;
            }
            while (nm->right && b > a) {
                size_t k = b - 1;
                while (k > a && ((uint8_t)s[k] & 0xC0) == 0x80)
                    k--;
                uint32_t cp;
                int l = tok_utf8_decode((const uint8_t *)s + k, b - k, &cp);
                if (!l) break;
                if (!strip_space(cp)) break;
                b = k;
            }
            *off += (uint32_t)a;
            *len = (uint32_t)(b - a);
            break;
        }
        }
    }
    return JANG_OK;
}

/* Encodes one text fragment (no special tokens inside). */
static jang_status encode_fragment(tok_ctx *c, const char *s, size_t n, bool origin) {
    const jang_tokenizer *t = c->t;
    jang_status st;
    c->buf_len = 0;
    if (t->kind == TOK_SPM) {
        /* llama.cpp: " " before the first fragment and after special tokens (every fragment
         * follows one or the other), then ' ' -> U+2581; raw bytes, invalid UTF-8 included, go
         * to the merges (they end as byte tokens) */
        bool pre = t->add_space_prefix;
        if ((st = tok_buf_reserve(c, 3 * (n + 1)))) return st;
        char *o = c->buf;
        size_t w = 0;
        if (pre) {
            if (t->escape_spaces)
                memcpy(o, "\xE2\x96\x81", 3), w = 3;
            else
                o[w++] = ' ';
        }
        for (size_t i = 0; i < n; i++) {
            if (s[i] == ' ' && t->escape_spaces) {
                memcpy(o + w, "\xE2\x96\x81", 3);
                w += 3;
            } else {
                o[w++] = s[i];
            }
        }
        c->buf_len = w;
        return tok_spm_fragment(c, c->buf, w);
    }
    if ((st = buf_append_text(c, s, n, t->sanitize_utf8))) return st;
    uint32_t off = 0, len = (uint32_t)c->buf_len;
    if (t->n_norms && (st = normalize(c, &off, &len))) return st;
    if (len == 0) return JANG_OK;
    return tok_bpe_fragment(c, off, len, origin);
}

static bool is_space_c(char ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r';
}

/* Longest special token starting at s[0, n) that the flags allow, or -1. */
static int32_t match_special(const jang_tokenizer *t, const char *s, size_t n, bool parse_special) {
    uint8_t b = (uint8_t)s[0];
    for (int32_t k = t->spec_start[b]; k < t->spec_start[b + 1]; k++) {
        int32_t id = t->spec[k];
        const tok_token *e = &t->tok[id];
        if (!parse_special && (e->attr & (TA_CONTROL | TA_UNKNOWN))) continue;
        if (e->len <= n && memcmp(tok_text(t, id), s, e->len) == 0) return id;
    }
    return -1;
}

jang_status jang_tokenizer_encode(const jang_tokenizer *t, const char *text, size_t len,
                                  unsigned flags, int32_t **ids, int64_t *n) {
    if (ids) *ids = NULL;
    if (n) *n = 0;
    if (!t || !ids || !n || (!text && len))
        return jang_fail(JANG_E_ARG, "jang_tokenizer_encode: NULL argument");
    if (len > (size_t)INT32_MAX)
        return jang_fail(JANG_E_ARG, "jang_tokenizer_encode: text of %zu bytes is too long", len);
    tok_ctx c = {.t = t};
    jang_status st = JANG_OK;
    bool add = flags & JANG_ENCODE_ADD_SPECIAL, parse = flags & JANG_ENCODE_PARSE_SPECIAL;
    if (add)
        for (int i = 0; i < t->n_prefix && !st; i++)
            st = tok_emit(&c, t->prefix[i]);
    /* cut the text at special tokens: leftmost, longest match first */
    size_t frag = 0, i = 0;
    bool have_spec = t->spec_start[256] > 0;
    while (!st && i < len) {
        int32_t id = -1;
        if (have_spec && t->spec_start[(uint8_t)text[i]] < t->spec_start[(uint8_t)text[i] + 1])
            id = match_special(t, text + i, len - i, parse);
        if (id < 0) {
            i++;
            continue;
        }
        size_t end = i;
        if (t->tok[id].attr & TA_LSTRIP)
            while (end > frag && is_space_c(text[end - 1]))
                end--;
        if (end > frag) st = encode_fragment(&c, text + frag, end - frag, frag == 0);
        if (!st) st = tok_emit(&c, id);
        i += t->tok[id].len;
        if (t->tok[id].attr & TA_RSTRIP)
            while (i < len && is_space_c(text[i]))
                i++;
        frag = i;
    }
    if (!st && frag < len) st = encode_fragment(&c, text + frag, len - frag, frag == 0);
    if (add)
        for (int k = 0; k < t->n_suffix && !st; k++)
            st = tok_emit(&c, t->suffix[k]);
    if (!st && !c.out) { /* never return NULL on success */
        st = tok_emit(&c, 0);
        c.n_out = 0;
    }
    if (st) {
        tok_ctx_free(&c);
        return st;
    }
    *ids = c.out;
    *n = c.n_out;
    c.out = NULL;
    tok_ctx_free(&c);
    return JANG_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Decoding
 */
static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

/* Writes the piece of id into out (room for at least len*1 + 4 bytes is not assumed: the
 * caller passes cap); returns the piece length even when it does not fit. */
static size_t piece(const jang_tokenizer *t, int32_t id, unsigned flags, char *out, size_t cap) {
    const tok_token *e = &t->tok[id];
    const char *s = tok_text(t, id);
    size_t w = 0;
#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (w < cap) out[w] = (char)(ch);                                                          \
        w++;                                                                                       \
    } while (0)
    if (e->attr & (TA_CONTROL | TA_UNKNOWN)) {
        if (!(flags & JANG_DECODE_SPECIAL)) return 0;
        for (uint32_t i = 0; i < e->len; i++)
            PUT(s[i]);
        return w;
    }
    if (e->attr & TA_USER) {
        for (uint32_t i = 0; i < e->len; i++)
            PUT(s[i]);
        return w;
    }
    if (e->attr & TA_BYTE) {
        if (e->len == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>' &&
            hexval(s[3]) >= 0 && hexval(s[4]) >= 0) {
            PUT(hexval(s[3]) * 16 + hexval(s[4]));
            return w;
        }
        for (uint32_t i = 0; i < e->len; i++)
            PUT(s[i]);
        return w;
    }
    if (!(e->attr & TA_NORMAL)) return 0; /* unused / undefined */
    if (t->kind == TOK_BPE_BYTES) {
        for (uint32_t i = 0; i < e->len;) {
            uint32_t cp;
            int l = tok_utf8_decode((const uint8_t *)s + i, e->len - i, &cp);
            if (l == 0) l = 1, cp = 0x110000;
            int b = tok_cp_to_byte(cp);
            if (b >= 0) {
                PUT(b);
            } else {
                for (int k = 0; k < l; k++)
                    PUT(s[i + (uint32_t)k]);
            }
            i += (uint32_t)l;
        }
        return w;
    }
    for (uint32_t i = 0; i < e->len;) { /* U+2581 -> ' ' */
        if (i + 3 <= e->len && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
            PUT(' ');
            i += 3;
        } else {
            PUT(s[i]);
            i++;
        }
    }
#undef PUT
    return w;
}

jang_status jang_tokenizer_token_to_piece(const jang_tokenizer *t, int32_t id, unsigned flags,
                                          char *buf, size_t cap, size_t *len) {
    if (len) *len = 0;
    if (!t || !len || (!buf && cap)) return jang_fail(JANG_E_ARG, "token_to_piece: NULL argument");
    if (id < 0 || id >= t->n_vocab)
        return jang_fail(JANG_E_NOTFOUND, "token id %d out of range [0, %d)", id, t->n_vocab);
    size_t n = piece(t, id, flags, buf, cap);
    *len = n;
    if (n > cap)
        return jang_fail(JANG_E_ARG, "token %d: piece of %zu bytes does not fit in %zu", id, n,
                         cap);
    return JANG_OK;
}

jang_status jang_tokenizer_decode(const jang_tokenizer *t, const int32_t *ids, int64_t n,
                                  unsigned flags, char **text, size_t *len) {
    if (text) *text = NULL;
    if (len) *len = 0;
    if (!t || !text || (!ids && n > 0) || n < 0)
        return jang_fail(JANG_E_ARG, "jang_tokenizer_decode: bad argument");
    size_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            return jang_fail(JANG_E_NOTFOUND, "decode: token %lld is id %d, out of range [0, %d)",
                             (long long)i, ids[i], t->n_vocab);
        total += piece(t, ids[i], flags, NULL, 0);
    }
    char *out = jang_malloc(total + 1, "decode");
    if (!out) return JANG_E_NOMEM;
    size_t w = 0;
    bool started = false;
    for (int64_t i = 0; i < n; i++) {
        size_t k = piece(t, ids[i], flags, out + w, total - w);
        if (k && !started) {
            started = true;
            if (t->strip_space && out[w] == ' ') {
                memmove(out + w, out + w + 1, k - 1);
                k--;
            }
        }
        w += k;
    }
    out[w] = '\0';
    *text = out;
    if (len) *len = w;
    return JANG_OK;
}

void jang_detok_stream_init(jang_detok_stream *s) { memset(s, 0, sizeof *s); }

/* Length of the longest prefix of s[0, n) that does not end inside an incomplete (but so far
 * valid-looking) UTF-8 sequence. */
static size_t complete_prefix(const char *s, size_t n) {
    size_t k = n, back = 0;
    while (k > 0 && back < 3 && ((uint8_t)s[k - 1] & 0xC0) == 0x80)
        k--, back++;
    if (k == 0) return n;
    uint8_t lead = (uint8_t)s[k - 1];
    if (lead < 0xC2 || lead > 0xF4) return n; /* ASCII or not a lead byte: nothing to wait for */
    int need = tok_utf8_len(lead);
    if ((size_t)need > back + 1) return k - 1; /* incomplete: hold the lead and its tail */
    return n;
}

jang_status jang_detok_stream_next(const jang_tokenizer *t, jang_detok_stream *s, int32_t id,
                                   unsigned flags, char *out, size_t cap, size_t *len) {
    if (len) *len = 0;
    if (!t || !s || !len || (!out && cap))
        return jang_fail(JANG_E_ARG, "detok_stream: NULL argument");
    if (id < 0 || id >= t->n_vocab)
        return jang_fail(JANG_E_NOTFOUND, "token id %d out of range [0, %d)", id, t->n_vocab);
    if (s->n_pending < 0 || s->n_pending > (int)sizeof s->pending)
        return jang_fail(JANG_E_ARG, "detok_stream: corrupt state");
    size_t p = piece(t, id, flags, NULL, 0);
    size_t need = (size_t)s->n_pending + p;
    if (need > cap) {
        *len = need;
        return jang_fail(JANG_E_ARG, "detok_stream: %zu bytes needed, %zu given", need, cap);
    }
    memcpy(out, s->pending, (size_t)s->n_pending);
    piece(t, id, flags, out + s->n_pending, p);
    size_t n = need;
    if (!s->started && p > 0) {
        s->started = true;
        char *q = out + s->n_pending;
        if (t->strip_space && q[0] == ' ') {
            memmove(q, q + 1, p - 1);
            n--;
        }
    }
    size_t k = complete_prefix(out, n);
    s->n_pending = (int)(n - k);
    memcpy(s->pending, out + k, n - k);
    *len = k;
    return JANG_OK;
}

size_t jang_detok_stream_flush(jang_detok_stream *s, char *out, size_t cap) {
    size_t n = s->n_pending > 0 ? (size_t)s->n_pending : 0;
    if (n > cap) n = cap;
    if (out) memcpy(out, s->pending, n);
    s->n_pending = 0;
    return n;
}
