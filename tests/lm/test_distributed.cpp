// Data-parallel gradients over c10d/Gloo (modules/core distributed.h), two ranks as two threads of
// this process. The reference is the same model's gradient on the whole batch in one process: the
// mean over ranks of each rank's half-batch mean loss is the whole batch's mean loss, so the
// averaged gradients must equal the single-process ones (up to float summation order).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "atomscope/core/distributed.h"
#include "atomscope/core/error.h"

using namespace atomscope;

namespace {

int freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// Rank `rank` of a two-rank Gloo group meeting on loopback `port` (the ranks are threads of this test).
std::shared_ptr<core::Communicator> joinTwoRanks(int rank, int port) {
  core::DistributedEnv env;
  env.rank = rank;
  env.worldSize = 2;
  env.masterPort = port;
  return core::Communicator::create(env, torch::kCPU, 60);
}

// Two layers and a parameter the forward pass never uses (DDP's "unused parameter" case).
struct Net : torch::nn::Module {
  torch::nn::Linear a{nullptr}, b{nullptr};
  torch::Tensor unused;
  Net() {
    a = register_module("a", torch::nn::Linear(8, 16));
    b = register_module("b", torch::nn::Linear(16, 4));
    unused = register_parameter("unused", torch::ones({3}));
  }
  torch::Tensor forward(const torch::Tensor& x) { return b->forward(torch::tanh(a->forward(x))); }
};

struct Batch {
  torch::Tensor x, y;
};
Batch data() {
  auto g = torch::make_generator<at::CPUGeneratorImpl>(7);
  return {torch::randn({8, 8}, g), torch::randn({8, 4}, g)};
}

std::vector<torch::Tensor> referenceGrads(int microBatches) {
  torch::manual_seed(3);
  Net net;
  const auto d = data();
  const auto rows = 8 / microBatches;
  for (int m = 0; m < microBatches; ++m) {
    auto x = d.x.narrow(0, m * rows, rows), y = d.y.narrow(0, m * rows, rows);
    (torch::mse_loss(net.forward(x), y) / microBatches).backward();
  }
  std::vector<torch::Tensor> g;
  for (auto& p : net.parameters()) g.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
  return g;
}

// Each rank: rows [4 rank, 4 rank + 4) of the batch in `microBatches` pieces, the last one armed.
std::vector<std::vector<torch::Tensor>> dataParallelGrads(int microBatches, std::size_t bucketBytes,
                                                          std::vector<std::size_t>* buckets = nullptr) {
  const int port = freePort();
  std::vector<std::vector<torch::Tensor>> out(2);
  std::vector<std::string> errors(2);
  auto worker = [&](int rank) {
    try {
      auto comm = joinTwoRanks(rank, port);
      // Both ranks are threads of this process and share torch's global generator: seed and build
      // under one lock, or one thread's seed can land between the other's seeding and its weights.
      static std::mutex initLock;
      std::unique_ptr<Net> owned;
      {
        std::lock_guard<std::mutex> lock(initLock);
        torch::manual_seed(rank == 0 ? 3 : 99);  // rank 1 starts elsewhere: the broadcast must fix that
        owned = std::make_unique<Net>();
      }
      Net& net = *owned;
      comm->broadcastParameters(net.parameters());
      core::GradientSynchronizer sync(comm, net.parameters(), bucketBytes);
      if (buckets && rank == 0) buckets->push_back(sync.bucketCount());
      const auto d = data();
      const auto rows = 4 / microBatches;
      for (int m = 0; m < microBatches; ++m) {
        auto x = d.x.narrow(0, 4 * rank + m * rows, rows), y = d.y.narrow(0, 4 * rank + m * rows, rows);
        if (m == microBatches - 1) sync.arm();
        (torch::mse_loss(net.forward(x), y) / microBatches).backward();
      }
      sync.finish();
      for (auto& p : net.parameters()) out[rank].push_back(p.grad().clone());
    } catch (const std::exception& e) {
      errors[rank] = e.what();
    }
  };
  std::thread t0(worker, 0), t1(worker, 1);
  t0.join();
  t1.join();
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
  return out;
}

void expectSame(const std::vector<torch::Tensor>& want, const std::vector<torch::Tensor>& got) {
  ASSERT_EQ(want.size(), got.size());
  for (std::size_t k = 0; k < want.size(); ++k)
    EXPECT_TRUE(torch::allclose(want[k], got[k], 1e-5, 1e-7))
        << "parameter " << k << ": max difference " << (want[k] - got[k]).abs().max().item<double>();
}

}  // namespace

TEST(Distributed, TwoRanksGiveTheWholeBatchGradient) {
  ASSERT_TRUE(core::distributedAvailable()) << "this build has no c10d/Gloo (libgloo-dev missing at build time)";
  const auto want = referenceGrads(1);
  std::vector<std::size_t> buckets;
  // One bucket for everything, then buckets of 64 bytes (one or two small tensors each): the
  // launch order must not matter.
  for (std::size_t bytes : {std::size_t(25) << 20, std::size_t(64)}) {
    const auto got = dataParallelGrads(1, bytes, &buckets);
    expectSame(want, got[0]);
    expectSame(want, got[1]);
  }
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_EQ(buckets[0], 1u);
  EXPECT_GT(buckets[1], 3u);
  // The unused parameter (the only one of 3 numbers) has a zero gradient, also after the reduction.
  const auto got = dataParallelGrads(1, 64);
  int seen = 0;
  for (std::size_t k = 0; k < want.size(); ++k) {
    if (want[k].numel() != 3) continue;
    ++seen;
    EXPECT_EQ(want[k].abs().sum().item<double>(), 0.0);
    EXPECT_EQ(got[1][k].abs().sum().item<double>(), 0.0);
  }
  EXPECT_EQ(seen, 1);
}

