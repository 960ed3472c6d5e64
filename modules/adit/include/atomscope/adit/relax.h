#pragma once
// Relaxation of generated structures with a calculator of modules/forcefield (xtb, PONITA, MACE):
// the optional last step of adit.sample. A structure the calculator cannot handle (an element the
// model was not trained on, an xtb SCF failure) is kept as generated and counted, never fatal.
#include <cstddef>
#include <string>
#include <vector>

#include "atomscope/chem/structure.h"
#include "atomscope/core/feedback.h"
#include "atomscope/forcefield/calculator.h"
#include "atomscope/forcefield/dynamics.h"

namespace atomscope::adit {

struct RelaxSummary {
  std::size_t relaxed = 0;    // optimisations that ran (converged or not)
  std::size_t converged = 0;  // of those, reached fmax
  std::size_t failed = 0;     // kept unrelaxed: the calculator refused the structure
  double meanSteps = 0;       // over the relaxed ones
  std::vector<std::string> failures;  // "structure i (formula): why", the first few
};

// Relaxes every structure in place (positions only; cells fixed). Checks for a cancel between and
// within optimisations; progress over the structures.
RelaxSummary relaxStructures(chem::Trajectory& structures, forcefield::Calculator& calculator,
                             const forcefield::OptimizeOptions& options, core::Feedback* fb = nullptr);

}  // namespace atomscope::adit
