/* runner.c — runs every registered TEST (or those whose name contains argv[1]) and prints
 * "N passed, N failed" as its last line. Exit status 0 only when nothing failed. */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_TESTS 1024

static struct {
    const char *name;
    test_fn fn;
} tests[MAX_TESTS];
static int n_tests;
static int cur_failures;
static int cur_skipped;
static char tmpdir_root[256];
static char cur_tmpdir[512];

void test_register(const char *name, test_fn fn) {
    if (n_tests >= MAX_TESTS) {
        fprintf(stderr, "too many tests\n");
        abort();
    }
    tests[n_tests].name = name;
    tests[n_tests].fn = fn;
    n_tests++;
}

void test_fail_at(const char *file, int line, const char *fmt, ...) {
    if (cur_failures < 20) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stdout, "    %s:%d: ", file, line);
        vfprintf(stdout, fmt, ap);
        fputc('\n', stdout);
        va_end(ap);
    }
    cur_failures++;
}

void test_skip(const char *why) {
    if (!cur_skipped) fprintf(stdout, "    skipped: %s\n", why);
    cur_skipped = 1;
}

const char *test_data_path(const char *name) {
    static char buf[1024];
    const char *dir = getenv("JANG_TEST_DATA");
    snprintf(buf, sizeof buf, "%s/%s", dir ? dir : "tests/data", name);
    return buf;
}

const char *test_tmpdir(void) {
    if (!cur_tmpdir[0]) {
        static int k;
        snprintf(cur_tmpdir, sizeof cur_tmpdir, "%s/t%d", tmpdir_root, k++);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", cur_tmpdir);
        if (system(cmd) != 0) abort();
    }
    return cur_tmpdir;
}

static void cleanup(void) {
    if (tmpdir_root[0] && !getenv("JANG_TEST_KEEP")) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir_root);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir_root);
    }
}

static int cmp_tests(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir_root, sizeof tmpdir_root, "%s/jang-test-XXXXXX", t ? t : "/tmp");
    if (!mkdtemp(tmpdir_root)) {
        perror("mkdtemp");
        return 2;
    }
    atexit(cleanup);
    qsort(tests, (size_t)n_tests, sizeof tests[0], cmp_tests);
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < n_tests; i++) {
        if (filter && !strstr(tests[i].name, filter)) continue;
        cur_failures = 0;
        cur_skipped = 0;
        cur_tmpdir[0] = '\0';
        jang_clear_error();
        fprintf(stdout, "%-48s ", tests[i].name);
        fflush(stdout);
        tests[i].fn();
        if (cur_failures) {
            fprintf(stdout, "  FAIL (%d)\n", cur_failures);
            failed++;
        } else {
            fprintf(stdout, cur_skipped ? "  skip\n" : "  ok\n");
            passed++;
            skipped += cur_skipped;
        }
        fflush(stdout);
    }
    if (skipped)
        printf("%d passed, %d failed, %d skipped\n", passed - skipped, failed, skipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

static void slurp(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
}

bool run_jang(const char *args, run_result *r) {
    const char *bin = getenv("JANG_BIN");
    if (!bin) bin = "build/jang";
    char cmd[4096], o[600], e[600];
    snprintf(o, sizeof o, "%s/out.txt", test_tmpdir());
    snprintf(e, sizeof e, "%s/err.txt", test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>%s </dev/null", bin, args, o, e);
    int st = system(cmd);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    slurp(o, r->out, sizeof r->out);
    slurp(e, r->err, sizeof r->err);
    return r->status != 127;
}
