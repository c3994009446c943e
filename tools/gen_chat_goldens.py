#!/usr/bin/env python3
"""gen_chat_goldens.py — chat prompt goldens rendered by transformers from the real templates.

For each real model GGUF (scripts/fetch-models), takes its tokenizer.chat_template, renders
one user turn (with and without a system message, add_generation_prompt=True) with
transformers' own chat-template renderer, and writes tests/data/chat/<model>.template (the
Jinja source) and <model>.json ({"user", "system", "plain", "with_system"}).
Run: ~/.cache/jang/venv/bin/python tools/gen_chat_goldens.py ~/.cache/jang/models/*.gguf
"""
import json
import os
import sys

import gguf
from transformers.utils.chat_template_utils import render_jinja_template

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "chat")
USER = "Hello! Who are you?\nAnswer in one line."
SYSTEM = "You are terse."


def render(tpl, msgs):
    out, _ = render_jinja_template(conversations=[msgs], chat_template=tpl,
                                   add_generation_prompt=True)
    return out[0]


def main():
    os.makedirs(OUT, exist_ok=True)
    for path in sys.argv[1:]:
        r = gguf.GGUFReader(path)
        f = r.fields["tokenizer.chat_template"]
        tpl = bytes(f.parts[f.data[0]]).decode()
        name = os.path.basename(path).split("-")[0]
        plain = render(tpl, [{"role": "user", "content": USER}])
        sysd = render(tpl, [{"role": "system", "content": SYSTEM},
                            {"role": "user", "content": USER}])
        with open(os.path.join(OUT, name + ".template"), "w") as fh:
            fh.write(tpl)
        with open(os.path.join(OUT, name + ".json"), "w") as fh:
            json.dump({"user": USER, "system": SYSTEM, "plain": plain, "with_system": sysd}, fh,
                      indent=1)
            fh.write("\n")
        print(name, repr(plain))


if __name__ == "__main__":
    main()
