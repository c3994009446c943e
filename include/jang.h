/* jang.h — the one public header of libjang.
 *
 * JANG is mixed-precision affine weight quantization for LLMs stored as MLX-compatible safetensors.
 * This header exposes: status codes and error details, tensor views, the safetensors reader/writer,
 * the GGUF reader and dequantizer, the model description (architecture hyper-parameters) read
 * from Hugging Face config.json or GGUF metadata with the GGUF -> HF tensor-name mapping, the
 * affine quantizer, allocation and conversion, the runtime (model / context, on the CPU or CUDA
 * backend; docs/ARCHITECTURE.md), tokenizers and sampling, and the evaluation harness.
 *
 * Conventions: every fallible call returns jang_status; on failure jang_last_error() gives a
 * detail string naming the file / tensor / argument. Handles are opaque; every close/free accepts
 * NULL. The library never prints to stdout and never exits. Shapes are in PyTorch (row-major,
 * outermost first) order everywhere, including GGUF tensors (whose on-disk dims are reversed).
 */
#ifndef JANG_H
#define JANG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Version: the one place the number is written (the Makefile reads it for libjang.so and jang.pc;
 * `jang --version` prints it).
 */
#define JANG_VERSION_MAJOR 0
#define JANG_VERSION_MINOR 1
#define JANG_VERSION_PATCH 0
#define JANG_VERSION_STR_(x) #x
#define JANG_VERSION_XSTR_(x) JANG_VERSION_STR_(x)
#define JANG_VERSION_STRING                                                                        \
    JANG_VERSION_XSTR_(JANG_VERSION_MAJOR)                                                         \
    "." JANG_VERSION_XSTR_(JANG_VERSION_MINOR) "." JANG_VERSION_XSTR_(JANG_VERSION_PATCH)

/* The library's version ("0.1.0"): that of the libjang a program runs against, which may differ
 * from the JANG_VERSION_STRING it was compiled with. */
const char *jang_version(void);
/* The backends this build of the library holds, separated by ", ": "cpu", or "cpu, cuda" in a
 * `make CUDA=1` build. */
const char *jang_build_backends(void);

/* ---------------------------------------------------------------------------------------------
 * Status codes: one X-macro list drives the enum and the messages.
 */
#define JANG_STATUS_MAP(X)                                                                         \
    X(JANG_OK, "success")                                                                          \
    X(JANG_E_IO, "I/O error")                                                                      \
    X(JANG_E_FORMAT, "malformed or corrupt input")                                                 \
    X(JANG_E_UNSUPPORTED, "unsupported feature")                                                   \
    X(JANG_E_NOMEM, "out of memory")                                                               \
    X(JANG_E_ARG, "invalid argument")                                                              \
    X(JANG_E_NOTFOUND, "not found")                                                                \
    X(JANG_E_EXISTS, "already exists")                                                             \
    X(JANG_E_CANCELED, "interrupted")

typedef enum {
#define JANG_X_(name, msg) name,
    JANG_STATUS_MAP(JANG_X_)
#undef JANG_X_
        JANG_STATUS_COUNT
} jang_status;

/* Short message for a status ("malformed or corrupt input"). Never NULL. */
const char *jang_status_str(jang_status s);
/* Thread-local detail of the last failure in this thread ("" when none). */
const char *jang_last_error(void);
/* Clears the thread-local detail. */
void jang_clear_error(void);

/* ---------------------------------------------------------------------------------------------
 * Element types of safetensors tensors: X(enum suffix, safetensors name, bytes per element).
 */
#define JANG_DTYPE_MAP(X)                                                                          \
    X(F64, "F64", 8)                                                                               \
    X(F32, "F32", 4)                                                                               \
    X(F16, "F16", 2)                                                                               \
    X(BF16, "BF16", 2)                                                                             \
    X(I64, "I64", 8)                                                                               \
    X(I32, "I32", 4)                                                                               \
    X(I16, "I16", 2)                                                                               \
    X(I8, "I8", 1)                                                                                 \
    X(U64, "U64", 8)                                                                               \
    X(U32, "U32", 4)                                                                               \
    X(U16, "U16", 2)                                                                               \
    X(U8, "U8", 1)                                                                                 \
    X(BOOL, "BOOL", 1)

typedef enum {
#define JANG_X_(e, name, size) JANG_DT_##e,
    JANG_DTYPE_MAP(JANG_X_)
#undef JANG_X_
        JANG_DT_COUNT
} jang_dtype;

const char *jang_dtype_name(jang_dtype dt);
size_t jang_dtype_size(jang_dtype dt);
/* Parses a safetensors dtype name ("BF16"); returns false when unknown. */
bool jang_dtype_parse(const char *name, jang_dtype *out);

#define JANG_MAX_DIMS 8

/* A tensor view: data points into a memory map owned by the file handle it came from. */
typedef struct jang_tensor {
    const char *name;
    jang_dtype dtype;
    int32_t n_dims;
    int64_t shape[JANG_MAX_DIMS]; /* PyTorch order, outermost first */
    int64_t n_elements;
    size_t n_bytes;
    const void *data; /* not necessarily aligned */
    const char *file; /* path of the file holding the data */
} jang_tensor;

/* ---------------------------------------------------------------------------------------------
 * Safetensors reader: a single file, a directory (model.safetensors or the sharded index), or a
 * model.safetensors.index.json. Memory-mapped, zero-copy, every header fully validated on open.
 */
typedef struct jang_st jang_st;

jang_status jang_st_open(const char *path, jang_st **out);
void jang_st_close(jang_st *st);
int64_t jang_st_count(const jang_st *st);
/* Tensors in a stable order (by file, then by data offset). NULL when i is out of range. */
const jang_tensor *jang_st_get(const jang_st *st, int64_t i);
/* NULL when absent. */
const jang_tensor *jang_st_find(const jang_st *st, const char *name);
/* __metadata__ value of the first file for key, or NULL. */
const char *jang_st_metadata(const jang_st *st, const char *key);
/* Number of files mapped (1 for a single file). */
int jang_st_n_files(const jang_st *st);

/* Safetensors writer (streaming, bounded memory): declare every tensor first, then write their
 * data in declaration order, then finish. Output goes to "<path>.tmp", is fsync'ed and renamed
 * to path by jang_st_writer_finish; jang_st_writer_abort (or a failure) removes the temporary.
 * The layout stays valid for the strict reference reader (tensors tile the data section with no
 * gaps): the data section starts 64-byte aligned (relative to the file start); tensors whose size
 * is a multiple of 64 bytes start 64-byte aligned, the others at least element-size aligned. */
typedef struct jang_st_writer jang_st_writer;

jang_status jang_st_writer_open(const char *path, jang_st_writer **out);
jang_status jang_st_writer_set_metadata(jang_st_writer *w, const char *key, const char *value);
jang_status jang_st_writer_declare(jang_st_writer *w, const char *name, jang_dtype dtype,
                                   int32_t n_dims, const int64_t *shape);
/* Writes (part of) the data of the next tensor; may be called repeatedly until the declared
 * size is complete. */
jang_status jang_st_writer_write(jang_st_writer *w, const void *data, size_t n_bytes);
jang_status jang_st_writer_finish(jang_st_writer *w); /* frees w */
void jang_st_writer_abort(jang_st_writer *w);         /* frees w, removes the temporary */

/* ---------------------------------------------------------------------------------------------
 * GGUF reader (v2 and v3). Metadata values are parsed into a tree; tensor data stays mapped.
 */
#define JANG_GGUF_VTYPE_MAP(X)                                                                     \
    X(UINT8, 0, "u8")                                                                              \
    X(INT8, 1, "i8")                                                                               \
    X(UINT16, 2, "u16")                                                                            \
    X(INT16, 3, "i16")                                                                             \
    X(UINT32, 4, "u32")                                                                            \
    X(INT32, 5, "i32")                                                                             \
    X(FLOAT32, 6, "f32")                                                                           \
    X(BOOL, 7, "bool")                                                                             \
    X(STRING, 8, "str")                                                                            \
    X(ARRAY, 9, "arr")                                                                             \
    X(UINT64, 10, "u64")                                                                           \
    X(INT64, 11, "i64")                                                                            \
    X(FLOAT64, 12, "f64")

typedef enum {
#define JANG_X_(e, v, s) JANG_GGUF_##e = v,
    JANG_GGUF_VTYPE_MAP(JANG_X_)
#undef JANG_X_
} jang_gguf_vtype;

typedef struct jang_gguf_value jang_gguf_value;
struct jang_gguf_value {
    jang_gguf_vtype type;
    union {
        uint64_t u64; /* UINT8..UINT64 */
        int64_t i64;  /* INT8..INT64 */
        double f64;   /* FLOAT32, FLOAT64 */
        bool b;       /* BOOL */
        struct {      /* STRING: not NUL-terminated, may contain any bytes */
            const char *ptr;
            uint64_t len;
        } str;
        struct {                  /* ARRAY */
            jang_gguf_vtype type; /* element type */
            uint64_t n;
            const void *raw; /* numeric/bool elements: packed little-endian in the map */
            const jang_gguf_value *items; /* STRING and ARRAY elements: n parsed values */
        } arr;
    } v;
};

/* ggml tensor types: X(enum suffix, ggml id, name, block size in elements, bytes per block). */
#define JANG_GGML_TYPE_MAP(X)                                                                      \
    X(F32, 0, "F32", 1, 4)                                                                         \
    X(F16, 1, "F16", 1, 2)                                                                         \
    X(Q4_0, 2, "Q4_0", 32, 18)                                                                     \
    X(Q4_1, 3, "Q4_1", 32, 20)                                                                     \
    X(Q5_0, 6, "Q5_0", 32, 22)                                                                     \
    X(Q5_1, 7, "Q5_1", 32, 24)                                                                     \
    X(Q8_0, 8, "Q8_0", 32, 34)                                                                     \
    X(Q8_1, 9, "Q8_1", 32, 36)                                                                     \
    X(Q2_K, 10, "Q2_K", 256, 84)                                                                   \
    X(Q3_K, 11, "Q3_K", 256, 110)                                                                  \
    X(Q4_K, 12, "Q4_K", 256, 144)                                                                  \
    X(Q5_K, 13, "Q5_K", 256, 176)                                                                  \
    X(Q6_K, 14, "Q6_K", 256, 210)                                                                  \
    X(Q8_K, 15, "Q8_K", 256, 292)                                                                  \
    X(IQ2_XXS, 16, "IQ2_XXS", 256, 66)                                                             \
    X(IQ2_XS, 17, "IQ2_XS", 256, 74)                                                               \
    X(IQ3_XXS, 18, "IQ3_XXS", 256, 98)                                                             \
    X(IQ1_S, 19, "IQ1_S", 256, 50)                                                                 \
    X(IQ4_NL, 20, "IQ4_NL", 32, 18)                                                                \
    X(IQ3_S, 21, "IQ3_S", 256, 110)                                                                \
    X(IQ2_S, 22, "IQ2_S", 256, 82)                                                                 \
    X(IQ4_XS, 23, "IQ4_XS", 256, 136)                                                              \
    X(I8, 24, "I8", 1, 1)                                                                          \
    X(I16, 25, "I16", 1, 2)                                                                        \
    X(I32, 26, "I32", 1, 4)                                                                        \
    X(I64, 27, "I64", 1, 8)                                                                        \
    X(F64, 28, "F64", 1, 8)                                                                        \
    X(IQ1_M, 29, "IQ1_M", 256, 56)                                                                 \
    X(BF16, 30, "BF16", 1, 2)                                                                      \
    X(TQ1_0, 34, "TQ1_0", 256, 54)                                                                 \
    X(TQ2_0, 35, "TQ2_0", 256, 66)

