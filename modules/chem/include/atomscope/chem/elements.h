#pragma once
// The periodic table as the viewer and the bond finder need it.
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace atomscope::chem {

constexpr int kMaxAtomicNumber = 118;

struct Element {
  int z;
  const char* symbol;
  const char* name;
  double mass;             // standard atomic weight (u)
  double covalentRadius;   // Angstrom, Cordero et al. 2008
  double vdwRadius;        // Angstrom, Alvarez 2013; 0 where the paper gives none
  std::uint32_t jmolColor; // 0xRRGGBB, Jmol's default CPK colours

  std::array<double, 3> colorRgb() const {  // 0..1
    return {((jmolColor >> 16) & 0xFF) / 255.0, ((jmolColor >> 8) & 0xFF) / 255.0,
            (jmolColor & 0xFF) / 255.0};
  }
  // The van der Waals radius, or 1.2 x covalent radius where Alvarez gives none.
  double displayVdwRadius() const { return vdwRadius > 0 ? vdwRadius : 1.2 * covalentRadius; }
};

// Element by atomic number 1..118; throws ChemError otherwise.
const Element& element(int z);
bool isValidAtomicNumber(int z);
// Atomic number of a symbol, case-insensitive ("C", "cl", "CL" -> 17); 0 if unknown.
int atomicNumber(std::string_view symbol);
// Element counts of a plain formula such as "C7H10O2" or "NaCl" (symbols case-sensitive, each followed by an
// optional count; no brackets or charges): atomic number -> count. Throws ChemError naming what is wrong.
std::map<int, int> parseFormula(std::string_view formula);
// The Hill formula of element counts (atomic number -> count), as ASE's get_chemical_formula('hill'): C, then H,
// then the rest alphabetically; without carbon everything alphabetically. parseFormula reads it back.
std::string hillFormula(const std::map<int, int>& counts);

}  // namespace atomscope::chem
