#include "atomscope/lm/model_config.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <type_traits>
#include <vector>

namespace atomscope::lm {

std::string toString(ModelFamily family) { return family == ModelFamily::Gpt2 ? "gpt2" : "llama"; }

ModelFamily modelFamilyFromString(const std::string& s) {
  if (s == "llama") return ModelFamily::Llama;
  if (s == "gpt2") return ModelFamily::Gpt2;
  throw LmError("unknown model family '" + s + "': expected 'llama' or 'gpt2'");
}

std::string ModelConfig::effectiveActivation() const {
  if (!activation.empty()) return activation;
  return family == ModelFamily::Gpt2 ? "gelu_new" : "silu";
}

void ModelConfig::validate() const {
  std::vector<std::string> problems;
  auto need = [&](bool ok, const std::string& what) {
    if (!ok) problems.push_back(what);
  };
  need(vocabSize > 0, "vocab_size must be > 0 (got " + std::to_string(vocabSize) + ")");
  need(dim > 0, "dim must be > 0 (got " + std::to_string(dim) + ")");
  need(nLayers > 0, "n_layers must be > 0 (got " + std::to_string(nLayers) + ")");
  need(nHeads > 0, "n_heads must be > 0 (got " + std::to_string(nHeads) + ")");
  need(nKvHeads > 0, "n_kv_heads must be > 0 (got " + std::to_string(nKvHeads) + ")");
  need(hiddenDim > 0, "hidden_dim must be > 0 (got " + std::to_string(hiddenDim) + ")");
  need(maxSeqLen > 0, "max_seq_len must be > 0 (got " + std::to_string(maxSeqLen) + ")");
  if (nHeads > 0 && headDim <= 0)
    need(dim % nHeads == 0, "dim " + std::to_string(dim) + " is not divisible by n_heads " + std::to_string(nHeads));
  if (nHeads > 0 && nKvHeads > 0)
    need(nHeads % nKvHeads == 0,
         "n_heads " + std::to_string(nHeads) + " is not a multiple of n_kv_heads " + std::to_string(nKvHeads));
  if (family == ModelFamily::Llama && nHeads > 0 && dim > 0)
    need(effectiveHeadDim() % 2 == 0, "head dimension " + std::to_string(effectiveHeadDim()) +
                                          " must be even for rotary embeddings");
  if (family == ModelFamily::Gpt2) {
    need(nKvHeads == nHeads, "GPT-2 has no grouped-query attention: n_kv_heads must equal n_heads");
    need(headDim <= 0 || headDim * nHeads == dim, "GPT-2 head_dim must be dim / n_heads");
  }
  const auto act = effectiveActivation();
  need(act == "silu" || act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu",
       "activation '" + act + "' is not supported (silu, gelu_new, gelu_pytorch_tanh, gelu)");
  need(normEps > 0, "norm epsilon must be > 0");
  if (!problems.empty()) {
    std::ostringstream os;
    os << "invalid model configuration:";
    for (const auto& p : problems) os << "\n  " << p;
    throw LmError(os.str());
  }
}

Json ModelConfig::toJson() const {
  return Json{{"family", toString(family)},
              {"vocab_size", vocabSize},
              {"dim", dim},
              {"n_layers", nLayers},
              {"n_heads", nHeads},
              {"n_kv_heads", nKvHeads},
              {"head_dim", headDim},
              {"hidden_dim", hiddenDim},
              {"max_seq_len", maxSeqLen},
              {"norm_eps", normEps},
              {"rope_theta", ropeTheta},
              {"tied_embeddings", tiedEmbeddings},
              {"attention_bias", attentionBias},
              {"mlp_bias", mlpBias},
              {"activation", effectiveActivation()},
              {"bos_id", bosId},
              {"eos_id", eosId}};
}

namespace {

// Every size and id in a configuration fits in 32 bits; holding them to that range keeps products
// such as n_heads * head_dim or 4 * n_embd far from overflowing 64 bits.
constexpr std::int64_t kIntLimit = std::int64_t(1) << 31;

bool smallInteger(const Json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>() < std::uint64_t(kIntLimit);
  if (v.is_number_integer()) return v.get<std::int64_t>() > -kIntLimit && v.get<std::int64_t>() < kIntLimit;
  return false;
}

template <typename T>
void read(const Json& j, const char* key, T& out, const std::string& source) {
  if (!j.contains(key) || j[key].is_null()) return;
  const auto& v = j[key];
  if constexpr (std::is_same_v<T, std::int64_t>) {
    // Some exporters write sizes as 64.0; anything else that is not a whole number in range is refused
    // here (converting 1e300 to an integer is undefined behaviour).
    if (v.is_number_float() && std::abs(v.get<double>()) < double(kIntLimit) &&
        v.get<double>() == std::trunc(v.get<double>())) {
      out = static_cast<std::int64_t>(v.get<double>());
      return;
    }
    if (!smallInteger(v))
      throw LmError(source + ": field '" + key + "' must be a whole number between -2^31 and 2^31 (got " + v.dump() + ")");
    out = v.get<std::int64_t>();
    return;
  }
  try {
    out = v.get<T>();
  } catch (const std::exception& e) {
    throw LmError(source + ": field '" + key + "' has the wrong type (" + v.dump() + ")");
  }
}

// A token id, or -1 for none (absent, null, negative, or not a number; lists give their first id).
std::int64_t tokenId(const Json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return -1;
  const Json* v = &j[key];
  if (v->is_array() && !v->empty()) v = &(*v)[0];
  if (!smallInteger(*v)) return -1;
  return std::max<std::int64_t>(-1, v->get<std::int64_t>());
}

}  // namespace

ModelConfig ModelConfig::fromJson(const Json& j) {
  if (!j.is_object()) throw LmError("model configuration must be a JSON object");
  ModelConfig c;
  std::string family = toString(c.family);
  const std::string src = "model configuration";
  read(j, "family", family, src);
  c.family = modelFamilyFromString(family);
  read(j, "vocab_size", c.vocabSize, src);
  read(j, "dim", c.dim, src);
  read(j, "n_layers", c.nLayers, src);
  read(j, "n_heads", c.nHeads, src);
  c.nKvHeads = c.nHeads;
  read(j, "n_kv_heads", c.nKvHeads, src);
  read(j, "head_dim", c.headDim, src);
  if (c.family == ModelFamily::Gpt2) c.hiddenDim = 4 * c.dim;
  read(j, "hidden_dim", c.hiddenDim, src);
  read(j, "max_seq_len", c.maxSeqLen, src);
  read(j, "norm_eps", c.normEps, src);
  read(j, "rope_theta", c.ropeTheta, src);
  if (c.family == ModelFamily::Gpt2) c.tiedEmbeddings = true;
  read(j, "tied_embeddings", c.tiedEmbeddings, src);
  read(j, "attention_bias", c.attentionBias, src);
  read(j, "mlp_bias", c.mlpBias, src);
  read(j, "activation", c.activation, src);
  read(j, "bos_id", c.bosId, src);
  read(j, "eos_id", c.eosId, src);
  c.bosId = std::max<std::int64_t>(-1, c.bosId);  // every negative id means none
  c.eosId = std::max<std::int64_t>(-1, c.eosId);
  c.validate();
  return c;
}

Json ModelConfig::toHfConfig() const {
  Json j;
  if (family == ModelFamily::Llama) {
    j["architectures"] = Json::array({"LlamaForCausalLM"});
    j["model_type"] = "llama";
    j["vocab_size"] = vocabSize;
    j["hidden_size"] = dim;
    j["intermediate_size"] = hiddenDim;
    j["num_hidden_layers"] = nLayers;
    j["num_attention_heads"] = nHeads;
    j["num_key_value_heads"] = nKvHeads;
    j["head_dim"] = effectiveHeadDim();
    j["hidden_act"] = effectiveActivation();
    j["max_position_embeddings"] = maxSeqLen;
    j["rms_norm_eps"] = normEps;
    // transformers < 5 reads rope_theta; 5.x reads rope_parameters (and converts rope_theta).
    j["rope_theta"] = ropeTheta;
    j["rope_parameters"] = Json{{"rope_type", "default"}, {"rope_theta", ropeTheta}};
    j["rope_scaling"] = nullptr;
    j["attention_bias"] = attentionBias;
    j["attention_dropout"] = 0.0;
    j["mlp_bias"] = mlpBias;
    j["tie_word_embeddings"] = tiedEmbeddings;
    j["initializer_range"] = 0.02;
    j["pretraining_tp"] = 1;
    j["use_cache"] = true;
  } else {
    j["architectures"] = Json::array({"GPT2LMHeadModel"});
    j["model_type"] = "gpt2";
    j["vocab_size"] = vocabSize;
    j["n_embd"] = dim;
    j["n_layer"] = nLayers;
    j["n_head"] = nHeads;
    j["n_inner"] = hiddenDim;
    j["n_positions"] = maxSeqLen;
    j["n_ctx"] = maxSeqLen;
    j["activation_function"] = effectiveActivation();
    j["layer_norm_epsilon"] = normEps;
    j["attn_pdrop"] = 0.0;
    j["embd_pdrop"] = 0.0;
    j["resid_pdrop"] = 0.0;
    j["scale_attn_weights"] = true;
    j["scale_attn_by_inverse_layer_idx"] = false;
    j["reorder_and_upcast_attn"] = false;
    j["tie_word_embeddings"] = true;
    j["initializer_range"] = 0.02;
    j["use_cache"] = true;
  }
  if (bosId >= 0) j["bos_token_id"] = bosId;
  if (eosId >= 0) j["eos_token_id"] = eosId;
  j["torch_dtype"] = "float32";
  j["dtype"] = "float32";
  return j;
}

ModelConfig ModelConfig::fromHfConfig(const Json& j, const std::string& source) {
  if (!j.is_object()) throw LmError(source + ": not a JSON object");
  std::string modelType;
  read(j, "model_type", modelType, source);
  if (modelType.empty() && j.contains("architectures") && j["architectures"].is_array() &&
      !j["architectures"].empty() && j["architectures"][0].is_string()) {
    const auto arch = j["architectures"][0].get<std::string>();
    if (arch.rfind("Llama", 0) == 0) modelType = "llama";
    if (arch.rfind("GPT2", 0) == 0) modelType = "gpt2";
  }
  ModelConfig c;
  if (modelType == "llama") {
    c.family = ModelFamily::Llama;
    read(j, "vocab_size", c.vocabSize, source);
    read(j, "hidden_size", c.dim, source);
    read(j, "intermediate_size", c.hiddenDim, source);
    read(j, "num_hidden_layers", c.nLayers, source);
    read(j, "num_attention_heads", c.nHeads, source);
    c.nKvHeads = c.nHeads;
    read(j, "num_key_value_heads", c.nKvHeads, source);
    read(j, "head_dim", c.headDim, source);
    if (c.headDim > 0 && c.nHeads > 0 && c.headDim * c.nHeads == c.dim) c.headDim = 0;
    read(j, "max_position_embeddings", c.maxSeqLen, source);
    read(j, "rms_norm_eps", c.normEps, source);
    read(j, "rope_theta", c.ropeTheta, source);
    for (const char* key : {"rope_parameters", "rope_scaling"}) {
      if (!j.contains(key) || j[key].is_null()) continue;
      const auto& rp = j[key];
      if (!rp.is_object()) throw LmError(source + ": '" + key + "' must be an object or null");
      std::string type = "default";
      if (rp.contains("rope_type") && rp["rope_type"].is_string()) type = rp["rope_type"];
      else if (rp.contains("type") && rp["type"].is_string()) type = rp["type"];
      if (type != "default")
        throw LmError(source + ": rotary scaling '" + type + "' (" + key +
                      ") is not supported; only the default rotary embedding is");
      read(rp, "rope_theta", c.ropeTheta, source);
    }
    c.tiedEmbeddings = false;
    read(j, "tie_word_embeddings", c.tiedEmbeddings, source);
    read(j, "attention_bias", c.attentionBias, source);
    read(j, "mlp_bias", c.mlpBias, source);
    read(j, "hidden_act", c.activation, source);
  } else if (modelType == "gpt2") {
    c.family = ModelFamily::Gpt2;
    read(j, "vocab_size", c.vocabSize, source);
    read(j, "n_embd", c.dim, source);
    read(j, "n_layer", c.nLayers, source);
    read(j, "n_head", c.nHeads, source);
    c.nKvHeads = c.nHeads;
    c.hiddenDim = 4 * c.dim;
    read(j, "n_inner", c.hiddenDim, source);
    c.maxSeqLen = 1024;
    read(j, "n_positions", c.maxSeqLen, source);
    read(j, "layer_norm_epsilon", c.normEps, source);
    read(j, "activation_function", c.activation, source);
    c.tiedEmbeddings = true;
    read(j, "tie_word_embeddings", c.tiedEmbeddings, source);
    if (!c.tiedEmbeddings) throw LmError(source + ": GPT-2 with untied embeddings is not supported");
    bool scale = true, byLayer = false, cross = false;
    read(j, "scale_attn_weights", scale, source);
    read(j, "scale_attn_by_inverse_layer_idx", byLayer, source);
    read(j, "add_cross_attention", cross, source);
    if (!scale || byLayer || cross)
      throw LmError(source + ": GPT-2 variants with scale_attn_weights=false, scale_attn_by_inverse_layer_idx or "
                             "cross-attention are not supported");
  } else {
    throw LmError(source + ": model_type '" + modelType +
                  "' is not supported: expected 'llama' (LlamaForCausalLM) or 'gpt2' (GPT2LMHeadModel)");
  }
  c.bosId = tokenId(j, "bos_token_id");
  c.eosId = tokenId(j, "eos_token_id");
  try {
    c.validate();
  } catch (const LmError& e) {
    throw LmError(source + ": " + e.what());
  }
  return c;
}

}  // namespace atomscope::lm
