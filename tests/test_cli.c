/* test_cli.c — runs the built `jang` binary (path in $JANG_BIN, set by `make test`) on fixtures and
 * bad arguments: exit codes, messages naming the culprit, and the facts `inspect` reports. */
#include "test.h"

#include <stdlib.h>
#include <sys/wait.h>

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
