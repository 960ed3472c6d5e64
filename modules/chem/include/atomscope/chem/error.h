#pragma once
#include <string>

#include "atomscope/core/error.h"

namespace atomscope::chem {

// Errors of the chemistry module; readers say "file:line: what was found, what was expected".
class ChemError : public core::Error {
 public:
  using core::Error::Error;
};

}  // namespace atomscope::chem
