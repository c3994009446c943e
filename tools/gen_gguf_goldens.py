#!/usr/bin/env python3
"""gen_gguf_goldens.py — writes the GGUF goldens of tests/test_gguf.c with gguf-py (the oracle).

Outputs (deterministic, seed 1234; ~150 KB in all):
  tests/data/gguf/meta_v3.gguf   every metadata value type, arrays of every element type, nested
                                 arrays (arrays of arrays of strings / ints, 4 deep), a string with
                                 an embedded NUL, 1-D..4-D tensors; the last tensor ends exactly at
                                 the end of the file so that every truncation is invalid.
  tests/data/gguf/meta_v2.gguf   the same bytes with the version field patched to 2 (v2 and v3 have
                                 the same layout; v3 only added big-endian files).
  tests/data/gguf/quants.gguf    general.alignment = 64; for each type T in TYPES a tensor "T" with
                                 random blocks and "T.expected" (F32) = gguf.quants.dequantize(T).
  tests/fuzz/corpus/fuzz_gguf/*  small seeds: the two meta files and one block of every type.

Quantized blocks: rows 0-1 come from gguf's own quantize() where it exists (Q4_0..Q8_0), the other
rows are random bytes whose f16 scale fields are overwritten with random finite f16 values
(log-uniform magnitudes 2^-24..2^6, both signs, a few zeros and subnormals) — random bytes there
would give NaN/Inf scales. Plain types (F32, F16, BF16) are random bit patterns, NaNs included.
F64 and I8..I64 have no gguf-py dequantizer; their expected output is numpy astype(float32).

Usage: ~/.cache/jang/venv/bin/python tools/gen_gguf_goldens.py   (needs gguf and numpy)
The C tests check the written files: make test T=gguf
"""
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "gguf")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus", "fuzz_gguf")

# type -> byte offsets of its f16 scale fields inside a block
SCALE_FIELDS = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
    Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}
QUANTIZABLE = {Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0}
TYPES = [Q.F32, Q.F16, Q.BF16, Q.F64, Q.I8, Q.I16, Q.I32, Q.I64,
         Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0, Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K]


def random_f16(rng, n):
    """Random finite f16 values: log-uniform magnitudes, both signs, some zeros/subnormals."""
    mag = np.exp2(rng.uniform(-24, 6, n))
    v = (mag * rng.choice([-1.0, 1.0], n)).astype(np.float16)
    v[rng.random(n) < 0.03] = 0
    assert np.all(np.isfinite(v))
    return v


