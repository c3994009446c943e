/* version.c — the library's version (JANG_VERSION_* in include/jang.h), for `jang --version` and
 * programs linked against libjang (the backends built in: jang_build_backends,
 * src/backend/backend.c). Tested by tests/test_cli.c (cli_version) and `make check-install`.
 */
#include "jang.h"

const char *jang_version(void) { return JANG_VERSION_STRING; }
