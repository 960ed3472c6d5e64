#pragma once
// Matrix products in TF32 on CUDA for a scope (tensor cores, 10-bit mantissa), then the process's
// setting back: a calculator's option must not change other jobs' precision.
#include <torch/torch.h>

namespace atomscope::forcefield {

class Tf32Scope {
 public:
  explicit Tf32Scope(bool on) : on_(on), before_(at::globalContext().allowTF32CuBLAS()) {
    if (on_) at::globalContext().setAllowTF32CuBLAS(true);
  }
  ~Tf32Scope() {
    if (on_) at::globalContext().setAllowTF32CuBLAS(before_);
  }
  Tf32Scope(const Tf32Scope&) = delete;
  Tf32Scope& operator=(const Tf32Scope&) = delete;

 private:
  bool on_, before_;
};

}  // namespace atomscope::forcefield
