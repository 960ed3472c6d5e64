#include "atomscope/chem/chem_jobs.h"

namespace atomscope::chem {

void registerChemAnalysisJobs(core::JobRegistry& /*registry*/) {}

}  // namespace atomscope::chem
