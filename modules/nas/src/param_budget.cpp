#include "atomscope/nas/param_budget.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <tuple>

#include "atomscope/core/torch_autocast.h"
#include "atomscope/lm/training.h"
#include "atomscope/nas/supernet.h"

namespace atomscope::nas {

namespace {

// One shallow measurement per (heads, embed, ratio, atoms), at the two smallest depths, then linear in
// depth: what counts and step times share.
template <typename Measure>
std::vector<double> linearInDepth(const SearchSpace& space, Measure measure, bool slopeAtLeastZero) {
  const auto& depths = space.of(Dim::Layers);
  const auto d1 = depths.front();
  const auto d2 = depths.size() > 1 ? depths[1] : d1;
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t>, std::pair<double, double>> shallow;
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(space.numArchitectures()));
  for (std::int64_t i = 0; i < space.numArchitectures(); ++i) {
    const auto a = space.at(i);
    const auto key = std::make_tuple(a.heads, a.embed, a.mlpRatio, a.atoms);
    auto it = shallow.find(key);
    if (it == shallow.end()) {
      auto b = a;
      b.layers = d1;
      const double v1 = measure(b);
      b.layers = d2;
      const double v2 = d2 == d1 ? v1 : measure(b);
      it = shallow.emplace(key, std::make_pair(v1, v2)).first;
    }
    const auto [v1, v2] = it->second;
    double slope = d2 == d1 ? 0.0 : (v2 - v1) / static_cast<double>(d2 - d1);
    if (slopeAtLeastZero) slope = std::max(0.0, slope);
    out.push_back(v1 + static_cast<double>(a.layers - d1) * slope);
  }
  return out;
}

}  // namespace

std::vector<double> architectureStepSeconds(const SearchSpace& space, const torch::Device& device, std::int64_t batch,
                                            std::int64_t context, bool autocast, int repeats) {
  if (repeats < 1) throw NasError("step times need at least one timed step");
  auto ids = torch::randint(0, space.vocabSize, {batch, context + 1}, torch::kLong).to(device);
  const auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  return linearInDepth(
      space,
      [&](const Architecture& a) {
        auto model = createArchitectureModel(space, a);
        model->to(device);
        model->train();
        torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(1e-4));
        lm::AdamWStepper stepper(opt);
        std::vector<double> seconds;
        for (int r = 0; r <= repeats; ++r) {  // r = 0: warm-up (allocations, kernel selection)
          sync();
          const auto t0 = std::chrono::steady_clock::now();
          opt.zero_grad();
          torch::Tensor loss;
          {
            core::CudaAutocast ac(autocast);
            loss = lm::languageModelLoss(*model, ids);
          }
          loss.backward();
          stepper.step();
          sync();
          if (r > 0) seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
        std::nth_element(seconds.begin(), seconds.begin() + static_cast<std::ptrdiff_t>(seconds.size() / 2), seconds.end());
        return seconds[seconds.size() / 2];
      },
      true);
}

std::vector<std::int64_t> architectureParameterCounts(const SearchSpace& space) {
  // Exact: every block of one (heads, embed, ratio, atoms) adds the same parameters.
  const auto v = linearInDepth(
      space, [&](const Architecture& a) { return static_cast<double>(createArchitectureModel(space, a)->numParameters()); },
      false);
  std::vector<std::int64_t> counts;
  for (const double x : v) counts.push_back(static_cast<std::int64_t>(std::llround(x)));
  return counts;
}

torch::Tensor expectedParameters(const SearchSpace& space, const std::vector<std::int64_t>& counts, const ArchWeights& w) {
  return expectedValue(space, std::vector<double>(counts.begin(), counts.end()), w);
}

torch::Tensor expectedValue(const SearchSpace& space, const std::vector<double>& table, const ArchWeights& w) {
  return expectedValue(space, torch::tensor(table, torch::kDouble), w);
}

torch::Tensor expectedValue(const SearchSpace& space, const torch::Tensor& table, const ArchWeights& w) {
  if (table.dim() != 1 || table.size(0) != space.numArchitectures())
    throw NasError("expected value: " + std::to_string(table.numel()) + " entries for a space of " +
                   std::to_string(space.numArchitectures()) + " architectures");
  // The joint weights as an outer product in SearchSpace::at order: layers slowest, atoms fastest.
  auto joint = w[0].to(torch::kFloat32).reshape({-1});
  for (int d = 1; d < kNumDims; ++d) joint = torch::outer(joint, w[d].to(torch::kFloat32).to(joint.device())).reshape({-1});
  if (space.hasAtoms()) joint = torch::outer(joint, w.atoms.to(torch::kFloat32).to(joint.device())).reshape({-1});
  return (joint * table.to(joint.options())).sum();  // no copy when the table is float32 on joint's device
}

}  // namespace atomscope::nas
