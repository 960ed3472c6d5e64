#pragma once
// Causal language models in LibTorch: Llama (RMSNorm, rotary embeddings in Hugging Face's
// rotate-half convention, SwiGLU, grouped-query attention, tied or untied embeddings) and GPT-2
// (learned positions, LayerNorm, tanh GELU). Both behind one CausalLM interface with a KV cache.
//
// Module names follow Hugging Face where they can (model_io.h maps them exactly):
//   Llama: embed_tokens, layers.<i>.{input_layernorm, self_attn.{q,k,v,o}_proj, post_attention_layernorm,
//          mlp.{gate,up,down}_proj}, norm, lm_head (absent when tied)
//   GPT-2: wte, wpe, h.<i>.{ln_1, attn.{q,k,v,o}_proj, ln_2, mlp.{c_fc,c_proj}}, ln_f (output tied to wte)
// GPT-2's fused c_attn (Conv1D, [in, 3*out]) is split into q/k/v projections at load time and fused
// again on export, so every family exposes the same four attention projections. They are created by
// a ProjectionFactory, which MASA (matrix atoms shared across layers) replaces with shared-dictionary
// projections.
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "atomscope/lm/model_config.h"

namespace atomscope::lm {

// One linear projection inside a block: role is "q", "k", "v", "o" (attention) or "gate", "up",
// "down" (Llama MLP), "fc", "proj" (GPT-2 MLP).
struct ProjectionSpec {
  std::int64_t layer = 0;
  std::string role;
  std::int64_t inFeatures = 0;
  std::int64_t outFeatures = 0;
  bool bias = false;
};

// y = x W^T + b. Implementations register their own parameters.
class ProjectionImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  // The equivalent dense weight [out, in] and bias [out] (undefined: none), for export and analysis.
  virtual torch::Tensor denseWeight() = 0;
  virtual torch::Tensor denseBias() { return {}; }
};

// The default: a dense weight [out, in] ("weight") and an optional bias [out] ("bias").
class LinearProjectionImpl : public ProjectionImpl {
 public:
  explicit LinearProjectionImpl(const ProjectionSpec& spec);
  torch::Tensor forward(const torch::Tensor& x) override;
  torch::Tensor denseWeight() override { return weight; }
  torch::Tensor denseBias() override { return bias; }
  torch::Tensor weight, bias;
};

using ProjectionFactory = std::function<std::shared_ptr<ProjectionImpl>(const ProjectionSpec&)>;

struct ModelOptions {
  // Creates the attention projections (q, k, v, o). Empty: LinearProjectionImpl.
  ProjectionFactory attentionProjections;
};

// Keys and values of every layer so far, for incremental decoding. Storage grows by doubling.
//
// Static mode (makeStatic) is for CUDA-graph decoding: every layer gets a buffer of a fixed
// capacity, a step writes its keys and values at the slot held in the device tensor slot(), and
// attention reads all slots under keyMask() (false = empty or padding). Token positions come from
// positions() [B, 1]. advance() then moves slot and positions on the device, so one decoding step
// has the same shapes and no host values every time and can be captured and replayed.
class KVCache {
 public:
  std::int64_t length() const { return length_; }  // tokens already in the cache (dynamic mode)
  void reset();
  // Writes this step's k, v [B, Hkv, T, hd] for one layer at position length() and returns the
  // whole keys and values so far [B, Hkv, length()+T, hd]. The model calls advance(T) after all layers.
  std::pair<torch::Tensor, torch::Tensor> append(std::size_t layer, const torch::Tensor& k, const torch::Tensor& v);
  void advance(std::int64_t tokens);

  // Turns a filled dynamic cache into a static one of `capacity` slots (>= length()). keyMask:
  // the [B, length()] padding mask of what is cached (undefined: all real tokens).
  void makeStatic(std::int64_t capacity, const torch::Tensor& keyMask = {});
  bool isStatic() const { return static_; }
  std::int64_t capacity() const;
  // Static mode: marks this step's slot as a real key; call before the forward pass of the step.
  void openSlot();
  const torch::Tensor& slot() const { return slot_; }            // [1] long: the slot this step writes
  const torch::Tensor& positions() const { return positions_; }  // [B, 1] long: this step's token positions
  const torch::Tensor& keyMask() const { return keyMask_; }      // [B, capacity] bool

 private:
  std::vector<torch::Tensor> keys_, values_;
  std::int64_t length_ = 0;
  bool static_ = false;
  torch::Tensor slot_, positions_, keyMask_;
};

