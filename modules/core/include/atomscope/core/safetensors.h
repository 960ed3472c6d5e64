#pragma once
// safetensors reader and writer (https://github.com/huggingface/safetensors). No torch here:
// tensor_io.h converts to and from torch::Tensor.
//
// File layout: u64 little-endian N | N bytes of JSON header | data region.
// Header: {"__metadata__": {str: str}?, name: {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...}
// Offsets are relative to the data region. The reader validates what the reference library
// (safetensors/src/tensor.rs, read_metadata + Metadata::validate) validates:
//   N <= 100'000'000 and 8 + N <= file size; header is UTF-8 JSON; after sorting by offsets the
//   tensors tile the data region exactly (first begins at 0, each begins where the previous ends,
//   the last ends at the end of the file); end - begin == product(shape) * element size with
//   overflow checks. It also refuses what the reference lets through silently: duplicate keys,
//   a header that is not an object, non-string metadata values, dtypes it cannot represent.
// The writer reproduces the reference serializer byte for byte: tensors ordered by dtype
// alignment (descending, the reference's Dtype enum order) then by name, compact JSON with
// "__metadata__" first, header padded with spaces to a multiple of 8 bytes.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "atomscope/core/error.h"
#include "atomscope/core/mapped_file.h"

namespace atomscope::core {

// Element types shared by safetensors and npy. Names are spelled as safetensors spells them.
enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, U16, U32, U64, BOOL };

const char* dtypeName(DType t);                              // "F32", "BF16", "BOOL", ...
std::optional<DType> dtypeFromName(std::string_view name);   // exact, case-sensitive
std::size_t dtypeSize(DType t);                              // bytes per element
// Position in the reference library's Dtype enum, which is declared in increasing alignment
// order (BOOL < U8 < I8 < I16 < U16 < F16 < BF16 < I32 < U32 < F32 < F64 < I64 < U64).
int dtypeAlignmentRank(DType t);
const std::vector<DType>& allDTypes();

class SafetensorsError : public Error {
 public:
  using Error::Error;
};

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;  // [] is a scalar (one element)
  std::uint64_t begin = 0;          // byte offsets relative to the data region
  std::uint64_t end = 0;

  std::uint64_t numel() const;  // product of shape (1 for a scalar)
  std::uint64_t byteSize() const { return end - begin; }
};

class SafetensorsReader {
 public:
  static constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // the reference's MAX_HEADER_SIZE

  // Memory-maps the file (copy-on-write private pages, so zero-copy tensors may be written in
  // place without touching the file) and validates everything. Throws SafetensorsError naming
  // the file (and the tensor where one is at fault).
  static SafetensorsReader open(const std::filesystem::path& path);
  // Same validation over bytes in memory; sourceName is used in messages.
  static SafetensorsReader fromBytes(std::vector<std::uint8_t> bytes, std::string sourceName = "<memory>");

  SafetensorsReader(SafetensorsReader&&) noexcept = default;
  SafetensorsReader& operator=(SafetensorsReader&&) noexcept = default;

  const std::string& source() const { return source_; }
  // Tensor names in file order (by data offset).
  std::vector<std::string> names() const;
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // file order
  std::size_t size() const { return tensors_.size(); }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;  // throws SafetensorsError
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // The tensor's raw little-endian bytes inside the mapping (valid while this reader lives).
  std::span<const std::uint8_t> bytes(const std::string& name) const;
  const std::uint8_t* data(const std::string& name) const { return bytes(name).data(); }

  std::uint64_t headerSize() const { return headerSize_; }  // N
  std::uint64_t fileSize() const;
  // Start of the data region (8 + N bytes into the file).
  const std::uint8_t* dataRegion() const { return base() + 8 + headerSize_; }

 private:
  SafetensorsReader() = default;
  const std::uint8_t* base() const;
  void parse();

  std::string source_;
  std::variant<MappedFile, std::vector<std::uint8_t>> storage_;
  std::uint64_t headerSize_ = 0;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

class SafetensorsWriter {
 public:
  // Copies the bytes (little-endian, C order). Throws SafetensorsError on a duplicate or
  // reserved name, a negative dimension, or bytes.size() != product(shape) * element size.
  void add(std::string name, DType dtype, std::vector<std::int64_t> shape, std::vector<std::uint8_t> bytes);
  // Does not copy: data must stay alive and unchanged until write()/serialize() returns.
  void addView(std::string name, DType dtype, std::vector<std::int64_t> shape, const void* data,
               std::size_t size);

  std::size_t size() const { return entries_.size(); }
  bool contains(const std::string& name) const;

  // The header JSON (with its padding) and the file image, as the reference serializer makes them.
  std::string header(const std::map<std::string, std::string>& metadata = {}) const;
  std::vector<std::uint8_t> serialize(const std::map<std::string, std::string>& metadata = {}) const;
  // Atomic: writes <path>.tmp-<pid>-<n> in the same folder, fsyncs, renames over path.
  // "__metadata__" is written only when metadata is not empty.
  void write(const std::filesystem::path& path, const std::map<std::string, std::string>& metadata = {}) const;

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<std::int64_t> shape;
    std::vector<std::uint8_t> owned;
    const std::uint8_t* data = nullptr;
    std::size_t size = 0;
  };
  void check(const std::string& name, DType dtype, const std::vector<std::int64_t>& shape, std::size_t size) const;
  std::vector<const Entry*> ordered() const;

  std::vector<Entry> entries_;
};

}  // namespace atomscope::core
