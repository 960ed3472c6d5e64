#pragma once
// Running a modules/lm model over text and storing the activations of chosen sites (sae.collect).
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "atomscope/core/feedback.h"
#include "atomscope/lm/model.h"
#include "atomscope/lm/tokenizer.h"
#include "atomscope/sae/activations.h"

namespace atomscope::sae {

struct CollectOptions {
  std::vector<Site> sites;
  std::int64_t context = 256;     // window length in tokens; longer documents are cut into windows
  bool skipBos = true;            // leave out the BOS position (its residual is an outlier, as in most SAE work)
  std::int64_t maxRows = 0;       // stop after this many activations (0: all)
  std::string dtype = "float32";  // stored dtype: float32 or bfloat16
  std::int64_t shardRows = 1 << 20;
  std::int64_t batchSize = 16;    // windows per forward pass
};

// The windows to run, known before the model runs: how many activations and bytes it will write.
struct CollectPlan {
  std::vector<std::vector<std::int32_t>> windows;  // token ids, each window starting a fresh context
  std::vector<std::int64_t> firstRow;               // per window: the first position stored (1 when BOS is skipped)
  std::int64_t rows = 0;
  std::int64_t bytes = 0;  // activations of every site + token ids + positions
};

// Cuts documents (token ids, each starting with its BOS when the tokenizer has one) into windows.
CollectPlan planCollection(const std::vector<std::vector<std::int32_t>>& documents, std::int64_t d,
                           const CollectOptions& options, std::optional<std::int32_t> bosId);

// Runs the model over the plan and writes the folder (see activations.h). Throws core::Cancelled on
// cancel after writing a partial manifest ("complete": false, "cancelled": true) of the shards done.
// Returns the number of rows written.
std::int64_t collectActivations(lm::CausalLMImpl& model, const CollectPlan& plan, const CollectOptions& options,
                                const std::filesystem::path& folder, const Json& source, core::Feedback& feedback);

// Activations of the chosen sites for one batch of token ids [B, T] (the model's device): site name
// -> [B, T, d] float32 tensor, plus the logits when wanted (forward runs to the end then).
std::map<std::string, torch::Tensor> captureSites(lm::CausalLMImpl& model, const torch::Tensor& ids,
                                                  const std::vector<Site>& sites, torch::Tensor* logits = nullptr);

}  // namespace atomscope::sae
