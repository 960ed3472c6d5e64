#pragma once
// Rotation matrices from quaternions, shared by the torch modules that draw random rotations (adit's
// sync-free draws on the device, forcefield's reproducible draws from a seed). Header-only, like
// torch_device.h, so atomscope_core itself stays free of torch headers.
#include <torch/torch.h>

namespace atomscope::core {

// q [B, 4] (w, x, y, z; normalised here) -> rotation matrices [B, 3, 3] in q's dtype and device. Normal
// draws for q give rotations uniform over SO(3).
inline torch::Tensor rotationsFromQuaternions(torch::Tensor q) {
  q = q / q.norm(2, -1, true).clamp_min(1e-12);
  const auto w = q.select(1, 0), x = q.select(1, 1), y = q.select(1, 2), z = q.select(1, 3);
  return torch::stack({1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
                       2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
                       2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)}, 1)
      .view({q.size(0), 3, 3});
}

}  // namespace atomscope::core
