#!/usr/bin/python3
"""Writes tests/chem/data/ase_reference.json: what ASE (Debian's python3-ase, 3.22) reads from the
shared .xyz files, and the bonds ASE's neighbour list finds with Open Babel's rule
(d < r_i + r_j + 0.45 and d > 0.4, Cordero radii from ase.data.covalent_radii).
The C++ tests compare atomscope::chem's reader and bond finder with it.

Run:  /usr/bin/python3 tests/chem/make_ase_reference.py /work/shared/data tests/chem/data/ase_reference.json
"""
import json
import sys
from pathlib import Path

import numpy as np
import ase
import ase.io
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list

FILES = [
    "qm9/qm9_reduced_100.xyz",
    "md_forces/rmd17_ethanol_reduced_100.xyz",
    "md_forces/md17_aspirin_15frames.xyz",
    "md_forces/3bpa_train_300K.xyz",
    "md_forces/3bpa_iso_atoms.xyz",
    "md_forces/mlip_train.xyz",
    "md_forces/mlip_valid.xyz",
    "md_forces/mlip_test.xyz",
]


def plain(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


def frame_record(atoms):
    rec = {
        "numbers": atoms.numbers.tolist(),
        "positions": atoms.positions.tolist(),
        "pbc": [bool(x) for x in atoms.pbc],
        "cell": atoms.cell.array.tolist() if atoms.cell.rank > 0 else None,
        "info": {k: plain(v) for k, v in atoms.info.items()},
        "arrays": {k: plain(v) for k, v in atoms.arrays.items() if k not in ("numbers", "positions")},
    }
    return rec


def bonds(atoms):
    # Open Babel's rule as a per-atom cutoff: d < (r_i + 0.225) + (r_j + 0.225).
    cutoffs = [covalent_radii[z] + 0.225 for z in atoms.numbers]
    i, j, d, S = neighbor_list("ijdS", atoms, cutoffs, self_interaction=False)
    out = []
    for a, b, dist, s in zip(i, j, d, S):
        if dist <= 0.4:
            continue
        s = [int(x) for x in s]
        if a < b or (a == b and s > [0, 0, 0]):
            out.append([int(a), int(b)] + s)
    out.sort()
    return out


def main():
    root = Path(sys.argv[1])
    out = {"ase_version": ase.__version__, "files": {}}
    for rel in FILES:
        frames = ase.io.read(root / rel, index=":")
        n = len(frames)
        picks = sorted({0, n // 2, n - 1})
        rec = {
            "frame_count": n,
            "atom_counts": [len(a) for a in frames],
            "frames": {str(k): frame_record(frames[k]) for k in picks},
        }
        if rel.startswith("qm9/"):
            rec["bonds"] = {str(k): bonds(a) for k, a in enumerate(frames)}
        else:
            rec["bonds"] = {str(k): bonds(frames[k]) for k in picks}
        out["files"][rel] = rec
    Path(sys.argv[2]).write_text(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()
