#include "atomscope/lm/training.h"

#include <torch/version.h>

#include <unordered_map>

#include "atomscope/lm/tokenizer.h"  // LmError

#define ATOMSCOPE_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace atomscope::lm {

torch::Tensor clipGradNorm(const std::vector<torch::Tensor>& parameters, double maxNorm) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : parameters)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return torch::zeros({});
#if ATOMSCOPE_TORCH_AT_LEAST(2, 1)
  auto norms = at::_foreach_norm(grads, 2);
#else
  std::vector<torch::Tensor> norms;
  for (const auto& g : grads) norms.push_back(g.norm(2));
#endif
  for (auto& n : norms) n = n.to(torch::kFloat32);
  auto total = torch::stack(norms).norm(2);
  auto coef = (maxNorm / (total + 1e-6)).clamp_max(1.0);
#if ATOMSCOPE_TORCH_AT_LEAST(2, 1)
  at::_foreach_mul_(grads, coef);
#else
  for (auto& g : grads) g.mul_(coef.to(g.scalar_type()));
#endif
  return total;
}

struct AdamWStepper::Impl {
  torch::optim::AdamW* optimizer = nullptr;
  bool allowFused = true;
  bool lastFused = false;
  // The fused kernel reads each parameter's step count from a float tensor on its device.
  struct Counter {
    torch::Tensor device;  // float32 0-dim on the parameter's device
    std::int64_t host = -1;  // the state's step it was last set to
  };
  std::unordered_map<const void*, Counter> deviceSteps;
};

AdamWStepper::AdamWStepper(torch::optim::AdamW& optimizer, bool allowFused) : impl_(std::make_unique<Impl>()) {
  impl_->optimizer = &optimizer;
  impl_->allowFused = allowFused;
}

AdamWStepper::~AdamWStepper() = default;

bool AdamWStepper::fused() const { return impl_->lastFused; }

#if ATOMSCOPE_TORCH_AT_LEAST(2, 1)
namespace {
bool fusable(torch::optim::AdamW& opt) {
  for (auto& group : opt.param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    if (o.amsgrad()) return false;
    for (const auto& p : group.params())
      if (p.grad().defined() && (!p.is_cuda() || p.scalar_type() != torch::kFloat32 || p.grad().is_sparse())) return false;
  }
  return true;
}
}  // namespace
#endif

// One fused AdamW update per group; lr: a device tensor, or undefined for the options' lr.
void AdamWStepper::fusedStep(const torch::Tensor& lr) {
#if ATOMSCOPE_TORCH_AT_LEAST(2, 1)
  auto& opt = *impl_->optimizer;
  torch::NoGradGuard noGrad;
  for (auto& group : opt.param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    std::vector<torch::Tensor> params, grads, expAvgs, expAvgSqs, steps;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const void* key = p.unsafeGetTensorImpl();
      auto& stateMap = opt.state();
      auto it = stateMap.find(p.unsafeGetTensorImpl());
      if (it == stateMap.end()) {
        auto st = std::make_unique<torch::optim::AdamWParamState>();
        st->step(0);
        st->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        st->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        it = stateMap.emplace(p.unsafeGetTensorImpl(), std::move(st)).first;
      }
      auto& st = static_cast<torch::optim::AdamWParamState&>(*it->second);
      auto& counter = impl_->deviceSteps[key];
      // (Re)seed the device counter from the state: first use, or after the state was replaced (load).
      if (!counter.device.defined() || counter.host != st.step())
        counter.device = torch::full({}, static_cast<double>(st.step()), p.options().dtype(torch::kFloat32));
      counter.host = st.step() + 1;
      st.step(counter.host);
      params.push_back(p);
      grads.push_back(p.grad());
      expAvgs.push_back(st.exp_avg());
      expAvgSqs.push_back(st.exp_avg_sq());
      steps.push_back(counter.device);
    }
    if (params.empty()) continue;
    at::_foreach_add_(steps, 1.0);
    const auto [beta1, beta2] = o.betas();
#if ATOMSCOPE_TORCH_AT_LEAST(2, 4)
    if (lr.defined()) {
      at::_fused_adamw_(params, grads, expAvgs, expAvgSqs, {}, steps, lr, beta1, beta2, o.weight_decay(), o.eps(), false,
                        false);
      continue;
    }
#endif
    at::_fused_adamw_(params, grads, expAvgs, expAvgSqs, {}, steps, o.lr(), beta1, beta2, o.weight_decay(), o.eps(),
                      false, false);
  }
  impl_->lastFused = true;
#else
  (void)lr;
#endif
}

void AdamWStepper::step() {
  auto& opt = *impl_->optimizer;
  impl_->lastFused = false;
#if ATOMSCOPE_TORCH_AT_LEAST(2, 1)
  if (impl_->allowFused && fusable(opt)) {
    fusedStep(torch::Tensor());
    return;
  }
#endif
  impl_->deviceSteps.clear();  // the plain step moves the counts; reseed if fused again later
  opt.step();
}

bool AdamWStepper::canStepWithTensorLr(const torch::optim::AdamW& optimizer) {
#if ATOMSCOPE_TORCH_AT_LEAST(2, 4)
  for (const auto& group : optimizer.param_groups()) {
    if (static_cast<const torch::optim::AdamWOptions&>(group.options()).amsgrad()) return false;
    for (const auto& p : group.params())
      if (!p.is_cuda() || p.scalar_type() != torch::kFloat32) return false;
  }
  return true;
#else
  (void)optimizer;
  return false;
#endif
}

void AdamWStepper::step(const torch::Tensor& lr) {
  if (!canStepWithTensorLr(*impl_->optimizer) || !lr.defined())
    throw LmError("AdamW with a tensor learning rate needs CUDA float32 parameters and LibTorch >= 2.4");
  impl_->lastFused = false;
  fusedStep(lr);
}

void AdamWStepper::setStepCount(std::int64_t n) {
  auto& opt = *impl_->optimizer;
#if ATOMSCOPE_TORCH_AT_LEAST(2, 1)
  for (auto& group : opt.param_groups())
    for (auto& p : group.params()) {
      auto it = opt.state().find(p.unsafeGetTensorImpl());
      if (it == opt.state().end()) continue;
      static_cast<torch::optim::AdamWParamState&>(*it->second).step(n);
      auto counter = impl_->deviceSteps.find(p.unsafeGetTensorImpl());
      if (counter != impl_->deviceSteps.end()) counter->second.host = n;
    }
#else
  for (auto& kv : opt.state()) static_cast<torch::optim::AdamWParamState&>(*kv.second).step(n);
#endif
}

torch::Tensor clipStepAndAverage(const std::vector<torch::Tensor>& params, double maxNorm, AdamWStepper& stepper,
                                 const torch::Tensor& lr, std::vector<torch::Tensor>& ema, double emaDecay) {
  const auto norm = clipGradNorm(params, maxNorm);
  if (lr.defined())
    stepper.step(lr);
  else
    stepper.step();
  torch::NoGradGuard g;
  at::_foreach_mul_(ema, emaDecay);
  at::_foreach_add_(ema, params, 1.0 - emaDecay);
  return norm;
}

}  // namespace atomscope::lm
