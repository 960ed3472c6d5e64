#!/usr/bin/env python3
"""How many structures of an (extended) XYZ file have exactly the given formula: a DiT conditioned on composition,
sampled with adit.sample's `composition`, should give it every time (issue 7). Plain Python, no packages, so it
runs on the GPU machine too.

    python3 tests/bench/adit/formula_match.py samples.extxyz C7H10O2
prints "C7H10O2: 57 of 100 structures (57.0%); other formulas: C7H11O2 12, ..."
"""
import collections
import re
import sys


def formula_counts(text):
    counts = collections.Counter()
    for element, n in re.findall(r"([A-Z][a-z]?)(\d*)", text):
        counts[element] += int(n) if n else 1
    return counts


def formula_of(counts):
    # Hill order: C, H, then the rest alphabetically (C-free: all alphabetically).
    order = (["C", "H"] if "C" in counts else []) + sorted(e for e in counts if not ("C" in counts and e in "CH"))
    return "".join(e + (str(counts[e]) if counts[e] != 1 else "") for e in order if counts[e])


def structures(path):
    with open(path) as f:
        lines = f.read().splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        n = int(lines[i].split()[0])
        atoms = [line.split()[0] for line in lines[i + 2:i + 2 + n]]
        if len(atoms) != n:
            sys.exit(f"{path}: frame at line {i + 1} promises {n} atoms, the file ends after {len(atoms)}")
        yield collections.Counter(atoms)
        i += 2 + n


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    path, wanted = sys.argv[1], formula_of(formula_counts(sys.argv[2]))
    found = collections.Counter(formula_of(c) for c in structures(path))
    total = sum(found.values())
    if total == 0:
        sys.exit(f"{path}: no structures")
    hits = found.pop(wanted, 0)
    others = ", ".join(f"{f} {n}" for f, n in found.most_common(6))
    print(f"{wanted}: {hits} of {total} structures ({100.0 * hits / total:.1f}%); other formulas: {others}")


if __name__ == "__main__":
    main()
