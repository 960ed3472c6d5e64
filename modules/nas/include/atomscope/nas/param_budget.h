#pragma once
// Parameter counts over a search space, for a resource-aware search: the count of every architecture
// and the expected count under architecture weights (differentiable in them).
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

}  // namespace atomscope::nas
