// Llama and GPT-2 in LibTorch, the KV cache and attention. One translation unit for both families
// (each file including torch costs 30-40 s to compile).
#include "atomscope/lm/model.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <cmath>
#include <map>
#include <set>

namespace atomscope::lm {

namespace F = torch::nn::functional;

// ---------------------------------------------------------------------------------------------
// Projections, cache, attention

LinearProjectionImpl::LinearProjectionImpl(const ProjectionSpec& spec) {
  weight = register_parameter("weight", torch::empty({spec.outFeatures, spec.inFeatures}));
  torch::nn::init::normal_(weight, 0.0, 0.02);
  if (spec.bias) bias = register_parameter("bias", torch::zeros({spec.outFeatures}));
}

torch::Tensor LinearProjectionImpl::forward(const torch::Tensor& x) { return F::linear(x, weight, bias); }

void KVCache::reset() {
  keys_.clear();
  values_.clear();
  length_ = 0;
  static_ = false;
  slot_ = positions_ = keyMask_ = torch::Tensor();
}

std::pair<torch::Tensor, torch::Tensor> KVCache::append(std::size_t layer, const torch::Tensor& k,
                                                        const torch::Tensor& v) {
  if (static_) {
    TORCH_CHECK(layer < keys_.size() && k.size(2) == 1, "a static KV cache takes one token per step");
    keys_[layer].index_copy_(2, slot_, k);
    values_[layer].index_copy_(2, slot_, v);
    return {keys_[layer], values_[layer]};
  }
  if (keys_.size() <= layer) {
    keys_.resize(layer + 1);
    values_.resize(layer + 1);
  }
  auto& K = keys_[layer];
  auto& V = values_[layer];
  const auto T = k.size(2);
  const auto need = length_ + T;
  const bool compatible = K.defined() && K.size(0) == k.size(0) && K.size(1) == k.size(1) &&
                          K.size(3) == k.size(3) && K.scalar_type() == k.scalar_type() && K.device() == k.device();
  if (!compatible || K.size(2) < need) {
    const std::int64_t capacity = std::max<std::int64_t>(need, compatible ? 2 * K.size(2) : need + 64);
    auto newK = torch::empty({k.size(0), k.size(1), capacity, k.size(3)}, k.options());
    auto newV = torch::empty({v.size(0), v.size(1), capacity, v.size(3)}, v.options());
    if (compatible && length_ > 0) {
      newK.narrow(2, 0, length_).copy_(K.narrow(2, 0, length_));
      newV.narrow(2, 0, length_).copy_(V.narrow(2, 0, length_));
    }
    K = newK;
    V = newV;
  }
  K.narrow(2, length_, T).copy_(k);
  V.narrow(2, length_, T).copy_(v);
  return {K.narrow(2, 0, need), V.narrow(2, 0, need)};
}

void KVCache::advance(std::int64_t tokens) {
  if (static_) {  // on the device, so a captured step moves itself forward on replay
    slot_.add_(tokens);
    positions_.add_(tokens);
    return;
  }
  length_ += tokens;
}

void KVCache::makeStatic(std::int64_t capacity, const torch::Tensor& keyMask) {
  if (static_) throw LmError("the KV cache is already static");
  if (keys_.empty() || length_ == 0) throw LmError("a static KV cache starts from a filled one (run the prompt first)");
  if (capacity <= length_)
    throw LmError("static KV cache capacity " + std::to_string(capacity) + " must exceed the " +
                  std::to_string(length_) + " cached tokens");
  const auto& k0 = keys_.front();
  const auto B = k0.size(0);
  for (auto* list : {&keys_, &values_}) {
    for (auto& t : *list) {
      auto buf = torch::zeros({t.size(0), t.size(1), capacity, t.size(3)}, t.options());
      buf.narrow(2, 0, length_).copy_(t.narrow(2, 0, length_));
      t = buf;
    }
  }
  const auto longOpts = torch::TensorOptions().dtype(torch::kLong).device(k0.device());
  keyMask_ = torch::zeros({B, capacity}, longOpts.dtype(torch::kBool));
  if (keyMask.defined()) {
    TORCH_CHECK(keyMask.dim() == 2 && keyMask.size(0) == B && keyMask.size(1) == length_, "keyMask must be [B, length()]");
    keyMask_.narrow(1, 0, length_).copy_(keyMask.to(torch::kBool));
    positions_ = keyMask.to(k0.device()).to(torch::kLong).sum(1, true);  // real tokens so far = next position
  } else {
    keyMask_.narrow(1, 0, length_).fill_(true);
    positions_ = torch::full({B, 1}, length_, longOpts);
  }
  slot_ = torch::full({1}, length_, longOpts);
  static_ = true;
}

std::int64_t KVCache::capacity() const { return keys_.empty() ? 0 : keys_.front().size(2); }

void KVCache::openSlot() {
  TORCH_CHECK(static_, "openSlot() needs a static KV cache");
  keyMask_.index_fill_(1, slot_, true);
}

namespace {
thread_local AttentionRecorder* tlsRecorder = nullptr;
}

AttentionRecorder::AttentionRecorder() : previous_(tlsRecorder) { tlsRecorder = this; }
AttentionRecorder::~AttentionRecorder() { tlsRecorder = previous_; }
AttentionRecorder* AttentionRecorder::current() { return tlsRecorder; }

namespace {
thread_local ActivationRecorder* tlsActivationRecorder = nullptr;
}

ActivationRecorder::ActivationRecorder(Capture capture)
    : capture_(std::move(capture)), previous_(tlsActivationRecorder) {
  tlsActivationRecorder = this;
}
ActivationRecorder::~ActivationRecorder() { tlsActivationRecorder = previous_; }
ActivationRecorder* ActivationRecorder::current() { return tlsActivationRecorder; }

namespace {
// One query step over a static cache: every slot the mask allows, no causal structure needed.
torch::Tensor staticCacheAttention(const torch::Tensor& q, torch::Tensor k, torch::Tensor v, const torch::Tensor& keyMask) {
  const auto H = q.size(1), Hkv = k.size(1);
  if (H != Hkv) {
    k = k.repeat_interleave(H / Hkv, 1);
    v = v.repeat_interleave(H / Hkv, 1);
  }
  const auto mask = keyMask.unsqueeze(1).unsqueeze(1);  // [B, 1, 1, capacity]
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v, mask, 0.0, false);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
  scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity());
  return torch::matmul(torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type()), v);
