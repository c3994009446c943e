#!/usr/bin/env python3
"""gen_tiny_models.py OUTDIR — tiny random-weight models with transformers' reference logits.

For Llama (plain, and with Llama-3 RoPE scaling), Qwen2 (q/k/v biases, tied embeddings) and Qwen3
(q/k norms, head_dim != hidden/heads): builds the model with transformers in float32, fills every
parameter with random values large enough that the logits are far from uniform, saves it with
save_pretrained (config.json + model.safetensors), and writes the reference:
  prompt.json   {"ids": [...]}            a fixed token sequence
  logits.f32    float32 (len(ids), vocab) transformers' logits for that sequence, little-endian
Needs torch + transformers (the device machine has both):
  python tools/gen_tiny_models.py tests/data/tiny
tests/test_model.c checks our forward pass against these logits.
"""
import json
import os
import sys

import torch
import transformers
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config, Qwen3Config

COMMON = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
              bos_token_id=1, eos_token_id=2)

SPECS = {
    "llama": LlamaConfig(**COMMON, rms_norm_eps=1e-5, rope_theta=10000.0,
                         tie_word_embeddings=False),
    "llama3rope": LlamaConfig(**COMMON, rms_norm_eps=1e-5, rope_theta=500000.0,
                              tie_word_embeddings=False,
                              rope_scaling={"rope_type": "llama3", "factor": 8.0,
                                            "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                            "original_max_position_embeddings": 64}),
    "qwen2": Qwen2Config(**COMMON, rms_norm_eps=1e-6, rope_theta=1000000.0,
                         tie_word_embeddings=True),
    "qwen3": Qwen3Config(**COMMON, head_dim=32, rms_norm_eps=1e-6, rope_theta=1000000.0,
                         tie_word_embeddings=True),
}

PROMPT = [1, 17, 200, 45, 3, 99, 128, 255, 7, 64, 64, 12, 180, 33, 2, 90, 150, 8, 5, 241,
          77, 19, 101, 6]


def main():
    out = sys.argv[1]
    for name, cfg in SPECS.items():
        torch.manual_seed(1234)
        model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.float32)
        model.eval()
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if "norm" in pname:
                    p.copy_(1.0 + 0.2 * torch.randn_like(p))
                elif pname.endswith("bias"):
                    p.copy_(0.2 * torch.randn_like(p))
                else:
                    p.copy_(0.15 * torch.randn_like(p))
        d = os.path.join(out, name)
        model.save_pretrained(d, safe_serialization=True)
        ids = torch.tensor([PROMPT])
        with torch.no_grad():
            logits = model(ids).logits[0].float().contiguous()
        with open(os.path.join(d, "prompt.json"), "w") as f:
            json.dump({"ids": PROMPT, "transformers": transformers.__version__,
                       "torch": torch.__version__}, f)
            f.write("\n")
        logits.numpy().astype("<f4").tofile(os.path.join(d, "logits.f32"))
        p = torch.softmax(logits, -1)
        print(name, "max prob per position:", [round(x, 3) for x in p.max(-1).values.tolist()[:8]])
        for junk in ("generation_config.json",):
            jp = os.path.join(d, junk)
            if os.path.exists(jp):
                os.remove(jp)


if __name__ == "__main__":
    main()
