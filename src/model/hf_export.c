/* hf_export.c — Hugging Face files for a model that came as GGUF: config.json from the model
 * description, tokenizer.json + tokenizer_config.json from the GGUF tokenizer metadata, so a
 * converted GGUF model loads in transformers / mlx-lm (and in our runtime, which reads them back).
 *
 * config.json: the transformers config class fields of llama / mistral / qwen2 / qwen3 (dense);
 * model_type, class, the facts checked and the per-architecture keys come from the traits row
 * (arch.c: hf_types, hf_class, attn_bias, qk_norm, swa, hf_export).
 * tokenizer.json: byte-level BPE ("gpt2" GGUF tokenizers) whose pre-tokenizer is llama.cpp's
 * regex list for tokenizer.ggml.pre, written as a Sequence of Split(Regex, Isolated) steps and a
 * ByteLevel step without regex: the same pieces llama.cpp (and our GGUF tokenizer) cut. Qwen2's
 * NFC normalizer, which GGUF does not record, is added for the qwen2 pre-tokenizer family as its
 * own tokenizer.json has it (identical on NFC text). Control tokens become special added tokens,
 * user-defined ones non-special added tokens. SentencePiece ("llama") GGUF tokenizers are
 * JANG_E_UNSUPPORTED. Checked by tests/test_convert.c (our runtime reads the files back) and
 * tools/check_tokenizer_export.py (HF tokenizers vs our GGUF tokenizer on text samples).
 */
#include "../tokenizer/tokenizer_internal.h"
#include "arch.h"
#include "util.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

/* A float32-valued metadata number as the shortest decimal that reads back to the same float
 * (1e-06, not 9.999999974752427e-07). */
static json_t *f32_real(double x) {
    char buf[64];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, x);
        double y = strtod(buf, NULL);
        if ((float)y == (float)x || y == x) return json_real(y);
    }
    return json_real(x);
}

static json_t *rope_scaling_json(const jang_model_desc *d, jang_status *st) {
    *st = JANG_OK;
    json_t *r = json_object();
    switch (d->rope_scaling) {
    case JANG_ROPE_SCALING_NONE:
        json_decref(r);
        return json_null();
    case JANG_ROPE_SCALING_LINEAR:
        json_object_set_new(r, "rope_type", json_string("linear"));
        json_object_set_new(r, "type", json_string("linear"));
        json_object_set_new(r, "factor", f32_real(d->rope_factor));
        return r;
    case JANG_ROPE_SCALING_YARN:
        json_object_set_new(r, "rope_type", json_string("yarn"));
        json_object_set_new(r, "type", json_string("yarn"));
        json_object_set_new(r, "factor", f32_real(d->rope_factor));
        if (d->rope_orig_ctx > 0)
            json_object_set_new(r, "original_max_position_embeddings",
                                json_integer(d->rope_orig_ctx));
        json_object_set_new(r, "beta_fast", f32_real(d->rope_beta_fast));
        json_object_set_new(r, "beta_slow", f32_real(d->rope_beta_slow));
        return r;
    case JANG_ROPE_SCALING_LLAMA3:
        if (d->rope_low_freq_factor > 0 && d->rope_high_freq_factor > 0 && d->rope_orig_ctx > 0) {
            json_object_set_new(r, "rope_type", json_string("llama3"));
            json_object_set_new(r, "factor", f32_real(d->rope_factor));
            json_object_set_new(r, "low_freq_factor", f32_real(d->rope_low_freq_factor));
            json_object_set_new(r, "high_freq_factor", f32_real(d->rope_high_freq_factor));
            json_object_set_new(r, "original_max_position_embeddings",
                                json_integer(d->rope_orig_ctx));
            return r;
        }
        json_decref(r);
        *st = jang_fail(JANG_E_UNSUPPORTED,
                        "Llama-3 RoPE scaling: its factors are not in the GGUF metadata (only the "
                        "rope_freqs tensor), so config.json cannot be written");
        return NULL;
    default:
        json_decref(r);
        *st = jang_fail(JANG_E_UNSUPPORTED, "RoPE scaling '%s' cannot be written to config.json",
                        jang_rope_scaling_name(d->rope_scaling));
        return NULL;
    }
}

