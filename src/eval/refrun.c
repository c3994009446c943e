/* refrun.c — reference-run files (docs/FORMAT.md "Reference runs"): the unquantized model's
 * distribution at every scored position of a perplexity run, kept as top-k log-probabilities +
 * the tail mass, so later runs of quantized models report KL divergence without the reference
 * model. A 512-byte header names the text (SHA-256), the vocabulary (fingerprint), the context
 * and the sizes; a SHA-256 of the records guards against corruption. Little-endian, zero-copy.
 * Tested by tests/test_eval.c (round trip, mismatches, truncation, corruption).
 */
#include "eval_internal.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REF_MAGIC "JANGREF\0"
#define REF_HEADER_BYTES 512
/* header field offsets */
enum {
    H_MAGIC = 0,
    H_VERSION = 8,
    H_HEADER_BYTES = 12,
    H_N_CTX = 16,
    H_N_VOCAB = 20,
    H_N_CHUNKS = 24,
    H_N_SCORED = 28,
    H_TOPK = 32,
    H_BOS = 36,
    H_N_TEXT_TOKENS = 40,
    H_TEXT_SHA = 48,
    H_VOCAB_SHA = 80,
    H_RECORD_BYTES = 112,
    H_N_SAMPLES = 120,
    H_RECORDS_SHA = 128,
    H_MODEL = 160, /* 256 bytes, NUL-padded */
    H_TOKENS_SHA = 416,
};

