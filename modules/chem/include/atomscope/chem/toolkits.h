#pragma once
// Which chemistry toolkits this build of atomscope_chem has (RDKit, Open Babel, gemmi, spglib).
#include <string>

namespace atomscope::chem {

// True when built with ATOMSCOPE_CHEM_TOOLKITS (the desktop build; the GPU build has none).
constexpr bool hasToolkits() {
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
  return true;
#else
  return false;
#endif
}

#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
// "RDKit 2022.09.3, Open Babel 3.1.1, gemmi 0.5.7, spglib 2.0.2"
std::string toolkitVersions();
#endif

}  // namespace atomscope::chem