struct ParameterCount {
  std::string name;  // "embed_tokens", "layers.0.self_attn.q_proj", ...
  std::int64_t count = 0;
};

class CausalLMImpl : public torch::nn::Module {
 public:
  explicit CausalLMImpl(ModelConfig config) : config_(std::move(config)) {}
  const ModelConfig& config() const { return config_; }

  // ids [B, T] (integer); returns logits [B, T, V] in the parameters' dtype.
  // cache: keys/values of earlier tokens are read from and this step's appended to it.
  // keyMask: optional [B, past+T] bool, false for padding (left-padded batches); positions then
  // count only real tokens.
  virtual torch::Tensor forward(const torch::Tensor& ids, KVCache* cache = nullptr,
                                const torch::Tensor& keyMask = {}) = 0;

  // Parameter counts of every leaf module (projection, norm, embedding), in module order.
  std::vector<ParameterCount> parameterCounts() const;
  // {"total", "embedding", "blocks": [{"layer", "total", "attention", "mlp", "norms",
  //  "projections": {"self_attn.q_proj": n, ...}}], "final_norm", "lm_head", "config"}
  Json parameterSummary() const;
  std::int64_t numParameters() const;

 protected:
  ModelConfig config_;
};

using CausalLM = std::shared_ptr<CausalLMImpl>;

// Builds an untrained model (GPT-2-style N(0, 0.02) init, residual projections scaled by
// 1/sqrt(2 n_layers), zero biases, unit norms) with the current torch seed. Validates the config.
CausalLM createModel(const ModelConfig& config, const ModelOptions& options = {});

// The blocks the model is made of, for code that walks them (MASA, SAE capture): the attention
// projections of layer i, named as in parameterCounts().
std::vector<std::pair<std::string, std::shared_ptr<ProjectionImpl>>> attentionProjections(CausalLMImpl& model);

// Attention of q [B, H, Tq, hd] over k, v [B, Hkv, Tk, hd] (Hkv divides H) where query i sits at
// key position Tk - Tq + i: causal, plus keyMask [B, Tk] (false = padding) when defined.
// scaled_dot_product_attention on LibTorch >= 2.0, matmul-softmax otherwise.
torch::Tensor causalAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                              const torch::Tensor& keyMask = {});

// While one exists, forward passes on the creating thread record the attention probabilities of
// every layer (in layer order) as float32 [B, H, Tq, Tk] tensors, computed on the plain
// matmul-softmax path (the output is the same attention; only slower). Used by lm.attention.
class AttentionRecorder {
 public:
  AttentionRecorder();
  ~AttentionRecorder();
  AttentionRecorder(const AttentionRecorder&) = delete;
  AttentionRecorder& operator=(const AttentionRecorder&) = delete;
  std::vector<torch::Tensor> probabilities;
  // The recorder active on this thread, or nullptr.
  static AttentionRecorder* current();

 private:
  AttentionRecorder* previous_ = nullptr;
};

// The places inside a block whose outputs an ActivationRecorder can see: the attention block's
// output before it joins the residual stream, the MLP's output before it joins, and the residual
// stream after the block.
enum class ActivationSite { AttnOut, MlpOut, ResidPost };

// While one exists, forward passes on the creating thread hand every block's attention output,
// MLP output and residual stream after the block ([B, T, dim], in the residual stream's dtype) to
// `capture`, in layer order. Used by sae.collect. When none exists a block pays one thread-local
// pointer test. capture may throw (e.g. to stop the forward pass once the layers it needs are seen);
// the exception leaves forward() as it came.
class ActivationRecorder {
 public:
  using Capture = std::function<void(std::int64_t layer, ActivationSite site, const torch::Tensor& value)>;
  explicit ActivationRecorder(Capture capture);
  ~ActivationRecorder();
  ActivationRecorder(const ActivationRecorder&) = delete;
  ActivationRecorder& operator=(const ActivationRecorder&) = delete;
  void record(std::int64_t layer, ActivationSite site, const torch::Tensor& value) const { capture_(layer, site, value); }
  static ActivationRecorder* current();  // the recorder active on this thread, or nullptr

 private:
  Capture capture_;
  ActivationRecorder* previous_ = nullptr;
};

// Mean next-token cross-entropy of ids [B, T] (predicting ids[:, 1:]), computed in float32.
torch::Tensor languageModelLoss(CausalLMImpl& model, const torch::Tensor& ids);

}  // namespace atomscope::lm
