/* test.h — the tiny test framework behind `make test`.
 *
 * A test is `TEST(name) { ... }` in any tests/test_*.c file; it registers itself at start-up.
 * CHECK(cond) records a failure with file:line and continues; REQUIRE(cond) also returns.
 * The runner (tests/runner.c) runs every test, or those whose name contains argv[1], and ends with
 * the line "N passed, N failed". Test data lives in tests/data (path from test_data_path()).
 */
#ifndef JANG_TEST_H
#define JANG_TEST_H

#include "jang.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
void test_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Path of a file under tests/data (static buffer, valid until the next call). */
const char *test_data_path(const char *name);
/* A fresh temporary directory for this test (removed at exit). */
const char *test_tmpdir(void);
/* Skips the rest of the current test with a message (counted as passed, reported as skipped). */
void test_skip(const char *why);

/* The built `jang` binary ($JANG_BIN, set by `make test`; build/jang otherwise) run with `args`
 * through the shell, stdin empty, stdout and stderr captured (truncated to the buffers). Returns
 * false when the binary is missing (status 127). */
typedef struct {
    int status; /* exit code, or 128 + signal */
    char out[65536];
    char err[16384];
} run_result;
bool run_jang(const char *args, run_result *r);

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void test_reg_##name(void) {                               \
        test_register(#name, test_##name);                                                         \
    }                                                                                              \
    static void test_##name(void)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) test_fail_at(__FILE__, __LINE__, "CHECK(%s)", #cond);                         \
    } while (0)
#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) test_fail_at(__FILE__, __LINE__, __VA_ARGS__);                                \
    } while (0)
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            test_fail_at(__FILE__, __LINE__, "REQUIRE(%s)", #cond);                                \
            return;                                                                                \
        }                                                                                          \
    } while (0)
/* Status checks print jang_last_error() on mismatch. */
#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        jang_status s_ = (expr);                                                                   \
        if (s_ != JANG_OK)                                                                         \
            test_fail_at(__FILE__, __LINE__, "%s -> %s: %s", #expr, jang_status_str(s_),           \
                         jang_last_error());                                                       \
    } while (0)
#define REQUIRE_OK(expr)                                                                           \
    do {                                                                                           \
        jang_status s_ = (expr);                                                                   \
        if (s_ != JANG_OK) {                                                                       \
            test_fail_at(__FILE__, __LINE__, "%s -> %s: %s", #expr, jang_status_str(s_),           \
                         jang_last_error());                                                       \
            return;                                                                                \
        }                                                                                          \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) test_fail_at(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);  \
    } while (0)
#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                     \
            test_fail_at(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,                 \
                         a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                  \
    } while (0)

#endif
