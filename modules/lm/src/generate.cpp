#include "atomscope/lm/generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "atomscope/lm/cuda_graph.h"

namespace atomscope::lm {

namespace {

// splitmix64: a tiny generator whose sequence is the same on every platform and device.
std::uint64_t nextRandom(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
double uniform(std::uint64_t& state) { return static_cast<double>(nextRandom(state) >> 11) * 0x1.0p-53; }

}  // namespace

std::int32_t sampleToken(const torch::Tensor& logitsIn, const GenerationOptions& o, std::uint64_t& rng) {
  auto logits = logitsIn.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  if (o.temperature <= 0.0) return static_cast<std::int32_t>(logits.argmax().item<std::int64_t>());
  const auto V = logits.numel();
  const float* l = logits.data_ptr<float>();
  std::vector<std::int32_t> idx(static_cast<std::size_t>(V));
  std::iota(idx.begin(), idx.end(), 0);
  std::size_t keep = idx.size();
  auto byLogit = [&](std::int32_t a, std::int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); };
  if (o.topK > 0 && static_cast<std::size_t>(o.topK) < idx.size()) {
    keep = static_cast<std::size_t>(o.topK);
    std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(keep), idx.end(), byLogit);
  } else {
    std::sort(idx.begin(), idx.end(), byLogit);
  }
  if (o.topK > 0) std::sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(keep), byLogit);
  // Softmax over the kept tokens at the temperature, in double.
  const double maxLogit = l[idx[0]];
  std::vector<double> p(keep);
  double sum = 0;
  for (std::size_t i = 0; i < keep; ++i) {
    p[i] = std::exp((static_cast<double>(l[idx[i]]) - maxLogit) / o.temperature);
    sum += p[i];
  }
  for (auto& x : p) x /= sum;
  if (o.topP < 1.0) {  // nucleus: the smallest prefix (by probability) whose mass reaches topP
    double cum = 0;
    std::size_t n = 0;
    while (n < keep) {
      cum += p[n++];
      if (cum >= o.topP) break;
    }
    keep = std::max<std::size_t>(1, n);
    sum = std::accumulate(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(keep), 0.0);
    for (std::size_t i = 0; i < keep; ++i) p[i] /= sum;
  }
  const double u = uniform(rng);
  double cum = 0;
  for (std::size_t i = 0; i < keep; ++i) {
    cum += p[i];
    if (u < cum) return idx[i];
  }
  return idx[keep - 1];
}

