#include "atomscope/all_jobs.h"

#include "atomscope/adit/adit_jobs.h"
#include "atomscope/chem/chem_jobs.h"
#include "atomscope/forcefield/ff_jobs.h"
#include "atomscope/lm/data_jobs.h"
#include "atomscope/lm/lm_jobs.h"
#include "atomscope/masa/masa_jobs.h"
#include "atomscope/nas/nas_jobs.h"
#include "atomscope/sae/sae_jobs.h"

namespace atomscope {

void registerAllJobs(core::JobRegistry& registry) {
  if (registry.contains("core.gemm_benchmark")) return;  // already done
  core::registerCoreJobs(registry);
  lm::registerDataJobs(registry);
  lm::registerLmJobs(registry);
  chem::registerChemJobs(registry);
  masa::registerMasaJobs(registry);
  sae::registerSaeJobs(registry);
  adit::registerAditJobs(registry);
  forcefield::registerForceFieldJobs(registry);
  nas::registerNasJobs(registry);
}

}  // namespace atomscope
