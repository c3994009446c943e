/* test_tokenizer.c — the tokenizer against its references.
 *
 * - llama.cpp's vocabulary test vectors (../shared/models/tokenizers/llama.cpp-vocab: *.gguf with
 *   .inp / .out, made by llama.cpp from the Hugging Face tokenizers); gpt-neox has no .out there,
 *   so tests/data/tokenizer/gpt-neox.ids holds ids from `tokenizers`
 * (tools/gen_tokenizer_goldens.py).
 * - llama-spm.gguf against sentencepiece's Llama-2 model on a varied text sample.
 * - tokenizer.json: tests/data/tokenizer/smollm2 (SmolLM2's vocabulary as transformers saves it)
 *   and tests/data/tokenizer/tok512 (a 512-piece SentencePiece BPE with byte fallback), ids from
 *   `tokenizers`.
 * - The real models (~/.cache/jang/models, scripts/fetch-models): ids from transformers' GGUF
 *   tokenizer, committed in tests/data/tokenizer/<model>.json; skipped when the models are absent.
 * - Round trips, streaming decode, hostile input (invalid UTF-8, bad GGUF merges, bad ids).
 * Shared material is found at $JANG_SHARED or ../shared; tests skip with a message without it.
 */
#include "test.h"

#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

/* ---------------------------------------------------------------------------------------------
 * helpers
 */
static const char *shared_path(const char *rel) {
    static char buf[1024];
    const char *root = getenv("JANG_SHARED");
    snprintf(buf, sizeof buf, "%s/%s", root ? root : "../shared", rel);
    return buf;
}

static const char *models_path(const char *name) {
    static char buf[1024];
    const char *dir = getenv("JANG_MODELS_DIR");
    if (dir) {
        snprintf(buf, sizeof buf, "%s/%s", dir, name);
    } else {
        const char *cache = getenv("JANG_CACHE");
        const char *home = getenv("HOME");
        if (cache)
            snprintf(buf, sizeof buf, "%s/models/%s", cache, name);
        else
            snprintf(buf, sizeof buf, "%s/.cache/jang/models/%s", home ? home : "", name);
    }
    return buf;
}

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[n] = '\0';
    if (len) *len = (size_t)n;
    return b;
}

static void print_escaped(const char *s, size_t n) {
    for (size_t i = 0; i < n && i < 120; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            printf("\\n");
        else if (c == '\t')
            printf("\\t");
        else if (c < 0x20)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    if (n > 120) printf("...");
}

static void print_ids(const int32_t *ids, int64_t n) {
    for (int64_t i = 0; i < n && i < 40; i++)
        printf(" %d", ids[i]);
    if (n > 40) printf(" ... (%lld)", (long long)n);
}

/* Encodes text and compares with want; prints the first mismatches (counted in *bad). */
static bool check_ids(const jang_tokenizer *t, const char *label, const char *text, size_t len,
                      unsigned flags, const int32_t *want, int64_t n_want, int *bad) {
    int32_t *ids = NULL;
    int64_t n = 0;
    jang_status s = jang_tokenizer_encode(t, text, len, flags, &ids, &n);
    bool ok = s == JANG_OK && n == n_want && (n == 0 || !memcmp(ids, want, (size_t)n * 4));
    if (!ok) {
        if (*bad < 4) {
            printf("    %s: mismatch for \"", label);
            print_escaped(text, len);
            printf("\"\n      want:");
            print_ids(want, n_want);
            printf("\n      got: ");
            if (s)
                printf(" error %s: %s", jang_status_str(s), jang_last_error());
            else
                print_ids(ids, n);
            printf("\n");
        }
        (*bad)++;
    }
    free(ids);
    return ok;
}

/* decode(encode(text)) == text */
static bool round_trip(const jang_tokenizer *t, const char *text, size_t len, unsigned flags) {
    int32_t *ids = NULL;
    int64_t n = 0;
    char *back = NULL;
    size_t blen = 0;
    bool ok = jang_tokenizer_encode(t, text, len, flags, &ids, &n) == JANG_OK &&
              jang_tokenizer_decode(t, ids, n, JANG_DECODE_SPECIAL, &back, &blen) == JANG_OK &&
              blen == len && memcmp(back, text, len) == 0;
    /* streaming decode gives the same bytes, and only whole UTF-8 characters per step */
    if (ok) {
        jang_detok_stream st;
        jang_detok_stream_init(&st);
        char *acc = malloc(len + 64), piece[4096];
        size_t w = 0;
        for (int64_t i = 0; i < n && ok; i++) {
            size_t k;
            ok = jang_detok_stream_next(t, &st, ids[i], JANG_DECODE_SPECIAL, piece, sizeof piece,
                                        &k) == JANG_OK &&
                 w + k <= len + 32;
            if (ok) memcpy(acc + w, piece, k), w += k;
        }
        w += jang_detok_stream_flush(&st, acc + w, 8);
        ok = ok && w == len && memcmp(acc, text, len) == 0;
        free(acc);
    }
    if (!ok) {
        printf("    round trip failed for \"");
        print_escaped(text, len);
        printf("\" -> \"");
        if (back) print_escaped(back, blen);
        printf("\"\n");
    }
    free(ids);
    free(back);
    return ok;
}

static uint64_t ids_hash(const int32_t *ids, int64_t n) { /* FNV-1a 64 over int32 LE */
    uint64_t h = 0xcbf29ce484222325ull;
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++)
            h = (h ^ (((uint32_t)ids[i] >> (8 * k)) & 0xff)) * 0x100000001b3ull;
    return h;
}

/* The whole of WikiText-2 test against tests/data/tokenizer/wiki.json (count + hash of ids from
 * the reference tokenizer); also prints the encoding speed. Skipped without ../shared. */
