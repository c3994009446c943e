#!/usr/bin/env python3
"""check_tokenizer_export.py — the tokenizer.json `jang convert` writes for a GGUF source, checked
with Hugging Face's own libraries against our GGUF tokenizer (llama.cpp semantics).

For each GGUF given (default: the real models of scripts/fetch-models):
  1. build/tools/tokenizer-export writes tokenizer.json + tokenizer_config.json (the exact files
     `jang convert` puts in its output);
  2. texts: tests/data/tokenizer/sample.json plus every paragraph of the first 200 KB of
     WikiText-2 (../shared/data/wikitext-2-raw/wiki.test.raw, when present) line by line, with chat-format
     special tokens added to a few;
  3. ids from our runtime's GGUF tokenizer (tokenizer-export ids MODEL.gguf) against
     tokenizers.Tokenizer.from_file(tokenizer.json).encode(text) and transformers'
     AutoTokenizer.from_pretrained(OUTDIR) (which also reads tokenizer_config.json: its
     bos/eos/pad tokens and chat template must load);
  4. decode(encode(text)) == text through HF tokenizers.
Texts are NFC-normalised first: tokenizer.json carries Qwen2's NFC normalizer (as Qwen's own
files do), llama.cpp does not normalise; both agree on NFC text.
Exit status 0 when everything matches. Run: tools/check_tokenizer_export.py [MODEL.gguf ...]
(uses the tools venv: tools/setup-venv).
"""
import json
import os
import subprocess
import sys
import tempfile
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.environ.get("TOKENIZER_EXPORT", os.path.join(ROOT, "build", "tools", "tokenizer-export"))


def texts():
    with open(os.path.join(ROOT, "tests", "data", "tokenizer", "sample.json"), encoding="utf-8") as f:
        out = list(json.load(f))
    wiki = os.path.join(ROOT, "..", "shared", "data", "wikitext-2-raw", "wiki.test.raw")
    if os.path.exists(wiki):
        with open(wiki, encoding="utf-8") as f:
            raw = f.read(200_000)
        out += [p + "\n" for p in raw.split("\n") if p.strip()]
    out += ["<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n",
            "<|endoftext|>text after a special token", "<|im_start|>assistant\n"]
    return [unicodedata.normalize("NFC", t) for t in out]


def check(gguf):
    from tokenizers import Tokenizer
    import transformers

    name = os.path.basename(gguf)
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "tok")
        subprocess.run([TOOL, "export", gguf, out], check=True)
        tx = texts()
        tf = os.path.join(d, "texts.json")
        with open(tf, "w", encoding="utf-8") as f:
            json.dump(tx, f, ensure_ascii=False)
        ours = [json.loads(l) for l in subprocess.run([TOOL, "ids", gguf, tf], check=True,
                                                       capture_output=True, text=True).stdout.splitlines()]
        hf = Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
        auto = transformers.AutoTokenizer.from_pretrained(out)
        bad = bad_auto = bad_rt = n_ids = 0
        for t, ids in zip(tx, ours):
            h = hf.encode(t).ids
            a = auto(t)["input_ids"]
            n_ids += len(ids)
            if h != ids:
                bad += 1
                if bad <= 3:
                    print(f"  {name}: mismatch on {t[:60]!r}:\n    ours {ids[:20]}\n    hf   {h[:20]}")
            bad_auto += a != ids
            # decode(encode(t)) == t (special tokens kept)
            if hf.decode(h, skip_special_tokens=False) != t:
                bad_rt += 1
        ok = bad == 0 and bad_auto == 0 and bad_rt == 0 and len(ours) == len(tx)
        cfg = json.load(open(os.path.join(out, "tokenizer_config.json"), encoding="utf-8"))
        msgs = [{"role": "user", "content": "Hello"}]
        rendered = auto.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        print(f"{name}: {len(tx)} texts, {n_ids} ids: tokenizers mismatches {bad}, "
              f"AutoTokenizer mismatches {bad_auto}, round-trip failures {bad_rt}; "
              f"vocab {hf.get_vocab_size()}, bos {cfg.get('bos_token')!r}, eos {cfg.get('eos_token')!r}, "
              f"chat template renders {len(rendered)} chars -> {'OK' if ok else 'FAIL'}")
        return ok


def main():
    if not os.path.exists(TOOL):
        subprocess.run(["make", "-s", "-C", ROOT, "build/tools/tokenizer-export"], check=True)
    models = sys.argv[1:]
    if not models:
        cache = os.environ.get("JANG_MODELS_DIR", os.path.expanduser("~/.cache/jang/models"))
        models = [os.path.join(cache, m) for m in ("smollm2-135m-instruct-q4_1.gguf",
                                                   "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")]
    ok = all([check(m) for m in models])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
