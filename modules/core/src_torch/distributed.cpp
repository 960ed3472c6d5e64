#include "atomscope/core/distributed.h"

#include <chrono>
#include <cstdlib>

#include "atomscope/core/error.h"

// c10d's Gloo backend (CPU, and CUDA through the host) needs gloo's headers (Debian: libgloo-dev; Python's
// torch wheels leave them out); its NCCL backend (CUDA) needs nccl.h and USE_C10D_NCCL from CMake. With
// neither, this file still builds and a distributed job says what is missing.
#if __has_include(<torch/csrc/distributed/c10d/TCPStore.hpp>)
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if __has_include(<gloo/algorithm.h>) && __has_include(<torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>)
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#define ATOMSCOPE_HAVE_GLOO 1
#endif
#if defined(USE_C10D_NCCL) && __has_include(<torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>) && __has_include(<nccl.h>)
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#define ATOMSCOPE_HAVE_NCCL 1
#endif
#if defined(ATOMSCOPE_HAVE_GLOO) || defined(ATOMSCOPE_HAVE_NCCL)
#define ATOMSCOPE_HAVE_C10D 1
#endif
#endif

namespace atomscope::core {
namespace {

std::string envOr(const char* ours, const char* theirs) {
  if (const char* v = std::getenv(ours); v && *v) return v;
  if (const char* v = std::getenv(theirs); v && *v) return v;
  return {};
}

int envInt(const char* ours, const char* theirs, int fallback) {
  const auto s = envOr(ours, theirs);
  if (s.empty()) return fallback;
  try {
    std::size_t used = 0;
    const int v = std::stoi(s, &used);
    if (used != s.size()) throw std::invalid_argument(s);
    return v;
  } catch (const std::exception&) {
    throw Error(std::string("environment variable ") + ours + " (or " + theirs + ") is '" + s + "', not an integer");
  }
}

}  // namespace

DistributedEnv DistributedEnv::fromEnvironment() {
  DistributedEnv e;
  e.worldSize = envInt("ATOMSCOPE_WORLD_SIZE", "WORLD_SIZE", 1);
  e.rank = envInt("ATOMSCOPE_RANK", "RANK", 0);
  e.localRank = envInt("ATOMSCOPE_LOCAL_RANK", "LOCAL_RANK", e.rank);
  if (const auto a = envOr("ATOMSCOPE_MASTER_ADDR", "MASTER_ADDR"); !a.empty()) e.masterAddr = a;
  e.masterPort = envInt("ATOMSCOPE_MASTER_PORT", "MASTER_PORT", 0);
  if (e.worldSize < 1) throw Error("the world size must be at least 1, got " + std::to_string(e.worldSize));
  if (e.rank < 0 || e.rank >= e.worldSize)
    throw Error("rank " + std::to_string(e.rank) + " is outside a world of " + std::to_string(e.worldSize));
  if (e.active() && (e.masterPort <= 0 || e.masterPort > 65535))
    throw Error("a distributed job needs the rendezvous port in ATOMSCOPE_MASTER_PORT (or MASTER_PORT)");
  return e;
}

bool distributedAvailable() {
#ifdef ATOMSCOPE_HAVE_C10D
  return true;
#else
  return false;
#endif
}

torch::Device deviceForRank(const torch::Device& requested, const DistributedEnv& env) {
  if (!env.active() || !requested.is_cuda()) return requested;
  return {torch::kCUDA, static_cast<c10::DeviceIndex>(env.localRank)};
}

// ------------------------------------------------------------------------------- Communicator

#ifdef ATOMSCOPE_HAVE_C10D
struct Communicator::Impl {
  int rank = 0, world = 1;
  std::string backend;
  torch::Device device{torch::kCPU};
  c10::intrusive_ptr<c10d::Store> store;
#ifdef ATOMSCOPE_HAVE_GLOO
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#endif
#ifdef ATOMSCOPE_HAVE_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
  c10::intrusive_ptr<c10d::Work> allreduce(std::vector<torch::Tensor>& v) {
#ifdef ATOMSCOPE_HAVE_NCCL
    if (nccl) return nccl->allreduce(v);
#endif
#ifdef ATOMSCOPE_HAVE_GLOO
    return gloo->allreduce(v);
#else
    throw Error("no collective backend");  // create() refuses this case
#endif
  }
  c10::intrusive_ptr<c10d::Work> broadcast(std::vector<torch::Tensor>& v, int root) {
    c10d::BroadcastOptions o;
    o.rootRank = root;
#ifdef ATOMSCOPE_HAVE_NCCL
    if (nccl) return nccl->broadcast(v, o);
#endif
#ifdef ATOMSCOPE_HAVE_GLOO
    return gloo->broadcast(v, o);
#else
    throw Error("no collective backend");
#endif
  }
};

std::shared_ptr<Communicator> Communicator::create(const DistributedEnv& env, const torch::Device& device,
                                                   double timeoutSeconds) {
  auto impl = std::make_unique<Impl>();
  impl->rank = env.rank;
  impl->world = env.worldSize;
  impl->device = device;
  const auto timeout = std::chrono::milliseconds(static_cast<long long>(timeoutSeconds * 1000));
#ifndef ATOMSCOPE_HAVE_GLOO
  if (!device.is_cuda())
    throw Error("this build of Atomscope has NCCL only (its LibTorch came without gloo's headers): data-parallel "
                "training needs --device cuda, or a build with libgloo-dev for the CPU");
#endif
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(env.masterPort);
    so.isServer = env.rank == 0;
    so.numWorkers = static_cast<std::size_t>(env.worldSize);
    so.waitWorkers = true;
    so.timeout = timeout;
    impl->store = c10::make_intrusive<c10d::TCPStore>(env.masterAddr, so);
#ifdef ATOMSCOPE_HAVE_NCCL
    if (device.is_cuda()) {
      // NCCL binds a communicator to the current device: make it this rank's before anything else.
      if (device.has_index()) c10::cuda::set_device(device.index());
      auto o = c10d::ProcessGroupNCCL::Options::create();
      impl->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl->store, env.rank, env.worldSize, o);
      impl->backend = "nccl";
    }
#endif
#ifdef ATOMSCOPE_HAVE_GLOO
    if (impl->backend.empty()) {
      auto o = c10d::ProcessGroupGloo::Options::create(timeout);
      // The local end: the interface the user names, loopback for a one-host job, else this host's
      // own name (binding to the master's address only works on the master's host).
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      const bool local = env.masterAddr == "localhost" || env.masterAddr.rfind("127.", 0) == 0;
      o->devices.push_back(ifname && *ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                           : local          ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                            : c10d::ProcessGroupGloo::createDefaultDevice());
      impl->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, env.rank, env.worldSize, o);
      impl->backend = "gloo";
    }
