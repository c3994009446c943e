#!/usr/bin/env python3
"""gen_tokenizer_goldens.py — writes the tokenizer goldens of tests/test_tokenizer.c.

Oracles: Hugging Face `tokenizers` (through transformers' own GGUF -> tokenizer conversion,
transformers.integrations.gguf.gguf_tokenizer_mapping.convert_gguf_tokenizer, fed by gguf-py so
that no torch is needed) and sentencepiece.

Outputs (tests/data/tokenizer/):
  sample.json            the varied text sample (unicode, CJK, emoji, code, numbers, whitespace
                         runs, tabs, CRLF, NEL, special-token text); every golden below uses it.
  gpt-neox.ids           ids per input of llama.cpp's vocab test inputs (../shared ... .inp) for
                         ggml-vocab-gpt-neox.gguf, which ships without a .out.
  llama-spm.json         sentencepiece (../shared/models/tokenizers/llama2/tokenizer.model, the
                         vocabulary of ggml-vocab-llama-spm.gguf) on the sample.
  smollm2/tokenizer.json, smollm2/tokenizer_config.json
                         SmolLM2-135M-Instruct's tokenizer built from its GGUF and saved by
                         transformers (what a HF model directory holds); smollm2.json: its ids.
  tok512/tokenizer.json, tok512/tokenizer_config.json
                         a 512-piece SentencePiece BPE with byte fallback (../shared/models/
                         stories260K-tokenizer/tok512.model) converted by transformers'
                         LlamaTokenizer; tok512.json: its ids (the tokenizer.json path without
                         byte-level: Metaspace / byte fallback / Strip decoder).
  synth-bytes/, synth-chars/ (tokenizer.json) + synth-*.json
                         two small tokenizers trained here whose pipelines cover the tokenizer.json
                         features the real vocabularies do not (see synthetic()); "ids_added" is
                         with add_special_tokens=True.
  smollm2-gguf.json, qwen2.5-coder-gguf.json
                         ids of the real models' GGUF tokenizers (~/.cache/jang/models, fetched by
                         scripts/fetch-models) on the sample.
  wiki.json              for ../shared/data/wikitext-2-raw/wiki.test.raw (1.3 MB): the number of
                         ids and an FNV-1a hash of them, per tokenizer (real models, smollm2
                         tokenizer.json, gpt-2, starcoder, gpt-neox, llama-spm).
Each ids file holds, per sample text, "ids" (special tokens parsed, as tokenizers does by default)
and "ids_plain" (encode_special_tokens=True: control-token text is ordinary text; user-defined
added tokens still match, as in llama.cpp with parse_special=false).

One deliberate fix-up: transformers maps tokenizer.ggml.pre "smollm" to plain ByteLevel, but
SmolLM2's own tokenizer.json (and llama.cpp) split digits one by one first:
Sequence[Digits(individual_digits=True), ByteLevel]. The script uses that, the model's real
pre-tokenizer.

Usage: python3 -m venv ~/.cache/jang/venv-tok
       ~/.cache/jang/venv-tok/bin/pip install tokenizers transformers gguf sentencepiece numpy protobuf
       ~/.cache/jang/venv-tok/bin/python tools/gen_tokenizer_goldens.py
Versions used: tokenizers 0.23.3, transformers 5.24.0, sentencepiece 0.2.3, gguf 0.19.0.
"""
import json
import os
import struct
import sys
import tempfile

from gguf import GGUFReader
from tokenizers import pre_tokenizers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "tokenizer")
SHARED = os.environ.get("JANG_SHARED", os.path.join(ROOT, "..", "shared"))
VOCAB = os.path.join(SHARED, "models", "tokenizers", "llama.cpp-vocab")
MODELS = os.environ.get("JANG_MODELS_DIR", os.path.expanduser("~/.cache/jang/models"))