jang_status jang_desc_to_hf_config(const jang_model_desc *d, const char *torch_dtype, char **out) {
    *out = NULL;
    const jang_arch_traits *t = jang_arch_traits_of(d->arch);
    if (!t->hf_export.supported) {
        char list[128] = "";
        for (int a = 0; a < JANG_ARCH_COUNT; a++)
            if (jang_arch_traits_of((jang_arch)a)->hf_export.supported)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? ", " : "",
                         jang_arch_traits_of((jang_arch)a)->hf_types[0]);
        return jang_fail(JANG_E_UNSUPPORTED,
                         "writing config.json for a %s model is not supported (%s)",
                         jang_arch_name(d->arch), list);
    }
    const char *type = t->hf_types[0], *cls = t->hf_class;
    if (t->attn_bias && !d->attn_bias)
        return jang_fail(JANG_E_UNSUPPORTED, "a %s model without attention biases", type);
    if (t->qk_norm != d->qk_norm)
        return jang_fail(JANG_E_UNSUPPORTED, "%s model %s q/k norms", type,
                         d->qk_norm ? "with" : "without");
    jang_status st;
    json_t *rs = rope_scaling_json(d, &st);
    if (!rs) return st;
    json_t *c = json_object();
    json_t *archs = json_array();
    json_array_append_new(archs, json_string(cls));
    json_object_set_new(c, "architectures", archs);
    json_object_set_new(c, "model_type", json_string(type));
    json_object_set_new(c, "hidden_size", json_integer(d->dim));
    json_object_set_new(c, "intermediate_size", json_integer(d->ffn_dim));
    json_object_set_new(c, "num_hidden_layers", json_integer(d->n_layers));
    json_object_set_new(c, "num_attention_heads", json_integer(d->n_heads));
    json_object_set_new(c, "num_key_value_heads", json_integer(d->n_kv_heads));
    json_object_set_new(c, "head_dim", json_integer(d->head_dim));
    json_object_set_new(c, "vocab_size", json_integer(d->vocab_size));
    json_object_set_new(c, "max_position_embeddings",
                        json_integer(d->max_seq_len > 0 ? d->max_seq_len : 4096));
    json_object_set_new(c, "rms_norm_eps", f32_real(d->norm_eps));
    json_object_set_new(c, "rope_theta", f32_real(d->rope_theta));
    json_object_set_new(c, "rope_scaling", rs);
    json_object_set_new(c, "tie_word_embeddings", json_boolean(d->tied_embeddings));
    json_object_set_new(c, "hidden_act",
                        json_string(t->act == JANG_ACT_GELU_TANH ? "gelu_pytorch_tanh" : "silu"));
    if (t->hf_export.attention_bias_key) {
        json_object_set_new(c, "attention_bias", json_boolean(d->attn_bias));
        if (t->hf_export.mlp_bias_key) json_object_set_new(c, "mlp_bias", json_false());
    } else if (d->attn_bias && !t->attn_bias) {
        json_decref(c);
        return jang_fail(JANG_E_UNSUPPORTED, "a %s model with attention biases", type);
    }
    json_t *window = d->sliding_window > 0 ? json_integer(d->sliding_window) : json_null();
    switch (t->swa) {
    case JANG_SWA_USE_FLAG:
        json_object_set_new(c, "use_sliding_window", json_boolean(d->sliding_window > 0));
        json_object_set_new(c, "sliding_window", window);
        json_object_set_new(c, "max_window_layers", json_integer(d->n_layers));
        break;
    case JANG_SWA_KEY:
        json_object_set_new(c, "sliding_window", window);
        break;
    case JANG_SWA_NONE:
        json_decref(window);
        if (d->sliding_window > 0) {
            json_decref(c);
            return jang_fail(JANG_E_UNSUPPORTED, "a %s model with a sliding window", type);
        }
        break;
    }
    json_object_set_new(c, "attention_dropout", json_real(0.0));
    json_object_set_new(c, "initializer_range", json_real(0.02));
    json_object_set_new(c, "use_cache", json_true());
    if (d->bos_token_id >= 0) json_object_set_new(c, "bos_token_id", json_integer(d->bos_token_id));
    if (d->eos_token_id >= 0) json_object_set_new(c, "eos_token_id", json_integer(d->eos_token_id));
    json_object_set_new(c, "torch_dtype", json_string(torch_dtype ? torch_dtype : "float16"));
    char *text = json_dumps(c, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(c);
    if (!text) return jang_fail(JANG_E_NOMEM, "config.json: out of memory");
    *out = text;
    return JANG_OK;
}

/* ---- tokenizer ----------------------------------------------------------------------------- */

static const jang_gguf_value *gguf_array(const jang_gguf *g, const char *key, jang_gguf_vtype et) {
    const jang_gguf_value *v = jang_gguf_find(g, key);
    return v && v->type == JANG_GGUF_ARRAY && v->v.arr.type == et ? v : NULL;
}

