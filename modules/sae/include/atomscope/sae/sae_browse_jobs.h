#pragma once
// Jobs behind the Atoms plugin's actions (each one runnable from the CLI too):
//   sae.encode_text  runs the model on a text and lists, per token, the atoms that fire there
//   sae.neighbors    nearest atoms of every atom under the AIP and under plain cosine
//   sae.export       writes an SAE folder in SAELens' layout (sae_weights.safetensors + cfg.json)
//   sae.import       reads a SAELens-layout folder (validated) into a run's artifacts/sae
#include "atomscope/core/job.h"

namespace atomscope::sae {

void registerSaeBrowseJobs(core::JobRegistry& registry);

}  // namespace atomscope::sae
