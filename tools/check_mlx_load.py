#!/usr/bin/env python3
"""check_mlx_load.py — a JANG v2 directory written by us loads in mlx-lm, and mlx's dequantized
weights equal ours bit for bit.

Steps (each printed with its result):
  1. build/tools/quantize-gguf-demo writes SmolLM2-135M-Instruct (the GGUF from
     scripts/fetch-models) as a mixed-precision JANG v2 directory: every width 2/3/4/5/6/8, groups
     32/64/128, F16 scales, two shards (--max-shard-bytes), with the tokenizer files of
     tests/data/tokenizer/smollm2 (transformers' GGUF tokenizer conversion + the Digits
     pre-tokenizer fix-up, made by tools/gen_tokenizer_goldens.py).
  2. `jang validate` must pass.
  3. build/tools/qdir-dequant-dump dequantizes every quantized module with libjang
     (jang_qmodel_open + jang_affine_dequantize) into one safetensors file.
  4. mlx_lm.load(dir) on the CPU. For every QuantizedLinear / QuantizedEmbedding mlx built, its
     (bits, group_size) as mlx parsed them must equal ours, and
     mx.dequantize(weight, scales, biases, group_size, bits) must equal our dump bit for bit.
     The set of quantized modules must be the same on both sides.
  5. A short greedy generation through mlx_lm (sanity: the model still speaks).
  6. jang's own loader (jang_tools.loader.load_jang_model) on the same directory, if it runs.

Usage: ~/.cache/jang/venv-mlx/bin/python tools/check_mlx_load.py [--gguf FILE] [--work DIR]
       (venv: python3 -m venv ~/.cache/jang/venv-mlx; pip install mlx mlx-lm jang numpy safetensors)
Needs: make build/tools/quantize-gguf-demo build/tools/qdir-dequant-dump build/jang
Exit status 0 when every check passes.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


T0 = time.time()


def step(title):
    print(f"[{time.time() - T0:6.1f} s] {title}", flush=True)


def run(cmd, **kw):
    print("  $", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=False, text=True, capture_output=True, **kw)


def compare_with_mlx(out_dir, dump_path, ours_tsv):
    """Loads out_dir with mlx_lm and compares every quantized module with the dump.
    Returns (n_modules, n_elements, n_mismatched_elements, problems)."""
    import mlx.core as mx
    import mlx.nn as nn
    import numpy as np
    from mlx_lm import load

    mx.set_default_device(mx.cpu)
    ours = {}
    for line in ours_tsv.strip().splitlines():
        name, bits, group, rows, cols, sdt, src = line.split("\t")
        ours[name] = (int(bits), int(group), int(rows), int(cols), sdt, src)
    dump = mx.load(dump_path)
    t0 = time.time()
    model, tokenizer = load(out_dir)
    print(f"  mlx_lm.load: {time.time() - t0:.1f} s")
    problems = []
    n_mod = n_el = n_bad = 0
    seen = set()
    for name, m in model.named_modules():
        if not isinstance(m, (nn.QuantizedLinear, nn.QuantizedEmbedding)):
            continue
        seen.add(name)
        if name not in ours:
            problems.append(f"{name}: quantized by mlx, not by our reader")
            continue
        bits, group = ours[name][0], ours[name][1]
        if (m.bits, m.group_size) != (bits, group) or getattr(m, "mode", "affine") != "affine":
            problems.append(f"{name}: mlx parsed {m.bits} bits g{m.group_size}, we {bits} g{group}")
            continue
        ref = mx.dequantize(m.weight, m.scales, m.biases, group_size=m.group_size, bits=m.bits)
        mine = dump[name]
        a = np.array(ref.view(mx.uint16)).reshape(-1)
        b = np.array(mine.view(mx.uint16)).reshape(-1)
        if ref.shape != mine.shape or ref.dtype != mine.dtype:
            problems.append(f"{name}: mlx {ref.shape} {ref.dtype} vs ours {mine.shape} {mine.dtype}")
            continue
        bad = int(np.count_nonzero(a != b))
        n_mod += 1
        n_el += a.size
        n_bad += bad
        if bad:
            fa, fb = np.array(ref.astype(mx.float32)), np.array(mine.astype(mx.float32))
            problems.append(f"{name}: {bad} elements differ, max |diff| "
                            f"{float(np.max(np.abs(fa - fb))):.3g}")
    for name in ours:
        if name not in seen:
            problems.append(f"{name}: quantized in our reader, not in mlx's model")
    return model, tokenizer, n_mod, n_el, n_bad, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", default=os.path.expanduser(
        "~/.cache/jang/models/smollm2-135m-instruct-q4_1.gguf"))
    ap.add_argument("--work", default="/tmp/jang-check-mlx")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--tokenizer-dir", default=os.path.join(ROOT, "tests/data/tokenizer/smollm2"))
    ap.add_argument("--scheme", default="mixed",
                    choices=["mixed"] + [f"uniform{b}" for b in (2, 3, 4, 5, 6, 8)])
    ap.add_argument("--max-shard-bytes", default="60000000")
    ap.add_argument("--gen-tokens", type=int, default=10,
                    help="greedy tokens to generate (mlx's CPU backend is slow here: ~20 s each)")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    out = os.path.join(args.work, "smollm2-jang-" + args.scheme)
    dump = os.path.join(args.work, "dequant-ours.safetensors")
    ok = True

    step("1. write a JANG v2 directory with libjang")
    r = run([os.path.join(args.build, "tools/quantize-gguf-demo"), args.gguf, out,
             "--tokenizer-dir", args.tokenizer_dir, "--scheme", args.scheme,
             "--max-shard-bytes", args.max_shard_bytes, "--force"])
    print("  " + (r.stderr.strip().splitlines() or ["?"])[-1])
    if r.returncode:
        sys.exit(f"quantize-gguf-demo failed:\n{r.stderr}")
    cfg = json.load(open(os.path.join(out, "config.json")))
    q = cfg["quantization"]
    widths = sorted({v["bits"] for v in q.values() if isinstance(v, dict)})
    groups = sorted({v["group_size"] for v in q.values() if isinstance(v, dict)})
    print(f"  {len([v for v in q.values() if isinstance(v, dict)])} config.json entries, "
          f"bits {widths}, groups {groups}; shards: "
          f"{sorted(f for f in os.listdir(out) if f.endswith('.safetensors'))}")

    step("2. jang validate")
    r = run([os.path.join(args.build, "jang"), "validate", out])
    print("  " + r.stdout.strip().splitlines()[-1])
    if r.returncode:
        print(r.stdout)
        ok = False

    step("3. dequantize every module with libjang")
    r = run([os.path.join(args.build, "tools/qdir-dequant-dump"), out, dump])
    if r.returncode:
        sys.exit(f"qdir-dequant-dump failed:\n{r.stderr}")
    print(f"  {len(r.stdout.strip().splitlines())} modules dumped")

    step("4. mlx_lm.load and mx.dequantize vs ours")
    import mlx.core as mx
    model, tok, n_mod, n_el, n_bad, problems = compare_with_mlx(out, dump, r.stdout)
    print(f"  modules compared: {n_mod}, elements: {n_el}, differing elements: {n_bad}")
    for p in problems[:20]:
        print("  PROBLEM", p)
    ok = ok and not problems and n_bad == 0 and n_mod > 0
    os.remove(dump)

    step("5. greedy generation through mlx_lm")
    from mlx_lm import generate
    from mlx_lm.sample_utils import make_sampler
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    text = generate(model, tok, prompt=prompt, max_tokens=args.gen_tokens, sampler=make_sampler(temp=0.0))
    print("  " + repr(text))

    step("6. jang's own loader (jang_tools.loader.load_jang_model)")
    try:
        from jang_tools.loader import load_jang_model
        m2, _ = load_jang_model(out)
        import mlx.nn as nn
        n = sum(1 for _, m in m2.named_modules()
                if isinstance(m, (nn.QuantizedLinear, nn.QuantizedEmbedding)))
        print(f"  loaded: {n} quantized modules")
    except Exception as e:  # informative only: jang's loader targets Apple silicon
        print(f"  did not load: {type(e).__name__}: {e}")

    step("RESULT: " + ("PASS" if ok else "FAIL"))
    mx.clear_cache()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
