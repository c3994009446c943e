/* tokenizer_gguf.c — a tokenizer from GGUF metadata, with llama.cpp's semantics (llama-vocab.cpp
 * llama_vocab::impl::load): tokenizer.ggml.model "gpt2" is byte-level BPE whose pre-tokenizer
 * regexes come from tokenizer.ggml.pre, "llama" is SentencePiece BPE by scores. Token types,
 * special ids, add_bos / add_eos / add_space_prefix come from their tokenizer.ggml.* keys.
 */
#include "tokenizer_internal.h"

#include <string.h>

static const jang_gguf_value *find_array(const jang_gguf *g, const char *key, jang_gguf_vtype et,
                                         jang_gguf_vtype et2, bool required, jang_status *st,
                                         const char *what) {
    *st = JANG_OK;
    const jang_gguf_value *v = jang_gguf_find(g, key);
    if (!v) {
        if (required) *st = jang_fail(JANG_E_FORMAT, "%s: no %s", what, key);
        return NULL;
    }
    if (v->type != JANG_GGUF_ARRAY || (v->v.arr.type != et && v->v.arr.type != et2)) {
        *st = jang_fail(JANG_E_FORMAT, "%s: %s has the wrong type", what, key);
        return NULL;
    }
    return v;
}

static void special_id(const jang_gguf *g, const char *key, int32_t n_vocab, int32_t *id) {
    int64_t v;
    if (jang_gguf_get_i64(g, key, &v) && v >= 0 && v < n_vocab) *id = (int32_t)v;
}

