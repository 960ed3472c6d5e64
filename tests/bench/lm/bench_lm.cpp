// bench_lm: training and generation throughput of Atomscope's Llama (modules/lm) on one device.
// Compare with bench_lm_reference.py (transformers, same shapes) run on the same machine.
//   bench_lm [--device cuda] [--dim 768] [--layers 12] [--heads 12] [--kv-heads 12] [--vocab 32000]
//            [--context 1024] [--batch 8] [--steps 20] [--gen-tokens 256] [--bf16 1]
// Prints one JSON line: train_tokens_per_s (forward + backward + AdamW, bf16 autocast on CUDA when
// --bf16 1) and gen_tokens_per_s (greedy, batch 1, KV cache, weights in bf16 on CUDA when --bf16 1).
#include <chrono>
#include <iostream>
#include <map>

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "atomscope/lm/generate.h"
#include "atomscope/lm/model.h"

using namespace atomscope;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  std::map<std::string, std::string> a{{"device", torch::cuda::is_available() ? "cuda" : "cpu"},
                                       {"dim", "768"}, {"layers", "12"}, {"heads", "12"}, {"kv-heads", "12"},
                                       {"vocab", "32000"}, {"context", "1024"}, {"batch", "8"}, {"steps", "20"},
                                       {"gen-tokens", "256"}, {"bf16", "1"}};
  for (int i = 1; i + 1 < argc; i += 2) a[std::string(argv[i]).substr(2)] = argv[i + 1];
  const torch::Device device(a["device"]);
  const bool cuda = device.is_cuda(), bf16 = a["bf16"] == "1" && cuda;
  lm::ModelConfig c;
  c.family = lm::ModelFamily::Llama;
  c.dim = std::stoll(a["dim"]);
  c.nLayers = std::stoll(a["layers"]);
  c.nHeads = std::stoll(a["heads"]);
  c.nKvHeads = std::stoll(a["kv-heads"]);
  c.hiddenDim = ((8 * c.dim / 3 + 255) / 256) * 256;
  c.vocabSize = std::stoll(a["vocab"]);
  c.maxSeqLen = std::stoll(a["context"]);
  c.tiedEmbeddings = true;  // as the reference (tie_word_embeddings=True)
  torch::manual_seed(0);
  auto model = lm::createModel(c);
  model->to(device);
  const std::int64_t B = std::stoll(a["batch"]), T = c.maxSeqLen, steps = std::stoll(a["steps"]);
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(3e-4).weight_decay(0.1));
  auto sync = [&] { if (cuda) torch::cuda::synchronize(); };
  auto trainStep = [&] {
    auto ids = torch::randint(c.vocabSize, {B, T + 1}, torch::TensorOptions().dtype(torch::kLong).device(device));
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    if (bf16) { at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16); at::autocast::set_autocast_enabled(at::kCUDA, true); }
#else
    if (bf16) { at::autocast::set_autocast_gpu_dtype(at::kBFloat16); at::autocast::set_enabled(true); }
#endif
    auto loss = lm::languageModelLoss(*model, ids);
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    if (bf16) at::autocast::set_autocast_enabled(at::kCUDA, false);
#else
    if (bf16) at::autocast::set_enabled(false);
#endif
    if (bf16) at::autocast::clear_cache();
    opt.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
    opt.step();
    return loss.item<double>();
  };
  for (int i = 0; i < 3; ++i) trainStep();  // warm-up
  sync();
  auto t0 = Clock::now();
  double loss = 0;
  for (std::int64_t i = 0; i < steps; ++i) loss = trainStep();
  sync();
  const double trainSec = std::chrono::duration<double>(Clock::now() - t0).count();
  // Generation.
  if (bf16) model->to(torch::kBFloat16);
  model->eval();
  lm::GenerationOptions g;
  g.maxNewTokens = std::stoll(a["gen-tokens"]);
  g.stopAtEos = false;
  std::vector<std::int32_t> prompt(16, 5);
  lm::generate(*model, prompt, lm::GenerationOptions{8, 0.0, 0, 1.0, 0, false});  // warm-up
  sync();
  t0 = Clock::now();
  const auto r = lm::generate(*model, prompt, g);
  sync();
  const double genSec = std::chrono::duration<double>(Clock::now() - t0).count();
  std::cout << Json{{"impl", "atomscope"}, {"torch", TORCH_VERSION}, {"device", a["device"]}, {"params", model->numParameters()},
                    {"dim", c.dim}, {"layers", c.nLayers}, {"context", T}, {"batch", B}, {"bf16", bf16},
                    {"train_tokens_per_s", static_cast<double>(steps * B * T) / trainSec}, {"final_loss", loss},
                    {"gen_tokens", r.tokens.size()}, {"gen_tokens_per_s", static_cast<double>(r.tokens.size()) / genSec}}
                   .dump()
            << "\n";
}
