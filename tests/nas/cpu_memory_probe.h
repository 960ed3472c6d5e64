#pragma once
// Counts the bytes LibTorch's CPU allocator hands out while a probe is installed: live bytes and their
// peak, for measuring the activation memory of a forward/backward pass on the CPU.
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace atomscope::test {

class CountingCpuAllocator final : public c10::Allocator {
 public:
  explicit CountingCpuAllocator(c10::Allocator* base) : base_(base) {}
  // allocate() lost its const in LibTorch 2.3, where copy_data() appeared: both spellings, neither
  // marked override, so whichever the base declares is the one overridden.
  c10::DataPtr allocate(size_t n) const { return allocateImpl(n); }
  c10::DataPtr allocate(size_t n) { return allocateImpl(n); }
  void copy_data(void* dest, const void* src, std::size_t count) const { std::copy_n(static_cast<const char*>(src), count, static_cast<char*>(dest)); }

  void resetPeak() { peak_.store(live_.load()); }
  std::int64_t live() const { return live_.load(); }
  std::int64_t peak() const { return peak_.load(); }

 private:
  struct Block {
    c10::DataPtr inner;
    std::int64_t bytes;
    CountingCpuAllocator* owner;
  };
  static void release(void* ctx) {
    auto* b = static_cast<Block*>(ctx);
    b->owner->live_.fetch_sub(b->bytes);
    delete b;  // frees the inner allocation through its own deleter
  }
  c10::DataPtr allocateImpl(size_t n) const {
    auto* self = const_cast<CountingCpuAllocator*>(this);
    auto inner = self->base_->allocate(n);
    void* data = inner.get();
    const auto device = inner.device();
    auto* b = new Block{std::move(inner), static_cast<std::int64_t>(n), self};
    const auto now = self->live_.fetch_add(b->bytes) + b->bytes;
    auto p = self->peak_.load();
    while (now > p && !self->peak_.compare_exchange_weak(p, now)) {
    }
    return {data, b, &release, device};
  }
  c10::Allocator* base_;
  std::atomic<std::int64_t> live_{0}, peak_{0};
};

// Installs a counting allocator for its lifetime (memory allocated meanwhile is counted until freed).
class CpuMemoryProbe {
 public:
  CpuMemoryProbe() : previous_(c10::GetCPUAllocator()) {
    static CountingCpuAllocator* counting = nullptr;  // lives forever: blocks may outlive the probe
    if (!counting) counting = new CountingCpuAllocator(previous_);
    counter_ = counting;
    c10::SetCPUAllocator(counter_, kPriority);
    counter_->resetPeak();
    start_ = counter_->live();
  }
  ~CpuMemoryProbe() { c10::SetCPUAllocator(previous_, kPriority); }
  void resetPeak() {
    counter_->resetPeak();
    start_ = counter_->live();
  }
  // Peak live bytes since construction or resetPeak(), above what was live then.
  std::int64_t peakAboveStart() const { return counter_->peak() - start_; }

 private:
  static constexpr std::uint8_t kPriority = 200;
  c10::Allocator* previous_;
  CountingCpuAllocator* counter_ = nullptr;
  std::int64_t start_ = 0;
};

}  // namespace atomscope::test
