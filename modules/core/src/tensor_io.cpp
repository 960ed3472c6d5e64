#include "atomscope/core/tensor_io.h"

#include <ATen/ATen.h>
#include <torch/version.h>

#include <cstring>

#include "atomscope/core/memory_limits.h"

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define ATOMSCOPE_TORCH_HAS_UINT 1
#endif

namespace atomscope::core {

at::ScalarType toScalarType(DType dtype) {
  switch (dtype) {
    case DType::F64: return at::kDouble;
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::I64: return at::kLong;
    case DType::I32: return at::kInt;
    case DType::I16: return at::kShort;
    case DType::I8: return at::kChar;
    case DType::U8: return at::kByte;
    case DType::BOOL: return at::kBool;
#if defined(ATOMSCOPE_TORCH_HAS_UINT)
    case DType::U16: return at::kUInt16;
    case DType::U32: return at::kUInt32;
    case DType::U64: return at::kUInt64;
#else
    case DType::U16:
    case DType::U32:
    case DType::U64: break;
#endif
  }
  throw Error(std::string("dtype ") + dtypeName(dtype) + " has no torch equivalent in LibTorch " + TORCH_VERSION +
              " (unsigned 16/32/64-bit tensors need LibTorch 2.3 or newer)");
}

DType fromScalarType(at::ScalarType type) {
  switch (type) {
    case at::kDouble: return DType::F64;
    case at::kFloat: return DType::F32;
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    case at::kLong: return DType::I64;
    case at::kInt: return DType::I32;
    case at::kShort: return DType::I16;
    case at::kChar: return DType::I8;
    case at::kByte: return DType::U8;
    case at::kBool: return DType::BOOL;
#if defined(ATOMSCOPE_TORCH_HAS_UINT)
    case at::kUInt16: return DType::U16;
    case at::kUInt32: return DType::U32;
    case at::kUInt64: return DType::U64;
#endif
    default: break;
  }
  throw Error(std::string("torch dtype ") + c10::toString(type) + " cannot be stored in safetensors/npy here");
}

namespace {

// A C-order tensor of the given shape holding a copy of bytes (BOOL normalised to 0/1).
at::Tensor copyTensor(const std::uint8_t* data, std::size_t size, DType dtype, const std::vector<std::int64_t>& shape) {
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(toScalarType(dtype)).device(at::kCPU));
  if (t.nbytes() != size)
    throw Error("have " + std::to_string(size) + " bytes but the shape of " + dtypeName(dtype) + " needs " +
                std::to_string(t.nbytes()));
  if (size == 0) return t;
  auto* dst = static_cast<std::uint8_t*>(t.data_ptr());
  if (dtype == DType::BOOL) {
    for (std::size_t i = 0; i < size; ++i) dst[i] = data[i] != 0 ? 1 : 0;
  } else {
    std::memcpy(dst, data, size);
  }
  return t;
}

bool boolBytesValid(const std::uint8_t* data, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i)
    if (data[i] > 1) return false;
  return true;
}

}  // namespace

bool isZeroCopyView(const at::Tensor& t, const SafetensorsReader& reader) {
  if (!t.defined() || !t.has_storage() || t.numel() == 0) return false;
  const auto* p = static_cast<const std::uint8_t*>(t.data_ptr());
  const std::uint8_t* lo = reader.dataRegion();
  const std::uint8_t* hi = lo + (reader.fileSize() - 8 - reader.headerSize());
  return p >= lo && p < hi;
}

at::Tensor toTensor(const SafetensorsReader& reader, const std::string& name) {
  const TensorInfo& info = reader.info(name);
  auto bytes = reader.bytes(name);
  try {
    return copyTensor(bytes.data(), bytes.size(), info.dtype, info.shape);
  } catch (const SafetensorsError&) {
    throw;
  } catch (const std::exception& e) {
    throw SafetensorsError("safetensors file '" + reader.source() + "': tensor '" + name + "': " + e.what());
  }
}

at::Tensor toTensor(const std::shared_ptr<const SafetensorsReader>& reader, const std::string& name,
                    TensorLoadOptions options) {
  if (!reader) throw SafetensorsError("toTensor: null safetensors reader");
  if (!options.zeroCopy) return toTensor(*reader, name);
  const TensorInfo& info = reader->info(name);
  auto bytes = reader->bytes(name);
  const std::size_t elem = dtypeSize(info.dtype);
  const bool aligned = reinterpret_cast<std::uintptr_t>(bytes.data()) % elem == 0;
  if (bytes.empty() || !aligned || (info.dtype == DType::BOOL && !boolBytesValid(bytes.data(), bytes.size())))
    return toTensor(*reader, name);
  at::ScalarType st;
  try {
    st = toScalarType(info.dtype);
  } catch (const std::exception& e) {
    throw SafetensorsError("safetensors file '" + reader->source() + "': tensor '" + name + "': " + e.what());
  }
  std::shared_ptr<const SafetensorsReader> keepAlive = reader;
  return at::from_blob(
      const_cast<std::uint8_t*>(bytes.data()), info.shape,
      [keepAlive](void*) mutable { keepAlive.reset(); },
      at::TensorOptions().dtype(st).device(at::kCPU));
}