#endif
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(env.rank) + " of " + std::to_string(env.worldSize) +
                " could not join the process group at " + env.masterAddr + ":" + std::to_string(env.masterPort) +
                ": " + e.what());
  }
  return std::shared_ptr<Communicator>(new Communicator(std::move(impl)));
}

void Communicator::Pending::wait() {
  if (!work) return;
  static_cast<c10d::Work*>(work.get())->wait();
  work.reset();
}

Communicator::Pending Communicator::allreduceSumAsync(torch::Tensor& t) {
  std::vector<torch::Tensor> v{t};
  auto w = impl_->allreduce(v);
  // Keep the intrusive pointer alive inside a shared_ptr the header can hold without c10d.
  auto* raw = w.release();
  return Pending{std::shared_ptr<void>(raw, [](void* p) {
    c10::intrusive_ptr<c10d::Work>::reclaim(static_cast<c10d::Work*>(p));
  })};
}

void Communicator::broadcast(torch::Tensor& t, int root) {
  std::vector<torch::Tensor> v{t};
  impl_->broadcast(v, root)->wait();
}
#else
struct Communicator::Impl {
  int rank = 0, world = 1;
  std::string backend = "none";
};
std::shared_ptr<Communicator> Communicator::create(const DistributedEnv& env, const torch::Device&, double) {
  if (!env.active()) {
    auto impl = std::make_unique<Impl>();
    return std::shared_ptr<Communicator>(new Communicator(std::move(impl)));
  }
  throw Error("this build of Atomscope has no distributed engine (c10d with Gloo or NCCL): its LibTorch, the gloo "
              "headers (Debian: libgloo-dev) or nccl.h were missing at build time; run with one process");
}
void Communicator::Pending::wait() { work.reset(); }
Communicator::Pending Communicator::allreduceSumAsync(torch::Tensor&) { return {}; }
void Communicator::broadcast(torch::Tensor&, int) {}
#endif

Communicator::Communicator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Communicator::~Communicator() = default;
int Communicator::rank() const { return impl_->rank; }
int Communicator::worldSize() const { return impl_->world; }
const std::string& Communicator::backend() const { return impl_->backend; }

void Communicator::allreduceSum(torch::Tensor& t) { allreduceSumAsync(t).wait(); }

void Communicator::broadcastParameters(const std::vector<torch::Tensor>& parameters) {
  torch::NoGradGuard g;
  for (auto p : parameters) {
    auto flat = p.detach().contiguous();
    broadcast(flat, 0);
    if (!flat.is_same(p)) p.detach().copy_(flat);
  }
}

