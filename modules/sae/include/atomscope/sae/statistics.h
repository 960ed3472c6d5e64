#pragma once
// Geometry and sparse-recovery statistics of a dictionary on activations, after "Towards Atoms of
// Large Language Models" (2025):
//  - atomic inner product (AIP): <u, v>_S = u^T S v / (||u||_S ||v||_S), S = E[k k^T]^-1 over the
//    activations k (uncentred second moment), ||u||_S = sqrt(u^T S u); Euclidean: S = I.
//  - coherence of a dictionary D (atoms d_1..d_n): mu = max_{i != j} |<d_i, d_j>|.
//  - for one activation with K active atoms A (|A| = K) we use the coherence of the ACTIVE atoms,
//    mu_A = max_{i != j in A} |<d_i, d_j>| (0 when K <= 1). Its K-sparse code satisfies
//      RIP            when (K - 1) mu_A < 1,
//      uniqueness     when mu_A < 1 / (2K - 1)  (the code is the unique K-sparse representation and
//                     l1 minimisation recovers it: Donoho and Elad 2003 / the paper's Theorem);
//    q* = the fraction of activations whose active atoms meet the uniqueness condition (K = 0 and
//    K = 1 meet it trivially and are counted; the breakdown by K shows them apart).
//    The same conditions with the global mu (all pairs of the dictionary) are reported too.
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "atomscope/core/feedback.h"
#include "atomscope/core/json.h"
#include "atomscope/sae/activations.h"

namespace atomscope::sae {

struct Moments {
  torch::Tensor mean;           // [d] float64
  torch::Tensor secondMoment;   // E[x^T x], [d, d] float64 (uncentred)
  std::int64_t rows = 0;
  double totalVariance = 0;     // sum over dimensions of the variance (R^2's denominator per row)
};

// Moments of rows [begin, end) of a site, over at most maxRows evenly spaced rows (0: all).
Moments estimateMoments(const ActivationReader& reader, const std::string& site, std::int64_t begin, std::int64_t end,
                        std::int64_t maxRows, core::Feedback* feedback = nullptr);
Moments momentsOf(const torch::Tensor& x);  // of the rows of x [N, d]

// S = C^-1 and the symmetric whitening W = C^-1/2 (so that <u, v>_S = cos(W u, W v) and whitened
// activations x W have E[(xW)^T (xW)] = I), through the eigendecomposition of C. Eigenvalues below
// 1e-9 times the largest are raised to that floor (a rank-deficient C would make S infinite).
struct Whitening {
  torch::Tensor S, W, Winv;  // [d, d] float64
};
Whitening whiteningFromSecondMoment(const torch::Tensor& C);

// Gram matrix of normalised atoms (rows of D [n, d]) under S (undefined S: Euclidean), float64 [n, n].
torch::Tensor cosineGram(const torch::Tensor& D, const torch::Tensor& S = {});
// max_{i != j} |G_ij|.
double coherence(const torch::Tensor& gram);

// Per-activation statistics of active sets (rows of `active` [N, n] bool) against |gram|.
struct ActiveSetStats {
  torch::Tensor K;      // [N] int64 active atoms per activation
  torch::Tensor muActive;  // [N] float64 coherence among the active atoms (0 when K <= 1)
};
ActiveSetStats activeSetStats(const torch::Tensor& active, const torch::Tensor& absGram);

// Accumulates the statistics over batches.
class RecoveryStats {
 public:
  explicit RecoveryStats(double globalMu) : globalMu_(globalMu) {}
  void add(const ActiveSetStats& s);
  // {"activations", "mean_l0", "coherence", "rip_fraction", "q_star", "rip_fraction_global_mu",
  //  "uniqueness_fraction_global_mu", "by_k": [{"k", "count", "q_star", "rip_fraction"}]}
  Json toJson() const;
  double qStar() const;

 private:
  double globalMu_;
  std::int64_t n_ = 0, rip_ = 0, unique_ = 0, ripGlobal_ = 0, uniqueGlobal_ = 0;
  double sumK_ = 0;
  std::map<std::int64_t, std::array<std::int64_t, 3>> byK_;  // count, unique, rip
};

}  // namespace atomscope::sae
