#pragma once
// The ADiT jobs: adit.prepare (training sets into shards), adit.train_vae, adit.train_dit (resumable,
// EMA, bf16 autocast on CUDA), adit.sample (N structures of a kind to extxyz / CIF) and
// adit.evaluate (validity, uniqueness, novelty table as JSON and CSV). See training.h.
#include "atomscope/core/job.h"

namespace atomscope::adit {

void registerAditJobs(core::JobRegistry& registry);

}  // namespace atomscope::adit
