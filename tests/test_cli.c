/* test_cli.c — runs the built `jang` binary (path in $JANG_BIN, set by `make test`) on fixtures and
 * bad arguments: exit codes, messages naming the culprit, and the facts `inspect` reports. */
#include "test.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK_HAS(hay, needle)                                                                     \
    CHECK_MSG(strstr((hay), (needle)) != NULL, "output lacks \"%s\":\n%.2000s", (needle), (hay))

TEST(cli_bad_arguments) {
    static run_result r;
    REQUIRE(run_jang("", &r));
    CHECK_EQ_INT(r.status, 2);
    CHECK_HAS(r.err, "usage");
    REQUIRE(run_jang("frobnicate", &r));
    CHECK_EQ_INT(r.status, 2);
    CHECK_HAS(r.err, "unknown command 'frobnicate'");
    REQUIRE(run_jang("--help", &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.out, "inspect");
    REQUIRE(run_jang("inspect", &r));
    CHECK_EQ_INT(r.status, 2);
    REQUIRE(run_jang("inspect --bogus x", &r));
    CHECK_EQ_INT(r.status, 2);
    CHECK_HAS(r.err, "unknown option '--bogus'");
    REQUIRE(run_jang("inspect /nonexistent/model.gguf", &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "/nonexistent/model.gguf");
    REQUIRE(run_jang("inspect a b", &r));
    CHECK_EQ_INT(r.status, 2);
}

TEST(cli_inspect_gguf) {
    static run_result r;
    char args[600];
    snprintf(args, sizeof args, "inspect %s/tiny-llama.gguf", test_data_path("models"));
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.out, "architecture:  llama");
    CHECK_HAS(r.out, "layers 2, dim 32, ffn 48, heads 4, kv heads 2, head dim 8, vocab 64");
    CHECK_HAS(r.out, "tied");
    CHECK_HAS(r.out, "gpt2 (pre-tokenizer smollm), 64 tokens, 2 merges, bos 1, eos 2");
    CHECK_HAS(r.out, "model.layers.1.self_attn.q_proj.weight  * undo llama.cpp Q row permutation");
    /* 2 layers x (2*32 + 32*32 + 16*32 + 16*32 + 32*32 + 3*48*32) + 64*32 + 32 = 17568 */
    CHECK_HAS(r.out, "totals:        17568 parameters");
    CHECK_HAS(r.out, "32.000 bits per weight");
    /* sizes in decimal units, as convert prints them (issue 16: MiB here, MB there) */
    CHECK_HAS(r.out, "17568 parameters (17.6K), 70272 bytes (70.3 kB)");
    CHECK_MSG(!strstr(r.out, "iB"), "binary units:\n%s", r.out);
}

TEST(cli_inspect_truncated_gguf) {
    char src[600], dst[600], args[700];
    snprintf(src, sizeof src, "%s/tiny-qwen2.gguf", test_data_path("models"));
    snprintf(dst, sizeof dst, "%s/trunc.gguf", test_tmpdir());
    FILE *f = fopen(src, "rb");
    REQUIRE(f);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    REQUIRE(n == sizeof buf);
    f = fopen(dst, "wb");
    REQUIRE(f);
    fwrite(buf, 1, 3000, f);
    fclose(f);
    static run_result r;
    snprintf(args, sizeof args, "inspect %s", dst);
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "trunc.gguf");
}

TEST(cli_run_bad_arguments) {
    static run_result r;
    REQUIRE(run_jang("run", &r));
    CHECK_EQ_INT(r.status, 2);
    CHECK_HAS(r.err, "-m MODEL");
    REQUIRE(run_jang("run -m x.gguf", &r));
    CHECK_EQ_INT(r.status, 2);
    CHECK_HAS(r.err, "-p PROMPT");
    REQUIRE(run_jang("run -m x.gguf -p hi --temp abc", &r));
    CHECK_EQ_INT(r.status, 2);
    CHECK_HAS(r.err, "--temp expects a number");
    REQUIRE(run_jang("run -m x.gguf -p hi -n", &r));
    CHECK_EQ_INT(r.status, 2);
    CHECK_HAS(r.err, "-n needs a value");
    REQUIRE(run_jang("run -m /nonexistent/m.gguf -p hi", &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "/nonexistent/m.gguf");
    REQUIRE(run_jang("run -m x -p hi --frob", &r));
    CHECK_EQ_INT(r.status, 2);
    CHECK_HAS(r.err, "unknown option '--frob'");
    /* a model directory without a tokenizer */
    char args[700];
    snprintf(args, sizeof args, "run -m %s/llama -p hi", test_data_path("tiny"));
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "tokenizer");
}

