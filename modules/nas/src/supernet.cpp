// Entangled mixed operations, architecture weights and the supernet (one translation unit: each
// file including torch costs 30-40 s to compile).
#include "atomscope/nas/supernet.h"

#include <torch/version.h>

#include <cmath>
#include <map>

#include "atomscope/masa/attention.h"
#include "atomscope/nas/arch_weights.h"
#include "atomscope/nas/entangled.h"

namespace atomscope::nas {

namespace F = torch::nn::functional;

// ------------------------------------------------------------------------------ entangled operations

torch::Tensor sizeMasks(const std::vector<std::int64_t>& sizes, std::int64_t maxSize, const torch::TensorOptions& options) {
  auto m = torch::zeros({static_cast<std::int64_t>(sizes.size()), maxSize}, options.dtype(torch::kFloat32));
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    if (sizes[k] > maxSize) throw NasError("size choice " + std::to_string(sizes[k]) + " exceeds the maximum " + std::to_string(maxSize));
    m[static_cast<std::int64_t>(k)].narrow(0, 0, sizes[k]).fill_(1.0);
  }
  return m;
}

torch::Tensor entangledMask(const torch::Tensor& w, const torch::Tensor& outVecs, const torch::Tensor& inVecs) {
  return torch::matmul((outVecs * w.unsqueeze(1)).t(), inVecs);
}

EntangledLinearImpl::EntangledLinearImpl(std::int64_t maxIn, std::int64_t maxOut, bool withBias) {
  weight = register_parameter("weight", torch::empty({maxOut, maxIn}));
  torch::nn::init::normal_(weight, 0.0, 0.02);
  if (withBias) bias = register_parameter("bias", torch::zeros({maxOut}));
}

torch::Tensor EntangledLinearImpl::forward(const torch::Tensor& x, const torch::Tensor& mask, const torch::Tensor& outMask) {
  torch::Tensor b;
  if (bias.defined()) b = outMask.defined() ? bias * outMask.to(bias.scalar_type()) : bias;
  return F::linear(x, weight * mask.to(weight.scalar_type()), b);
}

EntangledEmbeddingImpl::EntangledEmbeddingImpl(std::int64_t vocab, std::int64_t maxDim) {
  weight = register_parameter("weight", torch::empty({vocab, maxDim}));
  torch::nn::init::normal_(weight, 0.0, 0.02);
}

torch::Tensor EntangledEmbeddingImpl::forward(const torch::Tensor& ids, const torch::Tensor& colMask) {
  // Scaling the looked-up rows equals looking up rows of weight * colMask, without the full table.
  return F::embedding(ids, weight) * colMask.to(weight.scalar_type());
}

void WidthTables::update(const std::vector<std::int64_t>& s, std::int64_t maxDim, const torch::Device& device) {
  if (masks.defined() && s == sizes && masks.device() == device && masks.size(1) == maxDim) return;
  sizes = s;
  std::vector<std::int64_t> lastIdx;
  for (auto v : s) lastIdx.push_back(v - 1);
  masks = sizeMasks(s, maxDim).to(device);
  last = torch::tensor(lastIdx, torch::kLong).to(device);
  count = torch::tensor(s, torch::kLong).to(torch::kFloat32).to(device);
}

namespace {
// Per choice k, the statistic over the first sizes[k] entries: gathers running sums at sizes[k] - 1.
torch::Tensor leadingMeans(const torch::Tensor& running, const WidthTables& t) {
  return running.index_select(-1, t.last) / t.count;
}
}  // namespace

EntangledRMSNormImpl::EntangledRMSNormImpl(std::int64_t maxDim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({maxDim}));
}

torch::Tensor EntangledRMSNormImpl::forward(const torch::Tensor& x, const std::vector<std::int64_t>& sizes,
                                            const torch::Tensor& w) {
  const auto h = x.to(torch::kFloat32);
  tables_.update(sizes, x.size(-1), x.device());
  const auto r = torch::rsqrt(leadingMeans(h.pow(2).cumsum(-1), tables_) + eps_);  // [..., K]
  const auto coef = torch::matmul(r, tables_.masks * w.to(torch::kFloat32).unsqueeze(1));  // [..., maxDim]
  return weight * (h * coef).to(x.scalar_type());
}

