#pragma once
// The architecture-search jobs (torch-free header):
//   nas.search         TangleNAS search (DARTS, GDAS or DrNAS architecture weights) of a supernet over
//                      layers / heads / embedding / MLP ratio; streams losses and architecture weights;
//                      artifacts arch.json (the argmax architecture, with lm.train's parameters),
//                      alphas_history.json and supernet.pt
//   nas.evaluate       the chosen (or any) architecture of a search: inherited weights fine-tuned, or
//                      trained from scratch; validation perplexity and parameter count
//   nas.random_search  K random architectures of a space, each trained from scratch on an equal share
//                      of the budget; a table of their perplexities and sizes
#include "atomscope/core/job.h"

namespace atomscope::nas {

void registerNasJobs(core::JobRegistry& registry);

}  // namespace atomscope::nas
