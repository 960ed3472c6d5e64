#pragma once
// The search space of a TangleNAS language-model search and one architecture in it. No torch here.
//
// Choices are global (every block has the same heads, width and MLP ratio), as a modules/lm model is
// uniform: an architecture maps to one lm::ModelConfig. Heads split the embedding (head dim = embed /
// heads, as lm.train builds models), so every head count must divide every embedding size; for
// Llama into an even head dim (rotary embeddings rotate pairs), for GPT-2 (learned positions) any.
#include <cstdint>
#include <string>
#include <vector>

#include "atomscope/core/error.h"
#include "atomscope/core/json.h"
#include "atomscope/lm/model_config.h"

namespace atomscope::nas {

class NasError : public core::Error {
 public:
  using core::Error::Error;
};

// The four searchable dimensions, in this order everywhere (metrics, alphas, arch.json).
enum class Dim { Layers = 0, Heads = 1, Embed = 2, MlpRatio = 3 };
constexpr int kNumDims = 4;
const char* dimName(Dim d);  // "layers", "heads", "embed", "mlp_ratio"

// MASA's number of atoms S is one more, optional dimension kept apart from the four above (so code
// sized by kNumDims is unchanged): SearchSpace::atoms empty = dense attention (no atoms dimension),
// Architecture::atoms 0 = dense. With atoms, q/k/v/o of every layer are mixtures of S shared atoms
// per projection type (modules/masa's masa-qkvo).
struct Architecture {
  std::int64_t layers = 0, heads = 0, embed = 0, mlpRatio = 0;
  std::int64_t atoms = 0;  // MASA's S; 0: dense attention
  std::int64_t value(Dim d) const;
  std::int64_t hiddenDim() const { return mlpRatio * embed; }
  std::string toString() const;  // "layers=3 heads=4 embed=96 mlp_ratio=2" (+ " atoms=2" when S > 0)
  Json toJson() const;                          // "atoms" only when S > 0
  static Architecture fromJson(const Json& j);  // throws NasError; no "atoms": dense
  bool operator==(const Architecture& o) const {
    return layers == o.layers && heads == o.heads && embed == o.embed && mlpRatio == o.mlpRatio && atoms == o.atoms;
  }
};

struct SearchSpace {
  lm::ModelFamily family = lm::ModelFamily::Llama;
  std::int64_t vocabSize = 0;
  std::int64_t context = 128;  // the extracted models' maxSeqLen
  double normEps = 1e-5;
  double ropeTheta = 10000.0;
  std::vector<std::int64_t> choices[kNumDims];  // ascending, distinct
  std::vector<std::int64_t> atoms;              // MASA S choices, ascending, distinct; empty: dense attention
  bool hasAtoms() const { return !atoms.empty(); }
  int atomsIndexOf(std::int64_t s) const;  // throws NasError when s is not a choice (or 0 in an atoms space)

  const std::vector<std::int64_t>& of(Dim d) const { return choices[static_cast<int>(d)]; }
  std::int64_t maxOf(Dim d) const { return of(d).back(); }
  Architecture largest() const;
  std::int64_t numArchitectures() const;
  Architecture at(std::int64_t index) const;  // mixed-radix enumeration, layers slowest, atoms fastest
  // index of value in dimension d; throws NasError when it is not a choice
  int indexOf(Dim d, std::int64_t value) const;
  bool contains(const Architecture& a) const;

  // Throws NasError naming the offending choice (empty list, non-positive value, head count not
  // splitting an embedding size (into an even head dim for Llama), vocabulary missing, an atoms
  // choice above the smallest depth (MASA needs S <= layers) or atoms with GPT-2).
  void validate() const;

  // The standalone model of architecture a (tied embeddings, nKvHeads = heads; Llama without biases,
  // GPT-2 with them, GELU and maxSeqLen = context learned positions).
  lm::ModelConfig modelConfig(const Architecture& a) const;

  Json toJson() const;
  static SearchSpace fromJson(const Json& j);  // throws NasError
};

// "2,3,4" -> {2,3,4} sorted and distinct; `what` names the parameter in errors.
std::vector<std::int64_t> parseChoiceList(const std::string& text, const std::string& what);
// "layers=3,heads=4,embed=96,mlp_ratio=2" (commas or spaces) -> Architecture; throws NasError.
Architecture parseArchitecture(const std::string& text);

// The parameters lm.train takes for this architecture (family, dim, n_layers, n_heads, n_kv_heads,
// hidden_dim, context; with S > 0 also attention=masa-qkvo and atoms=S): `atomscope-cli run lm.train`
// accepts each key as --param key=value.
Json lmTrainParams(const SearchSpace& space, const Architecture& a);

}  // namespace atomscope::nas
