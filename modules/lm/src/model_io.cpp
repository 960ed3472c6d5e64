// Hugging Face folders and llama2.c checkpoints in and out.
#include "atomscope/lm/model_io.h"

#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "atomscope/core/code_files.h"
#include "atomscope/core/mapped_file.h"
#include "atomscope/core/memory_limits.h"
#include "atomscope/core/run_dir.h"  // writeFileAtomically
#include "atomscope/core/tensor_io.h"
#include "atomscope/lm/llama2c_format.h"

namespace atomscope::lm {

namespace fs = std::filesystem;

namespace {

std::string shapeText(at::IntArrayRef s) {
  std::ostringstream os;
  os << "[";
  for (std::size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

Json readJsonFile(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw LmError("cannot open '" + path.string() + "'");
  try {
    return Json::parse(in);
  } catch (const std::exception& e) {
    throw LmError("'" + path.string() + "' is not valid JSON: " + e.what());
  }
}

std::string dtypeText(torch::Dtype d) {
  if (d == torch::kBFloat16) return "bfloat16";
  if (d == torch::kFloat16) return "float16";
  if (d == torch::kFloat64) return "float64";
  return "float32";
}

// One HF tensor and how it maps to the model.
struct Entry {
  std::string hf;                                     // name in the file (without prefix)
  std::vector<std::int64_t> shape;                    // HF layout
  std::function<void(const torch::Tensor&)> load;     // hf tensor (already checked) -> parameters
  std::function<torch::Tensor()> save;                // parameters -> hf tensor
};

torch::Tensor& param(std::map<std::string, torch::Tensor>& params, const std::string& name) {
  auto it = params.find(name);
  if (it == params.end())
    throw LmError("the model has no parameter '" + name +
                  "' (custom projections must be loaded by their own code, from a dense model)");
  return it->second;
}

void copyInto(torch::Tensor& dst, const torch::Tensor& src) {
  torch::NoGradGuard g;
  dst.copy_(src.to(dst.device(), dst.scalar_type()));
}

// forSaving: attention projections of another kind (MASA, low-rank, shared) are written as their
// equivalent dense weights; loading into such a model is refused (param() names the tensor).
std::vector<Entry> entriesFor(CausalLMImpl& model, bool forSaving = false) {
  std::map<std::string, torch::Tensor> params;
  for (const auto& p : model.named_parameters()) params[p.key()] = p.value();
  if (forSaving) {
    torch::NoGradGuard g;
    for (const auto& [name, proj] : attentionProjections(model)) {
      if (std::dynamic_pointer_cast<LinearProjectionImpl>(proj)) continue;
      params[name + ".weight"] = proj->denseWeight().detach();
      if (auto b = proj->denseBias(); b.defined()) params[name + ".bias"] = b.detach();
    }
  }
  const auto& c = model.config();
  std::vector<Entry> out;
  auto direct = [&](const std::string& hf, const std::string& ours) {
    torch::Tensor p = param(params, ours);
    out.push_back({hf, p.sizes().vec(), [p](const torch::Tensor& t) mutable { copyInto(p, t); },
                   [p] { return p.detach(); }});
  };
  // Conv1D: HF stores [in, out]; ours is [out, in].
  auto transposed = [&](const std::string& hf, const std::string& ours) {
    torch::Tensor p = param(params, ours);
    out.push_back({hf, {p.size(1), p.size(0)}, [p](const torch::Tensor& t) mutable { copyInto(p, t.t()); },
                   [p] { return p.detach().t().contiguous(); }});
  };
  if (c.family == ModelFamily::Llama) {
    direct("embed_tokens.weight", "embed_tokens.weight");
    for (std::int64_t i = 0; i < c.nLayers; ++i) {
      const auto L = "layers." + std::to_string(i) + ".";
      for (const char* proj : {"q_proj", "k_proj", "v_proj", "o_proj"}) {
        direct(L + "self_attn." + proj + ".weight", L + "self_attn." + proj + ".weight");
        if (c.attentionBias) direct(L + "self_attn." + proj + ".bias", L + "self_attn." + proj + ".bias");
      }
      for (const char* proj : {"gate_proj", "up_proj", "down_proj"}) {
        direct(L + "mlp." + proj + ".weight", L + "mlp." + proj + ".weight");
        if (c.mlpBias) direct(L + "mlp." + proj + ".bias", L + "mlp." + proj + ".bias");
      }
      direct(L + "input_layernorm.weight", L + "input_layernorm.weight");
      direct(L + "post_attention_layernorm.weight", L + "post_attention_layernorm.weight");
    }
    direct("norm.weight", "norm.weight");
    if (!c.tiedEmbeddings) direct("lm_head.weight", "lm_head.weight");
  } else {
    direct("wte.weight", "wte.weight");
    direct("wpe.weight", "wpe.weight");
    const auto D = c.dim;
    for (std::int64_t i = 0; i < c.nLayers; ++i) {
      const auto L = "h." + std::to_string(i) + ".";
      for (const char* ln : {"ln_1", "ln_2"}) {
        direct(L + ln + ".weight", L + ln + ".weight");
        direct(L + ln + ".bias", L + ln + ".bias");
      }
      // Fused c_attn: Conv1D weight [D, 3D] = [Wq^T | Wk^T | Wv^T], bias [3D].
      torch::Tensor qw = param(params, L + "attn.q_proj.weight"), kw = param(params, L + "attn.k_proj.weight"),
                    vw = param(params, L + "attn.v_proj.weight");
      torch::Tensor qb = param(params, L + "attn.q_proj.bias"), kb = param(params, L + "attn.k_proj.bias"),
                    vb = param(params, L + "attn.v_proj.bias");
      out.push_back({L + "attn.c_attn.weight", {D, 3 * D},
                     [=](const torch::Tensor& t) mutable {
                       auto w = t.t();  // [3D, D]
                       copyInto(qw, w.narrow(0, 0, D));
                       copyInto(kw, w.narrow(0, D, D));
                       copyInto(vw, w.narrow(0, 2 * D, D));
                     },
                     [=] { return torch::cat({qw.detach(), kw.detach(), vw.detach()}, 0).t().contiguous(); }});
      out.push_back({L + "attn.c_attn.bias", {3 * D},
                     [=](const torch::Tensor& t) mutable {
                       copyInto(qb, t.narrow(0, 0, D));
                       copyInto(kb, t.narrow(0, D, D));
                       copyInto(vb, t.narrow(0, 2 * D, D));
                     },
                     [=] { return torch::cat({qb.detach(), kb.detach(), vb.detach()}, 0); }});
      transposed(L + "attn.c_proj.weight", L + "attn.o_proj.weight");
      direct(L + "attn.c_proj.bias", L + "attn.o_proj.bias");
      transposed(L + "mlp.c_fc.weight", L + "mlp.c_fc.weight");
      direct(L + "mlp.c_fc.bias", L + "mlp.c_fc.bias");
      transposed(L + "mlp.c_proj.weight", L + "mlp.c_proj.weight");
      direct(L + "mlp.c_proj.bias", L + "mlp.c_proj.bias");
    }
    direct("ln_f.weight", "ln_f.weight");
    direct("ln_f.bias", "ln_f.bias");
  }
  return out;
}

// Buffers and tied copies transformers may have saved that carry no parameters of their own.
bool ignorable(const std::string& name, const ModelConfig& c) {
  auto ends = [&](const std::string& s) { return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0; };
  if (ends("rotary_emb.inv_freq") || ends(".attn.bias") || ends(".attn.masked_bias")) return true;
  if (name == "lm_head.weight" && c.tiedEmbeddings) return true;
  return false;
}

std::string basePrefix(const ModelConfig& c) { return c.family == ModelFamily::Llama ? "model." : "transformer."; }
std::string hfName(const std::string& name, const ModelConfig& c) {
  return name == "lm_head.weight" ? name : basePrefix(c) + name;
}

}  // namespace

ModelConfig readHfConfig(const fs::path& folder) {
  const auto path = folder / "config.json";
  if (!fs::exists(path)) throw LmError("'" + folder.string() + "' has no config.json: not a Hugging Face model folder");
  return ModelConfig::fromHfConfig(readJsonFile(path), path.string());
}

void loadHfStateDict(CausalLMImpl& model, const std::map<std::string, torch::Tensor>& tensors, const std::string& source) {
  const auto& c = model.config();
  // Files from LlamaForCausalLM / GPT2LMHeadModel prefix the base model's names; LlamaModel / GPT2Model do not.
  const auto prefix = basePrefix(c);
  bool prefixed = false;
  for (const auto& kv : tensors)
    if (kv.first.rfind(prefix, 0) == 0) prefixed = true;
  std::set<std::string> used;
  for (auto& e : entriesFor(model)) {
    const auto name = (e.hf == "lm_head.weight" || !prefixed) ? e.hf : prefix + e.hf;
    auto it = tensors.find(name);
    if (it == tensors.end()) {
      if (e.hf == "lm_head.weight")
        throw LmError(source + ": tensor 'lm_head.weight' is missing and the config says the embeddings are untied "
                               "(tie_word_embeddings false)");
      throw LmError(source + ": tensor '" + name + "' is missing (expected shape " + shapeText(e.shape) + ")");
    }
    if (it->second.sizes().vec() != e.shape)
      throw LmError(source + ": tensor '" + name + "' has shape " + shapeText(it->second.sizes()) + " but the config (" +
                    toString(c.family) + ", dim " + std::to_string(c.dim) + ", vocab " + std::to_string(c.vocabSize) +
                    ") needs " + shapeText(e.shape));
    if (!it->second.is_floating_point())
      throw LmError(source + ": tensor '" + name + "' is not floating point");
    e.load(it->second);
    used.insert(name);
  }
  std::vector<std::string> unexpected;
  for (const auto& kv : tensors) {
    if (used.count(kv.first)) continue;
    const auto bare = prefixed && kv.first.rfind(prefix, 0) == 0 ? kv.first.substr(prefix.size()) : kv.first;
    if (!ignorable(bare, c)) unexpected.push_back(kv.first);
  }
  if (!unexpected.empty()) {
    std::string list;
    for (std::size_t i = 0; i < unexpected.size() && i < 5; ++i) list += (i ? ", " : "") + ("'" + unexpected[i] + "'");
    if (unexpected.size() > 5) list += ", ... (" + std::to_string(unexpected.size()) + " in all)";
    throw LmError(source + ": unexpected tensors for a " + toString(c.family) + " model with " +
                  std::to_string(c.nLayers) + " layers: " + list);
  }
}

CausalLM loadHfModel(const fs::path& folder, const LoadOptions& options) {
  const auto config = readHfConfig(folder);
  std::vector<fs::path> files;
  std::string source;
  if (fs::exists(folder / "model.safetensors")) {
    files.push_back(folder / "model.safetensors");
    source = files.front().string();
  } else if (fs::exists(folder / "model.safetensors.index.json")) {
    const auto indexPath = folder / "model.safetensors.index.json";
    const auto index = readJsonFile(indexPath);
    if (!index.contains("weight_map") || !index["weight_map"].is_object())
      throw LmError("'" + indexPath.string() + "' has no weight_map object");
    std::set<std::string> names;
    for (const auto& kv : index["weight_map"].items()) {
      if (!kv.value().is_string()) throw LmError("'" + indexPath.string() + "': weight_map['" + kv.key() + "'] is not a file name");
      names.insert(kv.value().get<std::string>());
    }
    for (const auto& n : names) {
      if (n.find('/') != std::string::npos || n.find("..") != std::string::npos)
        throw LmError("'" + indexPath.string() + "' names a shard outside the folder: '" + n + "'");
      files.push_back(folder / n);
    }
    source = indexPath.string();
  } else if (fs::exists(folder / "pytorch_model.bin")) {
    try {
      core::refusePickle(folder / "pytorch_model.bin", "language model");
    } catch (const core::Error& e) {
      throw LmError(e.what());
    }
    throw LmError("'" + folder.string() + "' holds only pytorch_model.bin (a Python pickle), which is not read here: "
                  "convert it with transformers (save_pretrained(..., safe_serialization=True)) to model.safetensors");
  } else {
    throw LmError("'" + folder.string() + "' has neither model.safetensors nor model.safetensors.index.json");
  }
  std::map<std::string, torch::Tensor> tensors;
  std::vector<std::shared_ptr<const core::SafetensorsReader>> readers;
  std::uint64_t needed = 0;  // the model in its dtype, from the headers (the files are only mapped)
  const auto itemBytes = static_cast<std::uint64_t>(c10::elementSize(options.dtype));
  for (const auto& f : files) {
    if (!fs::exists(f)) throw LmError("shard '" + f.string() + "' listed in " + source + " does not exist");
    try {
      readers.push_back(std::make_shared<const core::SafetensorsReader>(core::SafetensorsReader::open(f)));
    } catch (const core::Error& e) {
      throw LmError(e.what());
    }
    for (const auto& t : readers.back()->tensors()) needed += std::max(t.byteSize(), t.numel() * itemBytes);
  }
  try {
    core::requireMemory(needed, "the model in '" + folder.string() + "'");
  } catch (const core::Error& e) {
    throw LmError(e.what());
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& f = files[i];
    const auto& reader = readers[i];
    for (const auto& t : reader->tensors()) {
      if (tensors.count(t.name)) throw LmError("tensor '" + t.name + "' appears in two shards (second: " + f.string() + ")");
      try {
        tensors.emplace(t.name, core::toTensor(reader, t.name, core::TensorLoadOptions{true}));
      } catch (const core::Error& e) {
        throw LmError(e.what());
      }
    }
  }
  auto model = createModel(config, options.model);
  loadHfStateDict(*model, tensors, source);
  model->to(options.device, options.dtype);
  model->eval();
  return model;
}

CausalLM loadLlama2c(const fs::path& file, const LoadOptions& options) {
  core::MappedFile map;
  try {
    core::refusePickle(file, "language model");  // a pytorch_model.bin or .pt given as the model
    map = core::MappedFile(file);
  } catch (const core::Error& e) {
    throw LmError(e.what());
  }
  const auto name = file.string();
  const auto layout = parseLlama2cHeader(map.data(), map.size(), name);
  const ModelConfig& c = layout.config;
  try {
    core::requireMemory(4 * layout.floats, "'" + name + "' (llama2.c model)");
  } catch (const core::Error& e) {
    throw LmError(e.what());
  }
  const std::int64_t D = c.dim, Hd = c.hiddenDim, L = c.nLayers, V = c.vocabSize, hd = c.effectiveHeadDim();
  const std::int64_t qOut = c.nHeads * hd, kvOut = c.nKvHeads * hd;
  const float* p = reinterpret_cast<const float*>(map.data() + 28);
  auto take = [&](std::vector<std::int64_t> shape) {
    std::int64_t n = 1;
    for (auto s : shape) n *= s;
    auto t = torch::from_blob(const_cast<float*>(p), shape, torch::kFloat32).clone();
    p += n;
    return t;
  };
  // llama2.c rotates interleaved pairs (2i, 2i+1); transformers rotates (i, i + hd/2). Reorder the
  // rows of each head as convert_llama_weights_to_hf.py's permute().
  auto permute = [&](const torch::Tensor& w, std::int64_t heads) {
    return w.view({heads, hd / 2, 2, w.size(1)}).transpose(1, 2).reshape({w.size(0), w.size(1)});
  };
  std::map<std::string, torch::Tensor> t;
  t["model.embed_tokens.weight"] = take({V, D});
  auto stacked = [&](std::vector<std::int64_t> shape) { shape.insert(shape.begin(), L); return take(shape); };
  auto rmsAtt = stacked({D});
  auto wq = stacked({qOut, D});
  auto wk = stacked({kvOut, D});
  auto wv = stacked({kvOut, D});
  auto wo = stacked({D, qOut});
  auto rmsFfn = stacked({D});
  auto w1 = stacked({Hd, D});
  auto w2 = stacked({D, Hd});
  auto w3 = stacked({Hd, D});
  t["model.norm.weight"] = take({D});
  p += c.maxSeqLen * hd;  // freq_cis_real and freq_cis_imag (seq_len * hd / 2 each): recomputed instead
  if (!c.tiedEmbeddings) t["lm_head.weight"] = take({V, D});
  for (std::int64_t i = 0; i < L; ++i) {
    const auto P = "model.layers." + std::to_string(i) + ".";
    t[P + "input_layernorm.weight"] = rmsAtt[i];
    t[P + "self_attn.q_proj.weight"] = permute(wq[i], c.nHeads);
    t[P + "self_attn.k_proj.weight"] = permute(wk[i], c.nKvHeads);
    t[P + "self_attn.v_proj.weight"] = wv[i];
    t[P + "self_attn.o_proj.weight"] = wo[i];
    t[P + "post_attention_layernorm.weight"] = rmsFfn[i];
    t[P + "mlp.gate_proj.weight"] = w1[i];
    t[P + "mlp.down_proj.weight"] = w2[i];
    t[P + "mlp.up_proj.weight"] = w3[i];
  }
  auto model = createModel(c, options.model);
  loadHfStateDict(*model, t, name);
  model->to(options.device, options.dtype);
  model->eval();
  return model;
}

LoadedModel loadModel(const fs::path& path, const LoadOptions& options) {
  if (!fs::exists(path)) throw LmError("model '" + path.string() + "' does not exist");
  LoadedModel out;
  out.source = path;
  if (fs::is_directory(path)) {
    out.model = loadHfModel(path, options);
    out.format = "hf";
    for (const char* f : {"tokenizer.json", "vocab.json", "tokenizer.model"})
      if (fs::exists(path / f)) {
        out.tokenizer = path;
        break;
      }
    return out;
  }
  out.model = loadLlama2c(path, options);
  out.format = "llama2c";
  const auto dir = path.parent_path();
  for (const auto& candidate : {dir / ("tok" + std::to_string(out.model->config().vocabSize) + ".bin"), dir / "tokenizer.bin"})
    if (fs::exists(candidate)) {
      out.tokenizer = candidate;
      break;
    }
  return out;
}

std::map<std::string, torch::Tensor> toHfStateDict(CausalLMImpl& model, torch::Dtype dtype) {
  std::map<std::string, torch::Tensor> out;
  const auto& c = model.config();
  torch::NoGradGuard g;
  for (auto& e : entriesFor(model, true)) out[hfName(e.hf, c)] = e.save().to(torch::kCPU, dtype).contiguous();
  return out;
}

void saveHfModel(CausalLMImpl& model, const fs::path& folder, const SaveOptions& options) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw LmError("cannot create folder '" + folder.string() + "': " + ec.message());
  const auto& c = model.config();
  try {
    core::saveSafetensors(folder / "model.safetensors", toHfStateDict(model, options.dtype), {{"format", "pt"}});
  } catch (const core::Error& e) {
    throw LmError(std::string("writing ") + (folder / "model.safetensors").string() + ": " + e.what());
  }
  auto cfg = c.toHfConfig();
  cfg["torch_dtype"] = dtypeText(options.dtype);
  cfg["dtype"] = dtypeText(options.dtype);
  core::writeFileAtomically(folder / "config.json", cfg.dump(2) + "\n");
  Json gen = Json::object();
  if (c.bosId >= 0) gen["bos_token_id"] = c.bosId;
  if (c.eosId >= 0) gen["eos_token_id"] = c.eosId;
  core::writeFileAtomically(folder / "generation_config.json", gen.dump(2) + "\n");
  if (options.tokenizer) {
    const auto& tok = *options.tokenizer;
    auto copy = [&](const fs::path& from, const fs::path& to) {
      fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
      if (ec) throw LmError("cannot copy '" + from.string() + "' to '" + to.string() + "': " + ec.message());
    };
    if (fs::is_directory(tok)) {
      for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                            "merges.txt", "tokenizer.model", "added_tokens.json"})
        if (fs::exists(tok / f) && fs::weakly_canonical(tok) != fs::weakly_canonical(folder)) copy(tok / f, folder / f);
    } else if (tok.extension() == ".model") {
      copy(tok, folder / "tokenizer.model");
      Json tc{{"tokenizer_class", "LlamaTokenizer"}, {"bos_token", "<s>"}, {"eos_token", "</s>"},
              {"unk_token", "<unk>"}, {"add_bos_token", true}, {"add_eos_token", false},
              {"model_max_length", c.maxSeqLen}};
      core::writeFileAtomically(folder / "tokenizer_config.json", tc.dump(2) + "\n");
    } else if (fs::exists(tok)) {
      // llama2.c tokenizer.bin and others transformers cannot read: keep them beside the model for Atomscope.
      copy(tok, folder / tok.filename());
    }
  }
}

}  // namespace atomscope::lm
