// Versions of the chemistry toolkits linked into atomscope_chem (shown in run.json and About).
#include <GraphMol/RDKitBase.h>
#include <RDGeneral/versions.h>
#include <gemmi/version.hpp>
#include <openbabel/babelconfig.h>
#include <spglib.h>

#include <string>

#include "atomscope/chem/toolkits.h"

namespace atomscope::chem {

std::string toolkitVersions() {
  return std::string("RDKit ") + RDKit::rdkitVersion + ", Open Babel " + BABEL_VERSION + ", gemmi " + GEMMI_VERSION +
         ", spglib " + std::to_string(spg_get_major_version()) + "." + std::to_string(spg_get_minor_version()) + "." +
         std::to_string(spg_get_micro_version());
}

}  // namespace atomscope::chem
