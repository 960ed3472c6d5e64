#include "atomscope/masa/masa_jobs.h"

#include "atomscope/masa/attention.h"

namespace atomscope::masa {

void registerMasaJobs(core::JobRegistry& registry) {
  registerAttentionVariants();  // lm.train's 'attention' choices
  registerCompressJobs(registry);
}

}  // namespace atomscope::masa
