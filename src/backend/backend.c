/* backend.c — the registry of backends (by name) and the op names. A new backend adds its table
 * to `backends` below (a CUDA one only when built with it). Tested by tests/test_backend.c.
 */
#include "backend.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const char *const op_names[] = {
#define JANG_X_(e, s) s,
    JANG_OP_MAP(JANG_X_)
#undef JANG_X_
};
_Static_assert(sizeof op_names / sizeof op_names[0] == JANG_OP_COUNT, "an op without its name");

const char *jang_op_name(jang_op op) { return (unsigned)op < JANG_OP_COUNT ? op_names[op] : "?"; }

static const jang_backend_i *const backends[] = {
    &jang_backend_cpu,
#ifdef JANG_CUDA
    &jang_backend_cuda,
#endif
};

/* "cpu, cuda": the names of backends[], made once. */
static char names[64];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;
static void names_make(void) {
    size_t len = 0;
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "",
                                backends[i]->name);
}

const char *jang_build_backends(void) {
    pthread_once(&names_once, names_make);
    return names;
}

const char *jang_backend_names(void) { return jang_build_backends(); }

const jang_backend_i *jang_backend_find(const char *name) {
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (name && !strcmp(name, backends[i]->name)) return backends[i];
    char buf[64];
    jang_fail(JANG_E_ARG, "backend '%s': unknown (built in: %s%s)",
              jang_printable(name ? name : "", name ? strlen(name) : 0, buf, sizeof buf),
              jang_build_backends(),
              name && !strcmp(name, "cuda") ? "; the CUDA backend needs a `make CUDA=1` build"
                                            : "");
    return NULL;
}
