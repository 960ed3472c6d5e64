// MASA attention and its baselines as lm projections (see attention.h).
#include "atomscope/masa/attention.h"

#include <cmath>

#include "atomscope/lm/attention_variants.h"
#include "atomscope/lm/tokenizer.h"  // LmError

namespace atomscope::masa {

namespace F = torch::nn::functional;
using lm::LmError;

namespace {

// The weight set (of n) layer l of L uses under layer sharing: consecutive blocks ("sequential") or
// l mod n ("repeat-all-over"). The baselines pick by it; MASA's one-atom starts begin there.
std::int64_t sharedSetOf(bool repeat, std::int64_t l, std::int64_t layers, std::int64_t n) {
  return repeat ? l % n : std::min(n - 1, l * n / layers);
}

// The shared weights of one projection role: S atoms mixed per layer (MASA), or G weight sets
// picked per layer by a fixed assignment (sequential, repeat-all-over).
class RoleBankImpl : public torch::nn::Module {
 public:
  // start: "random" (the paper), "sequential" or "repeat" (layer l begins as one atom, see below).
  RoleBankImpl(bool masa, std::int64_t layers, std::int64_t atoms, std::int64_t out, std::int64_t in, double stddev,
               std::int64_t embeddingDim, std::vector<std::int64_t> assignment, const std::string& start = "random")
      : masa_(masa), layers_(layers), assignment_(std::move(assignment)) {
    this->atoms = register_parameter("atoms", torch::randn({atoms, out, in}) * stddev);
    if (!masa_) return;
    layer_embedding = register_module("layer_embedding", torch::nn::Embedding(layers, embeddingDim));
    mlp_in = register_module("mlp_in", torch::nn::Linear(embeddingDim, embeddingDim));
    mlp_out = register_module("mlp_out", torch::nn::Linear(embeddingDim, atoms));
    torch::NoGradGuard g;
    torch::nn::init::zeros_(mlp_out->bias);
    // Start with coefficients of RMS 1/sqrt(S): W_l then has the atoms' scale, as a dense init would.
    // One-atom starts (beyond the paper): layer l begins as one atom alone, i.e. at a layer-sharing
    // model, plus a mixture 10x smaller that breaks the ties; training then mixes. "sequential": atom
    // floor(l S / L) (consecutive layers share); "repeat": atom l mod S (repeat-all-over). The one-hot
    // part is a fixed offset, rebuilt from (L, S, start) when a checkpoint is loaded.
    const bool oneAtom = start != "random";
    const auto c = generatedCoefficients();
    const double rms = (oneAtom ? 0.1 : 1.0) / std::sqrt(static_cast<double>(atoms));
    mlp_out->weight.mul_(rms / c.pow(2).mean().sqrt().item<double>());
    if (oneAtom) {
      base_ = torch::zeros({layers, atoms});
      for (std::int64_t l = 0; l < layers; ++l) base_[l][sharedSetOf(start == "repeat", l, layers, atoms)] = 1.0;
    }
  }

  bool isMasa() const { return masa_; }
  bool frozen() const { return coefficients.defined(); }

  // C [L, S]: from the per-layer embeddings through the MLP while training, frozen afterwards.
  torch::Tensor currentCoefficients() { return frozen() ? coefficients : generatedCoefficients(); }

  void freeze() {
    if (!masa_ || frozen()) return;
    auto c = generatedCoefficients().detach().clone();
    unregister_module("layer_embedding");
    unregister_module("mlp_in");
    unregister_module("mlp_out");
    layer_embedding = nullptr;
    mlp_in = mlp_out = nullptr;
    coefficients = register_parameter("coefficients", c);
  }

  torch::Tensor weightFor(std::int64_t layer) {
    if (!masa_) return atoms[assignment_.at(static_cast<std::size_t>(layer))];
    const bool cacheable = !is_training() && !torch::GradMode::is_enabled() && frozen();
    if (cacheable) {
      // Inference computes W_l once; a change to atoms or coefficients (load, edit) invalidates it.
      const auto key = std::make_tuple(atoms._version(), coefficients._version(), atoms.data_ptr(), atoms.scalar_type());
      if (key != cacheKey_ || cache_.empty()) {
        cache_.clear();
        for (std::int64_t l = 0; l < layers_; ++l) cache_.push_back(mix(coefficients[l]));
        cacheKey_ = key;
      }
      return cache_.at(static_cast<std::size_t>(layer));
    }
    return mix(currentCoefficients()[layer]);
  }