std::map<std::string, at::Tensor> loadSafetensors(const std::filesystem::path& path, TensorLoadOptions options) {
  auto reader = std::make_shared<const SafetensorsReader>(SafetensorsReader::open(path));
  if (!options.zeroCopy) {  // copies: the sizes from the header must fit before any is made
    std::uint64_t bytes = 0;
    for (const auto& t : reader->tensors()) bytes += t.byteSize();
    try {
      requireMemory(bytes, "'" + path.string() + "' (" + std::to_string(reader->tensors().size()) + " tensors)");
    } catch (const Error& e) {
      throw SafetensorsError(e.what());
    }
  }
  std::map<std::string, at::Tensor> out;
  for (const auto& t : reader->tensors()) out.emplace(t.name, toTensor(reader, t.name, options));
  return out;
}

void saveSafetensors(const std::filesystem::path& path, const std::map<std::string, at::Tensor>& tensors,
                     const std::map<std::string, std::string>& metadata) {
  SafetensorsWriter writer;
  std::vector<at::Tensor> keep;  // CPU contiguous copies stay alive until write() returns
  keep.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    if (!tensor.defined()) throw SafetensorsError("saveSafetensors('" + path.string() + "'): tensor '" + name + "' is undefined");
    DType dtype;
    try {
      dtype = fromScalarType(tensor.scalar_type());
    } catch (const std::exception& e) {
      throw SafetensorsError("saveSafetensors('" + path.string() + "'): tensor '" + name + "': " + e.what());
    }
    at::Tensor c = tensor.layout() == at::kStrided ? tensor : tensor.to_dense();
    c = c.to(at::kCPU).contiguous();
    keep.push_back(c);
    writer.addView(name, dtype, c.sizes().vec(), c.numel() ? c.data_ptr() : nullptr,
                   static_cast<std::size_t>(c.numel()) * dtypeSize(dtype));
  }
  writer.write(path, metadata);
}

at::Tensor npyToTensor(const NpyArray& array) {
  try {
    if (!array.fortranOrder || array.shape.size() < 2)
      return copyTensor(array.bytes.data(), array.bytes.size(), array.dtype, array.shape);
    // Column-major bytes are the C-order bytes of the reversed shape; reversing the axes back gives
    // the logical array.
    std::vector<std::int64_t> reversed(array.shape.rbegin(), array.shape.rend());
    at::Tensor t = copyTensor(array.bytes.data(), array.bytes.size(), array.dtype, reversed);
    std::vector<std::int64_t> perm(array.shape.size());
    for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<std::int64_t>(perm.size() - 1 - i);
    return t.permute(perm).contiguous();
  } catch (const NpyError&) {
    throw;
  } catch (const std::exception& e) {
    throw NpyError(std::string("npy to tensor: ") + e.what());
  }
}

NpyArray tensorToNpy(const at::Tensor& tensor) {
  if (!tensor.defined()) throw NpyError("tensorToNpy: undefined tensor");
  NpyArray a;
  try {
    a.dtype = fromScalarType(tensor.scalar_type());
  } catch (const std::exception& e) {
    throw NpyError(std::string("tensorToNpy: ") + e.what());
  }
  a.descr = npyDescr(a.dtype);  // throws NpyError for BF16
  at::Tensor c = tensor.layout() == at::kStrided ? tensor : tensor.to_dense();
  c = c.to(at::kCPU).contiguous();
  a.shape = c.sizes().vec();
  const std::size_t n = static_cast<std::size_t>(c.numel()) * dtypeSize(a.dtype);
  if (n) {
    const auto* p = static_cast<const std::uint8_t*>(c.data_ptr());
    a.bytes.assign(p, p + n);
  }
  return a;
}

at::Tensor loadNpy(const std::filesystem::path& path) { return npyToTensor(readNpy(path)); }

void saveNpy(const std::filesystem::path& path, const at::Tensor& tensor) { writeNpy(path, tensorToNpy(tensor)); }

std::map<std::string, at::Tensor> loadNpz(const std::filesystem::path& path, const NpzOptions& options) {
  std::map<std::string, at::Tensor> out;
  for (auto& [name, array] : readNpz(path, options)) {
    try {
      out.emplace(name, npyToTensor(array));
    } catch (const std::exception& e) {
      throw NpyError("npz file '" + path.string() + "': member '" + name + "': " + e.what());
    }
  }
  return out;
}

}  // namespace atomscope::core
