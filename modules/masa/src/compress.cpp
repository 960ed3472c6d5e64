#include "atomscope/masa/compress.h"

#include <algorithm>
#include <cmath>
#include <regex>

#include "atomscope/lm/tokenizer.h"  // LmError
#include "atomscope/masa/matrix_pca.h"
#include "atomscope/masa/output_fit.h"

namespace atomscope::masa {

namespace {

using lm::LmError;

bool isWhitened(const std::string& m) { return m == "matrix-pca-whitened" || m == "matrix-pca-whitened-refined"; }
bool isFitted(const std::string& m) { return m == "matrix-pca-fitted"; }
constexpr int kFitRounds = 4;          // matrix-pca-fitted: atom/coefficient rounds before the residual ranks are chosen
constexpr int kAlternatingRounds = 3;  // and atom/residual rounds after
bool isGreedy(const std::string& m) { return m == "matrix-pca-refined-greedy" || isFitted(m); }
bool isRefined(const std::string& m) {
  return m == "matrix-pca-refined" || m == "matrix-pca-whitened-refined" || isGreedy(m);
}
bool isSvd(const std::string& m) { return m == "svd" || m == "svd-llm"; }

torch::Tensor f64(const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kFloat64); }

// The most atoms whose dictionary (atoms + coefficients of L layers) fits in budget; 0 if none.
std::int64_t atomsWithin(std::int64_t budget, std::int64_t matrixSize, std::int64_t L) {
  return std::min<std::int64_t>(L, budget / (matrixSize + L));
}

// Ranks per layer summing to floor(budget / (out + in)), capped at min(out, in).
std::vector<std::int64_t> ranksWithin(std::int64_t budget, std::int64_t L, std::int64_t out, std::int64_t in) {
  const auto total = budget / (out + in);
  std::vector<std::int64_t> r(static_cast<std::size_t>(L), total / L);
  for (std::int64_t i = 0; i < total % L; ++i) ++r[static_cast<std::size_t>(i)];
  for (auto& x : r) x = std::min(x, std::min(out, in));
  return r;
}

// Per-layer whitening of one type's inputs.
std::vector<Whitening> layerWhitening(const ProjectionSet& set, const CalibrationRecorder& calib) {
  std::vector<Whitening> out;
  for (auto l : set.layers) {
    const auto& st = calib.get(l, set.role);
    out.push_back(choleskyWhitening(st.autocorrelation / static_cast<double>(std::max<std::int64_t>(1, st.tokens))));
  }
  return out;
}

// Least-squares coefficients of W in the atoms under the metric R: min_c ||(W - sum c_s D_s) R||_F.
torch::Tensor refitCoefficients(const torch::Tensor& W, const torch::Tensor& atoms, const torch::Tensor& R) {
  const auto S = atoms.size(0);
  auto A = torch::matmul(f64(atoms), R).reshape({S, -1}).t();  // [n, S]
  auto b = torch::matmul(f64(W), R).reshape({-1, 1});
  auto G = torch::matmul(A.t(), A);
  G = G + 1e-12 * G.diagonal().mean().clamp_min(1e-300) * torch::eye(S, G.options());
  return torch::linalg_solve(G, torch::matmul(A.t(), b), true).reshape({S});
}

double relErr(const torch::Tensor& W, const torch::Tensor& What) {
  auto w = f64(W);
  const double n = w.norm().item<double>();
  const double e = (w - f64(What)).norm().item<double>();
  return n > 0 ? e / n : e;
}

// Position in `set` of model layer `layer` (the dictionaries list model layers, the sets positions).
std::size_t positionOf(const ProjectionSet& set, std::int64_t layer) {
  return static_cast<std::size_t>(std::find(set.layers.begin(), set.layers.end(), layer) - set.layers.begin());
}

// The atom part sum_s C[i, s] D_s of a dictionary's i-th layer (its residual left out), float64.
torch::Tensor atomPart(const MatrixDictionary& d, std::size_t i) {
  return torch::tensordot(f64(d.coefficients)[static_cast<std::int64_t>(i)], f64(d.atoms), {0}, {0});
}

// matrix-pca-fitted: the atoms and coefficients of `d` refitted to its layers' calibration outputs,
// each layer's relative output error weighted alike; the dictionary's residuals (where a layer has
// one) are taken out of the targets first.
void fitDictionary(MatrixDictionary& d, const ProjectionSet& set, const std::vector<Whitening>& wh, double ridge, int rounds) {
  OutputFitProblem p;
  for (std::size_t i = 0; i < d.layers.size(); ++i) {
    const auto pos = positionOf(set, d.layers[i]);
    auto W = f64(set.weights[pos]);
    // A ridge on the input metric keeps the weights themselves close: without it the atoms move freely
    // in input directions the calibration text barely excites, and held-out text pays for it.
    auto A = torch::matmul(wh[pos].factor, wh[pos].factor.t());
    auto R = torch::linalg_cholesky(A + ridge * A.diagonal().mean() * torch::eye(A.size(0), A.options()));
    p.weights.push_back(1.0 / std::max(1e-300, torch::matmul(W, R).pow(2).sum().item<double>()));
    if (i < d.residualU.size() && d.residualU[i].defined()) W = W - torch::matmul(f64(d.residualU[i]), f64(d.residualV[i]));
    p.targets.push_back(W);
    p.factors.push_back(R);
  }
  fitAtomsToOutputs(d, p, rounds);
}

// Sum over every attention matrix of its relative calibration output error ||(W - W^) R||^2 / ||W R||^2;
// whitening[t]: layerWhitening of sets[t].
double relativeOutputError(const std::vector<ProjectionSet>& sets, const std::vector<std::vector<Whitening>>& whitening,
                           const CompressionResult& res) {
  double e = 0;
  for (std::size_t t = 0; t < sets.size(); ++t) {
    const auto& set = sets[t];
    const auto& wh = whitening[t];
    const auto& What = res.weights.at(set.role);
    for (std::size_t i = 0; i < set.weights.size(); ++i) {
      auto W = f64(set.weights[i]);
      const auto& R = wh[i].factor;
      e += torch::matmul(W - f64(What[i]), R).pow(2).sum().item<double>() /
           std::max(1e-300, torch::matmul(W, R).pow(2).sum().item<double>());
    }
  }
  return e;
}

std::vector<double> toVector(const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kFloat64).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

}  // namespace