SAMPLE = [
    "Hello world",
    " Hello World! How's it going? I'M fine, we'LL see; they'VE gone, it'S done.",
    "The year 1234567 and pi 3.14159, e=2.718281828; 1,000,000 + 42 = 1000042",
    "   leading spaces, trailing spaces   ",
    "tabs\tand\t\ttabs\n\nnewlines\n\n\n  indented\r\nwindows line\r\n",
    "multiple     spaces      between        words",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "int main(void) { printf(\"%d\\n\", x->y[3] >> 2); return 0; } // comment",
    "{\"key\": [1, 2.5, null, true], \"nested\": {\"a\": \"b\"}}",
    "https://example.com/path?query=1&x=%20 user@example.org",
    "日本語のテキストと漢字、中文句子。한국어 문장입니다.",
    "Привет, как дела? Ελληνικά κείμενα. עברית. العربية نص. हिन्दी पाठ। ภาษาไทย",
    "emoji: 🚀 🦙 😶‍🌫️ 👍🏽 🇫🇷 ❤️ ✅ 👨‍👩‍👧‍👦",
    "combining: e\u0301 vs \u00e9, A\u030a vs \u00c5, ﬁ ligature, ＦＵＬＬ width",
    "spaces: nbsp\u00a0here, ideographic\u3000there, NEL\u0085here, thin\u2009space, zwsp\u200bhere",
    "====================------------........!!!!!!??????''''''```````\"\"\"\"",
    "Ünïcödé ÀÉÎÕÜ àéîõü ß ẞ Ø ø Ł ł ŉ ǅ Ǆ ǆ İstanbul ıi",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>",
    "text<|endoftext|>more text <|endoftext|> end",
    "<s>[INST] hello [/INST]</s><unk> <tool_call>{}</tool_call>",
    "x" * 300 + " " + "ab" * 200,
    "\n",
    " ",
    "",
    "a\u00adb soft hyphen, \u2028 line sep, \u2029 para sep, \ufeff bom",
    "mixed 123abc456 abc123 1a2b3c 0x1F 1e-5 -7 +3 3rd 21st",
    "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D",
    "a <|sep|>  b<thing>c  <|sep|>d #tag x--y -- z <x> and<x>  http://a.b/c?d=1 #",
    "MIXED Case \u2019quoted\u2019 12345 and 99  \n  next\tline  \n\n",
]


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


def gguf_tokenizer(path):
    """tokenizers.Tokenizer from a GGUF, through transformers' converter."""
    from transformers.integrations.gguf.gguf_tokenizer_mapping import (
        GGUF_TOKENIZER_MAPPING, convert_gguf_tokenizer)
    r = GGUFReader(path)
    d = {}
    for key, name in GGUF_TOKENIZER_MAPPING["tokenizer"].items():
        if "tokenizer." + key in r.fields:
            d[name] = r.fields["tokenizer." + key].contents()
    arch = r.fields["general.architecture"].contents()
    tok, _ = convert_gguf_tokenizer(arch, d)
    if d.get("pre_tokenizer_type") in ("smollm", "starcoder"):
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    return tok, d


def save_dir(tk, d):
    """save_pretrained, keeping tokenizer.json (re-written compactly) and tokenizer_config.json."""
    with tempfile.TemporaryDirectory() as tmp:
        tk.save_pretrained(tmp)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(tmp, "tokenizer.json"), encoding="utf-8") as f:
            write_json(os.path.join(d, "tokenizer.json"), json.load(f))
        with open(os.path.join(tmp, "tokenizer_config.json"), encoding="utf-8") as f:
            cfg = json.load(f)
        tj = os.path.join(tmp, "chat_template.jinja")
        if os.path.exists(tj) and not cfg.get("chat_template"):
            cfg["chat_template"] = open(tj, encoding="utf-8").read()
        with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(cfg, f, ensure_ascii=False, indent=2)
            f.write("\n")


