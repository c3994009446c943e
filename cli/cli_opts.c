/* cli_opts.c — the table-driven option parser of every command (cli_opts.h): builds getopt_long's
 * option string and long-option array from a command's rows, stores each value in its field after
 * checking kind and range, and prints the usage from the rows. Messages name the command, the
 * option as it was typed and the value: "jang bench: -t expects a number: an integer in [1, 1024],
 * got 'x'". Tested by tests/test_cli_opts.c (and the commands' own tests).
 */
#include "cli_opts.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A table that breaks the rules is a bug in the command, not bad input. */
#define CLI_CHECK(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: option table: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define CLI_MAX_OPTS 64
#define CLI_VAL_LONG 256 /* getopt value of row i without a short letter: CLI_VAL_LONG + i */

static bool is_option(const cli_opt *o) { return o->kind != CLI_POS && o->kind != CLI_HEADING; }
static bool takes_value(const cli_opt *o) {
    return o->kind != CLI_FLAG && o->kind != CLI_FLAG_OFF && is_option(o);
}

/* ---- usage ----------------------------------------------------------------------------------- */

/* "  -m, --model MODEL", "      --chat", "  SRC" */
static void left_column(const cli_opt *o, char *buf, size_t cap) {
    if (o->kind == CLI_POS) {
        snprintf(buf, cap, "  %s", o->name);
        return;
    }
    char sh[8] = "    ";
    if (o->short_name) snprintf(sh, sizeof sh, "-%c, ", o->short_name);
    snprintf(buf, cap, "  %s--%s%s%s", sh, o->name, takes_value(o) && o->meta ? " " : "",
             takes_value(o) && o->meta ? o->meta : "");
}

static void print_row(FILE *f, const char *left, const char *help, int width) {
    int n = fprintf(f, "%s", left);
    if (n > width) { /* the help on a line of its own */
        fprintf(f, "\n");
        n = 0;
    }
    fprintf(f, "%*s", width - n + 2, "");
    for (const char *c = help; *c; c++) {
        fputc(*c, f);
        if (*c == '\n' && c[1]) fprintf(f, "%*s", width + 2, "");
    }
    fprintf(f, "\n");
}

void cli_usage(const cli_cmd *cmd, FILE *f) {
    fprintf(f, "usage: jang %s %s\n", cmd->name, cmd->synopsis);
    char left[128];
    int width = 12; /* the help column: after the widest left column, at most 26 */
    for (size_t i = 0; i < cmd->n_opts; i++) {
        if (cmd->opts[i].kind == CLI_HEADING) continue;
        left_column(&cmd->opts[i], left, sizeof left);
        int n = (int)strlen(left);
        if (n > width && n <= 26) width = n;
    }
    for (size_t i = 0; i < cmd->n_opts; i++) {
        const cli_opt *o = &cmd->opts[i];
        if (o->kind == CLI_HEADING) {
            fprintf(f, "%s\n", o->help);
            continue;
        }
        left_column(o, left, sizeof left);
        print_row(f, left, o->help ? o->help : "", width);
    }
    print_row(f, "  -h, --help", "print this help and exit", width);
    if (cmd->epilog) fprintf(f, "%s", cmd->epilog);
}

const char *cli_num_text(double x, char *buf, size_t cap) {
    if (x == floor(x) && fabs(x) < 1e20)
        snprintf(buf, cap, "%.0f", x);
    else
        snprintf(buf, cap, "%g", x);
    return buf;
}

/* ---- values ---------------------------------------------------------------------------------- */

/* An integer in [lo, hi], whole string, base 10; its bits as uint64_t (two's complement). */
static bool parse_int(const char *s, double lo, double hi, uint64_t *out) {
    char *end;
    errno = 0;
    if (!((*s >= '0' && *s <= '9') || *s == '-' || *s == '+')) return false;
    if (*s == '-') {
        long long v = strtoll(s, &end, 10);
        if (end == s || *end || errno || !((double)v >= lo && (double)v <= hi)) return false;
        *out = (uint64_t)v;
    } else {
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s || *end || errno || !((double)v >= lo && (double)v <= hi)) return false;
        *out = (uint64_t)v;
    }
    return true;
}

static bool parse_num(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

/* "a", "a or b", "a, b or c" */
static void choices_text(const char *const *c, char *buf, size_t cap) {
    size_t n = 0, len = 0;
    while (c[n])
        n++;
    buf[0] = '\0';
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s",
                                i == 0       ? ""
                                : i + 1 == n ? " or "
                                             : ", ",
                                c[i]);
}

/* Stores `arg` (NULL for a flag) in the row's field; false after printing why not. `typed` is the
 * option as written ("-t" or "--threads"). */
