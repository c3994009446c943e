#!/usr/bin/env python3
"""gen_alloc_goldens.py — writes tests/data/alloc/: what jang 2.5.x and mlx-lm decide for every
tensor of a set of models, the oracle of tests/test_alloc.c (src/quant/{tiers,profiles,allocate}.c).

Models: SmolLM2-135M and Qwen2.5-Coder-0.5B (tensor names/shapes read from the GGUFs in
~/.cache/jang/models, mapped to HF names with tests/data/gguf_names.tsv) and small Mixtral,
Qwen2-MoE, Qwen3-MoE (16, 160 and 256 experts), Gemma-3, Phi-3 and Mamba configs written by
transformers' config classes. Without torch the HF checkpoint names are produced by a small
generator per architecture (per-expert names, as hub checkpoints store them); each list is
cross-checked against mlx-lm: model.sanitize() of the list must give exactly the parameter names
and shapes of mlx-lm's model built from the same config.

JANG oracle: jang's own CLI (`jang convert SRC -p P [-b B]`, i.e. jang_tools.__main__.main) run
on a source directory whose safetensors reader, mx.quantize and final writer are stubbed: the
reader serves zero tensors of the listed shapes (keys sorted, as safetensors does), the quantize
stub records the (bits, group_size) jang asks for each tensor, the writer records which tensors
jang would write. Everything in between — architecture detection, skip rules, tiers, profile and
K-budget allocation, floors, group sizes, router/state passthrough, the dropped tensors — is
jang's code. Tiers come from jang_tools.allocate.classify_tensor.

mlx-lm oracle: mlx_lm.convert.convert() with its loader/saver stubbed (the model is mlx-lm's
class built from the config and sanitized from the list above), for the mixed_2_6/3_4/3_6/4_6
recipes and uniform --q-bits/--q-group-size; the decision of each tensor is read from the
quantized modules of the resulting model.

Output (per model directory <m>/): config.json, names.tsv (name, dtype, shape, shard file, in a
natural, unsorted order), meta.json (jang's architecture detection and the runs), and one
<run>.tsv per run: run-length-encoded rows `count action bits group tier keep-dtype` in names.tsv
order (action quant/keep/drop; bits/group 0 unless quant; tier and the stored dtype of kept
tensors for jang runs, "-" otherwise). Three synthetic jang-only models (Nemotron-H, Gemma-4 and
Qwen2-VL shaped name lists, see synthetic()) reach rules the real configs do not. Also
profiles.tsv (jang's -p parsing) and tiers.tsv (classify_tensor and the MoE floors on a list of
names from many architectures).

Run: ~/.cache/jang/venv-alloc/bin/python tools/gen_alloc_goldens.py [--only model,...]
(venv: pip install jang==2.5.50 "mlx[cpu]" mlx-lm numpy transformers gguf; no torch). About 10
minutes on 2 busy cores, most of it the two real models.
"""
import contextlib
import importlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

import gguf
import mlx.core as mx
import mlx_lm
import mlx_lm.utils as mlu
import transformers
from mlx.utils import tree_flatten

import jang_tools
import jang_tools.__main__ as jmain
import jang_tools.allocate as ja
import jang_tools.architectures as jarch
import jang_tools.convert as jc

mlc = importlib.import_module("mlx_lm.convert")  # (mlx_lm.convert is also a function)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "alloc"
MODELS_DIR = Path(os.environ.get("JANG_CACHE", Path.home() / ".cache" / "jang")) / "models"

FIXED = list(ja.JANG_PROFILES.keys())  # the 11 fixed profiles, jang's order
KPROF = list(ja.JANG_K_TARGETS.keys())  # JANG_2K..JANG_6K
RECIPES = list(mlc.QUANT_RECIPES)  # mixed_2_6, mixed_3_4, mixed_3_6, mixed_4_6

# ------------------------------------------------------------------------------------------------
# Configs (transformers' config classes, as gen_hf_configs.py makes them)


def made(cls_name, **kw):
    return json.loads(getattr(transformers, cls_name)(**kw).to_json_string())


