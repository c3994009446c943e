/* tokenizer_hf.c — a tokenizer from a Hugging Face tokenizer.json (the `tokenizers` library's
 * serialization) and the tokenizer_config.json beside it.
 *
 * Supported: model BPE (byte-level when a ByteLevel pre-tokenizer or decoder is present, else over
 * characters with byte_fallback / unk), added tokens (special -> control, others -> user-defined,
 * with lstrip / rstrip), normalizers NFC/NFD/NFKC/NFKD, Lowercase, Prepend, Replace, Strip and
 * Sequence, pre-tokenizers ByteLevel, Split, Digits, Metaspace, Punctuation, Whitespace,
 * WhitespaceSplit and Sequence, post-processors TemplateProcessing, Roberta/BertProcessing,
 * ByteLevel and Sequence. Anything else is a JANG_E_UNSUPPORTED error naming it.
 */
#include "tokenizer_internal.h"

#include <jansson.h>
#include <string.h>

#define HF_MAX_JSON (512u << 20)
/* tokenizers' ByteLevel regex (GPT-2's, with the trailing \s+) */
#define RE_BYTELEVEL                                                                               \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

static const char *jstr(const json_t *o, const char *key) {
    return json_string_value(json_object_get(o, key));
}

static bool jbool(const json_t *o, const char *key, bool def) {
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

static jang_status add_step(jang_tokenizer *t, tok_step st, const char *what) {
    tok_step *p = realloc(t->steps, (size_t)(t->n_steps + 1) * sizeof *p);
    if (!p) {
        pcre2_code_free(st.re);
        return jang_fail(JANG_E_NOMEM, "%s: out of memory", what);
    }
    t->steps = p;
    t->steps[t->n_steps++] = st;
    return JANG_OK;
}

static jang_status add_split(jang_tokenizer *t, const char *re, size_t len, bool literal,
                             tok_split_mode mode, bool invert, const char *what) {
    tok_step st = {.kind = STEP_SPLIT, .mode = mode, .invert = invert};
    jang_status s = tok_regex_compile(re, len, literal, &st.re, what);
    if (s) return s;
    return add_step(t, st, what);
}

/* Reads a {"String": s} / {"Regex": s} pattern. */
static jang_status get_pattern(const json_t *o, const char **s, size_t *len, bool *literal,
                               const char *what, const char *ctx) {
    const json_t *p = json_object_get(o, "pattern");
    json_t *v;
    if ((v = json_object_get(p, "String")) && json_is_string(v))
        *literal = true;
    else if ((v = json_object_get(p, "Regex")) && json_is_string(v))
        *literal = false;
    else
        return jang_fail(JANG_E_FORMAT, "%s: %s without a String or Regex pattern", what, ctx);
    *s = json_string_value(v);
    *len = json_string_length(v);
    return JANG_OK;
}

static jang_status parse_pre(jang_tokenizer *t, const json_t *p, bool *byte_level, int depth,
                             const char *what) {
    if (!p || json_is_null(p)) return JANG_OK;
    const char *type = jstr(p, "type");
    if (!type) return jang_fail(JANG_E_FORMAT, "%s: pre_tokenizer without a type", what);
    if (depth > 8) return jang_fail(JANG_E_FORMAT, "%s: pre_tokenizer nested too deep", what);
    jang_status s;
    if (!strcmp(type, "Sequence")) {
        const json_t *a = json_object_get(p, "pretokenizers");
        size_t i;
        json_t *e;
        json_array_foreach(a, i, e) {
            if ((s = parse_pre(t, e, byte_level, depth + 1, what))) return s;
        }
        return JANG_OK;
    }
    if (!strcmp(type, "ByteLevel")) {
        *byte_level = true;
        if (jbool(p, "add_prefix_space", false) &&
            (s = add_step(t, (tok_step){.kind = STEP_PREFIX_SPACE}, what)))
            return s;
        if (jbool(p, "use_regex", true))
            return add_split(t, RE_BYTELEVEL, strlen(RE_BYTELEVEL), false, SPLIT_ISOLATED, false,
                             what);
        return JANG_OK;
    }
    if (!strcmp(type, "Split")) {
        const char *re;
        size_t len;
        bool literal;
        if ((s = get_pattern(p, &re, &len, &literal, what, "Split pre-tokenizer"))) return s;
        const char *b = jstr(p, "behavior");
        tok_split_mode mode;
        if (!b || !strcmp(b, "Isolated"))
            mode = SPLIT_ISOLATED;
        else if (!strcmp(b, "Removed"))
            mode = SPLIT_REMOVED;
        else if (!strcmp(b, "MergedWithPrevious"))
            mode = SPLIT_MERGED_PREV;
        else if (!strcmp(b, "MergedWithNext"))
            mode = SPLIT_MERGED_NEXT;
        else
            return jang_fail(JANG_E_UNSUPPORTED, "%s: Split behavior '%s' is not supported", what,
                             b);
        return add_split(t, re, len, literal, mode, jbool(p, "invert", false), what);
    }
    if (!strcmp(type, "Digits")) {
        const char *re = jbool(p, "individual_digits", false) ? "\\p{N}" : "\\p{N}+";
        return add_split(t, re, strlen(re), false, SPLIT_ISOLATED, false, what);
    }
    if (!strcmp(type, "Punctuation")) {
        const char *re = "[\\p{P}!-/:-@\\[-`{-~]";
        const char *b = jstr(p, "behavior");
        if (b && strcmp(b, "Isolated"))
            return jang_fail(JANG_E_UNSUPPORTED, "%s: Punctuation behavior '%s' is not supported",
                             what, b);
        return add_split(t, re, strlen(re), false, SPLIT_ISOLATED, false, what);
    }
    if (!strcmp(type, "Whitespace"))
        return add_split(t, "\\w+|[^\\w\\s]+", 13, false, SPLIT_REMOVED, true, what);
    if (!strcmp(type, "WhitespaceSplit"))
        return add_split(t, "\\s+", 3, false, SPLIT_REMOVED, false, what);
    if (!strcmp(type, "Metaspace")) {
        tok_step st = {.kind = STEP_METASPACE, .prepend = PREPEND_ALWAYS, .split = true};
        const char *rep = jstr(p, "replacement");
        if (!rep) rep = "\xE2\x96\x81";
        st.rep_len = strlen(rep);
        if (st.rep_len == 0 || st.rep_len >= sizeof st.rep)
            return jang_fail(JANG_E_FORMAT, "%s: Metaspace replacement of %zu bytes", what,
                             st.rep_len);
        memcpy(st.rep, rep, st.rep_len);
        const char *ps = jstr(p, "prepend_scheme");
        if (ps && !strcmp(ps, "first"))
            st.prepend = PREPEND_FIRST;
        else if (ps && !strcmp(ps, "never"))
            st.prepend = PREPEND_NEVER;
        else if (!ps && !jbool(p, "add_prefix_space", true))
            st.prepend = PREPEND_NEVER;
        st.split = jbool(p, "split", true);
        return add_step(t, st, what);
    }
    return jang_fail(JANG_E_UNSUPPORTED, "%s: pre_tokenizer '%s' is not supported", what, type);
}

static jang_status add_norm(jang_tokenizer *t, tok_norm nm, const char *what) {
    tok_norm *p = realloc(t->norms, (size_t)(t->n_norms + 1) * sizeof *p);
    if (!p) {
        free(nm.a);
        free(nm.b);
        pcre2_code_free(nm.re);
        return jang_fail(JANG_E_NOMEM, "%s: out of memory", what);
    }
    t->norms = p;
    t->norms[t->n_norms++] = nm;
    return JANG_OK;
}

static jang_status parse_norm(jang_tokenizer *t, const json_t *p, int depth, const char *what) {
    if (!p || json_is_null(p)) return JANG_OK;
    const char *type = jstr(p, "type");
    if (!type) return jang_fail(JANG_E_FORMAT, "%s: normalizer without a type", what);
    if (depth > 8) return jang_fail(JANG_E_FORMAT, "%s: normalizer nested too deep", what);
    jang_status s;
    static const struct {
        const char *name;
        tok_norm_kind kind;
    } simple[] = {{"NFC", NORM_NFC},
                  {"NFD", NORM_NFD},
                  {"NFKC", NORM_NFKC},
                  {"NFKD", NORM_NFKD},
                  {"Lowercase", NORM_LOWER}};
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (!strcmp(type, simple[i].name))
            return add_norm(t, (tok_norm){.kind = simple[i].kind}, what);
    if (!strcmp(type, "Sequence")) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(p, "normalizers"), i, e) {
            if ((s = parse_norm(t, e, depth + 1, what))) return s;
        }
        return JANG_OK;
    }
    if (!strcmp(type, "Prepend")) {
        json_t *v = json_object_get(p, "prepend");
        if (!json_is_string(v)) return jang_fail(JANG_E_FORMAT, "%s: Prepend without text", what);
        tok_norm nm = {.kind = NORM_PREPEND, .a_len = json_string_length(v)};
        if (!(nm.a = jang_strndup(json_string_value(v), nm.a_len))) return JANG_E_NOMEM;
        return add_norm(t, nm, what);
    }
    if (!strcmp(type, "Replace")) {
        const char *pat;
        size_t plen;
        bool literal;
        if ((s = get_pattern(p, &pat, &plen, &literal, what, "Replace normalizer"))) return s;
        json_t *v = json_object_get(p, "content");
        if (!json_is_string(v))
            return jang_fail(JANG_E_FORMAT, "%s: Replace without content", what);
        tok_norm nm = {.kind = NORM_REPLACE, .b_len = json_string_length(v)};
        if (!(nm.b = jang_strndup(json_string_value(v), nm.b_len))) return JANG_E_NOMEM;
        if (literal) {
            nm.a_len = plen;
            if (!(nm.a = jang_strndup(pat, plen))) {
                free(nm.b);
                return JANG_E_NOMEM;
            }
        } else if ((s = tok_regex_compile(pat, plen, false, &nm.re, what))) {
            free(nm.b);
            return s;
        }
        return add_norm(t, nm, what);
    }
    if (!strcmp(type, "Strip"))
        return add_norm(t,
                        (tok_norm){.kind = NORM_STRIP,
                                   .left = jbool(p, "strip_left", true),
                                   .right = jbool(p, "strip_right", true)},
                        what);
    return jang_fail(JANG_E_UNSUPPORTED, "%s: normalizer '%s' is not supported", what, type);
}

