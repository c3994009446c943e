/* test_util.c — half/bfloat16 conversions, checked arithmetic, error details. */
#include "test.h"

#include "util.h"
#include <string.h>

TEST(util_f16_roundtrip_all) {
    /* every finite half converts to float and back to itself */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t x = (uint16_t)h;
        if ((x & 0x7c00) == 0x7c00 && (x & 0x3ff)) continue; /* nan */
        if (jang_f32_to_f16(jang_f16_to_f32(x)) != x) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

/* The inline rounding equals the two-call round trip: a stride through all 2^32 patterns, plus
 * every high mantissa with the low 13 bits at the rounding edges in the exponents around the
 * subnormal and overflow boundaries. NaNs compare by bits. */
static int round_f16_mismatch(uint32_t u) {
    float f, a, b;
    memcpy(&f, &u, 4);
    a = jang_round_f16(f);
    b = jang_f16_to_f32(jang_f32_to_f16(f));
    return memcmp(&a, &b, 4) != 0;
}

TEST(util_f32_round_f16_matches_round_trip) {
    int bad = 0;
    for (uint64_t u = 0; u < ((uint64_t)1 << 32); u += 61)
        bad += round_f16_mismatch((uint32_t)u);
    static const uint32_t lows[] = {0x0, 0x1, 0xfff, 0x1000, 0x1001, 0x1fff};
    static const uint32_t exps[] = {111, 112, 113, 114, 140, 141, 142, 143};
    for (int s = 0; s < 2; s++)
        for (int e = 0; e < 8; e++)
            for (uint32_t m = 0; m < 1024; m++)
                for (int l = 0; l < 6; l++)
                    bad +=
                        round_f16_mismatch((uint32_t)s << 31 | exps[e] << 23 | m << 13 | lows[l]);
    CHECK_EQ_INT(bad, 0);
}

TEST(util_f16_known_values) {
    CHECK(jang_f16_to_f32(0x3c00) == 1.0f);
    CHECK(jang_f16_to_f32(0xc000) == -2.0f);
    CHECK(jang_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(jang_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    CHECK_EQ_INT(jang_f32_to_f16(65520.0f), 0x7c00); /* rounds to inf */
    CHECK_EQ_INT(jang_f32_to_f16(65519.0f), 0x7bff);
    CHECK_EQ_INT(jang_f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3c00); /* tie to even */
    CHECK_EQ_INT(jang_f32_to_f16(1.0f + 3 * ldexpf(1.0f, -11)), 0x3c02);
    CHECK_EQ_INT(jang_f32_to_f16(ldexpf(1.0f, -25)), 0x0000); /* tie to even -> 0 */
    CHECK_EQ_INT(jang_f32_to_f16(ldexpf(1.5f, -25)), 0x0001);
    CHECK_EQ_INT(jang_f32_to_f16(ldexpf(3.0f, -25)), 0x0002); /* 1.5 ulp ties to even 2 */
    CHECK_EQ_INT(jang_f32_to_f16(-0.0f), 0x8000);
}

TEST(util_bf16) {
    CHECK(jang_bf16_to_f32(0x3f80) == 1.0f);
    CHECK_EQ_INT(jang_f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(jang_f32_to_bf16(1.0f + ldexpf(1.0f, -8)), 0x3f80); /* tie to even */
    CHECK_EQ_INT(jang_f32_to_bf16(1.0f + 3 * ldexpf(1.0f, -8)), 0x3f82);
}

TEST(util_checked_arith) {
    uint64_t r;
    CHECK(!jang_mul_u64(UINT64_MAX / 2 + 1, 2, &r));
    CHECK(jang_mul_u64(1u << 20, 1u << 20, &r) && r == (1ull << 40));
    CHECK(!jang_add_u64(UINT64_MAX, 1, &r));
}

TEST(util_error_detail) {
    jang_status s = jang_fail(JANG_E_FORMAT, "file %s: bad %d", "x.gguf", 3);
    CHECK_EQ_INT(s, JANG_E_FORMAT);
    CHECK_STR(jang_last_error(), "file x.gguf: bad 3");
    CHECK_STR(jang_status_str(JANG_E_IO), "I/O error");
    char buf[32];
    CHECK_STR(jang_printable("a\nb\xff", 4, buf, sizeof buf), "a\\x0ab\\xff");
}

#include "pool.h"

typedef struct {
    int64_t n;
    int *hits;
} pool_ctx;

static void pool_mark(void *ctx, int w, int nw) {
    pool_ctx *c = ctx;
    int64_t b, e;
    jang_pool_split(c->n, w, nw, 4, &b, &e);
    for (int64_t i = b; i < e; i++)
        c->hits[i]++;
}

TEST(util_pool_covers_every_item_once) {
    for (int threads = 1; threads <= 5; threads++) {
        jang_pool *p = jang_pool_create(threads);
        REQUIRE(p);
        CHECK_EQ_INT(jang_pool_size(p), threads);
        for (int64_t n = 0; n < 70; n += 7) {
            int hits[70] = {0};
            pool_ctx c = {n, hits};
            for (int rep = 0; rep < 3; rep++)
                jang_pool_run(p, pool_mark, &c);
            for (int64_t i = 0; i < n; i++)
                CHECK_EQ_INT(hits[i], 3);
        }
        jang_pool_free(p);
    }
    jang_pool_free(NULL);
}