EntangledLayerNormImpl::EntangledLayerNormImpl(std::int64_t maxDim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({maxDim}));
  bias = register_parameter("bias", torch::zeros({maxDim}));
}

torch::Tensor EntangledLayerNormImpl::forward(const torch::Tensor& x, const std::vector<std::int64_t>& sizes,
                                              const torch::Tensor& w) {
  const auto h = x.to(torch::kFloat32);
  tables_.update(sizes, x.size(-1), x.device());
  const auto wm = tables_.masks * w.to(torch::kFloat32).unsqueeze(1);  // [K, maxDim]
  const auto mean = leadingMeans(h.cumsum(-1), tables_);                // [..., K]
  const auto var = (leadingMeans(h.pow(2).cumsum(-1), tables_) - mean.pow(2)).clamp_min(0.0);
  const auto rstd = torch::rsqrt(var + eps_);
  // sum_k w_k [j < n_k] (x_j - mean_k) rstd_k = x_j A_j - B_j
  const auto A = torch::matmul(rstd, wm), B = torch::matmul(mean * rstd, wm);
  const auto normed = (h * A - B).to(x.scalar_type());
  return weight * normed + bias * torch::matmul(w.to(torch::kFloat32), tables_.masks).to(bias.scalar_type());
}

// ------------------------------------------------------------------------------ architecture weights

Method methodFromString(const std::string& name) {
  if (name == "darts") return Method::Darts;
  if (name == "gdas") return Method::Gdas;
  if (name == "drnas") return Method::Drnas;
  throw NasError("unknown search method '" + name + "' (darts, gdas, drnas)");
}

std::string toString(Method m) {
  switch (m) {
    case Method::Darts: return "darts";
    case Method::Gdas: return "gdas";
    case Method::Drnas: return "drnas";
  }
  return "?";
}

ArchWeights oneHotWeights(const SearchSpace& space, const Architecture& a, const torch::TensorOptions& options) {
  ArchWeights w;
  for (int d = 0; d < kNumDims; ++d) {
    const auto dim = static_cast<Dim>(d);
    w[d] = torch::zeros({static_cast<std::int64_t>(space.of(dim).size())}, options.dtype(torch::kFloat32));
    w[d][space.indexOf(dim, a.value(dim))] = 1.0;
  }
  if (space.hasAtoms()) {
    w.atoms = torch::zeros({static_cast<std::int64_t>(space.atoms.size())}, options.dtype(torch::kFloat32));
    w.atoms[space.atomsIndexOf(a.atoms)] = 1.0;
  } else if (a.atoms != 0) {
    throw NasError("architecture " + a.toString() + " has MASA atoms, the space dense attention");
  }
  return w;
}

torch::Tensor gumbelSoftmaxHard(const torch::Tensor& alpha, double tau) {
  const auto u = torch::rand_like(alpha).clamp(1e-10, 1.0 - 1e-7);
  const auto soft = torch::softmax((alpha - torch::log(-torch::log(u))) / tau, -1);
  const auto hard = torch::zeros_like(soft).scatter_(-1, soft.argmax(-1, true), 1.0);
  return hard + (soft - soft.detach());  // soft - soft.detach() is exactly 0: the value is one-hot
}

namespace {
struct DirichletFunction : public torch::autograd::Function<DirichletFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& concentration) {
    auto x = at::_sample_dirichlet(concentration);
    ctx->save_for_backward({x, concentration});
    return x;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& c = saved[1];
    const auto total = c.sum(-1, true).expand_as(c);
    const auto g = at::_dirichlet_grad(x, c, total);
    const auto& go = grads[0];
    return {g * (go - (x * go).sum(-1, true))};
  }
};
}  // namespace

torch::Tensor dirichletSample(const torch::Tensor& concentration) { return DirichletFunction::apply(concentration); }

ArchParametersImpl::ArchParametersImpl(const SearchSpace& space) {
  for (int d = 0; d < kNumDims; ++d) {
    const auto k = static_cast<std::int64_t>(space.choices[d].size());
    alpha[d] = register_parameter(std::string("alpha_") + dimName(static_cast<Dim>(d)), 1e-3 * torch::randn({k}));
  }
  if (space.hasAtoms())
    alphaAtoms = register_parameter("alpha_atoms", 1e-3 * torch::randn({static_cast<std::int64_t>(space.atoms.size())}));
}