/* Whether the decoder strips the space SentencePiece put before the text. */
static void scan_decoder(const json_t *d, bool *byte_level, bool *strip, int depth) {
    if (!d || depth > 8) return;
    const char *type = jstr(d, "type");
    if (!type) return;
    if (!strcmp(type, "Sequence")) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(d, "decoders"), i, e)
            scan_decoder(e, byte_level, strip, depth + 1);
    } else if (!strcmp(type, "ByteLevel")) {
        *byte_level = true;
    } else if (!strcmp(type, "Strip")) {
        const char *c = jstr(d, "content");
        json_t *start = json_object_get(d, "start");
        if (c && !strcmp(c, " ") && json_integer_value(start) > 0) *strip = true;
    } else if (!strcmp(type, "Metaspace")) {
        const char *ps = jstr(d, "prepend_scheme");
        if (ps ? strcmp(ps, "never") != 0 : jbool(d, "add_prefix_space", true)) *strip = true;
    }
}

static jang_status push_affix(int32_t *arr, int *n, int32_t id, const char *what) {
    if (*n >= TOK_MAX_AFFIX)
        return jang_fail(JANG_E_UNSUPPORTED, "%s: post_processor adds more than %d tokens", what,
                         TOK_MAX_AFFIX);
    arr[(*n)++] = id;
    return JANG_OK;
}

