/* cli_opts.h — the one option parser of every `jang` command: a command describes its options in
 * a table of rows (long name, short letter, argument kind with bounds or choices, the field of
 * its options struct that receives the value, help text); cli_parse() runs glibc getopt_long over
 * argv against that table, reports bad input naming the command and the option, and answers
 * -h/--help with the usage generated from the same table. Tested by tests/test_cli_opts.c
 * (every command's bad arguments and --help, through the built binary).
 */
#ifndef JANG_CLI_OPTS_H
#define JANG_CLI_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum {
    CLI_FLAG,     /* no value: sets a bool field to true */
    CLI_FLAG_OFF, /* no value: sets a bool field to false (--no-echo) */
    CLI_STR,      /* a string: const char * field (pointing into argv) */
    CLI_STRS,     /* a string, repeatable: cli_strs field, each use appends */
    CLI_INT,      /* an integer in [lo, hi]: int/int32_t (size 4) or int64_t/uint64_t field */
    CLI_NUM,      /* a number in [lo, hi]: float (size 4) or double field */
    CLI_CHOICE,   /* one of `choices` (NULL-terminated): its index in an int field */
    CLI_POS,      /* the positional argument (at most one row): const char * field */
    CLI_HEADING,  /* no option: a section title in the usage (`help`) */
} cli_kind;

/* What a CLI_STRS field holds: the values in order. */
#define CLI_STRS_MAX 16
typedef struct {
    const char *v[CLI_STRS_MAX];
    int n;
} cli_strs;

typedef struct {
    const char *name; /* long name without "--"; CLI_POS: the argument's name in the usage */
    char short_name;  /* the one-letter alias, or 0 */
    cli_kind kind;
    size_t offset, size;        /* the field that receives the value (CLI_FIELD) */
    double lo, hi;              /* CLI_INT / CLI_NUM: the accepted range, both ends included */
    const char *meta;           /* the value's name in the usage and messages: "N", "MODEL" */
    const char *help;           /* the usage text; '\n' continues in the help column */
    bool required;              /* an error when absent (CLI_STR, CLI_STRS, CLI_POS) */
    const char *const *choices; /* CLI_CHOICE */
} cli_opt;

/* offsetof and size of a field of an options struct: CLI_FIELD(run_opts, sampling.top_k). */
#define CLI_FIELD(type, field) offsetof(type, field), sizeof(((type *)0)->field)

typedef struct {
    const char *name;     /* "bench": messages say "jang bench: ..." */
    const char *synopsis; /* the usage line after "usage: jang <name> " */
    const cli_opt *opts;
    size_t n_opts;
    const char *epilog; /* text after the options in the usage, or NULL */
} cli_cmd;

#define CLI_COUNT(rows) (sizeof(rows) / sizeof((rows)[0]))

/* The usage of a command, generated from its table (-h/--help included). */
void cli_usage(const cli_cmd *cmd, FILE *f);

/* Parses argv[1..argc) (argv[0] names the command) into the struct `dst`, whose fields hold the
 * defaults. Returns 0 when every argument was good; CLI_HELP after printing the usage to stdout
 * for -h/--help; 2 (the usage exit status) after printing what was wrong to stderr. Reorders argv
 * (options may follow the positional argument). */
#define CLI_HELP (-1)
int cli_parse(const cli_cmd *cmd, void *dst, int argc, char **argv);

/* A number as people write it, for messages: a whole number in digits ("16777216", "1000000",
 * never "1.67772e+07"), anything else with %g ("0.5", "1e-06"). Returns buf. */
const char *cli_num_text(double x, char *buf, size_t cap);

#endif
