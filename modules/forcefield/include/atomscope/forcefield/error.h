#pragma once
#include "atomscope/core/error.h"

namespace atomscope::forcefield {

// Errors of the force-field module; messages name the file, structure or parameter at fault.
class ForceFieldError : public core::Error {
 public:
  using core::Error::Error;
};

}  // namespace atomscope::forcefield
