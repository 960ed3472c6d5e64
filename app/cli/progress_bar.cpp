#include "progress_bar.h"

#include <cmath>
#include <sstream>

namespace atomscope::cli {

ProgressBar::ProgressBar(std::FILE* out, bool interactive, bool quiet)
    : out_(out), interactive_(interactive), quiet_(quiet) {}

std::string ProgressBar::formatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const long long s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  return buf;
}

void ProgressBar::onProgress(double fraction, const std::string& stage) {
  std::lock_guard lock(mutex_);
  fraction_ = fraction;
  stage_ = stage;
  draw(false);
}

void ProgressBar::onMetrics(const core::MetricPoint& point) {
  std::ostringstream os;
  os << "step " << point.step;
  int shown = 0;
  for (const auto& [k, v] : point.values) {
    if (shown++ == 3) break;
    os << "  " << k << " " << v;
  }
  std::lock_guard lock(mutex_);
  lastMetrics_ = os.str();
}

void ProgressBar::onLog(core::LogLevel level, const std::string& message) {
  if (quiet_ && level < core::LogLevel::Warning) return;
  std::lock_guard lock(mutex_);
  if (lineOpen_) std::fputs("\r\033[K", out_);
  std::fprintf(out_, "%s%s\n", level >= core::LogLevel::Warning ? (core::toString(level) + ": ").c_str() : "",
               message.c_str());
  lineOpen_ = false;
  draw(true);
}

void ProgressBar::draw(bool force) {
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double eta = fraction_ > 0.005 ? elapsed * (1 - fraction_) / fraction_ : NAN;
  if (interactive_) {
    if (!force && now - lastDraw_ < std::chrono::milliseconds(100) && fraction_ < 1.0) return;
    lastDraw_ = now;
    const int width = 30;
    const int filled = static_cast<int>(fraction_ * width + 0.5);
    std::string bar(filled, '#');
    bar += std::string(width - filled, '.');
    std::fprintf(out_, "\r\033[K[%s] %3d%%  %s  elapsed %s  ETA %s  %s", bar.c_str(),
                 static_cast<int>(fraction_ * 100), stage_.c_str(), formatDuration(elapsed).c_str(),
                 formatDuration(eta).c_str(), lastMetrics_.c_str());
    std::fflush(out_);
    lineOpen_ = true;
  } else {
    const int decile = static_cast<int>(fraction_ * 10);
    if (decile == lastDecile_ && !force) return;
    if (decile == lastDecile_) return;
    lastDecile_ = decile;
    std::fprintf(out_, "%3d%%  %s  elapsed %s  ETA %s  %s\n", decile * 10, stage_.c_str(),
                 formatDuration(elapsed).c_str(), formatDuration(eta).c_str(), lastMetrics_.c_str());
    std::fflush(out_);
  }
}

void ProgressBar::finish() {
  std::lock_guard lock(mutex_);
  if (lineOpen_) {
    draw(true);
    std::fputs("\n", out_);
    lineOpen_ = false;
  }
}

}  // namespace atomscope::cli
