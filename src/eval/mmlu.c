/* mmlu.c — MMLU from the CSV splits (DIR/test/<subject>_test.csv, DIR/dev/<subject>_dev.csv).
 *
 * jang200 (DESIGN §5, jang_tools.benchmark): the first 20 test questions of 10 subjects; the user
 * message "{question}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\nAnswer with just the letter (A, B, C, or
 * D)." goes through the chat template, up to 30 greedy tokens are generated, and the letter is
 * found by jang_tools' _extract_answer. full: every subject, 5-shot from the dev split in the
 * standard format (Hendrycks et al., lm-eval-harness), the answer being the letter whose " X"
 * continuation of "Answer:" has the highest log-likelihood.
 * Tested by tests/test_eval.c (CSV quoting, prompts, the answer extractor, a tiny end-to-end run).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "eval_internal.h"
#include "util.h"

#include <dirent.h>
#include <math.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

static const char *const jang200_subjects[] = {"abstract_algebra",
                                               "anatomy",
                                               "astronomy",
                                               "college_computer_science",
                                               "college_physics",
                                               "high_school_biology",
                                               "high_school_chemistry",
                                               "high_school_mathematics",
                                               "logical_fallacies",
                                               "world_religions"};
enum { JANG200_PER_SUBJECT = 20, FULL_SHOTS = 5 };

const char *jang_mmlu_protocol_name(jang_mmlu_protocol p) {
    switch (p) {
#define JANG_X_(e, s)                                                                              \
    case JANG_MMLU_##e:                                                                            \
        return s;
        JANG_MMLU_PROTOCOL_MAP(JANG_X_)
#undef JANG_X_
    }
    return "?";
}

bool jang_mmlu_protocol_parse(const char *s, jang_mmlu_protocol *out) {
#define JANG_X_(e, n)                                                                              \
    if (s && !strcmp(s, n)) {                                                                      \
        *out = JANG_MMLU_##e;                                                                      \
        return true;                                                                               \
    }
    JANG_MMLU_PROTOCOL_MAP(JANG_X_)
#undef JANG_X_
    return false;
}

/* ---- a growable string ----------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t len) {
    if (b->oom) return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}
static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* ---- CSV ------------------------------------------------------------------------------------- */

static void item_free(jang_mmlu_item *it) {
    free(it->question);
    for (int j = 0; j < 4; j++)
        free(it->choices[j]);
}

/* RFC 4180: fields split by ',', records by LF or CRLF, "quoted" fields may hold commas, line
 * breaks and "" for a quote. Each record: question, 4 choices, answer (0-3 or A-D); a header
 * record "question,...,answer" and blank lines are skipped. */
