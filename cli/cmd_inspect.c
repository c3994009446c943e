/* cmd_inspect.c — `jang inspect PATH`: placeholder until the readers land. */
#include "cli.h"

#include <stdio.h>

int cmd_inspect(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "jang inspect: not implemented yet\n");
    return 2;
}