const std::vector<std::string>& compressionMethods() {
  static const std::vector<std::string> m{"matrix-pca",          "matrix-pca-grouped", "matrix-pca-refined",
                                          "matrix-pca-refined-greedy", "matrix-pca-fitted", "matrix-pca-whitened",
                                          "matrix-pca-whitened-refined",
                                          "svd",                 "svd-llm"};
  return m;
}

bool methodNeedsCalibration(const std::string& method) {
  return method == "matrix-pca-grouped" || isWhitened(method) || isRefined(method) || method == "svd-llm";
}

std::vector<ProjectionSet> attentionSets(lm::CausalLMImpl& model) {
  std::vector<ProjectionSet> sets;
  for (const char* r : {"q", "k", "v", "o"}) sets.push_back({r, {}, {}, {}});
  static const std::regex pattern(R"((?:^|\.)(?:layers|h)\.(\d+)\.\w+\.([qkvo])_proj$)");
  for (const auto& [name, proj] : lm::attentionProjections(model)) {
    std::smatch m;
    if (!std::regex_search(name, m, pattern)) throw LmError("unexpected attention projection name '" + name + "'");
    auto dense = std::dynamic_pointer_cast<lm::LinearProjectionImpl>(proj);
    if (!dense) throw LmError("attention projection '" + name + "' is not dense: compress a dense (pretrained) model");
    const std::string role = m[2];
    auto& set = *std::find_if(sets.begin(), sets.end(), [&](const auto& s) { return s.role == role; });
    set.layers.push_back(std::stoll(m[1]));
    set.names.push_back(name);
    set.weights.push_back(dense->weight);
  }
  for (const auto& s : sets)
    if (s.weights.empty()) throw LmError("the model has no '" + s.role + "' attention projections");
  return sets;
}

