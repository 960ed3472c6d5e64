#pragma once
// sae.analyze's measurements of three bases on the same activations: neurons (the identity basis),
// standard (ReLU) SAE features and threshold-SAE atoms. See statistics.h for the definitions.
//
// Neurons with K active: the K coordinates of largest |x - mean| (mean over the evaluated rows);
// the reconstruction is mean + those K coordinates of x - mean (the best K-term approximation of
// the centred activation in the identity basis). Their atoms are the unit vectors e_i: Euclidean
// coherence 0, AIP coherence max_{i != j} |S_ij| / sqrt(S_ii S_jj).
// An SAE's active set is {i : z_i > 0}; its atoms are the rows of W_dec in the raw space.
#include <cstdint>
#include <string>

#include "atomscope/core/feedback.h"
#include "atomscope/core/json.h"
#include "atomscope/sae/activations.h"
#include "atomscope/sae/sae.h"
#include "atomscope/sae/statistics.h"

namespace atomscope::sae {

struct EvalRange {
  std::int64_t begin = 0, end = 0;  // rows
  std::int64_t maxRows = 0;         // evenly spaced, 0: all
};

// {"basis", "r2", "l0", "rows", "aip": RecoveryStats json, "euclidean": RecoveryStats json}
// S: the AIP metric (statistics.h), estimated on the same activations.
Json analyzeNeurons(const ActivationReader& reader, const std::string& site, const EvalRange& range, std::int64_t k,
                    const torch::Tensor& S, core::Feedback* feedback = nullptr);
Json analyzeSae(SaeImpl& sae, const ActivationReader& reader, const std::string& site, const EvalRange& range,
                const torch::Tensor& S, core::Feedback* feedback = nullptr);

// The same on activations in memory [N, d] (tests).
Json analyzeNeuronsOnTensor(const torch::Tensor& x, std::int64_t k, const torch::Tensor& S);
Json analyzeSaeOnTensor(SaeImpl& sae, const torch::Tensor& x, const torch::Tensor& S);

}  // namespace atomscope::sae
