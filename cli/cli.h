/* cli.h — shared declarations of the jang command-line tool: one function per subcommand.
 * cli/ sees only include/jang.h; it is the only place that prints to stdout or exits. */
#ifndef JANG_CLI_H
#define JANG_CLI_H

#include "jang.h"

int cmd_inspect(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_validate(int argc, char **argv);

/* Prints "jang <cmd>: <status message>: <detail>" to stderr and returns 1. */
int cli_error(const char *cmd, jang_status s);

#endif