static jang_status parse_post(jang_tokenizer *t, const json_t *p, int depth, const char *what) {
    if (!p || json_is_null(p)) return JANG_OK;
    const char *type = jstr(p, "type");
    if (!type || depth > 8) return jang_fail(JANG_E_FORMAT, "%s: bad post_processor", what);
    jang_status s;
    if (!strcmp(type, "ByteLevel")) return JANG_OK;
    if (!strcmp(type, "Sequence")) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(p, "processors"), i, e) {
            if ((s = parse_post(t, e, depth + 1, what))) return s;
        }
        return JANG_OK;
    }
    if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
        json_t *cls = json_object_get(p, "cls"), *sep = json_object_get(p, "sep");
        json_t *ci = json_array_get(cls, 1), *si = json_array_get(sep, 1);
        if (!json_is_integer(ci) || !json_is_integer(si))
            return jang_fail(JANG_E_FORMAT, "%s: %s without cls / sep ids", what, type);
        if ((s = push_affix(t->prefix, &t->n_prefix, (int32_t)json_integer_value(ci), what)))
            return s;
        return push_affix(t->suffix, &t->n_suffix, (int32_t)json_integer_value(si), what);
    }
    if (!strcmp(type, "TemplateProcessing")) {
        const json_t *single = json_object_get(p, "single"),
                     *sp = json_object_get(p, "special_tokens");
        bool after = false;
        size_t i;
        json_t *e;
        json_array_foreach(single, i, e) {
            if (json_object_get(e, "Sequence")) {
                after = true;
                continue;
            }
            const char *name = jstr(json_object_get(e, "SpecialToken"), "id");
            if (!name) return jang_fail(JANG_E_FORMAT, "%s: bad TemplateProcessing item", what);
            const json_t *ids = json_object_get(json_object_get(sp, name), "ids");
            if (!json_is_array(ids))
                return jang_fail(JANG_E_FORMAT, "%s: TemplateProcessing token '%s' has no ids",
                                 what, name);
            size_t k;
            json_t *v;
            json_array_foreach(ids, k, v) {
                s = after
                        ? push_affix(t->suffix, &t->n_suffix, (int32_t)json_integer_value(v), what)
                        : push_affix(t->prefix, &t->n_prefix, (int32_t)json_integer_value(v), what);
                if (s) return s;
            }
        }
        return JANG_OK;
    }
    return jang_fail(JANG_E_UNSUPPORTED, "%s: post_processor '%s' is not supported", what, type);
}