def bytelevel_tokenizer(path):
    """gpt-neox-20b's tokenizer rebuilt from its GGUF the way its tokenizer.json is made: BPE over
    the file's vocabulary (user-defined tokens like "  " keep their raw text), ByteLevel, control
    tokens added as special tokens and user-defined ones as plain added tokens. (transformers'
    converter respells "  " and then drops it, so it cannot be the oracle here.)"""
    from tokenizers import AddedToken, Tokenizer, decoders, models
    r = GGUFReader(path)
    tokens = r.fields["tokenizer.ggml.tokens"].contents()
    types = r.fields["tokenizer.ggml.token_type"].contents()
    merges = [tuple(m.split(" ", 1)) for m in r.fields["tokenizer.ggml.merges"].contents()]
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True)
                            for t, ty in zip(tokens, types) if ty == 3])
    tok.add_tokens([AddedToken(t, normalized=False, special=False)
                    for t, ty in zip(tokens, types) if ty == 4])
    assert tok.get_vocab_size() == len(tokens)
    return tok


def ids_both(tok, texts):
    tok.encode_special_tokens = False
    a = [tok.encode(t, add_special_tokens=False).ids for t in texts]
    tok.encode_special_tokens = True
    b = [tok.encode(t, add_special_tokens=False).ids for t in texts]
    tok.encode_special_tokens = False
    return a, b


def goldens(tok, texts, path, note):
    a, b = ids_both(tok, texts)
    write_json(path, {"note": note, "ids": a, "ids_plain": b})
    print(f"{os.path.relpath(path, ROOT)}: {len(texts)} texts, {sum(map(len, a))} ids")


def read_inp(path):
    raw = open(path, "rb").read().decode("utf-8")
    sep = "\n__ggml_vocab_test__\n"
    out, pos = [], 0
    while pos < len(raw):
        nx = raw.find(sep, pos)
        if nx < 0:
            out.append(raw[pos:])
            break
        out.append(raw[pos:nx])
        pos = nx + len(sep)
    return out


def fnv1a64(ids):
    """FNV-1a 64 over the ids as little-endian int32 bytes (tests/test_tokenizer.c ids_hash)."""
    h = 0xcbf29ce484222325
    for b in struct.pack("<%di" % len(ids), *ids):
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def synthetic():
    """Two small tokenizers trained with `tokenizers` on the sample + 200 KB of WikiText-2, whose
    pipelines use the tokenizer.json features the real vocabularies above do not: normalizers
    (NFKC, NFD, Lowercase, Replace with a string and a regex, Strip), Split behaviors (isolated,
    merged_with_previous, merged_with_next, removed), Digits, Punctuation, ByteLevel with
    add_prefix_space, Metaspace (always, split), added tokens with lstrip / rstrip, unk with
    fuse_unk, TemplateProcessing and RobertaProcessing."""
    from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models, normalizers,
                            processors, trainers)
    wiki = open(os.path.join(SHARED, "data", "wikitext-2-raw", "wiki.test.raw"), "rb").read()
    corpus = SAMPLE + wiki[:200000].decode("utf-8", "ignore").split("\n")

    tk = Tokenizer(models.BPE())
    tk.normalizer = normalizers.Sequence([
        normalizers.NFKC(), normalizers.Replace("\u2019", "'"), normalizers.Lowercase(),
        normalizers.Strip(left=False, right=True)])
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"https?://[^\s]+"), behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=False),
        pre_tokenizers.Split(Regex(r"-+"), behavior="merged_with_previous"),
        pre_tokenizers.Split("#", behavior="merged_with_next"),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)])
    tk.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=700, special_tokens=["<|pad|>", "<|bos|>", "<|eos|>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                             show_progress=False)
    tk.train_from_iterator(corpus, tr)
    tk.post_processor = processors.TemplateProcessing(
        single="<|bos|> $A <|eos|>", special_tokens=[("<|bos|>", 1), ("<|eos|>", 2)])
    tk.add_special_tokens([AddedToken("<|sep|>", lstrip=True, rstrip=True, normalized=False)])
    tk.add_tokens([AddedToken("<thing>", normalized=False)])
    yield "synth-bytes", tk

    tk = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True))
    tk.normalizer = normalizers.Sequence([
        normalizers.NFD(), normalizers.Replace(Regex(r"[0-9]{4,}"), "#")])
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Punctuation(),
        pre_tokenizers.Split(Regex(r"\s*\n\s*"), behavior="removed"),
        pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)])
    tk.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tr = trainers.BpeTrainer(vocab_size=400, special_tokens=["<unk>", "<s>", "</s>"],
                             limit_alphabet=70, show_progress=False)
    tk.train_from_iterator(corpus, tr)
    tk.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 1))
    tk.add_tokens([AddedToken(" <x>", normalized=False)])
    yield "synth-chars", tk


