// bench_lm: training and generation throughput of Atomscope's language models (modules/lm) on one
// device, with the same training step as lm.train (training.h: bf16 autocast, clipping, fused AdamW)
// and the generation of lm.generate (generate.h). Compare with bench_lm_reference.py (transformers,
// same shapes) in the same run:
//   bench_lm [--model llama|gpt2] [--device cuda] [--context 1024] [--batch 16] [--steps 20]
//            [--gen-tokens 256] [--gen-batches 1,32] [--bf16 1] [--peak-tflops 989.4]
// llama: the ~110M configuration of issue 3 (dim 768, 12 layers, 12 heads, vocab 32000, tied);
// gpt2: GPT-2 124M (dim 768, 12 layers, 12 heads, vocab 50257, 1024 positions).
// Prints one JSON line. MFU = model FLOPs per second / peak, with training FLOPs per token
// 6 * (matmul parameters) + 12 * layers * dim * context (attention, PaLM's convention); peak is the
// H200's dense bf16 figure (989.4 TFLOPS) unless --peak-tflops says otherwise.
#include <chrono>
#include <iostream>
#include <map>
#include <sstream>

#include <torch/version.h>

#include "atomscope/lm/generate.h"
#include "atomscope/lm/model.h"
#include "atomscope/lm/training.h"

using namespace atomscope;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  std::map<std::string, std::string> a{{"model", "llama"}, {"device", torch::cuda::is_available() ? "cuda" : "cpu"},
                                       {"context", "1024"}, {"batch", "16"}, {"steps", "20"}, {"gen-tokens", "256"},
                                       {"gen-batches", "1,32"}, {"bf16", "1"}, {"peak-tflops", "989.4"},
                                       {"decodings", "auto,dynamic"}};
  for (int i = 1; i + 1 < argc; i += 2) a[std::string(argv[i]).substr(2)] = argv[i + 1];
  const torch::Device device(a["device"]);
  const bool cuda = device.is_cuda(), bf16 = a["bf16"] == "1" && cuda;
  lm::ModelConfig c;
  c.dim = 768;
  c.nLayers = 12;
  c.nHeads = 12;
  c.nKvHeads = 12;
  c.maxSeqLen = std::stoll(a["context"]);
  c.tiedEmbeddings = true;
  if (a["model"] == "gpt2") {
    c.family = lm::ModelFamily::Gpt2;
    c.vocabSize = 50257;
    c.hiddenDim = 4 * c.dim;
    c.normEps = 1e-5;
  } else {
    c.family = lm::ModelFamily::Llama;
    c.vocabSize = 32000;
    c.hiddenDim = ((8 * c.dim / 3 + 255) / 256) * 256;
  }
  torch::manual_seed(0);
  auto model = lm::createModel(c);
  model->to(device);
  const std::int64_t B = std::stoll(a["batch"]), T = c.maxSeqLen, steps = std::stoll(a["steps"]);
  std::vector<torch::Tensor> decay, noDecay;
  for (auto& p : model->parameters()) (p.dim() >= 2 ? decay : noDecay).push_back(p);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(3e-4).weight_decay(0.1)));
  groups.emplace_back(noDecay, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(3e-4).weight_decay(0.0)));
  torch::optim::AdamW opt(groups, torch::optim::AdamWOptions(3e-4));
  lm::AdamWStepper stepper(opt);
  auto sync = [&] { if (cuda) torch::cuda::synchronize(); };
  auto trainStep = [&] {
    auto ids = torch::randint(c.vocabSize, {B, T + 1}, torch::TensorOptions().dtype(torch::kLong).device(device));
    torch::Tensor loss;
    {
      lm::CudaAutocast ac(bf16);
      loss = lm::languageModelLoss(*model, ids);
    }
    opt.zero_grad();
    loss.backward();
    lm::clipGradNorm(model->parameters(), 1.0);
    stepper.step();
    return loss.item<double>();
  };
  for (int i = 0; i < 3; ++i) trainStep();  // warm-up
  sync();
  auto t0 = Clock::now();
  double loss = 0;
  for (std::int64_t i = 0; i < steps; ++i) loss = trainStep();
  sync();
  const double trainSec = std::chrono::duration<double>(Clock::now() - t0).count();
  const double trainTps = static_cast<double>(steps * B * T) / trainSec;
  const std::int64_t positionParams = c.family == lm::ModelFamily::Gpt2 ? c.maxSeqLen * c.dim : 0;
  const double flopsPerToken = 6.0 * static_cast<double>(model->numParameters() - positionParams) +
                               12.0 * static_cast<double>(c.nLayers * c.dim * T);
  const double mfu = trainTps * flopsPerToken / (std::stod(a["peak-tflops"]) * 1e12);

  Json out{{"impl", "atomscope"}, {"torch", TORCH_VERSION}, {"model", a["model"]}, {"device", a["device"]},
           {"params", model->numParameters()}, {"context", T}, {"batch", B}, {"bf16", bf16},
           {"fused_adamw", stepper.fused()}, {"train_tokens_per_s", trainTps}, {"mfu", mfu}, {"final_loss", loss}};
  // Generation: weights in bf16 on CUDA, greedy, a 16-token prompt, no early stop.
  if (bf16) model->to(torch::kBFloat16);
  model->eval();
  std::stringstream batches(a["gen-batches"]), decodings(a["decodings"]);
  std::vector<std::string> modes;
  for (std::string m; std::getline(decodings, m, ',');) modes.push_back(m);
  for (std::string item; std::getline(batches, item, ',');) {
    const auto gb = std::stoll(item);
    std::vector<std::vector<std::int32_t>> prompts(static_cast<std::size_t>(gb), std::vector<std::int32_t>(16, 5));
    for (std::size_t r = 0; r < prompts.size(); ++r) prompts[r][1] = static_cast<std::int32_t>(r % 100);  // distinct rows
    for (const auto& mode : modes) {
      lm::GenerationOptions g;
      g.maxNewTokens = std::stoll(a["gen-tokens"]);
      g.stopAtEos = false;
      g.decoding = mode;
      auto warm = g;
      warm.maxNewTokens = 8;
      lm::generate(*model, prompts, warm);
      sync();
      t0 = Clock::now();
      const auto r = lm::generate(*model, prompts, g);
      sync();
      const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
      std::size_t n = 0;
      for (const auto& x : r) n += x.tokens.size();
      out["gen_tokens_per_s_batch" + item + "_" + mode] = static_cast<double>(n) / sec;
    }
  }
  std::cout << out.dump() << "\n";
}
