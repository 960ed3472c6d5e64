#include "atomscope/chem/elements.h"

#include <cctype>
#include <string>

#include "atomscope/chem/error.h"

namespace atomscope::chem {
namespace {

// Sources:
// - symbols, names;
// - masses: IUPAC 2016 standard atomic weights (abridged), mass number of the longest-lived
//   isotope for elements without one, as tabulated in ase.data.atomic_masses (ASE 3.22);
// - covalent radii: B. Cordero et al., "Covalent radii revisited", Dalton Trans. 2008, 2832-2838
//   (C sp3 0.76, Mn/Fe/Co low spin); Cordero gives none beyond Cm (96): 1.50 is a placeholder;
// - van der Waals radii: S. Alvarez, "A cartography of the van der Waals territories",
//   Dalton Trans. 2013, 42, 8617 (0 where the paper gives none);
// - colours: Jmol's default CPK colours (jmol.sourceforge.net/jscolors) for Z 1..109; heavier
//   elements, which Jmol leaves out, get deep pink 0xFF1493.
// The numbers were transcribed from ASE 3.22's ase.data tables, which cite the same sources;
// tests/chem/test_elements.cpp checks them against the papers for a few elements and against ASE.
constexpr Element kElements[kMaxAtomicNumber] = {
    {1, "H", "Hydrogen", 1.008, 0.31, 1.20, 0xFFFFFF},
    {2, "He", "Helium", 4.002602, 0.28, 1.43, 0xD9FFFF},
    {3, "Li", "Lithium", 6.94, 1.28, 2.12, 0xCC80FF},
    {4, "Be", "Beryllium", 9.0121831, 0.96, 1.98, 0xC2FF00},
    {5, "B", "Boron", 10.81, 0.84, 1.91, 0xFFB5B5},
    {6, "C", "Carbon", 12.011, 0.76, 1.77, 0x909090},
    {7, "N", "Nitrogen", 14.007, 0.71, 1.66, 0x3050F8},
    {8, "O", "Oxygen", 15.999, 0.66, 1.50, 0xFF0D0D},
    {9, "F", "Fluorine", 18.998403163, 0.57, 1.46, 0x90E050},
    {10, "Ne", "Neon", 20.1797, 0.58, 1.58, 0xB3E3F5},
    {11, "Na", "Sodium", 22.98976928, 1.66, 2.50, 0xAB5CF2},
    {12, "Mg", "Magnesium", 24.305, 1.41, 2.51, 0x8AFF00},
    {13, "Al", "Aluminium", 26.9815385, 1.21, 2.25, 0xBFA6A6},
    {14, "Si", "Silicon", 28.085, 1.11, 2.19, 0xF0C8A0},
    {15, "P", "Phosphorus", 30.973761998, 1.07, 1.90, 0xFF8000},
    {16, "S", "Sulfur", 32.06, 1.05, 1.89, 0xFFFF30},
    {17, "Cl", "Chlorine", 35.45, 1.02, 1.82, 0x1FF01F},
    {18, "Ar", "Argon", 39.948, 1.06, 1.83, 0x80D1E3},
    {19, "K", "Potassium", 39.0983, 2.03, 2.73, 0x8F40D4},
    {20, "Ca", "Calcium", 40.078, 1.76, 2.62, 0x3DFF00},
    {21, "Sc", "Scandium", 44.955908, 1.70, 2.58, 0xE6E6E6},
    {22, "Ti", "Titanium", 47.867, 1.60, 2.46, 0xBFC2C7},
    {23, "V", "Vanadium", 50.9415, 1.53, 2.42, 0xA6A6AB},
    {24, "Cr", "Chromium", 51.9961, 1.39, 2.45, 0x8A99C7},
    {25, "Mn", "Manganese", 54.938044, 1.39, 2.45, 0x9C7AC7},
    {26, "Fe", "Iron", 55.845, 1.32, 2.44, 0xE06633},
    {27, "Co", "Cobalt", 58.933194, 1.26, 2.40, 0xF090A0},
    {28, "Ni", "Nickel", 58.6934, 1.24, 2.40, 0x50D050},
    {29, "Cu", "Copper", 63.546, 1.32, 2.38, 0xC88033},
    {30, "Zn", "Zinc", 65.38, 1.22, 2.39, 0x7D80B0},
    {31, "Ga", "Gallium", 69.723, 1.22, 2.32, 0xC28F8F},
    {32, "Ge", "Germanium", 72.63, 1.20, 2.29, 0x668F8F},
    {33, "As", "Arsenic", 74.921595, 1.19, 1.88, 0xBD80E3},
    {34, "Se", "Selenium", 78.971, 1.20, 1.82, 0xFFA100},
    {35, "Br", "Bromine", 79.904, 1.20, 1.86, 0xA62929},
    {36, "Kr", "Krypton", 83.798, 1.16, 2.25, 0x5CB8D1},
    {37, "Rb", "Rubidium", 85.4678, 2.20, 3.21, 0x702EB0},
    {38, "Sr", "Strontium", 87.62, 1.95, 2.84, 0x00FF00},
    {39, "Y", "Yttrium", 88.90584, 1.90, 2.75, 0x94FFFF},
    {40, "Zr", "Zirconium", 91.224, 1.75, 2.52, 0x94E0E0},
    {41, "Nb", "Niobium", 92.90637, 1.64, 2.56, 0x73C2C9},
    {42, "Mo", "Molybdenum", 95.95, 1.54, 2.45, 0x54B5B5},
    {43, "Tc", "Technetium", 97.90721, 1.47, 2.44, 0x3B9E9E},
    {44, "Ru", "Ruthenium", 101.07, 1.46, 2.46, 0x248F8F},
    {45, "Rh", "Rhodium", 102.9055, 1.42, 2.44, 0x0A7D8C},
    {46, "Pd", "Palladium", 106.42, 1.39, 2.15, 0x006985},
    {47, "Ag", "Silver", 107.8682, 1.45, 2.53, 0xC0C0C0},
    {48, "Cd", "Cadmium", 112.414, 1.44, 2.49, 0xFFD98F},
    {49, "In", "Indium", 114.818, 1.42, 2.43, 0xA67573},
    {50, "Sn", "Tin", 118.71, 1.39, 2.42, 0x668080},
    {51, "Sb", "Antimony", 121.76, 1.39, 2.47, 0x9E63B5},
    {52, "Te", "Tellurium", 127.6, 1.38, 1.99, 0xD47A00},
    {53, "I", "Iodine", 126.90447, 1.39, 2.04, 0x940094},
    {54, "Xe", "Xenon", 131.293, 1.40, 2.06, 0x429EB0},
    {55, "Cs", "Caesium", 132.90545196, 2.44, 3.48, 0x57178F},
    {56, "Ba", "Barium", 137.327, 2.15, 3.03, 0x00C900},
    {57, "La", "Lanthanum", 138.90547, 2.07, 2.98, 0x70D4FF},
    {58, "Ce", "Cerium", 140.116, 2.04, 2.88, 0xFFFFC7},
    {59, "Pr", "Praseodymium", 140.90766, 2.03, 2.92, 0xD9FFC7},
    {60, "Nd", "Neodymium", 144.242, 2.01, 2.95, 0xC7FFC7},
    {61, "Pm", "Promethium", 144.91276, 1.99, 0.00, 0xA3FFC7},
    {62, "Sm", "Samarium", 150.36, 1.98, 2.90, 0x8FFFC7},
    {63, "Eu", "Europium", 151.964, 1.98, 2.87, 0x61FFC7},
    {64, "Gd", "Gadolinium", 157.25, 1.96, 2.83, 0x45FFC7},
    {65, "Tb", "Terbium", 158.92535, 1.94, 2.79, 0x30FFC7},
    {66, "Dy", "Dysprosium", 162.5, 1.92, 2.87, 0x1FFFC7},
    {67, "Ho", "Holmium", 164.93033, 1.92, 2.81, 0x00FF9C},
    {68, "Er", "Erbium", 167.259, 1.89, 2.83, 0x00E675},
    {69, "Tm", "Thulium", 168.93422, 1.90, 2.79, 0x00D452},
    {70, "Yb", "Ytterbium", 173.054, 1.87, 2.80, 0x00BF38},
    {71, "Lu", "Lutetium", 174.9668, 1.87, 2.74, 0x00AB24},
    {72, "Hf", "Hafnium", 178.49, 1.75, 2.63, 0x4DC2FF},
    {73, "Ta", "Tantalum", 180.94788, 1.70, 2.53, 0x4DA6FF},
    {74, "W", "Tungsten", 183.84, 1.62, 2.57, 0x2194D6},
    {75, "Re", "Rhenium", 186.207, 1.51, 2.49, 0x267DAB},
    {76, "Os", "Osmium", 190.23, 1.44, 2.48, 0x266696},
    {77, "Ir", "Iridium", 192.217, 1.41, 2.41, 0x175487},
    {78, "Pt", "Platinum", 195.084, 1.36, 2.29, 0xD0D0E0},
    {79, "Au", "Gold", 196.966569, 1.36, 2.32, 0xFFD123},
    {80, "Hg", "Mercury", 200.592, 1.32, 2.45, 0xB8B8D0},
    {81, "Tl", "Thallium", 204.38, 1.45, 2.47, 0xA6544D},
    {82, "Pb", "Lead", 207.2, 1.46, 2.60, 0x575961},
    {83, "Bi", "Bismuth", 208.9804, 1.48, 2.54, 0x9E4FB5},
    {84, "Po", "Polonium", 208.98243, 1.40, 0.00, 0xAB5C00},
    {85, "At", "Astatine", 209.98715, 1.50, 0.00, 0x754F45},
    {86, "Rn", "Radon", 222.01758, 1.50, 0.00, 0x428296},
    {87, "Fr", "Francium", 223.01974, 2.60, 0.00, 0x420066},
    {88, "Ra", "Radium", 226.02541, 2.21, 0.00, 0x007D00},
    {89, "Ac", "Actinium", 227.02775, 2.15, 2.80, 0x70ABFA},
    {90, "Th", "Thorium", 232.0377, 2.06, 2.93, 0x00BAFF},
    {91, "Pa", "Protactinium", 231.03588, 2.00, 2.88, 0x00A1FF},
    {92, "U", "Uranium", 238.02891, 1.96, 2.71, 0x008FFF},
    {93, "Np", "Neptunium", 237.04817, 1.90, 2.82, 0x0080FF},
    {94, "Pu", "Plutonium", 244.06421, 1.87, 2.81, 0x006BFF},
    {95, "Am", "Americium", 243.06138, 1.80, 2.83, 0x545CF2},
    {96, "Cm", "Curium", 247.07035, 1.69, 3.05, 0x785CE3},
    {97, "Bk", "Berkelium", 247.07031, 1.50, 3.40, 0x8A4FE3},
    {98, "Cf", "Californium", 251.07959, 1.50, 3.05, 0xA136D4},
    {99, "Es", "Einsteinium", 252.083, 1.50, 2.70, 0xB31FD4},
    {100, "Fm", "Fermium", 257.09511, 1.50, 0.00, 0xB31FBA},
    {101, "Md", "Mendelevium", 258.09843, 1.50, 0.00, 0xB30DA6},
    {102, "No", "Nobelium", 259.101, 1.50, 0.00, 0xBD0D87},
    {103, "Lr", "Lawrencium", 262.11, 1.50, 0.00, 0xC70066},
    {104, "Rf", "Rutherfordium", 267.122, 1.50, 0.00, 0xCC0059},
    {105, "Db", "Dubnium", 268.126, 1.50, 0.00, 0xD1004F},
    {106, "Sg", "Seaborgium", 271.134, 1.50, 0.00, 0xD90045},
    {107, "Bh", "Bohrium", 270.133, 1.50, 0.00, 0xE00038},
    {108, "Hs", "Hassium", 269.1338, 1.50, 0.00, 0xE6002E},
    {109, "Mt", "Meitnerium", 278.156, 1.50, 0.00, 0xEB0026},
    {110, "Ds", "Darmstadtium", 281.165, 1.50, 0.00, 0xFF1493},
    {111, "Rg", "Roentgenium", 281.166, 1.50, 0.00, 0xFF1493},
    {112, "Cn", "Copernicium", 285.177, 1.50, 0.00, 0xFF1493},
    {113, "Nh", "Nihonium", 286.182, 1.50, 0.00, 0xFF1493},
    {114, "Fl", "Flerovium", 289.19, 1.50, 0.00, 0xFF1493},
    {115, "Mc", "Moscovium", 289.194, 1.50, 0.00, 0xFF1493},
    {116, "Lv", "Livermorium", 293.204, 1.50, 0.00, 0xFF1493},
    {117, "Ts", "Tennessine", 293.208, 1.50, 0.00, 0xFF1493},
    {118, "Og", "Oganesson", 294.214, 1.50, 0.00, 0xFF1493},
};

}  // namespace

bool isValidAtomicNumber(int z) { return z >= 1 && z <= kMaxAtomicNumber; }

const Element& element(int z) {
  if (!isValidAtomicNumber(z))
    throw ChemError("atomic number " + std::to_string(z) + " is outside 1..118");
  return kElements[z - 1];
}

int atomicNumber(std::string_view symbol) {
  if (symbol.empty() || symbol.size() > 3) return 0;
  std::string s(symbol);
  s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  for (std::size_t k = 1; k < s.size(); ++k)
    s[k] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[k])));
  for (const Element& e : kElements)
    if (s == e.symbol) return e.z;
  return 0;
}

