#pragma once
// Loading and saving causal LMs:
//  - Hugging Face folders: config.json + model.safetensors, or shards listed in
//    model.safetensors.index.json, for LlamaForCausalLM and GPT2LMHeadModel (also a bare
//    LlamaModel / GPT2Model without the "model." / "transformer." prefix; its head is tied).
//    Tensor names exactly as transformers writes them; any stored dtype converted to the requested one.
//  - llama2.c legacy fp32 checkpoints (.bin): 7 int32 header (dim, hidden_dim, n_layers, n_heads,
//    n_kv_heads, vocab_size (negative: untied classifier stored at the end), seq_len) then the
//    weights in run.c's order. q/k rows are permuted from llama2.c's interleaved rotary pairs to
//    transformers' rotate-half layout, as transformers' convert_llama_weights_to_hf.py does.
//  - Writer: a Hugging Face folder (model.safetensors, config.json, generation_config.json and the
//    tokenizer files when known) that transformers' from_pretrained loads.
// Errors (LmError) name the file and the tensor (missing, unexpected, wrong shape vs config).
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "atomscope/lm/model.h"

namespace atomscope::lm {

struct LoadOptions {
  torch::Dtype dtype = torch::kFloat32;
  torch::Device device = torch::kCPU;
  ModelOptions model;
};

struct LoadedModel {
  CausalLM model;
  std::string format;                      // "hf" or "llama2c"
  std::filesystem::path source;
  std::optional<std::filesystem::path> tokenizer;  // a tokenizer file or folder found beside the model
};

// A folder -> Hugging Face; a file ending in .bin with a llama2.c header -> llama2.c.
LoadedModel loadModel(const std::filesystem::path& path, const LoadOptions& options = {});
CausalLM loadHfModel(const std::filesystem::path& folder, const LoadOptions& options = {});
CausalLM loadLlama2c(const std::filesystem::path& file, const LoadOptions& options = {});

// The model's weights under transformers' names and layouts (GPT-2: fused c_attn, Conv1D [in, out]),
// as CPU tensors of dtype. Tied heads are left out, as transformers saves them.
std::map<std::string, torch::Tensor> toHfStateDict(CausalLMImpl& model, torch::Dtype dtype = torch::kFloat32);
// Copies HF-named tensors into the model; source names the file in messages. Throws LmError on a
// missing or unexpected tensor or a shape mismatch.
void loadHfStateDict(CausalLMImpl& model, const std::map<std::string, torch::Tensor>& tensors,
                     const std::string& source);

struct SaveOptions {
  torch::Dtype dtype = torch::kFloat32;
  // Tokenizer files to copy into the folder: a folder (its tokenizer.json, tokenizer_config.json,
  // special_tokens_map.json, vocab.json, merges.txt, tokenizer.model are copied) or a file
  // (a SentencePiece *.model is copied as tokenizer.model).
  std::optional<std::filesystem::path> tokenizer;
};

// Writes the folder (created if needed; files replaced atomically).
void saveHfModel(CausalLMImpl& model, const std::filesystem::path& folder, const SaveOptions& options = {});

// Reads a folder's config.json.
ModelConfig readHfConfig(const std::filesystem::path& folder);

}  // namespace atomscope::lm
