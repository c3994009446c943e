/* cli.h — shared declarations of the jang command-line tool: one function per subcommand.
 * cli/ sees only include/jang.h; it is the only place that prints to stdout or exits. Options are
 * parsed from a table per command by cli_opts.c (cli_opts.h). */
#ifndef JANG_CLI_H
#define JANG_CLI_H

#include "cli_opts.h"
#include "jang.h"

int cmd_convert(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_bench(int argc, char **argv);

int cmd_ppl(int argc, char **argv);
int cmd_mmlu(int argc, char **argv);
int cmd_hellaswag(int argc, char **argv);

/* Prints "jang <cmd>: <status message>: <detail>" to stderr and returns 1. */
int cli_error(const char *cmd, jang_status s);

/* cli_util.c: the tokenizer of a model path (the GGUF's vocabulary, or tokenizer.json in the
 * directory); the default evaluation data folder ../shared/data/<sub> (from the working
 * directory, else beside the binary), NULL when absent (buf then names the first place looked
 * at). */
jang_status cli_open_tokenizer(const char *path, jang_gguf **g, jang_tokenizer **tok);
/* What is wrong with a model path, said before anything opens it (so a tokenizer message never
 * hides it): "jang <cmd>: PATH: No such file or directory" (errno's message), "not a GGUF file",
 * or "not a model directory (no config.json)". Returns 0 when it may be a model, else 1 after the
 * message on stderr. */
int cli_check_model_path(const char *cmd, const char *path);
const char *cli_default_data(const char *sub, char *buf, size_t cap);
/* Seconds on the monotonic clock, for the commands' timings. */
double cli_now_s(void);
/* Progress of an evaluation on stderr: "what: done/total" and the text `extra`, redrawn in place
 * on a terminal; otherwise (a log file) one plain line at each tenth of the total, so logs stay
 * readable. Ends the line when done == total. */
void cli_progress(const char *what, int64_t done, int64_t total, const char *extra);

#endif
