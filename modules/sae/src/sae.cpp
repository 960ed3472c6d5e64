// Threshold (JumpReLU) and ReLU SAEs, the straight-through estimators, SAELens files.
#include "atomscope/sae/sae.h"

#include <fstream>
#include <sstream>

#include "atomscope/core/run_dir.h"
#include "atomscope/core/tensor_io.h"

namespace atomscope::sae {

namespace fs = std::filesystem;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::string toString(SaeKind k) { return k == SaeKind::JumpRelu ? "jumprelu" : "relu"; }

SaeKind saeKindFromString(const std::string& s) {
  if (s == "jumprelu" || s == "threshold") return SaeKind::JumpRelu;
  if (s == "relu" || s == "standard") return SaeKind::Relu;
  throw SaeError("unknown SAE kind '" + s + "': expected jumprelu (threshold) or relu (standard)");
}

// ------------------------------------------------------------------------------ straight-through

namespace {

// K((pre - theta) / eps) with the rectangle kernel: 1 where |pre - theta| < eps / 2.
torch::Tensor rectangle(const torch::Tensor& pre, const torch::Tensor& theta, double eps) {
  return ((pre - theta).abs() < 0.5 * eps).to(pre.scalar_type());
}

// Sums a gradient of pre's shape [..., n] down to theta's [n].
torch::Tensor toThetaShape(const torch::Tensor& g) { return g.reshape({-1, g.size(-1)}).sum(0); }

struct JumpReluFunction : public torch::autograd::Function<JumpReluFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& pre, const torch::Tensor& theta, double eps) {
    ctx->save_for_backward({pre, theta});
    ctx->saved_data["eps"] = eps;
    return pre * (pre > theta).to(pre.scalar_type());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &pre = saved[0], &theta = saved[1];
    const double eps = ctx->saved_data["eps"].toDouble();
    const auto& g = grads[0];
    auto gPre = g * (pre > theta).to(g.scalar_type());
    auto gTheta = toThetaShape(-(theta / eps) * rectangle(pre, theta, eps) * g);
    return {gPre, gTheta, torch::Tensor()};
  }
};