static jang_status parse_csv(const char *path, const char *t, size_t len, int64_t limit,
                             jang_mmlu_item **out, int64_t *n_out) {
    jang_mmlu_item *items = NULL;
    int64_t n = 0, cap = 0, line = 1, rec_line = 1;
    sbuf f[7] = {{0}};
    int nf = 0;
    jang_status s = JANG_OK;
    size_t i = 0;
    bool done = false;
    while (!done) {
        /* one field */
        sbuf *fb = &f[nf < 7 ? nf : 6];
        fb->n = 0;
        sb_add(fb, "", 0);
        if (i < len && t[i] == '"') {
            i++;
            for (;;) {
                if (i >= len) {
                    s = jang_fail(JANG_E_FORMAT, "%s:%lld: unterminated quoted field", path,
                                  (long long)rec_line);
                    goto fail;
                }
                if (t[i] == '"') {
                    if (i + 1 < len && t[i + 1] == '"') {
                        sb_add(fb, "\"", 1);
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                if (t[i] == '\n') line++;
                sb_add(fb, t + i, 1);
                i++;
            }
            if (i < len && t[i] != ',' && t[i] != '\n' && t[i] != '\r') {
                s = jang_fail(JANG_E_FORMAT, "%s:%lld: text after a closing quote", path,
                              (long long)line);
                goto fail;
            }
        } else {
            size_t j = i;
            while (j < len && t[j] != ',' && t[j] != '\n' && t[j] != '\r')
                j++;
            sb_add(fb, t + i, j - i);
            i = j;
        }
        nf++;
        if (i < len && t[i] == ',') {
            i++;
            continue;
        }
        /* end of record */
        if (i < len && t[i] == '\r') i++;
        if (i < len && t[i] == '\n') i++;
        done = i >= len;
        for (int k = 0; k < 7; k++)
            if (f[k].oom) {
                s = jang_fail(JANG_E_NOMEM, "%s: out of memory", path);
                goto fail;
            }
        bool blank = nf == 1 && f[0].n == 0;
        bool header = nf == 6 && !strcmp(f[0].p, "question") && !strcmp(f[5].p, "answer");
        if (!blank && !header) {
            if (nf != 6) {
                s = jang_fail(JANG_E_FORMAT,
                              "%s:%lld: %d fields, expected 6 (question, 4 "
                              "choices, answer)",
                              path, (long long)rec_line, nf);
                goto fail;
            }
            const char *a = f[5].p;
            int ans = -1;
            if (a[0] && !a[1]) {
                if (a[0] >= '0' && a[0] <= '3') ans = a[0] - '0';
                if (a[0] >= 'A' && a[0] <= 'D') ans = a[0] - 'A';
            }
            if (ans < 0) {
                char buf[64];
                s = jang_fail(JANG_E_FORMAT, "%s:%lld: answer '%s' is not 0-3 or A-D", path,
                              (long long)rec_line, jang_printable(a, strlen(a), buf, sizeof buf));
                goto fail;
            }
            if (limit <= 0 || n < limit) {
                if (n == cap) {
                    cap = cap ? 2 * cap : 64;
                    jang_mmlu_item *ni = realloc(items, (size_t)cap * sizeof *ni);
                    if (!ni) {
                        s = jang_fail(JANG_E_NOMEM, "%s: out of memory", path);
                        goto fail;
                    }
                    items = ni;
                }
                jang_mmlu_item *it = &items[n];
                memset(it, 0, sizeof *it);
                it->answer = ans;
                it->question = jang_strdup(f[0].p);
                for (int k = 0; k < 4; k++)
                    it->choices[k] = jang_strdup(f[k + 1].p);
                n++;
                if (!it->question || !it->choices[0] || !it->choices[1] || !it->choices[2] ||
                    !it->choices[3]) {
                    s = jang_fail(JANG_E_NOMEM, "%s: out of memory", path);
                    goto fail;
                }
            }
        }
        nf = 0;
        line++;
        rec_line = line;
    }
    for (int k = 0; k < 7; k++)
        free(f[k].p);
    *out = items;
    *n_out = n;
    return JANG_OK;
fail:
    for (int k = 0; k < 7; k++)
        free(f[k].p);
    for (int64_t k = 0; k < n; k++)
        item_free(&items[k]);
    free(items);
    return s;
}

static jang_status load_csv(const char *dir, const char *split, const char *subject, int64_t limit,
                            jang_mmlu_item **items, int64_t *n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s_%s.csv", dir, split, subject, split);
    char *text = NULL;
    size_t len = 0;
    jang_status s = jang_read_file(path, (size_t)64 << 20, &text, &len);
    if (s) return s;
    s = parse_csv(path, text, len, limit, items, n);
    free(text);
    if (!s && *n == 0) s = jang_fail(JANG_E_FORMAT, "%s: no questions", path);
    return s;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The subjects with a DIR/test/<name>_test.csv, sorted. */
static jang_status list_subjects(const char *dir, char ***out, int64_t *n_out) {
    char path[1024];
    snprintf(path, sizeof path, "%s/test", dir);
    DIR *d = opendir(path);
    if (!d) return jang_fail(JANG_E_NOTFOUND, "%s: cannot open the MMLU test split", path);
    char **names = NULL;
    int64_t n = 0, cap = 0;
    struct dirent *e;
    jang_status s = JANG_OK;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l <= 9 || strcmp(e->d_name + l - 9, "_test.csv") != 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) {
                s = jang_fail(JANG_E_NOMEM, "out of memory");
                break;
            }
            names = nn;
        }
        if (!(names[n] = jang_strndup(e->d_name, l - 9))) {
            s = JANG_E_NOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (!s && n == 0) s = jang_fail(JANG_E_NOTFOUND, "%s: no *_test.csv files", path);
    if (s) {
        for (int64_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return s;
    }
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    *out = names;
    *n_out = n;
    return JANG_OK;
}

void jang_mmlu_free(jang_mmlu *d) {
    if (!d) return;
    for (int64_t s = 0; s < d->n_subjects; s++) {
        jang_mmlu_subject *sj = &d->subjects[s];
        for (int64_t i = 0; i < sj->n_test; i++)
            item_free(&sj->test[i]);
        for (int64_t i = 0; i < sj->n_dev; i++)
            item_free(&sj->dev[i]);
        free(sj->test);
        free(sj->dev);
    }
    free(d->subjects);
    free(d);
}

jang_status jang_mmlu_load(const char *dir, jang_mmlu_protocol p, int64_t limit, jang_mmlu **out) {
    if (!out) return jang_fail(JANG_E_ARG, "jang_mmlu_load: out is NULL");
    *out = NULL;
    if (!dir) return jang_fail(JANG_E_ARG, "jang_mmlu_load: dir is NULL");
    if (!jang_is_dir(dir)) return jang_fail(JANG_E_NOTFOUND, "%s: no such directory", dir);
    jang_mmlu *d = jang_calloc(1, sizeof *d, "mmlu");
    if (!d) return JANG_E_NOMEM;
    d->protocol = p;
    char **names = NULL;
    int64_t n_names = 0;
    jang_status s = JANG_OK;
    if (p == JANG_MMLU_JANG200) {
        n_names = (int64_t)(sizeof jang200_subjects / sizeof jang200_subjects[0]);
    } else if ((s = list_subjects(dir, &names, &n_names))) {
        free(d);
        return s;
    }
    d->subjects = jang_calloc((size_t)n_names, sizeof *d->subjects, "mmlu");
    if (!d->subjects) {
        s = JANG_E_NOMEM;
        goto done;
    }
    int64_t per = p == JANG_MMLU_JANG200 ? JANG200_PER_SUBJECT : 0;
    if (limit > 0 && (per == 0 || limit < per)) per = limit;
    for (int64_t i = 0; i < n_names; i++) {
        jang_mmlu_subject *sj = &d->subjects[i];
        snprintf(sj->name, sizeof sj->name, "%s", names ? names[i] : jang200_subjects[i]);
        d->n_subjects = i + 1;
        if ((s = load_csv(dir, "test", sj->name, per, &sj->test, &sj->n_test))) goto done;
        if (p == JANG_MMLU_FULL &&
            (s = load_csv(dir, "dev", sj->name, FULL_SHOTS, &sj->dev, &sj->n_dev)))
            goto done;
    }
done:
    for (int64_t i = 0; names && i < n_names; i++)
        free(names[i]);
    free(names);
    if (s) {
        jang_mmlu_free(d);
        return s;
    }
    *out = d;
    return JANG_OK;
}

/* ---- prompts --------------------------------------------------------------------------------- */

static void add_question(sbuf *b, const jang_mmlu_item *it) {
    static const char *const L[4] = {"\nA. ", "\nB. ", "\nC. ", "\nD. "};
    sb_str(b, it->question);
    for (int j = 0; j < 4; j++) {
        sb_str(b, L[j]);
        sb_str(b, it->choices[j]);
    }
}

jang_status jang_mmlu_prompt(const jang_mmlu *d, int64_t s, int64_t i, char **out) {
    if (!d || !out || s < 0 || s >= d->n_subjects || i < 0 || i >= d->subjects[s].n_test)
        return jang_fail(JANG_E_ARG, "jang_mmlu_prompt: no question %lld of subject %lld",
                         (long long)i, (long long)s);
    *out = NULL;
    const jang_mmlu_subject *sj = &d->subjects[s];
    sbuf b = {0};
    if (d->protocol == JANG_MMLU_JANG200) {
        add_question(&b, &sj->test[i]);
        sb_str(&b, "\nAnswer with just the letter (A, B, C, or D).");
    } else {
        sb_str(&b, "The following are multiple choice questions (with answers) about ");
        for (const char *c = sj->name; *c; c++)
            sb_add(&b, *c == '_' ? " " : c, 1);
        sb_str(&b, ".\n\n");
        for (int64_t k = 0; k < sj->n_dev; k++) {
            add_question(&b, &sj->dev[k]);
            char ans[16];
            snprintf(ans, sizeof ans, "\nAnswer: %c\n\n", 'A' + sj->dev[k].answer);
            sb_str(&b, ans);
        }
        add_question(&b, &sj->test[i]);
        sb_str(&b, "\nAnswer:");
    }
    if (b.oom) {
        free(b.p);
        return jang_fail(JANG_E_NOMEM, "mmlu prompt: out of memory");
    }
    *out = b.p;
    return JANG_OK;
}

/* ---- the answer extractor (jang_tools.benchmark._extract_answer, thinking off) ----------------
 */

/* Group 1 of the first match of pattern (caseless, multiline, Unicode), or -1. */
static int match_letter(const char *pattern, const char *s, size_t n) {
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_CASELESS | PCRE2_MULTILINE | PCRE2_UTF | PCRE2_UCP |
                                       PCRE2_MATCH_INVALID_UTF,
                                   &err, &off, NULL);
    JANG_ASSERT(re);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int r = -1;
    if (md && pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, md, NULL) >= 2) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        char c = s[ov[2]];
        if (c >= 'a' && c <= 'd') c = (char)(c - 'a' + 'A');
        if (c >= 'A' && c <= 'D') r = c - 'A';
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return r;
}

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int letter_of(char c) {
    if (c >= 'a' && c <= 'd') return c - 'a';
    if (c >= 'A' && c <= 'D') return c - 'A';
    return -1;
}

int jang_mmlu_extract_answer(const char *response) {
    if (!response) return -1;
    /* clean = response.replace("<|im_end|>", "").strip() */
    size_t len = strlen(response);
    char *clean = malloc(len + 1);
    if (!clean) return -1;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (!strncmp(response + i, "<|im_end|>", 10)) {
            i += 10;
            continue;
        }
        clean[n++] = response[i++];
    }
    clean[n] = '\0';
    size_t b = 0;
    while (b < n && is_space(clean[b]))
        b++;
    while (n > b && is_space(clean[n - 1]))
        n--;
    const char *c = clean + b;
    n -= b;
    static const char *const patterns[] = {
        "(?:answer|option|correct)\\s*(?:is|:)\\s*\\(?([A-D])\\)?",
        "\\b([A-D])\\.\\s*$",
        "^\\s*([A-D])\\s*$",
        "\\*\\*([A-D])\\*\\*",
        "\\\\boxed\\{([A-D])\\}",
    };
    int r = -1;
    for (size_t k = 0; k < sizeof patterns / sizeof patterns[0] && r < 0; k++)
        r = match_letter(patterns[k], c, n);
    /* the last A-D (any case) of the last 50 characters, then the first anywhere */
    if (r < 0) {
        size_t start = n, chars = 0;
        while (start > 0 && chars < 50) {
            start--;
            if (((unsigned char)c[start] & 0xC0) != 0x80) chars++;
        }
        for (size_t i = n; r < 0 && i > start; i--)
            r = letter_of(c[i - 1]);
    }
    for (size_t i = 0; r < 0 && i < n; i++)
        r = letter_of(c[i]);
    free(clean);
    return r;
}