static void check_wiki(const jang_tokenizer *t, const char *name) {
    size_t len = 0;
    char *wiki = slurp(shared_path("data/wikitext-2-raw/wiki.test.raw"), &len);
    if (!wiki) return;
    json_error_t err;
    json_t *gold = json_load_file(test_data_path("tokenizer/wiki.json"), 0, &err);
    json_t *e = json_object_get(gold, name);
    CHECK_MSG(e != NULL, "wiki.json has no entry %s", name);
    struct timespec a, b;
    int32_t *ids = NULL;
    int64_t n = 0;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a); /* CPU time: the dev box is shared */
    CHECK_OK(jang_tokenizer_encode(t, wiki, len, 0, &ids, &n));
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    double dt = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    char hex[32];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)ids_hash(ids, n));
    const char *want = json_string_value(json_object_get(e, "fnv"));
    int64_t want_n = json_integer_value(json_object_get(e, "n"));
    printf("    %s: wiki.test.raw %zu bytes -> %lld ids (reference %lld, hash %s) in %.3f s CPU, "
           "%.2f MB/s\n",
           name, len, (long long)n, (long long)want_n,
           want && !strcmp(want, hex) ? "same" : "DIFFERENT", dt, (double)len / dt / 1e6);
    CHECK_MSG(n == want_n && want && !strcmp(want, hex), "%s: wiki.test.raw ids differ", name);
    char *back = NULL;
    size_t bl = 0;
    CHECK_OK(jang_tokenizer_decode(t, ids, n, 0, &back, &bl));
    CHECK_MSG(bl == len && back && !memcmp(back, wiki, len), "%s: wiki does not round-trip", name);
    free(back);
    free(ids);
    json_decref(gold);
    free(wiki);
}

/* ---------------------------------------------------------------------------------------------
 * llama.cpp vocabulary test vectors
 */
typedef struct vocab_case {
    char **inp;
    size_t *len;
    int n;
} vocab_case;

static void free_case(vocab_case *c) {
    for (int i = 0; i < c->n; i++)
        free(c->inp[i]);
    free(c->inp);
    free(c->len);
}

/* Inputs of a .inp file: each followed by "\n__ggml_vocab_test__\n" (test-tokenizer-0.cpp). */
static bool read_inp(const char *path, vocab_case *c) {
    size_t n;
    char *raw = slurp(path, &n);
    if (!raw) return false;
    const char *sep = "\n__ggml_vocab_test__\n";
    size_t sl = strlen(sep), pos = 0;
    c->inp = NULL, c->len = NULL, c->n = 0;
    while (pos < n) {
        const char *nx = memmem(raw + pos, n - pos, sep, sl);
        size_t end = nx ? (size_t)(nx - raw) : n;
        c->inp = realloc(c->inp, (size_t)(c->n + 1) * sizeof *c->inp);
        c->len = realloc(c->len, (size_t)(c->n + 1) * sizeof *c->len);
        c->inp[c->n] = malloc(end - pos + 1);
        memcpy(c->inp[c->n], raw + pos, end - pos);
        c->inp[c->n][end - pos] = '\0';
        c->len[c->n] = end - pos;
        c->n++;
        if (!nx) break;
        pos = end + sl;
    }
    free(raw);
    return true;
}

/* One line of ids per input. */
static int32_t *parse_ids(const char *line, int64_t *n) {
    int32_t *ids = malloc((strlen(line) / 2 + 1) * sizeof *ids);
    *n = 0;
    const char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p < '0' || *p > '9') break;
        ids[(*n)++] = (int32_t)strtol(p, (char **)&p, 10);
    }
    return ids;
}

static void run_vocab(const char *name, const char *out_file, bool from_repo) {
    char gguf_rel[256], inp_rel[256];
    snprintf(gguf_rel, sizeof gguf_rel, "models/tokenizers/llama.cpp-vocab/ggml-vocab-%s.gguf",
             name);
    snprintf(inp_rel, sizeof inp_rel,
             "models/tokenizers/llama.cpp-vocab/ggml-vocab-gpt-2.gguf.inp");
    char gguf[1024], inp[1024], out[1100];
    snprintf(gguf, sizeof gguf, "%s", shared_path(gguf_rel));
    snprintf(inp, sizeof inp, "%s", shared_path(inp_rel));
    if (from_repo)
        snprintf(out, sizeof out, "%s", test_data_path(out_file));
    else
        snprintf(out, sizeof out, "%s.out", gguf);
    if (!exists(gguf) || !exists(inp)) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s not found (set JANG_SHARED)", gguf);
        test_skip(msg);
        return;
    }
    jang_gguf *g = NULL;
    REQUIRE_OK(jang_gguf_open(gguf, &g));
    jang_tokenizer *t = NULL;
    jang_status s = jang_tokenizer_from_gguf(g, &t);
    CHECK_MSG(s == JANG_OK, "%s: %s", name, jang_last_error());
    if (s) {
        jang_gguf_close(g);
        return;
    }
    vocab_case c;
    REQUIRE(read_inp(inp, &c));
    FILE *f = fopen(out, "r");
    REQUIRE(f);
    char *line = NULL;
    size_t cap = 0;
    int bad = 0, total = 0, rt_bad = 0;
    for (int i = 0; i < c.n; i++) {
        if (getline(&line, &cap, f) < 0) {
            CHECK_MSG(0, "%s: %s has fewer lines than inputs", name, out);
            break;
        }
        int64_t nw;
        int32_t *want = parse_ids(line, &nw);
        check_ids(t, name, c.inp[i], c.len[i], 0, want, nw, &bad);
        if (!round_trip(t, c.inp[i], c.len[i], 0)) rt_bad++;
        free(want);
        total++;
    }
    printf("    %s (%s, pre %s): %d/%d inputs match, %d round-trip failures\n", name,
           jang_tokenizer_kind(t), jang_tokenizer_pre(t), total - bad, total, rt_bad);
    CHECK_MSG(bad == 0, "%s: %d of %d inputs differ", name, bad, total);
    CHECK_MSG(rt_bad == 0, "%s: %d round trips differ", name, rt_bad);
    CHECK(total == c.n && total >= 40);
    if (strcmp(name, "deepseek-coder") && strcmp(name, "phi-3")) check_wiki(t, name);
    free(line);
    fclose(f);
    free_case(&c);
    jang_tokenizer_free(t);
    jang_gguf_close(g);
}