static json_t *added_token(int64_t id, json_t *content, bool special) {
    json_t *a = json_object();
    json_object_set_new(a, "id", json_integer(id));
    json_object_set_new(a, "content", content);
    json_object_set_new(a, "single_word", json_false());
    json_object_set_new(a, "lstrip", json_false());
    json_object_set_new(a, "rstrip", json_false());
    json_object_set_new(a, "normalized", json_false());
    json_object_set_new(a, "special", json_boolean(special));
    return a;
}

static json_t *bytelevel(bool prefix, bool trim, bool regex) {
    json_t *b = json_object();
    json_object_set_new(b, "type", json_string("ByteLevel"));
    json_object_set_new(b, "add_prefix_space", json_boolean(prefix));
    json_object_set_new(b, "trim_offsets", json_boolean(trim));
    json_object_set_new(b, "use_regex", json_boolean(regex));
    return b;
}

static const char *token_text(const jang_gguf_value *toks, int64_t id, char *buf, size_t cap,
                              size_t *len) {
    const jang_gguf_value *e = &toks->v.arr.items[id];
    if (e->v.str.len == 0) { /* llama.cpp names empty tokens so they stay distinct */
        *len = (size_t)snprintf(buf, cap, "[EMPTY_%lld]", (long long)id);
        return buf;
    }
    *len = (size_t)e->v.str.len;
    return e->v.str.ptr;
}

/* The added-token content of a special id for tokenizer_config.json, or null. */
static json_t *special_text(const jang_gguf *g, const jang_gguf_value *toks, const char *key) {
    int64_t id;
    if (!jang_gguf_get_i64(g, key, &id) || id < 0 || (uint64_t)id >= toks->v.arr.n)
        return json_null();
    char buf[48];
    size_t len;
    const char *s = token_text(toks, id, buf, sizeof buf, &len);
    json_t *v = json_stringn(s, len);
    return v ? v : json_null();
}

