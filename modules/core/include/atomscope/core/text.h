#pragma once
// Small text helpers shared by the modules' file readers.
#include <string>
#include <string_view>

namespace atomscope::core {

// ASCII lower case: file extensions, header words and format names (never locale-dependent).
inline std::string asciiLower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace atomscope::core
