#pragma once
// Jobs of the chem module, for the CLI and the GUI. Each group lives in its own source file.
#include "atomscope/core/job.h"

namespace atomscope::chem {

void registerChemJobs(core::JobRegistry& registry);
void registerChemIoJobs(core::JobRegistry& registry);        // chem_io_jobs.cpp: chem.convert, ...
void registerChemAnalysisJobs(core::JobRegistry& registry);  // chem_analysis_jobs.cpp: chem.validity, chem.symmetry, chem.match, ...

}  // namespace atomscope::chem
