/* sha256.c — SHA-256 for the fingerprints in reference-run headers (the evaluated text's bytes,
 * the chunks' token ids, the tokenizer's vocabulary), through Nettle's implementation
 * (Debian nettle-dev). Tested by tests/test_eval.c against the FIPS 180-4 examples ("abc", the
 * 448-bit message, 1M 'a').
 */
#include "eval_internal.h"

void jang_sha256_init(jang_sha256_ctx *c) { sha256_init(&c->n); }

void jang_sha256_update(jang_sha256_ctx *c, const void *data, size_t len) {
    sha256_update(&c->n, len, data);
}

void jang_sha256_final(jang_sha256_ctx *c, uint8_t out[32]) {
    sha256_digest(&c->n, SHA256_DIGEST_SIZE, out);
}

void jang_sha256(const void *data, size_t len, uint8_t out[32]) {
    jang_sha256_ctx c;
    jang_sha256_init(&c);
    jang_sha256_update(&c, data, len);
    jang_sha256_final(&c, out);
}
