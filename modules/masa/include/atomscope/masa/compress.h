#pragma once
// Training-free compression of a pretrained model's attention (masa.compress): matrix PCA (MASA)
// per projection type, optionally per group of layers, with refinement, the beyond-the-paper
// variants, and the per-matrix baselines (truncated SVD, SVD-LLM), all at one attention
// parameter budget per projection type.
//
// Budget: a type with L layers of [out, in] matrices holds F = L out in numbers. A ratio r
// (fraction removed) allows B = floor((1 - r) F); `atoms` S instead allows B = S (out in + L),
// what plain matrix PCA with S atoms stores. Every method stores at most B per type:
//   matrix PCA: the most atoms S with S (out in + L) <= B;
//   SVD / SVD-LLM: ranks summing to floor(B / (out + in)) over the layers (earlier layers +1);
//   refined: atoms from atom_fraction B, the rest of all types' budgets pooled into whitened
//     residual ranks r_P proportional to a weight (Q and O: qo_weight, K and V: 1).
//   refined-greedy (beyond the paper): the same atoms; the pooled residual budget goes, rank by rank,
//     to the (type, layer) whose whitened residual's next singular value restores the largest share
//     of that layer's calibration output per stored number (per-type and per-layer budgets by
//     measured sensitivity).
//   fitted (beyond the paper): atoms and coefficients fitted to every layer's calibration output error
//     (output_fit.h) instead of the weight error, the greedy residual ranks, then atoms and residuals
//     refitted in turn; the atom share of the budget (0.1 .. 0.8) and the ridge of the fit's input
//     metric are chosen by the summed relative output error (atom_fraction is not used).
// Biases are kept as they are and not counted.
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "atomscope/core/feedback.h"
#include "atomscope/core/json.h"
#include "atomscope/lm/model.h"
#include "atomscope/masa/calibration.h"
#include "atomscope/masa/dictionary.h"
#include "atomscope/masa/svd_baselines.h"

namespace atomscope::masa {

// Methods, in the order the job lists them.
const std::vector<std::string>& compressionMethods();
bool methodNeedsCalibration(const std::string& method);

struct CompressOptions {
  std::string method = "matrix-pca";
  double ratio = 0.2;        // fraction of attention parameters removed, in (0, 1); used when atoms == 0
  std::int64_t atoms = 0;    // S per projection type (> 0 overrides ratio)
  std::int64_t groups = 2;   // matrix-pca-grouped: groups of consecutive layers
  double atomFraction = 0.5; // refined methods: share of the budget spent on atoms
  double qoWeight = 2.0;     // refined methods: residual rank of Q and O relative to K and V
  double fitRidge = 3.0;     // matrix-pca-fitted: ridge on each input metric, times its mean diagonal (searched)
};

// The matrices of one projection type across the model's layers.
struct ProjectionSet {
  std::string role;                      // "q", "k", "v", "o"
  std::vector<std::int64_t> layers;      // model layer of each matrix
  std::vector<std::string> names;        // module names ("layers.3.self_attn.q_proj")
  std::vector<torch::Tensor> weights;    // [out, in], as in the model (not copied)
  std::int64_t out() const { return weights.front().size(0); }
  std::int64_t in() const { return weights.front().size(1); }
  std::int64_t fullCount() const { return static_cast<std::int64_t>(weights.size()) * out() * in(); }
};
// q, k, v, o of a model whose attention projections are dense (LinearProjectionImpl). Throws LmError otherwise.
std::vector<ProjectionSet> attentionSets(lm::CausalLMImpl& model);

// Parameter budget of one type.
std::int64_t budgetFor(const ProjectionSet& set, const CompressOptions& options);

struct TypeReport {
  std::string role;
  std::int64_t full = 0, budget = 0, stored = 0;
  std::int64_t atoms = 0;                       // MASA methods: total atoms over the groups
  std::vector<std::vector<std::int64_t>> groups;  // model layers per dictionary
  std::vector<std::vector<double>> energy;      // per dictionary: energy of each direction (first `atoms` kept)
  std::vector<std::int64_t> ranks;              // per layer: low-rank (SVD) or residual rank (refined)
  std::vector<double> relativeError;            // per layer: ||W - W^||_F / ||W||_F
  std::vector<double> ridge;                    // per layer (or shared): ridge added for whitening
};

// matrix-pca-fitted: one candidate of its search, with the summed relative calibration output error
// sum ||(W - W^) R||^2 / ||W R||^2 over every attention matrix.
struct FitTrial {
  double atomFraction = 0, ridge = 0, outputError = 0;
};

struct CompressionResult {
  std::string method;
  std::vector<MatrixDictionary> dictionaries;                   // MASA methods
  std::map<std::string, std::vector<LowRankFactors>> lowRank;   // svd, svd-llm: role -> per layer
  std::map<std::string, std::vector<torch::Tensor>> weights;    // role -> W^ per layer (float32)
  std::vector<TypeReport> types;
  std::vector<double> layerDistance;  // grouped: KL between consecutive layers
  double atomFraction = 0;            // matrix-pca-fitted: the measured share of the budget spent on atoms
  double fitRidge = 0;                // and the ridge of the fit's input metrics
  std::vector<FitTrial> atomFractionSearch;  // every (share, ridge) tried
  std::int64_t attentionFull() const;
  std::int64_t attentionStored() const;
  Json toJson() const;
};

// calibration: required by methods that whiten or group (methodNeedsCalibration); may be null otherwise.
CompressionResult compressAttention(lm::CausalLMImpl& model, const CompressOptions& options,
                                    const CalibrationRecorder* calibration, core::Feedback& fb);

// Writes W^ into the model's dense attention projections.
void applyCompression(lm::CausalLMImpl& model, const CompressionResult& result);

// KL(p_l || p_{l+1}) between the next-token distributions the LM head gives to the mean
// (final-normed) hidden state entering consecutive layers, from the q projections' recorded input
// means (the input norm undone). Length L - 1.
std::vector<double> layerKlDistances(lm::CausalLMImpl& model, const CalibrationRecorder& calibration);

}  // namespace atomscope::masa
