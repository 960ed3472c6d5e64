#!/usr/bin/python3
"""Reference token ids for tok512 (llama2.c's 512-token TinyStories vocabulary, the tokenizer of
stories260K), computed by SentencePiece itself (Debian's python3-sentencepiece) on tok512.model.
The llama2.c tokenizer.bin encoder (tok512.bin) and the libsentencepiece wrapper must give the same
ids for this "ordinary" text: single spaces, no leading or trailing spaces (the model's normaliser
collapses spaces; llama2.c's run.c does not).

  apt-get install -y --no-install-recommends python3-sentencepiece
  /usr/bin/python3 tests/lm/data/make_sentencepiece_reference.py [SHARED_DATA_DIR]

Writes tests/lm/data/tok512_reference_ids.json. Sentences: every 7th non-empty line, split at
sentence ends, of text/tinystories/tinystories_val_head.txt and tinystories_train_head_2MiB.txt
(up to 300 sentences each), whole stories (lines) of tinystories_sample5.txt, and a few hand-written
lines with digits, punctuation, newlines, tabs and characters outside the vocabulary (byte fallback).
"""
import json
import os
import re
import sys

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))


def ordinary(s):
    return re.sub(" +", " ", s).strip(" ")


def write_json(out):
    """One case per line, so that diffs stay readable."""
    head = {k: v for k, v in out.items() if k != "cases"}
    text = json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "cases": [\n'
    text += ",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in out["cases"])
    return text + "\n ]\n}\n"


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "..", "shared", "data")
    shared = os.path.abspath(shared)
    model = os.path.join(shared, "lm", "tok512.model")
    sp = spm.SentencePieceProcessor(model_file=model)
    texts = []
    for name in ("tinystories_val_head.txt", "tinystories_train_head_2MiB.txt"):
        with open(os.path.join(shared, "text", "tinystories", name), encoding="utf-8", errors="replace") as f:
            lines = [l for l in f.read().split("\n") if l.strip() and "<|endoftext|>" not in l]
        picked = []
        for line in lines[::7]:
            for sentence in re.split(r"(?<=[.!?]) ", line):
                sentence = ordinary(sentence)
                if sentence:
                    picked.append(sentence)
        texts += picked[:300]
    with open(os.path.join(shared, "text", "tinystories", "tinystories_sample5.txt"), encoding="utf-8") as f:
        texts += [ordinary(l) for l in f.read().split("\n") if l.strip() and "<|endoftext|>" not in l]
    texts += [
        "Once upon a time, there was a little girl named Lily.",
        "The year was 1999, and 42 cats ate 3.14 pies!",
        "Tom said, \"Let's go!\"\nMia said: 'No.'",
        "A tab\there and two lines\n\nthen more.",
        "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber",
        "\u4f60\u597d, \u043f\u0440\u0438\u0432\u0435\u0442, \u03b3\u03b5\u03b9\u03ac, \U0001F600!",
        "x",
        "?!",
    ]
    seen, cases = set(), []
    for t in texts:
        if t in seen:
            continue
        seen.add(t)
        cases.append({"text": t, "ids": sp.encode(t)})
    out = {
        "source": "SentencePiece %s (Debian python3-sentencepiece), SentencePieceProcessor(model_file='lm/tok512.model').encode(text)"
        % spm.__version__,
        "script": "tests/lm/data/make_sentencepiece_reference.py",
        "bos_id": sp.bos_id(),
        "eos_id": sp.eos_id(),
        "vocab_size": sp.vocab_size(),
        "cases": cases,
    }
    path = os.path.join(HERE, "tok512_reference_ids.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(write_json(out))
    print("wrote", path, len(cases), "cases")


if __name__ == "__main__":
    main()