typedef enum {
#define JANG_X_(e, id, name, bs, ts) JANG_GGML_##e = id,
    JANG_GGML_TYPE_MAP(JANG_X_)
#undef JANG_X_
} jang_ggml_type;

/* Name of a ggml type id ("Q4_K"), or NULL when the id is unknown. */
const char *jang_ggml_type_name(uint32_t type);
/* Block size / bytes per block of a known type; false when unknown. */
bool jang_ggml_type_info(uint32_t type, int64_t *block_size, size_t *type_size);
/* Whether jang_gguf_dequantize supports this type. */
bool jang_ggml_can_dequantize(uint32_t type);

typedef struct jang_gguf_tensor {
    const char *name;
    uint32_t type; /* jang_ggml_type */
    int32_t n_dims;
    int64_t ne[4];    /* GGUF order: ne[0] is the innermost (contiguous) dimension */
    int64_t shape[4]; /* PyTorch order: shape[i] = ne[n_dims - 1 - i] */
    int64_t n_elements;
    uint64_t offset; /* relative to the start of the data section */
    size_t n_bytes;
    const void *data;
} jang_gguf_tensor;

typedef struct jang_gguf jang_gguf;

jang_status jang_gguf_open(const char *path, jang_gguf **out);
void jang_gguf_close(jang_gguf *g);
uint32_t jang_gguf_version(const jang_gguf *g);
const char *jang_gguf_path(const jang_gguf *g);
uint64_t jang_gguf_alignment(const jang_gguf *g);

int64_t jang_gguf_n_kv(const jang_gguf *g);
/* Key i (NUL-terminated copy owned by g) or NULL when out of range. */
const char *jang_gguf_key(const jang_gguf *g, int64_t i);
const jang_gguf_value *jang_gguf_value_at(const jang_gguf *g, int64_t i);
/* NULL when the key is absent. */
const jang_gguf_value *jang_gguf_find(const jang_gguf *g, const char *key);
/* Typed look-ups: return false when absent or of an incompatible type. Integer getters accept any
 * integer type whose value fits; the float getter accepts floats and integers. */
bool jang_gguf_get_i64(const jang_gguf *g, const char *key, int64_t *out);
bool jang_gguf_get_f64(const jang_gguf *g, const char *key, double *out);
bool jang_gguf_get_bool(const jang_gguf *g, const char *key, bool *out);
/* Returns a NUL-terminated copy owned by g (strings with embedded NULs are truncated there). */
const char *jang_gguf_get_str(const jang_gguf *g, const char *key);

int64_t jang_gguf_n_tensors(const jang_gguf *g);
const jang_gguf_tensor *jang_gguf_tensor_at(const jang_gguf *g, int64_t i);
const jang_gguf_tensor *jang_gguf_find_tensor(const jang_gguf *g, const char *name);
/* Dequantizes a whole tensor to n_elements floats (in the tensor's memory order). Unsupported
 * types fail with JANG_E_UNSUPPORTED naming the tensor and the type. */
jang_status jang_gguf_dequantize(const jang_gguf_tensor *t, float *out);
/* Dequantizes n elements of raw data of the given type (n a multiple of the block size). */
jang_status jang_ggml_dequantize_raw(uint32_t type, const void *data, int64_t n, float *out);

/* ---------------------------------------------------------------------------------------------
 * Model description: architecture hyper-parameters from HF config.json or GGUF metadata.
 */
#define JANG_ARCH_MAP(X)                                                                           \
    X(UNKNOWN, "unknown")                                                                          \
    X(LLAMA, "llama")                                                                              \
    X(MISTRAL, "mistral")                                                                          \
    X(QWEN2, "qwen2")                                                                              \
    X(QWEN3, "qwen3")                                                                              \
    X(QWEN2_MOE, "qwen2_moe")                                                                      \
    X(QWEN3_MOE, "qwen3_moe")                                                                      \
    X(MIXTRAL, "mixtral")                                                                          \
    X(GEMMA, "gemma")                                                                              \
    X(GEMMA2, "gemma2")                                                                            \
    X(GEMMA3, "gemma3")                                                                            \
    X(PHI3, "phi3")                                                                                \
    X(MAMBA, "mamba")

typedef enum {
#define JANG_X_(e, s) JANG_ARCH_##e,
    JANG_ARCH_MAP(JANG_X_)
#undef JANG_X_
        JANG_ARCH_COUNT
} jang_arch;

const char *jang_arch_name(jang_arch a);

#define JANG_ROPE_SCALING_MAP(X)                                                                   \
    X(NONE, "none")                                                                                \
    X(LINEAR, "linear")                                                                            \
    X(DYNAMIC, "dynamic")                                                                          \
    X(YARN, "yarn")                                                                                \
    X(LLAMA3, "llama3")                                                                            \
    X(LONGROPE, "longrope")

typedef enum {
#define JANG_X_(e, s) JANG_ROPE_SCALING_##e,
    JANG_ROPE_SCALING_MAP(JANG_X_)
#undef JANG_X_
} jang_rope_scaling;

const char *jang_rope_scaling_name(jang_rope_scaling r);

typedef struct jang_model_desc {
    jang_arch arch;
    char arch_name[64]; /* as the source names it: "LlamaForCausalLM" or GGUF "llama" */
    char model_name[128];
    int64_t n_layers;
    int64_t dim;     /* hidden size */
    int64_t ffn_dim; /* intermediate size of the dense MLP */
    int64_t n_heads;
    int64_t n_kv_heads;
    int64_t head_dim;
    int64_t vocab_size;
    int64_t max_seq_len;
    double norm_eps;
    bool tied_embeddings;
    bool attn_bias; /* q/k/v projections carry biases (Qwen2) */
    bool qk_norm;   /* RMSNorm on q and k per head (Qwen3) */
    /* RoPE */
    double rope_theta;
    int64_t rope_dim; /* rotated dimensions per head (== head_dim unless partial) */
    bool rope_neox; /* pairs (i, i + d/2) as in HF; false = interleaved (i, i+1) as in GGUF llama */
    jang_rope_scaling rope_scaling;
    double rope_factor;
    int64_t rope_orig_ctx;
    double rope_low_freq_factor, rope_high_freq_factor; /* llama3 */
    double rope_beta_fast, rope_beta_slow;              /* yarn */
    int64_t sliding_window;                             /* 0 = none */
    /* MoE */
    int64_t n_experts;
    int64_t n_experts_used;
    int64_t moe_ffn_dim;
    int64_t shared_expert_ffn_dim;
    bool norm_topk_prob;
    /* SSM (Mamba) */
    int64_t ssm_d_state;
    int64_t ssm_d_conv;
    int64_t ssm_d_inner;
    int64_t ssm_dt_rank;
    /* special tokens (-1 = unknown) */
    int64_t bos_token_id;
    int64_t eos_token_id;
} jang_model_desc;

/* Reads config.json (path to the file or to the model directory). */
jang_status jang_desc_from_hf_config(const char *path, jang_model_desc *out);
jang_status jang_desc_from_gguf(const jang_gguf *g, jang_model_desc *out);
/* Checks a description before anything is sized from it: every dimension within a generous upper
 * bound (layers <= 2^12; hidden/intermediate sizes, heads, head_dim, experts, SSM sizes and
 * n_heads x head_dim <= 2^20; vocab <= 2^24; context lengths <= 2^30; see desc.c for why), the
 * required ones (layers, hidden size, vocab; heads and head_dim for attention models) >= 1, the
 * others >= 0, heads a multiple of KV heads, an even RoPE dimension <= head_dim, and every tensor
 * of the architecture <= 2^40 elements (checked multiplication: no product wraps). JANG_E_FORMAT
 * naming src (the file the description came from) and the field. Both readers above run it; the
 * loader and the converter refuse what it refuses, and `jang validate` reports it. */
jang_status jang_desc_check(const jang_model_desc *d, const char *src);
/* The Hugging Face config.json of a description (what transformers / mlx-lm read: architectures,
 * model_type, sizes, rope_theta, rope_scaling, tie_word_embeddings, attention_bias ...), for the
 * dense llama / mistral / qwen2 / qwen3 models; torch_dtype NULL = "float16". Returns malloc'ed
 * JSON text. JANG_E_UNSUPPORTED for other architectures, or what config.json cannot express
 * (Llama-3 RoPE scaling known only from a GGUF's rope_freqs tensor). Used for GGUF sources. */
jang_status jang_desc_to_hf_config(const jang_model_desc *d, const char *torch_dtype, char **out);

/* What a converter must do to a GGUF tensor's values to get the HF/MLX tensor back. */
#define JANG_GGUF_FIX_MAP(X)                                                                       \
    X(NONE, "none")                                                                                \
    X(UNPERMUTE_Q, "undo llama.cpp Q row permutation (n_heads)")                                   \
    X(UNPERMUTE_K, "undo llama.cpp K row permutation (n_kv_heads)")                                \
    X(MINUS_ONE, "subtract 1 (Gemma norm weights are stored as 1 + w)")                            \
    X(LOG_NEG, "A_log = log(-A) (Mamba stores A = -exp(A_log))")

typedef enum {
#define JANG_X_(e, s) JANG_GGUF_FIX_##e,
    JANG_GGUF_FIX_MAP(JANG_X_)
#undef JANG_X_
} jang_gguf_fix;

const char *jang_gguf_fix_name(jang_gguf_fix f);

/* Maps a llama.cpp tensor name ("blk.3.attn_q.weight") of an architecture to its HF/MLX name
 * ("model.layers.3.self_attn.q_proj.weight") and the value fix-up a converter must apply.
 * Stacked MoE experts map to MLX's stacked "...switch_mlp.{gate,up,down}_proj.weight".
 * JANG_E_NOTFOUND (with detail) for tensors that have no HF counterpart (e.g. rope_freqs). */
jang_status jang_gguf_map_name(jang_arch arch, const char *gguf_name, char *out, size_t cap,
                               jang_gguf_fix *fix);