def main():
    os.makedirs(OUT, exist_ok=True)
    write_json(os.path.join(OUT, "sample.json"), SAMPLE)

    # llama.cpp's vocab vectors: check the oracle against the .out files that exist, then write
    # the missing gpt-neox one
    inputs = read_inp(os.path.join(VOCAB, "ggml-vocab-gpt-2.gguf.inp"))
    for name in ["gpt-2", "starcoder", "deepseek-coder", "llama-spm", "phi-3", "gpt-neox"]:
        if name == "gpt-neox":
            tok = bytelevel_tokenizer(os.path.join(VOCAB, f"ggml-vocab-{name}.gguf"))
        else:
            tok, d = gguf_tokenizer(os.path.join(VOCAB, f"ggml-vocab-{name}.gguf"))
        tok.encode_special_tokens = True  # llama.cpp's test: parse_special = false
        got = [tok.encode(t, add_special_tokens=False).ids for t in inputs]
        outp = os.path.join(VOCAB, f"ggml-vocab-{name}.gguf.out")
        if os.path.exists(outp):
            want = [list(map(int, l.split())) for l in open(outp).read().split("\n")[:len(inputs)]]
            same = sum(g == w for g, w in zip(got, want))
            print(f"oracle check {name}: transformers' GGUF tokenizer agrees with llama.cpp's "
                  f".out on {same}/{len(inputs)} inputs")
            if name == "gpt-2":  # the gpt-neox construction, checked where a .out exists
                b = bytelevel_tokenizer(os.path.join(VOCAB, "ggml-vocab-gpt-2.gguf"))
                b.encode_special_tokens = True
                got = [b.encode(t, add_special_tokens=False).ids for t in inputs]
                same = sum(g == w for g, w in zip(got, want))
                print(f"oracle check gpt-2 (gpt-neox construction): {same}/{len(inputs)}")
        else:
            with open(os.path.join(OUT, f"{name}.ids"), "w") as f:
                for ids in got:
                    f.write(" " + " ".join(map(str, ids)) + "\n")
            print(f"tests/data/tokenizer/{name}.ids: {len(got)} inputs")

    # Llama-2 SentencePiece (the vocabulary of ggml-vocab-llama-spm.gguf)
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=os.path.join(SHARED, "models", "tokenizers",
                                                            "llama2", "tokenizer.model"))
    write_json(os.path.join(OUT, "llama-spm.json"),
               {"note": "sentencepiece %s, llama2/tokenizer.model, no BOS" % spm.__version__,
                "ids": [sp.encode(t) for t in SAMPLE]})
    print("tests/data/tokenizer/llama-spm.json")

    # tok512: a tiny SentencePiece BPE with byte fallback, as a tokenizer.json
    import shutil
    from transformers import LlamaTokenizer
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(os.path.join(SHARED, "models", "stories260K-tokenizer", "tok512.model"),
                    os.path.join(tmp, "tokenizer.model"))
        tk = LlamaTokenizer.from_pretrained(tmp)
    d512 = os.path.join(OUT, "tok512")
    save_dir(tk, d512)
    from tokenizers import Tokenizer
    t512 = Tokenizer.from_file(os.path.join(d512, "tokenizer.json"))
    goldens(t512, SAMPLE, os.path.join(OUT, "tok512.json"),
            "tokenizers on tok512/tokenizer.json (transformers LlamaTokenizer of tok512.model)")

    for name, tk in synthetic():
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            tk.save(os.path.join(tmp, "t.json"))
            with open(os.path.join(tmp, "t.json"), encoding="utf-8") as f:
                write_json(os.path.join(d, "tokenizer.json"), json.load(f))
        tk = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        tk.encode_special_tokens = False
        with_special = [tk.encode(t, add_special_tokens=True).ids for t in SAMPLE]
        goldens(tk, SAMPLE, os.path.join(OUT, f"{name}.json"), f"tokenizers on {name}/tokenizer.json")
        g = json.load(open(os.path.join(OUT, f"{name}.json")))
        g["ids_added"] = with_special
        write_json(os.path.join(OUT, f"{name}.json"), g)

    # the real models
    smol = os.path.join(MODELS, "smollm2-135m-instruct-q4_1.gguf")
    qwen = os.path.join(MODELS, "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
    if not os.path.exists(smol) or not os.path.exists(qwen):
        sys.exit("real models missing: run scripts/fetch-models")
    tok, d = gguf_tokenizer(smol)
    goldens(tok, SAMPLE, os.path.join(OUT, "smollm2-gguf.json"),
            "transformers' GGUF tokenizer of smollm2-135m-instruct-q4_1.gguf (+ Digits fix-up)")
    # SmolLM2's tokenizer.json, as a HF model directory holds it
    from transformers import PreTrainedTokenizerFast
    tmpl = GGUFReader(smol).fields["tokenizer.chat_template"].contents()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>",
                                   eos_token="<|im_end|>", unk_token="<|endoftext|>",
                                   pad_token="<|im_end|>", add_bos_token=False,
                                   chat_template=tmpl)
    dsm = os.path.join(OUT, "smollm2")
    save_dir(fast, dsm)
    t2 = Tokenizer.from_file(os.path.join(dsm, "tokenizer.json"))
    goldens(t2, SAMPLE, os.path.join(OUT, "smollm2.json"), "tokenizers on smollm2/tokenizer.json")
    size = os.path.getsize(os.path.join(dsm, "tokenizer.json"))
    print(f"smollm2/tokenizer.json: {size} bytes")

    tok, d = gguf_tokenizer(qwen)
    goldens(tok, SAMPLE, os.path.join(OUT, "qwen2.5-coder-gguf.json"),
            "transformers' GGUF tokenizer of qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")

    # the whole of WikiText-2 test (1.3 MB, CRLF): token count and a hash of the ids
    wiki = open(os.path.join(SHARED, "data", "wikitext-2-raw", "wiki.test.raw"), "rb").read()
    wiki = wiki.decode("utf-8")
    res = {"note": "wiki.test.raw: number of ids and FNV-1a 64 of the ids (int32 LE), "
                   "no special tokens added or parsed"}
    oracles = {
        "smollm2-gguf": lambda: gguf_tokenizer(smol)[0],
        "qwen2.5-coder-gguf": lambda: tok,
        "smollm2-json": lambda: Tokenizer.from_file(os.path.join(dsm, "tokenizer.json")),
        "gpt-2": lambda: gguf_tokenizer(os.path.join(VOCAB, "ggml-vocab-gpt-2.gguf"))[0],
        "starcoder": lambda: gguf_tokenizer(os.path.join(VOCAB, "ggml-vocab-starcoder.gguf"))[0],
        "gpt-neox": lambda: bytelevel_tokenizer(os.path.join(VOCAB, "ggml-vocab-gpt-neox.gguf")),
    }
    for name, make in oracles.items():
        tk = make()
        tk.encode_special_tokens = True
        ids = tk.encode(wiki, add_special_tokens=False).ids
        res[name] = {"n": len(ids), "fnv": fnv1a64(ids)}
        print(f"wiki {name}: {len(ids)} ids")
    ids = sp.encode(wiki)
    res["llama-spm"] = {"n": len(ids), "fnv": fnv1a64(ids)}
    print(f"wiki llama-spm (sentencepiece): {len(ids)} ids")
    write_json(os.path.join(OUT, "wiki.json"), res)


if __name__ == "__main__":
    main()