std::vector<GenerationResult> generate(CausalLMImpl& model, const std::vector<std::vector<std::int32_t>>& prompts,
                                       const GenerationOptions& o, const Tokenizer* tokenizer,
                                       const TokenCallback& onToken, const StopCheck& shouldStop) {
  const auto B = prompts.size();
  std::vector<GenerationResult> results(B);
  if (B == 0) return results;
  const auto& c = model.config();
  std::size_t maxLen = 0;
  for (std::size_t b = 0; b < B; ++b) {
    if (prompts[b].empty()) throw LmError("prompt " + std::to_string(b) + " is empty: give at least one token (e.g. BOS)");
    for (auto t : prompts[b])
      if (t < 0 || t >= c.vocabSize)
        throw LmError("prompt " + std::to_string(b) + " has token id " + std::to_string(t) + " outside the vocabulary [0, " +
                      std::to_string(c.vocabSize) + ")");
    maxLen = std::max(maxLen, prompts[b].size());
  }
  if (!o.stopStrings.empty() && !tokenizer) throw LmError("stop strings need a tokenizer");
  std::vector<std::int32_t> eos = o.stopTokens;
  std::vector<std::int32_t> eosIds;
  if (o.stopAtEos) {
    if (c.eosId >= 0) eosIds.push_back(static_cast<std::int32_t>(c.eosId));
    if (tokenizer && tokenizer->eosId()) eosIds.push_back(*tokenizer->eosId());
  }
  std::size_t maxStop = 0;
  for (const auto& s : o.stopStrings) maxStop = std::max(maxStop, s.size());

  auto params = model.parameters();
  const auto device = params.empty() ? torch::Device(torch::kCPU) : params.front().device();
  const bool ragged = std::any_of(prompts.begin(), prompts.end(), [&](const auto& p) { return p.size() != maxLen; });
  const auto Bn = static_cast<std::int64_t>(B);
  // Left padding: every row ends at the same column, so one step feeds one new column.
  std::vector<std::int64_t> idsHost(B * maxLen, 0);
  std::vector<std::uint8_t> maskHost(B * maxLen, 0);
  for (std::size_t b = 0; b < B; ++b) {
    const auto off = maxLen - prompts[b].size();
    for (std::size_t i = 0; i < prompts[b].size(); ++i) {
      idsHost[b * maxLen + off + i] = prompts[b][i];
      maskHost[b * maxLen + off + i] = 1;
    }
  }
  const auto T0 = static_cast<std::int64_t>(maxLen);
  torch::NoGradGuard noGrad;
  torch::Tensor all = torch::from_blob(idsHost.data(), {Bn, T0}, torch::kLong).to(device);
  torch::Tensor mask =
      ragged ? torch::from_blob(maskHost.data(), {Bn, T0}, torch::kUInt8).to(torch::kBool).to(device) : torch::Tensor();

  // Which decoder runs the cached steps (see GenerationOptions::decoding).
  std::string decoding = o.decoding;
  if (decoding != "auto" && decoding != "dynamic" && decoding != "static" && decoding != "cuda-graph")
    throw LmError("unknown decoding '" + decoding + "': use auto, dynamic, static or cuda-graph");
  if (decoding == "auto") decoding = CapturedStep::available(device) ? "cuda-graph" : "dynamic";
  if (decoding == "cuda-graph" && !CapturedStep::available(device))
    throw LmError("decoding 'cuda-graph' needs a CUDA device and a LibTorch with CUDA");
  // A static cache holds the prompt and every new token; sized to a multiple of 16 (aligned attention masks).
  std::int64_t capacity = ((T0 + o.maxNewTokens + 15) / 16) * 16;
  if (c.family == ModelFamily::Gpt2) capacity = std::min<std::int64_t>(capacity, c.maxSeqLen);
  if (!o.useCache || capacity <= T0) decoding = "dynamic";
  const bool fixedShape = decoding == "static" || decoding == "cuda-graph";

  KVCache cache;
  std::optional<CapturedStep> graph;  // keeps a side stream current while decoding on CUDA
  if (decoding == "cuda-graph") graph.emplace(device);
  torch::Tensor logits = o.useCache ? model.forward(all, &cache, mask).select(1, -1) : model.forward(all, nullptr, mask).select(1, -1);
  torch::Tensor stepIds;  // [B, 1] on the device: the fixed-shape step's input
  torch::Tensor graphLogits;
  std::int64_t fixedSteps = 0;
  if (fixedShape) {
    cache.makeStatic(capacity, mask);
    stepIds = torch::zeros({Bn, 1}, torch::TensorOptions().dtype(torch::kLong).device(device));
  }
  auto fixedStep = [&] {
    cache.openSlot();
    return model.forward(stepIds, &cache).select(1, -1);
  };
  auto step = [&](const torch::Tensor& newIds) -> torch::Tensor {
    if (!o.useCache) return model.forward(all, nullptr, mask).select(1, -1);
    if (!fixedShape) return model.forward(newIds, &cache, mask).select(1, -1);
    stepIds.copy_(newIds);
    ++fixedSteps;
    if (decoding == "static" || fixedSteps == 1) return fixedStep();  // the graph's first step runs eagerly: warm-up
    if (!graphLogits.defined()) graphLogits = graph->capture(fixedStep);
    graph->replay();
    return graphLogits;
  };
  const bool greedy = o.temperature <= 0.0;
  const std::int64_t cacheLimit = fixedShape ? capacity : std::numeric_limits<std::int64_t>::max();
  std::vector<bool> done(B, false);
  std::vector<std::uint64_t> rng(B);
  for (std::size_t b = 0; b < B; ++b) rng[b] = o.seed * 0x100000001B3ULL + b;
  std::vector<std::size_t> textLen(B, 0);
  std::vector<std::int64_t> nextHost(B, 0);
  const std::int64_t contextLimit = c.family == ModelFamily::Gpt2 ? c.maxSeqLen : std::numeric_limits<std::int64_t>::max();
  for (std::int64_t n = 0; n < o.maxNewTokens; ++n) {
    if (shouldStop && shouldStop()) {
      for (std::size_t b = 0; b < B; ++b)
        if (!done[b]) results[b].stopReason = "callback";
      break;
    }
    // One device-to-host copy per step: the argmax of every row (greedy) or all rows' logits.
    torch::Tensor hostArgmax, hostLogits;
    if (greedy) hostArgmax = logits.argmax(-1).to(torch::kCPU, torch::kLong).contiguous();
    else hostLogits = logits.to(torch::kCPU, torch::kFloat32);
    const std::int64_t* argmaxOf = greedy ? hostArgmax.data_ptr<std::int64_t>() : nullptr;
    for (std::size_t b = 0; b < B; ++b) {
      auto& r = results[b];
      if (done[b]) {
        nextHost[b] = r.tokens.empty() ? prompts[b].back() : r.tokens.back();
        continue;
      }
      const auto row = static_cast<std::int64_t>(b);
      const auto tok = greedy ? static_cast<std::int32_t>(argmaxOf[row])
                              : sampleToken(hostLogits[row], o, rng[b]);
      r.tokens.push_back(tok);
      nextHost[b] = tok;
      std::string piece;
      if (tokenizer) {
        const auto text = tokenizer->decode(r.tokens);
        piece = text.size() >= textLen[b] && text.compare(0, r.text.size(), r.text) == 0 ? text.substr(r.text.size()) : text;
        r.text = text;
        textLen[b] = text.size();
      }
      if (std::find(eosIds.begin(), eosIds.end(), tok) != eosIds.end()) {
        r.stopReason = "eos";
        done[b] = true;
      } else if (std::find(eos.begin(), eos.end(), tok) != eos.end()) {
        r.stopReason = "stop_token";
        done[b] = true;
      }
      if (!done[b] && maxStop > 0) {
        const auto from = r.text.size() > piece.size() + maxStop ? r.text.size() - piece.size() - maxStop : 0;
        std::size_t cut = std::string::npos;
        for (const auto& s : o.stopStrings) {
          if (s.empty()) continue;
          const auto pos = r.text.find(s, from);
          if (pos != std::string::npos) cut = std::min(cut, pos);
        }
        if (cut != std::string::npos) {
          piece = cut >= r.text.size() - piece.size() ? piece.substr(0, cut - (r.text.size() - piece.size())) : "";
          r.text.resize(cut);
          r.stopReason = "stop_string";
          done[b] = true;
        }
      }
      if (onToken && !onToken(b, tok, piece) && !done[b]) {
        r.stopReason = "callback";
        done[b] = true;
      }
    }
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    if (n + 1 == o.maxNewTokens) break;
    const auto length = T0 + n + 1;  // tokens the next step's input extends
    if (length > contextLimit || length > cacheLimit) {
      for (std::size_t b = 0; b < B; ++b)
        if (!done[b]) {
          results[b].stopReason = "context";
          done[b] = true;
        }
      break;
    }
    auto nextDev = torch::from_blob(nextHost.data(), {Bn, 1}, torch::kLong).to(device);
    if (!o.useCache) all = torch::cat({all, nextDev}, 1);
    if (mask.defined() && !fixedShape) mask = torch::cat({mask, torch::ones({Bn, 1}, mask.options())}, 1);
    logits = step(nextDev);
  }
  for (auto& r : results)
    if (r.stopReason.empty()) r.stopReason = "max_new_tokens";
  return results;
}

GenerationResult generate(CausalLMImpl& model, const std::vector<std::int32_t>& prompt, const GenerationOptions& options,
                          const Tokenizer* tokenizer, const TokenCallback& onToken, const StopCheck& shouldStop) {
  return generate(model, std::vector<std::vector<std::int32_t>>{prompt}, options, tokenizer, onToken, shouldStop)
      .front();
}

}  // namespace atomscope::lm
