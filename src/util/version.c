/* version.c — the library's version (JANG_VERSION_* in include/jang.h) and the backends this build
 * holds, for `jang --version` and programs linked against libjang. Tested by tests/test_cli.c
 * (cli_version) and `make check-install`.
 */
#include "jang.h"

const char *jang_version(void) { return JANG_VERSION_STRING; }

/* The same condition that adds the CUDA table to the registry in src/backend/backend.c. */
const char *jang_build_backends(void) {
#ifdef JANG_CUDA
    return "cpu, cuda";
#else
    return "cpu";
#endif
}