static bool store(const cli_cmd *cmd, const cli_opt *o, const char *typed, const char *arg,
                  char *base) {
    void *p = base + o->offset;
    switch (o->kind) {
    case CLI_FLAG:
    case CLI_FLAG_OFF: {
        bool v = o->kind == CLI_FLAG;
        memcpy(p, &v, sizeof v);
        return true;
    }
    case CLI_STR:
    case CLI_POS:
        memcpy(p, &arg, sizeof arg);
        return true;
    case CLI_STRS: {
        cli_strs *l = p;
        if (l->n == CLI_STRS_MAX) {
            fprintf(stderr, "jang %s: %s: at most %d values\n", cmd->name, typed, CLI_STRS_MAX);
            return false;
        }
        l->v[l->n++] = arg;
        return true;
    }
    case CLI_INT: {
        uint64_t v;
        if (!parse_int(arg, o->lo, o->hi, &v)) {
            char lo[32], hi[32];
            fprintf(stderr, "jang %s: %s expects a number: an integer in [%s, %s], got '%s'\n",
                    cmd->name, typed, cli_num_text(o->lo, lo, sizeof lo),
                    cli_num_text(o->hi, hi, sizeof hi), arg);
            return false;
        }
        if (o->size == 8) {
            memcpy(p, &v, 8);
        } else {
            int32_t x = (int32_t)(int64_t)v;
            memcpy(p, &x, 4);
        }
        return true;
    }
    case CLI_NUM: {
        double v;
        if (!parse_num(arg, o->lo, o->hi, &v)) {
            char lo[32], hi[32];
            fprintf(stderr, "jang %s: %s expects a number in [%s, %s], got '%s'\n", cmd->name,
                    typed, cli_num_text(o->lo, lo, sizeof lo), cli_num_text(o->hi, hi, sizeof hi),
                    arg);
            return false;
        }
        if (o->size == sizeof(double)) {
            memcpy(p, &v, sizeof v);
        } else {
            float x = (float)v;
            memcpy(p, &x, sizeof x);
        }
        return true;
    }
    case CLI_CHOICE:
        for (int i = 0; o->choices[i]; i++)
            if (!strcmp(arg, o->choices[i])) {
                memcpy(p, &i, sizeof i);
                return true;
            }
        char names[256];
        choices_text(o->choices, names, sizeof names);
        fprintf(stderr, "jang %s: %s must be %s, got '%s'\n", cmd->name, typed, names, arg);
        return false;
    case CLI_HEADING:
        break;
    }
    CLI_CHECK(!"a row of this kind takes no value");
    return false;
}

/* The rules a table must keep (checked on every parse: the tables are small). */
static void check_table(const cli_cmd *cmd) {
    int n_pos = 0;
    CLI_CHECK(cmd->n_opts <= CLI_MAX_OPTS);
    for (size_t i = 0; i < cmd->n_opts; i++) {
        const cli_opt *o = &cmd->opts[i];
        n_pos += o->kind == CLI_POS;
        CLI_CHECK(o->kind == CLI_HEADING || o->name);
        CLI_CHECK(o->short_name != 'h' && o->short_name != '?' && o->short_name != ':');
        if (o->kind == CLI_FLAG || o->kind == CLI_FLAG_OFF) CLI_CHECK(o->size == sizeof(bool));
        if (o->kind == CLI_STR || o->kind == CLI_POS) CLI_CHECK(o->size == sizeof(const char *));
        if (o->kind == CLI_STRS) CLI_CHECK(o->size == sizeof(cli_strs));
        if (o->kind == CLI_INT)
            CLI_CHECK(o->lo <= o->hi &&
                      (o->size == 8 || (o->size == 4 && o->lo >= INT32_MIN && o->hi <= INT32_MAX)));
        if (o->kind == CLI_NUM)
            CLI_CHECK(o->lo <= o->hi && (o->size == sizeof(double) || o->size == sizeof(float)));
        if (o->kind == CLI_CHOICE) CLI_CHECK(o->choices && o->size == sizeof(int));
        if (o->required) CLI_CHECK(o->kind == CLI_STR || o->kind == CLI_STRS || o->kind == CLI_POS);
    }
    CLI_CHECK(n_pos <= 1);
}

/* The row a getopt value stands for, or NULL. */
static const cli_opt *row_of(const cli_cmd *cmd, int val) {
    if (val >= CLI_VAL_LONG && (size_t)(val - CLI_VAL_LONG) < cmd->n_opts)
        return &cmd->opts[val - CLI_VAL_LONG];
    for (size_t i = 0; i < cmd->n_opts && val > 0; i++)
        if (is_option(&cmd->opts[i]) && cmd->opts[i].short_name == val) return &cmd->opts[i];
    return NULL;
}

/* The long option as typed, without "=value": "--frob". */
static const char *long_typed(const char *arg, char *buf, size_t cap) {
    snprintf(buf, cap, "%s", arg);
    char *eq = strchr(buf, '=');
    if (eq) *eq = '\0';
    return buf;
}

