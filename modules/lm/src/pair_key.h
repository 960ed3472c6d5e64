#pragma once
// The hash key of an adjacent token pair, shared by the BPE tokenizers' merge tables.
#include <cstdint>

namespace atomscope::lm::detail {

inline std::uint64_t tokenPairKey(std::int32_t a, std::int32_t b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}

}  // namespace atomscope::lm::detail