/* Undoes llama.cpp's Q/K row permutation in place: w is (rows, cols) f32 (cols = 1 for a bias),
 * rows = n_head * head_dim with head_dim even. */
jang_status jang_unpermute_rows(float *w, int64_t rows, int64_t cols, int64_t n_head);

/* ---------------------------------------------------------------------------------------------
 * Affine quantization (MLX format, DESIGN §3.1-3.2). A (rows, cols) f32 matrix is cut into groups
 * of `group` consecutive values of a row; each group stores codes q in [0, 2^bits - 1] and one
 * scale and bias (F16 or BF16), w' = scale * q + bias. Codes are packed per row as an LSB-first
 * bit stream of uint32 words: packed is (rows, cols * bits / 32), scales and biases are
 * (rows, cols / group). bits: 2, 3, 4, 5, 6, 8; group: 32, 64, 128; cols % group == 0.
 *
 * JANG_AFFINE_RTN is bit-exact with mlx's CPU mx.quantize (checked against mlx 0.32.4): all
 * arithmetic in f32 on the given values, codes from the unrounded f32 scale/bias, the stored
 * scale/bias rounded to nearest even. For an F16/BF16 source pass its values converted to f32
 * (exact): the result equals mx.quantize of the f16/bf16 array. For an f32 source the result
 * equals mx.quantize(f32) followed by scales/biases.astype(scale dtype). (jang 2.5 itself first
 * casts every source to f16, i.e. rounds the values; a faithful converter does that before.)
 * JANG_AFFINE_MSE writes the same format with a per-group error-minimising search (clip ratios,
 * weighted least-squares refit of scale and bias, exact error with the rounded values); its
 * result is never worse than RTN on any group, under the optional per-column weights.
 */
#define JANG_AFFINE_METHOD_MAP(X)                                                                  \
    X(RTN, "rtn")                                                                                  \
    X(MSE, "mse")

typedef enum {
#define JANG_X_(e, s) JANG_AFFINE_##e,
    JANG_AFFINE_METHOD_MAP(JANG_X_)
#undef JANG_X_
} jang_affine_method;

const char *jang_affine_method_name(jang_affine_method m);
bool jang_affine_method_parse(const char *s, jang_affine_method *out); /* "rtn", "mse" */
bool jang_affine_bits_valid(int bits);
bool jang_affine_group_valid(int group);

typedef struct jang_affine_opts {
    jang_affine_method method; /* used by jang_affine_quantize; default RTN */
    int n_threads;             /* <= 0: one per online CPU (rows are split statically) */
    const float *col_weight;   /* MSE only: (cols) importance of each input column, e.g. mean
                                  squared activation; >= 0; NULL = uniform */
    int mse_steps;             /* MSE only: clip ratios tried per group; <= 0: default per width */
} jang_affine_opts;

void jang_affine_opts_init(jang_affine_opts *o);

/* Quantizes w (rows, cols) with opts->method (opts NULL: RTN, all CPUs). Non-finite input fails
 * with JANG_E_ARG naming the row and column (callers add the tensor name); so does a scale or
 * bias that overflows the scale dtype (f32 input beyond the f16 range). */
jang_status jang_affine_quantize(const float *w, int64_t rows, int64_t cols, int bits, int group,
                                 jang_dtype scale_dtype, const jang_affine_opts *opts,
                                 uint32_t *packed, uint16_t *scales, uint16_t *biases);
/* The same with the MSE search whatever opts->method says. */
jang_status jang_affine_quantize_mse(const float *w, int64_t rows, int64_t cols, int bits,
                                     int group, jang_dtype scale_dtype,
                                     const jang_affine_opts *opts, uint32_t *packed,
                                     uint16_t *scales, uint16_t *biases);
/* out (rows, cols) = mx.dequantize's result converted to f32: MLX computes in the scale dtype,
 * rd(rd(scale * q) + bias) with rd = round to F16/BF16 (so f16 results may overflow to inf). */
jang_status jang_affine_dequantize(const uint32_t *packed, const uint16_t *scales,
                                   const uint16_t *biases, int64_t rows, int64_t cols, int bits,
                                   int group, jang_dtype scale_dtype, float *out);
/* Packs n codes (< 2^bits each; n * bits a multiple of 32) into n * bits / 32 words, and back. */
jang_status jang_affine_pack(const uint8_t *q, int64_t n, int bits, uint32_t *packed);
jang_status jang_affine_unpack(const uint32_t *packed, int64_t n, int bits, uint8_t *q);

/* ---------------------------------------------------------------------------------------------
 * Allocation (DESIGN §4): for every source tensor, whether it is quantized, kept unquantized or
 * dropped, and at which bits and group size. Recipes: faithful JANG (jang 2.5.x: its tiers, the
 * 11 fixed profiles and the JANG_2K..6K budget profiles, exactly as `jang convert -p P [-b B]`
 * decides, quirks included), mlx-lm's uniform `--q-bits B --q-group-size G` and its mixed_2_6 /
 * mixed_3_4 / mixed_3_6 / mixed_4_6 recipes. Every allocator fills the same plan (jang_plan), so
 * our own allocators (a `--target-bpw` budget solver fed per-tensor sensitivities measured
 * outside) share it. Checked against jang and mlx-lm themselves (tests/test_alloc.c).
 */
/* jang's sensitivity tiers (jang_tools.allocate.Tier, same values). */
#define JANG_TIER_MAP(X)                                                                           \
    X(COMPRESS, 1, "COMPRESS")                                                                     \
    X(IMPORTANT, 2, "IMPORTANT")                                                                   \
    X(CRITICAL, 3, "CRITICAL")

typedef enum {
#define JANG_X_(e, v, s) JANG_TIER_##e = v,
    JANG_TIER_MAP(JANG_X_)
#undef JANG_X_
} jang_tier;

const char *jang_tier_name(jang_tier t);
/* jang's classify_tensor: ordered substring rules on the lower-cased name, first match wins, with
 * its MoE special case (on a MoE model, or one with a shared dense MLP, an MLP outside `experts`
 * is CRITICAL). n_experts: 0 for dense models. */
jang_tier jang_tier_of(const char *name, int64_t n_experts, bool has_shared_mlp);

/* What the allocators need to know about the model, as jang (architectures.py, convert.py) and
 * mlx-lm read it from config.json. */
typedef struct jang_alloc_model {
    char model_type[64];      /* config.json "model_type" ("qwen3_moe"); from GGUF the arch name */
    char arch_type[32];       /* jang's ArchType ("transformer", "moe", "mamba", ...) */
    int64_t n_layers;         /* num_hidden_layers (mlx-lm's recipes count layers with it) */
    int64_t n_experts;        /* jang's num_experts: 0 unless jang detects a MoE */
    bool has_moe;             /* jang's has_moe_layers (group size 128 from 150 experts) */
    bool has_shared_mlp;      /* jang: "enable_moe_block" and "intermediate_size" > 0 */
    bool skip_state_d;        /* jang's Mamba rule table is in use: names containing "D" are
                                 never quantized (mamba, mamba2, jamba, zamba, zamba2) */
    bool tied_embeddings;     /* jang: "tie_word_embeddings" (absent = false), top level or in
                                 text_config; a tied model's lm_head tensor is dropped */
    int64_t qk_nope_head_dim; /* not a multiple of 128: the 150-expert group size stays 64 */
    bool relu2_act;           /* "mlp_hidden_act" relu2 / squared_relu: with experts and no
                                 gate_proj, jang's gate-less relu2 floors apply */
} jang_alloc_model;

/* Reads config.json (file or model directory) the way jang's detect_architecture does. */
jang_status jang_alloc_model_from_hf_config(const char *path, jang_alloc_model *out);
/* The same facts from a model description (GGUF sources). */
void jang_alloc_model_from_desc(const jang_model_desc *d, jang_alloc_model *out);

/* JANG profiles: the 11 fixed ones (bits per tier) and the budget ("K") ones (target average). */
typedef struct jang_profile {
    const char *name;                  /* "JANG_4M" */
    int critical, important, compress; /* fixed profiles; 0 for K profiles */
    double k_target;                   /* K profiles: average JANG bits to aim at; 0 otherwise */
    double target_bits;                /* what `jang convert` records as target_bits */
} jang_profile;

int jang_profile_count(void);
const jang_profile *jang_profile_at(int i); /* jang's order: fixed, then K; NULL out of range */
/* `jang convert -p ARG`: a profile name in any case ("jang_4k"), or a number, clamped to 1..8
 * (1 JANG_1L, 2 JANG_2S, 3..6 JANG_3K..6K, 7 and 8 JANG_6M). JANG_E_ARG for anything else. */
jang_status jang_profile_parse(const char *arg, const jang_profile **out);

#define JANG_RECIPE_MAP(X)                                                                         \
    X(JANG, "jang")                                                                                \
    X(UNIFORM, "uniform")                                                                          \
    X(MIXED_2_6, "mixed_2_6")                                                                      \
    X(MIXED_3_4, "mixed_3_4")                                                                      \
    X(MIXED_3_6, "mixed_3_6")                                                                      \
    X(MIXED_4_6, "mixed_4_6")                                                                      \
    X(TARGET_BPW, "target-bpw")

typedef enum {
#define JANG_X_(e, s) JANG_RECIPE_##e,
    JANG_RECIPE_MAP(JANG_X_)
#undef JANG_X_
        JANG_RECIPE_COUNT
} jang_recipe;

const char *jang_recipe_name(jang_recipe r);
bool jang_recipe_parse(const char *s, jang_recipe *out); /* "mixed_2_6", ... */

#define JANG_ALLOC_ACTION_MAP(X)                                                                   \
    X(QUANT, "quant")                                                                              \
    X(KEEP, "keep")                                                                                \
    X(DROP, "drop")

typedef enum {
#define JANG_X_(e, s) JANG_ALLOC_##e,
    JANG_ALLOC_ACTION_MAP(JANG_X_)
#undef JANG_X_
} jang_alloc_action;

const char *jang_alloc_action_name(jang_alloc_action a);

/* One source tensor, under its Hugging Face name (GGUF names mapped by jang_gguf_map_name). */
typedef struct jang_alloc_tensor {
    const char *name;
    jang_dtype dtype; /* source dtype (F32 for dequantized GGUF tensors) */
    int32_t n_dims;
    int64_t shape[JANG_MAX_DIMS]; /* PyTorch order */
    int32_t shard;      /* rank of its file among the source files sorted by name (0 for a single
                           file or a GGUF): jang visits tensors by (file, name), and its budget
                           allocator depends on that order */
    double sensitivity; /* optional, >= 0 (0 = unknown): importance measured outside, for
                           allocators that take it; the jang and mlx-lm recipes ignore it */
} jang_alloc_tensor;