TEST(tokenizer_vocab_gpt2) { run_vocab("gpt-2", NULL, false); }
TEST(tokenizer_vocab_starcoder) { run_vocab("starcoder", NULL, false); }
TEST(tokenizer_vocab_deepseek_coder) { run_vocab("deepseek-coder", NULL, false); }
TEST(tokenizer_vocab_llama_spm) { run_vocab("llama-spm", NULL, false); }
TEST(tokenizer_vocab_phi3) { run_vocab("phi-3", NULL, false); }
TEST(tokenizer_vocab_gpt_neox) { run_vocab("gpt-neox", "tokenizer/gpt-neox.ids", true); }

/* ---------------------------------------------------------------------------------------------
 * Goldens on the varied text sample (tests/data/tokenizer/sample.json)
 */
typedef struct sample {
    json_t *texts;
    json_t *gold;
} sample;

static bool load_sample(sample *s, const char *golden) {
    json_error_t err;
    s->texts = json_load_file(test_data_path("tokenizer/sample.json"), JSON_ALLOW_NUL, &err);
    s->gold = json_load_file(test_data_path(golden), 0, &err);
    return s->texts && s->gold;
}

static void free_sample(sample *s) {
    json_decref(s->texts);
    json_decref(s->gold);
}

/* Compares encode(text, flags) with gold[key][i] for every sample text; returns mismatches. */
static int check_sample(const jang_tokenizer *t, const sample *s, const char *key, unsigned flags,
                        const char *label) {
    json_t *all = json_object_get(s->gold, key);
    int bad = 0, n = 0;
    size_t i;
    json_t *tx;
    json_array_foreach(s->texts, i, tx) {
        json_t *g = json_array_get(all, i);
        if (!g) break;
        int64_t nw = (int64_t)json_array_size(g);
        int32_t *want = malloc((size_t)(nw + 1) * sizeof *want);
        for (int64_t k = 0; k < nw; k++)
            want[k] = (int32_t)json_integer_value(json_array_get(g, (size_t)k));
        check_ids(t, label, json_string_value(tx), json_string_length(tx), flags, want, nw, &bad);
        free(want);
        n++;
    }
    printf("    %s %s: %d/%d texts match\n", label, key, n - bad, n);
    CHECK_MSG(n == (int)json_array_size(s->texts), "%s: %d goldens for %zu texts", label, n,
              json_array_size(s->texts));
    return bad;
}

/* Round trip of every sample text that the tokenizer can represent exactly. */
static int sample_round_trips(const jang_tokenizer *t, const sample *s, bool skip_leading_space) {
    int bad = 0;
    size_t i;
    json_t *tx;
    json_array_foreach(s->texts, i, tx) {
        const char *x = json_string_value(tx);
        size_t n = json_string_length(tx);
        if (skip_leading_space && n && x[0] == ' ') continue;
        if (!round_trip(t, x, n, 0)) bad++;
    }
    return bad;
}

TEST(tokenizer_hf_smollm2_json) {
    jang_tokenizer *t = NULL;
    REQUIRE_OK(jang_tokenizer_from_hf(test_data_path("tokenizer/smollm2"), &t));
    CHECK_STR(jang_tokenizer_kind(t), "bpe");
    CHECK_EQ_INT(jang_tokenizer_n_vocab(t), 49152);
    CHECK_EQ_INT(jang_tokenizer_bos(t), 1);
    CHECK_EQ_INT(jang_tokenizer_eos(t), 2);
    CHECK_EQ_INT(jang_tokenizer_eot(t), 2); /* <|im_end|> before <|endoftext|> */
    CHECK_EQ_INT(jang_tokenizer_unk(t), 0);
    CHECK(!jang_tokenizer_adds_bos(t));
    CHECK(jang_tokenizer_is_eog(t, 2) && jang_tokenizer_is_eog(t, 0) &&
          !jang_tokenizer_is_eog(t, 1));
    CHECK(jang_tokenizer_chat_template(t) && strstr(jang_tokenizer_chat_template(t), "im_start"));
    CHECK_EQ_INT(jang_tokenizer_find(t, "<|im_start|>", 12), 1);
    CHECK_EQ_INT(jang_tokenizer_find(t, "<|im_start|", 11), -1);
    CHECK_EQ_INT(jang_tokenizer_token_type(t, 1), JANG_TOKEN_CONTROL);
    CHECK_EQ_INT(jang_tokenizer_token_type(t, 100), JANG_TOKEN_NORMAL);
    sample s;
    REQUIRE(load_sample(&s, "tokenizer/smollm2.json"));
    CHECK(check_sample(t, &s, "ids", JANG_ENCODE_PARSE_SPECIAL, "smollm2 tokenizer.json") == 0);
    CHECK(check_sample(t, &s, "ids_plain", 0, "smollm2 tokenizer.json") == 0);
    CHECK(sample_round_trips(t, &s, false) == 0);
    free_sample(&s);
    check_wiki(t, "smollm2-json");
    jang_tokenizer_free(t);
}