TEST(Distributed, AccumulatedMicroBatchesReduceOnce) {
  ASSERT_TRUE(core::distributedAvailable());
  const auto want = referenceGrads(2);
  const auto got = dataParallelGrads(2, 128);
  expectSame(want, got[0]);
  expectSame(want, got[1]);
}

TEST(Distributed, SumAddsOverRanks) {
  ASSERT_TRUE(core::distributedAvailable());
  const int port = freePort();
  std::vector<std::vector<double>> out(2);
  auto worker = [&](int rank) {
    auto comm = joinTwoRanks(rank, port);
    out[rank] = comm->sum({1.5 + rank, rank == 1 ? 1.0 : 0.0});
  };
  std::thread t0(worker, 0), t1(worker, 1);
  t0.join();
  t1.join();
  for (const auto& v : out) {
    ASSERT_EQ(v.size(), 2u);
    EXPECT_DOUBLE_EQ(v[0], 4.0);  // 1.5 + 2.5
    EXPECT_DOUBLE_EQ(v[1], 1.0);  // one rank asked to stop: both see it
  }
}

// finishAndSum: the step's scalars summed in the same all-reduce as the gradient bookkeeping. A
// parameter that got a gradient on one rank only gets the mean (half of that rank's); one that got
// none on any rank keeps none, as in one process (where AdamW then skips it).
TEST(Distributed, FinishAndSumDropsGradientsNoRankProduced) {
  ASSERT_TRUE(core::distributedAvailable());
  const int port = freePort();
  std::vector<std::vector<double>> sums(2);
  std::vector<torch::Tensor> gradA(2), gradB(2);
  std::vector<std::string> errors(2);
  auto worker = [&](int rank) {
    try {
      auto comm = joinTwoRanks(rank, port);
      auto a = torch::zeros({3}, torch::requires_grad()), b = torch::zeros({2}, torch::requires_grad());
      core::GradientSynchronizer sync(comm, {a, b});
      sync.arm();
      // Only rank 0's loss touches a; nobody's touches b.
      auto loss = rank == 0 ? (a * torch::tensor({1.0f, 2.0f, 3.0f})).sum() : torch::zeros({}, torch::requires_grad());
      loss.backward();
      sums[rank] = sync.finishAndSum({1.0 + rank, rank == 1 ? 1.0 : 0.0});
      gradA[rank] = a.grad().defined() ? a.grad().clone() : torch::Tensor();
      gradB[rank] = b.grad();
    } catch (const std::exception& e) {
      errors[rank] = e.what();
    }
  };
  std::thread t0(worker, 0), t1(worker, 1);
  t0.join();
  t1.join();
  for (int r = 0; r < 2; ++r) {
    ASSERT_EQ(errors[r], "") << r;
    ASSERT_EQ(sums[r].size(), 2u);
    EXPECT_DOUBLE_EQ(sums[r][0], 3.0);  // 1 + 2
    EXPECT_DOUBLE_EQ(sums[r][1], 1.0);
    ASSERT_TRUE(gradA[r].defined()) << r;
    EXPECT_TRUE(torch::allclose(gradA[r], torch::tensor({0.5f, 1.0f, 1.5f}))) << gradA[r];
    EXPECT_FALSE(gradB[r].defined()) << r;
  }
}

TEST(Distributed, EnvironmentIsCheckedWithClearErrors) {
  ::setenv("ATOMSCOPE_WORLD_SIZE", "2", 1);
  ::setenv("ATOMSCOPE_RANK", "2", 1);
  ::setenv("ATOMSCOPE_MASTER_PORT", "29511", 1);
  try {
    core::DistributedEnv::fromEnvironment();
    ADD_FAILURE() << "rank 2 of 2 accepted";
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find("outside a world of 2"), std::string::npos) << e.what();
  }
  ::setenv("ATOMSCOPE_RANK", "one", 1);
  EXPECT_THROW(core::DistributedEnv::fromEnvironment(), core::Error);
  ::setenv("ATOMSCOPE_RANK", "1", 1);
  ::unsetenv("ATOMSCOPE_MASTER_PORT");
  ::unsetenv("MASTER_PORT");
  EXPECT_THROW(core::DistributedEnv::fromEnvironment(), core::Error);  // no rendezvous port
  ::setenv("ATOMSCOPE_MASTER_PORT", "29511", 1);
  const auto e = core::DistributedEnv::fromEnvironment();
  EXPECT_EQ(e.rank, 1);
  EXPECT_EQ(e.worldSize, 2);
  EXPECT_TRUE(e.active());
  for (const char* v : {"ATOMSCOPE_WORLD_SIZE", "ATOMSCOPE_RANK", "ATOMSCOPE_MASTER_PORT"}) ::unsetenv(v);
  EXPECT_FALSE(core::DistributedEnv::fromEnvironment().active());
}
