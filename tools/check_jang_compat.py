#!/usr/bin/env python3
"""check_jang_compat.py — a model converted by the Python `jang` package opens with our reader,
passes `jang validate`, and every tensor dequantizes (our C) to exactly what mlx gives.

Steps:
  1. Source: an HF safetensors directory made from the SmolLM2 GGUF with gguf-py (no torch):
     every tensor dequantized (gguf.quants.dequantize), llama.cpp's Q/K row permutation undone,
     stored F16 in model.safetensors; config.json (LlamaForCausalLM) from the GGUF metadata; the
     tokenizer files of tests/data/tokenizer/smollm2 (transformers' GGUF conversion).
  2. `jang convert SRC -o OUT -p PROFILE -m rtn` (the jang CLI of the venv; CPU mlx) for each
     profile (default JANG_2S = 6/4/2 and JANG_3M = 8/3/3).
  3. `jang validate OUT` (ours) must pass; `jang inspect OUT --summary` shows JANG bits vs
     jang's actual_bits.
  4. build/tools/qdir-dequant-dump (our reader + our dequantizer) vs mx.dequantize of every module
     mlx_lm.load builds (bits/group as mlx parsed them): must be equal bit for bit, the same
     modules on both sides, the same (bits, group).
  5. The same for plain MLX directories made by mlx-lm itself from the same source
     (mlx_lm.convert: uniform 4-bit g64 = top-level default only; recipe mixed_3_6 = per-module
     entries), which have no jang_config.json.

Usage: ~/.cache/jang/venv-mlx/bin/python tools/check_jang_compat.py [--profiles JANG_2S,JANG_3M]
Needs: make build/jang build/tools/qdir-dequant-dump; the venv of tools/check_mlx_load.py.
Exit status 0 when every check passes.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from check_mlx_load import compare_with_mlx  # noqa: E402

T0 = time.time()


def step(title):
    print(f"[{time.time() - T0:6.1f} s] {title}", flush=True)


def run(cmd):
    print("  $", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=False, text=True, capture_output=True)


LLAMA_NAMES = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}


def hf_name(gname):
    if gname == "token_embd.weight":
        return "model.embed_tokens.weight"
    if gname == "output_norm.weight":
        return "model.norm.weight"
    if gname == "output.weight":
        return "lm_head.weight"
    p = gname.split(".")
    if p[0] == "blk" and p[2] in LLAMA_NAMES:
        return f"model.layers.{p[1]}.{LLAMA_NAMES[p[2]]}.{p[3]}"
    return None


def unpermute(w, n_head):
    """Inverse of llama.cpp's permute (convert_hf_to_gguf.py LlamaModel.permute), which stored
    w.reshape(n_head, 2, hd/2, ...).swapaxes(1, 2)."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def make_source(gguf_path, tok_dir, out):
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors.numpy import save_file

    r = GGUFReader(gguf_path)

    def field(k, default=None):
        f = r.fields.get(k)
        return f.contents() if f is not None else default

    arch = field("general.architecture")
    if arch != "llama":
        sys.exit(f"{gguf_path}: architecture {arch}; this check knows llama")
    n_head = int(field("llama.attention.head_count"))
    n_kv = int(field("llama.attention.head_count_kv", n_head))
    tensors = {}
    for t in r.tensors:
        name = hf_name(t.name)
        if name is None:
            print(f"  skipping {t.name}")
            continue
        shape = tuple(int(x) for x in reversed(t.shape))
        w = dequantize(t.data, t.tensor_type).reshape(shape).astype(np.float32)
        if t.name.endswith("attn_q.weight"):
            w = unpermute(w, n_head)
        elif t.name.endswith("attn_k.weight"):
            w = unpermute(w, n_kv)
        tensors[name] = w.astype(np.float16)
    vocab = len(field("tokenizer.ggml.tokens"))
    tied = "lm_head.weight" not in tensors
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": int(field("llama.embedding_length")),
        "intermediate_size": int(field("llama.feed_forward_length")),
        "num_attention_heads": n_head, "num_key_value_heads": n_kv,
        "num_hidden_layers": int(field("llama.block_count")),
        "vocab_size": vocab,
        "max_position_embeddings": int(field("llama.context_length")),
        "rms_norm_eps": float(np.float32(field("llama.attention.layer_norm_rms_epsilon"))),
        "rope_theta": float(field("llama.rope.freq_base", 10000.0)),
        "tie_word_embeddings": tied, "hidden_act": "silu", "attention_bias": False,
        "mlp_bias": False, "bos_token_id": int(field("tokenizer.ggml.bos_token_id")),
        "eos_token_id": int(field("tokenizer.ggml.eos_token_id")), "torch_dtype": "float16",
    }
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    save_file(tensors, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    for fn in os.listdir(tok_dir):
        shutil.copy(os.path.join(tok_dir, fn), os.path.join(out, fn))
    return len(tensors)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", default=os.path.expanduser(
        "~/.cache/jang/models/smollm2-135m-instruct-q4_1.gguf"))
    ap.add_argument("--work", default="/tmp/jang-check-compat")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--tokenizer-dir", default=os.path.join(ROOT, "tests/data/tokenizer/smollm2"))
    ap.add_argument("--profiles", default="JANG_2S,JANG_3M")
    ap.add_argument("--mlx-recipes", default="uniform4,mixed_3_6",
                    help="mlx_lm.convert variants to check too ('' for none)")
    ap.add_argument("--jang-cli", default=os.path.join(os.path.dirname(sys.executable), "jang"))
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    ok = True

    src = os.path.join(args.work, "smollm2-f16")
    step("1. HF F16 source from the GGUF (gguf-py dequantize + Q/K un-permute)")
    n = make_source(args.gguf, args.tokenizer_dir, src)
    print(f"  {n} tensors -> {src}")

    for prof in args.profiles.split(","):
        out = os.path.join(args.work, "smollm2-" + prof)
        if os.path.exists(out):
            shutil.rmtree(out)
        step(f"2. jang convert -p {prof} -m rtn")
        r = run([args.jang_cli, "convert", src, "-o", out, "-p", prof, "-m", "rtn"])
        tail = [l for l in r.stdout.splitlines() if "Actual bits" in l or "Weight size" in l]
        print("  " + " | ".join(x.strip() for x in tail))
        if r.returncode:
            print(r.stdout[-3000:], r.stderr[-3000:])
            print(f"  jang convert FAILED (exit {r.returncode})")
            ok = False
            continue
        jc = json.load(open(os.path.join(out, "jang_config.json")))
        q = jc["quantization"]
        print(f"  jang_config: format {jc.get('format')} {jc.get('format_version')}, profile "
              f"{q.get('profile')}, actual_bits {q.get('actual_bits')}, bit_widths_used "
              f"{q.get('bit_widths_used')}, manifest {len(q.get('tensor_quantization_manifest', {}))}"
              f" entries; files: {sorted(os.listdir(out))}")

        step("3. jang validate (ours) + jang inspect")
        r = run([os.path.join(args.build, "jang"), "validate", out])
        print("\n".join("  " + l for l in r.stdout.strip().splitlines()))
        if r.returncode:
            ok = False
        r = run([os.path.join(args.build, "jang"), "inspect", out, "--summary"])
        print("\n".join("  " + l for l in r.stdout.strip().splitlines()
                        if l.startswith(("format", "quantization", "JANG bits", "true bpw",
                                         "bit widths", "totals"))))

        step("4. our dequantization vs mx.dequantize (via mlx_lm.load)")
        dump = os.path.join(args.work, f"dequant-ours-{prof}.safetensors")
        r = run([os.path.join(args.build, "tools/qdir-dequant-dump"), out, dump])
        if r.returncode:
            print(r.stderr)
            ok = False
            continue
        _, _, n_mod, n_el, n_bad, problems = compare_with_mlx(out, dump, r.stdout)
        print(f"  modules compared: {n_mod}, elements: {n_el}, differing elements: {n_bad}")
        for p in problems[:20]:
            print("  PROBLEM", p)
        ok = ok and not problems and n_bad == 0 and n_mod > 0
        os.remove(dump)

    for recipe in [r for r in args.mlx_recipes.split(",") if r]:
        out = os.path.join(args.work, "smollm2-mlx-" + recipe)
        if os.path.exists(out):
            shutil.rmtree(out)
        step(f"5. mlx_lm.convert ({recipe}) -> plain MLX directory")
        from mlx_lm import convert
        if recipe.startswith("uniform"):
            convert(src, out, quantize=True, q_bits=int(recipe[7:]), q_group_size=64)
        else:
            convert(src, out, quantize=True, quant_predicate=recipe)
        cfg = json.load(open(os.path.join(out, "config.json")))
        q = cfg["quantization"]
        ent = {k: v for k, v in q.items() if isinstance(v, dict)}
        print(f"  config.json quantization: top level {{group_size {q.get('group_size')}, bits "
              f"{q.get('bits')}}}, {len(ent)} per-module entries, bits "
              f"{sorted({v['bits'] for v in ent.values()})}; files {sorted(os.listdir(out))}")
        r = run([os.path.join(args.build, "jang"), "validate", out])
        print("\n".join("  " + l for l in r.stdout.strip().splitlines()))
        if r.returncode:
            ok = False
        dump = os.path.join(args.work, f"dequant-ours-mlx-{recipe}.safetensors")
        r = run([os.path.join(args.build, "tools/qdir-dequant-dump"), out, dump])
        if r.returncode:
            print(r.stderr)
            ok = False
            continue
        srcs = sorted({line.split("\t")[6] for line in r.stdout.strip().splitlines()})
        print(f"  our reader took (bits, group) from: {srcs}")
        _, _, n_mod, n_el, n_bad, problems = compare_with_mlx(out, dump, r.stdout)
        print(f"  modules compared: {n_mod}, elements: {n_el}, differing elements: {n_bad}")
        for p in problems[:20]:
            print("  PROBLEM", p)
        ok = ok and not problems and n_bad == 0 and n_mod > 0
        os.remove(dump)

    step("RESULT: " + ("PASS" if ok else "FAIL"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
