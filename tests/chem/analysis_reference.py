#!/usr/bin/python3
"""Reference values for the chem analysis tests, computed live with Debian's python3-ase and
python3-pymatgen (never copied from Atomscope's own output). Prints JSON on stdout.

  analysis_reference.py repeat FILE.xyz INDEX N0 N1 N2
      ASE's Atoms.repeat((N0, N1, N2)) of frame INDEX of an extended XYZ file.
  analysis_reference.py csv-to-xyz CSV OUT.xyz ROW [ROW ...]
      CDVAE CSV rows (0-based data rows) read from their cif column with pymatgen
      (Structure.from_str(cif, fmt="cif"), as CDVAE's build_crystal does before any Niggli step) and
      written as extended XYZ with ASE; prints the list of rows written.
  analysis_reference.py symmetry CSV OUT.xyz FIRST COUNT
      Rows FIRST .. FIRST+COUNT-1 written as above, and per row: pymatgen's SpacegroupAnalyzer space
      group (number, symbol) at symprec 0.01 and 0.1 (angle_tolerance 5, its default), the CSV's
      spacegroup.number when present, spglib's standardized primitive / conventional cells
      (python3-spglib: atom counts, lattice parameters) and pymatgen's
      Lattice.get_niggli_reduced_lattice() parameters.
  analysis_reference.py matcher CSV OUT.xyz FIRST COUNT SEED
      Pairs of crystals from rows FIRST .. FIRST+COUNT-1 (numpy seed SEED): each row against itself
      perturbed (0.02 A and 0.15 A Gaussian noise), rotated, with its atoms permuted, as a 2x1x1 or
      1x2x2 supercell, and strained 20 % along a; against the next row; and pairs of rows among the first
      10 * COUNT of the file sharing a reduced formula (at most 3 * COUNT). Written as frames 2k and 2k+1 of
      OUT.xyz; prints per pair its kind and pymatgen's StructureMatcher(ltol=0.3, stol=0.5,
      angle_tol=10) fit and get_rms_dist (ADiT's settings; pymatgen 2022.11).
  analysis_reference.py validity CSV OUT.xyz FIRST COUNT
      For rows FIRST .. FIRST+COUNT-1, the crystal itself, a copy whose first atom becomes the
      element of the next heavier Z (composition changes), and a copy with atom 1 moved to 0.3 A
      from atom 0: CDVAE/ADiT's validity with pymatgen for the structure part (distance_matrix
      with its diagonal padded, volume) and a SMACT-equivalent composition check written here from
      ADiT's smact_validity, on the tables tests/chem/make_smact_tables.py saved from SMACT v2.6.
  analysis_reference.py molecules FILE.xyz TMPDIR
      ADiT's molecule validity (src/eval/molecule_generation.py) run as ADiT runs it: pymatgen
      Molecule -> Molecule.to("x.pdb") (Open Babel through python3-openbabel) -> RDKit
      Chem.MolFromPDBFile(removeHs=False) (python3-rdkit 2022.09) -> canonical isomeric SMILES of
      the molecule and of its largest fragment; per frame {valid, smiles, largest}.
"""
import json
import sys

import numpy as np


