#include "atomscope/masa/calibration.h"

#include <algorithm>
#include <sstream>

#include "atomscope/lm/tokenizer.h"  // LmError

namespace atomscope::masa {

void CalibrationRecorder::add(std::int64_t layer, const std::string& role, const torch::Tensor& x) {
  auto flat = x.detach().reshape({-1, x.size(-1)}).to(torch::kCPU, torch::kFloat64);
  auto xtx = torch::matmul(flat.t(), flat);
  auto s = flat.sum(0);
  std::lock_guard<std::mutex> lock(mutex_);
  auto& st = stats_[{layer, role}];
  if (!st.autocorrelation.defined()) {
    st.autocorrelation = xtx;
    st.sum = s;
  } else {
    st.autocorrelation += xtx;
    st.sum += s;
  }
  st.tokens += flat.size(0);
}

const InputStatistics& CalibrationRecorder::get(std::int64_t layer, const std::string& role) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = stats_.find({layer, role});
  if (it == stats_.end())
    throw lm::LmError("no calibration inputs were recorded for layer " + std::to_string(layer) + " projection '" + role +
                      "' (run calibration first)");
  return it->second;
}

torch::Tensor RecordingProjectionImpl::forward(const torch::Tensor& x) {
  if (recorder_ && recorder_->enabled()) recorder_->add(layer_, role_, x);
  return lm::LinearProjectionImpl::forward(x);
}

lm::ProjectionFactory recordingProjections(std::shared_ptr<CalibrationRecorder> recorder) {
  return [recorder](const lm::ProjectionSpec& spec) -> std::shared_ptr<lm::ProjectionImpl> {
    return std::make_shared<RecordingProjectionImpl>(spec, recorder);
  };
}

std::vector<std::int32_t> calibrationTokens(const std::string& text, const lm::Tokenizer& tok, std::int64_t maxTokens) {
  const bool bos = tok.bosId().has_value() && tok.kind() != "gpt2-bpe";
  const bool eos = !bos && tok.eosId().has_value();
  std::vector<std::int32_t> out;
  std::istringstream in(text);
  std::string line, doc;
  auto flush = [&] {
    if (doc.empty()) return;
    doc.pop_back();  // the last newline
    auto ids = tok.encode(doc, bos, eos);
    out.insert(out.end(), ids.begin(), ids.end());
    doc.clear();
  };
  while (std::getline(in, line) && (maxTokens <= 0 || static_cast<std::int64_t>(out.size()) < maxTokens)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) flush();
    else doc += line + "\n";
  }
  if (maxTokens <= 0 || static_cast<std::int64_t>(out.size()) < maxTokens) flush();
  if (maxTokens > 0 && static_cast<std::int64_t>(out.size()) > maxTokens) out.resize(static_cast<std::size_t>(maxTokens));
  return out;
}

void calibrate(lm::CausalLMImpl& model, CalibrationRecorder& recorder, const std::vector<std::int32_t>& tokens,
               std::int64_t context, core::Feedback& fb) {
  if (context < 2) throw lm::LmError("calibration context must be at least 2 tokens");
  if (tokens.size() < 2) throw lm::LmError("calibration needs at least 2 tokens");
  torch::NoGradGuard noGrad;
  const auto device = model.parameters().front().device();
  const auto N = static_cast<std::int64_t>(tokens.size());
  std::vector<std::int64_t> ids(tokens.begin(), tokens.end());
  auto all = torch::tensor(ids, torch::kLong);
  recorder.setEnabled(true);
  try {
    for (std::int64_t b = 0; b < N; b += context) {
      fb.throwIfCancelled();
      const auto len = std::min(context, N - b);
      if (len < 2) break;
      model.forward(all.narrow(0, b, len).unsqueeze(0).to(device));
      fb.setProgress(static_cast<double>(b + len) / static_cast<double>(N),
                     "calibrating: " + std::to_string(b + len) + " of " + std::to_string(N) + " tokens");
    }
  } catch (...) {
    recorder.setEnabled(false);
    throw;
  }
  recorder.setEnabled(false);
}

}  // namespace atomscope::masa
