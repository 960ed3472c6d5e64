#!/usr/bin/env python3
"""One training text for the GPU benchmarks, from the shared data's text folder.

  python3 tests/bench/make_corpus.py TEXT_DIR OUT.txt tinystories|all

tinystories: both TinyStories heads as <|endoftext|>-separated documents (the validation head's
blank-line paragraphs become documents), in order, so lm.train's validation split (the last
val_fraction) comes from TinyStories' validation head; 2.9 MB.
all: those and every other shared text (books, WikiText-2, PTB, Shakespeare) as paragraphs, shuffled
with a fixed seed, so the validation split is a sample of every source; 12.4 M characters, 7.1 M tok512
tokens: a corpus larger than the benchmarks' token budgets, so models see each token about once.
"""
import glob
import random
import sys

text, out, corpus = sys.argv[1:4]
if corpus not in ("tinystories", "all"):
    sys.exit("CORPUS must be tinystories or all, not " + corpus)
read = lambda p: open(p, encoding="utf-8", errors="replace").read()
ts = text + "/tinystories"
docs = read(ts + "/tinystories_train_head_2MiB.txt").split("<|endoftext|>") + read(ts + "/tinystories_val_head.txt").split("\n\n")
if corpus == "all":
    others = sorted(glob.glob(text + "/english/*.txt")) + [text + "/" + f for f in (
        "wikitext2_tokens_test.txt", "wikitext2_tokens_valid.txt", "ptb.test.txt", "ptb.valid.txt", "tinyshakespeare_input.txt")]
    for f in others:
        try:
            body = read(f).replace("\r\n", "\n")
        except FileNotFoundError:
            continue
        docs += body.split("\n\n")
    random.Random(0).shuffle(docs)
docs = [d.strip() for d in docs if d.strip()]
open(out, "w", encoding="utf-8").write("\n<|endoftext|>\n".join(docs) + "\n")
print(len(docs), "documents,", sum(map(len, docs)), "characters")