def configs():
    c = {}
    c["mixtral"] = made("MixtralConfig", hidden_size=64, intermediate_size=128, num_hidden_layers=6,
                        num_attention_heads=4, num_key_value_heads=2, vocab_size=256,
                        num_local_experts=8, num_experts_per_tok=2, tie_word_embeddings=False)
    c["qwen2_moe"] = made("Qwen2MoeConfig", hidden_size=64, intermediate_size=128,
                          num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=2,
                          vocab_size=256, num_experts=8, num_experts_per_tok=2,
                          moe_intermediate_size=32, shared_expert_intermediate_size=64,
                          tie_word_embeddings=False)

    def qwen3_moe(n_exp, layers, hidden, moe_i, mlp_only, tie):
        d = made("Qwen3MoeConfig", hidden_size=hidden, intermediate_size=2 * hidden,
                 num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                 head_dim=32, vocab_size=256, num_experts=n_exp, num_experts_per_tok=2,
                 moe_intermediate_size=moe_i, mlp_only_layers=mlp_only, tie_word_embeddings=tie)
        # transformers 5 spells the expert count num_local_experts; hub checkpoints (and
        # mlx-lm's ModelArgs) use num_experts. Keep the hub spelling.
        d["num_experts"] = d.pop("num_local_experts", n_exp)
        d["rope_theta"] = d["rope_parameters"]["rope_theta"]  # v4 spelling, as on the hub
        return d

    c["qwen3_moe"] = qwen3_moe(16, 6, 64, 32, [0], False)
    c["qwen3_moe_160"] = qwen3_moe(160, 2, 128, 64, [], True)
    c["qwen3_moe_256"] = qwen3_moe(256, 2, 128, 64, [], False)
    c["gemma3"] = made("Gemma3TextConfig", hidden_size=64, intermediate_size=128,
                       num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=1,
                       head_dim=16, vocab_size=256, sliding_window=64)
    c["phi3"] = made("Phi3Config", hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                     num_attention_heads=4, num_key_value_heads=4, vocab_size=256,
                     tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    c["mamba"] = made("MambaConfig", hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                      vocab_size=256, state_size=8, conv_kernel=4, expand=2, time_step_rank=4)
    return c


# ------------------------------------------------------------------------------------------------
# HF checkpoint names per architecture (cross-checked against mlx-lm below)


def hf_names(cfg):
    """[(name, shape)] in the order a checkpoint would list them (not sorted)."""
    t = cfg["model_type"]
    V, H = cfg["vocab_size"], cfg["hidden_size"]
    out = []
    add = lambda n, *s: out.append((n, tuple(s)))
    if t == "mamba":
        I, N, K, R = cfg["intermediate_size"], cfg["state_size"], cfg["conv_kernel"], \
            cfg["time_step_rank"]
        add("backbone.embeddings.weight", V, H)
        for i in range(cfg["num_hidden_layers"]):
            p = f"backbone.layers.{i}."
            add(p + "norm.weight", H)
            add(p + "mixer.A_log", I, N)
            add(p + "mixer.D", I)
            add(p + "mixer.conv1d.weight", I, 1, K)
            if cfg["use_conv_bias"]:
                add(p + "mixer.conv1d.bias", I)
            add(p + "mixer.in_proj.weight", 2 * I, H)
            add(p + "mixer.x_proj.weight", R + 2 * N, I)
            add(p + "mixer.dt_proj.weight", I, R)
            add(p + "mixer.dt_proj.bias", I)
            add(p + "mixer.out_proj.weight", H, I)
        add("backbone.norm_f.weight", H)
        if not cfg.get("tie_word_embeddings", True):
            add("lm_head.weight", V, H)
        return out
    nh, nkv = cfg["num_attention_heads"], cfg.get("num_key_value_heads") or cfg["num_attention_heads"]
    hd = cfg.get("head_dim") or H // nh
    I = cfg["intermediate_size"]
    add("model.embed_tokens.weight", V, H)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        add(p + "input_layernorm.weight", H)
        if t == "phi3":
            add(p + "self_attn.qkv_proj.weight", (nh + 2 * nkv) * hd, H)
        else:
            add(p + "self_attn.q_proj.weight", nh * hd, H)
            add(p + "self_attn.k_proj.weight", nkv * hd, H)
            add(p + "self_attn.v_proj.weight", nkv * hd, H)
        if t in ("qwen2_moe",):
            add(p + "self_attn.q_proj.bias", nh * hd)
            add(p + "self_attn.k_proj.bias", nkv * hd)
            add(p + "self_attn.v_proj.bias", nkv * hd)
        add(p + "self_attn.o_proj.weight", H, nh * hd)
        if t in ("qwen3_moe", "gemma3_text"):
            add(p + "self_attn.q_norm.weight", hd)
            add(p + "self_attn.k_norm.weight", hd)
        add(p + "post_attention_layernorm.weight", H)
        if t == "gemma3_text":
            add(p + "pre_feedforward_layernorm.weight", H)
            add(p + "post_feedforward_layernorm.weight", H)
        if t == "phi3":
            add(p + "mlp.gate_up_proj.weight", 2 * I, H)
            add(p + "mlp.down_proj.weight", H, I)
        elif t == "mixtral":
            E = cfg["num_local_experts"]
            add(p + "block_sparse_moe.gate.weight", E, H)
            # experts grouped by projection (a checkpoint order too; it keeps the goldens'
            # run-length rows few)
            for w, shape in (("w1", (I, H)), ("w2", (H, I)), ("w3", (I, H))):
                for e in range(E):
                    add(p + f"block_sparse_moe.experts.{e}.{w}.weight", *shape)
        elif t in ("qwen2_moe", "qwen3_moe") and i not in cfg.get("mlp_only_layers", []):
            E, MI = cfg["num_experts"], cfg["moe_intermediate_size"]
            add(p + "mlp.gate.weight", E, H)
            for w, shape in (("gate_proj", (MI, H)), ("up_proj", (MI, H)), ("down_proj", (H, MI))):
                for e in range(E):
                    add(p + f"mlp.experts.{e}.{w}.weight", *shape)
            if t == "qwen2_moe":
                SI = cfg["shared_expert_intermediate_size"]
                add(p + "mlp.shared_expert.gate_proj.weight", SI, H)
                add(p + "mlp.shared_expert.up_proj.weight", SI, H)
                add(p + "mlp.shared_expert.down_proj.weight", H, SI)
                add(p + "mlp.shared_expert_gate.weight", 1, H)
        else:
            add(p + "mlp.gate_proj.weight", I, H)
            add(p + "mlp.up_proj.weight", I, H)
            add(p + "mlp.down_proj.weight", H, I)
    add("model.norm.weight", H)
    if not cfg.get("tie_word_embeddings", False):
        add("lm_head.weight", V, H)
    return out


def gguf_names(path, arch):
    """[(hf name, pytorch shape)] of a GGUF file in its own tensor order."""
    table = {}
    for line in open(ROOT / "tests" / "data" / "gguf_names.tsv"):
        if line.startswith("#"):
            continue
        a, g, h = line.rstrip("\n").split("\t")
        if a == arch:
            table[g] = h
    out = []
    for t in gguf.GGUFReader(str(path)).tensors:
        m = re.match(r"blk\.(\d+)\.(.*)$", t.name)
        if m:
            h = table[f"blk.0.{m.group(2)}"].replace("layers.0.", f"layers.{m.group(1)}.", 1)
        else:
            h = table[t.name]
        out.append((h, tuple(int(d) for d in reversed(t.shape.tolist()))))
    return out


# ------------------------------------------------------------------------------------------------
# mlx-lm: the model built from the config, sanitized from the HF list; cross-check


def mlx_build(cfg, names):
    model_cls, args_cls = mlu._get_classes(cfg)
    model = model_cls(args_cls.from_dict(cfg))
    w = {n: mx.zeros(s, dtype=mx.float16) for n, s in names}
    if hasattr(model, "sanitize"):
        w = model.sanitize(w)
    return model, w


def mlx_crosscheck(label, cfg, names):
    model, w = mlx_build(cfg, names)
    params = {k: tuple(v.shape) for k, v in tree_flatten(model.parameters())}
    got = {k: tuple(v.shape) for k, v in w.items()}
    if got != params:
        miss = sorted(set(params) - set(got))[:5]
        extra = sorted(set(got) - set(params))[:5]
        bad = sorted(k for k in set(got) & set(params) if got[k] != params[k])[:5]
        sys.exit(f"{label}: HF names disagree with mlx-lm: missing {miss} extra {extra} "
                 f"shape {[(k, got[k], params[k]) for k in bad]}")


PER_EXPERT = jc._PER_EXPERT_PATTERN  # jang's own HF -> MLX stacking rule


def mlx_param_of(name):
    m = PER_EXPERT.match(name)
    if m:
        return f"{m.group(1)}.switch_mlp.{jc._EXPERT_NAME_MAP.get(m.group(3), m.group(3))}.weight"
    return name


def run_mlx(cfg, names, recipe=None, bits=None, group=None):
    """Per tensor (action, bits, group) as mlx_lm.convert decides, or an error string."""
    model, w = mlx_build(cfg, names)
    params = {k for k, _ in tree_flatten(model.parameters())}
    saved = {}

    def fake_load(*a, **kw):
        return model, None, json.loads(json.dumps(cfg))

    def fake_save(mlx_path, hf_path, m, tok, config):
        saved["model"] = m

    old = mlc.load, mlc.save
    mlc.load, mlc.save = fake_load, fake_save
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            mlc.convert("src", mlx_path="/nonexistent/jang-alloc-goldens", quantize=True,
                        q_group_size=group, q_bits=bits, quant_predicate=recipe)
    except ValueError as e:
        return f"error: {e}"
    finally:
        mlc.load, mlc.save = old
    q = {}
    for path, mod in saved["model"].named_modules():
        if type(mod).__name__.startswith("Quantized"):
            # QuantizedSwitchLinear keeps group_size None when a recipe runs without
            # --q-group-size; mx.quantize then used its default: read it from the shapes.
            in_dim = mod.weight.shape[-1] * 32 // mod.bits
            q[path] = (int(mod.bits), in_dim // mod.scales.shape[-1])
            assert mod.group_size in (None, q[path][1]), (path, mod.group_size)
    rows = []
    for n, s in names:
        p = mlx_param_of(n)
        mod = p[: -len(".weight")] if p.endswith(".weight") else None
        if mod in q:
            rows.append(("quant",) + q[mod])
        elif p in params:
            rows.append(("keep", 0, 0))
        else:
            rows.append(("drop", 0, 0))
    return rows


# ------------------------------------------------------------------------------------------------
# jang: its CLI with the reader, mx.quantize and the writer stubbed


class FakeSlice:
    def __init__(self, shape):
        self.shape = shape

    def get_shape(self):
        return list(self.shape)


class FakeSafeOpen:
    registry = {}  # file path -> {name: (shape, dtype)}

    def __init__(self, path, framework="numpy", **kw):
        self.t = FakeSafeOpen.registry[str(path)]

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def keys(self):
        return sorted(self.t)  # safetensors lists keys sorted

    def get_slice(self, name):
        return FakeSlice(self.t[name][0])

    def get_tensor(self, name):
        if name not in self.t:
            raise KeyError(name)
        shape, dt = self.t[name]
        return np.zeros(shape, dtype=np.float32 if dt == "F32" else np.float16)


class Stop(Exception):
    pass


class Recorder:
    """Stands in for jang's ProgressEmitter: tick() names the tensor being converted."""
    current = None

    def __init__(self, *a, **kw):
        pass

    def tick(self, i, total, label=""):
        Recorder.current = label

    def __getattr__(self, k):
        return lambda *a, **kw: None


def run_jang(cfg, names, files, argv_extra, dtypes):
    """Runs `jang convert` on a stub source; returns (rows, jang_config, arch_config)."""
    tmp = Path(tempfile.mkdtemp(prefix="jang-alloc-"))
    src, dst = tmp / "src", tmp / "out"
    src.mkdir()
    (src / "config.json").write_text(json.dumps(cfg))
    FakeSafeOpen.registry = {}
    for (n, s), f, dt in zip(names, files, dtypes):
        FakeSafeOpen.registry.setdefault(str(src / f), {})[n] = (s, dt)
    for f in set(files):
        (src / f).touch()
    calls = {}  # tensor -> [(bits, group)]
    cap = {}

    def fake_quantize(w, group_size=64, bits=4, **kw):
        calls.setdefault(Recorder.current, []).append((int(bits), int(group_size)))
        r = w.shape[0]
        return (mx.zeros((r, 1), dtype=mx.uint32), mx.zeros((r, 1), dtype=mx.float16),
                mx.zeros((r, 1), dtype=mx.float16))

    def fake_writer(output_dir, tensors, model_config, jang_config, **kw):
        cap["tensors"] = {k: str(np.asarray(v).dtype) for k, v in tensors.items()}
        cap["jang_config"] = jang_config
        raise Stop()

    saved = (jc.safe_open, mx.quantize, jc.write_jang_v2_model, jmain.ProgressEmitter, sys.argv)
    jc.safe_open, mx.quantize, jc.write_jang_v2_model = FakeSafeOpen, fake_quantize, fake_writer
    jmain.ProgressEmitter = Recorder
    # jang keeps per-process state on convert_model between runs (expert count, shard map)
    for a in ("_n_experts_expected", "_shard_idx", "_shard_map"):
        if hasattr(jc.convert_model, a):
            delattr(jc.convert_model, a)
    sys.argv = ["jang", "convert", str(src), "-o", str(dst)] + argv_extra
    try:
        with contextlib.redirect_stdout(io.StringIO()) as out:
            jmain.main()
        raise RuntimeError("jang convert ended without writing")
    except Stop:
        pass
    except SystemExit as e:
        sys.stdout.write(out.getvalue())
        raise RuntimeError(f"jang convert exited {e.code}")
    finally:
        jc.safe_open, mx.quantize, jc.write_jang_v2_model, jmain.ProgressEmitter, sys.argv = saved
        shutil.rmtree(tmp)
    jcfg = cap["jang_config"]
    q = jcfg["quantization"]
    ne = jarch_info(cfg)["num_experts"]
    shared = jarch_info(cfg)["has_shared_mlp"]
    manifest = {v["source_tensor"]: (v["bits"], v["group_size"])
                for v in q["tensor_quantization_manifest"].values()}
    rows = []
    for n, s in names:
        tier = ja.classify_tensor(n, ne, shared).name
        c = calls.get(n)
        if c:
            # (one call per 100M-element chunk, all alike)
            assert len(set(c)) == 1 and (n not in manifest or manifest[n] == c[0]), \
                (n, c, manifest.get(n))
            rows.append(("quant", c[0][0], c[0][1], tier, "-"))
        elif jc._sanitize_output_tensor_name(n) in cap["tensors"]:
            dt = {"float16": "F16", "float32": "F32"}[cap["tensors"][jc._sanitize_output_tensor_name(n)]]
            rows.append(("keep", 0, 0, tier, dt))
        else:
            rows.append(("drop", 0, 0, tier, "-"))
    return rows, q


def jarch_info(cfg):
    with tempfile.TemporaryDirectory() as d:
        Path(d, "config.json").write_text(json.dumps(cfg))
        a = jarch.detect_architecture(d)
    return {"arch_type": a.arch_type.value, "num_experts": int(a.num_experts or 0),
            "has_moe_layers": bool(a.has_moe_layers), "has_shared_mlp": bool(a.has_shared_mlp),
            "has_ssm_layers": bool(a.has_ssm_layers),
            "skip_patterns": sorted(jarch.get_skip_tensors(a))}


# ------------------------------------------------------------------------------------------------
# Output


def rle(rows):
    out, prev, n = [], None, 0
    for r in rows:
        if r == prev:
            n += 1
            continue
        if prev is not None:
            out.append((n,) + prev)
        prev, n = r, 1
    if prev is not None:
        out.append((n,) + prev)
    return out


def write_run(d, run, header, rows):
    with open(d / f"{run}.tsv", "w") as f:
        f.write(f"# {header}\n")
        if isinstance(rows, str):
            f.write(rows + "\n")
            return
        for r in rle(rows):
            f.write("\t".join(str(x) for x in r) + "\n")


def synthetic():
    """jang-only models (no mlx-lm counterpart to check names against): families whose rules the
    real configs above do not reach. [(name, config, [(name, shape, dtype)])]."""
    out = []
    # Nemotron-H style: gate-less relu2 experts, SSM state, an F32 routing bias, a big conv1d.
    cfg = {"model_type": "nemotron_h", "architectures": ["NemotronHForCausalLM"],
           "hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
           "num_key_value_heads": 2, "n_routed_experts": 8, "num_experts_per_tok": 2,
           "mlp_hidden_act": "relu2", "tie_word_embeddings": False, "vocab_size": 256}
    t = [("backbone.embeddings.weight", (256, 64), "BF16")]
    for i, kind in enumerate(["mamba", "moe", "attn", "moe"]):
        p = f"backbone.layers.{i}."
        t.append((p + "norm.weight", (64,), "BF16"))
        if kind == "mamba":
            t += [(p + "mixer.in_proj.weight", (288, 64), "BF16"),
                  (p + "mixer.conv1d.weight", (26000, 1, 4), "BF16"),
                  (p + "mixer.conv1d.bias", (26000,), "BF16"), (p + "mixer.A_log", (8,), "F32"),
                  (p + "mixer.D", (8,), "F32"), (p + "mixer.dt_bias", (8,), "F32"),
                  (p + "mixer.norm.weight", (128,), "BF16"),
                  (p + "mixer.out_proj.weight", (64, 128), "BF16")]
        elif kind == "attn":
            t += [(p + "mixer.q_proj.weight", (64, 64), "BF16"),
                  (p + "mixer.k_proj.weight", (32, 64), "BF16"),
                  (p + "mixer.v_proj.weight", (32, 64), "BF16"),
                  (p + "mixer.o_proj.weight", (64, 64), "BF16")]
        else:
            t += [(p + "mixer.gate.weight", (8, 64), "BF16"),
                  (p + "mixer.gate.e_score_correction_bias", (8,), "F32")]
            for e in range(8):
                t += [(p + f"mixer.experts.{e}.up_proj.weight", (128, 64), "BF16"),
                      (p + f"mixer.experts.{e}.down_proj.weight", (64, 128), "BF16")]
            t += [(p + "mixer.shared_experts.up_proj.weight", (128, 64), "BF16"),
                  (p + "mixer.shared_experts.down_proj.weight", (64, 128), "BF16")]
    t += [("backbone.norm_f.weight", (64,), "BF16"), ("lm_head.weight", (256, 64), "BF16")]
    out.append(("nemotron_h_synth", cfg, t))
    # Gemma-4 style: a shared dense MLP beside stacked 3-D experts, router.proj, layer_scalar,
    # a tied config that still ships lm_head.
    cfg = {"model_type": "gemma4_text", "architectures": ["Gemma4ForCausalLM"],
           "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
           "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "num_experts": 8,
           "top_k_experts": 2, "moe_intermediate_size": 128, "enable_moe_block": True,
           "tie_word_embeddings": True, "vocab_size": 256}
    t = [("model.embed_tokens.weight", (256, 64), "BF16")]
    for i in range(4):
        p = f"model.layers.{i}."
        t += [(p + "input_layernorm.weight", (64,), "BF16"),
              (p + "self_attn.q_proj.weight", (64, 64), "BF16"),
              (p + "self_attn.k_proj.weight", (32, 64), "BF16"),
              (p + "self_attn.v_proj.weight", (32, 64), "BF16"),
              (p + "self_attn.o_proj.weight", (64, 64), "BF16"),
              (p + "self_attn.q_norm.weight", (16,), "BF16"),
              (p + "self_attn.k_norm.weight", (16,), "BF16"),
              (p + "mlp.gate_proj.weight", (128, 64), "BF16"),
              (p + "mlp.up_proj.weight", (128, 64), "BF16"),
              (p + "mlp.down_proj.weight", (64, 128), "BF16"),
              (p + "router.proj.weight", (8, 64), "BF16"), (p + "router.scale", (64,), "BF16"),
              (p + "experts.gate_up_proj", (8, 256, 64), "BF16"),
              (p + "experts.down_proj", (8, 64, 128), "BF16"),
              (p + "layer_scalar", (1,), "BF16")]
    t += [("model.norm.weight", (64,), "BF16"), ("lm_head.weight", (256, 64), "BF16")]
    out.append(("gemma4_synth", cfg, t))
    # Qwen2-VL style: vision tower tensors, a patch embedding outside it, a 0-D scalar.
    cfg = {"model_type": "qwen2_vl", "architectures": ["Qwen2VLForConditionalGeneration"],
           "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
           "num_attention_heads": 4, "num_key_value_heads": 2, "tie_word_embeddings": False,
           "vocab_size": 256, "vision_config": {"depth": 1, "embed_dim": 32}}
    t = [("model.embed_tokens.weight", (256, 64), "BF16"),
         ("model.visual.patch_embed.proj.weight", (32, 3, 2, 14, 14), "BF16"),
         ("model.visual.blocks.0.attn.qkv.weight", (96, 32), "BF16"),
         ("model.visual.blocks.0.attn.qkv.bias", (96,), "BF16"),
         ("model.visual.merger.mlp.0.weight", (128, 128), "BF16"),
         ("model.patch_embed.proj.weight", (64, 588), "BF16"),
         ("model.logit_scale", (), "F32")]
    for i in range(4):
        p = f"model.layers.{i}."
        t += [(p + "input_layernorm.weight", (64,), "BF16"),
              (p + "self_attn.q_proj.weight", (64, 64), "BF16"),
              (p + "self_attn.k_proj.weight", (32, 64), "BF16"),
              (p + "self_attn.v_proj.weight", (32, 64), "BF16"),
              (p + "self_attn.o_proj.weight", (64, 64), "BF16"),
              (p + "mlp.gate_proj.weight", (128, 64), "BF16"),
              (p + "mlp.up_proj.weight", (128, 64), "BF16"),
              (p + "mlp.down_proj.weight", (64, 128), "BF16")]
    t += [("model.norm.weight", (64,), "BF16"), ("lm_head.weight", (256, 64), "BF16")]
    out.append(("qwen2_vl_synth", cfg, t))
    return out


def model_list():
    """[(name, config, [(name, shape)], [dtype], [shard file], checked by mlx-lm)]"""
    cfgs = configs()
    models = []
    for name, gg, arch, cfgname in (("smollm2", "smollm2-135m-instruct-q4_1.gguf", "llama",
                                     "smollm2_v4"),
                                    ("qwen25", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                                     "qwen2", "qwen25_v4")):
        cfg = json.load(open(ROOT / "tests" / "data" / "configs" / cfgname / "config.json"))
        names = gguf_names(MODELS_DIR / gg, arch)
        models.append((name, cfg, names, ["F32"] * len(names), ["model.safetensors"] * len(names),
                       True))
    for name, cfg in cfgs.items():
        names = hf_names(cfg)
        files = ["model.safetensors"] * len(names)
        if name == "qwen3_moe_256":  # two shards: ordering is by shard file, then name
            files = ["model-00001-of-00002.safetensors" if ".layers.0." in n or
                     n.startswith("lm_head") else
                     "model-00002-of-00002.safetensors" for n, _ in names]
        models.append((name, cfg, names, ["BF16"] * len(names), files, True))
    for name, cfg, t in synthetic():
        models.append((name, cfg, [(n, s) for n, s, _ in t], [d for _, _, d in t],
                       ["model.safetensors"] * len(t), False))
    return models


# Extra jang runs: label -> (argv, config overrides)
JANG_EXTRA = {
    "qwen3_moe_160": {"JANG_4K.b32": (["-p", "JANG_4K", "-b", "32"], {}),
                      "JANG_2S.b64": (["-p", "JANG_2S", "-b", "64"], {}),
                      "JANG_4K.qknope96": (["-p", "JANG_4K"], {"qk_nope_head_dim": 96})},
    "smollm2": {"JANG_3M.b128": (["-p", "JANG_3M", "-b", "128"], {}),
                "p1": (["-p", "1"], {}), "p4": (["-p", "4"], {}), "p7": (["-p", "7"], {})},
    "qwen3_moe_256": {"JANG_2S.tied": (["-p", "JANG_2S"], {"tie_word_embeddings": True}),
                      "JANG_2S.noasym": (["-p", "JANG_2S", "--no-mlp-asymmetry-floor"], {}),
                      "JANG_3K.noasym": (["-p", "JANG_3K", "--no-mlp-asymmetry-floor"], {})},
}
MLX_RUNS = [(r, r, None) for r in RECIPES] + [("mixed_3_6.g128", "mixed_3_6", 128)]
UNIFORM = [(4, 64), (3, 32), (8, 128), (2, 64)]


# -p arguments for profiles.tsv (ASCII only: jang's str.isdigit()/int() also take other Unicode
# digits, which we do not)
PROFILE_ARGS = [str(i) for i in range(0, 13)] + [
    "007", "99999999999999999999", "JANG_4K", "jang_2s", "Jang_6m", "jang_3K", "JANG_1L", "JANG_5M",
    "JANG_7K", "4K", "4k", "2.5", "-1", "+2", " 2", "JANG_4K ", "", "JANG-4K", "JANG_", "K"]


def profiles_table():
    """jang's CLI parsing of -p (and -b): its cmd_convert with convert_model stubbed."""
    rows = []
    for arg in PROFILE_ARGS:
        got = {}

        def fake_convert(**kw):
            got.update(kw)
            raise Stop()

        saved = jc.convert_model, sys.argv, jmain.ProgressEmitter
        jc.convert_model, jmain.ProgressEmitter = fake_convert, Recorder
        sys.argv = ["jang", "convert", "/nonexistent", "-o", "/nonexistent-out", "-p", arg]
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                jmain.main()
        except Stop:
            rows.append((arg, got["profile"], repr(float(got["target_bits"])),
                         str(got["block_size"])))
        except SystemExit:
            rows.append((arg, "error", "-", "-"))
        finally:
            jc.convert_model, sys.argv, jmain.ProgressEmitter = saved
    with open(OUT / "profiles.tsv", "w") as f:
        f.write(f"# jang {jang_tools.__version__}: jang convert -p ARG -> profile, target_bits, "
                "block_size (tools/gen_alloc_goldens.py)\n")
        f.write("# fixed: " + " ".join(f"{k}={'/'.join(map(str, v))}"
                                        for k, v in ja.JANG_PROFILES.items()) + "\n")
        f.write("# k: " + " ".join(f"{k}={v}" for k, v in ja.JANG_K_TARGETS.items()) + "\n")
        for r in rows:
            f.write("\t".join(["[" + r[0] + "]"] + list(r[1:])) + "\n")


# Names for tiers.tsv: one or more per TIER_RULES pattern and special case, from many families.
TIER_NAMES = [
    "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight",
    "model.norm.weight", "transformer.h.0.ln_1.weight", "model.layers.0.RMSNorm.weight",
    "model.layers.0.self_attn.q_norm.weight", "backbone.norm_f.weight", "lm_head.weight",
    "language_model.lm_head.weight", "model.layers.3.self_attn.kv_a_proj_with_mqa.weight",
    "model.layers.3.self_attn.kv_b_proj.weight", "model.layers.3.self_attn.q_a_proj.weight",
    "model.layers.3.self_attn.q_b_proj.weight", "model.layers.3.self_attn.indexer.wk.weight",
    "model.layers.3.self_attn.indexer.wq_b.weight",
    "model.layers.3.self_attn.indexer.weights_proj.weight", "model.layers.3.indexers_proj.weight",
    "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
    "model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.o_proj.weight",
    "model.layers.0.self_attn.q_proj.bias", "model.layers.0.self_attn.qkv_proj.weight",
    "model.layers.0.self_attn.out_proj.weight", "model.layers.0.self_attn.g_proj.weight",
    "backbone.layers.0.mixer.A_log", "backbone.layers.0.mixer.D", "backbone.layers.0.mixer.dt_bias",
    "backbone.layers.0.mixer.dt_proj.weight", "backbone.layers.0.mixer.in_proj.weight",
    "backbone.layers.0.mixer.out_proj.weight", "backbone.layers.0.mixer.x_proj.weight",
    "backbone.layers.0.mixer.conv1d.weight", "backbone.embeddings.weight",
    "model.layers.0.conv.in_proj.weight", "model.layers.0.conv.out_proj.weight",
    "model.layers.0.conv.conv.weight", "model.layers.1.mlp.shared_expert_gate.weight",
    "model.layers.1.mlp.shared_expert.gate_proj.weight",
    "model.layers.1.mlp.shared_expert.down_proj.weight",
    "model.layers.1.mlp.shared_experts.up_proj.weight", "model.embed_tokens.weight",
    "transformer.wte.weight", "word_embeddings.weight", "model.visual.merger.mlp.0.weight",
    "model.multi_modal_projector.linear_1.weight", "model.visual.patch_embed.proj.weight",
    "model.vision_tower.pos_embed.weight", "model.layers.2.mixer.fc1_latent_proj.weight",
    "model.layers.2.router.proj.weight", "model.layers.2.feed_forward.router.weight",
    "model.layers.2.block_sparse_moe.gate.weight", "model.layers.2.mlp.gate.weight",
    "model.layers.2.mlp.gate", "model.layers.2.moe.router", "model.layers.2.mlp.experts.gate_up_proj",
    "model.layers.2.mlp.experts.down_proj", "model.layers.2.mlp.experts.7.gate_proj.weight",
    "model.layers.2.mlp.experts.7.up_proj.weight", "model.layers.2.mlp.experts.7.down_proj.weight",
    "model.layers.2.mlp.gate_proj.weight", "model.layers.2.mlp.up_proj.weight",
    "model.layers.2.mlp.down_proj.weight", "model.layers.2.mlp.gate_up_proj.weight",
    "model.layers.2.mlp.fc1.weight", "model.layers.2.mlp.fc2.weight",
    "model.layers.2.block_sparse_moe.experts.3.w1.weight",
    "model.layers.2.block_sparse_moe.experts.3.w2.weight",
    "model.layers.2.block_sparse_moe.experts.3.w3.weight",
    "model.layers.2.feed_forward.w1.weight", "model.layers.2.feed_forward.w2.weight",
    "model.layers.2.feed_forward.w3.weight", "model.layers.2.feed_forward.experts.w1.weight",
    "encoder.block.0.layer.1.DenseReluDense.wi_0.weight",
    "encoder.block.0.layer.1.DenseReluDense.wi_1.weight",
    "encoder.block.0.layer.1.DenseReluDense.wo.weight",
    "model.layers.0.linear_attn.in_proj_qkv.weight", "model.layers.0.linear_attn.in_proj_z.weight",
    "model.layers.0.linear_attn.in_proj_a.weight", "model.layers.0.linear_attn.in_proj_b.weight",
    "model.layers.0.linear_attn.out_proj.weight", "model.layers.0.delta_net.q.weight",
    "model.visual.blocks.0.mlp.linear_fc1.weight", "model.visual.blocks.0.mlp.linear_fc2.weight",
    "model.visual.blocks.0.attn.proj.weight", "model.visual.blocks.0.attn.qkv.weight",
    "model.layers.0.attention.wqkv.weight", "transformer.h.0.attn.c_proj.weight",
    "transformer.h.0.mlp.c_fc.weight", "model.layers.0.something.weight", "Model.Layers.0.Self_Attn.Q_Proj.Weight",
    "x.D", "x.d", "model.layers.0.mlp.experts.0.w1.weight", "model.layers.0.mlp.switch_mlp.gate_proj.weight",
    "model.layers.0.experts.w2.weight", "model.layers.0.mlp.shared_expert.w1.weight", "gate", ".gate",
    "model.gate.x", "model.router", "a.router.b", "model.layers.0.mlp.experts.0.fc1.weight", "",
]


def tiers_table():
    with open(OUT / "tiers.tsv", "w") as f:
        f.write(f"# jang {jang_tools.__version__}: name, num_experts, has_shared_mlp -> "
                "classify_tensor, _apply_mlp_asymmetry_floor(2 bits), the same with base_bits=4, "
                "_is_any_routed_expert_mlp, _apply_relu2_asymmetry_floor(2 bits, on) "
                "(tools/gen_alloc_goldens.py)\n")
        for n in TIER_NAMES:
            for ne in (0, 8, 256):
                for shared in (False, True):
                    f.write("\t".join(["[" + n + "]", str(ne), str(int(shared)),
                                       ja.classify_tensor(n, ne, shared).name,
                                       str(ja._apply_mlp_asymmetry_floor(n, 2, ne)),
                                       str(ja._apply_mlp_asymmetry_floor(n, 2, ne, base_bits=4)),
                                       str(int(ja._is_any_routed_expert_mlp(n))),
                                       str(ja._apply_relu2_asymmetry_floor(n, 2, True))]) + "\n")


def main():
    """No argument: regenerate everything. --tables-only: profiles.tsv and tiers.tsv.
    --only a,b: the tables and the models a and b."""
    only = None
    if len(sys.argv) > 2 and sys.argv[1] == "--only":
        only = set(sys.argv[2].split(","))
    elif OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True, exist_ok=True)
    profiles_table()
    tiers_table()
    if len(sys.argv) > 1 and sys.argv[1] == "--tables-only":
        return
    for name, cfg, names, dtypes, files, with_mlx in model_list():
        if only is not None and name not in only:
            continue
        d = OUT / name
        if d.exists():
            shutil.rmtree(d)
        d.mkdir()
        if with_mlx:
            mlx_crosscheck(name, cfg, names)
        with open(d / "config.json", "w") as f:
            json.dump(cfg, f, indent=1, sort_keys=True)
            f.write("\n")
        with open(d / "names.tsv", "w") as f:
            f.write("# name\tdtype\tshape\tshard file (tools/gen_alloc_goldens.py)\n")
            for (n, s), fl, dt in zip(names, files, dtypes):
                f.write(f"{n}\t{dt}\t{','.join(map(str, s))}\t{fl}\n")
        meta = {"jang": jarch_info(cfg), "jang_version": jang_tools.__version__,
                "mlx_lm_version": mlx_lm.__version__, "runs": {}}
        runs = [(p, ["-p", p], {}) for p in FIXED + KPROF]
        runs += [(k, v[0], v[1]) for k, v in JANG_EXTRA.get(name, {}).items()]
        for label, argv, over in runs:
            c = dict(cfg)
            c.update(over)
            rows, q = run_jang(c, names, files, argv, dtypes)
            meta["runs"][label] = {"kind": "jang", "argv": argv, "config": over,
                                   "profile": q["profile"], "block_size": q["block_size"],
                                   "actual_bits": q["actual_bits"]}
            write_run(d, label, f"jang {jang_tools.__version__}: jang convert {' '.join(argv)} "
                      f"(profile {q['profile']}, block_size {q['block_size']}, actual_bits "
                      f"{q['actual_bits']})", rows)
            print(name, label, q["profile"], q["block_size"], q["actual_bits"], flush=True)
        for label, recipe, group in MLX_RUNS if with_mlx else []:
            rows = run_mlx(cfg, names, recipe=recipe, group=group)
            meta["runs"][label] = {"kind": "mlx", "recipe": recipe, "group": group or 0}
            write_run(d, label, f"mlx-lm {mlx_lm.__version__}: convert --quant-predicate {recipe}"
                      f" --q-group-size {group}", [r + ("-", "-") for r in rows]
                      if not isinstance(rows, str) else rows)
            print(name, label, "error" if isinstance(rows, str) else "ok", flush=True)
        for bits, group in UNIFORM if with_mlx else []:
            label = f"uniform.b{bits}g{group}"
            rows = run_mlx(cfg, names, bits=bits, group=group)
            meta["runs"][label] = {"kind": "mlx", "bits": bits, "group": group}
            write_run(d, label, f"mlx-lm {mlx_lm.__version__}: convert -q --q-bits {bits} "
                      f"--q-group-size {group}", [r + ("-", "-") for r in rows])
            print(name, label, flush=True)
        with open(d / "meta.json", "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main()
