// CIF reader through gemmi: its CIF parser and small-molecule structure, its space-group tables
// and symmetry operations; our own P1 expansion (ASE's merge rule) and ASE's lattice orientation.
#define USE_STD_SNPRINTF 1  // gemmi's sprintf.hpp: Debian ships no stb_sprintf; we only read
#include <gemmi/cif.hpp>
#include <gemmi/smcif.hpp>
#include <gemmi/symmetry.hpp>

#include <cmath>
#include <optional>

#include "../text_util.h"
#include "atomscope/chem/cell_parameters.h"
#include "atomscope/chem/cif.h"
#include "atomscope/chem/elements.h"

namespace atomscope::chem {
namespace {

namespace cif = gemmi::cif;
namespace pegtl = tao::pegtl;

constexpr double kMaxAbsFraction = 1.0e4;  // fractional coordinates beyond this are absurd
constexpr double kMaxCellLength = 1.0e6;   // Angstrom

class CifBlockReader {
 public:
  CifBlockReader(const cif::Block& block, std::string_view source, std::size_t lineOffset,
                 const CifReadOptions& options)
      : block_(block), source_(source), lineOffset_(lineOffset), options_(options) {}

  // True when the block has atom sites (else it is a header block, skipped).
  bool hasAtoms() const {
    return const_cast<cif::Block&>(block_).find_values("_atom_site_fract_x").item() != nullptr;
  }

  Structure read() {
    cif::Block& block = const_cast<cif::Block&>(block_);
    const int atomLine = lineOf("_atom_site_fract_x");
    gemmi::SmallStructure small;
    try {
      small = gemmi::make_small_structure_from_block(block);
    } catch (const std::exception& e) {
      fail(atomLine, e.what());
    }
    if (small.sites.empty()) {
      if (!block.find_values("_atom_site_label").item())
        fail(atomLine, "the _atom_site_ loop has fractional coordinates but no _atom_site_label column");
      fail(atomLine, "the _atom_site_ loop lists no atoms");
    }

    // Cell: ASE's orientation from gemmi's parsed parameters.
    const int cellLine = lineOf("_cell_length_a");
    if (!small.cell.is_crystal()) fail(cellLine > 0 ? cellLine : atomLine, "no cell parameters (_cell_length_a/b/c, _cell_angle_*)");
    const gemmi::UnitCell& uc = small.cell;
    for (double v : {uc.a, uc.b, uc.c})
      if (std::isfinite(v) && std::abs(v) > kMaxCellLength) fail(cellLine, "cell length " + text::formatDouble(v) + " A is absurd");
    Mat3 lattice;
    try {
      lattice = latticeFromParameters(CellParameters{uc.a, uc.b, uc.c, uc.alpha, uc.beta, uc.gamma});
    } catch (const ChemError& e) {
      fail(cellLine, e.what());
    }

    const std::vector<gemmi::Op> ops = symmetryOperations(small);

    Structure s;
    s.lattice = lattice;
    s.pbc = {true, true, true};
    s.info["name"] = block_.name;
    if (!small.spacegroup_hm.empty()) s.info["spacegroup"] = small.spacegroup_hm;
    std::vector<double> occupancy;
    std::size_t partialSites = 0;
    for (std::size_t i = 0; i < small.sites.size(); ++i) {
      const gemmi::SmallStructure::Site& site = small.sites[i];
      const std::string where = "atom site " + std::to_string(i + 1) + " (" + text::quote(site.label) + ")";
      const int z = site.element.atomic_number();
      if (!isValidAtomicNumber(z))
        fail(atomLine, where + ": unknown element " + text::quote(site.type_symbol.empty() ? site.label : site.type_symbol));
      const Vec3 f{site.fract.x, site.fract.y, site.fract.z};
      for (int k = 0; k < 3; ++k) {
        if (!std::isfinite(f[k])) fail(atomLine, where + ": fractional coordinate " + std::string(1, "xyz"[k]) + " is missing or not a number");
        if (std::abs(f[k]) > kMaxAbsFraction) fail(atomLine, where + ": fractional coordinate " + text::formatDouble(f[k]) + " is absurd");
      }
      if (!std::isfinite(site.occ) || site.occ <= 0 || site.occ > 1.0 + 1e-3)
        fail(atomLine, where + ": occupancy " + text::formatDouble(site.occ) + " is outside (0, 1]");
      const bool partial = site.occ < 1.0 - 1e-6;
      if (partial) ++partialSites;

      // Images of this site under every operation, wrapped into [0, 1); near-equal images merge.
      const std::size_t first = s.size();
      std::vector<Vec3> images;
      for (const gemmi::Op& op : ops) {
        Vec3 g = op.apply_to_xyz(f);
        for (double& v : g) {
          v -= std::floor(v);
          if (v >= 1.0) v = 0.0;  // -1e-17 wraps to 1.0 in floating point
        }
        bool duplicate = false;
        for (const Vec3& h : images) {
          bool same = true;
          for (int k = 0; k < 3 && same; ++k) {
            const double d = g[k] - h[k];
            same = std::abs(d - std::round(d)) < options_.siteTolerance;
          }
          if (same) {
            duplicate = true;
            break;
          }
        }
        if (duplicate) continue;
        images.push_back(g);
        if (first + images.size() > options_.maxAtoms)
          fail(atomLine, "more than " + std::to_string(options_.maxAtoms) + " atoms after applying symmetry");
      }
      for (const Vec3& g : images) {
        s.addAtom(z, fractionalToCartesian(g, lattice));
        occupancy.push_back(site.occ);
      }
    }
    if (partialSites > 0) {
      AtomProperty occ;
      occ.type = AtomProperty::Type::Real;
      occ.values = std::move(occupancy);
      s.atomProperties.emplace("occupancy", std::move(occ));
      s.info["partial_occupancy"] = true;
      s.info["warnings"] = Json::array({std::to_string(partialSites) + " of " + std::to_string(small.sites.size()) +
                                        " sites are partially occupied; every site is kept as an atom with its "
                                        "occupancy in the per-atom property 'occupancy'"});
    }
    try {
      s.validate();
    } catch (const ChemError& e) {
      fail(atomLine, e.what());
    }
    return s;
  }