/* jang bench on the tiny Llama GGUF: the table has one pp and one tg row with positive rates, and
 * the weight bytes are those of the f32 matrices it holds: 2 layers x (32*32 + 16*32 + 16*32 +
 * 32*32 + 3*48*32) + 64*32 (tied output) floats = 2 x 7680 + 2048 = 17408 floats = 0.07 MB. */
TEST(cli_bench) {
    static run_result r;
    char args[700];
    snprintf(args, sizeof args, "bench -m %s/tiny-llama.gguf -p 16 -n 4 -r 3 -t 1",
             test_data_path("models"));
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.out, "| tiny-llama.gguf | 0.1 | 1 | pp16 | ");
    CHECK_HAS(r.out, "| tiny-llama.gguf | 0.1 | 1 | tg4 | ");
    REQUIRE(run_jang("bench", &r));
    CHECK_EQ_INT(r.status, 2);
    CHECK_HAS(r.err, "-m MODEL");
    REQUIRE(run_jang("bench -m x -p 0 -n 0", &r));
    CHECK_EQ_INT(r.status, 2);
    CHECK_HAS(r.err, "nothing to measure");
    REQUIRE(run_jang("bench -m x -r 0", &r));
    CHECK_EQ_INT(r.status, 2);
    REQUIRE(run_jang("bench -m /nonexistent/m.gguf", &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "/nonexistent/m.gguf");
    /* --parallel 3: a tg4 x3 row (aggregate of 3 sequences decoded together), no pp row */
    snprintf(args, sizeof args, "bench -m %s/tiny-llama.gguf -p 0 -n 4 -r 2 -t 2 --parallel 3",
             test_data_path("models"));
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.out, "| tiny-llama.gguf | 0.1 | 2 | tg4 | ");
    CHECK_HAS(r.out, "| tiny-llama.gguf | 0.1 | 2 | tg4 x3 | ");
    CHECK(strstr(r.out, "pp") == NULL);
    REQUIRE(run_jang("bench -m x --parallel 0", &r));
    CHECK_EQ_INT(r.status, 2);
}

/* jang --version and jang version: "jang X.Y.Z" (the library's number) and the backends built in.
 */
