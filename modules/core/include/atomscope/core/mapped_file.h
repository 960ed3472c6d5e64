#pragma once
// A read-only memory map of a whole file (POSIX mmap), RAII and move-only. No torch.
//
// Mode::ReadOnly maps the pages PROT_READ: writing through the pointer faults.
// Mode::CopyOnWrite maps them PROT_READ|PROT_WRITE, MAP_PRIVATE: writes change this process's
// private copy of a page and never reach the file (used for zero-copy tensors that a caller may
// modify in place). In both modes the file itself is never modified.
// An empty file maps to size() == 0 and data() == nullptr.
// Caveat of every mmap: if another process truncates the file while it is mapped, touching the
// lost pages raises SIGBUS. Readers here validate against size() taken at open time.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "atomscope/core/error.h"

namespace atomscope::core {

class MappedFileError : public Error {
 public:
  using Error::Error;
};

class MappedFile {
 public:
  enum class Mode { ReadOnly, CopyOnWrite };

  MappedFile() = default;
  // Throws MappedFileError naming the file (missing, not a regular file, permission, mmap failure).
  explicit MappedFile(const std::filesystem::path& path, Mode mode = Mode::ReadOnly);
  ~MappedFile();

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;

  bool isOpen() const { return open_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }
  Mode mode() const { return mode_; }

  void close() noexcept;

 private:
  std::filesystem::path path_;
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  Mode mode_ = Mode::ReadOnly;
  bool open_ = false;
};

}  // namespace atomscope::core
