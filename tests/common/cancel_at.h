#pragma once
// A feedback sink that cancels a run once it reports a given step: the cut of the resume tests.
#include <memory>

#include "atomscope/core/feedback.h"

namespace atomscope::test {

class CancelAtStep : public core::FeedbackSink {
 public:
  CancelAtStep(core::Feedback& fb, long long step) : fb_(fb), step_(step) {}
  void onMetrics(const core::MetricPoint& p) override {
    if (p.step >= step_) fb_.requestCancel();
  }
  // Adds a sink to fb that cancels it once step is reported.
  static void install(core::Feedback& fb, long long step) { fb.addSink(std::make_shared<CancelAtStep>(fb, step)); }

 private:
  core::Feedback& fb_;
  long long step_;
};

}  // namespace atomscope::test
