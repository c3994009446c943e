/* cmd_validate.c — `jang validate DIR`: is a JANG v2 / MLX quantized directory sound?
 *
 * Runs jang_dir_validate (files, index, quant, shapes, finite, manifest: see JANG_CHECK_MAP) and
 * one check of its own, "arch": config.json's description must pass the loader's description
 * check (jang_desc_from_hf_config runs jang_desc_check: bounded, consistent dimensions), and the
 * in_features of every attention/MLP/embedding module must be what that architecture says. The
 * description check lives in the model library (src/model/desc.c), which format/'s
 * jang_dir_validate may not include; this command composes the two. Stored shapes alone cannot
 * catch a config claiming (4 bits, g128) for a module written with (8 bits, g64): both give the
 * same shapes, but a different in_features. Prints one line per check with its first failures;
 * exit 0 when valid, 1 when not, 2 on bad usage. The list comes first, the summary last (stdout
 * flushed before the stderr line). A missing or broken config.json is one failure: the checks that
 * need it are skipped and counted. Tested by tests/test_jang_dir.c.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool name_has(const char *name, const char *part) { return strstr(name, part) != NULL; }

static const char *last_component(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : name;
}

/* in_features the architecture gives a module, or 0 when the name is not one we know. */
static int64_t expected_in(const jang_model_desc *d, const char *name) {
    const char *leaf = last_component(name);
    if (!strcmp(leaf, "q_proj") || !strcmp(leaf, "k_proj") || !strcmp(leaf, "v_proj") ||
        !strcmp(leaf, "gate_proj") || !strcmp(leaf, "up_proj") || !strcmp(leaf, "embed_tokens") ||
        !strcmp(leaf, "lm_head") || (!strcmp(leaf, "gate") && name_has(name, ".mlp.")))
        return d->dim;
    if (!strcmp(leaf, "o_proj")) return d->n_heads * d->head_dim;
    if (!strcmp(leaf, "down_proj")) {
        if (name_has(name, "shared_expert")) return d->shared_expert_ffn_dim;
        if (name_has(name, "experts") || name_has(name, "switch_mlp")) return d->moe_ffn_dim;
        return d->ffn_dim;
    }
    return 0;
}

typedef struct {
    int64_t checked, failed, skipped;
    int n_msgs;
    char msgs[JANG_CHECK_MAX_MSGS][512];
    char note[256];
} arch_result;