TEST(cli_version) {
    static run_result r;
    char want[64];
    snprintf(want, sizeof want, "jang %s\n", jang_version());
    REQUIRE(run_jang("--version", &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_MSG(!strncmp(r.out, want, strlen(want)), "want \"%s\", got:\n%s", want, r.out);
    CHECK_HAS(r.out, "backends: cpu");
    CHECK_STR(jang_version(), JANG_VERSION_STRING);
    REQUIRE(run_jang("version", &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_MSG(!strncmp(r.out, want, strlen(want)), "want \"%s\", got:\n%s", want, r.out);
    REQUIRE(run_jang("version extra", &r));
    CHECK_EQ_INT(r.status, 2);
}

/* jang run -m on a path that is no model: the path's own problem, before anything about the
 * tokenizer (issue 16: "tokenizer.json: cannot open" / "Invalid argument" came first). */
TEST(cli_run_bad_model_path) {
    static run_result r;
    char path[600], args[800];
    REQUIRE(run_jang("run -m /nonexistent/m.gguf -p hi", &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "/nonexistent/m.gguf: No such file or directory");
    CHECK_MSG(!strstr(r.err, "tokenizer"), "tokenizer named first:\n%s", r.err);
    snprintf(path, sizeof path, "%s/x.gguf", test_tmpdir());
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs("just some text\n", f);
    fclose(f);
    snprintf(args, sizeof args, "run -m %s -p hi", path);
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "x.gguf: not a GGUF file");
    CHECK_MSG(!strstr(r.err, "tokenizer"), "tokenizer named first:\n%s", r.err);
    /* a directory without config.json */
    snprintf(args, sizeof args, "run -m %s -p hi", test_tmpdir());
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "no config.json");
    CHECK_MSG(!strstr(r.err, "tokenizer"), "tokenizer named first:\n%s", r.err);
}

/* A model directory for --chat: the tiny Qwen2's weights (vocabulary 256) with SmolLM2's
 * tokenizer cut to its ids below 256 and the merges among them (its ChatML template kept), so
 * every id of a chat prompt is one the model has. */
static bool link_to(const char *src, const char *dir, const char *name) {
    char abs[PATH_MAX], dst[800];
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    return realpath(src, abs) && symlink(abs, dst) == 0;
}

/* Copies the tiny Qwen2's model.safetensors into dir with element `at` of tensor `tensor` set to
 * `value` (the header gives the data offset: 8 bytes of header length, the JSON header, then the
 * data, each tensor at its data_offsets). */
static bool copy_poisoned(const char *dir, const char *tensor, int64_t at, float value) {
    char src[700], dst[800];
    snprintf(src, sizeof src, "%s/model.safetensors", test_data_path("tiny/qwen2"));
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    FILE *f = fopen(src, "rb");
    if (!f) return false;
    static unsigned char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (n < 8 || n == sizeof buf) return false;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | buf[i];
    if (hlen > n - 8) return false;
    json_t *h = json_loadb((const char *)buf + 8, (size_t)hlen, 0, NULL);
    json_t *t = json_object_get(h, tensor);
    bool ok = t && !strcmp(json_string_value(json_object_get(t, "dtype")), "F32");
    uint64_t off =
        8 + hlen +
        (uint64_t)json_integer_value(json_array_get(json_object_get(t, "data_offsets"), 0)) +
        4 * (uint64_t)at;
    json_decref(h);
    if (!ok || off + 4 > n) return false;
    memcpy(buf + off, &value, 4);
    f = fopen(dst, "wb");
    if (!f) return false;
    ok = fwrite(buf, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* poison: the name of a tensor whose first value becomes NaN, or NULL for the weights as they
 * are (a link). */
static bool make_chat_model_at(const char *name, const char *poison, char *dir, size_t cap) {
    char src[700], dst[800];
    snprintf(dir, cap, "%s/%s", test_tmpdir(), name);
    if (mkdir(dir, 0755) != 0) return false;
    const char *links[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(src, sizeof src, "%s/%s", test_data_path("tiny/qwen2"), links[i]);
        if (i == 1 && poison) {
            if (!copy_poisoned(dir, poison, 0, NAN)) return false;
        } else if (!link_to(src, dir, links[i])) {
            return false;
        }
    }
    snprintf(src, sizeof src, "%s/tokenizer_config.json", test_data_path("tokenizer/smollm2"));
    if (!link_to(src, dir, "tokenizer_config.json")) return false;
    snprintf(src, sizeof src, "%s/tokenizer.json", test_data_path("tokenizer/smollm2"));
    json_t *t = json_load_file(src, 0, NULL);
    if (!t) return false;
    json_t *model = json_object_get(t, "model"), *vocab = json_object(), *merges = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(model, "vocab"), k, v) {
        if (json_integer_value(v) < 256) json_object_set(vocab, k, v);
    }
    size_t i;
    json_array_foreach(json_object_get(model, "merges"), i, v) {
        char both[256];
        const char *a = json_string_value(json_array_get(v, 0));
        const char *b = json_string_value(json_array_get(v, 1));
        snprintf(both, sizeof both, "%s%s", a, b);
        if (json_object_get(vocab, a) && json_object_get(vocab, b) && json_object_get(vocab, both))
            json_array_append(merges, v);
    }
    json_object_set_new(model, "vocab", vocab);
    json_object_set_new(model, "merges", merges);
    snprintf(dst, sizeof dst, "%s/tokenizer.json", dir);
    int rc = json_dump_file(t, dst, 0);
    json_decref(t);
    return rc == 0;
}

static bool make_chat_model(char *dir, size_t cap) {
    return make_chat_model_at("chat-model", NULL, dir, cap);
}

/* --chat echoes the user's prompt, not the chat template around it; --no-echo prints neither. */
TEST(cli_run_chat_echo) {
    static run_result r;
    char dir[600], args[900];
    REQUIRE(make_chat_model(dir, sizeof dir));
    snprintf(args, sizeof args, "run -m %s --chat -p 'tell me a joke' -n 4 --temp 0 -t 1", dir);
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_MSG(!strncmp(r.out, "tell me a joke", 14), "echo is not the prompt:\n%s", r.out);
    CHECK_MSG(!strstr(r.out, "im_start") && !strstr(r.out, "SmolLM"), "template echoed:\n%s",
              r.out);
    snprintf(args, sizeof args, "run -m %s --chat -p 'tell me a joke' -n 4 --temp 0 --no-echo",
             dir);
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_MSG(!strstr(r.out, "tell me a joke"), "echoed with --no-echo:\n%s", r.out);
}

/* The run tests' model (make_chat_model: trained context 512, greedy never ends the text): a full
 * context is said on stderr, -c past the trained context is warned about, -n -1 runs to the end
 * of the context, -c 0 is the model's context. */
TEST(cli_run_context) {
    static run_result r;
    char m[600], args[900];
    REQUIRE(make_chat_model(m, sizeof m));
    const char *run = "run -p 'tell me a joke' --temp 0 -t 1 -m";
    snprintf(args, sizeof args, "%s %s -n 100 -c 20", run, m);
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.err, "context full at 20 tokens");
    CHECK_MSG(!strstr(r.err, "warning"), "unexpected warning:\n%s", r.err);
    snprintf(args, sizeof args, "%s %s -n 1 -c 600", run, m);
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.err, "warning: -c 600 is past the model's trained context (512)");
    CHECK_MSG(!strstr(r.err, "context full"), "full context said too early:\n%s", r.err);
    snprintf(args, sizeof args, "%s %s -n 10 -c 100", run, m);
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_MSG(!strstr(r.err, "context full"), "full context said too early:\n%s", r.err);
    snprintf(args, sizeof args, "%s %s -n -1 -c 24", run, m);
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.err, "context full at 24 tokens");
    snprintf(args, sizeof args, "%s %s -n -1 -c 0", run, m);
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.err, "context full at 512 tokens");
    REQUIRE(run_jang("run -m x -p hi -n -2", &r));
    CHECK_EQ_INT(r.status, 2);
}

