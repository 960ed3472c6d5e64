#include "atomscope/chem/chem_jobs.h"

namespace atomscope::chem {

void registerChemIoJobs(core::JobRegistry& /*registry*/) {}

}  // namespace atomscope::chem
