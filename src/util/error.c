/* error.c — status messages (from JANG_STATUS_MAP) and the thread-local error detail. */
#include "util.h"

#include <string.h>

static const char *const status_msgs[] = {
#define JANG_X_(name, msg) msg,
    JANG_STATUS_MAP(JANG_X_)
#undef JANG_X_
};

static _Thread_local char last_error[1024];

const char *jang_status_str(jang_status s) {
    if ((unsigned)s >= (unsigned)JANG_STATUS_COUNT) return "unknown status";
    return status_msgs[s];
}

const char *jang_last_error(void) { return last_error; }

void jang_clear_error(void) { last_error[0] = '\0'; }

jang_status jang_fail(jang_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}
