#pragma once
// NumPy .npy reader and writer and .npz (zip of .npy) reader. No torch here: tensor_io.h converts.
//
// .npy (numpy/lib/format.py, NEP 1): "\x93NUMPY" | major | minor | header length (u16 for 1.0,
// u32 for 2.0 and 3.0, little-endian) | header: a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces, ending in '\n' |
// the raw element bytes.
// Supported descr: f2 f4 f8, i1 i2 i4 i8, u1 u2 u4 u8, b1 with '<' or '>' ('|' for one-byte types;
// '<' and '>' accepted there too). Big-endian data is byte-swapped to native on read.
// Refused with NpyError: structured or object dtypes (never unpickled), complex, strings,
// datetime, malformed or extra header keys, a data size that differs from product(shape) * itemsize.
//
// .npz: a zip archive whose members are <name>.npy, stored (np.savez) or deflated
// (np.savez_compressed; needs zlib, ATOMSCOPE_HAVE_ZLIB), with ZIP64 records as numpy writes them.
// Every member's CRC-32 is checked. Members whose declared or actual uncompressed size exceeds
// NpzOptions::maxEntryBytes, whose sum exceeds maxTotalBytes, or whose declared compression
// ratio exceeds maxCompressionRatio (deflate cannot exceed ~1032:1, so a larger declared ratio
// is a lie or a bomb) are refused before any allocation.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "atomscope/core/error.h"
#include "atomscope/core/safetensors.h"  // DType

namespace atomscope::core {

class NpyError : public Error {
 public:
  using Error::Error;
};

struct NpyArray {
  std::string descr = "<f4";  // as in the file ("<f4", ">i8", "|b1"); the writer derives its own from dtype
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;  // () is a 0-d array with one element
  bool fortranOrder = false;        // bytes are in Fortran (column-major) order when true
  std::vector<std::uint8_t> bytes;  // native little-endian element bytes, in the order above

  std::uint64_t numel() const;
};

// "<f4", "|u1", "|b1", ... for writing; throws NpyError for BF16 (numpy has no bfloat16).
std::string npyDescr(DType dtype);

NpyArray readNpy(const std::filesystem::path& path);
NpyArray readNpy(const void* data, std::size_t size, const std::string& sourceName = "<memory>");

// Encodes as numpy.save does (format 1.0, or 2.0 when the header needs more than 65535 bytes;
// header padded to a multiple of 64 bytes). Throws NpyError when bytes.size() does not match.
std::vector<std::uint8_t> encodeNpy(const NpyArray& array);
// Atomic: temp file in the same folder, fsync, rename.
void writeNpy(const std::filesystem::path& path, const NpyArray& array);

struct NpzOptions {
  std::uint64_t maxEntryBytes = std::uint64_t{8} << 30;   // 8 GiB per member (uncompressed)
  std::uint64_t maxTotalBytes = std::uint64_t{32} << 30;  // 32 GiB for the whole archive
  double maxCompressionRatio = 1100.0;                    // declared uncompressed / compressed
};

// True when this build inflates deflated members (zlib found at configure time); without it such
// members raise NpyError saying so.
bool npzDeflateSupported();

// Keys are member names without ".npy" (as numpy.load(...).files). Throws NpyError naming the file
// and the member.
std::map<std::string, NpyArray> readNpz(const std::filesystem::path& path, const NpzOptions& options = {});
std::map<std::string, NpyArray> readNpz(const void* data, std::size_t size, const std::string& sourceName = "<memory>",
                                        const NpzOptions& options = {});

}  // namespace atomscope::core
