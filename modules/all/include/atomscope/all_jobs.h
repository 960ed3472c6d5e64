#pragma once
#include "atomscope/core/job.h"

namespace atomscope {
// Registers the jobs of every module this build contains; both front ends call it at start-up.
void registerAllJobs(core::JobRegistry& registry);
}  // namespace atomscope