#endif
}
}  // namespace

torch::Tensor causalAttention(const torch::Tensor& q, const torch::Tensor& kIn, const torch::Tensor& vIn,
                              const torch::Tensor& keyMask) {
  AttentionRecorder* recorder = tlsRecorder;
  const auto H = q.size(1), Tq = q.size(2);
  torch::Tensor k = kIn, v = vIn;
  const auto Hkv = k.size(1), Tk = k.size(2);
  if (H != Hkv) {  // grouped-query attention: head h reads kv head h / (H / Hkv), as HF's repeat_kv
    k = k.repeat_interleave(H / Hkv, 1);
    v = v.repeat_interleave(H / Hkv, 1);
  }
  const auto past = Tk - Tq;
  const bool needMask = keyMask.defined() || (Tq > 1 && past > 0);
  torch::Tensor mask;
  if (needMask || TORCH_VERSION_MAJOR < 2 || recorder) {
    auto opts = torch::TensorOptions().dtype(torch::kLong).device(q.device());
    auto i = torch::arange(Tq, opts).unsqueeze(1) + past;
    auto j = torch::arange(Tk, opts).unsqueeze(0);
    mask = j <= i;  // [Tq, Tk]
    if (keyMask.defined()) {
      // A padding query would see no key at all: let it see itself so its (ignored) row stays finite.
      mask = (mask.unsqueeze(0) & keyMask.to(torch::kBool).unsqueeze(1)) | (j == i).unsqueeze(0);
      mask = mask.unsqueeze(1);  // [B, 1, Tq, Tk]
    }
  }
  if (recorder) {  // the plain path, keeping the float32 probabilities
    const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
    auto scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
    scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity());
    auto probs = torch::softmax(scores, -1, torch::kFloat32);
    recorder->probabilities.push_back(probs.detach());
    return torch::matmul(probs.to(q.scalar_type()), v);
  }
#if TORCH_VERSION_MAJOR >= 2
  if (!needMask) return at::scaled_dot_product_attention(q, k, v, {}, 0.0, Tq > 1);
  return at::scaled_dot_product_attention(q, k, v, mask, 0.0, false);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
  scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity());
  auto probs = torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type());
  return torch::matmul(probs, v);