/* The decision for one tensor. */
typedef struct jang_alloc_entry {
    jang_alloc_action action;
    int bits, group;       /* QUANT only (0 otherwise) */
    jang_tier tier;        /* jang's tier of the name (for every recipe, for reports) */
    jang_dtype keep_dtype; /* KEEP: stored dtype (jang: F16, or F32 for an F32 routing bias;
                              mlx-lm: the source dtype) */
    int64_t n_blocks;      /* JANG: ceil(elements / block_size) when jang allocated bits to it
                              (routers included), else 0 */
} jang_alloc_entry;

typedef struct jang_alloc_opts {
    jang_recipe recipe;          /* default JANG */
    const jang_profile *profile; /* JANG: default JANG_2S (`jang convert`'s -p 2) */
    int block_size;              /* JANG `-b`: 0 = jang's auto (64; 128 for MoE >= 150 experts) */
    bool mlp_asymmetry;          /* JANG: false = --no-mlp-asymmetry-floor; default true */
    int bits;                    /* UNIFORM --q-bits: default 4 */
    int group;                   /* UNIFORM and MIXED_* --q-group-size: 0 = mlx-lm's 64 */
} jang_alloc_opts;

void jang_alloc_opts_init(jang_alloc_opts *o);

typedef struct jang_plan {
    int64_t n;
    jang_alloc_entry *entries; /* one per input tensor, in the input order */
    jang_recipe recipe;
    char label[64];     /* "JANG_4K", "mixed_2_6", "uniform 4-bit g64" */
    int block_size;     /* JANG: the global block size jang settled on; else the group size */
    double target_bits; /* JANG: jang's target_bits; else 0 */
    double jang_bits;   /* JANG's "actual_bits": sum(bits * n_blocks) / sum(n_blocks) over the
                           tensors jang allocated bits to (mlx-lm recipes: over the quantized
                           tensors, blocks of their group size) */
} jang_plan;

/* Decides every tensor. JANG_E_ARG for bad options or tensors (no name, n_dims out of range);
 * JANG_E_UNSUPPORTED where the reference itself refuses (a mixed recipe on a model without
 * down_proj, as mlx-lm does). */
jang_status jang_plan_make(const jang_alloc_tensor *tensors, int64_t n, const jang_alloc_model *m,
                           const jang_alloc_opts *opts, jang_plan **out);
/* An empty plan of n entries (KEEP, tier COMPRESS) for other allocators to fill. */
jang_plan *jang_plan_new(int64_t n);
void jang_plan_free(jang_plan *p);

/* Our allocator (DESIGN §4.3): a true-size budget, `jang convert --target-bpw X`. It chooses
 * (bits, group) per quantized tensor so that the TRUE bits per weight of the whole file -- codes
 * + scales + biases (one of each per group, 2 bytes each) + the passthrough tensors at their
 * stored size, over every parameter written -- is at most X and at least 0.99 X. Which tensors
 * are quantized, kept or dropped comes from a base plan (jang's decisions: jang_plan_make with
 * the JANG recipe); every tensor it quantizes becomes a variable with one option per
 * (bits, group) of the quantizer whose group divides its in_features.
 * Sensitivity, calibration-free: err[i][k] = relative squared error ||W - Q_k(W)||^2 / ||W||^2 of
 * tensor i quantized with option k (measured on evenly spaced sample rows by
 * jang_budget_measure), times a weight: the tensor's jang_alloc_tensor.sensitivity when > 0
 * (measured outside, e.g. by calibration), else a prior from its role (lm_head and a tied
 * embedding, attention, the first and last two layers count more; see budget.c). The solver
 * minimises the sum of weighted errors under the byte budget as a multiple-choice knapsack:
 * per tensor the lower convex hull of (bytes, error), greedy upgrades by error reduction per
 * byte while they fit, then the leftover budget filled with the best upgrades that still fit,
 * trades (a step too big for the leftover paid by downgrades that cost less error) and padding
 * until the file is within 1% of the target. */
#define JANG_BUDGET_MAX_OPTIONS 32

/* The options (bits, group) in a fixed order: k = 0 .. jang_budget_n_options() - 1. */
int jang_budget_n_options(void);
void jang_budget_option(int k, int *bits, int *group);

/* Reads rows [row0, row0 + n_rows) of tensor i (rows = every dimension but the last) as f32, the
 * values the converter will quantize. Called from several threads at once. */
typedef jang_status (*jang_rows_fn)(void *ctx, int64_t i, int64_t row0, int64_t n_rows, float *out);

typedef struct jang_budget_opts {
    double target_bpw;         /* X: true bits per weight of the file */
    jang_affine_method method; /* quantizer the errors are measured with; default MSE */
    jang_dtype scale_dtype;    /* F16 (default) or BF16 */
    int sample_rows;           /* rows measured per tensor; <= 0: 128; all rows when fewer */
    int n_threads;             /* <= 0: one per CPU */
    bool priors;               /* weight errors by role when sensitivity is 0; default true */
    /* progress of jang_budget_measure: tensors measured of total (may be NULL) */
    void (*progress)(void *ctx, int64_t done, int64_t total);
    void *progress_ctx;
    const volatile int *cancel; /* non-zero: stop with JANG_E_CANCELED (may be NULL) */
} jang_budget_opts;

void jang_budget_opts_init(jang_budget_opts *o);

/* Bytes and parameters of a plan as the file will store them (DESIGN §2): quantized tensors
 * rows * (in * bits / 8 + in / group * 2 * scale bytes), kept ones at keep_dtype, dropped ones
 * not at all. true bpw = bytes * 8 / params. scale_dtype: F16 or BF16 (2 bytes either way). */
void jang_plan_size(const jang_alloc_tensor *t, int64_t n, const jang_plan *p, uint64_t *bytes,
                    int64_t *params);
/* The true bpw range a budget can reach on a base plan: every variable at its smallest option
 * (2 bits, the largest group that divides) or its largest (8 bits, group 32). */
jang_status jang_budget_bounds(const jang_alloc_tensor *t, int64_t n, const jang_plan *base,
                               double *min_bpw, double *max_bpw);
/* err: n * JANG_BUDGET_MAX_OPTIONS doubles, err[i * JANG_BUDGET_MAX_OPTIONS + k]; filled for the
 * tensors base quantizes and the options they allow, NAN elsewhere. A non-finite value read is
 * JANG_E_FORMAT naming the tensor, row and column. */
jang_status jang_budget_measure(const jang_alloc_tensor *t, int64_t n, const jang_plan *base,
                                const jang_budget_opts *o, jang_rows_fn read, void *ctx,
                                double *err);
/* The plan for o->target_bpw from measured errors (laid out as above; NAN = option not allowed).
 * JANG_E_ARG, naming the reachable range, when the target is below the minimum or above the
 * maximum true bpw. The plan's recipe is JANG_RECIPE_TARGET_BPW, target_bits the target. */
jang_status jang_budget_solve(const jang_alloc_tensor *t, int64_t n, const jang_alloc_model *m,
                              const jang_plan *base, const double *err, const jang_budget_opts *o,
                              jang_plan **out);

/* ---------------------------------------------------------------------------------------------
 * Conversion (`jang convert`): a Hugging Face safetensors directory (F32/F16/BF16, sharded or
 * not) or a GGUF file (dequantized, names mapped, llama.cpp's fix-ups undone) to a JANG v2
 * directory. open() reads only headers and decides every tensor (the target-bpw allocator also
 * measures errors on sample rows); write() declares every output tensor up front, then streams
 * tensor by tensor in row chunks (read -> f32 -> quantize on a worker pool -> write), so memory
 * stays near one chunk plus one tensor's scales and biases whatever the model size. Output is
 * written by jang_dir_writer (a temporary sibling directory renamed into place: an interrupted
 * or failed run leaves no output). Values are rounded to float16 before quantizing for the JANG
 * profiles (as jang does) and for GGUF sources (treated as float16 models); scales and biases
 * are float16 (bfloat16 for mlx-lm recipes on a bfloat16 source, as mlx-lm). HF sources bring
 * config.json and the tokenizer files; GGUF sources get config.json from the model description
 * and tokenizer.json from the GGUF vocabulary (jang_desc_to_hf_config, jang_tokenizer_export_hf).
 */
typedef struct jang_converter jang_converter;

#define JANG_CONVERT_PHASE_MAP(X)                                                                  \
    X(MEASURE, "measuring")                                                                        \
    X(WRITE, "writing")

typedef enum {
#define JANG_X_(e, s) JANG_CONVERT_##e,
    JANG_CONVERT_PHASE_MAP(JANG_X_)
#undef JANG_X_
} jang_convert_phase;

typedef struct jang_convert_progress {
    jang_convert_phase phase;
    int64_t done, total;              /* tensors */
    uint64_t bytes_done, bytes_total; /* source bytes (WRITE) */
    const char *tensor;               /* the tensor in progress (WRITE), or NULL */
} jang_convert_progress;

typedef struct jang_convert_opts {
    jang_alloc_opts alloc;     /* recipe and its options (used when target_bpw <= 0) */
    double target_bpw;         /* > 0: our budget allocator (jang_budget_*) */
    jang_affine_method method; /* default MSE; RTN is bit-exact with mx.quantize */
    int n_threads;             /* <= 0: one per CPU */
    int sample_rows;           /* target-bpw: rows measured per tensor (<= 0: 128) */
    uint64_t max_shard_bytes;  /* default 5 GiB */
    bool force;                /* replace an existing output directory */
    void (*progress)(void *ctx, const jang_convert_progress *p); /* may be NULL */
    void *progress_ctx;
    const volatile int *cancel; /* non-zero: stop with JANG_E_CANCELED, nothing left behind */
} jang_convert_opts;

void jang_convert_opts_init(jang_convert_opts *o);

/* One output entry, in source order. */
typedef struct jang_convert_tensor {
    const char *name;        /* output: module path when quantized, else the tensor name */
    const char *source_name; /* name in the source file (GGUF "blk.0.attn_q.weight") */
    int32_t n_dims;
    int64_t shape[JANG_MAX_DIMS]; /* logical shape */
    jang_alloc_action action;
    jang_tier tier;
    int bits, group;    /* QUANT */
    jang_dtype dtype;   /* KEEP: stored dtype */
    uint64_t bytes;     /* stored bytes; 0 when dropped */
    uint64_t src_bytes; /* bytes in the source file */
    double rel_err;     /* target-bpw: measured relative squared error at the chosen option,
                           else NAN */
} jang_convert_tensor;

#define JANG_CONVERT_MAX_NOTES 8

