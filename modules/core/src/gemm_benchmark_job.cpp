// core.gemm_benchmark: measures matrix-multiply throughput on a device, the first thing to check
// when a GPU seems slow or unused. Also the reference job for the job contract's front ends.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>

#include "atomscope/core/error.h"
#include "atomscope/core/job.h"
#include "atomscope/core/torch_device.h"

namespace atomscope::core {

namespace {

class GemmBenchmarkJob : public Job {
 public:
  JobInfo info() const override {
    return {"core.gemm_benchmark", "Device check: matrix-multiply throughput", "Devices",
            "Multiplies random square matrices on the chosen device and reports TFLOP/s per iteration "
            "(2 n^3 floating-point operations per product). Use it to check that a GPU is used and how "
            "fast it is; on CUDA compare with the card's datasheet rate.",
            false};
  }

  ParamSchema schema() const override {
    ParamSchema s;
    s.addDevice();
    s.addInt("size", 1024, 16, 32768, "Matrix size n: each product multiplies two n x n matrices.");
    s.addChoice("dtype", {"float32", "bfloat16", "float16", "float64"}, "float32",
                "Element type. bfloat16 and float16 use the tensor cores on recent GPUs.");
    s.addInt("iterations", 20, 1, 1000000, "Number of timed products.");
    ParamSpec warm;
    warm.name = "warmup";
    warm.type = ParamType::Int;
    warm.defaultValue = 2;
    warm.min = 0;
    warm.max = 1000;
    warm.help = "Untimed products first (library start-up, caches, clocks).";
    warm.advanced = true;
    s.add(warm);
    return s;
  }

  void run(Context& ctx) override {
    auto& fb = ctx.feedback();
    const auto& p = ctx.params();
    const long long n = p.getInt("size");
    const long long iterations = p.getInt("iterations");
    const long long warmup = p.getInt("warmup");
    const auto device = toTorchDevice(ctx.device());
    const auto dtype = torchDtype(p.getString("dtype"));
    torch::manual_seed(ctx.seed());

    fb.setProgress(0, "allocating " + std::to_string(n) + " x " + std::to_string(n) + " matrices on " +
                          ctx.device().toString());
    torch::NoGradGuard noGrad;
    auto opts = torch::TensorOptions().dtype(dtype).device(device);
    torch::Tensor a = torch::randn({n, n}, torch::TensorOptions().device(device)).to(dtype);
    torch::Tensor b = torch::randn({n, n}, torch::TensorOptions().device(device)).to(dtype);
    torch::Tensor c = torch::empty({n, n}, opts);

    // On the CPU one big product can take seconds: split it into row blocks so cancel is checked
    // at least every ~100 ms (about 2^29 flops per block on a laptop core).
    const bool onCpu = device.is_cpu();
    const long long rowsPerBlock =
        onCpu ? std::clamp<long long>((1LL << 29) / std::max<long long>(1, 2 * n * n), 1, n) : n;

    auto product = [&] {
      for (long long r = 0; r < n; r += rowsPerBlock) {
        fb.throwIfCancelled();
        const long long rows = std::min(rowsPerBlock, n - r);
        torch::Tensor block = c.narrow(0, r, rows);
        torch::mm_out(block, a.narrow(0, r, rows), b);
      }
      if (device.is_cuda()) torch::cuda::synchronize();
    };

    for (long long i = 0; i < warmup; ++i) {
      fb.setProgress(0, "warming up");
      product();
    }
    const double flops = 2.0 * static_cast<double>(n) * n * n;
    std::vector<double> rates;
    for (long long i = 0; i < iterations; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      product();
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double tflops = flops / std::max(seconds, 1e-9) / 1e12;
      rates.push_back(tflops);
      fb.reportMetrics(i + 1, {{"tflops", tflops}, {"ms", seconds * 1e3}});
      fb.setProgress(static_cast<double>(i + 1) / iterations,
                     "product " + std::to_string(i + 1) + " of " + std::to_string(iterations));
    }
    std::vector<double> sorted = rates;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted[sorted.size() / 2];
    const double best = sorted.back();
    // A finite checksum proves the products were computed, not skipped.
    const double checksum = c.to(torch::kFloat64).abs().mean().item<double>();
    if (!std::isfinite(checksum)) throw Error("the product contains NaN or inf: the device computes wrong results");
    ctx.run().setSummary("median_tflops", median);
    ctx.run().setSummary("best_tflops", best);
    ctx.run().setSummary("size", n);
    ctx.run().setSummary("dtype", p.getString("dtype"));
    const auto file = ctx.run().addArtifact("gemm_benchmark.json", "json", "per-iteration TFLOP/s");
    std::ofstream out(file);
    out << Json{{"device", ctx.device().toString()}, {"size", n}, {"dtype", p.getString("dtype")},
                {"tflops", rates}, {"median_tflops", median}, {"best_tflops", best}}
               .dump(2)
        << "\n";
    fb.info("median " + std::to_string(median) + " TFLOP/s, best " + std::to_string(best) + " TFLOP/s");
  }
};

}  // namespace

void registerCoreJobs(JobRegistry& registry) {
  if (!registry.contains("core.gemm_benchmark")) registry.add([] { return std::make_unique<GemmBenchmarkJob>(); });
}

}  // namespace atomscope::core
