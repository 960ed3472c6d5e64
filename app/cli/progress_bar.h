#pragma once
// Text progress for atomscope-cli: a bar with stage text and ETA on a terminal, plain lines otherwise.
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

#include "atomscope/core/feedback.h"

namespace atomscope::cli {

class ProgressBar : public core::FeedbackSink {
 public:
  ProgressBar(std::FILE* out, bool interactive, bool quiet);
  void onProgress(double fraction, const std::string& stage) override;
  void onMetrics(const core::MetricPoint& point) override;
  void onLog(core::LogLevel level, const std::string& message) override;
  void finish();  // ends the bar's line

 private:
  void draw(bool force);
  static std::string formatDuration(double seconds);

  std::FILE* out_;
  bool interactive_;
  bool quiet_;
  std::mutex mutex_;
  double fraction_ = 0;
  std::string stage_;
  std::string lastMetrics_;
  int lastDecile_ = -1;
  bool lineOpen_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point lastDraw_{};
};

}  // namespace atomscope::cli