  torch::Tensor atoms, coefficients;
  torch::Tensor base_;  // sequential start: fixed one-hot offset of the generated coefficients
  torch::nn::Embedding layer_embedding{nullptr};
  torch::nn::Linear mlp_in{nullptr}, mlp_out{nullptr};

 private:
  torch::Tensor generatedCoefficients() {
    auto e = layer_embedding->weight;  // [L, e]
    auto c = mlp_out->forward(torch::gelu(mlp_in->forward(e)));
    if (base_.defined()) {
      if (base_.device() != c.device() || base_.scalar_type() != c.scalar_type()) base_ = base_.to(c.device(), c.scalar_type());
      c = c + base_;
    }
    return c;
  }
  torch::Tensor mix(const torch::Tensor& c) const {
    return torch::tensordot(c.to(atoms.scalar_type()), atoms, {0}, {0});
  }

  bool masa_;
  std::int64_t layers_;
  std::vector<std::int64_t> assignment_;
  std::vector<torch::Tensor> cache_;
  std::tuple<std::uint32_t, std::uint32_t, void*, c10::ScalarType> cacheKey_{0, 0, nullptr, c10::ScalarType::Undefined};
};
TORCH_MODULE(RoleBank);

// The model-level module holding every role's bank ("masa.q", "masa.k", ...) and the variant.
class BanksImpl : public torch::nn::Module {
 public:
  explicit BanksImpl(SharingOptions o) : options(std::move(o)) {}
  RoleBank add(const std::string& role, RoleBank bank) { return register_module(role, bank); }
  SharingOptions options;
};
TORCH_MODULE(Banks);

class BankProjectionImpl : public lm::ProjectionImpl {
 public:
  BankProjectionImpl(RoleBank bank, std::int64_t layer, const lm::ProjectionSpec& spec) : bank_(std::move(bank)), layer_(layer) {
    if (spec.bias) bias = register_parameter("bias", torch::zeros({spec.outFeatures}));
  }
  torch::Tensor forward(const torch::Tensor& x) override { return F::linear(x, bank_->weightFor(layer_), bias); }
  torch::Tensor denseWeight() override { return bank_->weightFor(layer_); }
  torch::Tensor denseBias() override { return bias; }
  torch::Tensor bias;

