#include "atomscope/nas/param_budget.h"

#include <map>
#include <tuple>

#include "atomscope/nas/supernet.h"

namespace atomscope::nas {

std::vector<std::int64_t> architectureParameterCounts(const SearchSpace& space) {
  const auto& depths = space.of(Dim::Layers);
  const auto d1 = depths.front();
  const auto d2 = depths.size() > 1 ? depths[1] : d1;
  // (heads, embed, ratio, atoms) -> counts at depths d1 and d2
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t>, std::pair<std::int64_t, std::int64_t>> shallow;
  std::vector<std::int64_t> counts;
  counts.reserve(static_cast<std::size_t>(space.numArchitectures()));
  for (std::int64_t i = 0; i < space.numArchitectures(); ++i) {
    const auto a = space.at(i);
    const auto key = std::make_tuple(a.heads, a.embed, a.mlpRatio, a.atoms);
    auto it = shallow.find(key);
    if (it == shallow.end()) {
      auto b = a;
      b.layers = d1;
      const auto p1 = createArchitectureModel(space, b)->numParameters();
      b.layers = d2;
      const auto p2 = d2 == d1 ? p1 : createArchitectureModel(space, b)->numParameters();
      it = shallow.emplace(key, std::make_pair(p1, p2)).first;
    }
    const auto [p1, p2] = it->second;
    counts.push_back(d2 == d1 ? p1 : p1 + (a.layers - d1) * (p2 - p1) / (d2 - d1));
  }
  return counts;
}

torch::Tensor expectedParameters(const SearchSpace& space, const std::vector<std::int64_t>& counts, const ArchWeights& w) {
  if (static_cast<std::int64_t>(counts.size()) != space.numArchitectures())
    throw NasError("expected parameters: " + std::to_string(counts.size()) + " counts for a space of " +
                   std::to_string(space.numArchitectures()) + " architectures");
  // The joint weights as an outer product in SearchSpace::at order: layers slowest, atoms fastest.
  auto joint = w[0].to(torch::kFloat32).reshape({-1});
  for (int d = 1; d < kNumDims; ++d) joint = torch::outer(joint, w[d].to(torch::kFloat32).to(joint.device())).reshape({-1});
  if (space.hasAtoms()) joint = torch::outer(joint, w.atoms.to(torch::kFloat32).to(joint.device())).reshape({-1});
  return (joint * torch::tensor(counts).to(joint.options())).sum();
}

}  // namespace atomscope::nas