std::int64_t budgetFor(const ProjectionSet& set, const CompressOptions& o) {
  const auto L = static_cast<std::int64_t>(set.weights.size());
  if (o.atoms > 0) {
    if (o.atoms > L) throw LmError("atoms " + std::to_string(o.atoms) + " exceeds the " + std::to_string(L) + " layers");
    return o.atoms * (set.out() * set.in() + L);
  }
  if (!(o.ratio > 0.0 && o.ratio < 1.0))
    throw LmError("compression ratio must be between 0 and 1 (the fraction of attention parameters removed), got " +
                  std::to_string(o.ratio));
  return static_cast<std::int64_t>(std::floor((1.0 - o.ratio) * static_cast<double>(set.fullCount())));
}

std::int64_t CompressionResult::attentionFull() const {
  std::int64_t n = 0;
  for (const auto& t : types) n += t.full;
  return n;
}
std::int64_t CompressionResult::attentionStored() const {
  std::int64_t n = 0;
  for (const auto& t : types) n += t.stored;
  return n;
}

Json CompressionResult::toJson() const {
  Json j{{"method", method}, {"attention_params_before", attentionFull()}, {"attention_params_after", attentionStored()},
         {"attention_compression", 1.0 - static_cast<double>(attentionStored()) / static_cast<double>(attentionFull())}};
  if (!layerDistance.empty()) j["layer_kl"] = layerDistance;
  if (atomFraction > 0) j["atom_fraction"] = atomFraction, j["fit_ridge"] = fitRidge;
  if (!atomFractionSearch.empty()) {
    Json s = Json::array();
    for (const auto& t : atomFractionSearch)
      s.push_back({{"atom_fraction", t.atomFraction}, {"fit_ridge", t.ridge}, {"relative_output_error", t.outputError}});
    j["fit_search"] = s;
  }
  Json types_ = Json::array();
  for (const auto& t : types)
    types_.push_back({{"role", t.role}, {"params_before", t.full}, {"budget", t.budget}, {"params_after", t.stored},
                      {"atoms", t.atoms}, {"groups", t.groups}, {"energy", t.energy}, {"ranks", t.ranks},
                      {"relative_error", t.relativeError}, {"whitening_ridge", t.ridge}});
  j["types"] = types_;
  return j;
}

std::vector<double> layerKlDistances(lm::CausalLMImpl& model, const CalibrationRecorder& calib) {
  torch::NoGradGuard g;
  std::map<std::string, torch::Tensor> p;
  for (const auto& kv : model.named_parameters()) p[kv.key()] = f64(kv.value());
  const auto& c = model.config();
  const bool llama = c.family == lm::ModelFamily::Llama;
  auto need = [&](const std::string& n) {
    auto it = p.find(n);
    if (it == p.end()) throw LmError("layer grouping: the model has no parameter '" + n + "'");
    return it->second;
  };
  const auto head = p.count("lm_head.weight") ? p["lm_head.weight"] : need(llama ? "embed_tokens.weight" : "wte.weight");
  std::vector<torch::Tensor> logp;
  for (std::int64_t l = 0; l < c.nLayers; ++l) {
    auto x = calib.get(l, "q").mean();  // mean of the normed input of layer l
    const auto L = (llama ? "layers." : "h.") + std::to_string(l);
    torch::Tensor h;
    if (llama) {
      auto g = need(L + ".input_layernorm.weight");
      h = x / torch::where(g.abs() > 1e-12, g, torch::ones_like(g));
      h = h / torch::sqrt(h.pow(2).mean() + c.normEps) * need("norm.weight");
    } else {
      auto g = need(L + ".ln_1.weight");
      h = (x - need(L + ".ln_1.bias")) / torch::where(g.abs() > 1e-12, g, torch::ones_like(g));
      h = (h - h.mean()) / torch::sqrt(h.var(false) + c.normEps) * need("ln_f.weight") + need("ln_f.bias");
    }
    logp.push_back(torch::log_softmax(torch::matmul(head, h), 0));
  }
  std::vector<double> d;
  for (std::size_t l = 0; l + 1 < logp.size(); ++l)
    d.push_back((logp[l].exp() * (logp[l] - logp[l + 1])).sum().item<double>());
  return d;
}