typedef struct jang_convert_summary {
    char label[64];       /* "JANG_4K", "mixed_2_6", "uniform 4-bit g64", "target 4.5 bpw" */
    char source_kind[16]; /* "gguf" or "safetensors" */
    jang_recipe recipe;
    jang_affine_method method;
    int block_size;
    int64_t n_quantized, n_kept, n_dropped;
    int64_t n_params;   /* written: quantized (logical) + kept */
    uint64_t bytes;     /* tensor bytes written: codes + scales + biases + kept */
    double true_bpw;    /* bytes * 8 / n_params */
    double jang_bits;   /* as jang_config.json records it (block-weighted, block_size) */
    double target_bpw;  /* target-bpw only, else 0 */
    uint64_t src_bytes; /* source bytes of the tensors read */
    int n_notes;        /* what the user should know: tokenizer not written, skipped tensors */
    char notes[JANG_CONVERT_MAX_NOTES][320];
} jang_convert_summary;

/* Opens src (GGUF file or HF directory) and decides every tensor. Errors name the culprit:
 * unsupported architecture or dtype, target bpw out of reach (with the reachable range), ... */
jang_status jang_converter_open(const char *src, const jang_convert_opts *o, jang_converter **out);
void jang_converter_close(jang_converter *c);
int64_t jang_converter_count(const jang_converter *c);
const jang_convert_tensor *jang_converter_get(const jang_converter *c, int64_t i);
void jang_converter_summary(const jang_converter *c, jang_convert_summary *out);
/* Writes the JANG directory out. Refuses (JANG_E_ARG) an out that is the source, lies inside the
 * source directory, or contains the source; an existing out is JANG_E_EXISTS unless opts.force.
 * A non-finite source value fails naming the tensor, row and column. Callable once. */
jang_status jang_converter_write(jang_converter *c, const char *out);
/* The checks write() starts with, for callers that want them before a long open(): out must not
 * be src, lie inside it or contain it (JANG_E_ARG), its parent must exist (JANG_E_IO), and an
 * existing out is JANG_E_EXISTS unless force. */
jang_status jang_convert_check_output(const char *src, const char *out, bool force);

/* ---------------------------------------------------------------------------------------------
 * Runtime: a decoder-only model (Llama, Mistral, Qwen2, Qwen3) loaded from a GGUF file, a Hugging
 * Face safetensors directory (F32/F16/BF16) or a JANG/MLX quantized directory. Weights stay in
 * the file's memory map where their type allows; activations and accumulation are f32.
 *
 * Three objects (docs/ARCHITECTURE.md):
 *   jang_model   — the description and the read-only weights, placed by a backend ("cpu" today).
 *                  Open once; share it with any number of contexts and threads; close it after
 *                  every context made from it is freed.
 *   jang_context — one sequence's state: its KV cache, activations and worker threads. Make one
 *                  per concurrent sequence; a context is used by one thread at a time (different
 *                  contexts of one model may run at the same time in different threads).
 *   the backend  — where the operations run; internal (src/backend/backend.h).
 */
typedef struct jang_model jang_model;
typedef struct jang_context jang_context;

typedef struct jang_model_opts {
    const char *backend; /* "cpu"; NULL: "cpu" */
} jang_model_opts;

void jang_model_opts_init(jang_model_opts *o);
/* Opens a model; errors name the file and tensor: missing or misshapen tensors, tensors the
 * architecture does not have, unsupported architectures or RoPE scalings. */
jang_status jang_model_open(const char *path, const jang_model_opts *opts, jang_model **out);
void jang_model_close(jang_model *m);
const jang_model_desc *jang_model_get_desc(const jang_model *m);
/* Bytes of the matrices one decode step reads, as the runtime holds them (the attention and FFN
 * projections of every layer and the output matrix; not the embedding row or the norms). */
int64_t jang_model_weight_bytes(const jang_model *m);
/* The default CPU kernel table ("scalar", "avx2", "avx512": cpuid, or JANG_ISA when set). */
const char *jang_kernels_active_name(void);

typedef struct jang_context_opts {
    int n_threads;   /* worker threads of this context; <= 0: one per CPU */
    int64_t max_ctx; /* KV cache length; <= 0: min(model context, 4096) */
    const char *isa; /* CPU kernel table; NULL: JANG_ISA, else the best this CPU runs */
} jang_context_opts;

void jang_context_opts_init(jang_context_opts *o);
/* A context on m; m must outlive it. JANG_E_NOMEM when the KV cache does not fit. */
jang_status jang_context_init(const jang_model *m, const jang_context_opts *o, jang_context **out);
void jang_context_free(jang_context *c);
const jang_model *jang_context_model(const jang_context *c);
int64_t jang_context_max_ctx(const jang_context *c);
/* Where it runs, for reports ("cpu avx2, 2 threads"). */
const char *jang_context_backend(const jang_context *c);
/* Evaluates n tokens at positions pos .. pos+n-1, reusing the context's KV cache below pos.
 * logits receives (n, vocab) floats when all_logits, else (vocab) floats for the last token.
 * JANG_E_ARG for token ids outside the vocabulary or positions past max_ctx. */
jang_status jang_context_forward(jang_context *c, const int32_t *tokens, int64_t n, int64_t pos,
                                 bool all_logits, float *logits);
/* One decode step of n_ctx sequences together: token tokens[i] at position pos[i] of ctx[i];
 * logits receives (n_ctx, vocab). The matrix products run once over all the tokens (a decode step
 * reads the weights once for all sequences); each sequence's logits are bit-identical to what
 * jang_context_forward of its token alone gives, for any n_ctx (the products of a batched step
 * use each token's one-token arithmetic: src/kernels/matmul.h "invariant"). The contexts must be
 * distinct, of one model, and unused elsewhere during the call; the step runs on ctx[0]'s
 * threads (CPU) or stream (CUDA). */
jang_status jang_decode_batch(jang_context *const *ctx, int n_ctx, const int32_t *tokens,
                              const int64_t *pos, float *logits);

/* Sampling: temperature 0 is greedy (argmax, lowest id on ties). Otherwise, in order: repetition
 * penalty over the last `repeat_last_n` tokens (llama.cpp style: positive logits divided,
 * negative multiplied), top-k, softmax with temperature, top-p, min-p, then a draw from a
 * seeded xoshiro256** generator. */
typedef struct jang_sampler_opts {
    float temperature;     /* 0 = greedy; default 0.8 */
    int32_t top_k;         /* <= 0: off; default 40 */
    float top_p;           /* >= 1: off; default 0.95 */
    float min_p;           /* <= 0: off; default 0.05 */
    float repeat_penalty;  /* 1 = off; default 1.0 */
    int32_t repeat_last_n; /* default 64 */
    uint64_t seed;         /* default 0x5eed */
} jang_sampler_opts;

typedef struct jang_sampler jang_sampler;

void jang_sampler_opts_init(jang_sampler_opts *o);
jang_status jang_sampler_init(const jang_sampler_opts *o, int64_t vocab, jang_sampler **out);
void jang_sampler_free(jang_sampler *s);
/* Picks the next token from logits (vocab floats; modified in place). */
int32_t jang_sampler_sample(jang_sampler *s, float *logits);
/* Records an accepted token (prompt or generated) for the repetition penalty. */
void jang_sampler_accept(jang_sampler *s, int32_t token);

/* ---------------------------------------------------------------------------------------------
 * Tokenizer: byte-level BPE (GPT-2, Llama-3, Qwen2, SmolLM/StarCoder, deepseek-coder ... pre-
 * tokenizer regexes, run with PCRE2) and SentencePiece BPE with byte fallback (Llama-2 style), from
 * a GGUF vocabulary (llama.cpp semantics) or a Hugging Face tokenizer.json with its
 * tokenizer_config.json. Encoding and decoding only read the tokenizer: one tokenizer may serve
 * several threads.
 */
typedef struct jang_tokenizer jang_tokenizer;

/* Token types, numbered as GGUF's tokenizer.ggml.token_type: X(enum suffix, value, name). */
#define JANG_TOKEN_TYPE_MAP(X)                                                                     \
    X(UNDEFINED, 0, "undefined")                                                                   \
    X(NORMAL, 1, "normal")                                                                         \
    X(UNKNOWN, 2, "unknown")                                                                       \
    X(CONTROL, 3, "control")                                                                       \
    X(USER_DEFINED, 4, "user-defined")                                                             \
    X(UNUSED, 5, "unused")                                                                         \
    X(BYTE, 6, "byte")

typedef enum {
#define JANG_X_(e, v, s) JANG_TOKEN_##e = v,
    JANG_TOKEN_TYPE_MAP(JANG_X_)
#undef JANG_X_
} jang_token_type;

const char *jang_token_type_name(jang_token_type t);

/* Encode flags. */
/* add BOS / EOS (or the tokenizer.json template's tokens) per the model's rule */
#define JANG_ENCODE_ADD_SPECIAL 1u
/* control tokens written in the text become those tokens; without it only user-defined (added)
 * tokens are matched and "<|im_start|>" is tokenized as ordinary text */
#define JANG_ENCODE_PARSE_SPECIAL 2u
/* Decode flags. */
#define JANG_DECODE_SPECIAL 1u /* render control / unknown tokens as their text (else nothing) */

/* From a GGUF file's tokenizer.ggml.* metadata (model "gpt2" or "llama"). */
jang_status jang_tokenizer_from_gguf(const jang_gguf *g, jang_tokenizer **out);
/* From a Hugging Face tokenizer.json (path to the file or to its directory); tokenizer_config.json
 * beside it, when present, gives the special tokens, add_bos_token / add_eos_token and the chat
 * template. Model type BPE (byte-level or with byte fallback); others are JANG_E_UNSUPPORTED. */
jang_status jang_tokenizer_from_hf(const char *dir_or_tokenizer_json, jang_tokenizer **out);
void jang_tokenizer_free(jang_tokenizer *t);

/* Encodes len bytes of text (any bytes; invalid UTF-8 is replaced by U+FFFD like llama.cpp) into
 * a malloc'ed array of *n ids (*ids is never NULL on success; free() it). */
jang_status jang_tokenizer_encode(const jang_tokenizer *t, const char *text, size_t len,
                                  unsigned flags, int32_t **ids, int64_t *n);
/* The bytes one token stands for (a byte token gives one byte, so a piece may be part of a UTF-8
 * character). Writes up to cap bytes (no NUL) and sets *len to the piece length; JANG_E_ARG (with
 * *len set) when cap is too small; JANG_E_NOTFOUND for an id out of range. */
jang_status jang_tokenizer_token_to_piece(const jang_tokenizer *t, int32_t id, unsigned flags,
                                          char *buf, size_t cap, size_t *len);
/* Decodes n ids into a malloc'ed, NUL-terminated string of *len bytes. SentencePiece vocabularies
 * that add a prefix space lose it again here (the first visible piece's leading space), so
 * decode(encode(text)) == text for lossless vocabularies. */
jang_status jang_tokenizer_decode(const jang_tokenizer *t, const int32_t *ids, int64_t n,
                                  unsigned flags, char **text, size_t *len);

/* Streaming decode for generation: feed ids one at a time; only complete UTF-8 characters come
 * out, a character split across tokens (byte tokens, byte-level BPE) is held back until it is
 * complete. Zero-initialise (or call _init) before the first id. */
