#pragma once
// A trained PONITA model behind the Calculator interface.
#include <memory>

#include "atomscope/forcefield/calculator.h"
#include "atomscope/forcefield/ponita.h"

namespace atomscope::lm {
class GraphedCall;
}

namespace atomscope::forcefield {

class PonitaCalculator : public Calculator {
 public:
  PonitaCalculator(Ponita model, std::string label, torch::Device device = torch::kCPU, torch::Dtype dtype = torch::kFloat32);
  ~PonitaCalculator() override;
  std::string name() const override { return "ponita:" + label_; }
  CalcResult compute(const chem::Structure& structure, bool stress = false) override;
  Ponita& model() { return model_; }

  // Small systems on CUDA (energy and forces, no stress) run as a CUDA graph replayed once per call:
  // such a step is bound by its hundreds of kernel launches. The graph covers every pair of the
  // neighbour list, the skin's included (their kernels are exactly zero), padded with weight-0 edges
  // (padEdges) to graphEdgeHeadroom more than the list had at the capture: a remade list of the same atoms
  // that fits is copied in and replayed, with no new capture (MD remakes the list every few tens of steps).
  // Used while the capacity times orientations times max(basis, hidden) stays at most graphMaxElements (a few
  // hundred atoms); larger systems are bound by arithmetic, where the skin's extra pairs would cost more than
  // launches. The first call runs eagerly; the capture comes with the second call on the same list.
  bool cudaGraph = true;
  std::int64_t graphMaxElements = std::int64_t{1} << 26;
  double graphEdgeHeadroom = 0.1;
  bool lastCallGraphed() const { return lastGraphed_; }
  std::size_t graphedCalls() const { return graphedCalls_; }  // calls answered by a replay so far
  std::size_t graphCaptures() const { return graphCaptures_; }  // captures made so far
  // Why the last capture failed (then cudaGraph is off and the calls run eagerly); empty if none did.
  const std::string& graphCaptureError() const { return captureError_; }

 private:
  CalcResult fromTensors(const chem::Structure& s, const torch::Tensor& energy, const torch::Tensor& forces) const;
  std::int64_t graphCapacityFor(std::int64_t edges) const;  // a capture's padded edges for a list of `edges`
  Ponita model_;
  std::string label_;
  torch::Device device_;
  torch::Dtype dtype_;
  NeighborCache pairs_;  // MD and optimisers move atoms a little per call: the list is reused
  std::vector<int> speciesOf_;
  torch::Tensor species_;
  // The captured call: its graph, static input (the padded candidate graph, positions copied in per call, edges
  // per list), packed output [energy, forces...] (float64), the list whose edges it holds, and its atoms.
  std::unique_ptr<lm::GraphedCall> graphed_;
  GraphBatch graphInput_;
  torch::Tensor graphOutput_;
  std::size_t graphList_ = 0;
  std::vector<int> graphNumbers_;
  std::size_t graphCaptures_ = 0;
  std::size_t listSeen_ = 0;  // the neighbour list of the last call, and the calls made on it
  int callsOnList_ = 0;
  bool lastGraphed_ = false;
  std::size_t graphedCalls_ = 0;
  std::string captureError_;
};

}  // namespace atomscope::forcefield
