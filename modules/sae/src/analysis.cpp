// R^2 and recovery statistics of neurons and SAEs on activations.
#include "atomscope/sae/analysis.h"

#include <algorithm>
#include <functional>

namespace atomscope::sae {

namespace {

using ChunkFn = std::function<torch::Tensor(std::int64_t i, std::int64_t c)>;  // float32 rows

// Streams chunks of x; code(x) gives (reconstruction, active mask).
Json measure(const std::string& basis, const ChunkFn& chunk, std::int64_t rows, double totalVariance,
             const torch::Tensor& atoms, const torch::Tensor& S,
             const std::function<std::pair<torch::Tensor, torch::Tensor>(const torch::Tensor&)>& code,
             core::Feedback* fb) {
  const auto gA = cosineGram(atoms, S).abs();
  const auto gE = cosineGram(atoms).abs();
  RecoveryStats aip(coherence(gA)), euc(coherence(gE));
  double sse = 0, l0 = 0;
  for (std::int64_t i = 0; i < rows; i += 8192) {
    if (fb) fb->throwIfCancelled();
    const auto c = std::min<std::int64_t>(8192, rows - i);
    auto x = chunk(i, c);
    auto [xhat, active] = code(x);
    sse += (xhat - x).pow(2).sum().item<double>();
    l0 += active.sum().item<double>();
    aip.add(activeSetStats(active, gA.to(active.device())));
    euc.add(activeSetStats(active, gE.to(active.device())));
  }
  const double N = static_cast<double>(std::max<std::int64_t>(1, rows));
  return Json{{"basis", basis}, {"rows", rows}, {"r2", 1.0 - sse / N / std::max(1e-30, totalVariance)},
              {"l0", l0 / N}, {"aip", aip.toJson()}, {"euclidean", euc.toJson()}};
}

ChunkFn readerChunks(const ActivationReader& reader, const std::string& site, const EvalRange& r, std::int64_t& rows,
                     torch::Device device) {
  const auto total = r.end - r.begin;
  rows = r.maxRows > 0 ? std::min(r.maxRows, total) : total;
  const auto stride = std::max<std::int64_t>(1, total / rows);
  return [&reader, site, r, stride, device](std::int64_t i, std::int64_t c) {
    return reader.gather(site, torch::arange(i, i + c, torch::kLong) * stride + r.begin).to(device);
  };
}

std::pair<torch::Tensor, torch::Tensor> neuronCode(const torch::Tensor& x, const torch::Tensor& mean, std::int64_t k) {
  auto centred = x - mean;
  auto top = std::get<1>(centred.abs().topk(k, 1));
  auto active = torch::zeros_like(x, torch::kBool).scatter_(1, top, true);
  return {mean + centred * active.to(x.scalar_type()), active};
}

std::pair<torch::Tensor, torch::Tensor> saeCode(SaeImpl& sae, const torch::Tensor& x) {
  auto z = sae.encode(x);
  return {sae.decode(z), z > 0};
}

void checkWidth(std::int64_t a, std::int64_t b, const std::string& what) {
  if (a != b) throw SaeError(what + ": width " + std::to_string(a) + " does not match the activations' width " + std::to_string(b));
}

}  // namespace

Json analyzeNeurons(const ActivationReader& reader, const std::string& site, const EvalRange& range, std::int64_t k,
                    const torch::Tensor& S, core::Feedback* fb) {
  torch::NoGradGuard g;
  const auto d = reader.d();
  if (k < 1 || k > d) throw SaeError("neuron K must be in [1, " + std::to_string(d) + "]");
  const auto m = estimateMoments(reader, site, range.begin, range.end, range.maxRows, fb);
  const auto mean = m.mean.to(torch::kFloat32);
  std::int64_t rows = 0;
  auto chunk = readerChunks(reader, site, range, rows, torch::kCPU);
  auto out = measure("neurons", chunk, rows, m.totalVariance, torch::eye(d, torch::kFloat64), S,
                     [&](const torch::Tensor& x) { return neuronCode(x, mean, k); }, fb);
  out["k"] = k;
  return out;
}

Json analyzeSae(SaeImpl& sae, const ActivationReader& reader, const std::string& site, const EvalRange& range,
                const torch::Tensor& S, core::Feedback* fb) {
  torch::NoGradGuard g;
  checkWidth(sae.dIn(), reader.d(), "the SAE");
  const auto m = estimateMoments(reader, site, range.begin, range.end, range.maxRows, fb);
  std::int64_t rows = 0;
  auto chunk = readerChunks(reader, site, range, rows, sae.W_enc.device());
  return measure(toString(sae.kind()), chunk, rows, m.totalVariance, sae.rawAtoms().to(torch::kCPU), S,
                 [&](const torch::Tensor& x) { return saeCode(sae, x); }, fb);
}

Json analyzeNeuronsOnTensor(const torch::Tensor& xIn, std::int64_t k, const torch::Tensor& S) {
  torch::NoGradGuard g;
  auto x = xIn.to(torch::kFloat32);
  const auto m = momentsOf(x);
  const auto mean = m.mean.to(torch::kFloat32);
  auto out = measure("neurons", [&](std::int64_t i, std::int64_t c) { return x.narrow(0, i, c); }, x.size(0),
                     m.totalVariance, torch::eye(x.size(1), torch::kFloat64), S,
                     [&](const torch::Tensor& xx) { return neuronCode(xx, mean, k); }, nullptr);
  out["k"] = k;
  return out;
}

Json analyzeSaeOnTensor(SaeImpl& sae, const torch::Tensor& xIn, const torch::Tensor& S) {
  torch::NoGradGuard g;
  checkWidth(sae.dIn(), xIn.size(1), "the SAE");
  auto x = xIn.to(torch::kFloat32).to(sae.W_enc.device());
  const auto m = momentsOf(x.to(torch::kCPU));
  return measure(toString(sae.kind()), [&](std::int64_t i, std::int64_t c) { return x.narrow(0, i, c); }, x.size(0),
                 m.totalVariance, sae.rawAtoms().to(torch::kCPU), S,
                 [&](const torch::Tensor& xx) { return saeCode(sae, xx); }, nullptr);
}

}  // namespace atomscope::sae
