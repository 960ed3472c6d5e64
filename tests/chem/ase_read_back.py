#!/usr/bin/python3
"""Reads an extended XYZ file with ASE and prints, as JSON, what ASE found: one record per frame
(numbers, positions, cell, pbc, info, per-atom arrays). Used by test_xyz.cpp to check that files
written by atomscope::chem read back in ASE (Debian's python3-ase)."""
import json
import sys

import numpy as np
import ase.io


def plain(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


frames = ase.io.read(sys.argv[1], index=":")
out = []
for a in frames:
    out.append({
        "numbers": a.numbers.tolist(),
        "positions": a.positions.tolist(),
        "pbc": [bool(x) for x in a.pbc],
        "cell": a.cell.array.tolist() if a.cell.rank > 0 else None,
        "info": {k: plain(v) for k, v in a.info.items()},
        "arrays": {k: plain(v) for k, v in a.arrays.items() if k not in ("numbers", "positions")},
    })
json.dump(out, sys.stdout)
