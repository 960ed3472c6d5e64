#pragma once
// A trained PONITA model behind the Calculator interface.
#include "atomscope/forcefield/calculator.h"
#include "atomscope/forcefield/ponita.h"

namespace atomscope::forcefield {

class PonitaCalculator : public Calculator {
 public:
  PonitaCalculator(Ponita model, std::string label, torch::Device device = torch::kCPU, torch::Dtype dtype = torch::kFloat32);
  std::string name() const override { return "ponita:" + label_; }
  CalcResult compute(const chem::Structure& structure, bool stress = false) override;
  Ponita& model() { return model_; }

 private:
  Ponita model_;
  std::string label_;
  torch::Device device_;
  torch::Dtype dtype_;
  NeighborCache pairs_;  // MD and optimisers move atoms a little per call: the list is reused
};

}  // namespace atomscope::forcefield