std::map<int, int> parseFormula(std::string_view formula) {
  const std::string text(formula);
  auto fail = [&](const std::string& why) { throw ChemError("formula '" + text + "': " + why); };
  std::map<int, int> counts;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!std::isupper(static_cast<unsigned char>(text[i])))
      fail("expected an element symbol at position " + std::to_string(i + 1));
    std::string symbol(1, text[i++]);
    while (i < text.size() && std::islower(static_cast<unsigned char>(text[i]))) symbol += text[i++];
    const int z = atomicNumber(symbol);
    if (z == 0 || symbol != element(z).symbol) fail("unknown element '" + symbol + "'");
    long long n = 0;
    const std::size_t digits = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      n = n * 10 + (text[i++] - '0');
      if (n > 1000000) fail("count too large for '" + symbol + "'");
    }
    if (i == digits) n = 1;
    if (n == 0) fail("zero count for '" + symbol + "'");
    if (counts[z] + n > 1000000) fail("count too large for '" + symbol + "'");
    counts[z] += static_cast<int>(n);
  }
  if (counts.empty()) fail("no elements");
  return counts;
}

std::string hillFormula(const std::map<int, int>& counts) {
  std::map<std::string, int> bySymbol;
  for (const auto& [z, n] : counts)
    if (n > 0) bySymbol[element(z).symbol] += n;
  std::string out;
  auto put = [&](const std::string& symbol) {
    auto it = bySymbol.find(symbol);
    if (it == bySymbol.end()) return;
    out += symbol;
    if (it->second > 1) out += std::to_string(it->second);
    bySymbol.erase(it);
  };
  if (bySymbol.count("C")) {
    put("C");
    put("H");
  }
  while (!bySymbol.empty()) put(bySymbol.begin()->first);  // std::map: alphabetical
  return out;
}

}  // namespace atomscope::chem