TEST(tokenizer_hf_tok512_json) {
    jang_tokenizer *t = NULL;
    REQUIRE_OK(jang_tokenizer_from_hf(test_data_path("tokenizer/tok512/tokenizer.json"), &t));
    CHECK_STR(jang_tokenizer_kind(t), "bpe-chars");
    CHECK_EQ_INT(jang_tokenizer_n_vocab(t), 512);
    CHECK_EQ_INT(jang_tokenizer_bos(t), 1);
    CHECK_EQ_INT(jang_tokenizer_eos(t), 2);
    CHECK_EQ_INT(jang_tokenizer_unk(t), 0);
    CHECK_EQ_INT(jang_tokenizer_token_type(t, 3), JANG_TOKEN_BYTE); /* <0x00> */
    sample s;
    REQUIRE(load_sample(&s, "tokenizer/tok512.json"));
    CHECK(check_sample(t, &s, "ids", JANG_ENCODE_PARSE_SPECIAL, "tok512 tokenizer.json") == 0);
    CHECK(check_sample(t, &s, "ids_plain", 0, "tok512 tokenizer.json") == 0);
    /* Metaspace "first" + Strip decoder: a leading space does not survive (as in tokenizers) */
    CHECK(sample_round_trips(t, &s, true) == 0);
    free_sample(&s);
    jang_tokenizer_free(t);
}

/* tokenizer_config.json's add_bos_token / add_eos_token override the template */
TEST(tokenizer_hf_config_add_bos) {
    char *json = slurp(test_data_path("tokenizer/tok512/tokenizer.json"), NULL);
    REQUIRE(json);
    char p[600];
    snprintf(p, sizeof p, "%s/tokenizer.json", test_tmpdir());
    FILE *f = fopen(p, "w");
    REQUIRE(f);
    fputs(json, f);
    fclose(f);
    free(json);
    snprintf(p, sizeof p, "%s/tokenizer_config.json", test_tmpdir());
    f = fopen(p, "w");
    REQUIRE(f);
    fputs(
        "{\"bos_token\": {\"content\": \"<s>\"}, \"eos_token\": \"</s>\", \"add_bos_token\": true,"
        " \"add_eos_token\": true, \"chat_template\": [{\"name\": \"tool\", \"template\": \"T\"},"
        " {\"name\": \"default\", \"template\": \"D\"}]}",
        f);
    fclose(f);
    jang_tokenizer *t = NULL;
    REQUIRE_OK(jang_tokenizer_from_hf(test_tmpdir(), &t));
    CHECK(jang_tokenizer_adds_bos(t) && jang_tokenizer_adds_eos(t));
    CHECK_STR(jang_tokenizer_chat_template(t), "D");
    int32_t *a = NULL, *b = NULL;
    int64_t na = 0, nb = 0;
    CHECK_OK(jang_tokenizer_encode(t, "Hello", 5, 0, &a, &na));
    CHECK_OK(jang_tokenizer_encode(t, "Hello", 5, JANG_ENCODE_ADD_SPECIAL, &b, &nb));
    CHECK(na > 0 && nb == na + 2 && b[0] == 1 && b[nb - 1] == 2 &&
          !memcmp(a, b + 1, (size_t)na * 4));
    /* the empty text still gets BOS and EOS */
    free(b);
    CHECK_OK(jang_tokenizer_encode(t, "", 0, JANG_ENCODE_ADD_SPECIAL, &b, &nb));
    CHECK(nb == 2 && b[0] == 1 && b[1] == 2);
    /* decode drops control tokens unless asked, and the prefix space of the first piece */
    char *txt = NULL;
    size_t tl = 0;
    int32_t with[] = {1, 346, 306, 414, 2};
    CHECK_OK(jang_tokenizer_decode(t, with, 5, 0, &txt, &tl));
    CHECK_STR(txt, "Hello");
    free(txt);
    CHECK_OK(jang_tokenizer_decode(t, with, 5, JANG_DECODE_SPECIAL, &txt, &tl));
    CHECK_STR(txt, "<s> Hello</s>");
    free(txt);
    free(a);
    free(b);
    jang_tokenizer_free(t);
}

/* the GGUF SentencePiece path against sentencepiece itself on the sample */
TEST(tokenizer_llama_spm_vs_sentencepiece) {
    const char *gguf = shared_path("models/tokenizers/llama.cpp-vocab/ggml-vocab-llama-spm.gguf");
    if (!exists(gguf)) {
        test_skip("ggml-vocab-llama-spm.gguf not found (set JANG_SHARED)");
        return;
    }
    jang_gguf *g = NULL;
    REQUIRE_OK(jang_gguf_open(gguf, &g));
    jang_tokenizer *t = NULL;
    REQUIRE_OK(jang_tokenizer_from_gguf(g, &t));
    CHECK(jang_tokenizer_adds_bos(t) && !jang_tokenizer_adds_eos(t));
    sample s;
    REQUIRE(load_sample(&s, "tokenizer/llama-spm.json"));
    CHECK(check_sample(t, &s, "ids", 0, "llama-spm.gguf vs sentencepiece") == 0);
    CHECK(sample_round_trips(t, &s, false) == 0);
    /* add_bos: BOS first; encode("") with specials is just BOS (llama.cpp / sentencepiece) */
    int32_t *ids = NULL;
    int64_t n = 0;
    CHECK_OK(jang_tokenizer_encode(t, "Hi", 2, JANG_ENCODE_ADD_SPECIAL, &ids, &n));
    CHECK(n >= 2 && ids[0] == 1);
    free(ids);
    CHECK_OK(jang_tokenizer_encode(t, "", 0, JANG_ENCODE_ADD_SPECIAL, &ids, &n));
    CHECK(n == 1 && ids[0] == 1);
    free(ids);
    /* parse_special: "<s>" in the text is BOS; after it a space prefix again (llama.cpp) */
    CHECK_OK(jang_tokenizer_encode(t, "<s>Hi", 5, JANG_ENCODE_PARSE_SPECIAL, &ids, &n));
    int32_t *ref = NULL;
    int64_t nr = 0;
    CHECK_OK(jang_tokenizer_encode(t, "Hi", 2, 0, &ref, &nr));
    CHECK(n == nr + 1 && ids[0] == 1 && !memcmp(ids + 1, ref, (size_t)nr * 4));
    free(ids);
    free(ref);
    free_sample(&s);
    jang_tokenizer_free(t);
    jang_gguf_close(g);
}