 private:
  [[noreturn]] void fail(int line, const std::string& message) const {
    std::string where(source_);
    if (line > 0) where += ":" + std::to_string(static_cast<std::size_t>(line) + lineOffset_);
    throw ChemError(where + ": data block '" + block_.name + "': " + message);
  }

  // The line of the item holding `tag` (a pair or a loop column), or 0.
  int lineOf(const std::string& tag) const {
    for (const cif::Item& item : block_.items) {
      if (item.type == cif::ItemType::Pair && gemmi::iequal(item.pair[0], tag)) return item.line_number;
      if (item.type == cif::ItemType::Loop)
        for (const std::string& t : item.loop.tags)
          if (gemmi::iequal(t, tag)) return item.line_number;
    }
    return 0;
  }

  // An operation such as "x, y+1/2, -z" or "-x+0.5,y,z": decimals become fractions of 24 (gemmi
  // parses fractions only) and long digit runs are refused before gemmi multiplies them.
  gemmi::Op parseOperation(const std::string& raw, int line) const {
    std::string t;
    for (std::size_t k = 0; k < raw.size();) {
      const char c = raw[k];
      if ((c >= '0' && c <= '9') || c == '.') {
        std::size_t e = k;
        while (e < raw.size() && ((raw[e] >= '0' && raw[e] <= '9') || raw[e] == '.')) ++e;
        const std::string number = raw.substr(k, e - k);
        if (number.size() > 8) fail(line, "symmetry operation " + text::quote(raw) + " has an absurd number");
        if (number.find('.') != std::string::npos) {
          double v;
          if (!text::parseDouble(number, v)) fail(line, "symmetry operation " + text::quote(raw) + ": bad number " + text::quote(number));
          const double n24 = v * 24.0;
          if (std::abs(n24 - std::round(n24)) > 1e-3)
            fail(line, "symmetry operation " + text::quote(raw) + ": translation " + number + " is not a multiple of 1/24");
          t += std::to_string(static_cast<long>(std::round(n24))) + "/24";
        } else {
          t += number;
        }
        k = e;
      } else {
        t += c;
        ++k;
      }
    }
    gemmi::Op op;
    try {
      op = gemmi::parse_triplet(t);
    } catch (const std::exception& e) {
      fail(line, "symmetry operation " + text::quote(raw) + ": " + e.what());
    }
    const long det = static_cast<long>(op.det_rot());
    const long unit = static_cast<long>(gemmi::Op::DEN) * gemmi::Op::DEN * gemmi::Op::DEN;
    if (det != unit && det != -unit)
      fail(line, "symmetry operation " + text::quote(raw) + " is not a crystallographic operation (determinant " +
                     std::to_string(static_cast<double>(det) / static_cast<double>(unit)) + ")");
    return op;
  }