typedef struct jang_detok_stream {
    char pending[8]; /* bytes of an incomplete UTF-8 character */
    int n_pending;
    bool started; /* a visible piece was already produced (leading-space rule) */
} jang_detok_stream;

void jang_detok_stream_init(jang_detok_stream *s);
/* Appends the text that id completes to out (cap bytes; at least the piece length + 8 is always
 * enough) and sets *len; JANG_E_ARG with *len = the room needed when cap is too small. */
jang_status jang_detok_stream_next(const jang_tokenizer *t, jang_detok_stream *s, int32_t id,
                                   unsigned flags, char *out, size_t cap, size_t *len);
/* Emits the held-back bytes of an unfinished character (up to 7 bytes; cap >= 8) and resets. */
size_t jang_detok_stream_flush(jang_detok_stream *s, char *out, size_t cap);

int64_t jang_tokenizer_n_vocab(const jang_tokenizer *t);
/* Special ids, -1 when the vocabulary has none. eot: end of turn (<|im_end|>, <|eot_id|> ...). */
int32_t jang_tokenizer_bos(const jang_tokenizer *t);
int32_t jang_tokenizer_eos(const jang_tokenizer *t);
int32_t jang_tokenizer_eot(const jang_tokenizer *t);
int32_t jang_tokenizer_unk(const jang_tokenizer *t);
int32_t jang_tokenizer_pad(const jang_tokenizer *t);
/* Whether JANG_ENCODE_ADD_SPECIAL adds a BOS / an EOS. */
bool jang_tokenizer_adds_bos(const jang_tokenizer *t);
bool jang_tokenizer_adds_eos(const jang_tokenizer *t);
/* End of generation: EOS, EOT and the other stop tokens llama.cpp recognises. */
bool jang_tokenizer_is_eog(const jang_tokenizer *t, int32_t id);
/* Id of the token whose text is exactly text[0..len) (e.g. "<|im_start|>"), or -1. */
int32_t jang_tokenizer_find(const jang_tokenizer *t, const char *text, size_t len);
/* Raw vocabulary text of a token (NUL-terminated; *len may be NULL), NULL when out of range. */
const char *jang_tokenizer_token_text(const jang_tokenizer *t, int32_t id, size_t *len);
jang_token_type jang_tokenizer_token_type(const jang_tokenizer *t, int32_t id);
/* "bpe" (byte-level), "bpe-chars" (BPE over characters with byte fallback) or "spm". */
const char *jang_tokenizer_kind(const jang_tokenizer *t);
/* The pre-tokenizer: GGUF tokenizer.ggml.pre ("qwen2", "smollm" ...) or "tokenizer.json". */
const char *jang_tokenizer_pre(const jang_tokenizer *t);
/* The chat template (Jinja source) from the GGUF or tokenizer_config.json, or NULL. */
const char *jang_tokenizer_chat_template(const jang_tokenizer *t);
/* Hugging Face tokenizer.json and tokenizer_config.json (malloc'ed JSON texts) for a GGUF's
 * tokenizer: byte-level BPE ("gpt2") with any pre-tokenizer we know, as a Sequence of llama.cpp's
 * regex Splits and ByteLevel (plus NFC for the qwen2 family, as Qwen's own files); control tokens
 * as special added tokens, user-defined ones as added tokens; BOS/EOS from add_bos/add_eos as a
 * TemplateProcessing post-processor; tokenizer_config.json with the chat template and the
 * bos/eos/pad/unk tokens. SentencePiece ("llama") vocabularies are JANG_E_UNSUPPORTED. */
jang_status jang_tokenizer_export_hf(const jang_gguf *g, char **tokenizer_json,
                                     char **tokenizer_config_json);

/* ---------------------------------------------------------------------------------------------
 * JANG v2 / MLX quantized model directories (DESIGN §3.3, docs/FORMAT.md "JANG v2 directories").
 *
 * A directory holds config.json (the HF config plus a "quantization" block: top-level
 * {group_size, bits, mode} and one entry per quantized module, copied to "quantization_config"),
 * jang_config.json (JANG only: format "jang", format_version "2.0", quantization with the
 * tensor_quantization_manifest, source_model, architecture, runtime), shards
 * model-0000k-of-0000N.safetensors (__metadata__ {"format": "mlx"}) with
 * model.safetensors.index.json, and the tokenizer files. A quantized module <p> is stored as
 * <p>.weight U32 (..., out, in*bits/32), <p>.scales and <p>.biases (..., out, in/group).
 *
 * Bits and group size of a module come from its config.json entry, else the manifest, else the
 * top-level default; never from shapes ((8 bits, g64) and (4 bits, g128) give identical shapes).
 */

/* Writer: declare every tensor (plain ones, and quantized modules by their logical shape), then
 * write the data in declaration order, then finish with the metadata. Shards are planned from
 * the declared sizes at the first write (companion tensors stay together; a new shard starts when
 * the next group would pass max_shard_bytes), so names are final from the start. Everything is
 * written into a sibling temporary directory "<out>.tmp-XXXXXX", renamed to out by finish; abort
 * or any failure removes it. An existing out is refused (JANG_E_EXISTS) unless force, which
 * replaces it atomically (it must be a directory that looks like a model: config.json or
 * *.safetensors inside, or empty). */
typedef struct jang_dir_writer jang_dir_writer;

typedef struct jang_dir_writer_opts {
    uint64_t max_shard_bytes; /* tensor bytes per shard; default 5 GiB (5 * 1024^3, as jang) */
    bool force;               /* replace an existing output directory */
} jang_dir_writer_opts;

void jang_dir_writer_opts_init(jang_dir_writer_opts *o);

/* A file copied into the output directory: from src_path, or the size bytes at data. */
typedef struct jang_dir_file {
    const char *name; /* plain file name in the output ("tokenizer.json") */
    const char *src_path;
    const void *data;
    size_t size;
} jang_dir_file;

/* What finish writes besides the tensors. Strings may be NULL (defaults in brackets). */
typedef struct jang_dir_meta {
    const char *hf_config_json; /* required: the source config.json text; its "quantization" and
                                   "quantization_config" are replaced */
    bool jang;                  /* write jang_config.json [true]; false: a plain MLX directory */
    int block_size;             /* top-level group_size [0: the most used group size] */
    const char *method;         /* quantization.method ["jang-importance"] */
    const char *profile;        /* quantization.profile ("JANG_4M") [null] */
    double target_bits;         /* quantization.target_bits [<= 0: the actual bits] */
    const char *backend;        /* quantization.quantization_backend ["jang-c"] */
    const char *source_name;    /* source_model.name [""] */
    const char *source_dtype;   /* source_model.dtype ["float16"] */
    const char *source_params;  /* source_model.parameters ("135M") [""] */
    const char *arch_type;      /* architecture.type ["transformer"] */
    const char *arch_attention; /* architecture.attention ["gqa"] */
    bool has_vision, has_ssm, has_moe;
    const char *quantization_extra_json; /* JSON object merged into jang_config quantization */
    const char *jang_extra_json;         /* JSON object merged into jang_config's top level */
    const jang_dir_file *files;          /* tokenizer files etc. */
    int n_files;
} jang_dir_meta;

void jang_dir_meta_init(jang_dir_meta *m);

jang_status jang_dir_writer_open(const char *out_dir, const jang_dir_writer_opts *opts,
                                 jang_dir_writer **out);
/* A tensor stored as is (norms, biases, embeddings kept in float ...). */
jang_status jang_dir_writer_declare(jang_dir_writer *w, const char *name, jang_dtype dtype,
                                    int32_t n_dims, const int64_t *shape);
/* A quantized module (module path without ".weight") of logical shape (..., out, in): declares
 * <module>.weight U32 (..., out, in*bits/32), <module>.scales and <module>.biases of scale_dtype
 * (F16, BF16 or F32) (..., out, in/group), written in that order. bits: 2, 3, 4, 5, 6, 8;
 * group: 32, 64, 128; in % group == 0. source_tensor names the source in the manifest [NULL:
 * "<module>.weight"]. */
jang_status jang_dir_writer_declare_quantized(jang_dir_writer *w, const char *module,
                                              int32_t n_dims, const int64_t *shape, int bits,
                                              int group, jang_dtype scale_dtype,
                                              const char *source_tensor);
/* Writes (part of) the data of the next declared tensor, like jang_st_writer_write. */
jang_status jang_dir_writer_write(jang_dir_writer *w, const void *data, size_t n_bytes);
/* Writes all three tensors of the next quantized module (packed codes, scales, biases). */
jang_status jang_dir_writer_write_quantized(jang_dir_writer *w, const void *packed,
                                            const void *scales, const void *biases);
/* Writes config.json, jang_config.json, the index and the files, then renames into place.
 * Frees w whatever the outcome. */
jang_status jang_dir_writer_finish(jang_dir_writer *w, const jang_dir_meta *meta);
void jang_dir_writer_abort(jang_dir_writer *w); /* frees w, removes the temporary directory */

/* Reader: a JANG v2 or MLX quantized directory, zero-copy on jang_st_open. Every tensor of the
 * shards is one entry: a quantized module (its weight, scales and biases together, named by the
 * module path) or a plain tensor (by its name). Opening checks that every quantized module has
 * resolved (bits, group) without conflict and that its three shapes agree with them. */
typedef struct jang_qmodel jang_qmodel;

/* Where a module's (bits, group) came from. */
#define JANG_QSRC_MAP(X)                                                                           \
    X(CONFIG, "config.json entry")                                                                 \
    X(MANIFEST, "jang_config.json manifest")                                                       \
    X(DEFAULT, "config.json top-level default")

typedef enum {
#define JANG_X_(e, s) JANG_QSRC_##e,
    JANG_QSRC_MAP(JANG_X_)
#undef JANG_X_
} jang_qsource;

const char *jang_qsource_name(jang_qsource s);

/* One entry: the view the kernels use. Pointers point into the shards' maps; they are aligned
 * when `aligned` (our writer and the safetensors crate align them; other writers may not). */
typedef struct jang_qtensor {
    const char *name; /* module path if quantized ("model.layers.0.mlp.down_proj"), else the
                         tensor name ("model.norm.weight") */
    bool quantized;
    int32_t n_dims;
    int64_t shape[JANG_MAX_DIMS]; /* logical shape; quantized: (..., out, in) unpacked */
    int64_t rows;                 /* product of all dims but the last (E * out for experts) */
    int64_t cols;                 /* last dim (in features) */
    int64_t n_params;             /* logical elements: rows * cols */
    size_t n_bytes;               /* stored bytes (codes + scales + biases when quantized) */
    const jang_tensor *tensor;    /* plain: the stored tensor; quantized: NULL */
    /* quantized only */
    int bits, group;
    jang_qsource source;
    jang_dtype scale_dtype;                      /* F16, BF16 or F32; biases the same */
    const jang_tensor *weight, *scales, *biases; /* the stored tensors */
    const void *codes;                           /* uint32 LE, (rows, cols * bits / 32) */
    const void *scale_data;                      /* (rows, cols / group) */
    const void *bias_data;                       /* (rows, cols / group) */
    bool aligned; /* codes 4-byte, scales/biases element-size aligned */
} jang_qtensor;