/* A special-token entry of tokenizer_config.json: a string or {"content": ...}. */
static int32_t config_token(const jang_tokenizer *t, const json_t *cfg, const char *key) {
    const json_t *v = json_object_get(cfg, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!json_is_string(v)) return -1;
    return tok_find(t, json_string_value(v), json_string_length(v));
}

static jang_status load_json(const char *path, size_t flags, json_t **out) {
    char *buf;
    size_t len;
    jang_status s = jang_read_file(path, HF_MAX_JSON, &buf, &len);
    if (s) return s;
    json_error_t err;
    *out = json_loadb(buf, len, JSON_ALLOW_NUL | flags, &err);
    free(buf);
    if (!*out)
        return jang_fail(JANG_E_FORMAT, "%s: invalid JSON at line %d: %s", path, err.line,
                         err.text);
    return JANG_OK;
}

static jang_status load_vocab(jang_tokenizer *t, const json_t *model, const json_t *added,
                              const char *what) {
    const json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab))
        return jang_fail(JANG_E_FORMAT, "%s: model.vocab is not an object", what);
    int64_t max_id = -1;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= INT32_MAX / 2)
            return jang_fail(JANG_E_FORMAT, "%s: vocab entry '%s' has a bad id", what, key);
        if (json_integer_value(v) > max_id) max_id = json_integer_value(v);
    }
    size_t i;
    json_t *e;
    json_array_foreach(added, i, e) {
        json_t *id = json_object_get(e, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= INT32_MAX / 2 ||
            !json_is_string(json_object_get(e, "content")))
            return jang_fail(JANG_E_FORMAT, "%s: added token %zu has no id or content", what, i);
        if (json_integer_value(id) > max_id) max_id = json_integer_value(id);
    }
    jang_status s = tok_alloc_vocab(t, max_id + 1, what);
    if (s) return s;
    for (int32_t k = 0; k < t->n_vocab; k++)
        t->tok[k].type = JANG_TOKEN_UNUSED, t->tok[k].attr = TA_UNUSED;
    size_t key_len;
    json_object_keylen_foreach((json_t *)vocab, key, key_len, v) {
        int32_t id = (int32_t)json_integer_value(v);
        if ((s = tok_set_text(t, id, key, key_len))) return s;
        t->tok[id].type = JANG_TOKEN_NORMAL;
        t->tok[id].attr = TA_NORMAL;
    }
    if ((s = tok_build_map(t, true, what))) return s;
    json_array_foreach(added, i, e) {
        int32_t id = (int32_t)json_integer_value(json_object_get(e, "id"));
        json_t *c = json_object_get(e, "content");
        if ((s = tok_set_text(t, id, json_string_value(c), json_string_length(c)))) return s;
        bool special = jbool(e, "special", false);
        t->tok[id].type = special ? JANG_TOKEN_CONTROL : JANG_TOKEN_USER_DEFINED;
        t->tok[id].attr = special ? TA_CONTROL : TA_USER;
        if (jbool(e, "lstrip", false)) t->tok[id].attr |= TA_LSTRIP;
        if (jbool(e, "rstrip", false)) t->tok[id].attr |= TA_RSTRIP;
        if ((s = tok_map_put(t, id))) return s;
    }
    return JANG_OK;
}

