/* dtype.c — safetensors element types and ggml tensor types, from the X-macro tables in jang.h. */
#include "util.h"

#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
#define JANG_X_(e, name, size) {name, size},
    JANG_DTYPE_MAP(JANG_X_)
#undef JANG_X_
};

const char *jang_dtype_name(jang_dtype dt) {
    return (unsigned)dt < JANG_DT_COUNT ? dtypes[dt].name : "?";
}

size_t jang_dtype_size(jang_dtype dt) { return (unsigned)dt < JANG_DT_COUNT ? dtypes[dt].size : 0; }

bool jang_dtype_parse(const char *name, jang_dtype *out) {
    for (int i = 0; i < JANG_DT_COUNT; i++) {
        if (strcmp(name, dtypes[i].name) == 0) {
            *out = (jang_dtype)i;
            return true;
        }
    }
    return false;
}

static const struct {
    uint32_t id;
    const char *name;
    int64_t block;
    size_t size;
} ggml_types[] = {
#define JANG_X_(e, id, name, bs, ts) {id, name, bs, ts},
    JANG_GGML_TYPE_MAP(JANG_X_)
#undef JANG_X_
};

static int ggml_index(uint32_t type) {
    for (size_t i = 0; i < sizeof ggml_types / sizeof ggml_types[0]; i++)
        if (ggml_types[i].id == type) return (int)i;
    return -1;
}

const char *jang_ggml_type_name(uint32_t type) {
    int i = ggml_index(type);
    return i < 0 ? NULL : ggml_types[i].name;
}

bool jang_ggml_type_info(uint32_t type, int64_t *block_size, size_t *type_size) {
    int i = ggml_index(type);
    if (i < 0) return false;
    if (block_size) *block_size = ggml_types[i].block;
    if (type_size) *type_size = ggml_types[i].size;
    return true;
}
