#!/usr/bin/env python3
"""gen_affine_goldens.py — writes the MLX affine-quantization goldens of tests/test_affine.c.

The oracle is mlx's CPU build (pip install "mlx[cpu]" numpy gguf; made with mlx 0.32.4):
mx.quantize / mx.dequantize for every bits in {2,3,4,5,6,8} x group in {32,64,128}.

Outputs (deterministic, seed 1234; ~1.3 MB in all), tests/data/affine/<src>_<sdt>.bin:
  f16_f16.bin    source in float16:  mx.quantize(w_f16)  -> f16 scales/biases, f16 dequant
  bf16_bf16.bin  source in bfloat16: mx.quantize(w_bf16) -> bf16 scales/biases, bf16 dequant
  f32_f16.bin    source in float32:  mx.quantize(w_f32), scales/biases .astype(float16) (what a
                 converter keeping an f32 source but storing f16 gets), dequant of those
  f32_bf16.bin   the same with bfloat16 storage

Rows (24 x 256): normal, uniform, heavy-tailed (Student t, 2 dof); edge groups (constant, all
zero, all negative, one outlier, all positive, half zero, tiny range around 1); tiny values (f32
denormals, f16-subnormal magnitudes); ~1e4 values; values near the f16 limit (+-6e4, where the
f16 dequantization overflows to inf exactly as MLX does); exact rounding ties (multiples of 0.5);
8 rows of blk.0.attn_q.weight and 8 rows of token_embd.weight of SmolLM2-135M-Instruct (the Q4_1 /
Q8_0 GGUF dequantized by gguf-py; random normal rows instead when the model is not downloaded).

Binary layout, little-endian:
  header  char magic[4] = "JAFG"; u32 version = 1; u32 rows; u32 cols;
          u32 src_dtype; u32 scale_dtype (0 = f32, 1 = f16, 2 = bf16); u32 n_cases
  input   f32[rows * cols]   (the source values, exactly representable in src_dtype)
  n_cases times:
          u32 bits; u32 group;
          u32 packed[rows * cols * bits / 32]    mx.quantize's codes
          u16 scales[rows * cols / group]        raw f16/bf16 bits
          u16 biases[rows * cols / group]
          u16 dequant[rows * cols]               mx.dequantize's output, raw f16/bf16 bits

Usage: ~/.cache/jang/venv-mlx/bin/python tools/gen_affine_goldens.py
The C tests check the written files: make test T=affine
"""
import os
import struct

import mlx.core as mx
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "affine")
MODEL = os.path.expanduser("~/.cache/jang/models/smollm2-135m-instruct-q4_1.gguf")
ROWS, COLS = 24, 256
BITS = [2, 3, 4, 5, 6, 8]
GROUPS = [32, 64, 128]
DT_CODE = {mx.float32: 0, mx.float16: 1, mx.bfloat16: 2}


def model_rows(rng):
    try:
        from gguf import GGUFReader
        from gguf.quants import dequantize
    except ImportError:
        GGUFReader = None
    if GGUFReader is None or not os.path.exists(MODEL):
        print("note: SmolLM2 GGUF or gguf-py missing; using random rows instead of model rows")
        return (rng.standard_normal((16, COLS)) * 0.05).astype(np.float32)
    r = GGUFReader(MODEL)
    by_name = {t.name: t for t in r.tensors}
    out = []
    for name, rows in (("blk.0.attn_q.weight", [0, 1, 63, 64, 200, 311, 450, 575]),
                       ("token_embd.weight", [0, 1, 2, 100, 1000, 12345, 30000, 49151])):
        t = by_name[name]
        d = dequantize(t.data, t.tensor_type)
        out.append(np.asarray(d[rows, :COLS], dtype=np.float32))
    return np.concatenate(out, axis=0)


def make_input(rng):
    w = np.zeros((ROWS, COLS), np.float32)
    n = lambda *s: rng.standard_normal(s).astype(np.float32)
    w[0] = n(COLS) * 0.02
    w[1] = rng.uniform(-1, 1, COLS)
    w[2] = rng.standard_t(2, COLS) * 0.01
    g = [np.full(32, 0.37), np.full(32, -2.5), np.zeros(32), -np.abs(n(32)),
         np.where(np.arange(32) == 7, 5.0, n(32) * 0.01), np.abs(n(32)) + 1.0,
         np.where(np.arange(32) < 16, 0.0, n(32)), 1.0 + n(32) * 1e-6]
    w[3] = np.concatenate(g)
    g = [n(32) * 1e-40, np.full(32, 3e-39), n(32) * 1e-6, np.where(np.arange(32) == 3, 1e-3, n(32) * 1e-5),
         n(32) * 1e-8, n(32) * 2e-7, np.abs(n(32)) * 6e-5, n(32) * 1e-3]
    w[4] = np.concatenate(g)
    w[5] = n(COLS) * 1e4
    g = [rng.uniform(-6e4, 6e4, 32), rng.uniform(5e4, 65504, 32), rng.uniform(-65504, -5e4, 32),
         rng.uniform(-65504, 65504, 32), n(32) * 2e4, np.where(np.arange(32) == 0, 65504.0, n(32)),
         np.where(np.arange(32) == 0, -65504.0, n(32)), rng.uniform(0, 65504, 32)]
    w[6] = np.concatenate(g)
    g = [np.arange(32) * 0.5, np.arange(32) * 0.5 - 7.5, (np.arange(32) % 8) * 0.5,
         np.round(n(32) * 64) / 64, np.arange(32) * 0.25 - 4, (np.arange(32) % 4) * 0.5 + 1,
         np.arange(32) * -0.5, np.round(n(32) * 8) / 2]
    w[7] = np.concatenate(g)
    w[8:24] = model_rows(rng)
    return w


def write(path, src_dt, scale_dt, w32):
    wm = mx.array(w32).astype(src_dt)
    x = np.array(wm.astype(mx.float32))
    parts = [b"JAFG", struct.pack("<6I", 1, ROWS, COLS, DT_CODE[src_dt], DT_CODE[scale_dt],
                                  len(BITS) * len(GROUPS)), x.astype("<f4").tobytes()]
    for bits in BITS:
        for group in GROUPS:
            q, s, b = mx.quantize(wm, group_size=group, bits=bits)
            s, b = s.astype(scale_dt), b.astype(scale_dt)
            d = mx.dequantize(q, s, b, group_size=group, bits=bits)
            assert d.dtype == scale_dt and q.shape == (ROWS, COLS * bits // 32)
            parts += [struct.pack("<2I", bits, group), np.array(q).astype("<u4").tobytes(),
                      np.array(s.view(mx.uint16)).astype("<u2").tobytes(),
                      np.array(b.view(mx.uint16)).astype("<u2").tobytes(),
                      np.array(d.view(mx.uint16)).astype("<u2").tobytes()]
    with open(path, "wb") as f:
        f.write(b"".join(parts))
    print(f"{os.path.relpath(path, ROOT)}: {os.path.getsize(path)} bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    mx.set_default_device(mx.cpu)
    rng = np.random.default_rng(1234)
    w = make_input(rng)
    print("mlx", mx.__version__)
    for src, sdt, name in ((mx.float16, mx.float16, "f16_f16"), (mx.bfloat16, mx.bfloat16, "bf16_bf16"),
                           (mx.float32, mx.float16, "f32_f16"), (mx.float32, mx.bfloat16, "f32_bf16")):
        write(os.path.join(OUT, name + ".bin"), src, sdt, w)


if __name__ == "__main__":
    main()