/* ---- the run --------------------------------------------------------------------------------- */

void jang_mmlu_opts_init(jang_mmlu_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_new = 30;
}

static bool stop_eog(void *ud, int32_t tok) { return jang_tokenizer_is_eog(ud, tok); }

/* Keeps the last max tokens of ids (left truncation); true when it cut. */
static bool keep_last_tokens(int32_t **ids, int64_t *n, int64_t max) {
    if (*n <= max) return false;
    memmove(*ids, *ids + (*n - max), (size_t)max * sizeof(int32_t));
    *n = max;
    return true;
}

static jang_status run_jang200(jang_scorer *sc, const jang_tokenizer *t, const char *prompt,
                               const jang_mmlu_opts *o, int *pred, char **response,
                               bool *truncated) {
    char *chat = NULL;
    int32_t *ids = NULL, *gen = NULL;
    int64_t n = 0, n_gen = 0;
    jang_status s = jang_chat_apply(o->chat, NULL, prompt, &chat);
    if (s) goto done;
    if ((s = jang_tokenizer_encode(t, chat, strlen(chat),
                                   JANG_ENCODE_ADD_SPECIAL | JANG_ENCODE_PARSE_SPECIAL, &ids, &n)))
        goto done;
    int64_t max_new = o->max_new > 0 ? o->max_new : 30;
    int64_t room = jang_scorer_max_ctx(sc) - max_new;
    if (room < 1) {
        s = jang_fail(JANG_E_ARG, "the context (%lld) leaves no room for %lld answer tokens",
                      (long long)jang_scorer_max_ctx(sc), (long long)max_new);
        goto done;
    }
    *truncated = keep_last_tokens(&ids, &n, room);
    gen = malloc((size_t)max_new * sizeof(int32_t));
    if (!gen) {
        s = jang_fail(JANG_E_NOMEM, "out of memory");
        goto done;
    }
    if ((s = jang_scorer_greedy(sc, ids, n, max_new, stop_eog, (void *)t, gen, &n_gen))) goto done;
    if (n_gen > 0 && jang_tokenizer_is_eog(t, gen[n_gen - 1])) n_gen--;
    /* ids past the tokenizer's vocabulary (padded output matrices) have no text */
    int64_t kept = 0;
    for (int64_t k = 0; k < n_gen; k++)
        if (gen[k] < jang_tokenizer_n_vocab(t)) gen[kept++] = gen[k];
    n_gen = kept;
    size_t len;
    if ((s = jang_tokenizer_decode(t, gen, n_gen, 0, response, &len))) goto done;
    *pred = jang_mmlu_extract_answer(*response);
done:
    free(chat);
    free(ids);
    free(gen);
    return s;
}

