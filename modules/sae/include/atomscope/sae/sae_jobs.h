#pragma once
// Jobs of the sae module: sae.collect, sae.train, sae.analyze, sae.index.
#include "atomscope/core/job.h"

namespace atomscope::sae {

void registerSaeJobs(core::JobRegistry& registry);

}  // namespace atomscope::sae
