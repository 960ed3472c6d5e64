#pragma once
// Activation shards: the activations of chosen sites of a language model over a text, as flat
// little-endian arrays that are memory-mapped for reading, plus a JSON manifest.
//
// Folder layout (written by ActivationWriter, read by ActivationReader):
//   manifest.json  {"format":"atomscope.activations/1", "d", "dtype":"float32"|"bfloat16",
//                   "sites":["resid_post.3", ...], "rows", "planned_rows", "complete", "cancelled",
//                   "shards":[{"rows", "tokens":"tokens_000.bin", "positions":"positions_000.bin",
//                              "acts":{"resid_post.3":"resid_post.3_000.bin", ...}}],
//                   "source":{model, tokenizer, text, context, skip_bos, ...}}
//   <site>_<k>.bin   [rows, d] activations of shard k, row-major
//   tokens_<k>.bin   [rows] int32 token id at each row
//   positions_<k>.bin [rows] int32 position of the token in its window (0 = the window's first token)
// Rows of one window are consecutive and a window never crosses a shard, so a row's left context is
// the run of rows before it whose positions count down to the window start.
// The manifest is rewritten (atomically) after every completed shard: a cancelled or crashed
// collection leaves a readable folder with "complete": false holding the shards finished so far.
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "atomscope/core/error.h"
#include "atomscope/core/json.h"
#include "atomscope/core/mapped_file.h"
#include "atomscope/lm/model.h"
#include "atomscope/sae/formats.h"

namespace atomscope::sae {

// A site of one block: "resid_post.3" (residual stream after block 3), "attn_out.0", "mlp_out.4".
struct Site {
  lm::ActivationSite kind = lm::ActivationSite::ResidPost;
  std::int64_t layer = 0;
  std::string name() const;
  static Site parse(const std::string& name);  // throws SaeError
};
std::string siteKindName(lm::ActivationSite kind);            // "resid_post", "attn_out", "mlp_out"
lm::ActivationSite siteKindFromName(const std::string& name);  // throws SaeError

class ActivationWriter {
 public:
  // Creates folder (must be empty or absent). dtype: "float32" or "bfloat16". source: free-form
  // provenance stored in the manifest.
  ActivationWriter(std::filesystem::path folder, std::vector<std::string> sites, std::int64_t d, std::string dtype,
                   std::int64_t plannedRows, Json source);
  ~ActivationWriter();
  // Appends the rows of one window: acts[site] is [n, d] (any float dtype, any device), tokens and
  // positions hold n values each.
  void append(const std::map<std::string, torch::Tensor>& acts, const std::vector<std::int32_t>& tokens,
              const std::vector<std::int32_t>& positions);
  std::int64_t shardRows() const { return currentRows_; }
  std::int64_t rows() const { return rows_; }
  // Closes the current shard (if it holds rows) and rewrites the manifest.
  void endShard();
  // Closes the current shard and writes the final manifest: complete, or partial and cancelled.
  void finish(bool complete);
  const std::filesystem::path& folder() const { return folder_; }

 private:
  void openShard();
  void writeManifest(bool complete, bool cancelled);

  std::filesystem::path folder_;
  std::vector<std::string> sites_;
  std::int64_t d_;
  std::string dtype_;
  std::int64_t plannedRows_;
  Json source_;
  Json shards_ = Json::array();
  std::int64_t rows_ = 0, currentRows_ = 0;
  bool open_ = false, finished_ = false;
  std::map<std::string, std::ofstream> actFiles_;
  std::ofstream tokenFile_, positionFile_;
  Json currentShard_;
};

// Memory-mapped reader of an activation folder. Batches come back as float32 CPU tensors.
class ActivationReader {
 public:
  // folderOrManifest: the folder or its manifest.json. Throws SaeError naming the file: missing or
  // malformed manifest, a missing shard file, a file whose size does not match rows * d.
  static ActivationReader open(const std::filesystem::path& folderOrManifest);

  const Json& manifest() const { return manifest_; }
  const std::filesystem::path& folder() const { return folder_; }
  std::int64_t d() const { return d_; }
  std::int64_t rows() const { return rows_; }
  bool complete() const { return complete_; }
  const std::vector<std::string>& sites() const { return sites_; }
  const std::string& dtype() const { return dtype_; }
  // Throws SaeError listing the sites the folder holds.
  void requireSite(const std::string& site) const;

  // Rows [start, start + count) (may cross shards), float32 [count, d].
  torch::Tensor rows(const std::string& site, std::int64_t start, std::int64_t count) const;
  // Rows at the given indices (int64, any order), float32 [n, d].
  torch::Tensor gather(const std::string& site, const torch::Tensor& indices) const;
  // `batch` rows drawn uniformly from [begin, end), a function of (seed, step) only (SplitMix64):
  // reproducible and resumable. Returns float32 [batch, d].
  torch::Tensor randomBatch(const std::string& site, std::int64_t batch, std::int64_t begin, std::int64_t end,
                            std::uint64_t seed, std::uint64_t step) const;
  std::int32_t token(std::int64_t row) const;
  std::int32_t position(std::int64_t row) const;

 private:
  struct Shard {
    std::int64_t start = 0, rows = 0;
    std::map<std::string, core::MappedFile> acts;
    core::MappedFile tokens, positions;
  };
  const Shard& shardOf(std::int64_t row) const;
  torch::Tensor view(const Shard& s, const std::string& site) const;  // zero-copy [rows, d]

  std::filesystem::path folder_;
  Json manifest_;
  std::int64_t d_ = 0, rows_ = 0;
  bool complete_ = false;
  std::string dtype_;
  std::vector<std::string> sites_;
  std::vector<Shard> shards_;
};

}  // namespace atomscope::sae
