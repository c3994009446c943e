#!/usr/bin/env python3
"""gen_tiny_gguf_models.py — tiny model-shaped GGUF files for tests/data/models/.

Each file carries the metadata llama.cpp's converter writes for its architecture (written with
gguf-py's GGUFWriter and its key constants, so names and types are the real ones) and small F32
tensors named as llama.cpp names them. tests/test_desc.c reads the description back; the expected
values are the literals below, also written to <name>.expected.json.
Run: ~/.cache/jang/venv/bin/python tools/gen_tiny_gguf_models.py
"""
import json
import os

import numpy as np
import gguf

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "models")


def write(name, arch, meta, tensors, expected):
    path = os.path.join(OUT, name + ".gguf")
    w = gguf.GGUFWriter(path, arch)
    w.add_name(name)
    for fn, val in meta:
        getattr(w, fn)(*val) if isinstance(val, tuple) else getattr(w, fn)(val)
    rng = np.random.default_rng(0)
    for tname, shape in tensors:
        w.add_tensor(tname, rng.standard_normal(shape).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(os.path.join(OUT, name + ".expected.json"), "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True)
        f.write("\n")
    print(path, os.path.getsize(path))


def block_tensors(n_layers, dim, ffn, n_heads, n_kv, hd, bias=False, qk_norm=False):
    t = []
    for b in range(n_layers):
        p = f"blk.{b}."
        t += [(p + "attn_norm.weight", (dim,)), (p + "ffn_norm.weight", (dim,)),
              (p + "attn_q.weight", (n_heads * hd, dim)), (p + "attn_k.weight", (n_kv * hd, dim)),
              (p + "attn_v.weight", (n_kv * hd, dim)), (p + "attn_output.weight", (dim, n_heads * hd)),
              (p + "ffn_gate.weight", (ffn, dim)), (p + "ffn_up.weight", (ffn, dim)),
              (p + "ffn_down.weight", (dim, ffn))]
        if bias:
            t += [(p + "attn_q.bias", (n_heads * hd,)), (p + "attn_k.bias", (n_kv * hd,)),
                  (p + "attn_v.bias", (n_kv * hd,))]
        if qk_norm:
            t += [(p + "attn_q_norm.weight", (hd,)), (p + "attn_k_norm.weight", (hd,))]
    return t


def tokenizer_meta(n_vocab):
    toks = [f"t{i}" for i in range(n_vocab)]
    return [("add_tokenizer_model", "gpt2"), ("add_tokenizer_pre", "smollm"),
            ("add_token_list", (toks,)), ("add_token_merges", (["t 1", "t 2"],)),
            ("add_bos_token_id", 1), ("add_eos_token_id", 2),
            ("add_chat_template", "{% for m in messages %}{{ m['content'] }}{% endfor %}")]


def main():
    os.makedirs(OUT, exist_ok=True)
    # Llama (SmolLM2-like): tied embeddings, GQA, interleaved-RoPE permuted Q/K
    V, D, F, H, KV, HD, L = 64, 32, 48, 4, 2, 8, 2
    meta = [("add_block_count", L), ("add_context_length", 256), ("add_embedding_length", D),
            ("add_feed_forward_length", F), ("add_head_count", H), ("add_head_count_kv", KV),
            ("add_rope_freq_base", 100000.0), ("add_layer_norm_rms_eps", 1e-5),
            ("add_rope_dimension_count", HD)] + tokenizer_meta(V)
    tensors = [("token_embd.weight", (V, D)), ("output_norm.weight", (D,))]
    tensors += block_tensors(L, D, F, H, KV, HD)
    write("tiny-llama", "llama", meta, tensors, dict(
        arch="llama", n_layers=L, dim=D, ffn_dim=F, n_heads=H, n_kv_heads=KV, head_dim=HD,
        vocab_size=V, max_seq_len=256, rope_theta=100000.0, norm_eps=1e-5, tied=True,
        attn_bias=False, qk_norm=False, bos_token_id=1, eos_token_id=2, rope_dim=HD))
    # Qwen2: biases on q/k/v, separate output, no rope.dimension_count, yarn scaling
    meta = [("add_block_count", L), ("add_context_length", 1024), ("add_embedding_length", D),
            ("add_feed_forward_length", F), ("add_head_count", H), ("add_head_count_kv", KV),
            ("add_rope_freq_base", 1000000.0), ("add_layer_norm_rms_eps", 1e-6),
            ("add_rope_scaling_type", gguf.RopeScalingType.YARN), ("add_rope_scaling_factor", 4.0),
            ("add_rope_scaling_orig_ctx_len", 256)] + tokenizer_meta(V)
    tensors = [("token_embd.weight", (V, D)), ("output_norm.weight", (D,)),
               ("output.weight", (V, D))]
    tensors += block_tensors(L, D, F, H, KV, HD, bias=True)
    write("tiny-qwen2", "qwen2", meta, tensors, dict(
        arch="qwen2", n_layers=L, dim=D, ffn_dim=F, n_heads=H, n_kv_heads=KV, head_dim=HD,
        vocab_size=V, max_seq_len=1024, rope_theta=1e6, norm_eps=1e-6, tied=False,
        attn_bias=True, qk_norm=False, bos_token_id=1, eos_token_id=2, rope_dim=HD,
        rope_scaling="yarn", rope_factor=4.0, rope_orig_ctx=256))
    # Qwen3: q/k norms, head_dim != dim / heads (key_length given)
    HD3 = 16
    meta = [("add_block_count", L), ("add_context_length", 512), ("add_embedding_length", D),
            ("add_feed_forward_length", F), ("add_head_count", H), ("add_head_count_kv", KV),
            ("add_key_length", HD3), ("add_value_length", HD3),
            ("add_rope_freq_base", 1000000.0), ("add_layer_norm_rms_eps", 1e-6)] + tokenizer_meta(V)
    tensors = [("token_embd.weight", (V, D)), ("output_norm.weight", (D,))]
    tensors += block_tensors(L, D, F, H, KV, HD3, qk_norm=True)
    write("tiny-qwen3", "qwen3", meta, tensors, dict(
        arch="qwen3", n_layers=L, dim=D, ffn_dim=F, n_heads=H, n_kv_heads=KV, head_dim=HD3,
        vocab_size=V, max_seq_len=512, rope_theta=1e6, norm_eps=1e-6, tied=True,
        attn_bias=False, qk_norm=True, bos_token_id=1, eos_token_id=2, rope_dim=HD3))


if __name__ == "__main__":
    main()
