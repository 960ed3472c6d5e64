// libFuzzer target: job parameters as the CLI and the GUI give them (core::ParamSchema). The first
// byte picks the input: even = a --params JSON file for validate(), odd = one "--param name=value"
// for valueFromText(). The schema has every parameter type with ranges, as jobs declare them.
// Anything rejected must be a ParamError (or its base core::Error for a bad device name); a validated
// object must validate again to itself and read back through Params' typed getters.
#include <cstdint>
#include <string>

#include "atomscope/core/error.h"
#include "atomscope/core/params.h"

using namespace atomscope;
using namespace atomscope::core;

namespace {

const ParamSchema& schema() {
  static const ParamSchema s = [] {
    ParamSchema p;
    p.addInt("steps", 100, 1, 1e9, "steps");
    p.addInt("seed_offset", 0, std::nullopt, std::nullopt, "any integer");
    p.addFloat("lr", 3e-4, 0.0, 10.0, "learning rate");
    p.addFloat("scale", 1.0, std::nullopt, std::nullopt, "any float");
    p.addBool("export", true, "export");
    p.addString("name", "", "text");
    p.addChoice("family", {"llama", "gpt2"}, "llama", "family");
    p.addOptionalPath("tokenizer", "a file");
    p.addDevice();
    return p;
  }();
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    if (data[0] % 2 == 0) {
      const Json given = Json::parse(text, nullptr, false);
      if (given.is_discarded()) return 0;  // the CLI reports invalid JSON itself
      const Json v = schema().validate(given);
      if (schema().validate(v) != v) __builtin_trap();
      const Params p(v);
      (void)p.getInt("steps");
      (void)p.getFloat("lr");
      (void)p.getBool("export");
      (void)p.getString("family");
      if (p.getInt("steps") < 1 || p.getFloat("lr") < 0.0 || p.getFloat("lr") > 10.0) __builtin_trap();
    } else {
      const auto eq = text.find('=');
      if (eq == std::string::npos) return 0;
      const Json value = schema().valueFromText(text.substr(0, eq), text.substr(eq + 1));
      (void)value.dump();
    }
  } catch (const Error&) {
  }
  return 0;
}
