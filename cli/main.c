/* main.c — the `jang` command: dispatches to one cmd_*.c per subcommand. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

/* `jang version` and `jang --version`: the version and the backends this build holds. */
static int cmd_version(int argc, char **argv) {
    if (argc > 1) {
        fprintf(stderr, "usage: jang version\n");
        return 2;
    }
    printf("jang %s\nbackends: %s\n", jang_version(), jang_build_backends());
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"convert", cmd_convert,
     "convert a HF safetensors directory or a GGUF file to a JANG v2 directory"},
    {"inspect", cmd_inspect,
     "summarise a safetensors file/dir or GGUF file: architecture, tensors, totals"},
    {"run", cmd_run, "generate text from a prompt (GGUF file or model directory)"},
    {"bench", cmd_bench, "prompt (ppN) and generation (tgN) speed, llama-bench style"},
    {"ppl", cmd_ppl,
     "perplexity over chunks (llama-perplexity style); --save-ref / --ref for KL divergence"},
    {"mmlu", cmd_mmlu, "MMLU accuracy: JANG's 200-question protocol or full 5-shot"},
    {"hellaswag", cmd_hellaswag, "accuracy on the 2-way HellaSwag pairs by log-likelihood"},
    {"validate", cmd_validate,
     "check a JANG v2 / MLX quantized directory: index, bits/group, shapes, scales, manifest"},
    {"version", cmd_version, "the version and the backends of this build (also --version)"},
};

int cli_error(const char *cmd, jang_status s) {
    const char *d = jang_last_error();
    fprintf(stderr, "jang %s: %s%s%s\n", cmd, jang_status_str(s), d[0] ? ": " : "", d);
    return 1;
}

static void usage(FILE *f) {
    fprintf(f, "usage: jang <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n`jang <command> --help` describes each command.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) return cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "jang: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
