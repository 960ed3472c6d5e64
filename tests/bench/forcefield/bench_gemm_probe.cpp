// bench_gemm_probe: FP32 matrix-product rates through LibTorch from C++ on the shapes PONITA's inference runs
// (issue 8), to set beside gemm_probe.py's from Python in the same visit: plain, with the weight transposed, into a row
// slice (the set-up's mm_out), as pass 2's 3-D matmul, from a worker thread (jobs run on one) and with cuBLASLt
// preferred. Session 22 found all of them at 42-47 TFLOP/s on the H200, as from Python. Prints a markdown table of
// TFLOP/s (median of 20 synchronised products after 5 warm-ups).
// Usage: bench_gemm_probe [rows]   (rows of the products, 209700 by default; a GPU chunk holds up to 838,860)
#include <ATen/Context.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace {

double medianMs(const std::function<void()>& product) {
  for (int i = 0; i < 5; ++i) product();
  torch::cuda::synchronize();
  std::vector<double> ms;
  for (int i = 0; i < 20; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    product();
    torch::cuda::synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

struct Shape {
  const char* name;
  std::int64_t m, k, n;
};

// One shape's cells: plain mm; transposed weight; into a row slice of a wider tensor (the set-up's mm_out);
// a 3-D matmul as pass 2 calls it; plain mm from a worker thread; plain mm with cuBLASLt preferred.
std::vector<std::string> cells(const Shape& s) {
  const auto opts = torch::TensorOptions().device(torch::kCUDA).dtype(torch::kFloat32);
  const auto a = torch::randn({s.m, s.k}, opts), b = torch::randn({s.k, s.n}, opts);
  const auto bt = torch::randn({s.n, s.k}, opts);
  auto wide = torch::empty({s.m + 64, s.n}, opts);
  const double flop = 2.0 * static_cast<double>(s.m) * static_cast<double>(s.k) * static_cast<double>(s.n);
  auto tflops = [&](double ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", flop / (ms * 1e-3) / 1e12);
    return std::string(buf);
  };
  std::vector<std::string> out;
  out.push_back(tflops(medianMs([&] { torch::mm(a, b); })));
  out.push_back(tflops(medianMs([&] { torch::mm(a, bt.t()); })));
  out.push_back(tflops(medianMs([&] {
    auto o = wide.slice(0, 64, 64 + s.m);
    torch::mm_out(o, a, b);
  })));
  if (s.m % 20 == 0) {
    const auto a3 = a.view({s.m / 20, 20, s.k});
    out.push_back(tflops(medianMs([&] { torch::matmul(a3, b); })));
  } else {
    out.push_back("-");
  }
  double workerMs = 0;
  std::thread([&] { workerMs = medianMs([&] { torch::mm(a, b); }); }).join();
  out.push_back(tflops(workerMs));
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  at::globalContext().setBlasPreferredBackend(at::BlasBackend::Cublaslt);
  out.push_back(tflops(medianMs([&] { torch::mm(a, b); })));
  at::globalContext().setBlasPreferredBackend(at::BlasBackend::Cublas);
#else
  out.push_back("-");
#endif
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (!torch::cuda::is_available()) {
    std::puts("no CUDA device: nothing to probe");
    return 0;
  }
  at::globalContext().setAllowTF32CuBLAS(false);
  const std::int64_t rows = argc > 1 ? std::atoll(argv[1]) : 209700;
  const std::vector<Shape> shapes = {{"square 8192^3", 8192, 8192, 8192},
                                     {"pass 2: G . stacked", rows, 640, 256},
                                     {"set-up: basis . stacked^T", rows, 256, 640},
                                     {"basis MLP 2nd layer", rows, 256, 256}};
  std::printf("LibTorch %s from C++, FP32 TFLOP/s\n", TORCH_VERSION);
  std::puts("| product [m x k] x [k x n] | mm | weight transposed | mm_out into a slice | 3-D matmul | worker thread | cuBLASLt |");
  std::puts("|---|---|---|---|---|---|---|");
  for (const auto& s : shapes) {
    std::string row = std::string("| ") + s.name + " [" + std::to_string(s.m) + " x " + std::to_string(s.k) + "] x [" +
                      std::to_string(s.k) + " x " + std::to_string(s.n) + "] |";
    for (const auto& c : cells(s)) row += " " + c + " |";
    std::puts(row.c_str());
  }
  return 0;
}
