// libFuzzer target for the tokenizer file parsers: llama2.c tokenizer.bin, GPT-2 vocab.json + merges.txt,
// Hugging Face tokenizer.json, and the GPT-2 pre-tokeniser on arbitrary bytes. Whatever the input, the
// parsers must either load or throw LmError; a loaded tokenizer must encode and decode without crashing,
// and byte-level GPT-2 decoding must give back the encoded bytes.
// The first input byte picks the parser; for vocab.json + merges.txt a NUL byte separates the two files.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "atomscope/lm/bpe_tokenizer.h"
#include "atomscope/lm/tokenizer_llama2c.h"

using atomscope::lm::Gpt2BpeTokenizer;
using atomscope::lm::Llama2cTokenizer;
using atomscope::lm::LmError;
using atomscope::lm::Tokenizer;

namespace {

const std::string kProbe = "Once upon a time, caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD! 42 <|endoftext|>\n\xFF";

void exercise(const Tokenizer& t, const std::string& extra) {
  for (const std::string* text : {&kProbe, &extra}) {
    const auto ids = t.encode(*text, true, true);
    for (auto id : ids)
      if (id < 0 || id >= t.vocabSize()) std::abort();  // an encoder must never invent ids
    (void)t.decode(ids);
  }
  for (std::int32_t id : {0, t.vocabSize() - 1}) (void)t.tokenText(id);
  try {
    (void)t.decode({t.vocabSize()});
    std::abort();  // out of range must throw
  } catch (const LmError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string extra = in.substr(0, 256);
  try {
    switch (data[0] % 4) {
      case 0: {
        const auto t = Llama2cTokenizer::fromBytes(in, "fuzz.bin");
        exercise(t, extra);
        break;
      }
      case 1: {
        const auto nul = in.find('\0');
        const auto t = Gpt2BpeTokenizer::fromStrings(in.substr(0, nul), nul == std::string::npos ? "" : in.substr(nul + 1),
                                                     "fuzz_vocab.json", "fuzz_merges.txt");
        exercise(*t, extra);
        break;
      }
      case 2: {
        const auto t = Gpt2BpeTokenizer::fromTokenizerJsonString(in, "fuzz_tokenizer.json");
        exercise(*t, extra);
        break;
      }
      default: {
        // Pre-tokenise arbitrary bytes: the pieces must tile the input exactly.
        std::string joined;
        for (auto p : atomscope::lm::gpt2Pretokenize(in)) {
          if (p.empty()) std::abort();
          joined.append(p);
        }
        if (joined != in) std::abort();
        break;
      }
    }
  } catch (const LmError&) {
    // expected for malformed files
  }
  return 0;
}
