#!/usr/bin/python3
"""Reference readings for the structure-format tests (test_formats_*.cpp), printed as JSON.
Run with Debian's /usr/bin/python3 (python3-ase, python3-pymatgen, python3-rdkit): the C++ tests
compare what atomscope::chem reads and writes with what these independent libraries give.

  crystals CSV ROWS [CSV ROWS...]  rows (0-based, comma-separated) of a CDVAE CSV: the csv module's
                               columns; pymatgen's Structure.from_str(cif, "cif") and ase.io.read of
                               the cif column; and the same row written by pymatgen's CifWriter with
                               symprec=0.1 (a symmetrised CIF, its conventional cell) plus what pymatgen
                               and ASE read from it; *_rounded: pymatgen warned that it moved
                               coordinates within a relative 1e-4 of 1/3 or 2/3 onto those values
  ase FILE [FORMAT]            every frame ase.io.read finds (numbers, positions, cell, pbc, and
                               move_mask from FixAtoms/FixScaled constraints)
  pymatgen FILE                pymatgen's structures in FILE (CifParser.get_structures(primitive=False)
                               for CIF, every block; else Structure.from_file): lattice, fractional, Z
  pymatgen_many FILE...        the same for several files, one list per file
  ase_poscars CSV ROWS DIR     ASE writes each row as POSCARs (VASP 5 direct, VASP 5 Cartesian,
                               and with FixAtoms/FixScaled constraints -> Selective dynamics)
  smiles_formulas FILE         RDKit's CalcMolFormula of MolFromSmiles + AddHs for each line of FILE
                               (null where RDKit cannot parse or sanitise the line), and whether
                               ETKDGv3 with seed 42 (then random coordinates) embeds it
  rdkit_sdf FILE               RDKit's SDMolSupplier(removeHs=False): numbers and positions per molecule
"""
import csv
import io
import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")


def ase_frame(a):
    from ase.constraints import FixAtoms, FixScaled
    out = {
        "numbers": a.numbers.tolist(),
        "positions": a.positions.tolist(),
        "pbc": [bool(x) for x in a.pbc],
        "cell": a.cell.array.tolist() if a.cell.rank == 3 else None,
    }
    if a.constraints:
        mask = [[True, True, True] for _ in range(len(a))]
        for c in a.constraints:
            if isinstance(c, FixAtoms):
                for i in c.index:
                    mask[int(i)] = [False, False, False]
            elif isinstance(c, FixScaled):
                i = int(c.a) if not hasattr(c.a, "__len__") else int(c.a[0])
                mask[i] = [not bool(x) for x in c.mask]
        out["move_mask"] = mask
    return out


def pymatgen_structure(s):
    lat = s.lattice
    return {
        "numbers": [int(site.specie.Z) if site.is_ordered else int(site.species.elements[0].Z) for site in s],
        "frac": s.frac_coords.tolist(),
        "abc": list(lat.abc),
        "angles": list(lat.angles),
        "matrix": lat.matrix.tolist(),
        "occupancies": [[float(v) for v in site.species.as_dict().values()] for site in s],
    }


def rows_of(path, wanted):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [(i, rows[i]) for i in wanted]


def cmd_crystals(*pairs):
    """pairs: CSV ROWS [CSV ROWS ...]; one list of row records per CSV."""
    return [crystal_rows(pairs[k], pairs[k + 1]) for k in range(0, len(pairs), 2)]


def crystal_rows(path, rows):
    import ase.io
    from pymatgen.core import Structure
    from pymatgen.io.cif import CifParser, CifWriter
    out = []
    for i, row in rows_of(path, [int(x) for x in rows.split(",")]):
        cif = row["cif"]
        # As Structure.from_str(cif, fmt="cif"), keeping the parser to see its warnings.
        parser = CifParser.from_string(cif)
        pm = parser.get_structures(primitive=False)[0]
        rec = {
            "pymatgen_rounded": any("rounded to ideal values" in w for w in parser.warnings),
            "row": i,
            "columns": {k: v for k, v in row.items() if k != "cif"},
            "pymatgen": pymatgen_structure(pm),
            "ase": ase_frame(ase.io.read(io.StringIO(cif), format="cif")),
        }
        sym_cif = str(CifWriter(pm, symprec=0.1))
        rec["sym_cif"] = sym_cif
        parser = CifParser.from_string(sym_cif)
        rec["sym_pymatgen"] = pymatgen_structure(parser.get_structures(primitive=False)[0])
        rec["sym_pymatgen_rounded"] = any("rounded to ideal values" in w for w in parser.warnings)
        rec["sym_ase"] = ase_frame(ase.io.read(io.StringIO(sym_cif), format="cif"))
        out.append(rec)
    return out


