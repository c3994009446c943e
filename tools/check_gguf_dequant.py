#!/usr/bin/env python3
"""check_gguf_dequant.py — compares libjang's dequantization of every tensor of real GGUF files
with gguf-py's (gguf.quants.dequantize, numpy), bit for bit.

Our side comes from build/tools/dequant-dump (tools/dequant_dump.c), streamed through a pipe, so
memory stays at about two copies of the largest tensor. F64 / I8..I64 tensors, which gguf-py has
no dequantizer for, are compared with numpy astype(float32).

Usage: make build/tools/dequant-dump
       ~/.cache/jang/venv/bin/python tools/check_gguf_dequant.py ~/.cache/jang/models/*.gguf
Exit status 0 only when every tensor of every file matches exactly (and none was skipped unless
--allow-unsupported).
"""
import argparse
import collections
import os
import struct
import subprocess
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLAIN = {Q.F64, Q.I8, Q.I16, Q.I32, Q.I64}


def reference(t):
    if t.tensor_type in PLAIN:
        return np.asarray(t.data).astype(np.float32).ravel()
    return np.ascontiguousarray(gguf.quants.dequantize(t.data, t.tensor_type),
                                dtype=np.float32).ravel()


def read_exact(f, n):
    b = f.read(n)
    if len(b) != n:
        raise RuntimeError(f"dump stream ended early ({len(b)} of {n} bytes)")
    return b


def check_file(path, dump_bin, allow_unsupported):
    r = gguf.GGUFReader(path)
    tensors = {t.name: t for t in r.tensors}
    proc = subprocess.Popen([dump_bin, path], stdout=subprocess.PIPE)
    per_type = collections.Counter()
    elems_per_type = collections.Counter()
    failures, skipped, seen = [], [], []
    f = proc.stdout
    while True:
        (name_len,) = struct.unpack("<I", read_exact(f, 4))
        if name_len == 0xFFFFFFFF:
            break
        name = read_exact(f, name_len).decode()
        ttype, n, ok = struct.unpack("<Iqb", read_exact(f, 13))
        seen.append(name)
        t = tensors[name]
        tname = Q(ttype).name if ttype in Q._value2member_map_ else str(ttype)
        if ttype != int(t.tensor_type) or n != int(t.n_elements):
            failures.append(f"{name}: type/elements {tname}/{n}, gguf-py says "
                            f"{t.tensor_type.name}/{t.n_elements}")
        if not ok:
            skipped.append(f"{name} ({tname})")
            continue
        ours = np.frombuffer(read_exact(f, 4 * n), dtype="<f4")
        ref = reference(t)
        if ref.size != n:
            failures.append(f"{name}: {n} elements, gguf-py gives {ref.size}")
            continue
        a, b = ours.view(np.uint32), ref.view(np.uint32)
        if not np.array_equal(a, b):
            bad = np.flatnonzero(a != b)
            d = np.nanmax(np.abs(ours[bad].astype(np.float64) - ref[bad].astype(np.float64)))
            i = bad[0]
            failures.append(f"{name} ({tname}): {bad.size} of {n} differ; first [{i}] ours "
                            f"{ours[i]!r} (0x{a[i]:08x}) gguf-py {ref[i]!r} (0x{b[i]:08x}); "
                            f"max |diff| {d}")
        per_type[tname] += 1
        elems_per_type[tname] += n
    if proc.wait() != 0:
        failures.append(f"dequant-dump exited with {proc.returncode}")
    if seen != [t.name for t in r.tensors]:
        failures.append("dump order or tensor set differs from gguf-py's")

    print(f"{path}: {sum(per_type.values())} of {len(r.tensors)} tensors compared bit for bit")
    for k in sorted(per_type):
        print(f"  {k:6s} {per_type[k]:5d} tensors {elems_per_type[k]:12d} elements")
    for s in skipped:
        print(f"  skipped (unsupported by jang): {s}")
    for m in failures[:20]:
        print(f"  MISMATCH {m}")
    return not failures and (allow_unsupported or not skipped)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "tools", "dequant-dump"))
    ap.add_argument("--allow-unsupported", action="store_true")
    args = ap.parse_args()
    ok = all([check_file(p, args.bin, args.allow_unsupported) for p in args.files])
    print("OK: all tensors bit-exact" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