ArchWeights ArchParametersImpl::sample(Method m, double tau) {
  ArchWeights w;
  const auto draw = [&](const torch::Tensor& a) -> torch::Tensor {
    switch (m) {
      case Method::Darts: return torch::softmax(a, -1);
      case Method::Gdas: return gumbelSoftmaxHard(a, tau);
      case Method::Drnas: return dirichletSample(F::elu(a) + 1.0);
    }
    return {};
  };
  for (int d = 0; d < kNumDims; ++d) w[d] = draw(alpha[d]);
  if (alphaAtoms.defined()) w.atoms = draw(alphaAtoms);
  return w;
}

ArchWeights ArchParametersImpl::expected(Method m) const {
  torch::NoGradGuard g;
  return mean(m);
}

ArchWeights ArchParametersImpl::mean(Method m) const {
  ArchWeights w;
  const auto of = [&](const torch::Tensor& a) -> torch::Tensor {
    if (m != Method::Drnas) return torch::softmax(a, -1);
    const auto c = F::elu(a) + 1.0;
    return c / c.sum();
  };
  for (int d = 0; d < kNumDims; ++d) w[d] = of(alpha[d]);
  if (alphaAtoms.defined()) w.atoms = of(alphaAtoms);
  return w;
}

Architecture ArchParametersImpl::argmax(const SearchSpace& space) const {
  std::int64_t v[kNumDims];
  for (int d = 0; d < kNumDims; ++d) v[d] = space.choices[d][static_cast<std::size_t>(alpha[d].argmax().item<std::int64_t>())];
  Architecture a{v[0], v[1], v[2], v[3]};
  if (alphaAtoms.defined()) a.atoms = space.atoms[static_cast<std::size_t>(alphaAtoms.argmax().item<std::int64_t>())];
  return a;
}

// --------------------------------------------------------------------------------------- supernet

namespace {

class AttentionImpl : public torch::nn::Module {
 public:
  // shared: q/k/v/o come from the supernet's MASA atoms (no per-layer weights).
  AttentionImpl(std::int64_t E, bool bias, bool shared = false) {
    if (shared) return;
    q_proj = register_module("q_proj", EntangledLinear(E, E, bias));
    k_proj = register_module("k_proj", EntangledLinear(E, E, bias));
    v_proj = register_module("v_proj", EntangledLinear(E, E, bias));
    o_proj = register_module("o_proj", EntangledLinear(E, E, bias));
  }
  EntangledLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
};
TORCH_MODULE(Attention);

// MASA's shared weights of one projection type, named as masa's ("masa.q.atoms" [S, out, in],
// "masa.q.coefficients" [L, S] once frozen), so extraction is the leading slice of each.
class AtomBankImpl : public torch::nn::Module {
 public:
  AtomBankImpl(std::int64_t layers, std::int64_t S, std::int64_t E) {
    atoms = register_parameter("atoms", torch::empty({S, E, E}));
    coefficients = register_parameter("coefficients", torch::empty({layers, S}));
  }
  // W_l = sum_s m_s C[l, s] D_s: atom s weighted by the share m_s of the S choices that use it.
  torch::Tensor weightFor(std::int64_t layer, const torch::Tensor& atomMix) const {
    const auto c = coefficients[layer] * atomMix.to(coefficients.scalar_type());
    return torch::tensordot(c.to(atoms.scalar_type()), atoms, {0}, {0});
  }
  torch::Tensor atoms, coefficients;
};
TORCH_MODULE(AtomBank);

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(std::int64_t E, std::int64_t H) {
    gate_proj = register_module("gate_proj", EntangledLinear(E, H));
    up_proj = register_module("up_proj", EntangledLinear(E, H));
    down_proj = register_module("down_proj", EntangledLinear(H, E));
  }
  EntangledLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Mlp);

// GPT-2's MLP: c_fc, GELU (tanh), c_proj, both with biases.
class Gpt2MlpImpl : public torch::nn::Module {
 public:
  Gpt2MlpImpl(std::int64_t E, std::int64_t H) {
    c_fc = register_module("c_fc", EntangledLinear(E, H, true));
    c_proj = register_module("c_proj", EntangledLinear(H, E, true));
  }
  EntangledLinear c_fc{nullptr}, c_proj{nullptr};
};
TORCH_MODULE(Gpt2Mlp);

