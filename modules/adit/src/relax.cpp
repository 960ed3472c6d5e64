#include "atomscope/adit/relax.h"

#include <exception>

#include "atomscope/core/error.h"

namespace atomscope::adit {

RelaxSummary relaxStructures(chem::Trajectory& structures, forcefield::Calculator& calculator,
                             const forcefield::OptimizeOptions& options, core::Feedback* fb) {
  RelaxSummary out;
  if (fb) fb->setStage("relaxing with " + calculator.name());
  double steps = 0;
  for (std::size_t i = 0; i < structures.size(); ++i) {
    if (fb) {
      fb->throwIfCancelled();
      fb->setProgress(static_cast<double>(i) / static_cast<double>(structures.size()),
                      "relaxing " + std::to_string(i + 1) + " of " + std::to_string(structures.size()));
    }
    if (structures[i].empty()) continue;
    try {
      auto r = forcefield::optimize(calculator, structures[i], options, [&](const auto&, const auto&) {
        if (fb) fb->throwIfCancelled();
      });
      structures[i] = std::move(r.structure);
      ++out.relaxed;
      out.converged += r.converged;
      steps += r.steps;
    } catch (const core::Cancelled&) {
      throw;
    } catch (const std::exception& e) {  // ForceFieldError, or a model's own error (an unknown element)
      ++out.failed;
      if (out.failures.size() < 5)
        out.failures.push_back("structure " + std::to_string(i) + " (" + structures[i].formula() + "): " + e.what());
    }
  }
  out.meanSteps = out.relaxed ? steps / static_cast<double>(out.relaxed) : 0.0;
  return out;
}

}  // namespace atomscope::adit
