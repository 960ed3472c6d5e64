#pragma once
// The sae module's text formats, parsed and validated without torch (fuzzed in tests/fuzz):
// the activation manifest (activations.h) and an SAE folder's cfg.json (sae.h).
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "atomscope/core/error.h"
#include "atomscope/core/json.h"

namespace atomscope::sae {

// Every failure of the sae module: the message names the file, tensor or parameter at fault.
class SaeError : public core::Error {
 public:
  using core::Error::Error;
};

struct ManifestShard {
  std::int64_t rows = 0;
  std::string tokens, positions;             // file names inside the folder
  std::map<std::string, std::string> acts;   // site -> file name
};

struct ActivationManifest {
  Json json;
  std::int64_t d = 0;
  std::string dtype;                // float32 | bfloat16
  std::size_t itemSize = 4;
  std::vector<std::string> sites;
  std::vector<ManifestShard> shards;
  std::int64_t rows = 0;            // sum over shards
  bool complete = false;
};

// Parses manifest.json's text; `file` names it in messages. Throws SaeError: not JSON, wrong
// format, a missing or mistyped field, a bad width or dtype, a shard without rows or without a
// file for a site, a file name leaving the folder, 'rows' disagreeing with the shards.
ActivationManifest parseActivationManifest(const std::string& text, const std::filesystem::path& file);

struct SaeFileConfig {
  Json json;
  std::int64_t dIn = 0, dSae = 0;
  std::string architecture;  // jumprelu | standard
  bool applyBDecToInput = true;
  bool whitened = false;     // Atomscope's own flag
};

// Parses an SAE folder's cfg.json (SAELens 5 or 6). Throws SaeError naming the file.
SaeFileConfig parseSaeConfig(const std::string& text, const std::filesystem::path& file);

}  // namespace atomscope::sae
