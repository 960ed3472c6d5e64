#pragma once
// Writes an atom index (atom_index.h) for an SAE over stored activations.
#include <torch/torch.h>

#include <filesystem>

#include "atomscope/core/feedback.h"
#include "atomscope/lm/model.h"
#include "atomscope/lm/tokenizer.h"
#include "atomscope/sae/activations.h"
#include "atomscope/sae/sae.h"

namespace atomscope::sae {

struct AtomIndexOptions {
  std::int64_t topK = 10;        // contexts per atom
  std::int64_t left = 12;        // tokens of the window before the activating token
  std::int64_t right = 4;        // and after it
  std::int64_t promoted = 10;    // promoted tokens per atom
  std::int64_t maxRows = 0;      // rows scanned (0: all)
  std::int64_t histogramBins = 20;
};

// The unembedding a direction goes through to become logits: W_U [V, d] and the final norm's
// scale g [d] (undefined when the model has none). Taken from the model's parameters
// (lm_head.weight, or the tied embedding; norm.weight / ln_f.weight).
struct Unembedding {
  torch::Tensor W_U, normScale;
};
Unembedding unembeddingOf(lm::CausalLMImpl& model);

// Builds the index at file (replaced). tokenizer and unembedding may be null (no token texts, no
// promoted tokens). Throws SaeError (width mismatch, cannot write) or core::Cancelled.
void buildAtomIndex(const std::filesystem::path& file, SaeImpl& sae, const ActivationReader& reader,
                    const std::string& site, const lm::Tokenizer* tokenizer, const Unembedding* unembedding,
                    const AtomIndexOptions& options, core::Feedback* feedback = nullptr);

}  // namespace atomscope::sae