 private:
  RoleBank bank_;  // owned by the model's "masa" module; held here too, never registered twice
  std::int64_t layer_;
};

class LowRankProjectionImpl : public lm::ProjectionImpl {
 public:
  LowRankProjectionImpl(const lm::ProjectionSpec& spec, std::int64_t rank, double stddev) {
    // W = U V with std(W) = stddev: U, V ~ N(0, a^2) give std a^2 sqrt(r).
    const double a = std::sqrt(stddev / std::sqrt(static_cast<double>(rank)));
    U = register_parameter("U", torch::randn({spec.outFeatures, rank}) * a);
    V = register_parameter("V", torch::randn({rank, spec.inFeatures}) * a);
    if (spec.bias) bias = register_parameter("bias", torch::zeros({spec.outFeatures}));
  }
  torch::Tensor forward(const torch::Tensor& x) override { return F::linear(F::linear(x, V), U, bias); }
  torch::Tensor denseWeight() override { return torch::matmul(U, V); }
  torch::Tensor denseBias() override { return bias; }
  torch::Tensor U, V, bias;
};

std::int64_t thirdOfLayers(std::int64_t L) { return std::max<std::int64_t>(1, (L + 1) / 3); }

double initStd(const lm::ModelConfig& c, const std::string& role) {
  return role == "o" ? 0.02 / std::sqrt(2.0 * static_cast<double>(c.nLayers)) : 0.02;  // as lm::createModel
}

std::int64_t largestDivisorAtMost(std::int64_t n, std::int64_t limit) {
  for (std::int64_t d = std::max<std::int64_t>(1, limit); d > 1; --d)
    if (n % d == 0) return d;
  return 1;
}

Banks banksOf(lm::CausalLMImpl& model) {
  for (const auto& child : model.named_children())
    if (child.key() == "masa") return Banks(std::dynamic_pointer_cast<BanksImpl>(child.value()));
  return Banks(nullptr);
}

}  // namespace

SharingOptions SharingOptions::fromJson(const std::string& variant, const Json& o) {
  SharingOptions s;
  s.variant = variant;
  s.atoms = o.value("atoms", std::int64_t{0});
  s.rank = o.value("rank", std::int64_t{0});
  s.groups = o.value("groups", std::int64_t{0});
  s.embeddingDim = o.value("embedding_dim", std::int64_t{32});
  s.coefficientInit = o.value("coefficient_init", std::string("random"));
  s.coefficientDecay = o.value("coefficient_decay", true);
  if (s.coefficientInit != "random" && s.coefficientInit != "sequential" && s.coefficientInit != "repeat")
    throw LmError("coefficient_init must be 'random' (the paper), 'sequential' or 'repeat', got '" + s.coefficientInit + "'");
  return s;
}

lm::CausalLM createSharedAttentionModel(const lm::ModelConfig& configIn, const SharingOptions& o) {
  auto c = configIn;
  c.validate();
  const auto L = c.nLayers;
  const auto& v = o.variant;
  if (v == "gqa") {
    if (c.family != lm::ModelFamily::Llama) throw LmError("grouped-query attention needs a Llama model (GPT-2 has none)");
    if (c.nKvHeads == c.nHeads) c.nKvHeads = largestDivisorAtMost(c.nHeads, c.nHeads / 4);
    return lm::createModel(c);
  }
  const bool masa = v == "masa-qkvo" || v == "masa-qkv";
  const bool shared = v == "sequential" || v == "repeat-all-over";
  if (!masa && !shared && v != "low-rank")
    throw LmError("unknown attention sharing '" + v + "': use masa-qkvo, masa-qkv, gqa, low-rank, sequential or repeat-all-over");
  const auto S = o.atoms > 0 ? o.atoms : thirdOfLayers(L);
  const auto G = o.groups > 0 ? o.groups : thirdOfLayers(L);
  const auto r = o.rank > 0 ? o.rank : std::max<std::int64_t>(1, c.dim / 3);
  if (masa && S > L) throw LmError("MASA with " + std::to_string(S) + " atoms for " + std::to_string(L) + " layers stores more than dense attention");
  if (shared && G > L) throw LmError(std::to_string(G) + " weight sets for " + std::to_string(L) + " layers");
  const auto hd = c.effectiveHeadDim();
  auto banks = Banks(o);
  std::map<std::string, RoleBank> byRole;
  for (const char* role : {"q", "k", "v", "o"}) {
    if (v == "masa-qkv" && std::string(role) == "o") continue;
    if (!masa && !shared) continue;
    const auto heads = std::string(role) == "k" || std::string(role) == "v" ? c.nKvHeads : c.nHeads;
    const auto out = std::string(role) == "o" ? c.dim : heads * hd, in = std::string(role) == "o" ? c.nHeads * hd : c.dim;
    std::vector<std::int64_t> assign;
    for (std::int64_t l = 0; l < L && shared; ++l)
      assign.push_back(sharedSetOf(v == "repeat-all-over", l, L, G));
    byRole.emplace(role, banks->add(role, RoleBank(masa, L, masa ? S : G, out, in, initStd(c, role), o.embeddingDim, assign,
                                                   o.coefficientInit)));
  }
  lm::ModelOptions mo;
  mo.attentionProjections = [&](const lm::ProjectionSpec& spec) -> std::shared_ptr<lm::ProjectionImpl> {
    if (v == "low-rank") return std::make_shared<LowRankProjectionImpl>(spec, r, initStd(c, spec.role));
    auto it = byRole.find(spec.role);
    if (it == byRole.end()) return std::make_shared<lm::LinearProjectionImpl>(spec);  // masa-qkv's o
    return std::make_shared<BankProjectionImpl>(it->second, spec.layer, spec);
  };
  auto model = lm::createModel(c, mo);
  if (masa || shared) model->register_module("masa", banks);
  return model;
}

void freezeCoefficients(lm::CausalLMImpl& model) {
  if (auto banks = banksOf(model))
    for (const auto& child : banks->named_children())
      std::dynamic_pointer_cast<RoleBankImpl>(child.value())->freeze();
}

Json describeAttention(lm::CausalLMImpl& model) {
  const auto& c = model.config();
  std::int64_t attention = 0;
  for (const auto& [name, proj] : lm::attentionProjections(model))
    for (const auto& p : proj->parameters()) attention += p.numel();
  Json out;
  std::string variant = "dense";
  if (auto banks = banksOf(model)) {
    for (const auto& p : banks->parameters()) attention += p.numel();
    variant = banks->options.variant;
    for (const auto& child : banks->named_children())
      out["atoms_" + child.key()] = std::dynamic_pointer_cast<RoleBankImpl>(child.value())->atoms.size(0);
  } else {
    for (const auto& [name, proj] : lm::attentionProjections(model))
      if (std::dynamic_pointer_cast<LowRankProjectionImpl>(proj)) variant = "low-rank";
    if (variant == "low-rank")
      out["rank"] = std::dynamic_pointer_cast<LowRankProjectionImpl>(lm::attentionProjections(model).front().second)->U.size(1);
    else if (c.nKvHeads != c.nHeads) variant = "gqa";
  }
  auto denseConfig = c;
  denseConfig.nKvHeads = c.nHeads;
  const auto dense = lm::denseAttentionParameters(denseConfig);
  out["attention_variant"] = variant;
  out["attention_parameters"] = attention;
  out["dense_attention_parameters"] = dense;
  out["attention_reduction"] = 1.0 - static_cast<double>(attention) / static_cast<double>(dense);
  out["total_parameters"] = model.numParameters();
  return out;
}

std::vector<torch::Tensor> undecayedParameters(lm::CausalLMImpl& model) {
  std::vector<torch::Tensor> out;
  auto banks = banksOf(model);
  if (!banks || banks->options.coefficientDecay) return out;
  for (const auto& child : banks->named_children()) {
    auto bank = std::dynamic_pointer_cast<RoleBankImpl>(child.value());
    if (!bank->isMasa() || bank->frozen()) continue;
    for (const auto& p : bank->layer_embedding->parameters()) out.push_back(p);
    for (const auto& linear : {bank->mlp_in, bank->mlp_out})
      for (const auto& p : linear->parameters())
        if (p.dim() >= 2) out.push_back(p);
  }
  return out;
}

std::vector<MatrixDictionary> dictionariesOf(lm::CausalLMImpl& model) {
  std::vector<MatrixDictionary> out;
  auto banks = banksOf(model);
  if (!banks) return out;
  torch::NoGradGuard g;
  for (const auto& child : banks->named_children()) {
    auto bank = std::dynamic_pointer_cast<RoleBankImpl>(child.value());
    if (!bank->isMasa()) continue;
    MatrixDictionary d;
    d.role = child.key();
    d.atoms = bank->atoms.detach().clone();
    d.coefficients = bank->currentCoefficients().detach().clone();
    for (std::int64_t l = 0; l < model.config().nLayers; ++l) d.layers.push_back(l);
    out.push_back(std::move(d));
  }
  return out;
}

void registerAttentionVariants() {
  const std::vector<std::pair<std::string, std::string>> variants = {
      {"masa-qkvo", "MASA: q, k, v and o of every layer are mixtures of S shared matrix atoms per type (S = atoms)."},
      {"masa-qkv", "MASA on q, k and v; o stays per layer."},
      {"gqa", "Grouped-query attention (n_kv_heads, or n_heads / 4)."},
      {"low-rank", "Every attention matrix is a rank-r product U V (r = rank)."},
      {"sequential", "G weight sets (G = groups); consecutive blocks of layers share one."},
      {"repeat-all-over", "G weight sets; layer l uses set l mod G."}};
  for (const auto& [name, help] : variants) {
    lm::registerAttentionVariant(lm::AttentionVariant{
        name, help,
        [name = name](const lm::ModelConfig& c, const Json& o) {
          return createSharedAttentionModel(c, SharingOptions::fromJson(name, o));
        },
        [](lm::CausalLMImpl& m) { freezeCoefficients(m); }, [](lm::CausalLMImpl& m) { return describeAttention(m); },
        [](lm::CausalLMImpl& m) { return undecayedParameters(m); }});
  }
}

}  // namespace atomscope::masa