typedef struct jang_qmodel_info {
    bool is_jang;            /* jang_config.json present */
    char format_version[16]; /* jang_config format_version ("2.0"); "" for MLX */
    int default_bits;        /* config.json quantization top level; 0 when absent */
    int default_group;
    int block_size;   /* jang_config quantization.block_size, else default_group */
    char profile[32]; /* jang_config quantization.profile; "" when absent/null */
    char method[64];
    double target_bits; /* as stored in jang_config; NAN when absent */
    double actual_bits;
    int64_t n_quantized, n_plain;
    int64_t n_config_entries;   /* per-module entries in config.json quantization */
    int64_t n_manifest_entries; /* entries in the jang manifest */
} jang_qmodel_info;

/* Totals over the whole directory (DESIGN §2). */
typedef struct jang_qmodel_stats {
    int64_t n_params;           /* logical parameters: quantized out*in + plain elements */
    int64_t n_quant_params;     /* logical parameters of quantized modules */
    uint64_t bytes;             /* all stored tensor bytes (codes + scales + biases + plain) */
    uint64_t quant_bytes;       /* codes + scales + biases */
    uint64_t code_bytes;        /* packed codes only */
    double jang_bits;           /* JANG's "actual_bits": sum(bits * blocks) / sum(blocks) over
                                   quantized modules, blocks = ceil(params / block_size) */
    double true_bpw;            /* bytes * 8 / n_params */
    int64_t blocks_per_bits[9]; /* blocks at 2..8 bits (index = bits) */
} jang_qmodel_stats;

jang_status jang_qmodel_open(const char *dir, jang_qmodel **out);
void jang_qmodel_close(jang_qmodel *m);
const jang_qmodel_info *jang_qmodel_get_info(const jang_qmodel *m);
void jang_qmodel_get_stats(const jang_qmodel *m, jang_qmodel_stats *out);
/* Entries sorted by name, layer numbers in numeric order. NULL when out of range. */
int64_t jang_qmodel_count(const jang_qmodel *m);
const jang_qtensor *jang_qmodel_get(const jang_qmodel *m, int64_t i);
/* By module path, "<module>.weight" or plain tensor name; NULL when absent. */
const jang_qtensor *jang_qmodel_find(const jang_qmodel *m, const char *name);
const jang_st *jang_qmodel_st(const jang_qmodel *m);

/* `jang validate`: every check over a directory, with the first failures of each. Returns JANG_OK
 * when every check passed, JANG_E_FORMAT when one failed (report filled either way), other codes
 * for bad arguments. */
#define JANG_CHECK_MAP(X)                                                                          \
    X(FILES, "files", "config.json, jang_config.json and the index parse; shards open")            \
    X(INDEX, "index", "every weight_map tensor in its shard, every shard listed, names agree")     \
    X(QUANT, "quant", "every quantized module has (bits, group) without conflict")                 \
    X(SHAPES, "shapes", "weight/scales/biases shapes agree with bits, group and in_features")      \
    X(FINITE, "finite", "scales, biases and float tensors hold no NaN or Inf")                     \
    X(MANIFEST, "manifest", "jang manifest, config.json entries and files agree")

typedef enum {
#define JANG_X_(e, n, d) JANG_CHECK_##e,
    JANG_CHECK_MAP(JANG_X_)
#undef JANG_X_
        JANG_CHECK_COUNT
} jang_check_id;

#define JANG_CHECK_MAX_MSGS 8

typedef struct jang_check_result {
    bool ran;          /* false when an earlier failure made it impossible */
    int64_t n_checked; /* items looked at */
    int64_t n_failed;
    int n_msgs; /* first failures, at most JANG_CHECK_MAX_MSGS */
    char msgs[JANG_CHECK_MAX_MSGS][512];
    char note[256];    /* why a check had nothing to look at ("no jang_config.json"), or "" */
    int64_t n_skipped; /* items not checked because config.json is unusable (config_unusable) */
} jang_check_result;

typedef struct jang_validate_report {
    jang_check_result checks[JANG_CHECK_COUNT];
    /* config.json missing, unreadable or not a JSON object: reported once (files), and the
     * checks that need it are skipped and counted (n_skipped), not failed one module at a time */
    bool config_unusable;
} jang_validate_report;

const char *jang_check_name(jang_check_id c);
const char *jang_check_desc(jang_check_id c);
jang_status jang_dir_validate(const char *dir, jang_validate_report *report);

/* Chat formatting: the prompt format is recognised from the model's chat template (Jinja source)
 * and produced directly (no Jinja engine): ChatML (SmolLM2, Qwen), Llama-3, Llama-2 and Gemma.
 * A default system message written into a ChatML template (as SmolLM2's and Qwen2.5's are) is
 * used when no system message is given, exactly as the template would. */
#define JANG_CHAT_MAP(X)                                                                           \
    X(CHATML, "chatml")                                                                            \
    X(LLAMA3, "llama3")                                                                            \
    X(LLAMA2, "llama2")                                                                            \
    X(GEMMA, "gemma")

typedef enum {
#define JANG_X_(e, s) JANG_CHAT_##e,
    JANG_CHAT_MAP(JANG_X_)
#undef JANG_X_
} jang_chat_kind;

typedef struct jang_chat_format {
    jang_chat_kind kind;
    char default_system[512]; /* "" when the template has none */
} jang_chat_format;

const char *jang_chat_kind_name(jang_chat_kind k);
/* JANG_E_UNSUPPORTED (naming what it saw) when the template is not one we know; NULL template is
 * JANG_E_NOTFOUND. */
jang_status jang_chat_detect(const char *template_src, jang_chat_format *out);
/* One user turn (system may be NULL: the template's default is used), ending with the assistant
 * prompt. Returns a malloc'ed string; BOS is not included (the tokenizer adds it). */
jang_status jang_chat_apply(const jang_chat_format *f, const char *system, const char *user,
                            char **out);

/* ---------------------------------------------------------------------------------------------
 * Evaluation (DESIGN §5): perplexity and KL divergence as llama-perplexity computes them, a
 * compact reference-run file (docs/FORMAT.md "Reference runs"), log-likelihood and greedy
 * scoring with KV-cache prefix reuse, MMLU (JANG's 200-question protocol and full 5-shot) and the
 * 2-way HellaSwag pairs. The numeric core works on token ids and logits (no tokenizer needed);
 * natural logarithms throughout. Tested by tests/test_eval.c.
 */
void jang_sha256(const void *data, size_t len, uint8_t out[32]);
/* SHA-256 over the tokenizer's vocabulary: its size, the BOS/EOS ids, the add-BOS/EOS rules and
 * every token's text and type in id order. A GGUF and the tokenizer.json of the same model agree
 * (the pre-tokenizer's name is left out); vocabularies padded differently do not. */
void jang_tokenizer_fingerprint(const jang_tokenizer *t, uint8_t out[32]);

/* Mean and error of n samples with sum s and sum of squares s2, as llama-perplexity's
 * mean_and_uncertainty: err = sqrt((s2/n - mean^2) / (n - 1)), 0 when n <= 10. */
void jang_mean_err(double s, double s2, int64_t n, double *mean, double *err);
/* Wilson score interval of k successes in n trials at z (1.96 for 95%); [0, 1] when n == 0. */
void jang_wilson_interval(int64_t k, int64_t n, double z, double *lo, double *hi);

/* One scored position of a reference run: the reference model's distribution kept as its top-k
 * tokens, the probability mass of all the others (the tail) and m tokens drawn from the tail in
 * proportion to their probability (systematic sampling seeded by the position), which make the
 * KLD estimate unbiased. Pointers stay valid while the jang_ref (or the buffer given to
 * jang_ref_token_make) lives. */
typedef struct jang_ref_token {
    int32_t target;            /* the token that followed */
    float target_logp;         /* its log-probability under the reference (in or out of top-k) */
    float tail;                /* probability mass outside ids[0..k) */
    int32_t k;                 /* number of top tokens */
    const int32_t *ids;        /* (k) most probable first; ties: lower id first */
    const float *logp;         /* (k) their log-probabilities */
    int32_t m;                 /* number of tail samples */
    const int32_t *sample_ids; /* (m) tail tokens in id order, repeats allowed; all -1 when the
                                  tail holds no probability */
    const float *sample_logp;  /* (m) their log-probabilities */
} jang_ref_token;

/* Reference file header. model is informational; the rest must match for --ref. */
#define JANG_REF_VERSION 1
#define JANG_REF_MAX_TOPK 1024
typedef struct jang_ref_info {
    char model[256];           /* reference model name or path (NUL-terminated) */
    uint8_t text_sha256[32];   /* SHA-256 of the evaluated text file's bytes */
    uint8_t vocab_sha256[32];  /* jang_tokenizer_fingerprint (informational); zero for raw ids */
    uint8_t tokens_sha256[32]; /* SHA-256 of the chunks' token ids, n_chunks * n_ctx int32 LE
                                  from the text's start, before BOS is written over them */
    int64_t n_text_tokens;     /* tokens of the whole text (BOS included when added) */
    int32_t n_ctx;             /* tokens per chunk */
    int32_t n_vocab;           /* logits per position */
    int32_t n_chunks;          /* chunks stored */
    int32_t n_scored;          /* scored positions per chunk: n_ctx - 1 - n_ctx / 2 */
    int32_t topk;              /* top tokens kept per position (1..JANG_REF_MAX_TOPK, <= n_vocab) */
    int32_t n_samples;         /* tail samples per position (0..JANG_REF_MAX_TOPK) */
    int32_t bos;               /* id written over each chunk's first token, -1 none */
} jang_ref_info;

/* Fills one record from a row of logits (n_vocab floats), its tail samples drawn with seed (the
 * writer uses the record index): pointers point into buf, which must hold
 * jang_ref_token_bytes(k, m) bytes. */
size_t jang_ref_token_bytes(int32_t k, int32_t m);
jang_status jang_ref_token_make(const float *logits, int32_t n_vocab, int32_t target, int32_t k,
                                int32_t m, uint64_t seed, void *buf, jang_ref_token *out);

/* Writer: records in chunk order, then finish (atomic: "<path>.tmp" renamed into place after the
 * record count and checksum are written); abort or failure removes the temporary. */
typedef struct jang_ref_writer jang_ref_writer;
jang_status jang_ref_writer_open(const char *path, const jang_ref_info *info,
                                 jang_ref_writer **out);
