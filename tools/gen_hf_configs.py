#!/usr/bin/env python3
"""gen_hf_configs.py — writes tests/data/configs/<name>/{config.json,expected.json}.

config.json: small configs of every architecture we describe, as transformers writes them
(v5 `rope_parameters` style) plus hand-kept v4-style files shaped like real hub models
(`rope_scaling` + `rope_theta` at top level), which transformers still loads.
expected.json: what transformers itself reads back from each file (AutoConfig), the oracle for
tests/test_desc.c. Run: ~/.cache/jang/venv/bin/python tools/gen_hf_configs.py
(needs `pip install transformers`; no torch).
"""
import json
import math
import os
import sys

import transformers
from transformers import AutoConfig

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "configs")

SMALL = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
             vocab_size=256, max_position_embeddings=512)


def made(cls_name, **kw):
    cls = getattr(transformers, cls_name)
    args = dict(SMALL)
    args.update(kw)
    return json.loads(cls(**args).to_json_string())


# v4-style files, shaped like the config.json of real hub models (values from their model cards).
V4 = {
    "qwen25_v4": {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896,
        "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
        "num_key_value_heads": 2, "max_position_embeddings": 32768, "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0, "tie_word_embeddings": True, "vocab_size": 151936,
        "use_sliding_window": False, "sliding_window": 32768, "bos_token_id": 151643,
        "eos_token_id": 151645, "torch_dtype": "bfloat16"},
    "smollm2_v4": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576,
        "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
        "num_key_value_heads": 3, "max_position_embeddings": 8192, "rms_norm_eps": 1e-05,
        "rope_theta": 100000, "rope_scaling": None, "tie_word_embeddings": True,
        "vocab_size": 49152, "bos_token_id": 1, "eos_token_id": 2},
    "llama31_v4": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256,
        "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 8,
        "num_key_value_heads": 2, "max_position_embeddings": 131072, "rms_norm_eps": 1e-05,
        "rope_theta": 500000.0, "tie_word_embeddings": False, "vocab_size": 1000,
        "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009]},
}


def configs():
    out = dict(V4)
    out["llama"] = made("LlamaConfig", num_key_value_heads=2)
    out["llama_yarn"] = made("LlamaConfig", num_key_value_heads=2, max_position_embeddings=4096,
                             rope_parameters={"rope_type": "yarn", "factor": 4.0,
                                              "original_max_position_embeddings": 1024,
                                              "rope_theta": 10000.0})
    out["mistral"] = made("MistralConfig", num_key_value_heads=2, sliding_window=128)
    out["qwen2"] = made("Qwen2Config", num_key_value_heads=2)
    out["qwen3"] = made("Qwen3Config", num_key_value_heads=2, head_dim=32)
    out["mixtral"] = made("MixtralConfig", num_key_value_heads=2, num_local_experts=4,
                          num_experts_per_tok=2)
    out["qwen2_moe"] = made("Qwen2MoeConfig", num_key_value_heads=2, num_experts=8,
                            num_experts_per_tok=2, moe_intermediate_size=32,
                            shared_expert_intermediate_size=64)
    out["qwen3_moe"] = made("Qwen3MoeConfig", num_key_value_heads=2, num_experts=8,
                            num_experts_per_tok=2, moe_intermediate_size=32, head_dim=16)
    out["gemma"] = made("GemmaConfig", num_key_value_heads=1, head_dim=16)
    out["gemma3"] = made("Gemma3TextConfig", num_key_value_heads=1, head_dim=16,
                         sliding_window=64)
    out["phi3"] = made("Phi3Config", num_key_value_heads=4, partial_rotary_factor=0.5)
    m = made("MambaConfig", state_size=8, conv_kernel=4, expand=2)
    out["mamba"] = m
    return out


def rope_of(c):
    rp = getattr(c, "rope_parameters", None) or {}
    if "full_attention" in rp:
        rp = rp["full_attention"]
    return rp


def expected(c):
    t = c.model_type
    e = {"model_type": t}
    if t == "mamba":
        e.update(n_layers=c.num_hidden_layers, dim=c.hidden_size, vocab_size=c.vocab_size,
                 ssm_d_state=c.state_size, ssm_d_conv=c.conv_kernel,
                 ssm_d_inner=c.intermediate_size, ssm_dt_rank=c.time_step_rank,
                 norm_eps=c.layer_norm_epsilon, tied=bool(c.tie_word_embeddings))
        return e
    heads = c.num_attention_heads
    hd = getattr(c, "head_dim", None) or c.hidden_size // heads
    rp = rope_of(c)
    partial = rp.get("partial_rotary_factor", getattr(c, "partial_rotary_factor", 1.0)) or 1.0
    e.update(n_layers=c.num_hidden_layers, dim=c.hidden_size, ffn_dim=c.intermediate_size,
             n_heads=heads, n_kv_heads=c.num_key_value_heads or heads, head_dim=hd,
             vocab_size=c.vocab_size, max_seq_len=c.max_position_embeddings,
             norm_eps=c.rms_norm_eps, tied=bool(c.tie_word_embeddings),
             rope_theta=float(rp.get("rope_theta", getattr(c, "rope_theta", 10000.0))),
             rope_dim=int(hd * partial),
             rope_type=rp.get("rope_type", "default"),
             rope_factor=float(rp.get("factor", 1.0) or 1.0),
             rope_orig_ctx=int(rp.get("original_max_position_embeddings", 0) or 0))
    for k, attr in [("n_experts", "num_local_experts"), ("n_experts", "num_experts"),
                    ("n_experts_used", "num_experts_per_tok"),
                    ("moe_ffn_dim", "moe_intermediate_size"),
                    ("shared_expert_ffn_dim", "shared_expert_intermediate_size")]:
        v = getattr(c, attr, None)
        if isinstance(v, int):
            e[k] = v
    sw = getattr(c, "sliding_window", None)
    if getattr(c, "use_sliding_window", True) is False:
        sw = None
    e["sliding_window"] = int(sw or 0)
    bos = c.bos_token_id
    eos = c.eos_token_id
    e["bos_token_id"] = -1 if bos is None else bos
    e["eos_token_id"] = -1 if eos is None else (eos[0] if isinstance(eos, list) else eos)
    return e


def main():
    for name, cfg in sorted(configs().items()):
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        p = os.path.join(d, "config.json")
        with open(p, "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
        c = AutoConfig.from_pretrained(d)
        with open(os.path.join(d, "expected.json"), "w") as f:
            json.dump(expected(c), f, indent=2, sort_keys=True)
            f.write("\n")
        print(name, c.model_type)
    print("transformers", transformers.__version__, file=sys.stderr)


if __name__ == "__main__":
    main()