torch::Tensor swapHalves(const torch::Tensor& x) {
  const auto half = x.size(-1) / 2;
  return torch::cat({x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// Rotary tables of one head dim, as lm's Llama builds them (inv_freq in float32, sin sign-folded).
std::pair<torch::Tensor, torch::Tensor> rotaryTables(std::int64_t hd, std::int64_t T, double theta,
                                                     const torch::Device& device, torch::Dtype dtype) {
  const auto invFreq = (1.0 / torch::pow(torch::tensor(theta, torch::kFloat32),
                                         torch::arange(0, hd, 2, torch::kLong).to(torch::kFloat32) /
                                             static_cast<double>(hd)))
                           .to(device);
  const auto pos = torch::arange(0, T, torch::TensorOptions().dtype(torch::kLong).device(device)).unsqueeze(0);
  const auto freqs = pos.to(torch::kFloat32).unsqueeze(-1) * invFreq;  // [1, T, hd/2]
  const auto c = freqs.cos(), s = freqs.sin();
  return {torch::cat({c, c}, -1).to(dtype).unsqueeze(1), torch::cat({-s, s}, -1).to(dtype).unsqueeze(1)};
}

}  // namespace

struct SupernetImpl::SharedAtoms : public torch::nn::Module {
  SharedAtoms(std::int64_t layers, std::int64_t S, std::int64_t E) {
    for (const char* role : {"q", "k", "v", "o"}) roles.push_back(register_module(role, AtomBank(layers, S, E)));
  }
  std::vector<AtomBank> roles;  // q, k, v, o
};

struct SupernetImpl::Block : public torch::nn::Module {
  Block(std::int64_t E, std::int64_t H, double eps, bool sharedAttention) {
    input_layernorm = register_module("input_layernorm", EntangledRMSNorm(E, eps));
    self_attn = register_module("self_attn", Attention(E, false, sharedAttention));
    post_attention_layernorm = register_module("post_attention_layernorm", EntangledRMSNorm(E, eps));
    mlp = register_module("mlp", Mlp(E, H));
  }
  EntangledRMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
};

struct SupernetImpl::Gpt2Block : public torch::nn::Module {
  Gpt2Block(std::int64_t E, std::int64_t H, double eps) {
    ln_1 = register_module("ln_1", EntangledLayerNorm(E, eps));
    attn = register_module("attn", Attention(E, true));
    ln_2 = register_module("ln_2", EntangledLayerNorm(E, eps));
    mlp = register_module("mlp", Gpt2Mlp(E, H));
  }
  EntangledLayerNorm ln_1{nullptr}, ln_2{nullptr};
  Attention attn{nullptr};
  Gpt2Mlp mlp{nullptr};
};

SupernetImpl::SupernetImpl(const SearchSpace& space) : space_(space) {
  space_.validate();
  const auto E = space_.maxOf(Dim::Embed);
  const auto H = space_.maxOf(Dim::MlpRatio) * E;
  const auto L = space_.maxOf(Dim::Layers);
  if (space_.family == lm::ModelFamily::Gpt2) {
    wte = register_module("wte", EntangledEmbedding(space_.vocabSize, E));
    wpe = register_module("wpe", EntangledEmbedding(space_.context, E));
    auto h = register_module("h", torch::nn::ModuleList());
    for (std::int64_t i = 0; i < L; ++i) {
      auto b = std::make_shared<Gpt2Block>(E, H, space_.normEps);
      h->push_back(b);
      gpt2Blocks_.push_back(b);
    }
    ln_f = register_module("ln_f", EntangledLayerNorm(E, space_.normEps));
  } else {
    embed_tokens = register_module("embed_tokens", EntangledEmbedding(space_.vocabSize, E));
    auto layers = register_module("layers", torch::nn::ModuleList());
    for (std::int64_t i = 0; i < L; ++i) {
      auto b = std::make_shared<Block>(E, H, space_.normEps, space_.hasAtoms());
      layers->push_back(b);
      blocks_.push_back(b);
    }
    norm = register_module("norm", EntangledRMSNorm(E, space_.normEps));
    if (space_.hasAtoms())
      masa_ = register_module("masa", std::make_shared<SharedAtoms>(L, space_.atoms.back(), E));
  }
  arch = register_module("arch", ArchParameters(space_));
  // lm::createModel's initialisation of the largest model.
  {
    torch::NoGradGuard g;
    const double residualStd = 0.02 / std::sqrt(2.0 * static_cast<double>(L));
    for (auto& item : named_parameters()) {
      const auto& name = item.key();
      if (name.rfind("arch.", 0) == 0) continue;
      auto& p = item.value();
      const auto ends = [&](const std::string& s) {
        return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
      };
      if (name.rfind("masa.", 0) == 0) {
        // Atoms as masa initialises them (lm's std for the role); coefficients random with RMS
        // 1/sqrt(S_max), as masa's "random" start, so W_l of the largest S has a dense weight's scale.
        if (ends(".coefficients")) p.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(p.size(1))));
        else p.normal_(0.0, name == "masa.o.atoms" ? residualStd : 0.02);
        continue;
      }
      if (ends(".bias")) p.zero_();
      else if (p.dim() == 1) p.fill_(1.0);
      else if (ends("o_proj.weight") || ends("down_proj.weight") || ends("mlp.c_proj.weight")) p.normal_(0.0, residualStd);
      else p.normal_(0.0, 0.02);
    }
  }
  const auto& embeds = space_.of(Dim::Embed);
  const auto& ratios = space_.of(Dim::MlpRatio);
  embedMasks_ = register_buffer("embed_masks", sizeMasks(embeds, E));
  auto hm = torch::zeros({static_cast<std::int64_t>(embeds.size()), static_cast<std::int64_t>(ratios.size()), H});
  for (std::size_t e = 0; e < embeds.size(); ++e)
    for (std::size_t r = 0; r < ratios.size(); ++r)
      hm[static_cast<std::int64_t>(e)][static_cast<std::int64_t>(r)].narrow(0, 0, ratios[r] * embeds[e]).fill_(1.0);
  hiddenMasks_ = register_buffer("hidden_masks", hm);
  if (space_.hasAtoms()) atomMasks_ = register_buffer("atom_masks", sizeMasks(space_.atoms, space_.atoms.back()));
}