jang_status jang_tokenizer_export_hf(const jang_gguf *g, char **tokenizer_json,
                                     char **tokenizer_config_json) {
    *tokenizer_json = *tokenizer_config_json = NULL;
    const char *what = jang_gguf_path(g);
    const char *model = jang_gguf_get_str(g, "tokenizer.ggml.model");
    if (!model) return jang_fail(JANG_E_NOTFOUND, "%s: no tokenizer (tokenizer.ggml.model)", what);
    if (strcmp(model, "gpt2") != 0)
        return jang_fail(JANG_E_UNSUPPORTED,
                         "%s: writing tokenizer.json for a '%s' tokenizer is not supported (only "
                         "'gpt2' byte-level BPE)",
                         what, model);
    const char *pre = jang_gguf_get_str(g, "tokenizer.ggml.pre");
    const char *const *re;
    int n_re;
    bool ignore_merges, add_bos;
    if (!tok_pre_regexes(pre, &re, &n_re, &ignore_merges, &add_bos))
        return jang_fail(JANG_E_UNSUPPORTED, "%s: unknown pre-tokenizer '%s'", what, pre);
    const jang_gguf_value *toks = gguf_array(g, "tokenizer.ggml.tokens", JANG_GGUF_STRING);
    const jang_gguf_value *types = gguf_array(g, "tokenizer.ggml.token_type", JANG_GGUF_INT32);
    const jang_gguf_value *merges = gguf_array(g, "tokenizer.ggml.merges", JANG_GGUF_STRING);
    if (!toks || !merges)
        return jang_fail(JANG_E_FORMAT, "%s: tokenizer.ggml.tokens / merges missing or mistyped",
                         what);
    if (types && types->v.arr.n < toks->v.arr.n)
        return jang_fail(JANG_E_FORMAT, "%s: fewer token types than tokens", what);
    bool b;
    if (jang_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b)) add_bos = b;
    bool add_eos = jang_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b) && b;
    int64_t bos = -1, eos = -1;
    jang_gguf_get_i64(g, "tokenizer.ggml.bos_token_id", &bos);
    jang_gguf_get_i64(g, "tokenizer.ggml.eos_token_id", &eos);
    int64_t n = (int64_t)toks->v.arr.n;
    if ((add_bos && (bos < 0 || bos >= n)) || (add_eos && (eos < 0 || eos >= n)))
        return jang_fail(JANG_E_FORMAT, "%s: BOS/EOS id out of range", what);

    jang_status st = JANG_OK;
    json_t *root = json_object(), *vocab = json_object(), *added = json_array();
    json_t *mlist = json_array(), *decoder = json_object(), *cfg = json_object();
    char buf[48];
    for (int64_t i = 0; i < n && st == JANG_OK; i++) {
        size_t len;
        const char *s = token_text(toks, i, buf, sizeof buf, &len);
        json_t *k = json_stringn(s, len);
        if (!k) {
            char pb[64];
            st = jang_fail(JANG_E_UNSUPPORTED, "%s: token %lld '%s' is not valid UTF-8", what,
                           (long long)i, jang_printable(s, len, pb, sizeof pb));
            break;
        }
        if (json_object_getn(vocab, s, len)) {
            char pb[64];
            st = jang_fail(JANG_E_FORMAT, "%s: token %lld '%s' appears twice", what, (long long)i,
                           jang_printable(s, len, pb, sizeof pb));
            json_decref(k);
            break;
        }
        json_object_setn_new(vocab, s, len, json_integer(i));
        int32_t ty = types ? (int32_t)jang_rd32((const uint8_t *)types->v.arr.raw + 4 * i)
                           : JANG_TOKEN_NORMAL;
        if (ty == JANG_TOKEN_CONTROL || ty == JANG_TOKEN_USER_DEFINED || ty == JANG_TOKEN_UNKNOWN) {
            bool special = ty != JANG_TOKEN_USER_DEFINED;
            json_array_append_new(added, added_token(i, json_incref(k), special));
            json_t *d = json_object();
            json_object_set_new(d, "content", json_incref(k));
            json_object_set_new(d, "lstrip", json_false());
            json_object_set_new(d, "normalized", json_false());
            json_object_set_new(d, "rstrip", json_false());
            json_object_set_new(d, "single_word", json_false());
            json_object_set_new(d, "special", json_boolean(special));
            char id[24];
            snprintf(id, sizeof id, "%lld", (long long)i);
            json_object_set_new(decoder, id, d);
        }
        json_decref(k);
    }
    for (uint64_t i = 0; i < merges->v.arr.n && st == JANG_OK; i++) {
        const jang_gguf_value *e = &merges->v.arr.items[i];
        json_t *m = json_stringn(e->v.str.ptr, (size_t)e->v.str.len);
        if (!m)
            st = jang_fail(JANG_E_UNSUPPORTED, "%s: merge %llu is not valid UTF-8", what,
                           (unsigned long long)i);
        else
            json_array_append_new(mlist, m);
    }
    if (st != JANG_OK) goto done;

    json_object_set_new(root, "version", json_string("1.0"));
    json_object_set_new(root, "truncation", json_null());
    json_object_set_new(root, "padding", json_null());
    json_object_set_new(root, "added_tokens", json_incref(added));
    bool qwen2_family = false;
    {
        const char *const *q;
        int nq;
        bool im, ab;
        qwen2_family = tok_pre_regexes("qwen2", &q, &nq, &im, &ab) && n_re == nq && q == re;
    }
    if (qwen2_family) {
        json_t *nf = json_object();
        json_object_set_new(nf, "type", json_string("NFC"));
        json_object_set_new(root, "normalizer", nf);
    } else {
        json_object_set_new(root, "normalizer", json_null());
    }
    json_t *seq = json_array();
    for (int i = 0; i < n_re; i++) {
        json_t *sp = json_object(), *pat = json_object();
        json_object_set_new(sp, "type", json_string("Split"));
        json_object_set_new(pat, "Regex", json_string(re[i]));
        json_object_set_new(sp, "pattern", pat);
        json_object_set_new(sp, "behavior", json_string("Isolated"));
        json_object_set_new(sp, "invert", json_false());
        json_array_append_new(seq, sp);
    }
    json_array_append_new(seq, bytelevel(false, false, false));
    json_t *pt = json_object();
    json_object_set_new(pt, "type", json_string("Sequence"));
    json_object_set_new(pt, "pretokenizers", seq);
    json_object_set_new(root, "pre_tokenizer", pt);
    if (add_bos ||
        add_eos) { /* TemplateProcessing: [BOS] $A [EOS], pair [BOS] $A [EOS] [BOS] $B [EOS] */
        json_t *tp = json_object(), *single = json_array(), *pair = json_array();
        json_t *specials = json_object();
        for (int part = 0; part < 2; part++) {
            for (int e = 0; e < 3; e++) { /* BOS, sequence, EOS */
                json_t *x = json_object(), *item = json_object();
                json_object_set_new(x, "type_id", json_integer(part));
                if (e == 1) {
                    json_object_set_new(x, "id", json_string(part ? "B" : "A"));
                    json_object_set_new(item, "Sequence", x);
                } else {
                    bool on = e == 0 ? add_bos : add_eos;
                    int64_t id = e == 0 ? bos : eos;
                    if (!on) {
                        json_decref(x), json_decref(item);
                        continue;
                    }
                    size_t len;
                    const char *s = token_text(toks, id, buf, sizeof buf, &len);
                    json_object_set_new(x, "id", json_stringn(s, len));
                    json_object_set_new(item, "SpecialToken", x);
                    json_t *sd = json_object(), *ids = json_array(), *tk = json_array();
                    json_array_append_new(ids, json_integer(id));
                    json_array_append_new(tk, json_stringn(s, len));
                    json_object_set_new(sd, "id", json_stringn(s, len));
                    json_object_set_new(sd, "ids", ids);
                    json_object_set_new(sd, "tokens", tk);
                    json_object_setn_new(specials, s, len, sd);
                }
                if (part == 0) json_array_append(single, item);
                json_array_append_new(pair, item);
            }
        }
        json_object_set_new(tp, "type", json_string("TemplateProcessing"));
        json_object_set_new(tp, "single", single);
        json_object_set_new(tp, "pair", pair);
        json_object_set_new(tp, "special_tokens", specials);
        json_object_set_new(root, "post_processor", tp);
    } else {
        json_object_set_new(root, "post_processor", bytelevel(true, false, true));
    }
    json_object_set_new(root, "decoder", bytelevel(true, true, true));
    json_t *mdl = json_object();
    json_object_set_new(mdl, "type", json_string("BPE"));
    json_object_set_new(mdl, "dropout", json_null());
    json_object_set_new(mdl, "unk_token", json_null());
    json_object_set_new(mdl, "continuing_subword_prefix", json_null());
    json_object_set_new(mdl, "end_of_word_suffix", json_null());
    json_object_set_new(mdl, "fuse_unk", json_false());
    json_object_set_new(mdl, "byte_fallback", json_false());
    json_object_set_new(mdl, "ignore_merges", json_boolean(ignore_merges));
    json_object_set_new(mdl, "vocab", json_incref(vocab));
    json_object_set_new(mdl, "merges", json_incref(mlist));
    json_object_set_new(root, "model", mdl);

    json_object_set_new(cfg, "add_bos_token", json_boolean(add_bos));
    json_object_set_new(cfg, "add_eos_token", json_boolean(add_eos));
    json_object_set_new(cfg, "added_tokens_decoder", json_incref(decoder));
    json_object_set_new(cfg, "bos_token", special_text(g, toks, "tokenizer.ggml.bos_token_id"));
    const char *tmpl = jang_gguf_get_str(g, "tokenizer.chat_template");
    if (tmpl) json_object_set_new(cfg, "chat_template", json_string(tmpl));
    json_object_set_new(cfg, "clean_up_tokenization_spaces", json_false());
    json_object_set_new(cfg, "eos_token", special_text(g, toks, "tokenizer.ggml.eos_token_id"));
    json_object_set_new(cfg, "errors", json_string("replace"));
    int64_t ctx = 0;
    const char *arch = jang_gguf_get_str(g, "general.architecture");
    if (arch) {
        char key[96];
        snprintf(key, sizeof key, "%s.context_length", arch);
        jang_gguf_get_i64(g, key, &ctx);
    }
    if (ctx > 0) json_object_set_new(cfg, "model_max_length", json_integer(ctx));
    json_object_set_new(cfg, "pad_token", special_text(g, toks, "tokenizer.ggml.padding_token_id"));
    json_object_set_new(cfg, "tokenizer_class", json_string("PreTrainedTokenizerFast"));
    json_object_set_new(cfg, "unk_token", special_text(g, toks, "tokenizer.ggml.unknown_token_id"));

    *tokenizer_json = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    *tokenizer_config_json = json_dumps(cfg, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!*tokenizer_json || !*tokenizer_config_json) {
        free(*tokenizer_json), free(*tokenizer_config_json);
        *tokenizer_json = *tokenizer_config_json = NULL;
        st = jang_fail(JANG_E_NOMEM, "%s: out of memory writing tokenizer.json", what);
    }
done:
    json_decref(root);
    json_decref(vocab);
    json_decref(added);
    json_decref(mlist);
    json_decref(decoder);
    json_decref(cfg);
    return st;
}
