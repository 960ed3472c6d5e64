#pragma once
// Calibration statistics of a model's attention projections on sample text: for every layer and
// role (q, k, v, o) the input autocorrelation X^T X (in x in, accumulated in float64 over all
// calibration tokens) and the mean input. Recorded by RecordingProjection, a dense projection that
// loadModel builds in place of the plain one (ModelOptions.attentionProjections), so weights load
// and save under the usual names and the model runs as before while recording is off.
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "atomscope/core/feedback.h"
#include "atomscope/lm/model.h"
#include "atomscope/lm/tokenizer.h"

namespace atomscope::masa {

struct InputStatistics {
  torch::Tensor autocorrelation;  // [in, in] float64: sum over tokens of x x^T
  torch::Tensor sum;              // [in] float64: sum over tokens of x
  std::int64_t tokens = 0;
  torch::Tensor mean() const { return tokens > 0 ? sum / static_cast<double>(tokens) : sum; }
};

// Shared by the recording projections of one model: (layer, role) -> statistics.
class CalibrationRecorder {
 public:
  bool enabled() const { return enabled_; }
  void setEnabled(bool on) { enabled_ = on; }
  void add(std::int64_t layer, const std::string& role, const torch::Tensor& x);
  // Throws LmError when nothing was recorded for that projection.
  const InputStatistics& get(std::int64_t layer, const std::string& role) const;
  bool empty() const { return stats_.empty(); }

 private:
  bool enabled_ = false;
  mutable std::mutex mutex_;
  std::map<std::pair<std::int64_t, std::string>, InputStatistics> stats_;
};

class RecordingProjectionImpl : public lm::LinearProjectionImpl {
 public:
  RecordingProjectionImpl(const lm::ProjectionSpec& spec, std::shared_ptr<CalibrationRecorder> recorder)
      : lm::LinearProjectionImpl(spec), layer_(spec.layer), role_(spec.role), recorder_(std::move(recorder)) {}
  torch::Tensor forward(const torch::Tensor& x) override;

 private:
  std::int64_t layer_;
  std::string role_;
  std::shared_ptr<CalibrationRecorder> recorder_;
};

// The factory for LoadOptions.model.attentionProjections.
lm::ProjectionFactory recordingProjections(std::shared_ptr<CalibrationRecorder> recorder);

// Calibration tokens from text: documents split at blank lines, each started with BOS (or, for
// GPT-2 BPE, ended with EOS), concatenated; at most maxTokens (0: all).
std::vector<std::int32_t> calibrationTokens(const std::string& text, const lm::Tokenizer& tok, std::int64_t maxTokens);

// Runs the model over `tokens` in windows of `context` tokens (no overlap; the last partial window
// too if it has 2 or more tokens) with recording on. Progress and cancel through fb.
void calibrate(lm::CausalLMImpl& model, CalibrationRecorder& recorder, const std::vector<std::int32_t>& tokens,
               std::int64_t context, core::Feedback& fb);

}  // namespace atomscope::masa