def plain(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def cmd_repeat(args):
    import ase.io
    atoms = ase.io.read(args[0], index=int(args[1]))
    big = atoms.repeat((int(args[2]), int(args[3]), int(args[4])))
    return {
        "numbers": big.numbers.tolist(),
        "positions": big.positions.tolist(),
        "cell": big.cell.array.tolist(),
        "pbc": [bool(x) for x in big.pbc],
        "info": {k: plain(v) for k, v in big.info.items()},
        "arrays": {k: plain(v) for k, v in big.arrays.items() if k not in ("numbers", "positions")},
    }


def read_csv_rows(path):
    import csv
    csv.field_size_limit(1 << 30)
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def cmd_csv_to_xyz(args):
    import ase.io
    from pymatgen.core import Structure
    from pymatgen.io.ase import AseAtomsAdaptor
    rows = read_csv_rows(args[0])
    frames = []
    wanted = [int(r) for r in args[2:]]
    for r in wanted:
        s = Structure.from_str(rows[r]["cif"], fmt="cif")
        a = AseAtomsAdaptor.get_atoms(s)
        a.info = {"csv_row": r}
        a.arrays = {k: v for k, v in a.arrays.items() if k in ("numbers", "positions")}
        frames.append(a)
    ase.io.write(args[1], frames, format="extxyz")
    return wanted


def structures_from_rows(csv_path, out_xyz, wanted):
    import ase.io
    from pymatgen.core import Structure
    from pymatgen.io.ase import AseAtomsAdaptor
    rows = read_csv_rows(csv_path)
    wanted = [r for r in wanted if r < len(rows)]
    structs, frames = [], []
    for r in wanted:
        s = Structure.from_str(rows[r]["cif"], fmt="cif")
        a = AseAtomsAdaptor.get_atoms(s)
        a.info = {"csv_row": r}
        a.arrays = {k: v for k, v in a.arrays.items() if k in ("numbers", "positions")}
        structs.append(s)
        frames.append(a)
    ase.io.write(out_xyz, frames, format="extxyz")
    return rows, wanted, structs


def cmd_symmetry(args):
    import spglib
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
    first, count = int(args[2]), int(args[3])
    rows, wanted, structs = structures_from_rows(args[0], args[1], list(range(first, first + count)))
    out = []
    for r, s in zip(wanted, structs):
        rec = {"row": r}
        for prec in (0.01, 0.1):
            sga = SpacegroupAnalyzer(s, symprec=prec, angle_tolerance=5)
            rec["sg_%g" % prec] = sga.get_space_group_number()
            rec["symbol_%g" % prec] = sga.get_space_group_symbol()
        if "spacegroup.number" in rows[r]:
            rec["csv_sg"] = int(rows[r]["spacegroup.number"])
        cell = (s.lattice.matrix, s.frac_coords, [site.specie.Z for site in s])
        for name, prim in (("primitive", True), ("conventional", False)):
            lat, pos, types = spglib.standardize_cell(cell, to_primitive=prim, no_idealize=False,
                                                      symprec=0.01, angle_tolerance=5)
            from pymatgen.core import Lattice
            L = Lattice(lat)
            rec[name] = {"n": len(types), "abc": list(L.abc), "angles": list(L.angles),
                         "numbers": sorted(int(t) for t in types)}
        n = s.lattice.get_niggli_reduced_lattice()
        rec["niggli"] = {"abc": list(n.abc), "angles": list(n.angles)}
        out.append(rec)
    return out


def cmd_matcher(args):
    import ase.io
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.ase import AseAtomsAdaptor
    from scipy.spatial.transform import Rotation
    csv_path, out_xyz, first, count, seed = args[0], args[1], int(args[2]), int(args[3]), int(args[4])
    rng = np.random.default_rng(seed)
    rows = read_csv_rows(csv_path)
    structs = {}

    def get(r):
        if r not in structs:
            structs[r] = Structure.from_str(rows[r]["cif"], fmt="cif")
        return structs[r]

    pairs = []
    for r in range(first, min(first + count, len(rows))):
        s = get(r)
        for sigma in (0.02, 0.15):
            p = Structure(s.lattice, s.species, s.cart_coords + rng.normal(0, sigma, (len(s), 3)),
                          coords_are_cartesian=True, to_unit_cell=True)
            pairs.append(("perturbed_%g" % sigma, r, r, s, p))
        rot = Rotation.from_rotvec(rng.normal(0, 1, 3)).as_matrix()
        q = Structure(Lattice(s.lattice.matrix @ rot.T), s.species, s.cart_coords @ rot.T, coords_are_cartesian=True)
        pairs.append(("rotated", r, r, s, q))
        perm = rng.permutation(len(s))
        q = Structure(s.lattice, [s.species[i] for i in perm], s.frac_coords[perm])
        pairs.append(("permuted", r, r, s, q))
        q = s.copy()
        q.make_supercell([2, 1, 1] if r % 2 == 0 else [1, 2, 2])
        pairs.append(("supercell", r, r, s, q))
        q = s.copy()
        q.apply_strain([0.2, 0, 0])
        pairs.append(("strained_20pct", r, r, s, q))
        if r + 1 < len(rows):
            pairs.append(("next_row", r, r + 1, s, get(r + 1)))
    # Real pairs: different rows of the whole file with the same reduced formula.
    formula_rows = {}
    for r, row in enumerate(rows[: 10 * count]):
        key = get(r).composition.reduced_formula
        formula_rows.setdefault(key, []).append(r)
    same = []
    for key, rs in sorted(formula_rows.items()):
        for i in range(len(rs)):
            for j in range(i + 1, len(rs)):
                same.append((rs[i], rs[j]))
    rng.shuffle(same)
    for a, b in same[: 3 * count]:
        pairs.append(("same_formula", a, b, get(a), get(b)))

    matcher = StructureMatcher(ltol=0.3, stol=0.5, angle_tol=10)
    frames, out = [], []
    for kind, ra, rb, a, b in pairs:
        for s in (a, b):
            at = AseAtomsAdaptor.get_atoms(s)
            at.info = {}
            at.arrays = {k: v for k, v in at.arrays.items() if k in ("numbers", "positions")}
            frames.append(at)
        rms = matcher.get_rms_dist(a, b)
        out.append({"kind": kind, "rows": [ra, rb], "fit": bool(matcher.fit(a, b)),
                    "rms": None if rms is None else [float(rms[0]), float(rms[1])]})
    ase.io.write(out_xyz, frames, format="extxyz")
    return out


def smact_valid(symbols_counts, tables):
    """ADiT's smact_validity (src/eval/crystal.py) on SMACT v2.6 data, without SMACT."""
    import itertools
    import math
    elems = sorted(symbols_counts)
    counts = [symbols_counts[e] for e in elems]
    g = 0
    for c in counts:
        g = math.gcd(g, c)
    counts = [c // g for c in counts]
    if len(elems) == 1:
        return True
    if any(tables["oxidation_states"].get(e) is None for e in elems):
        return False
    if all(e in tables["metals"] for e in elems):
        return True
    ox = [tables["oxidation_states"][e] for e in elems]
    eneg = [tables["pauling_electronegativity"].get(e) for e in elems]
    n = 1
    for o in ox:
        n *= len(o)
    if n > 1e7:
        return False
    for states in itertools.product(*ox):
        if sum(s * c for s, c in zip(states, counts)) != 0:
            continue
        ok = True
        for (o1, e1), (o2, e2) in itertools.combinations(zip(states, eneg), 2):
            if e1 is None or e2 is None:
                ok = False
            elif o1 > 0 and o2 < 0 and e1 >= e2:
                ok = False
            elif o1 < 0 and o2 > 0 and e1 <= e2:
                ok = False
            if not ok:
                break
        if ok:
            return True
    return False


def cmd_validity(args):
    import ase.io
    from collections import Counter
    from pymatgen.core import Element, Structure
    from pymatgen.io.ase import AseAtomsAdaptor
    import os
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "smact_tables.json")) as f:
        tables = json.load(f)
    first, count = int(args[2]), int(args[3])
    rows = read_csv_rows(args[0])
    frames, out = [], []
    for r in range(first, min(first + count, len(rows))):
        s = Structure.from_str(rows[r]["cif"], fmt="cif")
        variants = [("as_is", s)]
        z = s[0].specie.Z
        t = s.copy()
        t.replace(0, Element.from_Z(z + 1 if z < 94 else z - 1))
        variants.append(("element_changed", t))
        if len(s) > 1:
            t = s.copy()
            v = t[1].coords - t[0].coords
            norm = np.linalg.norm(v)
            direction = v / norm if norm > 1e-6 else np.array([1.0, 0, 0])
            t.replace(1, t[1].specie, t[0].coords + 0.3 * direction, coords_are_cartesian=True)
            variants.append(("squeezed", t))
        for kind, st in variants:
            dm = st.distance_matrix + np.diag(np.ones(len(st)) * 10.5)
            struct_valid = bool(dm.min() >= 0.5 and st.volume >= 0.1)
            comp = Counter(site.specie.symbol for site in st)
            comp_valid = bool(smact_valid(dict(comp), tables))
            out.append({"row": r, "kind": kind, "composition": comp_valid, "structure": struct_valid,
                        "min_distance": float(dm.min()) if len(st) > 1 else None})
            a = AseAtomsAdaptor.get_atoms(st)
            a.info = {}
            a.arrays = {k: v for k, v in a.arrays.items() if k in ("numbers", "positions")}
            frames.append(a)
    ase.io.write(args[1], frames, format="extxyz")
    return out


