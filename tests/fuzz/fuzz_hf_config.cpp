// libFuzzer target: Hugging Face config.json (lm::ModelConfig::fromHfConfig, what readHfConfig
// applies to the parsed file). Text that is not JSON is rejected before (readHfConfig reports it);
// JSON that is not a usable config must be an LmError. A config that parses must be valid and
// survive toHfConfig -> fromHfConfig unchanged (compared through toJson).
#include <cstdint>
#include <string>

#include "atomscope/lm/model_config.h"

using namespace atomscope;
using namespace atomscope::lm;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) return 0;
  try {
    const auto c = ModelConfig::fromHfConfig(j, "fuzz/config.json");
    c.validate();
    const auto back = ModelConfig::fromHfConfig(c.toHfConfig(), "fuzz/config.json");
    if (back.toJson() != c.toJson()) __builtin_trap();
  } catch (const LmError&) {
  }
  return 0;
}
