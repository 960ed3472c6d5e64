#!/usr/bin/env python3
"""Boxes of copies of one molecule for inference timings: the first frame of an (ext)XYZ file, copied on a
cubic grid with 3 A between the copies' extents, as many copies as make about SIZE atoms.
Usage: make_boxes.py MOLECULE.xyz OUT_PREFIX SIZE... (writes OUT_PREFIX_<SIZE>.xyz)."""
import math
import sys


def main():
    src, prefix, sizes = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3:]]
    lines = open(src).read().splitlines()
    n = int(lines[0])
    atoms = [l.split()[:4] for l in lines[2:2 + n]]
    xyz = [[float(v) for v in a[1:4]] for a in atoms]
    lo = [min(p[k] for p in xyz) for k in range(3)]
    span = [max(p[k] for p in xyz) - lo[k] + 3.0 for k in range(3)]
    for size in sizes:
        mols = max(1, round(size / n))
        side = math.ceil(mols ** (1 / 3))
        out = []
        for m in range(mols):
            i, j, k = m % side, (m // side) % side, m // (side * side)
            for a, p in zip(atoms, xyz):
                out.append(f"{a[0]} {p[0]-lo[0]+i*span[0]:.6f} {p[1]-lo[1]+j*span[1]:.6f} {p[2]-lo[2]+k*span[2]:.6f}")
        with open(f"{prefix}_{size}.xyz", "w") as f:
            f.write(f"{len(out)}\nbox of {mols} copies\n" + "\n".join(out) + "\n")


if __name__ == "__main__":
    main()
