/* gguf_internal.h — internal entry points of the GGUF reader (src/format/gguf.c) that are not part
 * of the public API: opening a GGUF image that is already in memory (used by the fuzz target
 * tests/fuzz/fuzz_gguf.c and by tests/test_gguf.c to check every truncation and corruption), and
 * the limits the parser enforces on untrusted input.
 */
#ifndef JANG_GGUF_INTERNAL_H
#define JANG_GGUF_INTERNAL_H

#include "jang.h"

#define JANG_GGUF_MAX_DEPTH 8          /* arrays nested deeper than this are refused */
#define JANG_GGUF_MAX_NAME 65536       /* longest tensor name, bytes */
#define JANG_GGUF_MAX_KEY 65535        /* longest metadata key, bytes (GGUF spec) */
#define JANG_GGUF_DEFAULT_ALIGNMENT 32 /* when general.alignment is absent */

/* Parses size bytes at data as a GGUF file called name (used in error messages). data is
 * borrowed, not copied: it must stay valid and unchanged until jang_gguf_close(*out). */
jang_status jang_gguf_open_memory(const void *data, size_t size, const char *name, jang_gguf **out);

/* Byte offset of the data section (tensor offsets are relative to it). */
uint64_t jang_gguf_data_offset(const jang_gguf *g);

#endif
