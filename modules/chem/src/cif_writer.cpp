// P1 CIF writer (no toolkit needed), in the layout pymatgen's CifWriter produces.
#include <cstdio>

#include "atomscope/chem/cell_parameters.h"
#include "atomscope/chem/cif.h"
#include "atomscope/chem/elements.h"
#include "text_util.h"

namespace atomscope::chem {
namespace {

std::string fmt(const char* f, double v) {
  if (v == 0) v = 0;  // no "-0.000"
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// A data block name: no whitespace or quotes.
std::string blockName(const Structure& s, std::size_t index, std::size_t count) {
  std::string name;
  if (auto it = s.info.find("name"); it != s.info.end() && it->is_string()) name = it->get<std::string>();
  if (name.empty()) name = s.formula();
  for (char& c : name)
    if (text::isSpace(c) || c == '\'' || c == '"' || static_cast<unsigned char>(c) < 33 ||
        static_cast<unsigned char>(c) > 126)
      c = '_';
  if (name.empty()) name = "structure";
  if (count > 1) name += "_" + std::to_string(index);
  return name;
}

void appendBlock(std::string& out, const Structure& s, std::size_t index, std::size_t count) {
  if (!s.lattice) throw ChemError("CIF needs a lattice; structure " + std::to_string(index) + " (" + s.formula() + ") has none");
  s.validate();
  const CellParameters p = cellParameters(*s.lattice);
  const std::vector<Vec3> frac = s.fractionalPositions();
  const AtomProperty* occ = s.atomProperty("occupancy");
  if (occ && (occ->type != AtomProperty::Type::Real || occ->columns != 1)) occ = nullptr;

  out += "data_" + blockName(s, index, count) + "\n";
  out += "_symmetry_space_group_name_H-M   'P 1'\n";
  out += "_cell_length_a   " + fmt("%.12f", p.a) + "\n";
  out += "_cell_length_b   " + fmt("%.12f", p.b) + "\n";
  out += "_cell_length_c   " + fmt("%.12f", p.c) + "\n";
  out += "_cell_angle_alpha   " + fmt("%.12f", p.alpha) + "\n";
  out += "_cell_angle_beta   " + fmt("%.12f", p.beta) + "\n";
  out += "_cell_angle_gamma   " + fmt("%.12f", p.gamma) + "\n";
  out += "_symmetry_Int_Tables_number   1\n";
  out += "_chemical_formula_sum   '" + s.formula() + "'\n";
  out += "_cell_volume   " + fmt("%.10f", std::abs(s.cellVolume())) + "\n";
  out += "loop_\n _symmetry_equiv_pos_site_id\n _symmetry_equiv_pos_as_xyz\n  1  'x, y, z'\n";
  out += "loop_\n _atom_site_type_symbol\n _atom_site_label\n _atom_site_symmetry_multiplicity\n"
         " _atom_site_fract_x\n _atom_site_fract_y\n _atom_site_fract_z\n _atom_site_occupancy\n";
  for (std::size_t i = 0; i < s.size(); ++i) {
    const std::string sym = element(s.numbers[i]).symbol;
    out += "  " + sym + "  " + sym + std::to_string(i) + "  1  " + fmt("%.12f", frac[i][0]) + "  " +
           fmt("%.12f", frac[i][1]) + "  " + fmt("%.12f", frac[i][2]) + "  " +
           (occ ? text::formatDouble(occ->at(i)) : std::string("1")) + "\n";
  }
}

}  // namespace

std::string toCif(const Trajectory& frames) {
  if (frames.empty()) throw ChemError("CIF writer: no structures to write");
  std::string out = "# written by Atomscope\n";
  for (std::size_t i = 0; i < frames.size(); ++i) appendBlock(out, frames[i], i, frames.size());
  return out;
}

void writeCif(const std::filesystem::path& path, const Trajectory& frames) {
  std::string cif;
  try {
    cif = toCif(frames);
  } catch (const ChemError& e) {
    throw ChemError(path.string() + ": " + e.what());
  }
  text::writeFile(path, cif);
}

}  // namespace atomscope::chem