def cmd_ase(path, fmt=None):
    import ase.io
    frames = ase.io.read(path, index=":", format=fmt)
    return [ase_frame(a) for a in frames]


def cmd_pymatgen_many(*paths):
    return [cmd_pymatgen(p) for p in paths]


def cmd_pymatgen(path):
    from pymatgen.core import Structure
    from pymatgen.io.cif import CifParser
    if path.lower().endswith(".cif"):
        return [pymatgen_structure(s) for s in CifParser(path).get_structures(primitive=False)]
    return [pymatgen_structure(Structure.from_file(path))]


def cmd_ase_poscars(path, rows, outdir):
    import ase.io
    from ase.constraints import FixAtoms, FixScaled
    out = []
    for i, row in rows_of(path, [int(x) for x in rows.split(",")]):
        a = ase.io.read(io.StringIO(row["cif"]), format="cif")
        files = {}
        for variant, kwargs in (("direct", {"direct": True}), ("cartesian", {"direct": False})):
            name = os.path.join(outdir, f"POSCAR_{i}_{variant}")
            ase.io.write(name, a, format="vasp", vasp5=True, **kwargs)
            files[variant] = name
        b = a.copy()
        cons = [FixAtoms(indices=[0])]
        if len(b) > 1:
            cons.append(FixScaled(b.cell, 1, [True, False, True]))
        b.set_constraint(cons)
        name = os.path.join(outdir, f"POSCAR_{i}_selective")
        ase.io.write(name, b, format="vasp", vasp5=True, direct=True)
        files["selective"] = name
        out.append({"row": i, "files": files, "ase": ase_frame(a), "ase_selective": ase_frame(b)})
    return out


def embeds(m):
    """Whether ETKDGv3 (seed 42, then from random coordinates) embeds m with its hydrogens."""
    from rdkit.Chem import AllChem
    p = AllChem.ETKDGv3()
    p.randomSeed = 42
    if AllChem.EmbedMolecule(m, p) >= 0:
        return True
    p.useRandomCoords = True
    return AllChem.EmbedMolecule(m, p) >= 0


def cmd_smiles_formulas(path):
    from rdkit import Chem, RDLogger
    from rdkit.Chem.rdMolDescriptors import CalcMolFormula
    RDLogger.DisableLog("rdApp.*")
    out = []
    with open(path) as f:
        for line in f:
            s = line.split()
            if not s:
                continue
            m = Chem.MolFromSmiles(s[0])
            if m is None:
                out.append({"smiles": s[0], "formula": None, "embeds": False})
                continue
            h = Chem.AddHs(m)
            out.append({"smiles": s[0], "formula": CalcMolFormula(h), "embeds": embeds(h)})
    return out


def cmd_rdkit_sdf(path):
    from rdkit import Chem, RDLogger
    RDLogger.DisableLog("rdApp.*")
    out = []
    for m in Chem.SDMolSupplier(path, removeHs=False, sanitize=False):
        if m is None:
            out.append(None)
            continue
        conf = m.GetConformer()
        out.append({
            "numbers": [a.GetAtomicNum() for a in m.GetAtoms()],
            "positions": [list(conf.GetAtomPosition(i)) for i in range(m.GetNumAtoms())],
            "charges": [a.GetFormalCharge() for a in m.GetAtoms()],
        })
    return out


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {"crystals": cmd_crystals, "ase": cmd_ase, "pymatgen": cmd_pymatgen, "pymatgen_many": cmd_pymatgen_many, "ase_poscars": cmd_ase_poscars,
          "smiles_formulas": cmd_smiles_formulas, "rdkit_sdf": cmd_rdkit_sdf}[cmd]
    json.dump(fn(*args), sys.stdout)


if __name__ == "__main__":
    main()
