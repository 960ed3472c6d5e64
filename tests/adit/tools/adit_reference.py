#!/usr/bin/python3
"""Reference values for tests/adit, computed live with ASE and pymatgen on the shared data.

  adit_reference.py xyz FILE            -> {"frames", "atoms", "first_numbers", "first_centred"}
  adit_reference.py niggli CSV N        -> per row of the first N: natoms, Niggli a b c alpha beta gamma
                                           (pymatgen get_reduced_structure('niggli')), space group
                                           (SpacegroupAnalyzer, symprec 0.01, angle_tolerance 5)
"""
import csv
import json
import sys

mode = sys.argv[1]
if mode == "xyz":
    from ase.io import read
    frames = read(sys.argv[2], index=":")
    first = frames[0]
    centred = (first.get_positions() - first.get_positions().mean(axis=0)).tolist()
    print(json.dumps({"frames": len(frames), "atoms": sum(len(f) for f in frames),
                      "first_numbers": first.get_atomic_numbers().tolist(), "first_centred": centred}))
elif mode == "niggli":
    from pymatgen.core import Structure
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
    csv.field_size_limit(10**9)
    rows = []
    with open(sys.argv[2]) as f:
        for i, row in enumerate(csv.DictReader(f)):
            if i >= int(sys.argv[3]):
                break
            s = Structure.from_str(row["cif"], fmt="cif")
            r = s.get_reduced_structure("niggli")
            rows.append({"natoms": len(s), "abc": list(r.lattice.abc), "angles": list(r.lattice.angles),
                         "volume": s.volume,
                         "space_group": SpacegroupAnalyzer(s, symprec=0.01, angle_tolerance=5).get_space_group_number()})
    print(json.dumps(rows))
