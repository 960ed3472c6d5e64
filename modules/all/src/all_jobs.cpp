#include "atomscope/all_jobs.h"

namespace atomscope {

void registerAllJobs(core::JobRegistry& registry) {
  if (registry.contains("core.gemm_benchmark")) return;  // already done
  core::registerCoreJobs(registry);
}

}  // namespace atomscope