#endif
}

namespace {

std::shared_ptr<ProjectionImpl> makeProjection(const ModelOptions& options, const ProjectionSpec& spec) {
  if (options.attentionProjections && (spec.role == "q" || spec.role == "k" || spec.role == "v" || spec.role == "o")) {
    auto p = options.attentionProjections(spec);
    if (!p) throw LmError("the projection factory returned nothing for layer " + std::to_string(spec.layer) + " " + spec.role);
    return p;
  }
  return std::make_shared<LinearProjectionImpl>(spec);
}

torch::Tensor activate(const torch::Tensor& x, const std::string& act) {
  if (act == "silu") return torch::silu(x);
  if (act == "gelu") return torch::gelu(x);
  return torch::gelu(x, "tanh");  // gelu_new, gelu_pytorch_tanh
}

// Positions of this step's tokens: [B, T].
torch::Tensor positionsFor(const torch::Tensor& ids, std::int64_t past, const torch::Tensor& keyMask) {
  const auto B = ids.size(0), T = ids.size(1);
  if (keyMask.defined()) {
    TORCH_CHECK(keyMask.dim() == 2 && keyMask.size(0) == B && keyMask.size(1) == past + T,
                "keyMask must be [B, past + T]");
    auto pos = (keyMask.to(torch::kLong).cumsum(1) - 1).clamp_min(0);
    return pos.narrow(1, past, T).to(ids.device());
  }
  return torch::arange(past, past + T, torch::TensorOptions().dtype(torch::kLong).device(ids.device()))
      .unsqueeze(0)
      .expand({B, T});
}

void checkIds(const torch::Tensor& ids, const ModelConfig& c) {
  if (ids.dim() != 2) throw LmError("token ids must be a [batch, time] tensor, got " + std::to_string(ids.dim()) + " dims");
  if (ids.numel() == 0) throw LmError("token ids are empty");
}

// ------------------------------------------------------------------------------------------- Llama

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(std::int64_t dim, double eps) : eps_(eps) { weight = register_parameter("weight", torch::ones({dim})); }
  torch::Tensor forward(const torch::Tensor& x) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 8)
    // float32 input (training under autocast keeps the residual stream in float32): the same
    // arithmetic as below in one fused kernel forward and one backward.
    if (x.scalar_type() == torch::kFloat32 && weight.scalar_type() == torch::kFloat32)
      return at::rms_norm(x, {x.size(-1)}, weight, eps_);
#endif
    // As transformers' LlamaRMSNorm: normalise in float32, cast back, then scale.
    auto h = x.to(torch::kFloat32);
    h = h * torch::rsqrt(h.pow(2).mean(-1, true) + eps_);
    return weight * h.to(x.scalar_type());
  }
  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