static unsigned long long seed_of(const char *err) {
    const char *p = strstr(err, "seed ");
    return p ? strtoull(p + 5, NULL, 10) : 0;
}

/* The default seed is random and printed on stderr; --seed repeats a run. */
TEST(cli_run_seed) {
    static run_result r;
    static char out1[sizeof r.out];
    char m[600], args[900];
    REQUIRE(make_chat_model(m, sizeof m));
    snprintf(args, sizeof args, "run -m %s -p hi -n 24 --temp 1.5 --top-k 0 --min-p 0 -t 1", m);
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.err, "jang run: seed ");
    unsigned long long s1 = seed_of(r.err);
    snprintf(out1, sizeof out1, "%s", r.out);
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 0);
    unsigned long long s2 = seed_of(r.err);
    CHECK_MSG(s1 != s2, "two runs had seed %llu", s1);
    snprintf(args, sizeof args,
             "run -m %s -p hi -n 24 --temp 1.5 --top-k 0 --min-p 0 -t 1 --seed %llu", m, s1);
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_STR(r.out, out1);
    CHECK_EQ_INT(seed_of(r.err), s1);
}

/* Weights holding a NaN (issue 16: run exited 0 with empty output): exit 1 naming the position and
 * pointing at jang validate, after the prompt (a NaN in the final norm reaches every logit). */
TEST(cli_run_nan_weights) {
    static run_result r;
    char m[600], args[900];
    REQUIRE(make_chat_model_at("nan-model", "model.norm.weight", m, sizeof m));
    snprintf(args, sizeof args, "run -m %s -p 'tell me a joke' -n 4 --temp 0 -t 1", m);
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "the model produced NaN logits at position ");
    CHECK_HAS(r.err, "its weights contain NaN/Inf? try jang validate");
    /* the position is the prompt's last token: as many tokens as the healthy model's run says */
    char ok[600];
    REQUIRE(make_chat_model(ok, sizeof ok));
    snprintf(args, sizeof args, "run -m %s -p 'tell me a joke' -n 1 --temp 0 -t 1", ok);
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 0);
    const char *p = strstr(r.err, "prompt ");
    REQUIRE(p);
    long long n_prompt = strtoll(p + 7, NULL, 10);
    snprintf(args, sizeof args, "run -m %s -p 'tell me a joke' -n 4 --temp 0 -t 1", m);
    REQUIRE(run_jang(args, &r));
    char want[96];
    snprintf(want, sizeof want, "NaN logits at position %lld:", n_prompt - 1);
    CHECK_HAS(r.err, want);
}

/* Whole numbers print as digits (issue 16: "1.67772e+07" in ranges): the tiny Qwen2's rope theta
 * 1e6 was "theta 1e+06". */
TEST(cli_inspect_whole_numbers) {
    static run_result r;
    char args[700];
    snprintf(args, sizeof args, "inspect --summary %s", test_data_path("tiny/qwen2"));
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.out, "rope:          theta 1000000, dim 16, scaling none");
    CHECK_HAS(r.out, "norm eps:      1e-06");
}

/* scripts/quickstart ends by saying where the converted model is and what to try next (issue 16:
 * it ended on the model's answer). Its closing message (the last here-document) is run with OUT
 * set, as the script sets it; the rest of the script needs the network and a real model. */
TEST(cli_quickstart_closing) {
    FILE *p = popen("OUT=/x/quick-jang bash -c \"$(sed -n '/^cat >&2 <<EOF$/,/^EOF$/p' "
                    "scripts/quickstart)\" 2>&1",
                    "r");
    REQUIRE(p);
    static char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    CHECK_EQ_INT(pclose(p), 0);
    CHECK_HAS(out, "The converted model is in /x/quick-jang\n");
    CHECK_HAS(out, "build/jang run -m \"/x/quick-jang\" --chat -p ");
    CHECK_HAS(out, "build/jang bench -m \"/x/quick-jang\"\n");
}
