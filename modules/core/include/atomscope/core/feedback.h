#pragma once
// Feedback flows from a running job to whoever watches it (CLI progress bar, GUI panel,
// metrics.jsonl). All methods are thread-safe; sinks are called on the job's thread.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace atomscope::core {

enum class LogLevel { Debug, Info, Warning, Error };
std::string toString(LogLevel level);

struct MetricPoint {
  long long step = 0;
  double seconds = 0;                    // since the job started
  std::map<std::string, double> values;  // e.g. {"loss": 2.31, "lr": 3e-4}
};

class FeedbackSink {
 public:
  virtual ~FeedbackSink() = default;
  virtual void onProgress(double /*fraction*/, const std::string& /*stage*/) {}
  virtual void onMetrics(const MetricPoint& /*point*/) {}
  virtual void onLog(LogLevel /*level*/, const std::string& /*message*/) {}
};

class Feedback {
 public:
  Feedback();

  void setProgress(double fraction, const std::string& stage = {});  // fraction clamped to [0, 1]
  void setStage(const std::string& stage);                            // keeps the fraction
  void reportMetrics(long long step, std::map<std::string, double> values);
  void log(LogLevel level, const std::string& message);
  void info(const std::string& message) { log(LogLevel::Info, message); }
  void warn(const std::string& message) { log(LogLevel::Warning, message); }

  // Cancel is a flag: jobs check it at least every 100 ms of work.
  void requestCancel() { cancelled_.store(true); }
  bool isCancelled() const { return cancelled_.load(); }
  void throwIfCancelled() const;  // throws core::Cancelled

  double progress() const;
  std::string stage() const;
  double elapsedSeconds() const;

  void addSink(std::shared_ptr<FeedbackSink> sink);

 private:
  std::vector<std::shared_ptr<FeedbackSink>> sinksCopy() const;

  std::atomic<bool> cancelled_{false};
  mutable std::mutex mutex_;
  double progress_ = 0;
  std::string stage_;
  double startSeconds_;
  std::vector<std::shared_ptr<FeedbackSink>> sinks_;
};

}  // namespace atomscope::core
