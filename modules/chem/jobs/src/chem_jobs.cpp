#include "atomscope/chem/chem_jobs.h"

namespace atomscope::chem {

void registerChemJobs(core::JobRegistry& registry) {
  registerChemIoJobs(registry);
  registerChemAnalysisJobs(registry);
}

}  // namespace atomscope::chem
