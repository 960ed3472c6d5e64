#pragma once
// Jobs of the masa module. Each group lives in its own source file.
#include "atomscope/core/job.h"

namespace atomscope::masa {

void registerMasaJobs(core::JobRegistry& registry);
void registerCompressJobs(core::JobRegistry& registry);  // compress_jobs.cpp: masa.compress, masa.export, ...

}  // namespace atomscope::masa