static void arch_fail(arch_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arch_fail(arch_result *r, const char *fmt, ...) {
    r->failed++;
    if (r->n_msgs >= JANG_CHECK_MAX_MSGS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msgs[r->n_msgs++], sizeof r->msgs[0], fmt, ap);
    va_end(ap);
}

static void check_arch(const char *dir, arch_result *r) {
    jang_model_desc d;
    jang_status s = jang_desc_from_hf_config(dir, &d);
    if (s == JANG_E_FORMAT) { /* the loader's own check (jang_desc_check) refuses it */
        r->checked++;
        arch_fail(r, "%s", jang_last_error());
        return;
    }
    if (s != JANG_OK) {
        snprintf(r->note, sizeof r->note, "skipped: config.json architecture not understood: %s",
                 jang_last_error());
        return;
    }
    jang_qmodel *m = NULL;
    if (jang_qmodel_open(dir, &m) != JANG_OK) {
        snprintf(r->note, sizeof r->note, "skipped: the directory does not open (see above)");
        return;
    }
    for (int64_t i = 0; i < jang_qmodel_count(m); i++) {
        const jang_qtensor *e = jang_qmodel_get(m, i);
        if (!e->quantized) continue;
        int64_t want = expected_in(&d, e->name);
        if (want <= 0) continue;
        r->checked++;
        if (e->cols != want)
            arch_fail(r,
                      "module '%s': %d bits, group %d give in_features %lld but config.json's %s "
                      "architecture needs %lld: bits and group size are wrong together",
                      e->name, e->bits, e->group, (long long)e->cols, jang_arch_name(d.arch),
                      (long long)want);
    }
    if (r->checked == 0) snprintf(r->note, sizeof r->note, "no module with a known in_features");
    jang_qmodel_close(m);
}

static void print_line(const char *name, bool ran, int64_t checked, int64_t failed, int64_t skipped,
                       const char *note, const char *desc) {
    const char *verdict = failed ? "FAIL" : ran || checked ? "ok" : "-";
    printf("  %-9s %-5s", name, verdict);
    if (failed)
        printf(" %lld of %lld failed", (long long)failed, (long long)checked);
    else if (checked)
        printf(" %lld checked", (long long)checked);
    if (skipped) printf(" (%lld skipped: config.json unusable)", (long long)skipped);
    if (note && note[0]) printf(" (%s)", note);
    printf("  [%s]\n", desc);
}

typedef struct {
    const char *dir;
} validate_args;

static const cli_opt validate_rows[] = {
    {"DIR", 0, CLI_POS, CLI_FIELD(validate_args, dir), .required = true,
     .help = "a JANG v2 or MLX quantized model directory"},
};

static const cli_cmd validate_cmd = {
    "validate", "DIR", validate_rows, CLI_COUNT(validate_rows),
    "Checks files, index, bits/group resolution, shapes, finite scales/biases, the\n"
    "jang manifest, config.json's description and in_features against it; exit 0\n"
    "when all pass.\n"};

int cmd_validate(int argc, char **argv) {
    validate_args a = {NULL};
    int rc = cli_parse(&validate_cmd, &a, argc, argv);
    if (rc) return rc < 0 ? 0 : rc;
    const char *dir = a.dir;
    jang_validate_report *rep = malloc(sizeof *rep);
    if (!rep) return cli_error("validate", JANG_E_NOMEM);
    jang_status s = jang_dir_validate(dir, rep);
    if (s != JANG_OK && s != JANG_E_FORMAT) {
        free(rep);
        return cli_error("validate", s);
    }
    printf("validate %s\n", dir);
    int64_t total_failed = 0, total_skipped = 0;
    for (int c = 0; c < JANG_CHECK_COUNT; c++) {
        const jang_check_result *r = &rep->checks[c];
        print_line(jang_check_name((jang_check_id)c), r->ran, r->n_checked, r->n_failed,
                   r->n_skipped, r->note, jang_check_desc((jang_check_id)c));
        total_skipped += r->n_skipped;
        for (int k = 0; k < r->n_msgs; k++)
            printf("      - %s\n", r->msgs[k]);
        if (r->n_failed > r->n_msgs)
            printf("      ... and %lld more\n", (long long)(r->n_failed - r->n_msgs));
        total_failed += r->n_failed;
    }
    static arch_result ar;
    memset(&ar, 0, sizeof ar);
    if (rep->config_unusable) { /* said once under files; not a second failure here */
        ar.skipped = 1;
        snprintf(ar.note, sizeof ar.note, "skipped: needs config.json");
    } else {
        check_arch(dir, &ar);
    }
    print_line("arch", ar.checked > 0, ar.checked, ar.failed, 0, ar.note,
               "config.json's description is sound; module in_features match it");
    total_skipped += ar.skipped;
    for (int k = 0; k < ar.n_msgs; k++)
        printf("      - %s\n", ar.msgs[k]);
    total_failed += ar.failed;
    bool config_unusable = rep->config_unusable;
    free(rep);
    if (total_failed) {
        char why[128] = "";
        if (config_unusable)
            snprintf(why, sizeof why, "; %lld check%s skipped: config.json unusable",
                     (long long)total_skipped, total_skipped == 1 ? "" : "s");
        printf("result: INVALID (%lld failure%s%s)\n", (long long)total_failed,
               total_failed == 1 ? "" : "s", why);
        /* stdout first: piped, it is buffered, and this line must come after the list */
        fflush(stdout);
        fprintf(stderr, "jang validate: %s: %lld failure%s (listed above)\n", dir,
                (long long)total_failed, total_failed == 1 ? "" : "s");
        return 1;
    }
    printf("result: valid\n");
    return 0;
}