namespace {

CompressionResult compressOnce(lm::CausalLMImpl& model, const CompressOptions& o, const CalibrationRecorder* calib,
                               core::Feedback& fb) {
  torch::NoGradGuard noGrad;
  auto sets = attentionSets(model);
  CompressionResult res;
  res.method = o.method;
  if (o.method == "matrix-pca-grouped") res.layerDistance = layerKlDistances(model, *calib);
  std::vector<std::int64_t> residualBudget(sets.size(), 0);
  for (std::size_t t = 0; t < sets.size(); ++t) {
    fb.throwIfCancelled();
    const auto& set = sets[t];
    fb.setStage("compressing " + set.role + " (" + o.method + ")");
    const auto L = static_cast<std::int64_t>(set.weights.size());
    const auto oi = set.out() * set.in();
    TypeReport rep;
    rep.role = set.role;
    rep.full = set.fullCount();
    rep.budget = budgetFor(set, o);
    auto& What = res.weights[set.role];
    What.resize(static_cast<std::size_t>(L));

    if (isSvd(o.method)) {
      const auto ranks = ranksWithin(rep.budget, L, set.out(), set.in());
      if (std::all_of(ranks.begin(), ranks.end(), [](auto r) { return r == 0; }))
        throw LmError("the budget of '" + set.role + "' (" + std::to_string(rep.budget) +
                      " parameters) is too small for rank 1: lower the ratio");
      std::vector<Whitening> wh;
      if (o.method == "svd-llm") wh = layerWhitening(set, *calib);
      auto& factors = res.lowRank[set.role];
      for (std::int64_t l = 0; l < L; ++l) {
        const auto i = static_cast<std::size_t>(l);
        auto f = o.method == "svd" ? truncatedSvd(set.weights[i], ranks[i]) : whitenedSvd(set.weights[i], wh[i].factor, ranks[i]);
        What[i] = f.product();
        rep.stored += f.parameterCount();
        rep.ranks.push_back(ranks[i]);
        rep.relativeError.push_back(relErr(set.weights[i], What[i]));
        if (!wh.empty()) rep.ridge.push_back(wh[i].ridge);
        factors.push_back(std::move(f));
      }
      res.types.push_back(std::move(rep));
      continue;
    }

    // MASA methods: dictionaries over groups of layers.
    std::vector<std::vector<std::int64_t>> groups;  // positions 0..L-1
    if (o.method == "matrix-pca-grouped") {
      groups = groupConsecutive(res.layerDistance, o.groups);
    } else {
      groups.emplace_back();
      for (std::int64_t l = 0; l < L; ++l) groups[0].push_back(l);
    }
    const auto atomBudget = isRefined(o.method)
                                ? static_cast<std::int64_t>(std::floor(o.atomFraction * static_cast<double>(rep.budget)))
                                : rep.budget;
    // Atoms per group: one each, then one more where a group has the most layers per atom, while it fits.
    std::vector<std::int64_t> S(groups.size(), 1);
    auto cost = [&] {
      std::int64_t c = 0;
      for (std::size_t g = 0; g < groups.size(); ++g) c += S[g] * (oi + static_cast<std::int64_t>(groups[g].size()));
      return c;
    };
    if (groups.size() == 1) S[0] = std::max<std::int64_t>(1, atomsWithin(atomBudget, oi, L));
    else
      for (;;) {
        std::size_t best = groups.size();
        double bestScore = 0;
        for (std::size_t g = 0; g < groups.size(); ++g) {
          const auto n = static_cast<std::int64_t>(groups[g].size());
          if (S[g] >= n) continue;
          const double score = static_cast<double>(n) / static_cast<double>(S[g]);
          if (score > bestScore) bestScore = score, best = g;
        }
        if (best == groups.size()) break;
        ++S[best];
        if (cost() > atomBudget) {
          --S[best];
          break;
        }
      }
    if (cost() > rep.budget)
      throw LmError("the budget of '" + set.role + "' (" + std::to_string(rep.budget) + " parameters) cannot hold " +
                    (groups.size() > 1 ? "one atom per group" : "one atom") + " (" + std::to_string(cost()) +
                    "): lower the ratio" + (groups.size() > 1 ? " or the number of groups" : ""));
    std::vector<Whitening> wh;
    if (isWhitened(o.method) || isRefined(o.method)) wh = layerWhitening(set, *calib);
    for (std::size_t g = 0; g < groups.size(); ++g) {
      std::vector<torch::Tensor> ws;
      std::vector<std::int64_t> layers;
      for (auto pos : groups[g]) {
        ws.push_back(set.weights[static_cast<std::size_t>(pos)]);
        layers.push_back(set.layers[static_cast<std::size_t>(pos)]);
      }
      MatrixPcaResult pca;
      if (isWhitened(o.method)) {
        // A shared input metric: the mean of the group's per-layer input autocorrelations.
        torch::Tensor mean;
        for (auto pos : groups[g]) {
          const auto& st = calib->get(set.layers[static_cast<std::size_t>(pos)], set.role);
          auto a = st.autocorrelation / static_cast<double>(std::max<std::int64_t>(1, st.tokens));
          mean = mean.defined() ? mean + a : a;
        }
        auto shared = choleskyWhitening(mean / static_cast<double>(groups[g].size()));
        pca = matrixPcaWithMetric(ws, layers, S[g], set.role, shared.factor);
        // Each layer's coefficients refitted under its own input metric.
        auto C = pca.dictionary.coefficients.to(torch::kFloat64);
        for (std::size_t i = 0; i < ws.size(); ++i)
          C[static_cast<std::int64_t>(i)] =
              refitCoefficients(ws[i], pca.dictionary.atoms, wh[static_cast<std::size_t>(groups[g][i])].factor);
        pca.dictionary.coefficients = C.to(torch::kFloat32);
        pca.relativeError = relativeErrors(pca.dictionary, ws);
      } else {
        pca = matrixPca(ws, layers, S[g], set.role);
        if (isFitted(o.method)) fitDictionary(pca.dictionary, set, wh, o.fitRidge, kFitRounds);
      }
      rep.atoms += S[g];
      rep.groups.push_back(layers);
      rep.energy.push_back(pca.energy);
      res.dictionaries.push_back(std::move(pca.dictionary));
    }
    rep.stored = cost();
    residualBudget[t] = rep.budget - rep.stored;
    for (const auto& w : wh) rep.ridge.push_back(w.ridge);
    res.types.push_back(std::move(rep));
  }

  // Refinement: whitened low-rank residuals with one budget pooled over the types, Q and O weighted.
  if (isRefined(o.method)) {
    std::int64_t pool = 0;
    for (auto b : residualBudget) pool += b;
    auto weightOf = [&](const std::string& r) { return (r == "q" || r == "o") ? o.qoWeight : 1.0; };
    auto spend = [&](double scale) {
      std::int64_t c = 0;
      for (const auto& set : sets) {
        const auto r = std::min<std::int64_t>(static_cast<std::int64_t>(std::floor(scale * weightOf(set.role))),
                                              std::min(set.out(), set.in()));
        c += r * (set.out() + set.in()) * static_cast<std::int64_t>(set.weights.size());
      }
      return c;
    };
    double lo = 0, hi = 1;
    while (spend(hi) <= pool && hi < 1e7) hi *= 2;
    for (int it = 0; it < 60; ++it) {
      const double mid = 0.5 * (lo + hi);
      (spend(mid) <= pool ? lo : hi) = mid;
    }
    // Residual rank of each (type, layer): the same per type (Q and O weighted), or, for the greedy
    // variant, chosen by measured sensitivity: every rank-one piece of every whitened residual E_l R_l
    // is a candidate worth sigma^2 / ||W_l R_l||^2 (the share of that layer's calibration output it
    // restores) per stored number; the best ones are taken while the pooled budget lasts.
    std::vector<std::vector<std::int64_t>> ranks(sets.size());
    std::vector<std::vector<Whitening>> whs(sets.size());
    std::map<std::pair<std::string, std::int64_t>, torch::Tensor> approx;  // (role, layer) -> W^ before residuals
    for (const auto& d : res.dictionaries)
      for (std::size_t i = 0; i < d.layers.size(); ++i) approx[{d.role, d.layers[i]}] = f64(d.weight(i));
    struct Candidate {
      std::size_t t, pos;
      double value;
      std::int64_t cost;
    };
    std::vector<Candidate> candidates;
    for (std::size_t t = 0; t < sets.size(); ++t) {
      const auto& set = sets[t];
      whs[t] = layerWhitening(set, *calib);
      const auto r = std::min<std::int64_t>(static_cast<std::int64_t>(std::floor(lo * weightOf(set.role))),
                                            std::min(set.out(), set.in()));
      ranks[t].assign(set.weights.size(), isGreedy(o.method) ? 0 : r);
      if (!isGreedy(o.method)) continue;
      for (std::size_t pos = 0; pos < set.weights.size(); ++pos) {
        auto W = f64(set.weights[pos]);
        const auto& R = whs[t][pos].factor;
        const double total = torch::matmul(W, R).pow(2).sum().item<double>();
        auto sv = torch::linalg_svdvals(torch::matmul(W - approx.at({set.role, set.layers[pos]}), R));
        for (std::int64_t k = 0; k < sv.size(0); ++k)
          candidates.push_back({t, pos, std::pow(sv[k].item<double>(), 2) / std::max(1e-300, total) /
                                            static_cast<double>(set.out() + set.in()),
                                set.out() + set.in()});
      }
    }
    if (isGreedy(o.method)) {
      // Within one matrix the values fall with k, so taking the best first keeps each matrix's picks a prefix.
      std::stable_sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) { return a.value > b.value; });
      std::int64_t left = pool;
      for (const auto& c : candidates)
        if (c.cost <= left) {
          left -= c.cost;
          ++ranks[c.t][c.pos];
        }
    }
    for (std::size_t t = 0; t < sets.size(); ++t) {
      fb.throwIfCancelled();
      const auto& set = sets[t];
      auto& rep = res.types[t];
      const auto& wh = whs[t];
      for (auto& d : res.dictionaries) {
        if (d.role != set.role) continue;
        d.residualU.assign(d.layers.size(), {});
        d.residualV.assign(d.layers.size(), {});
        for (std::size_t i = 0; i < d.layers.size(); ++i) {
          const auto pos = positionOf(set, d.layers[i]);
          const auto r = ranks[t][pos];
          if (r == 0) continue;
          auto f = whitenedSvd(f64(set.weights[pos]) - f64(d.weight(i)), wh[pos].factor, r);
          d.residualU[i] = f.U;
          d.residualV[i] = f.V;
          rep.stored += f.parameterCount();
        }
      }
      rep.ranks = ranks[t];
    }
    // matrix-pca-fitted: atoms and residuals refitted in turn (atoms to W - residual, residuals to
    // W - atoms at the chosen ranks); each half is an exact minimiser, so the output error only falls.
    for (int round = 0; isFitted(o.method) && round < kAlternatingRounds; ++round)
      for (std::size_t t = 0; t < sets.size(); ++t) {
        fb.throwIfCancelled();
        const auto& set = sets[t];
        for (auto& d : res.dictionaries) {
          if (d.role != set.role) continue;
          fitDictionary(d, set, whs[t], o.fitRidge, 1);
          for (std::size_t i = 0; i < d.layers.size(); ++i) {
            if (!d.residualU[i].defined()) continue;
            const auto pos = positionOf(set, d.layers[i]);
            auto f = whitenedSvd(f64(set.weights[pos]) - atomPart(d, i), whs[t][pos].factor, d.residualU[i].size(1));
            d.residualU[i] = f.U;
            d.residualV[i] = f.V;
          }
        }
      }
  }

  // Dense W^ and errors of the MASA methods.
  for (const auto& d : res.dictionaries) {
    auto& set = *std::find_if(sets.begin(), sets.end(), [&](const auto& s) { return s.role == d.role; });
    auto& rep = *std::find_if(res.types.begin(), res.types.end(), [&](const auto& r) { return r.role == d.role; });
    if (rep.relativeError.empty()) rep.relativeError.assign(set.weights.size(), 0.0);
    for (std::size_t i = 0; i < d.layers.size(); ++i) {
      const auto pos = positionOf(set, d.layers[i]);
      res.weights[d.role][pos] = d.weight(i).to(torch::kFloat32);
      rep.relativeError[pos] = relErr(set.weights[pos], res.weights[d.role][pos]);
    }
  }
  return res;
}

}  // namespace

