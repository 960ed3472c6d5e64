#include "atomscope/masa/masa_format.h"

#include <fstream>
#include <regex>
#include <set>

#include "atomscope/core/run_dir.h"  // writeFileAtomically
#include "atomscope/core/tensor_io.h"

namespace atomscope::masa {

namespace fs = std::filesystem;
using lm::LmError;

namespace {

const char* kFormat = "atomscope.masa/1";

// Attention weight tensors under transformers' names (Llama q/k/v/o_proj; GPT-2 fused c_attn and attn.c_proj).
bool isAttentionWeight(const std::string& name) {
  static const std::regex llama(R"(self_attn\.[qkvo]_proj\.weight$)");
  static const std::regex gpt2(R"(attn\.c_(attn|proj)\.weight$)");
  return std::regex_search(name, llama) || std::regex_search(name, gpt2);
}

std::string key(const std::string& role, std::size_t group) { return "masa." + role + "." + std::to_string(group); }

}  // namespace

bool isMasaFolder(const fs::path& path) { return fs::is_directory(path) && fs::exists(path / "masa_config.json"); }

void saveMasaFolder(lm::CausalLMImpl& model, const CompressionResult& result, const fs::path& folder,
                    const MasaSaveOptions& options) {
  fs::create_directories(folder);
  std::map<std::string, torch::Tensor> tensors;
  for (auto& [name, t] : lm::toHfStateDict(model, options.dtype))
    if (!isAttentionWeight(name)) tensors[name] = t;
  Json dicts = Json::array(), lows = Json::array();
  std::map<std::string, std::size_t> groupOf;
  std::int64_t stored = 0;
  for (const auto& d : result.dictionaries) {
    d.validate();
    const auto g = groupOf[d.role]++;
    const auto k = key(d.role, g);
    tensors[k + ".atoms"] = d.atoms.to(options.dtype).contiguous();
    tensors[k + ".coefficients"] = d.coefficients.to(torch::kFloat32).contiguous();
    std::vector<std::int64_t> ranks;
    for (std::size_t i = 0; i < d.layers.size(); ++i) {
      const bool has = i < d.residualU.size() && d.residualU[i].defined();
      ranks.push_back(has ? d.residualU[i].size(1) : 0);
      if (!has) continue;
      tensors[k + ".residual." + std::to_string(d.layers[i]) + ".U"] = d.residualU[i].to(options.dtype).contiguous();
      tensors[k + ".residual." + std::to_string(d.layers[i]) + ".V"] = d.residualV[i].to(options.dtype).contiguous();
    }
    stored += d.parameterCount();
    dicts.push_back({{"role", d.role}, {"group", g}, {"layers", d.layers}, {"atoms", d.numAtoms()}, {"residual_ranks", ranks}});
  }
  for (const auto& [role, factors] : result.lowRank) {
    const auto& rep = *std::find_if(result.types.begin(), result.types.end(), [&](const auto& t) { return t.role == role; });
    std::vector<std::int64_t> layers, ranks;
    auto sets = attentionSets(model);
    const auto& set = *std::find_if(sets.begin(), sets.end(), [&](const auto& s) { return s.role == role; });
    for (std::size_t i = 0; i < factors.size(); ++i) {
      const auto l = set.layers[i];
      tensors["lowrank." + role + "." + std::to_string(l) + ".U"] = factors[i].U.to(options.dtype).contiguous();
      tensors["lowrank." + role + "." + std::to_string(l) + ".V"] = factors[i].V.to(options.dtype).contiguous();
      layers.push_back(l);
      ranks.push_back(factors[i].rank());
      stored += factors[i].parameterCount();
    }
    (void)rep;
    lows.push_back({{"role", role}, {"layers", layers}, {"ranks", ranks}});
  }
  core::saveSafetensors(folder / "masa.safetensors", tensors, {{"format", kFormat}});
  Json cfg{{"format", kFormat},
           {"base_config", model.config().toHfConfig()},
           {"method", result.method},
           {"dictionaries", dicts},
           {"low_rank", lows},
           {"attention_params", stored},
           {"attention_params_dense", result.attentionFull()},
           {"report", result.toJson()}};
  if (options.tokenizer) {
    const auto dst = folder / options.tokenizer->filename();
    fs::copy_file(*options.tokenizer, dst, fs::copy_options::overwrite_existing);
    cfg["tokenizer"] = options.tokenizer->filename().string();
  }
  core::writeFileAtomically(folder / "masa_config.json", cfg.dump(2) + "\n");
}

MasaModel loadMasaFolder(const fs::path& folder, const lm::LoadOptions& options) {
  const auto cfgPath = folder / "masa_config.json";
  const auto stPath = folder / "masa.safetensors";
  if (!fs::exists(cfgPath)) throw LmError("'" + folder.string() + "' is not a MASA folder: masa_config.json is missing");
  if (!fs::exists(stPath)) throw LmError("'" + stPath.string() + "' is missing");
  MasaModel out;
  try {
    std::ifstream in(cfgPath);
    out.config = Json::parse(in);
  } catch (const std::exception& e) {
    throw LmError("'" + cfgPath.string() + "': not valid JSON (" + e.what() + ")");
  }
  if (out.config.value("format", "") != kFormat)
    throw LmError("'" + cfgPath.string() + "': format is not " + std::string(kFormat));
  if (!out.config.contains("base_config")) throw LmError("'" + cfgPath.string() + "': no base_config");
  const auto config = lm::ModelConfig::fromHfConfig(out.config["base_config"], cfgPath.string());
  auto tensors = core::loadSafetensors(stPath);
  auto take = [&](const std::string& name) {
    auto it = tensors.find(name);
    if (it == tensors.end()) throw LmError("'" + stPath.string() + "': tensor '" + name + "' is missing");
    auto t = it->second.to(torch::kFloat32);
    tensors.erase(it);
    return t;
  };
  // Dictionaries and low-rank factors.
  for (const auto& d : out.config.value("dictionaries", Json::array())) {
    MatrixDictionary dict;
    dict.role = d.at("role").get<std::string>();
    dict.layers = d.at("layers").get<std::vector<std::int64_t>>();
    const auto k = key(dict.role, d.at("group").get<std::size_t>());
    dict.atoms = take(k + ".atoms");
    dict.coefficients = take(k + ".coefficients");
    const auto ranks = d.value("residual_ranks", std::vector<std::int64_t>{});
    bool any = false;
    for (auto r : ranks) any = any || r > 0;
    if (any) {
      for (std::size_t i = 0; i < dict.layers.size(); ++i) {
        if (i < ranks.size() && ranks[i] > 0) {
          dict.residualU.push_back(take(k + ".residual." + std::to_string(dict.layers[i]) + ".U"));
          dict.residualV.push_back(take(k + ".residual." + std::to_string(dict.layers[i]) + ".V"));
        } else {
          dict.residualU.emplace_back();
          dict.residualV.emplace_back();
        }
      }
    }
    try {
      dict.validate();
    } catch (const LmError& e) {
      throw LmError("'" + stPath.string() + "': " + e.what());
    }
    out.attentionParameters += dict.parameterCount();
    out.dictionaries.push_back(std::move(dict));
  }
  std::map<std::string, std::map<std::int64_t, torch::Tensor>> dense;  // role -> layer -> W
  for (const auto& d : out.dictionaries)
    for (std::size_t i = 0; i < d.layers.size(); ++i) dense[d.role][d.layers[i]] = d.weight(i);
  for (const auto& lr : out.config.value("low_rank", Json::array())) {
    const auto role = lr.at("role").get<std::string>();
    for (auto l : lr.at("layers").get<std::vector<std::int64_t>>()) {
      LowRankFactors f{take("lowrank." + role + "." + std::to_string(l) + ".U"),
                       take("lowrank." + role + "." + std::to_string(l) + ".V")};
      if (f.U.dim() != 2 || f.V.dim() != 2 || f.U.size(1) != f.V.size(0))
        throw LmError("'" + stPath.string() + "': low-rank factors of layer " + std::to_string(l) + " '" + role +
                      "' do not multiply");
      out.attentionParameters += f.parameterCount();
      dense[role][l] = f.product();
      out.lowRank[role].push_back(std::move(f));
    }
  }
  // The model: non-attention tensors from the file, attention from the dense W_l.
  auto model = lm::createModel(config);
  auto full = lm::toHfStateDict(*model);
  for (auto& [name, t] : full) {
    if (isAttentionWeight(name)) continue;
    auto it = tensors.find(name);
    if (it == tensors.end()) throw LmError("'" + stPath.string() + "': tensor '" + name + "' is missing");
    t = it->second;
    tensors.erase(it);
  }
  if (!tensors.empty()) throw LmError("'" + stPath.string() + "': unexpected tensor '" + tensors.begin()->first + "'");
  lm::loadHfStateDict(*model, full, stPath.string());
  {
    torch::NoGradGuard g;
    for (auto& set : attentionSets(*model))
      for (std::size_t i = 0; i < set.layers.size(); ++i) {
        auto r = dense.find(set.role);
        if (r == dense.end() || !r->second.count(set.layers[i]))
          throw LmError("'" + cfgPath.string() + "': no weights for layer " + std::to_string(set.layers[i]) + " '" +
                        set.role + "'");
        auto W = r->second.at(set.layers[i]);
        if (W.sizes() != set.weights[i].sizes())
          throw LmError("'" + stPath.string() + "': layer " + std::to_string(set.layers[i]) + " '" + set.role +
                        "' rebuilds to the wrong shape");
        set.weights[i].copy_(W);
      }
  }
  model->to(options.device, options.dtype);
  out.model = model;
  if (out.config.contains("tokenizer") && fs::exists(folder / out.config["tokenizer"].get<std::string>()))
    out.tokenizer = folder / out.config["tokenizer"].get<std::string>();
  return out;
}

}  // namespace atomscope::masa