// [x1 | x2] -> [x2 | x1] along the last dimension (with a sign-folded sin table, RoPE's rotate_half).
torch::Tensor swapHalves(const torch::Tensor& x) {
  const auto half = x.size(-1) / 2;
  return torch::cat({x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

bool autocastOnCuda() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  return at::autocast::is_autocast_enabled(at::kCUDA) && at::autocast::get_autocast_dtype(at::kCUDA) == at::kBFloat16;
#else
  return at::autocast::is_enabled() && at::autocast::get_autocast_gpu_dtype() == at::kBFloat16;
#endif
}

class LlamaAttentionImpl : public torch::nn::Module {
 public:
  LlamaAttentionImpl(const ModelConfig& c, std::int64_t layer, const ModelOptions& o)
      : nHeads_(c.nHeads), nKv_(c.nKvHeads), hd_(c.effectiveHeadDim()) {
    q_proj = register_module("q_proj", makeProjection(o, {layer, "q", c.dim, c.nHeads * hd_, c.attentionBias}));
    k_proj = register_module("k_proj", makeProjection(o, {layer, "k", c.dim, c.nKvHeads * hd_, c.attentionBias}));
    v_proj = register_module("v_proj", makeProjection(o, {layer, "v", c.dim, c.nKvHeads * hd_, c.attentionBias}));
    o_proj = register_module("o_proj", makeProjection(o, {layer, "o", c.nHeads * hd_, c.dim, c.attentionBias}));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin, KVCache* cache,
                        std::size_t layer, const torch::Tensor& keyMask) {
    const auto B = x.size(0), T = x.size(1);
    auto q = q_proj->forward(x).view({B, T, nHeads_, hd_}).transpose(1, 2);
    auto k = k_proj->forward(x).view({B, T, nKv_, hd_}).transpose(1, 2);
    auto v = v_proj->forward(x).view({B, T, nKv_, hd_}).transpose(1, 2);
    q = torch::addcmul(q * cos, swapHalves(q), sin);  // sin carries rotate_half's signs
    k = torch::addcmul(k * cos, swapHalves(k), sin);
    if (cache) std::tie(k, v) = cache->append(layer, k, v);
    auto out = cache && cache->isStatic() ? staticCacheAttention(q, k, v, cache->keyMask())
                                          : causalAttention(q, k, v, keyMask);
    return o_proj->forward(out.transpose(1, 2).reshape({B, T, nHeads_ * hd_}));
  }
  std::shared_ptr<ProjectionImpl> q_proj, k_proj, v_proj, o_proj;

 private:
  std::int64_t nHeads_, nKv_, hd_;
};
TORCH_MODULE(LlamaAttention);

class LlamaMlpImpl : public torch::nn::Module {
 public:
  LlamaMlpImpl(const ModelConfig& c, std::int64_t layer, const ModelOptions& o) : act_(c.effectiveActivation()) {
    gate_proj = register_module("gate_proj", makeProjection(o, {layer, "gate", c.dim, c.hiddenDim, c.mlpBias}));
    up_proj = register_module("up_proj", makeProjection(o, {layer, "up", c.dim, c.hiddenDim, c.mlpBias}));
    down_proj = register_module("down_proj", makeProjection(o, {layer, "down", c.hiddenDim, c.dim, c.mlpBias}));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return down_proj->forward(activate(gate_proj->forward(x), act_) * up_proj->forward(x));
  }
  std::shared_ptr<ProjectionImpl> gate_proj, up_proj, down_proj;

 private:
  std::string act_;
};
TORCH_MODULE(LlamaMlp);

class LlamaBlockImpl : public torch::nn::Module {
 public:
  LlamaBlockImpl(const ModelConfig& c, std::int64_t layer, const ModelOptions& o)
      : input_layernorm(register_module("input_layernorm", RMSNorm(c.dim, c.normEps))),
        self_attn(register_module("self_attn", LlamaAttention(c, layer, o))),
        post_attention_layernorm(register_module("post_attention_layernorm", RMSNorm(c.dim, c.normEps))),
        mlp(register_module("mlp", LlamaMlp(c, layer, o))) {}
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& cos, const torch::Tensor& sin, KVCache* cache,
                        std::size_t layer, const torch::Tensor& keyMask) {
    if (auto* rec = tlsActivationRecorder) {  // sae.collect: the same arithmetic, outputs handed over
      auto a = self_attn->forward(input_layernorm->forward(x), cos, sin, cache, layer, keyMask);
      rec->record(static_cast<std::int64_t>(layer), ActivationSite::AttnOut, a);
      x = x + a;
      auto m = mlp->forward(post_attention_layernorm->forward(x));
      rec->record(static_cast<std::int64_t>(layer), ActivationSite::MlpOut, m);
      x = x + m;
      rec->record(static_cast<std::int64_t>(layer), ActivationSite::ResidPost, x);
      return x;
    }
    x = x + self_attn->forward(input_layernorm->forward(x), cos, sin, cache, layer, keyMask);
    return x + mlp->forward(post_attention_layernorm->forward(x));
  }
  RMSNorm input_layernorm;
  LlamaAttention self_attn;
  RMSNorm post_attention_layernorm;
  LlamaMlp mlp;
};
TORCH_MODULE(LlamaBlock);

class LlamaImpl : public CausalLMImpl {
 public:
  LlamaImpl(const ModelConfig& c, const ModelOptions& o) : CausalLMImpl(c) {
    embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocabSize, c.dim));
    layers = register_module("layers", torch::nn::ModuleList());
    for (std::int64_t i = 0; i < c.nLayers; ++i) {
      auto block = LlamaBlock(c, i, o);
      layers->push_back(block);
      blocks_.push_back(block);
    }
    norm = register_module("norm", RMSNorm(c.dim, c.normEps));
    if (!c.tiedEmbeddings)
      lm_head = register_module("lm_head", torch::nn::Linear(torch::nn::LinearOptions(c.dim, c.vocabSize).bias(false)));
    // transformers' default rotary: inv_freq = 1 / theta^(arange(0, hd, 2) / hd) in float32.
    const auto hd = c.effectiveHeadDim();
    invFreq_ = 1.0 / torch::pow(torch::tensor(c.ropeTheta, torch::kFloat32),
                                torch::arange(0, hd, 2, torch::kLong).to(torch::kFloat32) / static_cast<double>(hd));
  }

  torch::Tensor forward(const torch::Tensor& ids, KVCache* cache, const torch::Tensor& keyMask) override {
    checkIds(ids, config_);
    const auto T = ids.size(1);
    const std::int64_t past = cache ? cache->length() : 0;
    auto x = embed_tokens->forward(ids);
    const auto pos = cache && cache->isStatic() ? cache->positions() : positionsFor(ids, past, keyMask);
    // Rotary tables in the dtype q and k have: the projections' output dtype under CUDA autocast
    // (bf16, so the rotation does not promote q and k to float32), else the residual stream's.
    const auto dtype = ids.is_cuda() && autocastOnCuda() ? torch::kBFloat16 : x.scalar_type();
    if (invFreq_.device() != ids.device()) invFreq_ = invFreq_.to(ids.device());
    auto freqs = pos.to(torch::kFloat32).unsqueeze(-1) * invFreq_;  // [B, T, hd/2]
    const auto c = freqs.cos(), s = freqs.sin();
    const auto cos = torch::cat({c, c}, -1).to(dtype).unsqueeze(1);  // [B, 1, T, hd]
    // rotate_half(x) * sin == swapHalves(x) * (-sin | sin): one kernel fewer per rotation.
    const auto sin = torch::cat({-s, s}, -1).to(dtype).unsqueeze(1);
    for (std::size_t i = 0; i < blocks_.size(); ++i) x = blocks_[i]->forward(x, cos, sin, cache, i, keyMask);
    if (cache) cache->advance(T);
    x = norm->forward(x);
    return config_.tiedEmbeddings ? F::linear(x, embed_tokens->weight) : lm_head->forward(x);
  }

  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
  torch::nn::Linear lm_head{nullptr};

 private:
  std::vector<LlamaBlock> blocks_;
  torch::Tensor invFreq_;
};