  // Listed operations first; else those of the H-M symbol, the Hall symbol or the IT number; else P1.
  std::vector<gemmi::Op> symmetryOperations(const gemmi::SmallStructure& small) const {
    cif::Block& block = const_cast<cif::Block&>(block_);
    for (const char* tag : {"_space_group_symop_operation_xyz", "_symmetry_equiv_pos_as_xyz",
                            "_space_group_symop.operation_xyz", "_symmetry_equiv.pos_as_xyz"}) {
      cif::Column col = block.find_values(tag);
      if (!col.item()) continue;
      const int line = lineOf(tag);
      std::vector<gemmi::Op> ops;
      for (const std::string& v : col) {
        if (cif::is_null(v)) continue;
        ops.push_back(parseOperation(cif::as_string(v), line));
        if (ops.size() > 10'000) fail(line, "more than 10000 symmetry operations");
      }
      if (ops.empty()) fail(line, tag + std::string(" lists no operations"));
      return ops;
    }
    const gemmi::SpaceGroup* sg = nullptr;
    std::string named;
    if (!small.spacegroup_hm.empty() && !cif::is_null(small.spacegroup_hm)) {
      named = "H-M symbol " + text::quote(small.spacegroup_hm);
      sg = small.find_spacegroup();
    }
    if (!sg)
      for (const char* tag : {"_space_group_name_Hall", "_symmetry_space_group_name_Hall"})
        if (const std::string* v = block.find_value(tag); v && !cif::is_null(*v)) {
          named = "Hall symbol " + text::quote(cif::as_string(*v));
          try {
            sg = gemmi::find_spacegroup_by_ops(gemmi::symops_from_hall(cif::as_string(*v).c_str()));
          } catch (const std::exception&) {
            sg = nullptr;
          }
          if (sg) break;
        }
    if (!sg)
      for (const char* tag : {"_space_group_IT_number", "_symmetry_Int_Tables_number"})
        if (const std::string* v = block.find_value(tag); v && !cif::is_null(*v)) {
          std::int64_t n = 0;
          named = "space group number " + text::quote(*v);
          if (text::parseInt(text::trim(cif::as_string(*v)), n) && n >= 1 && n <= 230) {
            try {
              sg = &gemmi::get_spacegroup_reference_setting(static_cast<int>(n));
            } catch (const std::exception&) {
              sg = nullptr;
            }
          }
          if (sg) break;
        }
    if (sg) return sg->operations().all_ops_sorted();
    if (!named.empty())
      fail(lineOf("_symmetry_space_group_name_H-M"),
           "unknown " + named + " and no symmetry operations (_symmetry_equiv_pos_as_xyz) listed");
    return {gemmi::Op::identity()};  // no symmetry given at all: P1, as pymatgen and ASE assume
  }

  const cif::Block& block_;
  std::string_view source_;
  std::size_t lineOffset_;
  const CifReadOptions& options_;
};

// gemmi's own checks (missing values, duplicate tags), with our line numbers.
void checkDocument(const cif::Document& doc, std::string_view source, std::size_t lineOffset) {
  auto fail = [&](const cif::Block& b, int line, const std::string& what) {
    throw ChemError(std::string(source) + ":" + std::to_string(static_cast<std::size_t>(line) + lineOffset) +
                    ": data block '" + b.name + "': " + what);
  };
  for (const cif::Block& block : doc.blocks) {
    std::vector<std::string> seen;
    auto addTag = [&](const std::string& tag, int line) {
      const std::string low = gemmi::to_lower(tag);
      for (const std::string& s : seen)
        if (s == low) fail(block, line, "duplicate tag " + tag);
      seen.push_back(low);
    };
    for (const cif::Item& item : block.items) {
      if (item.type == cif::ItemType::Pair) {
        if (item.pair[1].empty()) fail(block, item.line_number, item.pair[0] + " has no value");
        addTag(item.pair[0], item.line_number);
      } else if (item.type == cif::ItemType::Loop) {
        for (const std::string& t : item.loop.tags) addTag(t, item.line_number);
      }
    }
  }
}

}  // namespace

Trajectory readCifString(std::string_view text, std::string_view sourceName, const CifReadOptions& options,
                         std::size_t firstLine) {
  const std::size_t lineOffset = firstLine > 0 ? firstLine - 1 : 0;
  cif::Document doc;
  try {
    pegtl::memory_input<> in(text.data(), text.size(), std::string(sourceName));
    cif::parse_input(doc, in);
  } catch (const pegtl::parse_error& e) {
    std::size_t line = e.positions().empty() ? 0 : e.positions().front().line;
    std::string message = e.what();
    // PEGTL prefixes "source:line:column(byte): "; keep only what was wrong.
    if (const std::size_t cut = message.find(": "); cut != std::string::npos) message = message.substr(cut + 2);
    throw ChemError(std::string(sourceName) + ":" + std::to_string(line + lineOffset) + ": CIF syntax: " + message);
  } catch (const std::exception& e) {
    throw ChemError(std::string(sourceName) + ": CIF syntax: " + e.what());
  }
  checkDocument(doc, sourceName, lineOffset);
  Trajectory frames;
  std::size_t atoms = 0;
  for (const cif::Block& block : doc.blocks) {
    CifBlockReader reader(block, sourceName, lineOffset, options);
    if (!reader.hasAtoms()) continue;
    frames.push_back(reader.read());
    atoms += frames.back().size();
    if (atoms > options.maxAtoms)
      throw ChemError(std::string(sourceName) + ": more than " + std::to_string(options.maxAtoms) + " atoms in all blocks");
  }
  if (frames.empty())
    throw ChemError(std::string(sourceName) + ":" + std::to_string(firstLine) +
                    ": no data block has atom sites with fractional coordinates (_atom_site_fract_x, ...)");
  return frames;
}

Trajectory readCif(const std::filesystem::path& path, const CifReadOptions& options) {
  const std::string bytes = text::readFile(path);
  return readCifString(bytes, path.string(), options);
}

}  // namespace atomscope::chem