std::vector<double> Communicator::sum(const std::vector<double>& values) {
  auto t = torch::tensor(values, torch::kFloat64);
#ifdef ATOMSCOPE_HAVE_NCCL
  if (impl_->nccl) {  // NCCL reduces device tensors only
    auto d = t.to(impl_->device);
    allreduceSum(d);
    t = d.to(torch::kCPU);
  } else
#endif
    allreduceSum(t);
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

// ----------------------------------------------------------------------- GradientSynchronizer

GradientSynchronizer::GradientSynchronizer(std::shared_ptr<Communicator> comm, std::vector<torch::Tensor> parameters,
                                           std::size_t bucketBytes)
    : comm_(std::move(comm)), params_(std::move(parameters)) {
  const auto n = params_.size();
  bucketOf_.assign(n, 0);
  slotOf_.assign(n, 0);
  arrived_.assign(n, false);
  // Buckets in reverse parameter order: the last layers' gradients arrive first. A bucket holds
  // parameters of one dtype and device only.
  for (std::size_t k = n; k-- > 0;) {
    const auto& p = params_[k];
    if (!p.requires_grad()) continue;
    const auto bytes = static_cast<std::size_t>(p.numel()) * p.element_size();
    bool fresh = buckets_.empty();
    if (!fresh) {
      const auto& b = buckets_.back();
      const auto used = static_cast<std::size_t>(b.offsets.back() + params_[b.members.back()].numel()) * p.element_size();
      const auto& first = params_[b.members.front()];
      fresh = used + bytes > bucketBytes || first.scalar_type() != p.scalar_type() || first.device() != p.device();
    }
    if (fresh) buckets_.emplace_back();
    auto& b = buckets_.back();
    const std::int64_t off = b.members.empty() ? 0 : b.offsets.back() + params_[b.members.back()].numel();
    bucketOf_[k] = buckets_.size() - 1;
    slotOf_[k] = b.members.size();
    b.members.push_back(k);
    b.offsets.push_back(off);
  }
  for (auto& b : buckets_) {
    const auto& last = params_[b.members.back()];
    b.buffer = torch::zeros({b.offsets.back() + last.numel()}, last.options().requires_grad(false));
  }
  for (std::size_t k = 0; k < n; ++k) {
    if (!params_[k].requires_grad()) {
      hooks_.push_back(~0u);
      continue;
    }
    hooks_.push_back(params_[k].register_hook([this, k](torch::Tensor grad) { onGradient(k, grad); }));
  }
}

GradientSynchronizer::~GradientSynchronizer() {
  for (auto& b : buckets_) {
    try {
      b.inFlight.wait();
    } catch (...) {  // a failed collective must not throw from a destructor
    }
  }
  for (std::size_t k = 0; k < params_.size(); ++k)
    if (hooks_[k] != ~0u) params_[k].remove_hook(hooks_[k]);
}

void GradientSynchronizer::arm() {
  std::lock_guard<std::mutex> lock(mutex_);
  armed_ = true;
  nextLaunch_ = 0;
  std::fill(arrived_.begin(), arrived_.end(), false);
  for (auto& b : buckets_) {
    b.pending = b.members.size();
    b.launched = false;
  }
}

void GradientSynchronizer::onGradient(std::size_t k, const torch::Tensor& grad) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!armed_ || arrived_[k]) return;
  arrived_[k] = true;
  auto& b = buckets_[bucketOf_[k]];
  const auto& p = params_[k];
  auto slot = b.buffer.narrow(0, b.offsets[slotOf_[k]], p.numel());
  torch::NoGradGuard g;
  // The hook sees this backward's gradient before it is added to .grad, which holds the earlier
  // micro-batches' sum.
  if (p.grad().defined()) slot.copy_((p.grad() + grad).reshape(-1));
  else slot.copy_(grad.reshape(-1));
  if (--b.pending == 0) launchReady();
}

void GradientSynchronizer::launchReady() {
  while (nextLaunch_ < buckets_.size() && buckets_[nextLaunch_].pending == 0) {
    auto& b = buckets_[nextLaunch_++];
    b.inFlight = comm_->allreduceSumAsync(b.buffer);
    b.launched = true;
  }
}

void GradientSynchronizer::finish() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!armed_) throw Error("GradientSynchronizer::finish without arm");
    // Parameters that took no part in this backward: their accumulated gradient, or zeros.
    torch::NoGradGuard g;
    for (std::size_t k = 0; k < params_.size(); ++k) {
      if (hooks_[k] == ~0u || arrived_[k]) continue;
      arrived_[k] = true;
      auto& b = buckets_[bucketOf_[k]];
      auto slot = b.buffer.narrow(0, b.offsets[slotOf_[k]], params_[k].numel());
      if (params_[k].grad().defined()) slot.copy_(params_[k].grad().reshape(-1));
      else slot.zero_();
      --b.pending;
    }
    launchReady();
    armed_ = false;
  }
  const double inv = 1.0 / static_cast<double>(comm_->worldSize());
  torch::NoGradGuard g;
  for (auto& b : buckets_) {
    b.inFlight.wait();
    b.buffer.mul_(inv);
    for (std::size_t s = 0; s < b.members.size(); ++s) {
      auto& p = params_[b.members[s]];
      auto mean = b.buffer.narrow(0, b.offsets[s], p.numel()).view(p.sizes());
      if (p.grad().defined()) p.mutable_grad().copy_(mean);
      else p.mutable_grad() = mean.clone();
    }
  }
}

std::vector<double> GradientSynchronizer::finishAndSum(std::vector<double> sums) {
  const auto extra = sums.size();
  for (const auto& p : params_) sums.push_back(p.grad().defined() ? 1.0 : 0.0);  // before finish() fills them
  finish();
  sums = comm_->sum(sums);
  for (std::size_t k = 0; k < params_.size(); ++k)
    if (sums[extra + k] == 0) params_[k].mutable_grad() = torch::Tensor();
  sums.resize(extra);
  return sums;
}

}  // namespace atomscope::core
