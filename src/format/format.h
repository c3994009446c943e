/* format.h — internal entry points of src/format shared with tests and fuzz targets.
 *
 * Not part of the public API (include/jang.h is). The safetensors limits live here so the reader,
 * the writer and their tests agree on them, and the affine code widths and group sizes. Tested by
 * tests/test_safetensors.c.
 */
#ifndef JANG_FORMAT_H
#define JANG_FORMAT_H

#include "jang.h"

/* The affine (MLX) quantization the JANG and MLX directories store: the code widths X(bits) and the
 * group sizes X(group). The one place to add a width or a group size: the quantizer and its
 * qtype table (src/quant/quant.h), the kernel tables, the directory readers/writers here and
 * their error messages all follow from these lists. */
#define JANG_AFFINE_BITS_MAP(X) X(2) X(3) X(4) X(5) X(6) X(8)
#define JANG_AFFINE_GROUPS_MAP(X) X(32) X(64) X(128)
/* The largest of each list: arrays indexed by bits or by group size have MAX + 1 entries. */
#define JANG_AFFINE_MAX_BITS 8
#define JANG_AFFINE_MAX_GROUP 128
/* The lists as text, "2, 3, 4, 5, 6, 8" and "32, 64, 128", for error messages. */
#define JANG_AFFINE_TEXT_(v) ", " #v
#define JANG_AFFINE_BITS_TEXT (JANG_AFFINE_BITS_MAP(JANG_AFFINE_TEXT_) + 2)
#define JANG_AFFINE_GROUPS_TEXT (JANG_AFFINE_GROUPS_MAP(JANG_AFFINE_TEXT_) + 2)
/* How many of each. */
#define JANG_AFFINE_ONE_(v) +1
#define JANG_AFFINE_N_BITS (0 JANG_AFFINE_BITS_MAP(JANG_AFFINE_ONE_))
#define JANG_AFFINE_N_GROUPS (0 JANG_AFFINE_GROUPS_MAP(JANG_AFFINE_ONE_))
#ifdef __cplusplus /* the CUDA kernels (src/cuda) include this file too */
#define JANG_AFFINE_MAX_CHECK_(v, max) static_assert((v) >= 1 && (v) <= (max), "raise the MAX");
#else
#define JANG_AFFINE_MAX_CHECK_(v, max) _Static_assert((v) >= 1 && (v) <= (max), "raise the MAX");
#endif
#define JANG_AFFINE_MAX_BITS_CHECK_(b) JANG_AFFINE_MAX_CHECK_(b, JANG_AFFINE_MAX_BITS)
#define JANG_AFFINE_MAX_GROUP_CHECK_(g) JANG_AFFINE_MAX_CHECK_(g, JANG_AFFINE_MAX_GROUP)
JANG_AFFINE_BITS_MAP(JANG_AFFINE_MAX_BITS_CHECK_)
JANG_AFFINE_GROUPS_MAP(JANG_AFFINE_MAX_GROUP_CHECK_)
/* Whether a width or group size is in the lists (jang_affine_bits_valid and _group_valid in
 * jang.h). */
static inline bool jang_affine_bits_ok(int64_t bits) {
#define JANG_X_(b) bits == (b) ||
    return JANG_AFFINE_BITS_MAP(JANG_X_) false;
#undef JANG_X_
}
static inline bool jang_affine_group_ok(int64_t group) {
#define JANG_X_(g) group == (g) ||
    return JANG_AFFINE_GROUPS_MAP(JANG_X_) false;
#undef JANG_X_
}

/* Largest safetensors JSON header accepted or written, as in the reference Rust crate. */
#define JANG_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)
/* Largest model.safetensors.index.json read. */
#define JANG_ST_MAX_INDEX ((size_t)100 * 1000 * 1000)
/* The writer starts the data section (and every tensor whose size allows it) at a multiple of
 * this many bytes from the start of the file. */
#define JANG_ST_ALIGN 64

/* Parses a safetensors image held in memory, with the same validation as jang_st_open. The bytes
 * are not copied: data must stay valid and unchanged until jang_st_close. name stands in for the
 * file path in tensor views and error messages. Used by the fuzz target. */
jang_status jang_st_open_memory(const void *data, size_t size, const char *name, jang_st **out);

/* jang_qmodel_open with config.json already read and parsed by the caller (jang_model_open reads
 * it once for the description and the directory): config is that JSON object (borrowed; the
 * model keeps its own reference), or NULL to read dir/config.json as jang_qmodel_open does. */
struct json_t;
jang_status jang_qmodel_open_with_config(const char *dir, struct json_t *config, jang_qmodel **out);

#endif