def cmd_molecules(args):
    import os
    import ase.io
    from pymatgen.core import Molecule
    from rdkit import Chem, RDLogger
    RDLogger.DisableLog("rdApp.*")
    out = []
    for k, atoms in enumerate(ase.io.read(args[0], index=":")):
        path = os.path.join(args[1], "molecule_%d.pdb" % k)
        Molecule(atoms.numbers.tolist(), atoms.positions).to(filename=path)
        rec = {"valid": False, "smiles": "", "largest": ""}
        try:
            m = Chem.MolFromPDBFile(path, removeHs=False)
            rec["smiles"] = Chem.MolToSmiles(m, isomericSmiles=True)
            frags = Chem.rdmolops.GetMolFrags(m, asMols=True)
            largest = max(frags, default=m, key=lambda f: f.GetNumAtoms())
            rec["largest"] = Chem.MolToSmiles(largest, isomericSmiles=True)
            rec["valid"] = True
        except Exception:
            pass
        out.append(rec)
    return out


COMMANDS = {"molecules": cmd_molecules, "validity": cmd_validity, "matcher": cmd_matcher, "symmetry": cmd_symmetry, "repeat": cmd_repeat, "csv-to-xyz": cmd_csv_to_xyz}

if __name__ == "__main__":
    json.dump(COMMANDS[sys.argv[1]](sys.argv[2:]), sys.stdout)
