// libFuzzer target: core::sniffCodeBytes, which the workbench asks about every file a job is given
// (is it a pickle, a torch.save archive, a TorchScript model?). It follows a zip's central directory
// (zip64 included) and reads its code/ entries; any input must give an answer, never a crash or a
// read outside the bytes.
#include <cstdint>
#include <string_view>

#include "atomscope/core/code_files.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)atomscope::core::sniffCodeBytes(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
