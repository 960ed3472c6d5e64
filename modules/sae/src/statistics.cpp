// Moments, whitening, the atomic inner product, coherence and q*.
#include "atomscope/sae/statistics.h"

#include <algorithm>

namespace atomscope::sae {

Moments momentsOf(const torch::Tensor& xIn) {
  auto x = xIn.to(torch::kFloat64);
  Moments m;
  m.rows = x.size(0);
  m.mean = x.mean(0);
  m.secondMoment = torch::matmul(x.t(), x) / static_cast<double>(m.rows);
  m.totalVariance = (x - m.mean).pow(2).sum(1).mean().item<double>();
  return m;
}

Moments estimateMoments(const ActivationReader& reader, const std::string& site, std::int64_t begin, std::int64_t end,
                        std::int64_t maxRows, core::Feedback* fb) {
  reader.requireSite(site);
  if (begin < 0 || end > reader.rows() || end <= begin) throw SaeError("no activation rows to estimate moments from");
  const auto d = reader.d();
  const auto total = end - begin;
  const auto take = maxRows > 0 ? std::min(maxRows, total) : total;
  // Evenly spaced rows: every stride-th, so a cap still sees the whole range.
  const auto stride = std::max<std::int64_t>(1, total / take);
  auto sum = torch::zeros({d}, torch::kFloat64);
  auto sq = torch::zeros({d, d}, torch::kFloat64);
  std::int64_t n = 0;
  const std::int64_t chunk = 65536;
  for (std::int64_t i = 0; i < take; i += chunk) {
    if (fb) fb->throwIfCancelled();
    const auto c = std::min(chunk, take - i);
    torch::Tensor x;
    if (stride == 1) x = reader.rows(site, begin + i, c);
    else x = reader.gather(site, torch::arange(i, i + c, torch::kLong) * stride + begin);
    x = x.to(torch::kFloat64);
    sum += x.sum(0);
    sq += torch::matmul(x.t(), x);
    n += c;
  }
  Moments m;
  m.rows = n;
  m.mean = sum / static_cast<double>(n);
  m.secondMoment = sq / static_cast<double>(n);
  // E||x - mean||^2 = trace(E[x^T x]) - ||mean||^2
  m.totalVariance = (m.secondMoment.trace() - m.mean.dot(m.mean)).item<double>();
  return m;
}

Whitening whiteningFromSecondMoment(const torch::Tensor& Cin) {
  auto C = Cin.to(torch::kFloat64);
  C = 0.5 * (C + C.t());
  auto [evals, evecs] = torch::linalg_eigh(C, "L");
  const double top = evals.max().item<double>();
  if (!(top > 0)) throw SaeError("the activations' second moment is zero: cannot whiten");
  evals = evals.clamp_min(1e-9 * top);
  Whitening w;
  w.S = torch::matmul(evecs * evals.reciprocal(), evecs.t());
  w.W = torch::matmul(evecs * evals.rsqrt(), evecs.t());
  w.Winv = torch::matmul(evecs * evals.sqrt(), evecs.t());
  return w;
}

torch::Tensor cosineGram(const torch::Tensor& Din, const torch::Tensor& S) {
  auto D = Din.to(torch::kFloat64);
  auto G = S.defined() ? torch::matmul(torch::matmul(D, S.to(D.device()).to(torch::kFloat64)), D.t()) : torch::matmul(D, D.t());
  auto norms = G.diagonal().clamp_min(1e-300).sqrt();
  return G / norms.unsqueeze(0) / norms.unsqueeze(1);
}

double coherence(const torch::Tensor& gram) {
  const auto n = gram.size(0);
  if (n < 2) return 0.0;
  auto a = gram.abs().clone();
  a.fill_diagonal_(0.0);
  return a.max().item<double>();
}

ActiveSetStats activeSetStats(const torch::Tensor& activeIn, const torch::Tensor& absGramIn) {
  auto active = activeIn.to(torch::kBool);
  const auto N = active.size(0);
  auto absGram = absGramIn.to(active.device()).to(torch::kFloat64);
  ActiveSetStats s;
  s.K = active.sum(1).to(torch::kLong);
  s.muActive = torch::zeros({N}, torch::TensorOptions().dtype(torch::kFloat64).device(active.device()));
  if (N == 0) return s;
  const auto kmax = s.K.max().item<std::int64_t>();
  if (kmax < 2) return s;
  // Indices of the active atoms, padded: sort the mask descending so the active ones come first.
  auto order = std::get<1>(active.to(torch::kInt).sort(1, /*descending=*/true));
  auto idx = order.narrow(1, 0, kmax);                                                          // [N, kmax]
  auto valid = torch::arange(kmax, s.K.options()).unsqueeze(0) < s.K.unsqueeze(1);              // [N, kmax]
  // Rows in chunks so that [rows, kmax, kmax] stays below ~32M values.
  const auto rowsPer = std::max<std::int64_t>(1, (std::int64_t{1} << 25) / (kmax * kmax));
  for (std::int64_t b = 0; b < N; b += rowsPer) {
    const auto c = std::min(rowsPer, N - b);
    auto I = idx.narrow(0, b, c);
    auto V = valid.narrow(0, b, c);
    auto rows = absGram.index_select(0, I.reshape({-1})).view({c, kmax, -1});  // [c, kmax, n]
    auto pair = rows.gather(2, I.unsqueeze(1).expand({c, kmax, kmax}));         // [c, kmax, kmax]
    auto mask = V.unsqueeze(2) & V.unsqueeze(1);
    mask = mask & torch::eye(kmax, mask.options()).logical_not().unsqueeze(0);
    s.muActive.narrow(0, b, c).copy_(pair.masked_fill(mask.logical_not(), 0.0).amax({1, 2}));
  }
  return s;
}

void RecoveryStats::add(const ActiveSetStats& s) {
  auto K = s.K.to(torch::kCPU).to(torch::kLong).contiguous();
  auto mu = s.muActive.to(torch::kCPU).to(torch::kFloat64).contiguous();
  const auto* k = K.data_ptr<std::int64_t>();
  const auto* m = mu.data_ptr<double>();
  for (std::int64_t i = 0; i < K.numel(); ++i) {
    const auto kk = k[i];
    const bool rip = static_cast<double>(kk - 1) * m[i] < 1.0;
    const bool unique = kk <= 1 || m[i] < 1.0 / static_cast<double>(2 * kk - 1);
    const bool ripG = static_cast<double>(kk - 1) * globalMu_ < 1.0;
    const bool uniqueG = kk <= 1 || globalMu_ < 1.0 / static_cast<double>(2 * kk - 1);
    ++n_;
    sumK_ += static_cast<double>(kk);
    rip_ += rip;
    unique_ += unique;
    ripGlobal_ += ripG;
    uniqueGlobal_ += uniqueG;
    auto& b = byK_[kk];
    ++b[0];
    b[1] += unique;
    b[2] += rip;
  }
}

double RecoveryStats::qStar() const { return n_ ? static_cast<double>(unique_) / static_cast<double>(n_) : 0.0; }

Json RecoveryStats::toJson() const {
  const double n = std::max<double>(1.0, static_cast<double>(n_));
  Json byK = Json::array();
  for (const auto& [k, b] : byK_)
    byK.push_back({{"k", k}, {"count", b[0]}, {"q_star", static_cast<double>(b[1]) / static_cast<double>(b[0])},
                   {"rip_fraction", static_cast<double>(b[2]) / static_cast<double>(b[0])}});
  return Json{{"activations", n_},
              {"mean_l0", sumK_ / n},
              {"coherence", globalMu_},
              {"rip_fraction", static_cast<double>(rip_) / n},
              {"q_star", static_cast<double>(unique_) / n},
              {"rip_fraction_global_mu", static_cast<double>(ripGlobal_) / n},
              {"uniqueness_fraction_global_mu", static_cast<double>(uniqueGlobal_) / n},
              {"by_k", byK}};
}

}  // namespace atomscope::sae
