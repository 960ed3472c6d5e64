#pragma once
// Data-parallel training over LibTorch's distributed engine (c10d): Gloo on the CPU, NCCL on CUDA
// when the LibTorch build has it. One process per device; `atomscope-cli run JOB --nproc N` starts
// them and tells each one its place through the environment (the names torchrun uses work too).
//
// GradientSynchronizer does what PyTorch's DistributedDataParallel does for gradients: parameters
// are grouped into buckets in the order their gradients become ready in the backward pass (the
// reverse of the forward order), and each bucket's all-reduce starts as soon as its last gradient
// arrives, so communication overlaps the rest of the backward pass. Buckets are launched in index
// order on every rank, which keeps the collectives matched across processes.
#include <torch/torch.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace atomscope::core {

// This process's place in a data-parallel job. worldSize 1: not distributed.
struct DistributedEnv {
  int rank = 0;
  int worldSize = 1;
  int localRank = 0;  // device index on this host
  std::string masterAddr = "127.0.0.1";
  int masterPort = 0;
  bool active() const { return worldSize > 1; }
  // ATOMSCOPE_RANK, ATOMSCOPE_WORLD_SIZE, ATOMSCOPE_LOCAL_RANK, ATOMSCOPE_MASTER_ADDR,
  // ATOMSCOPE_MASTER_PORT; else torchrun's RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT.
  // Throws core::Error for inconsistent values (rank outside the world, no port).
  static DistributedEnv fromEnvironment();
};

// Whether this build has c10d (the Gloo backend at least).
bool distributedAvailable();
// The device a rank computes on: cuda:localRank when `requested` is CUDA and the job is distributed.
torch::Device deviceForRank(const torch::Device& requested, const DistributedEnv& env);

// A c10d process group: rendezvous through a TCP store on masterAddr:masterPort (rank 0 serves it).
class Communicator {
 public:
  // Gloo for CPU devices; NCCL for CUDA devices when built with it, else Gloo.
  static std::shared_ptr<Communicator> create(const DistributedEnv& env, const torch::Device& device,
                                              double timeoutSeconds = 600);
  ~Communicator();
  int rank() const;
  int worldSize() const;
  const std::string& backend() const;

  struct Pending {  // an all-reduce in flight
    std::shared_ptr<void> work;
    void wait();
  };
  void allreduceSum(torch::Tensor& t);           // in place; blocks
  Pending allreduceSumAsync(torch::Tensor& t);   // in place when waited
  void broadcast(torch::Tensor& t, int root = 0);  // in place
  // Every parameter's values from rank 0, so that all ranks start from the same model.
  void broadcastParameters(const std::vector<torch::Tensor>& parameters);
  // Sum of `values` over all ranks (double precision on the CPU; a few numbers per step).
  std::vector<double> sum(const std::vector<double>& values);

 private:
  struct Impl;
  explicit Communicator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class GradientSynchronizer {
 public:
  // bucketBytes: the size of one all-reduce (25 MiB as in PyTorch's DDP).
  GradientSynchronizer(std::shared_ptr<Communicator> comm, std::vector<torch::Tensor> parameters,
                       std::size_t bucketBytes = std::size_t(25) << 20);
  ~GradientSynchronizer();
  GradientSynchronizer(const GradientSynchronizer&) = delete;
  GradientSynchronizer& operator=(const GradientSynchronizer&) = delete;

  // The next backward pass reduces gradients as they arrive (call before the last micro-batch's
  // backward; earlier micro-batches accumulate locally, as DDP's no_sync does).
  void arm();
  // Waits for every bucket (launching those whose parameters got no gradient, with zeros) and
  // writes the mean over ranks of each parameter's accumulated gradient into its .grad.
  void finish();
  // finish(), then one all-reduce of `sums` (a step's scalars: cancel flags, clocks, loss terms)
  // together with which parameters got a gradient on this rank; a parameter that got none on any rank
  // keeps none, so the optimiser skips it as it would in one process. Returns `sums` summed over ranks.
  std::vector<double> finishAndSum(std::vector<double> sums);
  std::size_t bucketCount() const { return buckets_.size(); }

 private:
  struct Bucket {
    torch::Tensor buffer;                  // flat, the parameters' dtype and device
    std::vector<std::size_t> members;      // parameter indices
    std::vector<std::int64_t> offsets;     // of each member in the buffer
    std::size_t pending = 0;
    bool launched = false;
    Communicator::Pending inFlight;
  };
  void onGradient(std::size_t param, const torch::Tensor& grad);
  void launchReady();

  std::shared_ptr<Communicator> comm_;
  std::vector<torch::Tensor> params_;
  std::vector<unsigned> hooks_;
  std::vector<std::size_t> bucketOf_, slotOf_;
  std::vector<bool> arrived_;
  std::vector<Bucket> buckets_;
  std::size_t nextLaunch_ = 0;
  bool armed_ = false;
  std::mutex mutex_;
};

}  // namespace atomscope::core
