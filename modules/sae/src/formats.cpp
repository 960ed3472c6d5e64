// Activation manifests and SAE cfg.json files: parsing and validation, no torch.
#include "atomscope/sae/formats.h"

#include <cstdint>

namespace atomscope::sae {

namespace fs = std::filesystem;

namespace {

// JSON integers only: nlohmann's get<std::int64_t>() on a float out of range is undefined behaviour.
bool asInt(const Json& v, std::int64_t& out) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) return false;
    out = static_cast<std::int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    out = v.get<std::int64_t>();
    return true;
  }
  return false;
}

std::int64_t intField(const Json& j, const char* key, const fs::path& file, const std::string& where = {}) {
  const std::string at = where.empty() ? "" : where + ": ";
  if (!j.is_object() || !j.contains(key))
    throw SaeError("activation manifest '" + file.string() + "': " + at + "missing field '" + key + "'");
  std::int64_t v = 0;
  if (!asInt(j[key], v))
    throw SaeError("activation manifest '" + file.string() + "': " + at + "field '" + key + "' is not an integer");
  return v;
}

template <typename T>
T field(const Json& j, const char* key, const fs::path& file, const std::string& where = {}) {
  const std::string at = where.empty() ? "" : where + ": ";
  if (!j.is_object() || !j.contains(key))
    throw SaeError("activation manifest '" + file.string() + "': " + at + "missing field '" + key + "'");
  try {
    return j.at(key).get<T>();
  } catch (const std::exception&) {
    throw SaeError("activation manifest '" + file.string() + "': " + at + "field '" + key + "' has the wrong type");
  }
}

// A shard file name must stay inside the folder: no separators, not "." or "..".
std::string fileName(const Json& j, const char* key, const fs::path& file, const std::string& where) {
  auto name = field<std::string>(j, key, file, where);
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\\') != std::string::npos || name.find('\0') != std::string::npos)
    throw SaeError("activation manifest '" + file.string() + "': " + where + ": file name '" + name +
                   "' must be a plain name inside the folder");
  return name;
}

}  // namespace

ActivationManifest parseActivationManifest(const std::string& text, const fs::path& file) {
  ActivationManifest m;
  try {
    m.json = Json::parse(text);
  } catch (const std::exception& e) {
    throw SaeError("activation manifest '" + file.string() + "' is not valid JSON: " + e.what());
  }
  const auto& j = m.json;
  if (!j.is_object() || !j.contains("format") || !j["format"].is_string() || j["format"] != "atomscope.activations/1")
    throw SaeError("'" + file.string() + "' is not an activation manifest (format atomscope.activations/1)");
  m.d = intField(j, "d", file);
  m.dtype = field<std::string>(j, "dtype", file);
  m.sites = field<std::vector<std::string>>(j, "sites", file);
  m.complete = j.contains("complete") && j["complete"].is_boolean() && j["complete"].get<bool>();
  if (m.d <= 0 || m.d > (1 << 20))
    throw SaeError("activation manifest '" + file.string() + "': width d = " + std::to_string(m.d) + " is out of range");
  if (m.dtype != "float32" && m.dtype != "bfloat16")
    throw SaeError("activation manifest '" + file.string() + "': dtype '" + m.dtype + "' is not float32 or bfloat16");
  m.itemSize = m.dtype == "bfloat16" ? 2 : 4;
  if (m.sites.empty()) throw SaeError("activation manifest '" + file.string() + "': no sites");
  const auto shards = field<Json>(j, "shards", file);
  if (!shards.is_array()) throw SaeError("activation manifest '" + file.string() + "': 'shards' is not a list");
  for (std::size_t k = 0; k < shards.size(); ++k) {
    const std::string where = "shard " + std::to_string(k);
    ManifestShard s;
    s.rows = intField(shards[k], "rows", file, where);
    // Bounded so that rows * d * item size cannot overflow.
    if (s.rows <= 0 || s.rows > (std::int64_t{1} << 40) / m.d)
      throw SaeError("activation manifest '" + file.string() + "': " + where + " has " + std::to_string(s.rows) + " rows");
    s.tokens = fileName(shards[k], "tokens", file, where);
    s.positions = fileName(shards[k], "positions", file, where);
    const auto acts = field<Json>(shards[k], "acts", file, where);
    for (const auto& site : m.sites) {
      if (!acts.is_object() || !acts.contains(site))
        throw SaeError("activation manifest '" + file.string() + "': " + where + " has no file for site '" + site + "'");
      s.acts[site] = fileName(acts, site.c_str(), file, where);
    }
    if (m.rows > (std::int64_t{1} << 50)) throw SaeError("activation manifest '" + file.string() + "': too many rows");
    m.rows += s.rows;
    m.shards.push_back(std::move(s));
  }
  std::int64_t declared = 0;
  if (j.contains("rows") && (!asInt(j["rows"], declared) || declared != m.rows))
    throw SaeError("activation manifest '" + file.string() + "': 'rows' is " + j["rows"].dump() + " but the shards hold " +
                   std::to_string(m.rows));
  return m;
}

SaeFileConfig parseSaeConfig(const std::string& text, const fs::path& file) {
  SaeFileConfig c;
  try {
    c.json = Json::parse(text);
  } catch (const std::exception& e) {
    throw SaeError("'" + file.string() + "' is not valid JSON: " + e.what());
  }
  const auto& j = c.json;
  if (!j.is_object()) throw SaeError("'" + file.string() + "' is not a JSON object");
  if (!j.contains("d_in") || !j.contains("d_sae") || !asInt(j["d_in"], c.dIn) || !asInt(j["d_sae"], c.dSae))
    throw SaeError("'" + file.string() + "' lacks integer fields d_in and d_sae");
  if (c.dIn <= 0 || c.dSae <= 0 || c.dIn > (1 << 20) || c.dSae > (1 << 26))
    throw SaeError("'" + file.string() + "': d_in and d_sae must be positive (and below 2^20, 2^26)");
  auto str = [&](const char* key, const std::string& def) {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_string()) throw SaeError("'" + file.string() + "': '" + key + "' must be a string");
    return j[key].get<std::string>();
  };
  c.architecture = str("architecture", "standard");
  if (c.architecture != "jumprelu" && c.architecture != "standard")
    throw SaeError("'" + file.string() + "': architecture '" + c.architecture + "' is not supported (jumprelu or standard)");
  const auto norm = str("normalize_activations", "none");
  if (norm != "none")
    throw SaeError("'" + file.string() + "': normalize_activations '" + norm + "' is not supported (none only)");
  if (j.contains("apply_b_dec_to_input")) {
    if (!j["apply_b_dec_to_input"].is_boolean())
      throw SaeError("'" + file.string() + "': 'apply_b_dec_to_input' must be true or false");
    c.applyBDecToInput = j["apply_b_dec_to_input"].get<bool>();
  }
  if (j.contains("atomscope") && j["atomscope"].is_object() && j["atomscope"].contains("whitened") &&
      j["atomscope"]["whitened"].is_boolean())
    c.whitened = j["atomscope"]["whitened"].get<bool>();
  return c;
}

}  // namespace atomscope::sae
