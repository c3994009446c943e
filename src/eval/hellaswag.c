/* hellaswag.c — the 2-way HellaSwag pairs of ../shared/data/hellaswag-ppl: line i of
 * <name>_correct.txt* and <name>_wrong.txt* is the same context with its correct and its first
 * wrong ending. Each line is tokenized on its own (BOS when the tokenizer adds one) and scored by
 * its total log-likelihood from the second token on; the pair is right when the correct line
 * scores higher. The context is shared, so its tokens score the same in both lines and the
 * comparison is that of the endings given the context (up to the token at the seam); the scorer
 * runs the shared prefix once.
 * Tested by tests/test_eval.c (loading, a tiny end-to-end run).
 */
#include "eval_internal.h"
#include "util.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static void free_lines(char **l, int64_t n) {
    for (int64_t i = 0; l && i < n; i++)
        free(l[i]);
    free(l);
}

/* Lines of a file (LF or CRLF; a last line without LF counts; no empty trailing line). */
static jang_status read_lines(const char *path, int64_t limit, char ***out, int64_t *n_out) {
    char *text = NULL;
    size_t len = 0;
    jang_status s = jang_read_file(path, (size_t)256 << 20, &text, &len);
    if (s) return s;
    char **lines = NULL;
    int64_t n = 0, cap = 0;
    for (size_t i = 0; i < len && (limit <= 0 || n < limit);) {
        size_t j = i;
        while (j < len && text[j] != '\n')
            j++;
        size_t e = j > i && text[j - 1] == '\r' ? j - 1 : j;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            char **nl = realloc(lines, (size_t)cap * sizeof *nl);
            if (!nl) {
                s = jang_fail(JANG_E_NOMEM, "%s: out of memory", path);
                break;
            }
            lines = nl;
        }
        if (!(lines[n] = jang_strndup(text + i, e - i))) {
            s = jang_fail(JANG_E_NOMEM, "%s: out of memory", path);
            break;
        }
        n++;
        i = j + 1;
    }
    free(text);
    if (s) {
        free_lines(lines, n);
        return s;
    }
    *out = lines;
    *n_out = n;
    return JANG_OK;
}

void jang_hellaswag_free(jang_hellaswag *h) {
    if (!h) return;
    free_lines(h->correct, h->n);
    free_lines(h->wrong, h->n);
    free(h);
}

jang_status jang_hellaswag_load(const char *dir, int64_t limit, jang_hellaswag **out) {
    if (!out) return jang_fail(JANG_E_ARG, "jang_hellaswag_load: out is NULL");
    *out = NULL;
    if (!dir) return jang_fail(JANG_E_ARG, "jang_hellaswag_load: dir is NULL");
    DIR *d = opendir(dir);
    if (!d) return jang_fail(JANG_E_NOTFOUND, "%s: cannot open the HellaSwag directory", dir);
    /* the first (by name) file with "_correct.txt" in its name */
    char best[256] = "";
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, "_correct.txt") && strlen(e->d_name) < sizeof best &&
            (!best[0] || strcmp(e->d_name, best) < 0))
            snprintf(best, sizeof best, "%s", e->d_name);
    closedir(d);
    if (!best[0]) return jang_fail(JANG_E_NOTFOUND, "%s: no *_correct.txt* file", dir);
    jang_hellaswag *h = jang_calloc(1, sizeof *h, "hellaswag");
    if (!h) return JANG_E_NOMEM;
    const char *c = strstr(best, "_correct.txt");
    snprintf(h->correct_path, sizeof h->correct_path, "%s/%s", dir, best);
    snprintf(h->wrong_path, sizeof h->wrong_path, "%s/%.*s_wrong%s", dir, (int)(c - best), best,
             c + strlen("_correct"));
    int64_t nc = 0, nw = 0;
    jang_status s = read_lines(h->correct_path, limit, &h->correct, &nc);
    if (!s) s = read_lines(h->wrong_path, limit, &h->wrong, &nw);
    h->n = nc > nw ? nc : nw; /* for freeing; both arrays hold at least min(nc, nw) lines */
    if (!s && nc != nw)
        s = jang_fail(JANG_E_FORMAT, "%s has %lld lines, %s %lld: the pairs do not line up",
                      h->correct_path, (long long)nc, h->wrong_path, (long long)nw);
    if (!s && nc == 0) s = jang_fail(JANG_E_FORMAT, "%s: no lines", h->correct_path);
    if (s) {
        free_lines(h->correct, nc);
        free_lines(h->wrong, nw);
        free(h);
        return s;
    }
    *out = h;
    return JANG_OK;
}

/* Total log-likelihood of a line from its second token on. */
static jang_status score_line(jang_scorer *sc, const jang_tokenizer *t, const char *line,
                              int64_t idx, double *ll) {
    int32_t *ids = NULL;
    int64_t n = 0;
    jang_status s = jang_tokenizer_encode(t, line, strlen(line), JANG_ENCODE_ADD_SPECIAL, &ids, &n);
    if (s) return s;
    if (n < 2)
        s = jang_fail(JANG_E_FORMAT, "line %lld gives %lld token(s); nothing to score",
                      (long long)idx + 1, (long long)n);
    else
        s = jang_scorer_loglik(sc, ids, 1, ids + 1, n - 1, ll, NULL);
    free(ids);
    return s;
}

jang_status jang_hellaswag_run(jang_context *m, const jang_tokenizer *t, const jang_hellaswag *h,
                               void (*on_pair)(void *ud, int64_t i, double ll_correct,
                                               double ll_wrong,
                                               const jang_hellaswag_result *so_far),
                               void *ud, jang_hellaswag_result *out) {
    if (!m || !t || !h || !out) return jang_fail(JANG_E_ARG, "jang_hellaswag_run: NULL argument");
    memset(out, 0, sizeof *out);
    jang_scorer *sc = NULL;
    jang_status s = jang_scorer_init(m, 512, &sc);
    if (s) return s;
    for (int64_t i = 0; i < h->n; i++) {
        double lc, lw;
        if ((s = score_line(sc, t, h->correct[i], i, &lc)) ||
            (s = score_line(sc, t, h->wrong[i], i, &lw)))
            break;
        out->n++;
        out->n_correct += lc > lw;
        if (on_pair) on_pair(ud, i, lc, lw, out);
    }
    jang_scorer_free(sc);
    return s;
}
