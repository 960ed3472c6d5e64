// Training-step helpers (training.h): clipping and AdamW against LibTorch's own implementations on
// the same model and gradients (the reference: torch::nn::utils::clip_grad_norm_ and torch::optim::AdamW).
#include <gtest/gtest.h>

#include "atomscope/lm/cuda_graph.h"
#include "atomscope/lm/model.h"
#include "atomscope/lm/training.h"

using namespace atomscope::lm;

namespace {

CausalLM tinyLlama(const torch::Device& device) {
  ModelConfig c;
  c.family = ModelFamily::Llama;
  c.dim = 64;
  c.nLayers = 2;
  c.nHeads = 4;
  c.nKvHeads = 2;
  c.hiddenDim = 160;
  c.vocabSize = 97;
  c.maxSeqLen = 32;
  torch::manual_seed(3);
  auto m = createModel(c);
  m->to(device);
  return m;
}

void backwardOnce(CausalLMImpl& m, std::int64_t seed) {
  torch::manual_seed(seed);
  auto ids = torch::randint(97, {2, 17}, torch::TensorOptions().dtype(torch::kLong).device(m.parameters().front().device()));
  languageModelLoss(m, ids).backward();
}

std::vector<torch::Tensor> clonedGrads(CausalLMImpl& m) {
  std::vector<torch::Tensor> g;
  for (auto& p : m.parameters()) g.push_back(p.grad().clone());
  return g;
}

void runOptimizer(CausalLMImpl& m, bool useStepper, bool allowFused, int steps) {
  torch::optim::AdamW opt(m.parameters(), torch::optim::AdamWOptions(1e-2).betas({0.9, 0.95}).weight_decay(0.1));
  AdamWStepper stepper(opt, allowFused);
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    backwardOnce(m, 100 + s);
    if (useStepper) stepper.step();
    else opt.step();
  }
}

void expectSameParameters(CausalLMImpl& a, CausalLMImpl& b, double tol) {
  auto pa = a.parameters(), pb = b.parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i)
    EXPECT_TRUE(torch::allclose(pa[i].cpu(), pb[i].cpu(), tol, tol)) << "parameter " << i;
}

}  // namespace

TEST(LmTraining, ClipGradNormEqualsLibTorch) {
  for (double maxNorm : {1e-3, 0.5, 1e30}) {
    auto a = tinyLlama(torch::kCPU), b = tinyLlama(torch::kCPU);
    backwardOnce(*a, 7);
    backwardOnce(*b, 7);
    const double ref = torch::nn::utils::clip_grad_norm_(a->parameters(), maxNorm);
    const auto ours = clipGradNorm(b->parameters(), maxNorm);
    EXPECT_EQ(ours.dim(), 0);
    EXPECT_NEAR(ours.item<double>(), ref, 1e-5 * ref);
    const auto ga = clonedGrads(*a), gb = clonedGrads(*b);
    for (std::size_t i = 0; i < ga.size(); ++i) EXPECT_TRUE(torch::allclose(ga[i], gb[i], 1e-6, 1e-7)) << i;
  }
  EXPECT_EQ(clipGradNorm({torch::zeros({3}, torch::requires_grad())}, 1.0).item<double>(), 0.0);  // no gradients
}

TEST(LmTraining, AdamWStepperOnCpuIsTheOptimizersStep) {
  auto a = tinyLlama(torch::kCPU), b = tinyLlama(torch::kCPU);
  runOptimizer(*a, false, true, 3);
  runOptimizer(*b, true, true, 3);
  expectSameParameters(*a, *b, 0.0);
}

// The fused CUDA kernel against LibTorch's per-parameter AdamW on the same GPU (tests/gpu runs this).
TEST(LmTraining, FusedAdamWOnCudaMatchesPlainAdamW) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device cuda(torch::kCUDA);
  auto a = tinyLlama(cuda), b = tinyLlama(cuda);
  runOptimizer(*a, false, true, 5);
  runOptimizer(*b, true, true, 5);
  expectSameParameters(*a, *b, 1e-5);
  torch::optim::AdamW opt(b->parameters(), torch::optim::AdamWOptions(1e-3));
  AdamWStepper stepper(opt);
  opt.zero_grad();
  backwardOnce(*b, 1);
  stepper.step();
  EXPECT_TRUE(stepper.fused());
}

// The AdamW step with a device learning rate, captured once in a CUDA graph and replayed (as ADiT's
// graph-mode training does), gives LibTorch's per-parameter AdamW's parameters, follows an lr change
// made between replays, and after setStepCount a further plain step continues the same trajectory.
TEST(LmTraining, CapturedAdamWStepWithTensorLrMatchesPlainAdamW) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device cuda(torch::kCUDA);
  auto a = tinyLlama(cuda), b = tinyLlama(cuda);
  const auto options = torch::optim::AdamWOptions(1e-2).betas({0.9, 0.95}).weight_decay(0.1);
  torch::optim::AdamW optA(a->parameters(), options), optB(b->parameters(), options);
  ASSERT_TRUE(AdamWStepper::canStepWithTensorLr(optB));
  AdamWStepper stepper(optB);
  CapturedStep graph(cuda);
  auto lr = torch::full({}, 1e-2, torch::TensorOptions().dtype(torch::kFloat32).device(cuda));
  for (int s = 0; s < 6; ++s) {
    const double rate = s < 3 ? 1e-2 : 5e-3;
    for (auto* opt : {&optA, &optB})
      for (auto& g : opt->param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(rate);
    optA.zero_grad();
    backwardOnce(*a, 100 + s);
    optA.step();
    for (auto& p : b->parameters())  // zeroed in place: the gradients keep the storage the graph reads
      if (p.grad().defined()) p.mutable_grad().zero_();
    backwardOnce(*b, 100 + s);
    lr.fill_(rate);
    if (s == 0) {
      stepper.step(lr);  // eager: creates the optimizer state before capture
    } else {
      if (!graph.captured()) graph.capture([&] {
        stepper.step(lr);
        return lr;
      });
      graph.replay();
    }
  }
  torch::cuda::synchronize();
  expectSameParameters(*a, *b, 1e-5);
  stepper.setStepCount(6);
  for (const auto& [key, state] : optB.state())
    EXPECT_EQ(static_cast<const torch::optim::AdamWParamState&>(*state).step(), 6);
  optA.zero_grad();
  backwardOnce(*a, 200);
  optA.step();
  optB.zero_grad();
  backwardOnce(*b, 200);
  stepper.step();  // the options' lr, 5e-3 for both
  torch::cuda::synchronize();
  expectSameParameters(*a, *b, 1e-5);
}
