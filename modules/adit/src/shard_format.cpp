// Torch-free checks of ADiT data folders (shard_format.h); also built into tests/fuzz/fuzz_adit_shards.
#include "atomscope/adit/shard_format.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

namespace atomscope::adit {

namespace {

using nlohmann::json;

std::int64_t nonNegativeInt(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) throw AditError(where + ": no '" + key + "'");
  const auto& v = j.at(key);
  if (!v.is_number_integer()) throw AditError(where + ": '" + key + "' is not an integer");
  const auto n = v.is_number_unsigned() ? static_cast<std::int64_t>(std::min<std::uint64_t>(v.get<std::uint64_t>(), std::numeric_limits<std::int64_t>::max()))
                                        : v.get<std::int64_t>();
  if (n < 0 || n > (std::int64_t{1} << 40)) throw AditError(where + ": '" + key + "' out of range");
  return n;
}

template <class T>
T readScalar(const std::uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // safetensors data is little-endian, as this machine
  return v;
}

}  // namespace

DataManifest parseDataManifest(const std::string& text, const std::string& source) {
  json m;
  try {
    m = json::parse(text);
  } catch (const std::exception& e) {
    throw AditError(source + ": not JSON (" + e.what() + ")");
  }
  if (!m.is_object()) throw AditError(source + ": not a JSON object");
  if (!m.contains("format") || !m.at("format").is_string() || m.at("format").get<std::string>() != "atomscope.adit_data/1")
    throw AditError(source + ": format is not atomscope.adit_data/1");
  if (!m.contains("shards") || !m.at("shards").is_array()) throw AditError(source + ": 'shards' is not a list");
  DataManifest out;
  const auto& shards = m.at("shards");
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const std::string where = source + ": shard " + std::to_string(i);
    const auto& s = shards[i];
    if (!s.is_object() || !s.contains("file") || !s.at("file").is_string()) throw AditError(where + ": no 'file' name");
    ShardEntry e;
    e.file = s.at("file").get<std::string>();
    // A plain name inside the folder: never a path that leaves it.
    if (e.file.empty() || e.file == "." || e.file == ".." || e.file.find('/') != std::string::npos ||
        e.file.find('\\') != std::string::npos || e.file.find('\0') != std::string::npos)
      throw AditError(where + ": file '" + e.file + "' is not a plain file name inside the data folder");
    e.records = nonNegativeInt(s, "records", where);
    e.atoms = nonNegativeInt(s, "atoms", where);
    out.records += e.records;
    out.shards.push_back(std::move(e));
  }
  if (m.contains("records")) {
    if (nonNegativeInt(m, "records", source) != out.records)
      throw AditError(source + ": 'records' differs from the sum over its shards");
  }
  return out;
}

ShardCounts checkShard(const core::SafetensorsReader& r) {
  const auto& src = r.source();
  auto get = [&](const char* name, core::DType dtype, std::size_t rank) -> const core::TensorInfo& {
    if (!r.contains(name)) throw AditError("ADiT shard '" + src + "' has no tensor '" + name + "'");
    const auto& t = r.info(name);
    if (t.dtype != dtype)
      throw AditError("ADiT shard '" + src + "': tensor '" + name + "' is " + core::dtypeName(t.dtype) + ", expected " +
                      core::dtypeName(dtype));
    if (t.shape.size() != rank)
      throw AditError("ADiT shard '" + src + "': tensor '" + name + "' has rank " + std::to_string(t.shape.size()) +
                      ", expected " + std::to_string(rank));
    return t;
  };
  const auto& numbers = get("numbers", core::DType::I64, 1);
  const auto& positions = get("positions", core::DType::F32, 2);
  const auto& fractional = get("fractional", core::DType::F32, 2);
  const auto& offsets = get("offsets", core::DType::I64, 1);
  const auto& lattice = get("lattice", core::DType::F32, 2);
  const auto& kind = get("kind", core::DType::I64, 1);
  const auto& group = get("space_group", core::DType::I64, 1);
  const auto A = numbers.shape[0], n = kind.shape[0];
  auto bad = [&](const std::string& what) { return AditError("ADiT shard '" + src + "': " + what); };
  if (positions.shape != std::vector<std::int64_t>{A, 3} || fractional.shape != std::vector<std::int64_t>{A, 3})
    throw bad("positions and fractional must be [atoms, 3] with atoms = " + std::to_string(A));
  if (offsets.shape[0] != n + 1 || lattice.shape != std::vector<std::int64_t>{n, 6} || group.shape[0] != n)
    throw bad("tensor sizes disagree (offsets [records + 1], lattice [records, 6], space_group [records])");
  const auto* o = r.data("offsets");
  std::int64_t prev = 0;
  for (std::int64_t i = 0; i <= n; ++i) {
    const auto v = readScalar<std::int64_t>(o + 8 * i);
    if ((i == 0 && v != 0) || v < prev || v > A) throw bad("offsets must rise from 0 to the atom count (" + std::to_string(A) + ")");
    prev = v;
  }
  if (prev != A) throw bad("the last offset is " + std::to_string(prev) + ", expected the atom count " + std::to_string(A));
  const auto* z = r.data("numbers");
  for (std::int64_t a = 0; a < A; ++a) {
    const auto v = readScalar<std::int64_t>(z + 8 * a);
    if (v < 1 || v > 118) throw bad("atom " + std::to_string(a) + " has atomic number " + std::to_string(v) + " (1..118)");
  }
  const auto* k = r.data("kind");
  const auto* g = r.data("space_group");
  for (std::int64_t i = 0; i < n; ++i) {
    const auto kv = readScalar<std::int64_t>(k + 8 * i), gv = readScalar<std::int64_t>(g + 8 * i);
    if (kv != 0 && kv != 1) throw bad("record " + std::to_string(i) + " has kind " + std::to_string(kv) + " (0 molecule, 1 crystal)");
    if (gv < 0 || gv > 230) throw bad("record " + std::to_string(i) + " has space group " + std::to_string(gv) + " (0..230)");
  }
  return {n, A};
}

}  // namespace atomscope::adit