static jang_status load_merges(jang_tokenizer *t, const json_t *merges, const char *what) {
    if (!json_is_array(merges))
        return jang_fail(JANG_E_FORMAT, "%s: model.merges is not a list", what);
    jang_status s = tok_merges_alloc(t, (int64_t)json_array_size(merges));
    if (s) return s;
    size_t i;
    json_t *e;
    json_array_foreach(merges, i, e) {
        const char *l, *r;
        size_t ll, rl;
        if (json_is_string(e)) {
            const char *m = json_string_value(e);
            size_t n = json_string_length(e), sp = 1;
            while (sp < n && m[sp] != ' ')
                sp++;
            if (n < 3 || sp >= n - 1) {
                char buf[64];
                return jang_fail(JANG_E_FORMAT,
                                 "%s: merge %zu '%s' is not two tokens separated "
                                 "by a space",
                                 what, i, jang_printable(m, n, buf, sizeof buf));
            }
            l = m, ll = sp, r = m + sp + 1, rl = n - sp - 1;
        } else if (json_is_array(e) && json_array_size(e) == 2 &&
                   json_is_string(json_array_get(e, 0)) && json_is_string(json_array_get(e, 1))) {
            l = json_string_value(json_array_get(e, 0));
            ll = json_string_length(json_array_get(e, 0));
            r = json_string_value(json_array_get(e, 1));
            rl = json_string_length(json_array_get(e, 1));
        } else {
            return jang_fail(JANG_E_FORMAT, "%s: merge %zu is neither \"a b\" nor [a, b]", what, i);
        }
        if ((s = tok_merge_add_text(t, l, ll, r, rl, (int32_t)i, what))) return s;
    }
    return JANG_OK;
}