def quant_blocks(rng, qtype, rows, cols):
    """(rows, bytes per row) uint8 of valid blocks of qtype."""
    bs, ts = gguf.GGML_QUANT_SIZES[qtype]
    nb = rows * cols // bs
    raw = rng.integers(0, 256, size=(nb, ts), dtype=np.uint8)
    for off in SCALE_FIELDS[qtype]:
        raw[:, off:off + 2] = random_f16(rng, nb).view(np.uint8).reshape(nb, 2)
    raw = raw.reshape(rows, cols // bs * ts)
    if qtype in QUANTIZABLE and rows > 2:
        w = (rng.standard_normal((2, cols)) * np.exp2(rng.uniform(-8, 4, (2, 1)))).astype(np.float32)
        raw[:2] = gguf.quants.quantize(w, qtype)
    return raw


def plain_data(rng, qtype, shape):
    """(array to write, raw_dtype or None, expected float32)."""
    n = int(np.prod(shape))
    if qtype == Q.F32:
        a = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
        a[:8] = np.array([0x7F800000, 0xFF800000, 0x7FC00001, 0x80000000, 1, 0x7F7FFFFF,
                          0x7FA00000, 0xFFFFFFFF], dtype=np.uint32)
        return a.view(np.float32).reshape(shape), None, None
    if qtype in (Q.F16, Q.BF16):
        a = rng.integers(0, 2**16, n, dtype=np.uint32).astype(np.uint16)
        a[:6] = [0x7C00, 0xFC00, 0x7C01, 0xFE00, 0x8000, 0x0001]
        if qtype == Q.F16:
            return a.view(np.float16).reshape(shape), None, None
        return a.view(np.uint8).reshape(shape[0], -1), Q.BF16, None
    if qtype == Q.F64:
        a = rng.standard_normal(n) * np.exp2(rng.uniform(-160, 160, n))
        a[:8] = [np.inf, -np.inf, -0.0, 1e-50, 3.4028235677973366e38, 1e300, 1.0000000596046448,
                 -1.4012984643e-45 * 0.5]
        a = a.reshape(shape)
        with np.errstate(over="ignore"):
            return a, None, a.astype(np.float32)
    dt = {Q.I8: np.int8, Q.I16: np.int16, Q.I32: np.int32, Q.I64: np.int64}[qtype]
    info = np.iinfo(dt)
    a = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    a[:2] = [info.min, info.max]
    a = a.reshape(shape)
    return a, None, a.astype(np.float32)


def dequant_ref(raw, qtype):
    return np.ascontiguousarray(gguf.quants.dequantize(raw, qtype), dtype=np.float32)


def write_quants(path, rng, blocks_per_row=None, rows=4, with_expected=True):
    w = gguf.GGUFWriter(path, "llama")
    w.add_custom_alignment(64)
    for qtype in TYPES:
        bs, _ = gguf.GGML_QUANT_SIZES[qtype]
        if bs == 1:
            cols = 256 if blocks_per_row is None else 8
            arr, raw_dtype, expected = plain_data(rng, qtype, (rows, cols))
            if expected is None:
                expected = dequant_ref(arr.view(np.uint8).reshape(rows, -1), qtype)
            w.add_tensor(qtype.name, arr, raw_dtype=raw_dtype)
        else:
            nbr = blocks_per_row or (8 if bs == 32 else 2)
            cols = nbr * bs
            raw = quant_blocks(rng, qtype, rows, cols)
            expected = dequant_ref(raw, qtype).reshape(rows, cols)
            w.add_tensor(qtype.name, raw, raw_dtype=qtype)
        assert expected.shape == (rows, cols), (qtype.name, expected.shape)
        if with_expected:
            w.add_tensor(qtype.name + ".expected", expected)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def verify_quants(path):
    """Reads the file back with gguf's reader and checks every expected tensor bit for bit."""
    r = gguf.GGUFReader(path)
    tensors = {t.name: t for t in r.tensors}
    n = 0
    for name, t in tensors.items():
        if name.endswith(".expected"):
            continue
        exp = tensors[name + ".expected"].data
        if t.tensor_type in (Q.F64, Q.I8, Q.I16, Q.I32, Q.I64):
            with np.errstate(over="ignore"):
                got = t.data.astype(np.float32)
        else:
            got = gguf.quants.dequantize(t.data, t.tensor_type)
        assert got.view(np.uint32).tobytes() == exp.view(np.uint32).tobytes(), name
        n += 1
    return n


def write_meta(path):
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("jang metadata golden")
    add = w.add_key_value
    add("test.u8", 200, V.UINT8)
    add("test.i8", -100, V.INT8)
    add("test.u16", 60000, V.UINT16)
    add("test.i16", -30000, V.INT16)
    add("test.u32", 4000000000, V.UINT32)
    add("test.i32", -2000000000, V.INT32)
    add("test.f32", -1.5e-3, V.FLOAT32)
    add("test.bool_true", True, V.BOOL)
    add("test.bool_false", False, V.BOOL)
    add("test.str", "h\u00e9llo w\u00f6rld", V.STRING)
    add("test.str_empty", "", V.STRING)
    add("test.str_nul", b"ab\x00cd", V.STRING)
    add("test.u64", 2**64 - 1, V.UINT64)
    add("test.u64_small", 12345678901234, V.UINT64)
    add("test.i64", -2**63, V.INT64)
    add("test.f64", 3.141592653589793, V.FLOAT64)
    add("test.arr_u8", [0, 1, 255], V.ARRAY, V.UINT8)
    add("test.arr_i8", [-128, 0, 127], V.ARRAY, V.INT8)
    add("test.arr_u16", [0, 65535], V.ARRAY, V.UINT16)
    add("test.arr_i16", [-32768, 32767], V.ARRAY, V.INT16)
    add("test.arr_u32", [1, 4294967295], V.ARRAY, V.UINT32)
    add("test.arr_i32", [-2147483648, 2147483647, 7], V.ARRAY, V.INT32)
    add("test.arr_f32", [0.5, -2.25, 1e30], V.ARRAY, V.FLOAT32)
    add("test.arr_bool", [True, False, True, True], V.ARRAY, V.BOOL)
    add("test.arr_u64", [2**64 - 1, 0], V.ARRAY, V.UINT64)
    add("test.arr_i64", [-2**63, 2**63 - 1], V.ARRAY, V.INT64)
    add("test.arr_f64", [1e-300, -0.1], V.ARRAY, V.FLOAT64)
    add("test.arr_str", ["alpha", "", "\u03b3\u03b3"], V.ARRAY, V.STRING)
    add("test.arr_arr_str", [["a", "bc"], ["def"]], V.ARRAY, V.ARRAY)
    add("test.arr_arr_int", [[1, 2, 3], [-4]], V.ARRAY, V.ARRAY)
    add("test.arr_deep", [[[["deep"]]]], V.ARRAY, V.ARRAY)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(["<s>", "</s>", "hello", "\u0120world"])
    w.add_token_scores([0.0, -1.0, -2.5, -3.0])
    w.add_token_types([3, 3, 1, 1])
    w.add_bos_token_id(0)
    w.add_eos_token_id(1)
    w.add_context_length(2048)
    w.add_rope_freq_base(10000.0)
    # tensors: PyTorch shapes; GGUF stores them reversed
    w.add_tensor("token_embd.weight", np.arange(24, dtype=np.float32).reshape(3, 8))
    w.add_tensor("norm.weight", np.linspace(-1, 1, 16).astype(np.float16))
    q = gguf.quants.quantize(np.linspace(-2, 2, 64, dtype=np.float32).reshape(2, 32), Q.Q8_0)
    w.add_tensor("blk.0.attn_q.weight", q, raw_dtype=Q.Q8_0)
    w.add_tensor("t4d", np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2))  # 32 bytes, last
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(CORPUS, exist_ok=True)
    rng = np.random.default_rng(1234)

    meta = os.path.join(OUT, "meta_v3.gguf")
    write_meta(meta)
    data = bytearray(open(meta, "rb").read())
    assert data[4:8] == (3).to_bytes(4, "little")
    data[4:8] = (2).to_bytes(4, "little")
    open(os.path.join(OUT, "meta_v2.gguf"), "wb").write(data)
    r = gguf.GGUFReader(meta)
    last = max(r.tensors, key=lambda t: t.data_offset)
    assert last.data_offset + last.n_bytes == os.path.getsize(meta), "meta file has trailing bytes"

    quants = os.path.join(OUT, "quants.gguf")
    write_quants(quants, rng)
    n = verify_quants(quants)

    write_quants(os.path.join(CORPUS, "one_block_each.gguf"), rng, blocks_per_row=1, rows=1,
                 with_expected=False)
    for f in ("meta_v3.gguf", "meta_v2.gguf"):
        open(os.path.join(CORPUS, f), "wb").write(open(os.path.join(OUT, f), "rb").read())

    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {OUT}: {n} golden tensors, {total} bytes; corpus in {CORPUS}", file=sys.stderr)


if __name__ == "__main__":
    main()
