#pragma once
// The on-disk form of ADiT training data without torch (so the fuzz build checks it): manifest.json
// (format atomscope.adit_data/1: shards with file, records, atoms) and each shard's tensor layout
// (numbers I64 [A], positions F32 [A, 3], fractional F32 [A, 3], offsets I64 [n + 1] rising from 0
// to A, lattice F32 [n, 6], kind I64 [n] in {0, 1}, space_group I64 [n] in 0..230, atomic numbers
// in 1..118). loadDataset / loadShard (dataset.h) run these checks before building tensors.
#include <cstdint>
#include <string>
#include <vector>

#include "atomscope/core/error.h"
#include "atomscope/core/safetensors.h"

namespace atomscope::adit {

class AditError : public core::Error {
 public:
  using core::Error::Error;
};

struct ShardEntry {
  std::string file;  // a plain file name inside the data folder
  std::int64_t records = 0, atoms = 0;
};

struct DataManifest {
  std::vector<ShardEntry> shards;
  std::int64_t records = 0;  // the sum over shards
};

// Parses and checks manifest.json text; source names the file in messages. Throws AditError.
DataManifest parseDataManifest(const std::string& text, const std::string& source);

struct ShardCounts {
  std::int64_t records = 0, atoms = 0;
};

// Checks a shard's tensors (names, dtypes, shapes, offsets, value ranges). Throws AditError naming
// the reader's source and the tensor at fault.
ShardCounts checkShard(const core::SafetensorsReader& shard);

}  // namespace atomscope::adit
