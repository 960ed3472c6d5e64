#include <chrono>
#include <thread>

#include "atomscope/core/error.h"
#include "atomscope/core/job.h"
#include "test_util.h"

namespace atomscope::gui::test {
namespace {

using namespace atomscope::core;

class FloodJob : public Job {
 public:
  JobInfo info() const override {
    return {"test.flood", "Test: metric flood", "Testing", "Reports metric points as fast as asked.", false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addInt("points", 20000, 1, 100000000, "Metric points to report.");
    s.addFloat("seconds", 1.0, 0.0, 3600.0, "Spread the points over this many seconds (0: as fast as possible).");
    s.addInt("log_every", 1000, 1, 100000000, "Log a line every this many points.");
    s.addInt("step_offset", 0, 0, std::nullopt, "Added to every step number.");
    return s;
  }
  void run(Context& ctx) override {
    auto& fb = ctx.feedback();
    const long long points = ctx.params().getInt("points");
    const double seconds = ctx.params().getFloat("seconds");
    const long long logEvery = ctx.params().getInt("log_every");
    const auto t0 = std::chrono::steady_clock::now();
    for (long long i = 0; i < points; ++i) {
      if (seconds > 0) {
        // Pace: point i is due at i/points*seconds.
        const double due = seconds * static_cast<double>(i) / static_cast<double>(points);
        while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < due) {
          fb.throwIfCancelled();
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
      }
      if (i % 64 == 0) fb.throwIfCancelled();
      fb.reportMetrics(i + 1 + ctx.params().getInt("step_offset"), {{"loss", 1.0 / static_cast<double>(i + 1)}, {"lr", 1e-3}});
      if ((i + 1) % logEvery == 0) fb.info("point " + std::to_string(i + 1));
      if (i % 256 == 0) fb.setProgress(static_cast<double>(i + 1) / points, "flooding");
    }
    ctx.run().setSummary("points", points);
  }
};

class FailJob : public Job {
 public:
  JobInfo info() const override { return {"test.fail", "Test: failure", "Testing", "Always fails.", false}; }
  ParamSchema schema() const override { return {}; }
  void run(Context&) override { throw Error("deliberate failure: the input file x.dat line 3 is malformed"); }
};

}  // namespace

void registerTestJobs(JobRegistry& registry) {
  if (!registry.contains("test.flood")) registry.add([] { return std::make_unique<FloodJob>(); });
  if (!registry.contains("test.fail")) registry.add([] { return std::make_unique<FailJob>(); });
}

}  // namespace atomscope::gui::test
