#include "atomscope/masa/masa_jobs.h"

namespace atomscope::masa {

void registerMasaJobs(core::JobRegistry& registry) { registerCompressJobs(registry); }

}  // namespace atomscope::masa
