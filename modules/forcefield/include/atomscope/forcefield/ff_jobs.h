#pragma once
// The force-field jobs: ff.train (PONITA on extxyz), ff.evaluate (MAE / RMSE and parity CSVs),
// ff.predict, ff.label (xtb or any model to extxyz), ff.optimize (FIRE / L-BFGS) and ff.md
// (NVE / Langevin). Models are given as calculator specs: a PONITA file, a TorchScript file or "xtb".
#include "atomscope/core/job.h"

namespace atomscope::forcefield {

void registerForceFieldJobs(core::JobRegistry& registry);

}  // namespace atomscope::forcefield