struct StepFunction : public torch::autograd::Function<StepFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& pre, const torch::Tensor& theta, double eps) {
    ctx->save_for_backward({pre, theta});
    ctx->saved_data["eps"] = eps;
    return (pre > theta).to(pre.scalar_type());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &pre = saved[0], &theta = saved[1];
    const double eps = ctx->saved_data["eps"].toDouble();
    const auto& g = grads[0];
    auto gTheta = toThetaShape(-(1.0 / eps) * rectangle(pre, theta, eps) * g);
    return {torch::zeros_like(pre), gTheta, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor jumpRelu(const torch::Tensor& pre, const torch::Tensor& theta, double bandwidth) {
  return JumpReluFunction::apply(pre, theta, bandwidth);
}

torch::Tensor heavisideStep(const torch::Tensor& pre, const torch::Tensor& theta, double bandwidth) {
  return StepFunction::apply(pre, theta, bandwidth);
}

// ------------------------------------------------------------------------------------------ model

SaeImpl::SaeImpl(SaeKind kind, std::int64_t d, std::int64_t n) : kind_(kind), d_(d), n_(n) {
  if (d <= 0 || n <= 0) throw SaeError("SAE sizes must be positive (d_in " + std::to_string(d) + ", d_sae " + std::to_string(n) + ")");
  W_enc = register_parameter("W_enc", torch::zeros({d, n}));
  b_enc = register_parameter("b_enc", torch::zeros({n}));
  W_dec = register_parameter("W_dec", torch::zeros({n, d}));
  b_dec = register_parameter("b_dec", torch::zeros({d}));
  if (kind == SaeKind::JumpRelu) logThreshold = register_parameter("log_threshold", torch::full({n}, std::log(0.01)));
  A = register_buffer("A", torch::eye(d));
  Ainv = register_buffer("Ainv", torch::eye(d));
}

void SaeImpl::initialise(double threshold) {
  torch::NoGradGuard g;
  W_dec.copy_(torch::randn({n_, d_}, W_dec.options()));
  W_dec.div_(W_dec.norm(2, 1, true));
  W_enc.copy_(W_dec.t());
  b_enc.zero_();
  b_dec.zero_();
  if (logThreshold.defined()) logThreshold.fill_(std::log(threshold));
}

void SaeImpl::setInputTransform(const torch::Tensor& a, const torch::Tensor& ainv) {
  if (a.sizes() != torch::IntArrayRef{d_, d_} || ainv.sizes() != torch::IntArrayRef{d_, d_})
    throw SaeError("input transform must be [" + std::to_string(d_) + ", " + std::to_string(d_) + "]");
  torch::NoGradGuard g;
  A.copy_(a.to(A.dtype()));
  Ainv.copy_(ainv.to(Ainv.dtype()));
}

torch::Tensor SaeImpl::threshold() const {
  if (logThreshold.defined()) return logThreshold.exp();
  return torch::zeros({n_}, W_enc.options());
}

torch::Tensor SaeImpl::preActivations(const torch::Tensor& xt) const { return torch::addmm(b_enc, xt - b_dec, W_enc); }

torch::Tensor SaeImpl::activate(const torch::Tensor& pre) const {
  if (kind_ == SaeKind::Relu) return torch::relu(pre);
  return pre * (pre > logThreshold.exp()).to(pre.scalar_type());
}

void SaeImpl::normaliseDecoder() {
  torch::NoGradGuard g;
  auto norms = W_dec.norm(2, 1).clamp_min(1e-12);  // [n]
  W_dec.div_(norms.unsqueeze(1));
  W_enc.mul_(norms.unsqueeze(0));
  b_enc.mul_(norms);
  if (logThreshold.defined()) logThreshold.add_(norms.log());
}

// ------------------------------------------------------------------------------------------- files

namespace {

torch::Tensor need(const std::map<std::string, torch::Tensor>& t, const std::string& name,
                   std::vector<std::int64_t> shape, const fs::path& file) {
  auto it = t.find(name);
  if (it == t.end()) throw SaeError("SAE weights '" + file.string() + "' have no tensor '" + name + "'");
  if (it->second.sizes() != torch::IntArrayRef(shape)) {
    std::string want, got;
    for (auto s : shape) want += (want.empty() ? "" : ", ") + std::to_string(s);
    for (auto s : it->second.sizes()) got += (got.empty() ? "" : ", ") + std::to_string(s);
    throw SaeError("SAE weights '" + file.string() + "': tensor '" + name + "' is [" + got + "], expected [" + want +
                   "] from cfg.json");
  }
  return it->second.to(torch::kFloat64);
}

}  // namespace

void saveSae(SaeImpl& sae, const fs::path& folder) {
  torch::NoGradGuard g;
  fs::create_directories(folder);
  auto cpu = [](const torch::Tensor& t) { return t.detach().to(torch::kCPU).to(torch::kFloat64); };
  const auto A = cpu(sae.A), Ainv = cpu(sae.Ainv);
  std::map<std::string, torch::Tensor> w;
  auto f32 = [](const torch::Tensor& t) { return t.to(torch::kFloat32).contiguous(); };
  w["W_enc"] = f32(torch::matmul(A, cpu(sae.W_enc)));
  w["W_dec"] = f32(torch::matmul(cpu(sae.W_dec), Ainv));
  w["b_enc"] = f32(cpu(sae.b_enc));
  w["b_dec"] = f32(torch::matmul(cpu(sae.b_dec), Ainv));
  if (sae.kind() == SaeKind::JumpRelu) w["threshold"] = f32(cpu(sae.threshold()));
  core::saveSafetensors(folder / "sae_weights.safetensors", w);
  core::saveSafetensors(folder / "input_transform.safetensors", {{"A", f32(A)}, {"A_inv", f32(Ainv)}},
                        {{"format", "atomscope.sae_input_transform/1"}, {"whitened", sae.whitened() ? "true" : "false"}});
  const auto& info = sae.info;
  const std::string site = info.value("site", "");
  std::int64_t layer = 0;
  std::string hook;
  if (!site.empty()) {
    try {
      const auto s = Site::parse(site);
      layer = s.layer;
      hook = "blocks." + std::to_string(s.layer) + "." +
             (s.kind == lm::ActivationSite::ResidPost ? "hook_resid_post"
              : s.kind == lm::ActivationSite::AttnOut ? "hook_attn_out"
                                                       : "hook_mlp_out");
    } catch (const SaeError&) {
    }
  }
  const std::string arch = sae.kind() == SaeKind::JumpRelu ? "jumprelu" : "standard";
  Json cfg{{"architecture", arch},
           {"d_in", sae.dIn()},
           {"d_sae", sae.dSae()},
           {"dtype", "float32"},
           {"device", "cpu"},
           {"apply_b_dec_to_input", true},
           {"normalize_activations", "none"},
           {"reshape_activations", "none"},
           {"metadata", {{"model_name", info.value("model", "")}, {"hook_name", hook}, {"hook_layer", layer}}},
           // SAELens 5 read these at the top level.
           {"model_name", info.value("model", "")},
           {"hook_name", hook},
           {"hook_layer", layer},
           {"hook_head_index", nullptr},
           {"activation_fn_str", "relu"},
           {"finetuning_scaling_factor", false},
           {"context_size", info.value("context", 0)},
           {"prepend_bos", true},
           {"atomscope", Json{{"kind", toString(sae.kind())}, {"whitened", sae.whitened()}, {"info", info}}}};
  core::writeFileAtomically(folder / "cfg.json", cfg.dump(2, ' ', false, Json::error_handler_t::replace) + "\n");
}

Sae loadSae(const fs::path& folder, torch::Device device) {
  const auto cfgFile = folder / "cfg.json";
  const auto wFile = folder / "sae_weights.safetensors";
  if (!fs::is_directory(folder)) throw SaeError("SAE folder '" + folder.string() + "' does not exist");
  if (!fs::exists(cfgFile)) throw SaeError("SAE folder '" + folder.string() + "' has no cfg.json");
  if (!fs::exists(wFile)) throw SaeError("SAE folder '" + folder.string() + "' has no sae_weights.safetensors");
  std::ifstream in(cfgFile, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  const auto parsed = parseSaeConfig(text.str(), cfgFile);
  const auto& cfg = parsed.json;
  const std::int64_t d = parsed.dIn, n = parsed.dSae;
  const auto kind = parsed.architecture == "jumprelu" ? SaeKind::JumpRelu : SaeKind::Relu;
  std::map<std::string, torch::Tensor> t;
  try {
    t = core::loadSafetensors(wFile);
  } catch (const std::exception& e) {
    throw SaeError(std::string("cannot read SAE weights: ") + e.what());
  }
  auto W_enc = need(t, "W_enc", {d, n}, wFile), W_dec = need(t, "W_dec", {n, d}, wFile);
  auto b_enc = need(t, "b_enc", {n}, wFile), b_dec = need(t, "b_dec", {d}, wFile);
  torch::Tensor theta;
  if (kind == SaeKind::JumpRelu) {
    theta = need(t, "threshold", {n}, wFile);
    if ((theta <= 0).any().item<bool>())
      throw SaeError("SAE weights '" + wFile.string() + "': tensor 'threshold' has values <= 0 (Atomscope keeps thresholds positive)");
  }
  // pre = x W_enc + b_enc without b_dec subtracted: the same as (x - b_dec) W_enc + (b_enc + b_dec W_enc).
  if (!parsed.applyBDecToInput) b_enc = b_enc + torch::matmul(b_dec, W_enc);
  auto A = torch::eye(d, torch::kFloat64), Ainv = torch::eye(d, torch::kFloat64);
  bool whitened = false;
  const auto tFile = folder / "input_transform.safetensors";
  if (fs::exists(tFile)) {
    std::map<std::string, torch::Tensor> tt;
    try {
      tt = core::loadSafetensors(tFile);
    } catch (const std::exception& e) {
      throw SaeError(std::string("cannot read the SAE input transform: ") + e.what());
    }
    A = need(tt, "A", {d, d}, tFile);
    Ainv = need(tt, "A_inv", {d, d}, tFile);
    whitened = parsed.whitened;
    // Back into the transformed space the SAE was trained in.
    W_enc = torch::matmul(Ainv, W_enc);
    W_dec = torch::matmul(W_dec, A);
    b_dec = torch::matmul(b_dec, A);
  }
  auto sae = Sae(kind, d, n);
  {
    torch::NoGradGuard g;
    sae->W_enc.copy_(W_enc);
    sae->W_dec.copy_(W_dec);
    sae->b_enc.copy_(b_enc);
    sae->b_dec.copy_(b_dec);
    if (kind == SaeKind::JumpRelu) sae->logThreshold.copy_(theta.log());
    sae->setInputTransform(A, Ainv);
  }
  sae->setWhitened(whitened);
  if (cfg.contains("atomscope") && cfg["atomscope"].is_object() && cfg["atomscope"].contains("info")) sae->info = cfg["atomscope"]["info"];
  sae->normaliseDecoder();
  sae->to(device);
  return sae;
}

}  // namespace atomscope::sae
