/* cli_util.c — general helpers of the jang commands: the tokenizer of a model path, the default
 * data folders under ../shared/data, the check of a model path, the monotonic clock, progress lines
 * on stderr. (Options are parsed by cli_opts.c.) Tested through tests/test_cli.c and
 * tests/test_eval.c.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

jang_status cli_open_tokenizer(const char *path, jang_gguf **g, jang_tokenizer **tok) {
    *g = NULL;
    *tok = NULL;
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    bool gguf = f && fread(magic, 1, 4, f) == 4 && !memcmp(magic, "GGUF", 4);
    if (f) fclose(f);
    if (!gguf) return jang_tokenizer_from_hf(path, tok);
    jang_status s = jang_gguf_open(path, g);
    return s ? s : jang_tokenizer_from_gguf(*g, tok);
}

int cli_check_model_path(const char *cmd, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "jang %s: %s: %s\n", cmd, path, strerror(errno));
        return 1;
    }
    if (S_ISDIR(st.st_mode)) {
        char cfg[PATH_MAX];
        snprintf(cfg, sizeof cfg, "%s/config.json", path);
        if (stat(cfg, &st) == 0) return 0;
        fprintf(stderr, "jang %s: %s: not a model directory (no config.json)\n", cmd, path);
        return 1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "jang %s: %s: %s\n", cmd, path, strerror(errno));
        return 1;
    }
    char magic[4] = {0};
    bool gguf = fread(magic, 1, 4, f) == 4 && !memcmp(magic, "GGUF", 4);
    fclose(f);
    if (gguf) return 0;
    fprintf(stderr,
            "jang %s: %s: not a GGUF file (a model is a GGUF file or a directory with "
            "config.json)\n",
            cmd, path);
    return 1;
}

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *cli_default_data(const char *sub, char *buf, size_t cap) {
    /* from the repository root (where make and the docs run it), then beside the binary
     * (build/jang -> ../../shared) */
    snprintf(buf, cap, "../shared/data/%s", sub);
    if (is_dir(buf)) return buf;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(buf, cap, "%s/../../shared/data/%s", exe, sub);
            if (is_dir(buf)) return buf;
        }
    }
    snprintf(buf, cap, "../shared/data/%s", sub);
    return NULL;
}

void cli_progress(const char *what, int64_t done, int64_t total, const char *extra) {
    static int tty = -1;
    if (tty < 0) tty = isatty(STDERR_FILENO) == 1;
    if (tty) {
        fprintf(stderr, "\r%s: %lld/%lld%s", what, (long long)done, (long long)total, extra);
        if (done == total) fprintf(stderr, "\n");
        return;
    }
    /* a line when done crosses a tenth of total (and at the end) */
    if (total > 0 && done != total && done * 10 / total == (done - 1) * 10 / total) return;
    fprintf(stderr, "%s: %lld/%lld%s\n", what, (long long)done, (long long)total, extra);
}

double cli_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
