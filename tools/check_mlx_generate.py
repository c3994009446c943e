#!/usr/bin/env python3
"""check_mlx_generate.py — greedy continuations of a JANG/MLX directory: mlx-lm (CPU) vs ours.

For each prompt: the chat-formatted ids come from mlx-lm's tokenizer (so both runtimes see the
same ids), mlx-lm generates N tokens greedily with its KV cache, build/tools/greedy-ids does the
same with our runtime. Prints both continuations; at the first divergence prints both runtimes'
top-2 logits, so a near-tie (float rounding: MLX dequantizes in f16, we in f32) can be told from
a real difference.
Usage: ~/.cache/jang/venv-mlx/bin/python tools/check_mlx_generate.py DIR [N]
"""
import os
import subprocess
import sys

import mlx.core as mx
from mlx_lm import load
from mlx_lm.models.cache import make_prompt_cache

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = ["What is the capital of France?", "Write a haiku about the sea.",
           "List three prime numbers.", "Explain gravity to a child in one sentence."]


def mlx_greedy(model, ids, n):
    cache = make_prompt_cache(model)
    logits = model(mx.array([ids]), cache=cache)[0, -1]
    out = []
    for _ in range(n):
        top = mx.argsort(-logits)[:2].tolist()
        lv = logits.astype(mx.float32).tolist()
        out.append((top[0], lv[top[0]], top[1], lv[top[1]]))
        logits = model(mx.array([[top[0]]]), cache=cache)[0, -1]
    return out


def ours(d, ids, n):
    exe = os.path.join(ROOT, "build", "tools", "greedy-ids")
    r = subprocess.run([exe, d, str(n)] + [str(i) for i in ids], capture_output=True, text=True,
                       check=True)
    return [(int(a), float(b), int(c), float(e)) for a, b, c, e in
            (line.split() for line in r.stdout.strip().splitlines())]


def main():
    d = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    model, tok = load(d)
    same_total = 0
    for p in PROMPTS:
        ids = tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True)
        a = mlx_greedy(model, ids, n)
        b = ours(d, ids, n)
        k = next((i for i in range(n) if a[i][0] != b[i][0]), n)
        same_total += k == n
        print(f"prompt: {p!r}")
        print(f"  mlx-lm: {tok.decode([t[0] for t in a])!r}")
        print(f"  jang  : {tok.decode([t[0] for t in b])!r}")
        if k < n:
            print(f"  first divergence at token {k}: mlx-lm top-2 {a[k][0]}={a[k][1]:.4f}, "
                  f"{a[k][2]}={a[k][3]:.4f} (gap {a[k][1] - a[k][3]:.4f}); jang top-2 "
                  f"{b[k][0]}={b[k][1]:.4f}, {b[k][2]}={b[k][3]:.4f} (gap {b[k][1] - b[k][3]:.4f})")
        else:
            print(f"  identical for {n} tokens")
    print(f"{same_total} of {len(PROMPTS)} prompts identical for {n} tokens")


if __name__ == "__main__":
    main()