/* ---------------------------------------------------------------------------------------------
 * Real models (skipped when scripts/fetch-models has not run)
 */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void real_model(const char *file, const char *golden, const char *wiki_name, const char *pre,
                       int64_t n_vocab) {
    const char *path = models_path(file);
    if (!exists(path)) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s not found (scripts/fetch-models)", path);
        test_skip(msg);
        return;
    }
    jang_gguf *g = NULL;
    REQUIRE_OK(jang_gguf_open(path, &g));
    jang_tokenizer *t = NULL;
    double t0 = now_s();
    REQUIRE_OK(jang_tokenizer_from_gguf(g, &t));
    double t_load = now_s() - t0;
    CHECK_STR(jang_tokenizer_pre(t), pre);
    CHECK_EQ_INT(jang_tokenizer_n_vocab(t), n_vocab);
    CHECK(!jang_tokenizer_adds_bos(t));
    CHECK(jang_tokenizer_is_eog(t, jang_tokenizer_eos(t)));
    CHECK(jang_tokenizer_is_eog(t, jang_tokenizer_find(t, "<|im_end|>", 10)));
    CHECK_EQ_INT(jang_tokenizer_eot(t), jang_tokenizer_find(t, "<|im_end|>", 10));
    CHECK(jang_tokenizer_chat_template(t) != NULL);
    sample s;
    REQUIRE(load_sample(&s, golden));
    CHECK(check_sample(t, &s, "ids", JANG_ENCODE_PARSE_SPECIAL, file) == 0);
    CHECK(check_sample(t, &s, "ids_plain", 0, file) == 0);
    CHECK(sample_round_trips(t, &s, false) == 0);
    free_sample(&s);
    printf("    %s: tokenizer loaded in %.3f s\n", file, t_load);
    check_wiki(t, wiki_name);
    jang_tokenizer_free(t);
    jang_gguf_close(g);
}

TEST(tokenizer_real_smollm2) {
    real_model("smollm2-135m-instruct-q4_1.gguf", "tokenizer/smollm2-gguf.json", "smollm2-gguf",
               "smollm", 49152);
}

TEST(tokenizer_real_qwen25_coder) {
    real_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "tokenizer/qwen2.5-coder-gguf.json",
               "qwen2.5-coder-gguf", "qwen2", 151936);
}

/* ---------------------------------------------------------------------------------------------
 * Hostile input and errors
 */