torch::Tensor SupernetImpl::forward(const torch::Tensor& ids, const ArchWeights& w) {
  if (ids.dim() != 2 || ids.numel() == 0) throw NasError("token ids must be a non-empty [batch, time] tensor");
  for (int d = 0; d < kNumDims; ++d)
    if (!w[d].defined() || w[d].dim() != 1 || w[d].size(0) != static_cast<std::int64_t>(space_.choices[d].size()))
      throw NasError(std::string("architecture weights of '") + dimName(static_cast<Dim>(d)) + "' must have one entry per choice");
  if (space_.hasAtoms() != w.atoms.defined() ||
      (w.atoms.defined() && (w.atoms.dim() != 1 || w.atoms.size(0) != static_cast<std::int64_t>(space_.atoms.size()))))
    throw NasError(space_.hasAtoms() ? "architecture weights of 'atoms' must have one entry per choice"
                                     : "architecture weights of 'atoms' given to a supernet with dense attention");
  const auto B = ids.size(0), T = ids.size(1);
  const auto& embeds = space_.of(Dim::Embed);
  const auto& heads = space_.of(Dim::Heads);
  const auto& depths = space_.of(Dim::Layers);
  const auto E = space_.maxOf(Dim::Embed);
  const auto dev = embedMasks_.device();
  const auto wl = w[0].to(dev), wh = w[1].to(dev), we = w[2].to(dev), wr = w[3].to(dev);
  // Host copies of the weights decide which per-choice computations can be skipped (weight exactly 0:
  // one-hot evaluation and GDAS's hard samples).
  // One device-to-host copy for all three.
  const auto host = torch::cat({wl.detach(), wh.detach(), we.detach()}).to(torch::kCPU, torch::kFloat32);
  const auto wlHost = host.narrow(0, 0, wl.size(0)), whHost = host.narrow(0, wl.size(0), wh.size(0)),
             weHost = host.narrow(0, wl.size(0) + wh.size(0), we.size(0));

  const auto embedMix = torch::matmul(we, embedMasks_);                                // [E]
  const auto attnMask = entangledMask(we, embedMasks_, embedMasks_);                   // [E, E]
  const auto hidden = (hiddenMasks_ * wr.view({1, -1, 1})).sum(1);                    // [Ke, H]
  const auto upMask = entangledMask(we, hidden, embedMasks_);                          // [H, E]
  const auto downMask = entangledMask(we, embedMasks_, hidden);                        // [E, H]
  // MASA: atom s is used by every S choice above s, so it is weighted by their total weight.
  const auto atomMix = masa_ ? torch::matmul(w.atoms.to(dev), atomMasks_) : torch::Tensor();  // [S_max]

  const bool gpt2 = space_.family == lm::ModelFamily::Gpt2;
  const auto hiddenMix = gpt2 ? torch::matmul(we, hidden) : torch::Tensor();  // [H]: c_fc's bias mask
  torch::Tensor x;
  if (gpt2) {
    if (T > space_.context)
      throw NasError("a GPT-2 supernet has " + std::to_string(space_.context) + " learned positions; got " +
                     std::to_string(T) + " tokens per row");
    const auto pos = torch::arange(0, T, torch::TensorOptions().dtype(torch::kLong).device(ids.device()));
    x = wte->forward(ids, embedMix) + wpe->forward(pos, embedMix).unsqueeze(0);
  } else {
    x = embed_tokens->forward(ids, embedMix);
  }
  const auto dtype = x.scalar_type();
  std::map<std::int64_t, std::pair<torch::Tensor, torch::Tensor>> rotary;
  struct Pair {
    std::int64_t e, h;
    torch::Tensor w;
  };
  std::vector<Pair> pairs;
  for (std::size_t i = 0; i < embeds.size(); ++i)
    for (std::size_t j = 0; j < heads.size(); ++j) {
      if (weHost[static_cast<std::int64_t>(i)].item<float>() == 0.0f || whHost[static_cast<std::int64_t>(j)].item<float>() == 0.0f) continue;
      pairs.push_back({embeds[i], heads[j], we[static_cast<std::int64_t>(i)] * wh[static_cast<std::int64_t>(j)]});
    }
  std::int64_t deepest = 0;
  for (std::size_t k = 0; k < depths.size(); ++k)
    if (wlHost[static_cast<std::int64_t>(k)].item<float>() != 0.0f) deepest = depths[k];

  torch::Tensor mixed;
  std::size_t nextDepth = 0;
  for (std::int64_t layer = 0; layer < deepest; ++layer) {
    const auto li = static_cast<std::size_t>(layer);
    const auto hIn = gpt2 ? gpt2Blocks_[li]->ln_1->forward(x, embeds, we) : blocks_[li]->input_layernorm->forward(x, embeds, we);
    auto& attn = gpt2 ? gpt2Blocks_[li]->attn : blocks_[li]->self_attn;
    // Biases (GPT-2) are masked to the mixed width, as the weights' rows are.
    // Projection r (q, k, v, o): the layer's own entangled weight, or its MASA mixture of atoms
    // entangled over width the same way.
    const auto project = [&](int r, EntangledLinear& own, const torch::Tensor& in) {
      if (!masa_) return own->forward(in, attnMask, embedMix);
      const auto W = masa_->roles[static_cast<std::size_t>(r)]->weightFor(layer, atomMix);
      return F::linear(in, W * attnMask.to(W.scalar_type()));
    };
    const auto q = project(0, attn->q_proj, hIn);
    const auto k = project(1, attn->k_proj, hIn);
    const auto v = project(2, attn->v_proj, hIn);
    torch::Tensor core;
    for (const auto& p : pairs) {
      const auto hd = p.e / p.h;
      auto split = [&](const torch::Tensor& t) { return t.narrow(-1, 0, p.e).reshape({B, T, p.h, hd}).transpose(1, 2); };
      auto qh = split(q), kh = split(k), vh = split(v);
      if (!gpt2) {  // GPT-2 has learned positions instead of rotary ones
        // Tables in q's dtype (bf16 under CUDA autocast), made once per head dim and forward pass.
        if (!rotary.count(hd)) rotary[hd] = rotaryTables(hd, T, space_.ropeTheta, dev, q.scalar_type());
        const auto& [cos, sin] = rotary.at(hd);
        qh = torch::addcmul(qh * cos, swapHalves(qh), sin);
        kh = torch::addcmul(kh * cos, swapHalves(kh), sin);
      }
      auto out = lm::causalAttention(qh, kh, vh).transpose(1, 2).reshape({B, T, p.e});
      if (p.e < E) out = F::pad(out, F::PadFuncOptions({0, E - p.e}));
      out = out * p.w.to(dtype);
      core = core.defined() ? core + out : out;
    }
    x = x + project(3, attn->o_proj, core);
    if (gpt2) {
      auto& b = *gpt2Blocks_[li];
      const auto hMlp = b.ln_2->forward(x, embeds, we);
      // Padded hidden entries are 0 (weight rows and bias masked) and gelu(0) = 0.
      const auto fc = torch::gelu(b.mlp->c_fc->forward(hMlp, upMask, hiddenMix), "tanh");
      x = x + b.mlp->c_proj->forward(fc, downMask, embedMix);
    } else {
      auto& b = *blocks_[li];
      const auto hMlp = b.post_attention_layernorm->forward(x, embeds, we);
      const auto gate = b.mlp->gate_proj->forward(hMlp, upMask);
      const auto up = b.mlp->up_proj->forward(hMlp, upMask);
      x = x + b.mlp->down_proj->forward(torch::silu(gate) * up, downMask);
    }
    // Depth: the residual stream after each candidate depth, weighted.
    while (nextDepth < depths.size() && depths[nextDepth] == layer + 1) {
      if (wlHost[static_cast<std::int64_t>(nextDepth)].item<float>() != 0.0f) {
        auto term = x * wl[static_cast<std::int64_t>(nextDepth)].to(dtype);
        mixed = mixed.defined() ? mixed + term : term;
      }
      ++nextDepth;
    }
  }
  if (gpt2) {
    x = ln_f->forward(mixed, embeds, we);
    return F::linear(x, wte->weight * embedMix.to(dtype));  // tied output head
  }
  x = norm->forward(mixed, embeds, we);
  return F::linear(x, embed_tokens->weight * embedMix.to(dtype));  // tied output head
}

