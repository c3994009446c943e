/* format.h — internal entry points of src/format shared with tests and fuzz targets.
 *
 * Not part of the public API (include/jang.h is). The safetensors limits live here so the reader,
 * the writer and their tests agree on them. Tested by tests/test_safetensors.c.
 */
#ifndef JANG_FORMAT_H
#define JANG_FORMAT_H

#include "jang.h"

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

#endif
