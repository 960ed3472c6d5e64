#pragma once
// torch::Tensor <-> safetensors and npy/npz. This header pulls in ATen's Tensor; code that must
// stay torch-free includes safetensors.h / npy.h instead. Link atomscope_core_torch.
// at::Tensor is torch::Tensor (namespace torch re-exports at).
//
// Loading copies by default. With TensorLoadOptions::zeroCopy the tensor aliases the reader's
// copy-on-write memory map and its deleter holds a shared_ptr to the reader, so the map lives as
// long as any such tensor (the caller may drop its own reader). In-place writes to such a tensor
// change only this process's private pages, never the file. Zero copy falls back to a copy when
// the data is not aligned to the element size (possible in files written by other tools) and for
// BOOL data that holds bytes other than 0 and 1 (normalised to 0/1 in the copy).
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "atomscope/core/npy.h"
#include "atomscope/core/safetensors.h"

namespace atomscope::core {

struct TensorLoadOptions {
  bool zeroCopy = false;
};

// U16/U32/U64 need LibTorch >= 2.3 (kUInt16...); on older LibTorch these throw Error.
at::ScalarType toScalarType(DType dtype);
DType fromScalarType(at::ScalarType type);  // throws Error for types safetensors cannot hold
bool isZeroCopyView(const at::Tensor& t, const SafetensorsReader& reader);  // data lies inside the reader's buffer

// Copy of one tensor.
at::Tensor toTensor(const SafetensorsReader& reader, const std::string& name);
// Copy, or a zero-copy view when options.zeroCopy (see above).
at::Tensor toTensor(const std::shared_ptr<const SafetensorsReader>& reader, const std::string& name,
                    TensorLoadOptions options = {});

std::map<std::string, at::Tensor> loadSafetensors(const std::filesystem::path& path, TensorLoadOptions options = {});
// Tensors of any supported dtype, on any device, any layout: each is moved to the CPU and made
// contiguous. Atomic write. Throws SafetensorsError naming the tensor for unsupported dtypes.
void saveSafetensors(const std::filesystem::path& path, const std::map<std::string, at::Tensor>& tensors,
                     const std::map<std::string, std::string>& metadata = {});

// npy: Fortran-order arrays come back with their logical shape (contiguous, C order).
at::Tensor npyToTensor(const NpyArray& array);
NpyArray tensorToNpy(const at::Tensor& tensor);  // CPU, C order; BF16 throws NpyError
at::Tensor loadNpy(const std::filesystem::path& path);
void saveNpy(const std::filesystem::path& path, const at::Tensor& tensor);
std::map<std::string, at::Tensor> loadNpz(const std::filesystem::path& path, const NpzOptions& options = {});

}  // namespace atomscope::core
