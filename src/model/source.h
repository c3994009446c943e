/* source.h — a model's tensors as the runtime loader (model_load.c) and the converter
 * (src/convert/convert.c) see them: Hugging Face / MLX names, PyTorch shapes, and values as f32
 * in Hugging Face layout. Two kinds of source:
 *   - a GGUF file: names mapped by jang_gguf_map_name, values dequantized, llama.cpp's fix-ups
 *     undone (Q/K row permutation, Gemma's 1 + w norms, Mamba's A = -exp(A_log));
 *   - a safetensors file or directory (HF checkpoints, or the plain tensors of a JANG/MLX
 *     directory): F32/F16/BF16 converted to f32.
 * A tensor is read by rows (a row is its last dimension; 1-D tensors are one row), in any range,
 * so big tensors can be streamed; reads share no state and may run in parallel threads.
 * Tested through tests/test_model.c (the runtime) and tests/test_convert.c (the converter).
 */
#ifndef JANG_SOURCE_H
#define JANG_SOURCE_H

#include "jang.h"

typedef struct jang_src_tensor {
    const char *name;      /* HF/MLX name ("model.layers.0.self_attn.q_proj.weight") */
    const char *file_name; /* name in the file (GGUF "blk.0.attn_q.weight"; else == name) */
    const char *file;      /* path of the file holding the data */
    jang_dtype dtype;      /* safetensors: the stored dtype; GGUF: F32 (values are dequantized) */
    uint32_t ggml_type;    /* GGUF: the jang_ggml_type; safetensors: UINT32_MAX */
    int32_t n_dims;
    int64_t shape[JANG_MAX_DIMS]; /* PyTorch order */
    int64_t n_elements;
    int64_t rows, cols; /* cols = last dimension (1-D: rows 1, cols n), rows = the others */
    size_t n_bytes;     /* bytes in the file */
    int32_t shard;      /* rank of its file among the source's files sorted by path */
    jang_gguf_fix fix;  /* GGUF fix-up applied on read */
    const void *data;   /* in the file's memory map; not necessarily aligned */
} jang_src_tensor;

typedef struct jang_source jang_source;

/* Opens a GGUF file or a safetensors file / directory (sharded or not). For GGUF the model
 * description is read from the metadata (and needed: fix-ups depend on it); for a directory it is
 * read from config.json when that is understood (jang_source_desc returns NULL otherwise: an
 * architecture we do not know); a config.json that describes a known architecture badly
 * (JANG_E_FORMAT from jang_desc_from_hf_config: jang_desc_check's bounds) fails the open. */
jang_status jang_source_open(const char *path, jang_source **out);
/* A source over handles the caller keeps open (exactly one of g, st): the runtime loader. d is
 * copied; it is required for GGUF. */
jang_status jang_source_wrap(const jang_gguf *g, const jang_st *st, const jang_model_desc *d,
                             jang_source **out);
void jang_source_close(jang_source *s);

bool jang_source_is_gguf(const jang_source *s);
const char *jang_source_path(const jang_source *s);
const jang_gguf *jang_source_gguf(const jang_source *s); /* NULL for safetensors */
const jang_model_desc *jang_source_desc(const jang_source *s);
int64_t jang_source_count(const jang_source *s);
/* Tensors in file order. NULL when out of range. */
const jang_src_tensor *jang_source_at(const jang_source *s, int64_t i);
/* By HF name; NULL when absent. */
const jang_src_tensor *jang_source_find(const jang_source *s, const char *name);
/* GGUF tensors with no HF counterpart (rope_freqs ...), left out of the list. */
int64_t jang_source_n_skipped(const jang_source *s);
const char *jang_source_skipped(const jang_source *s, int64_t i);

/* Reads rows [row0, row0 + n_rows) of t as f32 into out (n_rows * t->cols floats), in HF layout.
 * Non-float safetensors dtypes are JANG_E_UNSUPPORTED naming the tensor. Values are not checked
 * for NaN/Inf here. */
jang_status jang_source_read(const jang_source *s, const jang_src_tensor *t, int64_t row0,
                             int64_t n_rows, float *out);
/* Hints that t's bytes will not be read again soon: drops its pages of the file map from memory
 * (they are re-read from the file if needed), so streaming a model keeps the resident set small. */
void jang_source_release(const jang_source *s, const jang_src_tensor *t);
/* The same for the bytes of rows [row0, row0 + n_rows) (the pages wholly inside them); rows of a
 * row-permuted GGUF tensor are not contiguous and are left alone (release the whole tensor). */
void jang_source_release_rows(const jang_source *s, const jang_src_tensor *t, int64_t row0,
                              int64_t n_rows);

#endif