jang_status jang_tokenizer_from_gguf(const jang_gguf *g, jang_tokenizer **out) {
    if (out) *out = NULL;
    if (!g || !out) return jang_fail(JANG_E_ARG, "jang_tokenizer_from_gguf: NULL argument");
    const char *what = jang_gguf_path(g);
    if (!what) what = "gguf";
    const char *model = jang_gguf_get_str(g, "tokenizer.ggml.model");
    if (!model) return jang_fail(JANG_E_NOTFOUND, "%s: no tokenizer (tokenizer.ggml.model)", what);
    tok_kind kind;
    if (!strcmp(model, "gpt2"))
        kind = TOK_BPE_BYTES;
    else if (!strcmp(model, "llama"))
        kind = TOK_SPM;
    else
        return jang_fail(
            JANG_E_UNSUPPORTED,
            "%s: tokenizer model '%s' is not supported (only 'gpt2' byte-level BPE and "
            "'llama' SentencePiece BPE)",
            what, model);

    jang_status st;
    const jang_gguf_value *toks =
        find_array(g, "tokenizer.ggml.tokens", JANG_GGUF_STRING, JANG_GGUF_STRING, true, &st, what);
    if (!toks) return st;
    uint64_t n = toks->v.arr.n;
    if (n == 0 || n > (uint64_t)INT32_MAX / 2)
        return jang_fail(JANG_E_FORMAT, "%s: tokenizer.ggml.tokens has %llu entries", what,
                         (unsigned long long)n);
    const jang_gguf_value *scores = find_array(g, "tokenizer.ggml.scores", JANG_GGUF_FLOAT32,
                                               JANG_GGUF_INT32, false, &st, what);
    if (st) return st;
    const jang_gguf_value *types = find_array(g, "tokenizer.ggml.token_type", JANG_GGUF_INT32,
                                              JANG_GGUF_INT32, false, &st, what);
    if (st) return st;
    if (scores && scores->v.arr.n < n)
        return jang_fail(JANG_E_FORMAT, "%s: %llu scores for %llu tokens", what,
                         (unsigned long long)scores->v.arr.n, (unsigned long long)n);
    if (types && types->v.arr.n < n)
        return jang_fail(JANG_E_FORMAT, "%s: %llu token types for %llu tokens", what,
                         (unsigned long long)types->v.arr.n, (unsigned long long)n);

    jang_tokenizer *t = jang_calloc(1, sizeof *t, what);
    if (!t) return JANG_E_NOMEM;
    t->kind = kind;
    if ((st = tok_alloc_vocab(t, (int64_t)n, what))) goto fail;
    for (uint64_t i = 0; i < n; i++) {
        const jang_gguf_value *e = &toks->v.arr.items[i];
        if (e->type != JANG_GGUF_STRING) {
            st = jang_fail(JANG_E_FORMAT, "%s: token %llu is not a string", what,
                           (unsigned long long)i);
            goto fail;
        }
        if (e->v.str.len == 0) { /* llama.cpp names empty tokens so they stay distinct */
            char name[32];
            int k = snprintf(name, sizeof name, "[EMPTY_%llu]", (unsigned long long)i);
            st = tok_set_text(t, (int32_t)i, name, (size_t)k);
        } else {
            st = tok_set_text(t, (int32_t)i, e->v.str.ptr, (size_t)e->v.str.len);
        }
        if (st) goto fail;
        tok_token *k = &t->tok[i];
        if (scores) {
            const uint8_t *p = (const uint8_t *)scores->v.arr.raw + 4 * i;
            uint32_t bits = jang_rd32(p);
            if (scores->v.arr.type == JANG_GGUF_FLOAT32)
                memcpy(&k->score, &bits, 4);
            else
                k->score = (float)(int32_t)bits;
        }
        int32_t ty = types ? (int32_t)jang_rd32((const uint8_t *)types->v.arr.raw + 4 * i)
                           : JANG_TOKEN_NORMAL;
        static const uint8_t attr_of[7] = {0,       TA_NORMAL, TA_UNKNOWN, TA_CONTROL,
                                           TA_USER, TA_UNUSED, TA_BYTE};
        if (ty < 0 || ty > 6) ty = JANG_TOKEN_UNDEFINED;
        k->type = (uint8_t)ty;
        k->attr = attr_of[ty];
    }
    if ((st = tok_build_map(t, false, what))) goto fail;

    if (kind == TOK_BPE_BYTES) {
        const jang_gguf_value *merges = find_array(g, "tokenizer.ggml.merges", JANG_GGUF_STRING,
                                                   JANG_GGUF_STRING, true, &st, what);
        if (!merges) goto fail;
        uint64_t nm = merges->v.arr.n;
        if (nm > (uint64_t)INT32_MAX / 4) {
            st = jang_fail(JANG_E_FORMAT, "%s: %llu merges", what, (unsigned long long)nm);
            goto fail;
        }
        if ((st = tok_merges_alloc(t, (int64_t)nm))) goto fail;
        for (uint64_t i = 0; i < nm; i++) {
            const jang_gguf_value *e = &merges->v.arr.items[i];
            if (e->type != JANG_GGUF_STRING) {
                st = jang_fail(JANG_E_FORMAT, "%s: merge %llu is not a string", what,
                               (unsigned long long)i);
                goto fail;
            }
            const char *s = e->v.str.ptr;
            size_t len = (size_t)e->v.str.len, sp = 1;
            while (sp < len && s[sp] != ' ')
                sp++;
            if (len < 3 || sp >= len - 1) {
                char buf[64];
                st =
                    jang_fail(JANG_E_FORMAT,
                              "%s: merge %llu '%s' is not two tokens separated by "
                              "a space",
                              what, (unsigned long long)i, jang_printable(s, len, buf, sizeof buf));
                goto fail;
            }
            if ((st = tok_merge_add_text(t, s, sp, s + sp + 1, len - sp - 1, (int32_t)i, what)))
                goto fail;
        }
        for (int b = 0; b < 256; b++) {
            char enc[4];
            int l = tok_utf8_encode(tok_byte_to_cp((uint8_t)b), enc);
            t->byte_tok[b] = tok_find(t, enc, (size_t)l);
        }
        bool clean, ignore, add_bos, no_bos;
        const char *pre = jang_gguf_get_str(g, "tokenizer.ggml.pre");
        if ((st = tok_pre_from_gguf(t, pre, &clean, &ignore, &add_bos, &no_bos, what))) goto fail;
        snprintf(t->pre, sizeof t->pre, "%s",
                 pre && pre[0] ? pre : "gpt-2 (no tokenizer.ggml.pre)");
        t->ignore_merges = ignore;
        t->add_bos = add_bos;
        t->sanitize_utf8 = true;
        t->bos = t->eos = t->unk = -1;
        if (no_bos) t->bos = -2; /* chatglm: no BOS even if the key names one */
    } else {
        for (int b = 0; b < 256; b++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            t->byte_tok[b] = tok_find(t, name, 6);
        }
        snprintf(t->pre, sizeof t->pre, "spm");
        t->add_space_prefix = true;
        t->escape_spaces = true;
        t->add_bos = true;
        t->bos = 1, t->eos = 2, t->unk = 0;
    }
    t->eot = t->eom = t->pad = -1;
    bool no_bos = t->bos == -2;
    special_id(g, "tokenizer.ggml.bos_token_id", t->n_vocab, &t->bos);
    if (no_bos) t->bos = -1;
    special_id(g, "tokenizer.ggml.eos_token_id", t->n_vocab, &t->eos);
    special_id(g, "tokenizer.ggml.eot_token_id", t->n_vocab, &t->eot);
    special_id(g, "tokenizer.ggml.eom_token_id", t->n_vocab, &t->eom);
    special_id(g, "tokenizer.ggml.unknown_token_id", t->n_vocab, &t->unk);
    special_id(g, "tokenizer.ggml.padding_token_id", t->n_vocab, &t->pad);
    bool b;
    if (jang_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b)) t->add_space_prefix = b;
    if (jang_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b)) t->add_bos = b;
    if (jang_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b)) t->add_eos = b;
    t->strip_space = kind == TOK_SPM && t->add_space_prefix;
    const char *tmpl = jang_gguf_get_str(g, "tokenizer.chat_template");
    if (tmpl && !(t->chat_template = jang_strdup(tmpl))) {
        st = JANG_E_NOMEM;
        goto fail;
    }
    if ((st = tok_finish(t, jang_gguf_get_str(g, "general.name"), what))) goto fail;
    *out = t;
    return JANG_OK;
fail:
    jang_tokenizer_free(t);
    return st;
}
