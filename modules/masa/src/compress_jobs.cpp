#include "atomscope/masa/masa_jobs.h"

namespace atomscope::masa {

void registerCompressJobs(core::JobRegistry& /*registry*/) {}

}  // namespace atomscope::masa
