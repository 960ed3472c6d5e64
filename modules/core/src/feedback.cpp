#include "atomscope/core/feedback.h"

#include <algorithm>
#include <chrono>

#include "atomscope/core/error.h"

namespace atomscope::core {

namespace {
double monotonicSeconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}
}  // namespace

std::string toString(LogLevel level) {
  switch (level) {
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warning: return "warning";
    case LogLevel::Error: return "error";
  }
  return "info";
}

Feedback::Feedback() : startSeconds_(monotonicSeconds()) {}

void Feedback::setProgress(double fraction, const std::string& stage) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  std::string currentStage;
  {
    std::lock_guard lock(mutex_);
    progress_ = fraction;
    if (!stage.empty()) stage_ = stage;
    currentStage = stage_;
  }
  for (const auto& s : sinksCopy()) s->onProgress(fraction, currentStage);
}

void Feedback::setStage(const std::string& stage) { setProgress(progress(), stage); }

void Feedback::reportMetrics(long long step, std::map<std::string, double> values) {
  MetricPoint p;
  p.step = step;
  p.seconds = elapsedSeconds();
  p.values = std::move(values);
  for (const auto& s : sinksCopy()) s->onMetrics(p);
}

void Feedback::log(LogLevel level, const std::string& message) {
  for (const auto& s : sinksCopy()) s->onLog(level, message);
}

void Feedback::throwIfCancelled() const {
  if (isCancelled()) throw Cancelled();
}

double Feedback::progress() const {
  std::lock_guard lock(mutex_);
  return progress_;
}

std::string Feedback::stage() const {
  std::lock_guard lock(mutex_);
  return stage_;
}

double Feedback::elapsedSeconds() const { return monotonicSeconds() - startSeconds_; }

void Feedback::addSink(std::shared_ptr<FeedbackSink> sink) {
  std::lock_guard lock(mutex_);
  sinks_.push_back(std::move(sink));
}

std::vector<std::shared_ptr<FeedbackSink>> Feedback::sinksCopy() const {
  std::lock_guard lock(mutex_);
  return sinks_;
}

}  // namespace atomscope::core
