#pragma once
// GFN2-xTB (Bannwarth, Ehlert, Grimme 2019) through Debian's xtb program: the structure is written
// to a fresh temporary folder, `xtb in.xyz --gfn 2 --grad` runs there, and the energy and gradient
// files it writes (Turbomole format, Hartree and Hartree/Bohr) are read back and converted to eV and
// eV/A. Molecules only: GFN2 in xtb has no periodic boundary conditions.
#include <filesystem>
#include <string>

#include "atomscope/forcefield/calculator.h"

namespace atomscope::forcefield {

// ASE's ase.units (CODATA 2014), so labels match what ASE-based tools write.
inline constexpr double kHartreeEv = 27.211386024367243;
inline constexpr double kBohrAngstrom = 0.5291772105638411;

struct XtbOptions {
  std::string executable = "/usr/bin/xtb";
  int charge = 0;
  int unpaired = 0;          // --uhf
  double accuracy = 0.1;     // --acc (smaller is tighter; xtb's default is 1)
  int threads = 1;           // OMP_NUM_THREADS for the subprocess
  bool keepFolder = false;   // keep the temp folder (debugging)
};

class XtbCalculator : public Calculator {
 public:
  explicit XtbCalculator(XtbOptions options = {});
  std::string name() const override { return "xtb (GFN2)"; }
  // Throws ForceFieldError when xtb is missing, the structure is periodic, xtb fails (its last
  // output lines are quoted) or its files cannot be parsed (file and line named).
  CalcResult compute(const chem::Structure& structure, bool stress = false) override;

 private:
  XtbOptions options_;
};

// Parses xtb's Turbomole-format gradient file: energy (eV) and forces (eV/A) for `atoms` atoms.
// Throws ForceFieldError naming the file and line.
CalcResult parseXtbGradient(const std::string& text, std::size_t atoms, const std::string& fileName);

}  // namespace atomscope::forcefield