// -------------------------------------------------------------------------------------------- GPT-2

class Gpt2AttentionImpl : public torch::nn::Module {
 public:
  Gpt2AttentionImpl(const ModelConfig& c, std::int64_t layer, const ModelOptions& o)
      : nHeads_(c.nHeads), hd_(c.dim / c.nHeads) {
    q_proj = register_module("q_proj", makeProjection(o, {layer, "q", c.dim, c.dim, true}));
    k_proj = register_module("k_proj", makeProjection(o, {layer, "k", c.dim, c.dim, true}));
    v_proj = register_module("v_proj", makeProjection(o, {layer, "v", c.dim, c.dim, true}));
    o_proj = register_module("o_proj", makeProjection(o, {layer, "o", c.dim, c.dim, true}));
  }
  torch::Tensor forward(const torch::Tensor& x, KVCache* cache, std::size_t layer, const torch::Tensor& keyMask) {
    const auto B = x.size(0), T = x.size(1);
    auto q = q_proj->forward(x).view({B, T, nHeads_, hd_}).transpose(1, 2);
    auto k = k_proj->forward(x).view({B, T, nHeads_, hd_}).transpose(1, 2);
    auto v = v_proj->forward(x).view({B, T, nHeads_, hd_}).transpose(1, 2);
    if (cache) std::tie(k, v) = cache->append(layer, k, v);
    auto out = cache && cache->isStatic() ? staticCacheAttention(q, k, v, cache->keyMask())
                                          : causalAttention(q, k, v, keyMask);
    return o_proj->forward(out.transpose(1, 2).reshape({B, T, nHeads_ * hd_}));
  }
  std::shared_ptr<ProjectionImpl> q_proj, k_proj, v_proj, o_proj;

 private:
  std::int64_t nHeads_, hd_;
};
TORCH_MODULE(Gpt2Attention);

