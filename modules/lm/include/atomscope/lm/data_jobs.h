#pragma once
// Data-preparation jobs of the lm module:
//   lm.tokenize  text file or folder -> token shards (uint16/uint32) + index.json, train/validation split
#include "atomscope/core/job.h"

namespace atomscope::lm {

void registerDataJobs(core::JobRegistry& registry);

}  // namespace atomscope::lm