static bool host_le(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

static void wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void wr64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- fingerprints ---------------------------------------------------------------------------- */

void jang_tokenizer_fingerprint(const jang_tokenizer *t, uint8_t out[32]) {
    jang_sha256_ctx c;
    jang_sha256_init(&c);
    int64_t n = jang_tokenizer_n_vocab(t);
    int32_t fixed[6] = {(int32_t)n,
                        jang_tokenizer_bos(t),
                        jang_tokenizer_eos(t),
                        jang_tokenizer_adds_bos(t),
                        jang_tokenizer_adds_eos(t),
                        0};
    uint8_t b[24];
    for (int i = 0; i < 6; i++)
        wr32(b + 4 * i, (uint32_t)fixed[i]);
    jang_sha256_update(&c, b, sizeof b);
    for (int64_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *s = jang_tokenizer_token_text(t, (int32_t)i, &len);
        uint8_t h[8];
        wr32(h, (uint32_t)len);
        wr32(h + 4, (uint32_t)jang_tokenizer_token_type(t, (int32_t)i));
        jang_sha256_update(&c, h, sizeof h);
        if (s) jang_sha256_update(&c, s, len);
    }
    jang_sha256_final(&c, out);
}

/* ---- records --------------------------------------------------------------------------------- */

size_t jang_ref_token_bytes(int32_t k, int32_t m) {
    return 12 + 8 * (size_t)(k > 0 ? k : 0) + 8 * (size_t)(m > 0 ? m : 0);
}

/* layout: i32 target, f32 target_logp, f32 tail, i32 ids[k], f32 logp[k], i32 sample_ids[m],
 * f32 sample_logp[m] */
static void record_view(const uint8_t *p, int32_t k, int32_t m, jang_ref_token *out) {
    memcpy(&out->target, p, 4);
    memcpy(&out->target_logp, p + 4, 4);
    memcpy(&out->tail, p + 8, 4);
    out->k = k;
    out->ids = (const int32_t *)(const void *)(p + 12);
    out->logp = (const float *)(const void *)(p + 12 + 4 * (size_t)k);
    out->m = m;
    out->sample_ids = (const int32_t *)(const void *)(p + 12 + 8 * (size_t)k);
    out->sample_logp = (const float *)(const void *)(p + 12 + 8 * (size_t)k + 4 * (size_t)m);
}

/* Writes the record of one row into p (4-byte aligned); mask: n_vocab zero bytes, left zero. */
static void fill_record(const float *logits, int32_t V, double lse, int32_t target, int32_t k,
                        int32_t m, uint64_t seed, uint8_t *p, uint8_t *mask) {
    int32_t *ids = (int32_t *)(void *)(p + 12);
    float *lp = (float *)(void *)(p + 12 + 4 * (size_t)k);
    int32_t *sid = (int32_t *)(void *)(p + 12 + 8 * (size_t)k);
    float *slp = (float *)(void *)(p + 12 + 8 * (size_t)k + 4 * (size_t)m);
    jang_eval_topk(logits, V, k, ids);
    for (int32_t j = 0; j < k; j++)
        lp[j] = jang_eval_logp(logits, lse, ids[j]);
    float tail = jang_eval_tail(logits, V, lse, ids, k, mask, m, seed, sid, slp);
    float tl = jang_eval_logp(logits, lse, target);
    memcpy(p, &target, 4);
    memcpy(p + 4, &tl, 4);
    memcpy(p + 8, &tail, 4);
}

jang_status jang_ref_token_make(const float *logits, int32_t n_vocab, int32_t target, int32_t k,
                                int32_t m, uint64_t seed, void *buf, jang_ref_token *out) {
    if (!logits || !buf || !out || n_vocab < 1)
        return jang_fail(JANG_E_ARG, "jang_ref_token_make: bad argument");
    if (k < 1 || k > n_vocab || k > JANG_REF_MAX_TOPK)
        return jang_fail(JANG_E_ARG, "top-k of %d: must be 1..%d and at most the vocabulary (%d)",
                         k, JANG_REF_MAX_TOPK, n_vocab);
    if (m < 0 || m > JANG_REF_MAX_TOPK)
        return jang_fail(JANG_E_ARG, "%d tail samples: must be 0..%d", m, JANG_REF_MAX_TOPK);
    if (target < 0 || target >= n_vocab)
        return jang_fail(JANG_E_ARG, "target %d out of range [0, %d)", target, n_vocab);
    double lse = jang_eval_lse(logits, n_vocab, NULL);
    if (!isfinite(lse)) return jang_fail(JANG_E_FORMAT, "logits hold NaN or Inf");
    uint8_t *mask = calloc((size_t)n_vocab, 1);
    if (!mask) return jang_fail(JANG_E_NOMEM, "jang_ref_token_make: out of memory");
    fill_record(logits, n_vocab, lse, target, k, m, seed, buf, mask);
    free(mask);
    record_view(buf, k, m, out);
    return JANG_OK;
}

/* ---- writer ---------------------------------------------------------------------------------- */

struct jang_ref_writer {
    char *path, *tmp;
    FILE *f;
    jang_ref_info info;
    int64_t n_records, n_expected;
    size_t rec_bytes;
    uint8_t *rec;  /* one record */
    uint8_t *mask; /* (n_vocab) scratch */
    jang_sha256_ctx sha;
    jang_status failed;
};

static void writer_free(jang_ref_writer *w, bool remove_tmp) {
    if (!w) return;
    if (w->f) fclose(w->f);
    if (remove_tmp && w->tmp) unlink(w->tmp);
    free(w->path);
    free(w->tmp);
    free(w->rec);
    free(w->mask);
    free(w);
}

static void header_bytes(const jang_ref_info *in, size_t rec_bytes, const uint8_t *rec_sha,
                         uint8_t h[REF_HEADER_BYTES]) {
    memset(h, 0, REF_HEADER_BYTES);
    memcpy(h + H_MAGIC, REF_MAGIC, 8);
    wr32(h + H_VERSION, JANG_REF_VERSION);
    wr32(h + H_HEADER_BYTES, REF_HEADER_BYTES);
    wr32(h + H_N_CTX, (uint32_t)in->n_ctx);
    wr32(h + H_N_VOCAB, (uint32_t)in->n_vocab);
    wr32(h + H_N_CHUNKS, (uint32_t)in->n_chunks);
    wr32(h + H_N_SCORED, (uint32_t)in->n_scored);
    wr32(h + H_TOPK, (uint32_t)in->topk);
    wr32(h + H_BOS, (uint32_t)in->bos);
    wr64(h + H_N_TEXT_TOKENS, (uint64_t)in->n_text_tokens);
    memcpy(h + H_TEXT_SHA, in->text_sha256, 32);
    memcpy(h + H_VOCAB_SHA, in->vocab_sha256, 32);
    memcpy(h + H_TOKENS_SHA, in->tokens_sha256, 32);
    wr64(h + H_RECORD_BYTES, (uint64_t)rec_bytes);
    wr32(h + H_N_SAMPLES, (uint32_t)in->n_samples);
    if (rec_sha) memcpy(h + H_RECORDS_SHA, rec_sha, 32);
    size_t ml = strnlen(in->model, sizeof in->model);
    if (ml > 255) ml = 255;
    memcpy(h + H_MODEL, in->model, ml);
}

static jang_status check_info(const jang_ref_info *in, const char *what) {
    if (in->n_ctx < 4) return jang_fail(JANG_E_FORMAT, "%s: context %d < 4", what, in->n_ctx);
    if (in->n_vocab < 1) return jang_fail(JANG_E_FORMAT, "%s: vocabulary %d", what, in->n_vocab);
    if (in->n_chunks < 1) return jang_fail(JANG_E_FORMAT, "%s: %d chunks", what, in->n_chunks);
    if (in->n_scored != in->n_ctx - 1 - in->n_ctx / 2)
        return jang_fail(JANG_E_FORMAT, "%s: %d scored positions per chunk, context %d gives %d",
                         what, in->n_scored, in->n_ctx, in->n_ctx - 1 - in->n_ctx / 2);
    if (in->topk < 1 || in->topk > JANG_REF_MAX_TOPK || in->topk > in->n_vocab)
        return jang_fail(JANG_E_FORMAT, "%s: top-k %d (1..%d and at most the vocabulary %d)", what,
                         in->topk, JANG_REF_MAX_TOPK, in->n_vocab);
    if (in->n_samples < 0 || in->n_samples > JANG_REF_MAX_TOPK)
        return jang_fail(JANG_E_FORMAT, "%s: %d tail samples (0..%d)", what, in->n_samples,
                         JANG_REF_MAX_TOPK);
    if (in->bos < -1 || in->bos >= in->n_vocab)
        return jang_fail(JANG_E_FORMAT, "%s: BOS id %d", what, in->bos);
    if (in->n_text_tokens < (int64_t)in->n_chunks * in->n_ctx)
        return jang_fail(JANG_E_FORMAT, "%s: %lld text tokens cannot fill %d chunks of %d", what,
                         (long long)in->n_text_tokens, in->n_chunks, in->n_ctx);
    return JANG_OK;
}

jang_status jang_ref_writer_open(const char *path, const jang_ref_info *info,
                                 jang_ref_writer **out) {
    if (!out) return jang_fail(JANG_E_ARG, "jang_ref_writer_open: out is NULL");
    *out = NULL;
    if (!path || !path[0] || !info)
        return jang_fail(JANG_E_ARG, "jang_ref_writer_open: bad argument");
    if (!host_le())
        return jang_fail(JANG_E_UNSUPPORTED, "reference files need a little-endian host");
    jang_status s = check_info(info, path);
    if (s) return JANG_E_ARG; /* detail already recorded */
    jang_ref_writer *w = jang_calloc(1, sizeof *w, path);
    if (!w) return JANG_E_NOMEM;
    w->info = *info;
    w->info.model[sizeof w->info.model - 1] = '\0';
    w->rec_bytes = jang_ref_token_bytes(info->topk, info->n_samples);
    w->n_expected = (int64_t)info->n_chunks * info->n_scored;
    w->path = jang_strdup(path);
    size_t len = strlen(path);
    w->tmp = malloc(len + 5);
    w->rec = malloc(w->rec_bytes);
    w->mask = calloc((size_t)info->n_vocab, 1);
    if (!w->path || !w->tmp || !w->rec || !w->mask) {
        free(w->tmp);
        w->tmp = NULL;
        writer_free(w, false);
        return jang_fail(JANG_E_NOMEM, "%s: out of memory", path);
    }
    memcpy(w->tmp, path, len);
    memcpy(w->tmp + len, ".tmp", 5);
    w->f = fopen(w->tmp, "wb");
    if (!w->f) {
        s = jang_fail(JANG_E_IO, "%s: cannot create: %s", w->tmp, strerror(errno));
        free(w->tmp);
        w->tmp = NULL;
        writer_free(w, false);
        return s;
    }
    uint8_t h[REF_HEADER_BYTES];
    header_bytes(&w->info, w->rec_bytes, NULL, h);
    if (fwrite(h, 1, sizeof h, w->f) != sizeof h) {
        s = jang_fail(JANG_E_IO, "%s: write failed: %s", w->tmp, strerror(errno));
        writer_free(w, true);
        return s;
    }
    jang_sha256_init(&w->sha);
    *out = w;
    return JANG_OK;
}

jang_status jang_ref_writer_add(jang_ref_writer *w, const float *logits, int32_t target) {
    if (!w || !logits) return jang_fail(JANG_E_ARG, "jang_ref_writer_add: NULL argument");
    if (w->failed) return jang_fail(w->failed, "%s: an earlier call failed", w->path);
    if (w->n_records == w->n_expected) {
        w->failed = JANG_E_ARG;
        return jang_fail(JANG_E_ARG, "%s: more than the %lld records the header announces", w->path,
                         (long long)w->n_expected);
    }
    const int32_t V = w->info.n_vocab, k = w->info.topk;
    if (target < 0 || target >= V)
        return jang_fail(JANG_E_ARG, "%s: target %d out of range", w->path, target);
    double lse = jang_eval_lse(logits, V, NULL);
    if (!isfinite(lse)) {
        w->failed = JANG_E_FORMAT;
        return jang_fail(JANG_E_FORMAT, "%s: logits of record %lld hold NaN or Inf", w->path,
                         (long long)w->n_records);
    }
    uint8_t *p = w->rec;
    fill_record(logits, V, lse, target, k, w->info.n_samples, (uint64_t)w->n_records, p, w->mask);
    if (fwrite(p, 1, w->rec_bytes, w->f) != w->rec_bytes) {
        w->failed = JANG_E_IO;
        return jang_fail(JANG_E_IO, "%s: write failed: %s", w->tmp, strerror(errno));
    }
    jang_sha256_update(&w->sha, p, w->rec_bytes);
    w->n_records++;
    return JANG_OK;
}

jang_status jang_ref_writer_finish(jang_ref_writer *w) {
    if (!w) return jang_fail(JANG_E_ARG, "jang_ref_writer_finish: writer is NULL");
    jang_status s = JANG_OK;
    if (w->failed) {
        s = jang_fail(w->failed, "%s: an earlier call failed; nothing was written", w->path);
        goto fail;
    }
    if (w->n_records != w->n_expected) {
        s = jang_fail(JANG_E_ARG, "%s: %lld records written, the header announces %lld", w->path,
                      (long long)w->n_records, (long long)w->n_expected);
        goto fail;
    }
    uint8_t sha[32], h[REF_HEADER_BYTES];
    jang_sha256_final(&w->sha, sha);
    header_bytes(&w->info, w->rec_bytes, sha, h);
    if (fseek(w->f, 0, SEEK_SET) != 0 || fwrite(h, 1, sizeof h, w->f) != sizeof h ||
        fflush(w->f) != 0 || fsync(fileno(w->f)) != 0) {
        s = jang_fail(JANG_E_IO, "%s: write failed: %s", w->tmp, strerror(errno));
        goto fail;
    }
    int rc = fclose(w->f);
    w->f = NULL;
    if (rc != 0 || rename(w->tmp, w->path) != 0) {
        s = jang_fail(JANG_E_IO, "%s: cannot finish: %s", w->path, strerror(errno));
        goto fail;
    }
    writer_free(w, false);
    return JANG_OK;
fail:
    writer_free(w, true);
    return s;
}

void jang_ref_writer_abort(jang_ref_writer *w) { writer_free(w, true); }

/* ---- reader ---------------------------------------------------------------------------------- */

struct jang_ref {
    jang_map map;
    jang_ref_info info;
    size_t rec_bytes;
    int64_t n_records;
};

void jang_ref_close(jang_ref *r) {
    if (!r) return;
    jang_map_close(&r->map);
    free(r);
}

const jang_ref_info *jang_ref_get_info(const jang_ref *r) { return &r->info; }

bool jang_ref_get(const jang_ref *r, int64_t i, jang_ref_token *out) {
    if (!r || i < 0 || i >= r->n_records) return false;
    record_view(r->map.data + REF_HEADER_BYTES + (size_t)i * r->rec_bytes, r->info.topk,
                r->info.n_samples, out);
    return true;
}

static jang_status check_record(const jang_ref *r, const jang_ref_token *t, int64_t i,
                                int32_t *seen, const char *path) {
    const int32_t V = r->info.n_vocab;
    int64_t chunk = i / r->info.n_scored + 1, pos = i % r->info.n_scored;
#define BAD(...)                                                                                   \
    do {                                                                                           \
        char why_[256];                                                                            \
        snprintf(why_, sizeof why_, __VA_ARGS__);                                                  \
        return jang_fail(JANG_E_FORMAT, "%s: record %lld (chunk %lld, position %lld): %s", path,   \
                         (long long)i, (long long)chunk, (long long)pos, why_);                    \
    } while (0)
    if (t->target < 0 || t->target >= V) BAD("target id %d out of range", t->target);
    if (!(t->target_logp <= 0) || !isfinite(t->target_logp))
        BAD("target log-probability %g", (double)t->target_logp);
    if (!(t->tail >= 0 && t->tail <= 1.0001f)) BAD("tail mass %g", (double)t->tail);
    double mass = t->tail;
    for (int32_t j = 0; j < t->k; j++) {
        int32_t id = t->ids[j];
        float lp = t->logp[j];
        if (id < 0 || id >= V) BAD("top id %d out of range", id);
        if (seen[id] == (int32_t)(i % INT32_MAX) + 1) BAD("top id %d twice", id);
        seen[id] = (int32_t)(i % INT32_MAX) + 1;
        if (!isfinite(lp) || lp > 0) BAD("log-probability %g", (double)lp);
        if (j > 0 && (lp > t->logp[j - 1] || (lp == t->logp[j - 1] && id < t->ids[j - 1])))
            BAD("top tokens out of order at %d", j);
        mass += exp((double)lp);
    }
    if (fabs(mass - 1) > 1e-3) BAD("probabilities sum to %.6f", mass);
    /* tail samples: all -1, or tail tokens (not in the top-k) in id order, no likelier than the
     * last top token */
    int32_t stamp = (int32_t)(i % INT32_MAX) + 1;
    bool none = t->m > 0 && t->sample_ids[0] == -1;
    for (int32_t j = 0; j < t->m; j++) {
        int32_t id = t->sample_ids[j];
        float lp = t->sample_logp[j];
        if (none) {
            if (id != -1) BAD("tail sample %d is %d after an empty tail", j, id);
            continue;
        }
        if (id < 0 || id >= V) BAD("tail sample id %d out of range", id);
        if (seen[id] == stamp) BAD("tail sample %d is a top token", id);
        if (j > 0 && id < t->sample_ids[j - 1]) BAD("tail samples out of order at %d", j);
        if (!isfinite(lp) || lp > t->logp[t->k - 1])
            BAD("tail sample log-probability %g above the top tokens'", (double)lp);
    }
#undef BAD
    return JANG_OK;
}

static uint32_t rd_i32(const uint8_t *h, int off) { return jang_rd32(h + off); }

jang_status jang_ref_open(const char *path, jang_ref **out) {
    if (!out) return jang_fail(JANG_E_ARG, "jang_ref_open: out is NULL");
    *out = NULL;
    if (!path) return jang_fail(JANG_E_ARG, "jang_ref_open: path is NULL");
    if (!host_le())
        return jang_fail(JANG_E_UNSUPPORTED, "reference files need a little-endian host");
    jang_ref *r = jang_calloc(1, sizeof *r, path);
    if (!r) return JANG_E_NOMEM;
    jang_status s = jang_map_open(path, &r->map);
    int32_t *seen = NULL;
    if (s) goto fail;
    const uint8_t *h = r->map.data;
    if (r->map.size < REF_HEADER_BYTES || memcmp(h, REF_MAGIC, 8) != 0) {
        s = jang_fail(JANG_E_FORMAT, "%s: not a jang reference file (%s)", path,
                      r->map.size < REF_HEADER_BYTES ? "shorter than its header" : "bad magic");
        goto fail;
    }
    uint32_t ver = rd_i32(h, H_VERSION);
    if (ver != JANG_REF_VERSION) {
        s = jang_fail(JANG_E_UNSUPPORTED, "%s: reference format version %u; this build reads %d",
                      path, ver, JANG_REF_VERSION);
        goto fail;
    }
    if (rd_i32(h, H_HEADER_BYTES) != REF_HEADER_BYTES) {
        s = jang_fail(JANG_E_FORMAT, "%s: header size %u", path, rd_i32(h, H_HEADER_BYTES));
        goto fail;
    }
    jang_ref_info *in = &r->info;
    in->n_ctx = (int32_t)rd_i32(h, H_N_CTX);
    in->n_vocab = (int32_t)rd_i32(h, H_N_VOCAB);
    in->n_chunks = (int32_t)rd_i32(h, H_N_CHUNKS);
    in->n_scored = (int32_t)rd_i32(h, H_N_SCORED);
    in->topk = (int32_t)rd_i32(h, H_TOPK);
    in->bos = (int32_t)rd_i32(h, H_BOS);
    in->n_samples = (int32_t)rd_i32(h, H_N_SAMPLES);
    in->n_text_tokens = (int64_t)jang_rd64(h + H_N_TEXT_TOKENS);
    memcpy(in->text_sha256, h + H_TEXT_SHA, 32);
    memcpy(in->vocab_sha256, h + H_VOCAB_SHA, 32);
    memcpy(in->tokens_sha256, h + H_TOKENS_SHA, 32);
    memcpy(in->model, h + H_MODEL, 255);
    in->model[255] = '\0';
    if ((s = check_info(in, path))) goto fail;
    r->rec_bytes = jang_ref_token_bytes(in->topk, in->n_samples);
    if (jang_rd64(h + H_RECORD_BYTES) != r->rec_bytes) {
        s = jang_fail(JANG_E_FORMAT, "%s: record size %llu, top-%d and %d samples give %zu", path,
                      (unsigned long long)jang_rd64(h + H_RECORD_BYTES), in->topk, in->n_samples,
                      r->rec_bytes);
        goto fail;
    }
    r->n_records = (int64_t)in->n_chunks * in->n_scored;
    uint64_t want;
    if (!jang_mul_u64((uint64_t)r->n_records, r->rec_bytes, &want) ||
        !jang_add_u64(want, REF_HEADER_BYTES, &want))
        want = UINT64_MAX;
    if (r->map.size != want) {
        s = jang_fail(JANG_E_FORMAT,
                      "%s: %s: %zu bytes, the header (%d chunks of %d positions, "
                      "top-%d) needs %llu",
                      path, r->map.size < want ? "truncated" : "trailing bytes", r->map.size,
                      in->n_chunks, in->n_scored, in->topk, (unsigned long long)want);
        goto fail;
    }
    uint8_t sha[32];
    jang_sha256(h + REF_HEADER_BYTES, r->map.size - REF_HEADER_BYTES, sha);
    if (memcmp(sha, h + H_RECORDS_SHA, 32) != 0) {
        s = jang_fail(JANG_E_FORMAT, "%s: checksum mismatch: the records are corrupt", path);
        goto fail;
    }
    seen = calloc((size_t)in->n_vocab, sizeof(int32_t));
    if (!seen) {
        s = jang_fail(JANG_E_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (int64_t i = 0; i < r->n_records; i++) {
        jang_ref_token t;
        jang_ref_get(r, i, &t);
        if ((s = check_record(r, &t, i, seen, path))) goto fail;
    }
    free(seen);
    *out = r;
    return JANG_OK;
fail:
    free(seen);
    jang_ref_close(r);
    return s;
}

static void hex8(const uint8_t *b, char *out) {
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

jang_status jang_ref_check(const jang_ref *r, const jang_ref_info *run) {
    if (!r || !run) return jang_fail(JANG_E_ARG, "jang_ref_check: NULL argument");
    const jang_ref_info *a = &r->info;
    char x[17], y[17];
    if (memcmp(a->text_sha256, run->text_sha256, 32) != 0) {
        hex8(a->text_sha256, x);
        hex8(run->text_sha256, y);
        return jang_fail(JANG_E_ARG,
                         "the reference was made on another text (sha256 %s..., this text %s...)",
                         x, y);
    }
    if (a->n_ctx != run->n_ctx)
        return jang_fail(JANG_E_ARG, "the reference used a context of %d tokens, this run %d (-c)",
                         a->n_ctx, run->n_ctx);
    if (a->n_vocab != run->n_vocab)
        return jang_fail(JANG_E_ARG, "the reference has %d logits per position, this model %d",
                         a->n_vocab, run->n_vocab);
    if (a->bos != run->bos)
        return jang_fail(JANG_E_ARG, "the reference starts chunks with BOS %d, this run with %d",
                         a->bos, run->bos);
    if (a->n_text_tokens != run->n_text_tokens)
        return jang_fail(JANG_E_ARG,
                         "the text gives %lld tokens with this tokenizer, %lld with the "
                         "reference's",
                         (long long)run->n_text_tokens, (long long)a->n_text_tokens);
    if (memcmp(a->tokens_sha256, run->tokens_sha256, 32) != 0)
        return jang_fail(JANG_E_ARG, "the text tokenizes to other ids than for the reference "
                                     "(another tokenizer)");
    return JANG_OK;
}
