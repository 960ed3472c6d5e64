// lm_logits_dump: loads a model with Atomscope's loaders and writes its logits for given token ids,
// for conformance checks against transformers (tests/gpu/lm_conformance.py).
//   lm_logits_dump MODEL IDS OUT.npy [--device cpu|cuda] [--export DIR] [--generate N GREEDY.json]
// MODEL: a Hugging Face folder or a llama2.c .bin; IDS: comma-separated token ids (one row);
// OUT.npy: float32 logits [T, V]; --export writes the model as a Hugging Face folder;
// --generate writes N greedy tokens after IDS (with the KV cache) as a JSON list.
#include <fstream>
#include <iostream>
#include <sstream>

#include "atomscope/core/tensor_io.h"
#include "atomscope/lm/generate.h"
#include "atomscope/lm/model_io.h"

int main(int argc, char** argv) {
  using namespace atomscope;
  if (argc < 4) {
    std::cerr << "usage: lm_logits_dump MODEL IDS OUT.npy [--device cpu|cuda] [--export DIR] [--generate N OUT.json]\n";
    return 2;
  }
  try {
    std::vector<std::int64_t> ids;
    std::stringstream ss(argv[2]);
    for (std::string item; std::getline(ss, item, ',');) ids.push_back(std::stoll(item));
    std::string device = "cpu", exportDir, genOut;
    long long genN = 0;
    for (int i = 4; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--device" && i + 1 < argc) device = argv[++i];
      else if (a == "--export" && i + 1 < argc) exportDir = argv[++i];
      else if (a == "--generate" && i + 2 < argc) {
        genN = std::stoll(argv[++i]);
        genOut = argv[++i];
      } else throw std::runtime_error("unknown argument " + a);
    }
    lm::LoadOptions opts;
    opts.device = torch::Device(device);
    auto loaded = lm::loadModel(argv[1], opts);
    torch::NoGradGuard g;
    auto logits = loaded.model->forward(torch::tensor(ids, torch::kLong).unsqueeze(0).to(opts.device));
    core::saveNpy(argv[3], logits[0].to(torch::kCPU, torch::kFloat32).contiguous());
    if (!exportDir.empty()) lm::saveHfModel(*loaded.model, exportDir);
    if (genN > 0) {
      lm::GenerationOptions o;
      o.maxNewTokens = genN;
      o.stopAtEos = false;
      std::vector<std::int32_t> prompt(ids.begin(), ids.end());
      const auto r = lm::generate(*loaded.model, prompt, o);
      std::ofstream(genOut) << Json(r.tokens).dump() << "\n";
    }
    std::cout << "ok " << loaded.format << " " << toString(loaded.model->config().family) << " logits "
              << logits.size(1) << "x" << logits.size(2) << " on " << device << "\n";
  } catch (const std::exception& e) {
    std::cerr << "lm_logits_dump: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