jang_status jang_tokenizer_from_hf(const char *path, jang_tokenizer **out) {
    if (out) *out = NULL;
    if (!path || !out) return jang_fail(JANG_E_ARG, "jang_tokenizer_from_hf: NULL argument");
    char *json_path = NULL, *cfg_path = NULL;
    json_t *root = NULL, *cfg = NULL;
    jang_tokenizer *t = NULL;
    jang_status s;
    if (jang_is_dir(path)) {
        json_path = jang_path_join(path, "tokenizer.json");
        cfg_path = jang_path_join(path, "tokenizer_config.json");
    } else {
        json_path = jang_strdup(path);
        const char *slash = strrchr(path, '/');
        char *dir = slash ? jang_strndup(path, (size_t)(slash - path)) : jang_strdup(".");
        if (dir) cfg_path = jang_path_join(slash == path ? "/" : dir, "tokenizer_config.json");
        free(dir);
    }
    if (!json_path || !cfg_path) {
        s = jang_fail(JANG_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    const char *what = json_path;
    if ((s = load_json(json_path, 0, &root))) goto done;
    if (!json_is_object(root)) {
        s = jang_fail(JANG_E_FORMAT, "%s: not a JSON object", what);
        goto done;
    }
    /* tokenizer_config.json holds integers like model_max_length = 1e30 */
    if (jang_file_exists(cfg_path) && (s = load_json(cfg_path, JSON_DECODE_INT_AS_REAL, &cfg)))
        goto done;

    const json_t *model = json_object_get(root, "model");
    const char *mtype = jstr(model, "type");
    if (!json_is_object(model)) {
        s = jang_fail(JANG_E_FORMAT, "%s: no model", what);
        goto done;
    }
    if (mtype ? strcmp(mtype, "BPE") != 0 : !json_object_get(model, "merges")) {
        s = jang_fail(JANG_E_UNSUPPORTED, "%s: model type '%s' is not supported (only BPE)", what,
                      mtype ? mtype : "?");
        goto done;
    }
    const char *csp = jstr(model, "continuing_subword_prefix"),
               *eow = jstr(model, "end_of_word_suffix");
    if ((csp && csp[0]) || (eow && eow[0])) {
        s = jang_fail(JANG_E_UNSUPPORTED,
                      "%s: BPE with continuing_subword_prefix / "
                      "end_of_word_suffix is not supported",
                      what);
        goto done;
    }
    json_t *dropout = json_object_get(model, "dropout");
    if (json_is_number(dropout) && json_number_value(dropout) > 0) {
        s = jang_fail(JANG_E_UNSUPPORTED, "%s: BPE dropout is not supported", what);
        goto done;
    }
    if (!(t = jang_calloc(1, sizeof *t, what))) {
        s = JANG_E_NOMEM;
        goto done;
    }
    snprintf(t->pre, sizeof t->pre, "tokenizer.json");
    t->bos = t->eos = t->eot = t->eom = t->unk = t->pad = -1;
    t->sanitize_utf8 = true;
    const json_t *added = json_object_get(root, "added_tokens");
    if ((s = load_vocab(t, model, added, what))) goto done;
    if ((s = load_merges(t, json_object_get(model, "merges"), what))) goto done;

    bool byte_level = false, strip = false;
    if ((s = parse_norm(t, json_object_get(root, "normalizer"), 0, what))) goto done;
    if ((s = parse_pre(t, json_object_get(root, "pre_tokenizer"), &byte_level, 0, what))) goto done;
    scan_decoder(json_object_get(root, "decoder"), &byte_level, &strip, 0);
    t->kind = byte_level ? TOK_BPE_BYTES : TOK_BPE_CHARS;
    t->strip_space = !byte_level && strip;
    t->byte_fallback = jbool(model, "byte_fallback", false);
    t->fuse_unk = jbool(model, "fuse_unk", false);
    t->ignore_merges = jbool(model, "ignore_merges", false);
    const char *unk = jstr(model, "unk_token");
    if (unk) t->unk = tok_find(t, unk, strlen(unk));
    for (int b = 0; b < 256; b++) {
        char enc[8];
        int l;
        if (byte_level) {
            l = tok_utf8_encode(tok_byte_to_cp((uint8_t)b), enc);
        } else {
            snprintf(enc, sizeof enc, "<0x%02X>", b);
            l = 6;
        }
        t->byte_tok[b] = tok_find(t, enc, (size_t)l);
        if (!byte_level && t->byte_fallback && t->byte_tok[b] >= 0 &&
            (t->tok[t->byte_tok[b]].attr & TA_NORMAL)) {
            t->tok[t->byte_tok[b]].attr = TA_BYTE;
            t->tok[t->byte_tok[b]].type = JANG_TOKEN_BYTE;
        }
    }
    if (t->unk >= 0 && (t->tok[t->unk].attr & TA_NORMAL)) {
        t->tok[t->unk].attr = TA_UNKNOWN;
        t->tok[t->unk].type = JANG_TOKEN_UNKNOWN;
    }
    if ((s = parse_post(t, json_object_get(root, "post_processor"), 0, what))) goto done;
    for (int i = 0; i < t->n_prefix; i++)
        if (t->prefix[i] < 0 || t->prefix[i] >= t->n_vocab) {
            s = jang_fail(JANG_E_FORMAT, "%s: post_processor token id %d out of range", what,
                          t->prefix[i]);
            goto done;
        }
    for (int i = 0; i < t->n_suffix; i++)
        if (t->suffix[i] < 0 || t->suffix[i] >= t->n_vocab) {
            s = jang_fail(JANG_E_FORMAT, "%s: post_processor token id %d out of range", what,
                          t->suffix[i]);
            goto done;
        }
    if (t->n_prefix) t->bos = t->prefix[0];
    if (t->n_suffix) t->eos = t->suffix[t->n_suffix - 1];

    if (cfg) {
        int32_t id;
        if ((id = config_token(t, cfg, "bos_token")) >= 0) t->bos = id;
        if ((id = config_token(t, cfg, "eos_token")) >= 0) t->eos = id;
        if ((id = config_token(t, cfg, "unk_token")) >= 0 && t->unk < 0) t->unk = id;
        if ((id = config_token(t, cfg, "pad_token")) >= 0) t->pad = id;
        /* add_bos_token / add_eos_token override the template (as llama.cpp's converter and
         * transformers' Llama/Gemma tokenizers do) */
        json_t *ab = json_object_get(cfg, "add_bos_token"),
               *ae = json_object_get(cfg, "add_eos_token");
        if (json_is_boolean(ab)) {
            bool has = t->n_prefix > 0 && t->prefix[0] == t->bos;
            if (json_is_true(ab) && !has && t->bos >= 0) {
                if (t->n_prefix >= TOK_MAX_AFFIX) {
                    s = jang_fail(JANG_E_UNSUPPORTED, "%s: too many prefix tokens", what);
                    goto done;
                }
                memmove(t->prefix + 1, t->prefix, (size_t)t->n_prefix * sizeof *t->prefix);
                t->prefix[0] = t->bos;
                t->n_prefix++;
            } else if (json_is_false(ab) && has) {
                memmove(t->prefix, t->prefix + 1, (size_t)(t->n_prefix - 1) * sizeof *t->prefix);
                t->n_prefix--;
            }
        }
        if (json_is_boolean(ae)) {
            bool has = t->n_suffix > 0 && t->suffix[t->n_suffix - 1] == t->eos;
            if (json_is_true(ae) && !has && t->eos >= 0) {
                if ((s = push_affix(t->suffix, &t->n_suffix, t->eos, what))) goto done;
            } else if (json_is_false(ae) && has) {
                t->n_suffix--;
            }
        }
        const json_t *ct = json_object_get(cfg, "chat_template");
        const char *tmpl = json_string_value(ct);
        if (json_is_array(ct)) { /* [{"name": "default", "template": ...}, ...] */
            size_t i;
            json_t *e;
            json_array_foreach(ct, i, e) {
                const char *nm = jstr(e, "name");
                if (!tmpl || (nm && !strcmp(nm, "default"))) tmpl = jstr(e, "template");
            }
        }
        if (tmpl && !(t->chat_template = jang_strdup(tmpl))) {
            s = JANG_E_NOMEM;
            goto done;
        }
    }
    t->add_bos = t->n_prefix > 0;
    t->add_eos = t->n_suffix > 0;
    s = tok_finish(t, NULL, what);
done:
    json_decref(root);
    json_decref(cfg);
    free(json_path);
    free(cfg_path);
    if (s) {
        jang_tokenizer_free(t);
        return s;
    }
    *out = t;
    return JANG_OK;
}
