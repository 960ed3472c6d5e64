#!/usr/bin/env python3
"""ASE's neighbour list on an extended XYZ file, as the reference for chem::neighborList
(tests/chem/test_neighbors.cpp): prints one JSON list per frame of [i, j, S0, S1, S2, d] from
ase.neighborlist.neighbor_list('ijSd', atoms, cutoff) (self_interaction False).
  /usr/bin/python3 neighbor_reference.py FILE.xyz CUTOFF"""
import json
import sys

from ase.io import read
from ase.neighborlist import neighbor_list

frames = read(sys.argv[1], index=":")
cutoff = float(sys.argv[2])
out = []
for atoms in frames:
    i, j, S, d = neighbor_list("ijSd", atoms, cutoff)
    out.append([[int(a), int(b), int(s[0]), int(s[1]), int(s[2]), float(x)] for a, b, s, x in zip(i, j, S, d)])
print(json.dumps(out))