class Gpt2MlpImpl : public torch::nn::Module {
 public:
  Gpt2MlpImpl(const ModelConfig& c, std::int64_t layer, const ModelOptions& o) : act_(c.effectiveActivation()) {
    c_fc = register_module("c_fc", makeProjection(o, {layer, "fc", c.dim, c.hiddenDim, true}));
    c_proj = register_module("c_proj", makeProjection(o, {layer, "proj", c.hiddenDim, c.dim, true}));
  }
  torch::Tensor forward(const torch::Tensor& x) { return c_proj->forward(activate(c_fc->forward(x), act_)); }
  std::shared_ptr<ProjectionImpl> c_fc, c_proj;

 private:
  std::string act_;
};
TORCH_MODULE(Gpt2Mlp);

class Gpt2BlockImpl : public torch::nn::Module {
 public:
  Gpt2BlockImpl(const ModelConfig& c, std::int64_t layer, const ModelOptions& o)
      : ln_1(register_module("ln_1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.dim}).eps(c.normEps)))),
        attn(register_module("attn", Gpt2Attention(c, layer, o))),
        ln_2(register_module("ln_2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.dim}).eps(c.normEps)))),
        mlp(register_module("mlp", Gpt2Mlp(c, layer, o))) {}
  torch::Tensor forward(torch::Tensor x, KVCache* cache, std::size_t layer, const torch::Tensor& keyMask) {
    if (auto* rec = tlsActivationRecorder) {  // sae.collect: the same arithmetic, outputs handed over
      auto a = attn->forward(ln_1->forward(x), cache, layer, keyMask);
      rec->record(static_cast<std::int64_t>(layer), ActivationSite::AttnOut, a);
      x = x + a;
      auto m = mlp->forward(ln_2->forward(x));
      rec->record(static_cast<std::int64_t>(layer), ActivationSite::MlpOut, m);
      x = x + m;
      rec->record(static_cast<std::int64_t>(layer), ActivationSite::ResidPost, x);
      return x;
    }
    x = x + attn->forward(ln_1->forward(x), cache, layer, keyMask);
    return x + mlp->forward(ln_2->forward(x));
  }
  torch::nn::LayerNorm ln_1;
  Gpt2Attention attn;
  torch::nn::LayerNorm ln_2;
  Gpt2Mlp mlp;
};
TORCH_MODULE(Gpt2Block);

class Gpt2Impl : public CausalLMImpl {
 public:
  Gpt2Impl(const ModelConfig& c, const ModelOptions& o) : CausalLMImpl(c) {
    wte = register_module("wte", torch::nn::Embedding(c.vocabSize, c.dim));
    wpe = register_module("wpe", torch::nn::Embedding(c.maxSeqLen, c.dim));
    h = register_module("h", torch::nn::ModuleList());
    for (std::int64_t i = 0; i < c.nLayers; ++i) {
      auto block = Gpt2Block(c, i, o);
      h->push_back(block);
      blocks_.push_back(block);
    }
    ln_f = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.dim}).eps(c.normEps)));
  }

  torch::Tensor forward(const torch::Tensor& ids, KVCache* cache, const torch::Tensor& keyMask) override {
    checkIds(ids, config_);
    const auto T = ids.size(1);
    const std::int64_t past = cache ? cache->length() : 0;
    const auto reach = cache && cache->isStatic() ? cache->capacity() : past + T;
    if (reach > config_.maxSeqLen)
      throw LmError("GPT-2 sequence of " + std::to_string(reach) + " tokens exceeds its " +
                    std::to_string(config_.maxSeqLen) + " learned positions");
    const auto pos = cache && cache->isStatic() ? cache->positions() : positionsFor(ids, past, keyMask);
    auto x = wte->forward(ids) + wpe->forward(pos);
    for (std::size_t i = 0; i < blocks_.size(); ++i) x = blocks_[i]->forward(x, cache, i, keyMask);
    if (cache) cache->advance(T);
    return F::linear(ln_f->forward(x), wte->weight);
  }

  torch::nn::Embedding wte{nullptr}, wpe{nullptr};
  torch::nn::ModuleList h{nullptr};
  torch::nn::LayerNorm ln_f{nullptr};

 private:
  std::vector<Gpt2Block> blocks_;
};

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

// ------------------------------------------------------------------------------------------ common