torch::Tensor SupernetImpl::loss(const torch::Tensor& ids, const ArchWeights& w) {
  const auto T = ids.size(1);
  if (T < 2) throw NasError("a language-model loss needs at least 2 tokens per row");
  auto logits = forward(ids.narrow(1, 0, T - 1), w);
  const auto V = logits.size(-1);
  return F::cross_entropy(logits.reshape({-1, V}).to(torch::kFloat32), ids.narrow(1, 1, T - 1).reshape({-1}).to(torch::kLong));
}

lm::CausalLM SupernetImpl::extract(const Architecture& a) {
  if (!space_.contains(a)) throw NasError("architecture " + a.toString() + " is not in the search space");
  auto model = createArchitectureModel(space_, a);
  model->to(embedMasks_.device());
  const auto mine = named_parameters();
  torch::NoGradGuard g;
  for (auto& item : model->named_parameters()) {
    const auto* src = mine.find(item.key());
    if (!src) throw NasError("the supernet has no parameter '" + item.key() + "' for the extracted model");
    auto slice = *src;
    auto& dst = item.value();
    for (std::int64_t d = 0; d < dst.dim(); ++d) slice = slice.narrow(d, 0, dst.size(d));
    dst.copy_(slice);
  }
  return model;
}

lm::CausalLM createArchitectureModel(const SearchSpace& space, const Architecture& a) {
  if (a.atoms <= 0) return lm::createModel(space.modelConfig(a));
  masa::SharingOptions o;
  o.variant = "masa-qkvo";
  o.atoms = a.atoms;
  auto model = masa::createSharedAttentionModel(space.modelConfig(a), o);
  masa::freezeCoefficients(*model);
  return model;
}

std::vector<torch::Tensor> SupernetImpl::weightParameters() {
  std::vector<torch::Tensor> out;
  for (auto& item : named_parameters())
    if (item.key().rfind("arch.", 0) != 0) out.push_back(item.value());
  return out;
}

std::vector<torch::Tensor> SupernetImpl::archParameters() { return arch->parameters(); }

}  // namespace atomscope::nas