static jang_status run_full(jang_scorer *sc, const jang_tokenizer *t, const char *prompt, int *pred,
                            bool *truncated) {
    int32_t *ctx = NULL, *whole = NULL;
    int64_t n_ctx = 0, n_whole = 0;
    jang_status s =
        jang_tokenizer_encode(t, prompt, strlen(prompt), JANG_ENCODE_ADD_SPECIAL, &ctx, &n_ctx);
    if (s) return s;
    size_t plen = strlen(prompt);
    char *text = malloc(plen + 3);
    if (!text) {
        free(ctx);
        return jang_fail(JANG_E_NOMEM, "out of memory");
    }
    memcpy(text, prompt, plen);
    double best = -INFINITY;
    *pred = -1;
    *truncated = false;
    for (int j = 0; j < 4; j++) {
        /* tokenize prompt + " X" whole; the continuation is what follows the shared prefix */
        text[plen] = ' ';
        text[plen + 1] = (char)('A' + j);
        text[plen + 2] = '\0';
        if ((s = jang_tokenizer_encode(t, text, plen + 2, JANG_ENCODE_ADD_SPECIAL, &whole,
                                       &n_whole)))
            break;
        int64_t lcp = 0;
        while (lcp < n_ctx && lcp < n_whole && ctx[lcp] == whole[lcp])
            lcp++;
        if (lcp == n_whole || lcp == 0) {
            s = jang_fail(JANG_E_FORMAT, "the answer letter does not tokenize after the prompt");
            break;
        }
        int64_t n_cont = n_whole - lcp, n_keep = lcp;
        int32_t *cp = whole;
        if (n_keep + n_cont - 1 > jang_scorer_max_ctx(sc)) {
            int64_t cut = n_keep + n_cont - 1 - jang_scorer_max_ctx(sc);
            cp += cut;
            n_keep -= cut;
            *truncated = true;
            if (n_keep < 1) {
                s = jang_fail(JANG_E_ARG, "context too small for the answer");
                break;
            }
        }
        double ll;
        if ((s = jang_scorer_loglik(sc, cp, n_keep, whole + lcp, n_cont, &ll, NULL))) break;
        if (ll > best) {
            best = ll;
            *pred = j;
        }
        free(whole);
        whole = NULL;
    }
    free(whole);
    free(ctx);
    free(text);
    return s;
}