CausalLM createModel(const ModelConfig& config, const ModelOptions& options) {
  config.validate();
  CausalLM model;
  if (config.family == ModelFamily::Llama) model = std::make_shared<LlamaImpl>(config, options);
  else model = std::make_shared<Gpt2Impl>(config, options);
  torch::NoGradGuard noGrad;
  const double residualStd = 0.02 / std::sqrt(2.0 * static_cast<double>(config.nLayers));
  for (auto& item : model->named_parameters()) {
    const auto& name = item.key();
    auto& p = item.value();
    if (endsWith(name, ".bias")) p.zero_();
    else if (p.dim() == 1) p.fill_(1.0);  // norm scales
    else if (endsWith(name, "o_proj.weight") || endsWith(name, "down_proj.weight") ||
             endsWith(name, "mlp.c_proj.weight"))
      p.normal_(0.0, residualStd);
    else p.normal_(0.0, 0.02);
  }
  return model;
}

std::vector<std::pair<std::string, std::shared_ptr<ProjectionImpl>>> attentionProjections(CausalLMImpl& model) {
  std::vector<std::pair<std::string, std::shared_ptr<ProjectionImpl>>> out;
  for (const auto& item : model.named_modules("", false)) {
    if (auto p = std::dynamic_pointer_cast<ProjectionImpl>(item.value())) {
      const auto& n = item.key();
      if (n.find("attn.") != std::string::npos) out.emplace_back(n, p);
    }
  }
  return out;
}

std::vector<ParameterCount> CausalLMImpl::parameterCounts() const {
  std::vector<ParameterCount> out;
  for (const auto& item : named_modules("", false)) {
    const auto params = item.value()->named_parameters(false);
    if (params.is_empty()) continue;
    std::int64_t n = 0;
    for (const auto& p : params) n += p.value().numel();
    out.push_back({item.key(), n});
  }
  return out;
}

std::int64_t CausalLMImpl::numParameters() const {
  std::int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

Json CausalLMImpl::parameterSummary() const {
  const std::string blockPrefix = config_.family == ModelFamily::Llama ? "layers." : "h.";
  std::vector<Json> blocks(static_cast<std::size_t>(config_.nLayers));
  for (std::size_t i = 0; i < blocks.size(); ++i)
    blocks[i] = Json{{"layer", i}, {"total", 0}, {"attention", 0}, {"mlp", 0}, {"norms", 0},
                     {"projections", Json::object()}};
  std::int64_t embedding = 0, finalNorm = 0, head = 0, total = 0;
  for (const auto& pc : parameterCounts()) {
    total += pc.count;
    if (pc.name.rfind(blockPrefix, 0) == 0) {
      const auto rest = pc.name.substr(blockPrefix.size());
      const auto dot = rest.find('.');
      const auto layer = std::stoull(rest.substr(0, dot));
      const auto sub = rest.substr(dot + 1);
      auto& b = blocks.at(layer);
      b["total"] = b["total"].get<std::int64_t>() + pc.count;
      const char* kind = sub.find("attn") != std::string::npos ? "attention"
                         : sub.find("mlp") != std::string::npos ? "mlp"
                                                                : "norms";
      b[kind] = b[kind].get<std::int64_t>() + pc.count;
      if (std::string(kind) != "norms") b["projections"][sub] = pc.count;
    } else if (pc.name == "embed_tokens" || pc.name == "wte" || pc.name == "wpe") {
      embedding += pc.count;
    } else if (pc.name == "norm" || pc.name == "ln_f") {
      finalNorm += pc.count;
    } else if (pc.name == "lm_head") {
      head += pc.count;
    }
  }
  return Json{{"family", toString(config_.family)},
              {"total", total},
              {"embedding", embedding},
              {"lm_head", head},
              {"lm_head_tied", config_.tiedEmbeddings},
              {"final_norm", finalNorm},
              {"blocks", blocks},
              {"config", config_.toJson()}};
}

torch::Tensor languageModelLoss(CausalLMImpl& model, const torch::Tensor& ids) {
  const auto T = ids.size(1);
  if (T < 2) throw LmError("a language-model loss needs at least 2 tokens per row");
  auto logits = model.forward(ids.narrow(1, 0, T - 1));  // the last token is only a target
  const auto V = logits.size(-1);
  return F::cross_entropy(logits.reshape({-1, V}).to(torch::kFloat32),
                          ids.narrow(1, 1, T - 1).reshape({-1}).to(torch::kLong));
}

}  // namespace atomscope::lm