TEST(tokenizer_invalid_utf8) {
    jang_tokenizer *t = NULL;
    REQUIRE_OK(jang_tokenizer_from_hf(test_data_path("tokenizer/smollm2"), &t));
    /* each invalid byte becomes U+FFFD, like llama.cpp's unicode_cpts_from_utf8 */
    static const struct {
        const char *bad, *good;
    } cases[] = {
        {"a\xff"
         "b",
         "a\xEF\xBF\xBD"
         "b"},
        {"\xc3", "\xEF\xBF\xBD"},                                 /* truncated */
        {"x\xe6\x97", "x\xEF\xBF\xBD\xEF\xBF\xBD"},               /* truncated 3-byte */
        {"\xc0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD"},                 /* overlong NUL */
        {"\xed\xa0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* surrogate */
        {"\xf4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* > U+10FFFF */
        {"\x80\x80 ok", "\xEF\xBF\xBD\xEF\xBF\xBD ok"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t *a = NULL, *b = NULL;
        int64_t na = 0, nb = 0;
        CHECK_OK(jang_tokenizer_encode(t, cases[i].bad, strlen(cases[i].bad), 0, &a, &na));
        CHECK_OK(jang_tokenizer_encode(t, cases[i].good, strlen(cases[i].good), 0, &b, &nb));
        CHECK_MSG(na == nb && na > 0 && !memcmp(a, b, (size_t)na * 4), "case %zu", i);
        free(a);
        free(b);
    }
    /* NUL bytes and random bytes: no crash, output decodes to valid bytes */
    char rnd[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof rnd; i++)
        x = x * 1103515245u + 12345u, rnd[i] = (char)(x >> 16);
    int32_t *ids = NULL;
    int64_t n = 0;
    CHECK_OK(jang_tokenizer_encode(t, rnd, sizeof rnd, JANG_ENCODE_PARSE_SPECIAL, &ids, &n));
    CHECK(n > 0);
    free(ids);
    CHECK_OK(jang_tokenizer_encode(t, "a\0b", 3, 0, &ids, &n));
    char *back = NULL;
    size_t bl = 0;
    CHECK_OK(jang_tokenizer_decode(t, ids, n, 0, &back, &bl));
    CHECK(bl == 3 && !memcmp(back, "a\0b", 3));
    free(back);
    free(ids);
    /* bytes the byte-level vocabulary cannot spell are dropped (llama.cpp, tokenizers) */
    CHECK_OK(jang_tokenizer_encode(t,
                                   "a\x06"
                                   "b",
                                   3, 0, &ids, &n));
    CHECK(n == 2 && ids[0] == 81 && ids[1] == 82);
    free(ids);
    /* empty text: no ids, non-NULL array */
    CHECK_OK(jang_tokenizer_encode(t, "", 0, JANG_ENCODE_ADD_SPECIAL, &ids, &n));
    CHECK(n == 0 && ids != NULL);
    free(ids);
    CHECK(jang_tokenizer_encode(t, NULL, 3, 0, &ids, &n) == JANG_E_ARG);
    jang_tokenizer_free(t);

    /* SentencePiece: invalid bytes become byte tokens, losslessly (llama.cpp) */
    const char *gguf = shared_path("models/tokenizers/llama.cpp-vocab/ggml-vocab-llama-spm.gguf");
    if (!exists(gguf)) return;
    jang_gguf *g = NULL;
    REQUIRE_OK(jang_gguf_open(gguf, &g));
    REQUIRE_OK(jang_tokenizer_from_gguf(g, &t));
    CHECK_OK(jang_tokenizer_encode(t, "\xff\xc3", 2, 0, &ids, &n));
    CHECK(n == 3 && ids[0] == 29871 && ids[1] == 0xff + 3 &&
          ids[2] == 0xc3 + 3); /* "▁" <0xFF> <0xC3> */
    CHECK(round_trip(t,
                     "a\xff"
                     "b\xe6\x97",
                     5, 0));
    free(ids);
    jang_tokenizer_free(t);
    jang_gguf_close(g);
}

TEST(tokenizer_stream_utf8_boundaries) {
    jang_tokenizer *t = NULL;
    REQUIRE_OK(jang_tokenizer_from_hf(test_data_path("tokenizer/tok512"), &t));
    /* tok512 has no CJK or emoji pieces: they come out as byte tokens, one byte each */
    const char *text = "日本 🚀 é!";
    int32_t *ids = NULL;
    int64_t n = 0;
    REQUIRE_OK(jang_tokenizer_encode(t, text, strlen(text), 0, &ids, &n));
    CHECK(n > 10);
    jang_detok_stream st;
    jang_detok_stream_init(&st);
    char out[64], all[128];
    size_t w = 0, k;
    int empty_steps = 0;
    for (int64_t i = 0; i < n; i++) {
        REQUIRE_OK(jang_detok_stream_next(t, &st, ids[i], 0, out, sizeof out, &k));
        /* every chunk is whole UTF-8 characters */
        for (size_t j = 0; j < k;) {
            uint8_t c = (uint8_t)out[j];
            size_t l = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
            CHECK_MSG(j + l <= k, "token %lld: chunk ends inside a character", (long long)i);
            j += l;
        }
        if (k == 0) empty_steps++;
        memcpy(all + w, out, k);
        w += k;
    }
    CHECK(empty_steps > 0); /* some bytes were held back */
    w += jang_detok_stream_flush(&st, all + w, 8);
    CHECK(w == strlen(text) && !memcmp(all, text, w));
    /* a room too small is reported with the size needed */
    jang_detok_stream_init(&st);
    CHECK(jang_detok_stream_next(t, &st, ids[0], 0, out, 0, &k) == JANG_E_ARG && k > 0);
    /* an unfinished character at the end is flushed as is */
    jang_detok_stream_init(&st);
    int32_t e6 = jang_tokenizer_find(t, "<0xE6>", 6);
    REQUIRE(e6 >= 0);
    CHECK_OK(jang_detok_stream_next(t, &st, e6, 0, out, sizeof out, &k));
    CHECK(k == 0 && jang_detok_stream_flush(&st, out, 8) == 1 && (uint8_t)out[0] == 0xE6);
    free(ids);
    jang_tokenizer_free(t);
}

TEST(tokenizer_decode_errors) {
    jang_tokenizer *t = NULL;
    REQUIRE_OK(jang_tokenizer_from_hf(test_data_path("tokenizer/smollm2"), &t));
    int32_t bad[] = {100, 49152};
    char *txt = NULL;
    size_t len = 0;
    CHECK(jang_tokenizer_decode(t, bad, 2, 0, &txt, &len) == JANG_E_NOTFOUND && !txt);
    CHECK(strstr(jang_last_error(), "49152") != NULL);
    bad[1] = -1;
    CHECK(jang_tokenizer_decode(t, bad, 2, 0, &txt, &len) == JANG_E_NOTFOUND);
    char buf[4];
    CHECK(jang_tokenizer_token_to_piece(t, 49152, 0, buf, sizeof buf, &len) == JANG_E_NOTFOUND);
    CHECK(jang_tokenizer_token_to_piece(t, -5, 0, buf, sizeof buf, &len) == JANG_E_NOTFOUND);
    int32_t hello = jang_tokenizer_find(t, "Hello", 5);
    REQUIRE(hello >= 0);
    CHECK(jang_tokenizer_token_to_piece(t, hello, 0, buf, sizeof buf, &len) == JANG_E_ARG &&
          len == 5);
    char big[16];
    CHECK_OK(jang_tokenizer_token_to_piece(t, hello, 0, big, sizeof big, &len));
    CHECK(len == 5 && !memcmp(big, "Hello", 5));
    /* control tokens: empty unless JANG_DECODE_SPECIAL */
    CHECK_OK(jang_tokenizer_token_to_piece(t, 1, 0, big, sizeof big, &len));
    CHECK(len == 0);
    CHECK_OK(jang_tokenizer_token_to_piece(t, 1, JANG_DECODE_SPECIAL, big, sizeof big, &len));
    CHECK(len == 12 && !memcmp(big, "<|im_start|>", 12));
    /* byte-level: "Ġ" is a space, "Ċ" a newline */
    CHECK_OK(jang_tokenizer_token_to_piece(t, jang_tokenizer_find(t, "\xC4\x8A", 2), 0, big,
                                           sizeof big, &len));
    CHECK(len == 1 && big[0] == '\n');
    CHECK(jang_tokenizer_token_text(t, 49152, NULL) == NULL);
    CHECK(jang_tokenizer_token_type(t, -1) == JANG_TOKEN_UNDEFINED);
    CHECK(!jang_tokenizer_is_eog(t, -1) && !jang_tokenizer_is_eog(t, 1 << 30));
    CHECK(jang_tokenizer_decode(t, NULL, 0, 0, &txt, &len) == JANG_OK && len == 0 && txt[0] == 0);
    free(txt);
    jang_tokenizer_free(t);
}

/* A minimal GGUF writer for vocabularies (no tensors). */
typedef struct gbuf {
    uint8_t *p;
    size_t n, cap;
    uint64_t n_kv;
} gbuf;

static void gput(gbuf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void gu32(gbuf *b, uint32_t v) { gput(b, &v, 4); }
static void gu64(gbuf *b, uint64_t v) { gput(b, &v, 8); }
static void gstr(gbuf *b, const char *s) {
    gu64(b, strlen(s));
    gput(b, s, strlen(s));
}
static void gkey(gbuf *b, const char *k, uint32_t type) {
    gstr(b, k);
    gu32(b, type);
    b->n_kv++;
}
static void gkv_str(gbuf *b, const char *k, const char *v) {
    gkey(b, k, 8);
    gstr(b, v);
}
static void gkv_u32(gbuf *b, const char *k, uint32_t v) {
    gkey(b, k, 4);
    gu32(b, v);
}
static void gkv_strs(gbuf *b, const char *k, char **v, size_t n) {
    gkey(b, k, 9);
    gu32(b, 8);
    gu64(b, n);
    for (size_t i = 0; i < n; i++)
        gstr(b, v[i]);
}
static void gkv_i32s(gbuf *b, const char *k, const int32_t *v, size_t n) {
    gkey(b, k, 9);
    gu32(b, 5);
    gu64(b, n);
    gput(b, v, 4 * n);
}

static const char *write_gguf(const gbuf *kv, const char *name) {
    static char path[700];
    snprintf(path, sizeof path, "%s/%s.gguf", test_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    uint32_t hdr[2] = {0x46554747u, 3};
    uint64_t counts[2] = {0, kv->n_kv};
    fwrite(hdr, 4, 2, f);
    fwrite(counts, 8, 2, f);
    fwrite(kv->p, 1, kv->n, f);
    size_t total = 24 + kv->n, pad = (32 - total % 32) % 32;
    for (size_t i = 0; i < pad; i++)
        fputc(0, f);
    fclose(f);
    return path;
}

/* GPT-2's byte alphabet, spelled independently of the library */
static void byte_char(int b, char *out) {
    int n = 0, cp = -1;
    for (int k = 0; k < 256; k++) {
        bool pr = (k >= 0x21 && k <= 0x7E) || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE && k <= 0xFF);
        if (k == b) cp = pr ? k : 256 + n;
        if (!pr) n++;
    }
    if (cp < 0x80)
        out[0] = (char)cp, out[1] = 0;
    else
        out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
}

/* A byte-level vocabulary: 256 byte tokens, "ab", "abc", "<|end|>", then the given merges. */
static jang_status tiny_gguf(const char *name, char **merges, size_t n_merges, const char *pre,
                             const char *model, bool bad_types, jang_tokenizer **t) {
    char *toks[262];
    char store[256][4];
    for (int b = 0; b < 256; b++)
        byte_char(b, store[b]), toks[b] = store[b];
    toks[256] = "ab", toks[257] = "abc", toks[258] = "<|end|>";
    int32_t types[259];
    for (int i = 0; i < 259; i++)
        types[i] = i == 258 ? 3 : 1;
    gbuf b = {0};
    gkv_str(&b, "general.architecture", "llama");
    gkv_str(&b, "tokenizer.ggml.model", model);
    if (pre) gkv_str(&b, "tokenizer.ggml.pre", pre);
    gkv_strs(&b, "tokenizer.ggml.tokens", toks, 259);
    if (bad_types)
        gkv_u32(&b, "tokenizer.ggml.token_type", 1);
    else
        gkv_i32s(&b, "tokenizer.ggml.token_type", types, 259);
    if (merges) gkv_strs(&b, "tokenizer.ggml.merges", merges, n_merges);
    gkv_u32(&b, "tokenizer.ggml.eos_token_id", 258);
    const char *path = write_gguf(&b, name);
    free(b.p);
    if (!path) return JANG_E_IO;
    jang_gguf *g = NULL;
    jang_status s = jang_gguf_open(path, &g);
    if (s) return s;
    s = jang_tokenizer_from_gguf(g, t);
    jang_gguf_close(g);
    return s;
}

TEST(tokenizer_gguf_tiny_and_bad) {
    jang_tokenizer *t = NULL;
    char *good[] = {"a b", "ab c"};
    REQUIRE_OK(tiny_gguf("good", good, 2, "gpt-2", "gpt2", false, &t));
    int32_t *ids = NULL;
    int64_t n = 0;
    /* "abc abd<|end|>": pieces "abc", " abd", "<|end|>" (split out only with parse_special) */
    CHECK_OK(jang_tokenizer_encode(t, "abc abd<|end|>", 14, JANG_ENCODE_PARSE_SPECIAL, &ids, &n));
    /* token b (< 256) spells byte b */
    CHECK(n == 5 && ids[0] == 257 && ids[1] == ' ' && ids[2] == 256 && ids[3] == 'd' &&
          ids[4] == 258);
    free(ids);
    CHECK_OK(jang_tokenizer_encode(t, "<|end|>", 7, 0, &ids, &n));
    CHECK(n > 1 && ids[0] != 258);
    free(ids);
    CHECK(jang_tokenizer_is_eog(t, 258) && jang_tokenizer_eos(t) == 258 &&
          jang_tokenizer_bos(t) == -1);
    jang_tokenizer_free(t);

    static const struct {
        char *merges[2];
        const char *pre, *model;
        bool bad_types;
        jang_status want;
        const char *needle;
    } cases[] = {
        {{"a b", "ab zz"}, "gpt-2", "gpt2", false, JANG_E_FORMAT, "'zz' is not in the vocabulary"},
        {{"a b", "abc"}, "gpt-2", "gpt2", false, JANG_E_FORMAT, "separated by a space"},
        {{"a b", "b c"}, "gpt-2", "gpt2", false, JANG_E_FORMAT, "merged token"},
        {{"a b", "ab c"}, "no-such-pre", "gpt2", false, JANG_E_UNSUPPORTED, "no-such-pre"},
        {{"a b", "ab c"}, "gpt-2", "bert", false, JANG_E_UNSUPPORTED, "bert"},
        {{"a b", "ab c"}, "gpt-2", "gpt2", true, JANG_E_FORMAT, "token_type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[16];
        snprintf(name, sizeof name, "bad%zu", i);
        t = NULL;
        jang_status s = tiny_gguf(name, (char **)cases[i].merges, 2, cases[i].pre, cases[i].model,
                                  cases[i].bad_types, &t);
        CHECK_MSG(s == cases[i].want && !t, "case %zu: %s (%s)", i, jang_status_str(s),
                  jang_last_error());
        CHECK_MSG(strstr(jang_last_error(), cases[i].needle) != NULL,
                  "case %zu: \"%s\" lacks \"%s\"", i, jang_last_error(), cases[i].needle);
        jang_tokenizer_free(t);
    }
    /* BPE without merges, duplicate tokens, no tokenizer at all */
    CHECK(tiny_gguf("nomerges", NULL, 0, "gpt-2", "gpt2", false, &t) == JANG_E_FORMAT);
    CHECK(strstr(jang_last_error(), "tokenizer.ggml.merges") != NULL);
    gbuf b = {0};
    char *dup[] = {"x", "y", "x"};
    gkv_str(&b, "tokenizer.ggml.model", "llama");
    gkv_strs(&b, "tokenizer.ggml.tokens", dup, 3);
    jang_gguf *g = NULL;
    REQUIRE_OK(jang_gguf_open(write_gguf(&b, "dup"), &g));
    CHECK(jang_tokenizer_from_gguf(g, &t) == JANG_E_FORMAT);
    CHECK(strstr(jang_last_error(), "duplicate token 'x' has ids 0 and 2") != NULL);
    jang_gguf_close(g);
    free(b.p);
    b = (gbuf){0};
    gkv_str(&b, "general.architecture", "llama");
    REQUIRE_OK(jang_gguf_open(write_gguf(&b, "none"), &g));
    CHECK(jang_tokenizer_from_gguf(g, &t) == JANG_E_NOTFOUND);
    jang_gguf_close(g);
    free(b.p);
}

TEST(tokenizer_hf_errors) {
    static const struct {
        const char *json;
        jang_status want;
        const char *needle;
    } cases[] = {
        {"{", JANG_E_FORMAT, "invalid JSON"},
        {"{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", JANG_E_UNSUPPORTED, "Unigram"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a c\"]}}",
         JANG_E_FORMAT, "'c' is not in the vocabulary"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
         " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}}",
         JANG_E_UNSUPPORTED, "BertPreTokenizer"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
         " \"normalizer\": {\"type\": \"Precompiled\"}}",
         JANG_E_UNSUPPORTED, "Precompiled"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}", JANG_E_FORMAT,
         "bad id"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
         " \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}}}",
         JANG_E_UNSUPPORTED, "does not compile"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
         " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\":"
         " {\"id\": \"<s>\"}}], \"special_tokens\": {\"<s>\": {\"ids\": [7]}}}}",
         JANG_E_FORMAT, "out of range"},
    };
    char path[600];
    snprintf(path, sizeof path, "%s/tokenizer.json", test_tmpdir());
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *f = fopen(path, "w");
        REQUIRE(f);
        fputs(cases[i].json, f);
        fclose(f);
        jang_tokenizer *t = NULL;
        jang_status s = jang_tokenizer_from_hf(path, &t);
        CHECK_MSG(s == cases[i].want && !t, "case %zu: %s (%s)", i, jang_status_str(s),
                  jang_last_error());
        CHECK_MSG(strstr(jang_last_error(), cases[i].needle) != NULL,
                  "case %zu: \"%s\" lacks \"%s\"", i, jang_last_error(), cases[i].needle);
        jang_tokenizer_free(t);
    }
    jang_tokenizer *t = NULL;
    CHECK(jang_tokenizer_from_hf("/nonexistent/dir/tokenizer.json", &t) == JANG_E_IO);
}

/* tokenizer.json features the real vocabularies do not use (tools/gen_tokenizer_goldens.py,
 * synthetic()): normalizers, Split behaviors, Digits, Punctuation, Metaspace "always",
 * ByteLevel add_prefix_space, lstrip/rstrip added tokens, unk fusing, templates */
static void synth(const char *name, const char *kind) {
    char dir[64], gold[64];
    snprintf(dir, sizeof dir, "tokenizer/%s", name);
    snprintf(gold, sizeof gold, "tokenizer/%s.json", name);
    jang_tokenizer *t = NULL;
    REQUIRE_OK(jang_tokenizer_from_hf(test_data_path(dir), &t));
    CHECK_STR(jang_tokenizer_kind(t), kind);
    sample s;
    REQUIRE(load_sample(&s, gold));
    CHECK(check_sample(t, &s, "ids", JANG_ENCODE_PARSE_SPECIAL, name) == 0);
    CHECK(check_sample(t, &s, "ids_plain", 0, name) == 0);
    CHECK(check_sample(t, &s, "ids_added", JANG_ENCODE_PARSE_SPECIAL | JANG_ENCODE_ADD_SPECIAL,
                       name) == 0);
    free_sample(&s);
    jang_tokenizer_free(t);
}

TEST(tokenizer_hf_synth_bytes) { synth("synth-bytes", "bpe"); }
TEST(tokenizer_hf_synth_chars) { synth("synth-chars", "bpe-chars"); }
