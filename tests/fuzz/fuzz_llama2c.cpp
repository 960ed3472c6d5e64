// libFuzzer target: the llama2.c legacy .bin header (lm::parseLlama2cHeader, what loadLlama2c
// checks before it touches a weight). Anything rejected must be an LmError; a header that passes
// must describe exactly the bytes given, a valid config, and survive config -> config.json -> config.
#include <cstdint>
#include <string>

#include "atomscope/lm/llama2c_format.h"

using namespace atomscope::lm;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto layout = parseLlama2cHeader(data, size, "fuzz.bin");
    if (layout.expectedBytes != size || layout.expectedBytes != 28 + 4 * layout.floats) __builtin_trap();
    layout.config.validate();
    const auto back = ModelConfig::fromHfConfig(layout.config.toHfConfig(), "fuzz/config.json");
    if (back.dim != layout.config.dim || back.nLayers != layout.config.nLayers ||
        back.vocabSize != layout.config.vocabSize || back.tiedEmbeddings != layout.config.tiedEmbeddings)
      __builtin_trap();
  } catch (const LmError&) {
  }
  return 0;
}
