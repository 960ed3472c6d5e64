#include "atomscope/lm/llama2c_format.h"

#include <cstdlib>
#include <cstring>

namespace atomscope::lm {

Llama2cLayout parseLlama2cHeader(const std::uint8_t* data, std::size_t size, const std::string& name) {
  if (size < 28) throw LmError("'" + name + "' is too short for a llama2.c checkpoint (needs a 28-byte header)");
  std::int32_t h[7];
  std::memcpy(h, data, sizeof h);
  const char* fields[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  for (int i = 0; i < 7; ++i)
    if (h[i] == 0 || (i != 5 && h[i] < 0) || std::abs(static_cast<long long>(h[i])) > (1LL << 24))
      throw LmError("'" + name + "': header field " + fields[i] + " = " + std::to_string(h[i]) +
                    " is not a plausible llama2.c value (is this a llama2.c legacy .bin?)");
  Llama2cLayout out;
  ModelConfig& c = out.config;
  c.family = ModelFamily::Llama;
  c.dim = h[0];
  c.hiddenDim = h[1];
  c.nLayers = h[2];
  c.nHeads = h[3];
  c.nKvHeads = h[4];
  c.vocabSize = std::abs(h[5]);
  c.tiedEmbeddings = h[5] > 0;
  c.maxSeqLen = h[6];
  c.normEps = 1e-5;  // run.c's rmsnorm
  c.ropeTheta = 10000.0;
  c.bosId = 1;  // Llama SentencePiece conventions used by llama2.c
  c.eosId = 2;
  try {
    c.validate();
  } catch (const LmError& e) {
    throw LmError("'" + name + "': " + e.what());
  }
  // Every field is at most 2^24, so each product below fits in 128 bits; the total must fit in the file.
  using U = unsigned __int128;
  const U D = static_cast<U>(c.dim), Hd = static_cast<U>(c.hiddenDim), L = static_cast<U>(c.nLayers),
          V = static_cast<U>(c.vocabSize), hd = static_cast<U>(c.effectiveHeadDim());
  const U qOut = static_cast<U>(c.nHeads) * hd, kvOut = static_cast<U>(c.nKvHeads) * hd;
  const U floats = V * D + L * D + L * D * qOut + 2 * L * D * kvOut + L * qOut * D + L * D + 3 * L * D * Hd + D +
                   static_cast<U>(c.maxSeqLen) * hd + (c.tiedEmbeddings ? 0 : V * D);
  const U expected = 28 + 4 * floats;
  if (expected != static_cast<U>(size)) {
    const std::string need = expected > static_cast<U>(UINT64_MAX) ? std::string("more than 2^64") :
                             std::to_string(static_cast<std::uint64_t>(expected));
    throw LmError("'" + name + "' has " + std::to_string(size) + " bytes but its header (dim " + std::to_string(c.dim) +
                  ", hidden " + std::to_string(c.hiddenDim) + ", layers " + std::to_string(c.nLayers) + ", heads " +
                  std::to_string(c.nHeads) + "/" + std::to_string(c.nKvHeads) + ", vocab " + std::to_string(h[5]) +
                  ", seq_len " + std::to_string(c.maxSeqLen) + ") needs " + need);
  }
  out.floats = static_cast<std::uint64_t>(floats);
  out.expectedBytes = static_cast<std::uint64_t>(expected);
  return out;
}

}  // namespace atomscope::lm
