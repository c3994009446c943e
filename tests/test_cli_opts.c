/* test_cli_opts.c — the table-driven option parser (cli/cli_opts.c) through the built `jang`
 * binary: for every command, bad arguments exit 2 with a message naming the command, the option
 * and the value; --help / -h exit 0 and list the command's options on stdout; values reach their
 * fields (integers, repeatable options, flags that clear, --name=value, options after the
 * positional argument). */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>

#define CHECK_HAS(hay, needle)                                                                     \
    CHECK_MSG(strstr((hay), (needle)) != NULL, "output lacks \"%s\":\n%.2000s", (needle), (hay))
#define CHECK_LACKS(hay, needle)                                                                   \
    CHECK_MSG(strstr((hay), (needle)) == NULL, "output has \"%s\":\n%.2000s", (needle), (hay))

/* run_jang with printf-style arguments */
static bool jang_cmd(run_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool jang_cmd(run_result *r, const char *fmt, ...) {
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return run_jang(args, r);
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Each line: arguments, then the whole message expected on stderr's first line. */
TEST(cli_opts_bad_arguments) {
    static const struct {
        const char *args, *msg;
    } bad[] = {
        /* unknown options, short and long, and an ambiguous prefix */
        {"bench -m x --frob", "jang bench: unknown option '--frob'"},
        {"bench -m x -z", "jang bench: unknown option '-z'"},
        {"run -m x -p y --top 3", "jang run: ambiguous option '--top' (--top-k, --top-p)"},
        {"mmlu -m x --frob=3", "jang mmlu: unknown option '--frob'"},
        {"validate --summary d", "jang validate: unknown option '--summary'"},
        /* missing values, short and long */
        {"bench -m x -t", "jang bench: -t needs a value"},
        {"run -m x -p y --temp", "jang run: --temp needs a value"},
        {"ppl -m x -f y --ref", "jang ppl: --ref needs a value"},
        {"convert src --output", "jang convert: --output needs a value"},
        /* a value given to a flag */
        {"hellaswag -m x --verbose=1", "jang hellaswag: --verbose takes no value"},
        {"run -m x -p y --chat=yes", "jang run: --chat takes no value"},
        /* not a number, out of range, not an integer */
        {"bench -m x -t x", "jang bench: -t expects a number: an integer in [1, 1024], got 'x'"},
        {"bench -m x --threads 0",
         "jang bench: --threads expects a number: an integer in [1, 1024], got '0'"},
        {"bench -m x -r 1001",
         "jang bench: -r expects a number: an integer in [1, 1000], got '1001'"},
        {"bench -m x -p 2.5",
         "jang bench: -p expects a number: an integer in [0, 1048576], got '2.5'"},
        {"bench -m x -n ''", "jang bench: -n expects a number: an integer in [0, 1048576], got ''"},
        {"run -m x -p y --top-p 0", "jang run: --top-p expects a number in [1e-06, 1], got '0'"},
        {"run -m x -p y --temp 1e400",
         "jang run: --temp expects a number in [0, 100], got '1e400'"},
        {"run -m x -p y --seed -1",
         "jang run: --seed expects a number: an integer in [0, 18000000000000000000], got '-1'"},
        {"run -m x -p y -c 16777217",
         "jang run: -c expects a number: an integer in [0, 16777216], got '16777217'"},
        {"mmlu -m x --max-new 4097",
         "jang mmlu: --max-new expects a number: an integer in [1, 4096], got '4097'"},
        {"hellaswag -m x -t nan",
         "jang hellaswag: -t expects a number: an integer in [1, 1024], got 'nan'"},
        {"convert src -o out --target-bpw 40",
         "jang convert: --target-bpw expects a number in [0.5, 32], got '40'"},
        {"convert src -o out --sample-rows 0x10",
         "jang convert: --sample-rows expects a number: an integer in [1, 1073741824], got '0x10'"},
        /* choices */
        {"convert src -o out --method best",
         "jang convert: --method must be rtn or mse, got 'best'"},
        /* required options and positional arguments */
        {"hellaswag -t 1", "jang hellaswag: -m MODEL is required"},
        {"ppl -f y", "jang ppl: -m MODEL is required"},
        {"run -p y", "jang run: -m MODEL is required"},
        {"inspect -s", "jang inspect: PATH is required"},
        {"validate", "jang validate: DIR is required"},
        {"convert -o out", "jang convert: SRC is required"},
        {"validate a b", "jang validate: more than one DIR ('a' and 'b')"},
        {"bench -m x stray", "jang bench: unexpected argument 'stray'"},
    };
    static run_result r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        REQUIRE(run_jang(bad[i].args, &r));
        CHECK_MSG(r.status == 2, "'%s': exit %d", bad[i].args, r.status);
        char *nl = strchr(r.err, '\n');
        if (nl) *nl = '\0';
        CHECK_MSG(!strcmp(r.err, bad[i].msg), "'%s':\n  got      \"%s\"\n  expected \"%s\"",
                  bad[i].args, r.err, bad[i].msg);
        CHECK_MSG(r.out[0] == '\0', "'%s' printed to stdout: %.200s", bad[i].args, r.out);
    }
    /* an unknown option is followed by the usage, a bad value is not */
    REQUIRE(run_jang("ppl -m x -f y --frob", &r));
    CHECK_HAS(r.err, "usage: jang ppl -m MODEL -f TEXT [options]");
    REQUIRE(run_jang("ppl -m x -f y -c x", &r));
    CHECK_LACKS(r.err, "usage:");
}

/* --help and -h: exit 0, the usage on stdout (nothing on stderr), every option of the command. */
TEST(cli_opts_help) {
    static const struct {
        const char *cmd, *synopsis, *opts[20];
    } cmds[] = {
        {"bench",
         "usage: jang bench -m MODEL [-m MODEL ...] [options]",
         {"-m, --model MODEL", "-p, --n-prompt N", "-n, --n-gen N", "-r, --repetitions N",
          "-t, --threads N"}},
        {"run",
         "usage: jang run -m MODEL -p PROMPT [options]",
         {"-m, --model MODEL", "-p, --prompt PROMPT", "-n, --n-predict N", "    --chat",
          "    --system TEXT", "    --raw", "-t, --threads N", "-c, --ctx N", "    --temp T",
          "    --top-k K", "    --top-p P", "    --min-p P", "    --repeat-penalty R",
          "    --repeat-last-n N", "-s, --seed S", "    --no-echo"}},
        {"ppl",
         "usage: jang ppl -m MODEL -f TEXT [options]",
         {"-m, --model MODEL", "-f, --file TEXT", "-c, --ctx N", "    --chunks N", "-b, --batch N",
          "-t, --threads N", "    --save-ref FILE", "    --topk K", "    --tail-samples M",
          "    --ref FILE"}},
        {"mmlu",
         "usage: jang mmlu -m MODEL [options]",
         {"-m, --model MODEL", "    --data DIR", "    --protocol P", "    --limit N",
          "    --max-new N", "-c, --ctx N", "-t, --threads N", "-v, --verbose"}},
        {"hellaswag",
         "usage: jang hellaswag -m MODEL [options]",
         {"-m, --model MODEL", "    --data DIR", "    --limit N", "-t, --threads N",
          "-v, --verbose"}},
        {"convert",
         "usage: jang convert SRC -o OUT [allocation] [options]",
         {"  SRC ", "-o, --output OUT", "allocation (at most one; default --target-bpw 4.5):",
          "-p, --profile P", "-b, --block-size N", "    --bits B", "    --group-size G",
          "    --recipe R", "    --target-bpw X", "    --method M", "    --dry-run", "    --force",
          "-t, --threads N", "    --shard-size BYTES", "    --sample-rows N"}},
        {"inspect", "usage: jang inspect PATH [--summary]", {"  PATH ", "-s, --summary"}},
        {"validate", "usage: jang validate DIR", {"  DIR "}},
    };
    static run_result r;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        for (int form = 0; form < 2; form++) {
            REQUIRE(jang_cmd(&r, "%s %s", cmds[i].cmd, form ? "-h" : "--help"));
            CHECK_MSG(r.status == 0, "%s %s: exit %d", cmds[i].cmd, form ? "-h" : "--help",
                      r.status);
            CHECK_MSG(r.err[0] == '\0', "%s --help wrote to stderr: %.200s", cmds[i].cmd, r.err);
            CHECK_MSG(!strncmp(r.out, cmds[i].synopsis, strlen(cmds[i].synopsis)),
                      "%s --help begins \"%.80s\"", cmds[i].cmd, r.out);
            CHECK_HAS(r.out, "-h, --help");
            for (int k = 0; cmds[i].opts[k]; k++)
                CHECK_HAS(r.out, cmds[i].opts[k]);
        }
    }
    /* --help wins over bad arguments before it and needs nothing else */
    REQUIRE(run_jang("bench -t 5 --help", &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.out, "--repetitions");
}

/* Values reach their fields: -m accumulates, --name=value and attached short values, integers
 * into 64-bit and 32-bit fields (the table's columns), options after the positional argument, a
 * flag that clears (--summary), accepted values going on to the real work (exit 1, not 2). */
TEST(cli_opts_values) {
    static run_result r;
    char gguf[600];
    snprintf(gguf, sizeof gguf, "%s/tiny-llama.gguf", test_data_path("models"));
    REQUIRE(jang_cmd(&r, "bench -m %s --model=%s --n-prompt=8 -n3 -r 1 --threads=1", gguf, gguf));
    CHECK_MSG(r.status == 0, "exit %d: %s", r.status, r.err);
    CHECK_EQ_INT(count_of(r.out, "| tiny-llama.gguf | 0.1 | 1 | pp8 | "), 2);
    CHECK_EQ_INT(count_of(r.out, "| tiny-llama.gguf | 0.1 | 1 | tg3 | "), 2);
    CHECK_HAS(r.out, "1 runs after a warm-up");
    /* at most CLI_STRS_MAX (16) values */
    char args[2048] = "bench";
    for (int i = 0; i < 17; i++)
        strcat(args, " -m x");
    REQUIRE(run_jang(args, &r));
    CHECK_EQ_INT(r.status, 2);
    CHECK_HAS(r.err, "jang bench: -m: at most 16 values");
    /* the positional argument anywhere; -s / --summary drops the per-tensor table */
    REQUIRE(jang_cmd(&r, "inspect %s", gguf));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.out, "model.layers.1.self_attn.q_proj.weight");
    REQUIRE(jang_cmd(&r, "inspect %s --summary", gguf));
    CHECK_EQ_INT(r.status, 0);
    CHECK_HAS(r.out, "totals:");
    CHECK_LACKS(r.out, "model.layers.1.self_attn.q_proj.weight");
    REQUIRE(jang_cmd(&r, "inspect -s %s", gguf));
    CHECK_EQ_INT(r.status, 0);
    CHECK_LACKS(r.out, "model.layers.1.self_attn.q_proj.weight");
    /* "--" ends the options: a path that begins with '-' */
    REQUIRE(run_jang("inspect -- -nonexistent", &r));
    CHECK_EQ_INT(r.status, 1);
    CHECK_HAS(r.err, "-nonexistent: no such file");
    /* bounds are inclusive; accepted values go on to open the model (and fail there: exit 1) */
    REQUIRE(run_jang("run -m /nonexistent/m.gguf -p hi --top-p 1 --min-p 0 --temp 100 -t 1024 "
                     "--seed 18000000000000000000 --top-k=0 --no-echo --chat --raw",
                     &r));
    CHECK_MSG(r.status == 1, "exit %d: %s", r.status, r.err);
    CHECK_HAS(r.err, "/nonexistent/m.gguf");
    REQUIRE(run_jang("convert /nonexistent/src -o /nonexistent/out --method rtn --bits 8 "
                     "--group-size 128 -t 1",
                     &r));
    CHECK_MSG(r.status == 1, "exit %d: %s", r.status, r.err);
    CHECK_HAS(r.err, "/nonexistent/src");
}
