#!/usr/bin/env python3
"""Reference token ids for GPT-2 byte-level BPE, from Hugging Face (GPT2TokenizerFast of
`transformers`, else a `tokenizers` ByteLevel BPE built the same way), on the real GPT-2 vocabulary
(lm/fake_gpt2_random: vocab.json + merges.txt, 50257 tokens) and the 21-token toy vocabulary
(lm/tiny_gpt2_random_vocab21). Needs transformers or tokenizers (not on the CPU development machine;
run it where they are, e.g. the GPU machine):

  python3 tests/lm/data/make_gpt2_reference.py SHARED_DATA_DIR [OUT_JSON] [OUT_TINY_TOKENIZER_JSON]

SHARED_DATA_DIR is ../shared/data (holds lm/ and text/). Writes tests/lm/data/gpt2_reference_ids.json
(cases: text, ids, and the pre-tokens of the ByteLevel pre-tokenizer) and
tests/lm/data/tiny_gpt2_tokenizer.json (the toy vocabulary saved by Hugging Face as tokenizer.json,
to test that reader on a file the library wrote).
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

HAND_WRITTEN = [
    "Hello world",
    " Hello world",
    "Hello, world! How's it going? I'm fine; they'll see, we've done, you're right, he'd go.",
    "HE'S SHOUTING: I'LL GO!",
    "  leading spaces and trailing spaces   ",
    "tabs\tand\nnewlines\n\n\nand\r\nCRLF",
    "numbers 1234567890 3.14159 1,000,000 and 2024-06-01",
    "Unicode: caf\u00e9 na\u00efve \u00fcber se\u00f1or \u00c5ngstr\u00f6m",
    "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u03ba\u03cc\u03c3\u03bc\u03b5",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u0401\u0436",
    "\u4f60\u597d\uff0c\u4e16\u754c\u3002\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u30fc",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8",
    "\u0645\u0631\u062d\u0628\u0627 \u0661\u0662\u0663 \u05e9\u05dc\u05d5\u05dd",
    "emoji \U0001F600\U0001F680 and symbols \u2603 \u00a9 \u20ac 100\u00bd \u2167",
    "non\u00a0breaking\u2003em space\u3000ideographic",
    "code: def f(x):\n    return x**2  # square\n",
    "<|endoftext|>",
    "first<|endoftext|>second",
    "   ",
    "\n",
    "a",
    "''''quotes'' and 's 't 're",
    "URL https://example.com/path?q=1&r=2#frag",
    "\u00e9\u0301 e\u0301 combining",
]

TOY = ["lowest newer wider", " lowest", "low lower lowest", "newer wider", "xyz"]


def samples(shared):
    """The first 2000 characters of each shared text file, and 40 lines spread through each."""
    out = []
    root = os.path.join(shared, "text")
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            with open(os.path.join(dirpath, name), encoding="utf-8", errors="replace") as f:
                text = f.read()
            out.append(text[:2000])
            lines = [l for l in text.split("\n") if l.strip()]
            out += lines[:: max(1, len(lines) // 40)][:40]
    return out


def make_tokenizer(folder, compare=True):
    """Hugging Face `tokenizers` BPE exactly as GPT2TokenizerFast sets it up (ByteLevel pre-tokenizer
    without prefix space, <|endoftext|> as an added special token). When `transformers` is installed,
    GPT2TokenizerFast.from_pretrained(folder) (a local folder: no network) must give the same ids on
    a probe text; the source string then names both."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, __version__ as tv

    vocab = os.path.join(folder, "vocab.json")
    merges = os.path.join(folder, "merges.txt")
    tok = Tokenizer(models.BPE.from_file(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    if "<|endoftext|>" in json.load(open(vocab, encoding="utf-8")):
        tok.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    source = "tokenizers %s: BPE.from_file(vocab.json, merges.txt) + ByteLevel(add_prefix_space=False)" % tv
    try:
        from transformers import GPT2TokenizerFast, __version__ as v
    except ImportError:
        return tok, source
    if not compare:
        return tok, source
    fast = GPT2TokenizerFast.from_pretrained(folder)
    probe = "Hello world, it's 2024!\n\n  caf\u00e9 <|endoftext|> \u4f60\u597d"
    a, b = tok.encode(probe).ids, fast(probe)["input_ids"]
    if a != b:
        sys.exit("transformers %s GPT2TokenizerFast disagrees with tokenizers on %r: %s vs %s" % (v, probe, b, a))
    return tok, source + "; equal to transformers %s GPT2TokenizerFast.from_pretrained(folder) on a probe" % v


def pretokens(tok, text):
    # Offsets are character offsets into text: take the original substrings.
    return [text[a:b] for _, (a, b) in tok.pre_tokenizer.pre_tokenize_str(text)]


def case_line(c):
    return "  " + json.dumps(c, ensure_ascii=False)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    shared = os.path.abspath(sys.argv[1])
    out_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "gpt2_reference_ids.json")
    tiny_path = sys.argv[3] if len(sys.argv) > 3 else os.path.join(HERE, "tiny_gpt2_tokenizer.json")

    tok, source = make_tokenizer(os.path.join(shared, "lm", "fake_gpt2_random"))
    assert tok.encode("Hello world").ids == [15496, 995], "not the GPT-2 vocabulary?"
    cases, seen = [], set()
    for t in HAND_WRITTEN + samples(shared):
        if t in seen or not t:
            continue
        seen.add(t)
        enc = tok.encode(t)
        # The pre-tokenizer sees text between special tokens only; record pre-tokens for plain text.
        c = {"text": t, "ids": enc.ids}
        if "<|endoftext|>" not in t:
            c["pretokens"] = pretokens(tok, t)
        cases.append(c)

    toy, _ = make_tokenizer(os.path.join(shared, "lm", "tiny_gpt2_random_vocab21"), compare=False)
    toy_cases = [{"text": t, "ids": toy.encode(t).ids} for t in TOY]
    toy.save(tiny_path)

    head = {
        "source": source,
        "script": "tests/lm/data/make_gpt2_reference.py",
        "vocab": "lm/fake_gpt2_random/{vocab.json,merges.txt}",
    }
    text = json.dumps(head, ensure_ascii=False, indent=1)[:-2]
    text += ',\n "toy_vocab": "lm/tiny_gpt2_random_vocab21",\n "toy_cases": [\n'
    text += ",\n".join(case_line(c) for c in toy_cases) + "\n ],\n \"cases\": [\n"
    text += ",\n".join(case_line(c) for c in cases) + "\n ]\n}\n"
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote", out_path, len(cases), "cases;", tiny_path)


if __name__ == "__main__":
    main()
