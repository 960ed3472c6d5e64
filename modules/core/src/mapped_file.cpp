#include "atomscope/core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace atomscope::core {

namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what, int err) {
  std::string msg = "cannot map file '" + path.string() + "': " + what;
  if (err != 0) msg += " (" + std::string(std::strerror(err)) + ")";
  throw MappedFileError(msg);
}

struct FdGuard {
  int fd = -1;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

MappedFile::MappedFile(const std::filesystem::path& path, Mode mode) : path_(path), mode_(mode) {
  FdGuard guard;
  do {
    guard.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (guard.fd < 0 && errno == EINTR);
  if (guard.fd < 0) fail(path, "open failed", errno);

  struct stat st {};
  if (::fstat(guard.fd, &st) != 0) fail(path, "fstat failed", errno);
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file", 0);
  if (st.st_size < 0) fail(path, "negative file size", 0);
  if (static_cast<std::uint64_t>(st.st_size) > static_cast<std::uint64_t>(SIZE_MAX))
    fail(path, "file is larger than the address space", 0);
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ == 0) {  // mmap of length 0 is invalid; an empty file is an empty map
    open_ = true;
    return;
  }
  const int prot = mode == Mode::ReadOnly ? PROT_READ : (PROT_READ | PROT_WRITE);
  void* p = ::mmap(nullptr, size_, prot, MAP_PRIVATE, guard.fd, 0);
  if (p == MAP_FAILED) {
    size_ = 0;
    fail(path, "mmap of " + std::to_string(st.st_size) + " bytes failed", errno);
  }
  data_ = static_cast<std::uint8_t*>(p);
  open_ = true;
  // The mapping stays valid after the descriptor is closed (FdGuard).
}

MappedFile::~MappedFile() { close(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mode_(other.mode_),
      open_(std::exchange(other.open_, false)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    close();
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mode_ = other.mode_;
    open_ = std::exchange(other.open_, false);
  }
  return *this;
}

void MappedFile::close() noexcept {
  if (data_ != nullptr) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
  open_ = false;
}

}  // namespace atomscope::core