/* "-m MODEL" or "--system TEXT": how a missing option is named. */
static void print_missing(const cli_cmd *cmd, const cli_opt *o) {
    if (o->kind == CLI_POS)
        fprintf(stderr, "jang %s: %s is required\n", cmd->name, o->name);
    else if (o->short_name)
        fprintf(stderr, "jang %s: -%c %s is required\n", cmd->name, o->short_name,
                o->meta ? o->meta : "");
    else
        fprintf(stderr, "jang %s: --%s %s is required\n", cmd->name, o->name,
                o->meta ? o->meta : "");
}

int cli_parse(const cli_cmd *cmd, void *dst, int argc, char **argv) {
    check_table(cmd);
    char *base = dst;
    /* ':' first: a missing value returns ':' rather than '?'. No '+' or '-': getopt permutes
     * argv, so options may follow the positional argument ("--" ends the options) */
    char shorts[3 * CLI_MAX_OPTS + 8] = ":h";
    struct option longs[CLI_MAX_OPTS + 2];
    size_t ns = strlen(shorts), nl = 0;
    bool seen[CLI_MAX_OPTS] = {0};
    for (size_t i = 0; i < cmd->n_opts; i++) {
        const cli_opt *o = &cmd->opts[i];
        if (!is_option(o)) continue;
        int val = o->short_name ? o->short_name : CLI_VAL_LONG + (int)i;
        longs[nl++] =
            (struct option){o->name, takes_value(o) ? required_argument : no_argument, NULL, val};
        if (o->short_name) {
            shorts[ns++] = o->short_name;
            if (takes_value(o)) shorts[ns++] = ':';
        }
    }
    shorts[ns] = '\0';
    longs[nl++] = (struct option){"help", no_argument, NULL, 'h'};
    longs[nl] = (struct option){NULL, 0, NULL, 0};

    optind = 0; /* a full re-initialisation of glibc's getopt */
    opterr = 0; /* the messages are ours */
    char typed[128];
    for (;;) {
        int li = -1;
        int c = getopt_long(argc, argv, shorts, longs, &li);
        if (c == -1) break;
        if (c == 'h') {
            cli_usage(cmd, stdout);
            return CLI_HELP;
        }
        if (c == '?' || c == ':') {
            /* optopt: the option's value (0 for an unknown long option); argv[optind - 1]: the
             * argument getopt just read, when it was a long option */
            const char *last = optind > 0 && optind <= argc ? argv[optind - 1] : "";
            const cli_opt *o = optopt ? row_of(cmd, optopt) : NULL;
            if ((o || !optopt) && !strncmp(last, "--", 2))
                long_typed(last, typed, sizeof typed);
            else
                snprintf(typed, sizeof typed, "-%c", optopt);
            int n_match = 0; /* getopt takes an unambiguous prefix of a long name */
            char names[256] = "";
            bool is_long = !optopt && !strncmp(typed, "--", 2);
            for (size_t i = 0, len = 0; is_long && i + 1 < nl && len < sizeof names; i++)
                if (!strncmp(longs[i].name, typed + 2, strlen(typed + 2)))
                    len += (size_t)snprintf(names + len, sizeof names - len, "%s--%s",
                                            n_match++ ? ", " : "", longs[i].name);
            if (c == ':')
                fprintf(stderr, "jang %s: %s needs a value\n", cmd->name, typed);
            else if (o)
                fprintf(stderr, "jang %s: %s takes no value\n", cmd->name, typed);
            else if (n_match > 1)
                fprintf(stderr, "jang %s: ambiguous option '%s' (%s)\n", cmd->name, typed, names);
            else {
                fprintf(stderr, "jang %s: unknown option '%s'\n", cmd->name, typed);
                cli_usage(cmd, stderr);
            }
            return 2;
        }
        const cli_opt *o = row_of(cmd, c);
        CLI_CHECK(o);
        if (li >= 0)
            snprintf(typed, sizeof typed, "--%s", o->name);
        else
            snprintf(typed, sizeof typed, "-%c", o->short_name);
        if (!store(cmd, o, typed, optarg, base)) return 2;
        seen[o - cmd->opts] = true;
    }
    const cli_opt *pos = NULL;
    for (size_t i = 0; i < cmd->n_opts; i++)
        if (cmd->opts[i].kind == CLI_POS) pos = &cmd->opts[i];
    for (int i = optind; i < argc; i++) {
        if (!pos) {
            fprintf(stderr, "jang %s: unexpected argument '%s'\n", cmd->name, argv[i]);
            cli_usage(cmd, stderr);
            return 2;
        }
        if (seen[pos - cmd->opts]) {
            const char *prev;
            memcpy(&prev, base + pos->offset, sizeof prev);
            fprintf(stderr, "jang %s: more than one %s ('%s' and '%s')\n", cmd->name, pos->name,
                    prev, argv[i]);
            return 2;
        }
        store(cmd, pos, pos->name, argv[i], base);
        seen[pos - cmd->opts] = true;
    }
    for (size_t i = 0; i < cmd->n_opts; i++)
        if (cmd->opts[i].required && !seen[i]) {
            print_missing(cmd, &cmd->opts[i]);
            cli_usage(cmd, stderr);
            return 2;
        }
    return 0;
}
