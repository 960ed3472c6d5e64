#pragma once
// One exception type per module; messages name the file, field or tensor and what was expected.
#include <stdexcept>
#include <string>

namespace atomscope::core {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A job's parameters failed validation; what() lists every problem, one per line.
class ParamError : public Error {
 public:
  using Error::Error;
};

// Thrown by Feedback::throwIfCancelled(); the runner turns it into status "cancelled".
class Cancelled : public Error {
 public:
  Cancelled() : Error("cancelled by the user") {}
};

}  // namespace atomscope::core
