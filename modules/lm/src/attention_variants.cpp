#include "atomscope/lm/attention_variants.h"

#include <mutex>

#include "atomscope/lm/tokenizer.h"  // LmError

namespace atomscope::lm {

namespace {

std::mutex& registryMutex() {
  static std::mutex m;
  return m;
}

std::vector<AttentionVariant>& registry() {
  static std::vector<AttentionVariant> variants{AttentionVariant{
      "dense", "Every layer has its own q, k, v and o matrices (the standard transformer).",
      [](const ModelConfig& c, const Json&) { return createModel(c); }, {},
      [](CausalLMImpl& m) {
        const auto n = denseAttentionParameters(m.config());
        return Json{{"attention_parameters", n}, {"dense_attention_parameters", n}};
      },
      {}}};
  return variants;
}

}  // namespace

std::int64_t denseAttentionParameters(const ModelConfig& c) {
  const auto hd = c.effectiveHeadDim();
  const auto q = c.dim * c.nHeads * hd, kv = c.dim * c.nKvHeads * hd, o = c.nHeads * hd * c.dim;
  std::int64_t perLayer = q + 2 * kv + o;
  if (c.family == ModelFamily::Gpt2 || c.attentionBias) perLayer += c.nHeads * hd + 2 * c.nKvHeads * hd + c.dim;
  return perLayer * c.nLayers;
}

void registerAttentionVariant(AttentionVariant variant) {
  std::lock_guard<std::mutex> lock(registryMutex());
  auto& r = registry();
  for (auto& v : r)
    if (v.name == variant.name) {
      v = std::move(variant);
      return;
    }
  r.push_back(std::move(variant));
}

std::vector<AttentionVariant> attentionVariants() {
  std::lock_guard<std::mutex> lock(registryMutex());
  return registry();
}

const AttentionVariant& attentionVariant(const std::string& name) {
  std::lock_guard<std::mutex> lock(registryMutex());
  for (const auto& v : registry())
    if (v.name == name) return v;
  std::string known;
  for (const auto& v : registry()) known += (known.empty() ? "" : ", ") + v.name;
  throw LmError("unknown attention variant '" + name + "'; known: " + known);
}

}  // namespace atomscope::lm