CompressionResult compressAttention(lm::CausalLMImpl& model, const CompressOptions& o,
                                    const CalibrationRecorder* calib, core::Feedback& fb) {
  const auto& methods = compressionMethods();
  if (std::find(methods.begin(), methods.end(), o.method) == methods.end()) {
    std::string list;
    for (const auto& m : methods) list += (list.empty() ? "" : ", ") + m;
    throw LmError("unknown compression method '" + o.method + "' (known: " + list + ")");
  }
  if (methodNeedsCalibration(o.method) && (!calib || calib->empty()))
    throw LmError("method '" + o.method + "' needs calibration text");
  if (isRefined(o.method) && !isFitted(o.method) && !(o.atomFraction > 0.0 && o.atomFraction <= 1.0))
    throw LmError("atom_fraction must be in (0, 1], got " + std::to_string(o.atomFraction));
  if (!isFitted(o.method)) return compressOnce(model, o, calib, fb);
  // matrix-pca-fitted: the share of the budget spent on atoms (the rest goes to residuals) is measured,
  // not set: every candidate is fitted and the one with the least relative calibration output error kept.
  torch::NoGradGuard noGrad;
  const auto sets = attentionSets(model);
  std::vector<std::vector<Whitening>> whitening;  // the same for every candidate
  for (const auto& set : sets) whitening.push_back(layerWhitening(set, *calib));
  CompressionResult best;
  double bestError = 0;
  std::vector<FitTrial> search;
  auto attempt = [&](double fraction, double ridge) {
    auto candidate = o;
    candidate.atomFraction = fraction;
    candidate.fitRidge = ridge;
    auto r = compressOnce(model, candidate, calib, fb);
    const double e = relativeOutputError(sets, whitening, r);
    search.push_back({fraction, ridge, e});
    if (search.size() == 1 || e < bestError) best = std::move(r), bestError = e, best.atomFraction = fraction, best.fitRidge = ridge;
  };
  // The share first at the middle ridge, then the ridge at the best share.
  for (double fraction : {0.1, 0.2, 0.35, 0.5, 0.65, 0.8}) attempt(fraction, 3.0);
  const double share = best.atomFraction;
  for (double ridge : {1.0, 10.0}) attempt(share, ridge);
  best.atomFractionSearch = search;
  return best;
}

void applyCompression(lm::CausalLMImpl& model, const CompressionResult& result) {
  torch::NoGradGuard g;
  auto sets = attentionSets(model);
  for (auto& set : sets) {
    auto it = result.weights.find(set.role);
    if (it == result.weights.end()) continue;
    for (std::size_t i = 0; i < set.weights.size(); ++i)
      set.weights[i].copy_(it->second[i].to(set.weights[i].device(), set.weights[i].scalar_type()));
  }
}

}  // namespace atomscope::masa