jang_status jang_ref_writer_add(jang_ref_writer *w, const float *logits, int32_t target);
jang_status jang_ref_writer_finish(jang_ref_writer *w); /* frees w */
void jang_ref_writer_abort(jang_ref_writer *w);         /* frees w */

/* Reader: maps the file and validates header, size, checksum and every record before use. */
typedef struct jang_ref jang_ref;
jang_status jang_ref_open(const char *path, jang_ref **out);
void jang_ref_close(jang_ref *r);
const jang_ref_info *jang_ref_get_info(const jang_ref *r);
/* Record i = chunk * n_scored + position; false when out of range. */
bool jang_ref_get(const jang_ref *r, int64_t i, jang_ref_token *out);
/* JANG_E_ARG naming the first difference between the file and a run's facts: text hash, context,
 * logits per position, BOS, token count, and the token ids of the reference's chunks (the run's
 * tokens_sha256 must cover the reference's n_chunks). model, n_chunks, topk, n_samples and the
 * vocabulary fingerprint are not compared: the same ids are what make the comparison valid. */
jang_status jang_ref_check(const jang_ref *r, const jang_ref_info *run);

/* Perplexity / KLD statistics of scored positions, llama-perplexity's formulas (docs/QUALITY.md
 * "Evaluation cross-checks"). Per position, with K the reference's top-k and T the rest:
 *   E          = sum_{i in K} p_i log(p_i/q_i), exact;
 *   kld        = E + P_T/m sum_j log(p_sj/q_sj) over the m tail samples s_j (drawn from p on T):
 *                an unbiased estimate of KL(P||Q) (the lower bound below when m = 0);
 *   kld_lower  = E + P_T log(P_T/Q_T), the KL of the (k+1)-outcome coarse-graining: by the log-sum
 *                inequality a lower bound of KL(P||Q), short by P_T KL(P|T || Q|T).
 * Against a reference made from identical logits every term is exactly 0. */
typedef struct jang_ppl_stats {
    int64_t count;       /* scored positions */
    double nll, nll_err; /* mean negative log-likelihood (nats) and its error */
    double ppl, ppl_err; /* exp(nll) */
    bool has_ref;        /* the rest is filled only with a reference */
    double ppl_base, ppl_base_err;
    double ln_ratio, ln_ratio_err;   /* mean ln(PPL / PPL_base), covariance-corrected error */
    double ppl_ratio, ppl_ratio_err; /* PPL / PPL_base */
    double kld, kld_err;             /* mean KL(reference || this), estimated as above */
    double kld_lower;                /* mean of the top-k + tail-mass lower bound */
    double kld_median, kld_q90, kld_q99, kld_q999, kld_max, kld_min;
    double same_top, same_top_err; /* fraction of positions with the reference's argmax */
    double dp, dp_err;             /* mean p(target) - p_base(target) */
    double dp_rms, dp_rms_err;
    double tail_mean, tail_max; /* reference mass outside its top-k */
} jang_ppl_stats;

/* Accumulator of scored positions: feed logits and the next token (and the reference record). */
typedef struct jang_ppl_acc jang_ppl_acc;
jang_status jang_ppl_acc_init(int64_t n_vocab, jang_ppl_acc **out);
void jang_ppl_acc_free(jang_ppl_acc *a);
/* JANG_E_ARG when target is out of range or ref names another target. */
jang_status jang_ppl_acc_add(jang_ppl_acc *a, const float *logits, int32_t target,
                             const jang_ref_token *ref);
void jang_ppl_acc_stats(const jang_ppl_acc *a, jang_ppl_stats *out);

/* Chunked perplexity like llama-perplexity: the text's tokens (BOS first when the tokenizer adds
 * it) are cut into n_tokens / n_ctx non-overlapping chunks of n_ctx; each chunk is evaluated
 * from an empty cache with its first token replaced by bos (when >= 0), and positions
 * n_ctx/2 .. n_ctx-2 predict tokens n_ctx/2+1 .. n_ctx-1 (n_ctx - 1 - n_ctx/2 per chunk). */
typedef struct jang_ppl_opts {
    int64_t n_ctx;    /* default 512 */
    int64_t n_chunks; /* <= 0: all the text gives (or all the reference holds) */
    int64_t n_batch;  /* tokens per forward call; <= 0: n_ctx */
    int32_t bos;      /* default -1 */
    /* called after each chunk with the statistics so far (may be NULL) */
    void (*on_chunk)(void *ud, int64_t chunk, int64_t n_chunks, const jang_ppl_stats *so_far);
    void *ud;
} jang_ppl_opts;

void jang_ppl_opts_init(jang_ppl_opts *o);
/* Chunks a text of n_tokens gives (0 when under 2 * n_ctx tokens, as llama-perplexity refuses). */
int64_t jang_ppl_max_chunks(int64_t n_tokens, int64_t n_ctx);
/* Runs the chunks; save (may be NULL) receives every scored position; ref (may be NULL) must
 * hold at least the chunks run and its targets must equal the text's tokens. Each context's length
 * must be >= n_ctx. With n_par > 1 contexts (of one model), n_par chunks run at once, one per
 * context in a thread of its own, and are scored in chunk order: the statistics equal a run with
 * one context. */
jang_status jang_ppl_run(jang_context *const *ctx, int n_par, const int32_t *tokens,
                         int64_t n_tokens, const jang_ppl_opts *o, jang_ref_writer *save,
                         const jang_ref *ref, jang_ppl_stats *out);

/* Log-likelihood and greedy scoring over a model, reusing the KV cache for the longest prefix a
 * call shares with the previous one (so shared few-shot headers and contexts are run once). */
typedef struct jang_scorer jang_scorer;
jang_status jang_scorer_init(jang_context *c, int64_t n_batch, jang_scorer **out);
void jang_scorer_free(jang_scorer *s);
/* Sum of log p(cont[i] | ctx, cont[<i]) over the n_cont tokens (n_ctx >= 1), and whether every
 * one was the argmax (greedy may be NULL). */
jang_status jang_scorer_loglik(jang_scorer *s, const int32_t *ctx, int64_t n_ctx,
                               const int32_t *cont, int64_t n_cont, double *logprob, bool *greedy);
/* Greedy continuation of prompt: up to max_new tokens into out, stopping after a token for which
 * stop(ud, token) is true (that token is included; stop may be NULL). */
jang_status jang_scorer_greedy(jang_scorer *s, const int32_t *prompt, int64_t n, int64_t max_new,
                               bool (*stop)(void *ud, int32_t token), void *ud, int32_t *out,
                               int64_t *n_out);
/* Tokens the model can take (its context). */
int64_t jang_scorer_max_ctx(const jang_scorer *s);

/* MMLU. Data: DIR/test/<subject>_test.csv and DIR/dev/<subject>_dev.csv, header
 * question,choice0..choice3,answer (answer 0-3), RFC 4180 quoting. */
#define JANG_MMLU_PROTOCOL_MAP(X)                                                                  \
    X(JANG200, "jang200")                                                                          \
    X(FULL, "full")

typedef enum {
#define JANG_X_(e, s) JANG_MMLU_##e,
    JANG_MMLU_PROTOCOL_MAP(JANG_X_)
#undef JANG_X_
} jang_mmlu_protocol;

const char *jang_mmlu_protocol_name(jang_mmlu_protocol p);
bool jang_mmlu_protocol_parse(const char *s, jang_mmlu_protocol *out);

typedef struct jang_mmlu_item {
    char *question;
    char *choices[4];
    int answer; /* 0..3 */
} jang_mmlu_item;

typedef struct jang_mmlu_subject {
    char name[96]; /* "abstract_algebra" */
    jang_mmlu_item *test;
    int64_t n_test;
    jang_mmlu_item *dev; /* full protocol only (the 5 shots) */
    int64_t n_dev;
    int64_t n_correct, n_answered; /* filled by jang_mmlu_run */
} jang_mmlu_subject;

typedef struct jang_mmlu {
    jang_mmlu_protocol protocol;
    jang_mmlu_subject *subjects;
    int64_t n_subjects;
} jang_mmlu;

/* jang200: the first 20 test questions of DESIGN §5's 10 subjects; full: every subject in
 * name order with its dev split. limit > 0 keeps at most limit test questions per subject. */
jang_status jang_mmlu_load(const char *dir, jang_mmlu_protocol p, int64_t limit, jang_mmlu **out);
void jang_mmlu_free(jang_mmlu *d);
/* The prompt of test item i of subject s (malloc'ed): jang200 the user message (before the chat
 * template), full the 5-shot text ending in "Answer:". */
jang_status jang_mmlu_prompt(const jang_mmlu *d, int64_t s, int64_t i, char **out);
/* jang_tools.benchmark's _extract_answer (no thinking): explicit "answer is X" patterns, then
 * the last A-D of the last 50 characters, then the first; 0..3, or -1 when none. */
int jang_mmlu_extract_answer(const char *response);

typedef struct jang_mmlu_opts {
    const jang_chat_format *chat; /* jang200: required */
    int64_t max_new;              /* jang200 answer tokens; default 30 (jang_tools) */
    /* after each question: subject, item, predicted (0..3, -1 none), response (jang200) */
    void (*on_item)(void *ud, const jang_mmlu *d, int64_t s, int64_t i, int pred,
                    const char *response);
    void *ud;
} jang_mmlu_opts;

void jang_mmlu_opts_init(jang_mmlu_opts *o);
/* Runs every test item; fills each subject's n_correct / n_answered. Prompts longer than the
 * model's context lose tokens from the left (n_truncated counts them). */
jang_status jang_mmlu_run(jang_context *c, const jang_tokenizer *t, jang_mmlu *d,
                          const jang_mmlu_opts *o, int64_t *n_truncated);

/* HellaSwag 2-way pairs: line i of DIR/<name>_correct.txt<suffix> and of the matching
 * <name>_wrong.txt<suffix> share a context; a pair is right when the correct line's total
 * log-likelihood is higher. */
typedef struct jang_hellaswag {
    char **correct, **wrong;
    int64_t n;
    char correct_path[512], wrong_path[512];
} jang_hellaswag;

jang_status jang_hellaswag_load(const char *dir, int64_t limit, jang_hellaswag **out);
void jang_hellaswag_free(jang_hellaswag *h);

typedef struct jang_hellaswag_result {
    int64_t n, n_correct;
} jang_hellaswag_result;

/* Each line is tokenized on its own (BOS when the tokenizer adds it) and scored from its second
 * token on; on_pair (may be NULL) sees both totals. */
jang_status jang_hellaswag_run(jang_context *c, const jang_tokenizer *t, const jang_hellaswag *h,
                               void (*on_pair)(void *ud, int64_t i, double ll_correct,
                                               double ll_wrong,
                                               const jang_hellaswag_result *so_far),
                               void *ud, jang_hellaswag_result *out);

#ifdef __cplusplus
}
#endif
#endif /* JANG_H */