jang_status jang_mmlu_run(jang_context *m, const jang_tokenizer *t, jang_mmlu *d,
                          const jang_mmlu_opts *o, int64_t *n_truncated) {
    if (!m || !t || !d || !o) return jang_fail(JANG_E_ARG, "jang_mmlu_run: NULL argument");
    if (d->protocol == JANG_MMLU_JANG200 && !o->chat)
        return jang_fail(JANG_E_ARG, "the jang200 protocol needs the model's chat format");
    jang_scorer *sc = NULL;
    jang_status s = jang_scorer_init(m, 512, &sc);
    if (s) return s;
    int64_t n_trunc = 0;
    for (int64_t si = 0; si < d->n_subjects && !s; si++) {
        jang_mmlu_subject *sj = &d->subjects[si];
        sj->n_correct = sj->n_answered = 0;
        for (int64_t i = 0; i < sj->n_test; i++) {
            char *prompt = NULL, *response = NULL;
            int pred = -1;
            bool trunc = false;
            if ((s = jang_mmlu_prompt(d, si, i, &prompt))) break;
            if (d->protocol == JANG_MMLU_JANG200)
                s = run_jang200(sc, t, prompt, o, &pred, &response, &trunc);
            else
                s = run_full(sc, t, prompt, &pred, &trunc);
            free(prompt);
            if (s) {
                free(response);
                char why[512];
                snprintf(why, sizeof why, "%s", jang_last_error());
                s = jang_fail(s, "%s question %lld: %s", sj->name, (long long)i + 1, why);
                break;
            }
            n_trunc += trunc;
            sj->n_answered++;
            sj->n_correct += pred == sj->test[i].answer;
            if (o->on_item) o->on_item(o->ud, d, si, i, pred, response);
            free(response);
        }
    }
    jang_scorer_free(sc);
    if (n_truncated) *n_truncated = n_trunc;
    return s;
}
