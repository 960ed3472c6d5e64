// Unicode classes for the GPT-2 pre-tokenisation regex, and the regex itself written by hand
// (std::regex has no \p{L}). See bpe_tokenizer.h for what is and is not covered.
#include <algorithm>

#include "atomscope/lm/bpe_tokenizer.h"

namespace atomscope::lm {

namespace {

struct CodeRange {
  char32_t first, last;
};

#include "tokenizer_unicode_tables.inc"

template <std::size_t N>
bool inRanges(const CodeRange (&table)[N], char32_t cp) {
  auto it = std::upper_bound(std::begin(table), std::end(table), cp,
                             [](char32_t c, const CodeRange& r) { return c < r.first; });
  if (it == std::begin(table)) return false;
  --it;
  return cp <= it->last;
}

constexpr char32_t kInvalid = 0x110000;  // marks a malformed UTF-8 byte: neither letter, number nor space

// Decodes one code point at text[i]; returns its length in bytes (1 for a malformed byte, cp = kInvalid).
std::size_t decodeUtf8(std::string_view s, std::size_t i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  const std::size_t left = s.size() - i;
  auto cont = [&](std::size_t k) { return k < left && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80; };
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  if (b0 >= 0xC2 && b0 <= 0xDF && cont(1)) {
    cp = (static_cast<char32_t>(b0 & 0x1F) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3F);
    return 2;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF && cont(1) && cont(2)) {
    char32_t c = (static_cast<char32_t>(b0 & 0x0F) << 12) | ((static_cast<unsigned char>(s[i + 1]) & 0x3F) << 6) |
                 (static_cast<unsigned char>(s[i + 2]) & 0x3F);
    if (c >= 0x800 && (c < 0xD800 || c > 0xDFFF)) {
      cp = c;
      return 3;
    }
  }
  if (b0 >= 0xF0 && b0 <= 0xF4 && cont(1) && cont(2) && cont(3)) {
    char32_t c = (static_cast<char32_t>(b0 & 0x07) << 18) | ((static_cast<unsigned char>(s[i + 1]) & 0x3F) << 12) |
                 ((static_cast<unsigned char>(s[i + 2]) & 0x3F) << 6) | (static_cast<unsigned char>(s[i + 3]) & 0x3F);
    if (c >= 0x10000 && c <= 0x10FFFF) {
      cp = c;
      return 4;
    }
  }
  cp = kInvalid;
  return 1;
}

enum class Cls : unsigned char { Letter, Number, Space, Other };

Cls classify(char32_t cp) {
  if (cp < 0x80) {
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return Cls::Letter;
    if (cp >= '0' && cp <= '9') return Cls::Number;
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return Cls::Space;
    return Cls::Other;
  }
  if (cp == kInvalid) return Cls::Other;
  if (isUnicodeWhitespace(cp)) return Cls::Space;
  if (isUnicodeLetter(cp)) return Cls::Letter;
  if (isUnicodeNumber(cp)) return Cls::Number;
  return Cls::Other;
}

}  // namespace

bool isUnicodeLetter(char32_t cp) { return inRanges(kLetterRanges, cp); }
bool isUnicodeNumber(char32_t cp) { return inRanges(kNumberRanges, cp); }

bool isUnicodeWhitespace(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

std::vector<std::string_view> gpt2Pretokenize(std::string_view text) {
  // Code points with their byte offsets and classes.
  struct Cp {
    char32_t cp;
    std::uint32_t off;
    Cls cls;
  };
  std::vector<Cp> cps;
  cps.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp;
    const std::size_t len = decodeUtf8(text, i, cp);
    cps.push_back({cp, static_cast<std::uint32_t>(i), classify(cp)});
    i += len;
  }
  const std::size_t n = cps.size();
  auto offsetOf = [&](std::size_t k) { return k < n ? cps[k].off : static_cast<std::uint32_t>(text.size()); };
  auto runOf = [&](std::size_t k, Cls c) {
    while (k < n && cps[k].cls == c) ++k;
    return k;
  };

  std::vector<std::string_view> out;
  out.reserve(text.size() / 4 + 1);
  std::size_t i = 0;
  while (i < n) {
    std::size_t end = i;
    const char32_t c = cps[i].cp;
    const Cls cls = cps[i].cls;
    // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive, as in GPT-2)
    if (c == '\'' && i + 1 < n) {
      const char32_t c1 = cps[i + 1].cp;
      if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
        end = i + 2;
      } else if (i + 2 < n) {
        const char32_t c2 = cps[i + 2].cp;
        if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) end = i + 3;
      }
    }
    if (end == i) {
      const bool spaceLead = c == ' ' && i + 1 < n;
      const Cls nextCls = spaceLead ? cps[i + 1].cls : Cls::Space;
      if (cls == Cls::Letter) {
        end = runOf(i, Cls::Letter);  //  ?\p{L}+
      } else if (spaceLead && nextCls == Cls::Letter) {
        end = runOf(i + 1, Cls::Letter);
      } else if (cls == Cls::Number) {
        end = runOf(i, Cls::Number);  //  ?\p{N}+
      } else if (spaceLead && nextCls == Cls::Number) {
        end = runOf(i + 1, Cls::Number);
      } else if (cls == Cls::Other) {
        end = runOf(i, Cls::Other);  //  ?[^\s\p{L}\p{N}]+
      } else if (spaceLead && nextCls == Cls::Other) {
        end = runOf(i + 1, Cls::Other);
      } else {
        // \s+(?!\S) | \s+ : a whitespace run; when a non-space follows, its last character is left
        // to start the next piece (unless the run is a single character).
        const std::size_t j = runOf(i, Cls::Space);
        end = (j == n || j - i == 1) ? j : j - 1;
      }
    }
    out.emplace_back(text.data() + offsetOf(i), offsetOf(end) - offsetOf(i));
    i = end;
  }
  return out;
}

const std::array<char32_t, 256>& gpt2ByteToUnicode() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    std::array<bool, 256> direct{};
    for (int b = '!'; b <= '~'; ++b) direct[b] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) direct[b] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) direct[b] = true;
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) t[b] = direct[b] ? static_cast<char32_t>(b) : next++;
    return t;
  }();
  return table;
}

}  // namespace atomscope::lm
