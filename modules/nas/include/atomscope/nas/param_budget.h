#pragma once
// Resources over a search space, for a resource-aware search: the parameter count and the measured
// training-step time of every architecture, and the expectation of such a table under architecture
// weights (differentiable in them).
#include <torch/torch.h>

#include <vector>

#include "atomscope/nas/arch_weights.h"
#include "atomscope/nas/search_space.h"

namespace atomscope::nas {

// Parameters of every architecture of the space, in SearchSpace::at order. Built from standalone models
// of the two smallest depths only (every block adds the same parameters), so a space of deep models
// costs only shallow ones.
std::vector<std::int64_t> architectureParameterCounts(const SearchSpace& space);

// Sum over architectures of (product over dimensions of the weight of its choice) x its count: the
// expected parameter count when each dimension is drawn from its weights independently. counts as
// architectureParameterCounts gives them; w on any device.
torch::Tensor expectedParameters(const SearchSpace& space, const std::vector<std::int64_t>& counts, const ArchWeights& w);

// The same expectation for any per-architecture table (SearchSpace::at order). A search evaluates it
// every architecture step: give the table as a float32 tensor on w's device to skip the copy.
torch::Tensor expectedValue(const SearchSpace& space, const std::vector<double>& table, const ArchWeights& w);
torch::Tensor expectedValue(const SearchSpace& space, const torch::Tensor& table, const ArchWeights& w);

// Seconds of one training step (forward, backward and the AdamW update of a batch x context tokens,
// the median of `repeats` after one warm-up) of every architecture, in SearchSpace::at order, measured
// on `device`. As for the counts, only the two smallest depths are built; a block costs the same
// wherever it sits, so the time is linear in depth (the slope is kept >= 0 against timing noise).
// For searches judged at equal training time, where a faster architecture gets more steps.
std::vector<double> architectureStepSeconds(const SearchSpace& space, const torch::Device& device, std::int64_t batch,
                                            std::int64_t context, bool autocast, int repeats = 3);

}  // namespace atomscope::nas
