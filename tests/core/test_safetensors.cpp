// safetensors reader/writer and its torch conversion (tensor_io), on files nobody here wrote:
// the two Hugging Face GPT-2 files in ../shared/data/lm and a file written by Hugging Face's own
// `safetensors` package (tests/core/data/safetensors, made by tests/core/data/make_safetensors_reference.py).
#include <gtest/gtest.h>

#include "test_util.h"

#include <ATen/ATen.h>
#include <torch/version.h>
#include <ftw.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>

#include "atomscope/core/json.h"
#include "atomscope/core/safetensors.h"
#include "atomscope/core/tensor_io.h"

namespace fs = std::filesystem;
using namespace atomscope::core;

namespace {

const fs::path kShared = ATOMSCOPE_SHARED_DATA_DIR;
const fs::path kData = fs::path(ATOMSCOPE_SOURCE_DIR) / "tests/core/data";

std::vector<std::uint8_t> readBytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void writeBytes(const fs::path& p, const std::vector<std::uint8_t>& b) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

atomscope::Json readJson(const fs::path& p) {
  std::ifstream f(p);
  return atomscope::Json::parse(f);
}

class TempDir : public atomscope::test::ScopedTempDir {
 public:
  TempDir() : ScopedTempDir("atomscope_st") {}
};

// IEEE half and bfloat16 to double, for checking values by hand.
double halfToDouble(std::uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
  double v;
  if (exp == 0) v = std::ldexp(man, -24);
  else if (exp == 31) v = man ? NAN : INFINITY;
  else v = std::ldexp(man + 1024, exp - 25);
  return sign ? -v : v;
}
double bf16ToDouble(std::uint16_t b) {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Element i of raw little-endian bytes as double (integers exactly when |v| < 2^53).
double elementAsDouble(const std::uint8_t* p, DType t, std::size_t i) {
  auto get = [&](auto zero) {
    decltype(zero) v;
    std::memcpy(&v, p + i * sizeof(v), sizeof(v));
    return v;
  };
  switch (t) {
    case DType::F64: return get(double{});
    case DType::F32: return get(float{});
    case DType::F16: return halfToDouble(get(std::uint16_t{}));
    case DType::BF16: return bf16ToDouble(get(std::uint16_t{}));
    case DType::I64: return static_cast<double>(get(std::int64_t{}));
    case DType::I32: return get(std::int32_t{});
    case DType::I16: return get(std::int16_t{});
    case DType::I8: return get(std::int8_t{});
    case DType::U8: return get(std::uint8_t{});
    case DType::U16: return get(std::uint16_t{});
    case DType::U32: return get(std::uint32_t{});
    case DType::U64: return static_cast<double>(get(std::uint64_t{}));
    case DType::BOOL: return get(std::uint8_t{});
  }
  return NAN;
}

// The file image of a safetensors file with the given header text and data bytes.
std::vector<std::uint8_t> image(const std::string& header, std::size_t dataBytes, std::uint64_t declared = UINT64_MAX) {
  std::vector<std::uint8_t> b(8 + header.size() + dataBytes, 0);
  const std::uint64_t n = declared == UINT64_MAX ? header.size() : declared;
  std::memcpy(b.data(), &n, 8);
  std::memcpy(b.data() + 8, header.data(), header.size());
  for (std::size_t i = 0; i < dataBytes; ++i) b[8 + header.size() + i] = static_cast<std::uint8_t>(i * 7 + 1);
  return b;
}

// Writes bytes to a file and expects SafetensorsError whose message names the file and contains `needle`.
void expectBad(const TempDir& dir, const std::string& name, const std::vector<std::uint8_t>& bytes,
               const std::string& needle) {
  const fs::path p = dir / (name + ".safetensors");
  writeBytes(p, bytes);
  try {
    SafetensorsReader::open(p);
    ADD_FAILURE() << name << ": opened without error";
  } catch (const SafetensorsError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(p.string()), std::string::npos) << name << ": message does not name the file: " << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << name << ": expected '" << needle << "' in: " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << name << ": threw a non-SafetensorsError: " << e.what();
  }
}

struct HfModel {
  std::string dir;
  std::string prefix;  // GPT2LMHeadModel keeps "transformer."; GPT2Model has none
};

}  // namespace

// --- real files nobody here wrote -------------------------------------------------------------

TEST(SafetensorsReal, Gpt2ShapesAgreeWithConfigAndValuesWithReference) {
  // Reference numbers: Hugging Face safetensors 0.8.0 (safetensors.numpy.load_file) on the same
  // files, tests/core/data/safetensors/hf_gpt2_stats.json.
  const auto stats = readJson(kData / "safetensors/hf_gpt2_stats.json");
  for (const HfModel& m : {HfModel{"fake_gpt2_random", "transformer."}, HfModel{"tiny_gpt2_random_vocab21", ""}}) {
    SCOPED_TRACE(m.dir);
    const fs::path dir = kShared / "lm" / m.dir;
    const auto config = readJson(dir / "config.json");
    const std::int64_t E = config["n_embd"], V = config["vocab_size"], P = config["n_positions"];
    const int L = config["n_layer"];
    const std::int64_t inner = config["n_inner"].is_null() ? 4 * E : config["n_inner"].get<std::int64_t>();
    ASSERT_EQ(config["torch_dtype"], "float32");

    // GPT-2 (transformers' GPT2Model) parameters; Conv1D weights are stored [in, out].
    std::map<std::string, std::vector<std::int64_t>> expected = {
        {"wte.weight", {V, E}}, {"wpe.weight", {P, E}}, {"ln_f.weight", {E}}, {"ln_f.bias", {E}}};
    for (int l = 0; l < L; ++l) {
      const std::string h = "h." + std::to_string(l) + ".";
      expected[h + "ln_1.weight"] = {E};
      expected[h + "ln_1.bias"] = {E};
      expected[h + "ln_2.weight"] = {E};
      expected[h + "ln_2.bias"] = {E};
      expected[h + "attn.c_attn.weight"] = {E, 3 * E};
      expected[h + "attn.c_attn.bias"] = {3 * E};
      expected[h + "attn.c_proj.weight"] = {E, E};
      expected[h + "attn.c_proj.bias"] = {E};
      expected[h + "mlp.c_fc.weight"] = {E, inner};
      expected[h + "mlp.c_fc.bias"] = {inner};
      expected[h + "mlp.c_proj.weight"] = {inner, E};
      expected[h + "mlp.c_proj.bias"] = {E};
    }

    const auto reader = SafetensorsReader::open(dir / "model.safetensors");
    EXPECT_EQ(reader.size(), expected.size());
    EXPECT_EQ(reader.metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));
    const auto& ref = stats["files"][m.dir]["tensors"];
    EXPECT_EQ(ref.size(), reader.size());
    for (const auto& [suffix, shape] : expected) {
      const std::string name = m.prefix + suffix;
      SCOPED_TRACE(name);
      ASSERT_TRUE(reader.contains(name));
      const TensorInfo& info = reader.info(name);
      EXPECT_EQ(info.dtype, DType::F32);
      EXPECT_EQ(info.shape, shape);
      ASSERT_TRUE(ref.contains(name));
      EXPECT_EQ(ref[name]["shape"].get<std::vector<std::int64_t>>(), shape);
      auto bytes = reader.bytes(name);
      ASSERT_EQ(bytes.size(), info.numel() * 4);
      double sum = 0, mn = INFINITY, mx = -INFINITY;
      for (std::size_t i = 0; i < info.numel(); ++i) {
        const double v = elementAsDouble(bytes.data(), DType::F32, i);
        ASSERT_TRUE(std::isfinite(v));
        sum += v;
        mn = std::min(mn, v);
        mx = std::max(mx, v);
        if (i < 4) EXPECT_EQ(v, ref[name]["first"][i].get<double>());
      }
      const double absSum = ref[name]["abs_sum"];
      EXPECT_NEAR(sum, ref[name]["sum"].get<double>(), 1e-12 * std::max(1.0, absSum));
      EXPECT_EQ(mn, ref[name]["min"].get<double>());
      EXPECT_EQ(mx, ref[name]["max"].get<double>());
    }
  }
}

TEST(SafetensorsReal, FileLayoutFacts) {
  // Sizes from ../shared/data/README.md (411960 bytes) and the file's own 8-byte prefix (1392).
  const auto reader = SafetensorsReader::open(kShared / "lm/fake_gpt2_random/model.safetensors");
  EXPECT_EQ(reader.fileSize(), 411960u);
  EXPECT_EQ(reader.headerSize(), 1392u);
  // The data region is tiled exactly: the last tensor (by offset) ends at the end of the file.
  const auto& last = reader.tensors().back();
  EXPECT_EQ(8 + reader.headerSize() + last.end, reader.fileSize());
  EXPECT_EQ(last.name, "transformer.wte.weight");
}

// --- the reference library's own output -------------------------------------------------------

TEST(SafetensorsReference, ReadsEveryDtypeWrittenByHuggingFaceSafetensors) {
  // reference_all_dtypes.safetensors: safetensors.torch.save_file (safetensors 0.8.0, torch 2.11);
  // the values are what safetensors.torch.load_file read back (reference_all_dtypes.json).
  const auto desc = readJson(kData / "safetensors/reference_all_dtypes.json");
  const auto reader = SafetensorsReader::open(kData / "safetensors/reference_all_dtypes.safetensors");
  EXPECT_EQ(reader.fileSize(), desc["file_size"].get<std::uint64_t>());
  EXPECT_EQ(reader.metadata().at("format"), "pt");
  const std::map<std::string, DType> torchNames = {
      {"torch.float64", DType::F64}, {"torch.float32", DType::F32},  {"torch.float16", DType::F16},
      {"torch.bfloat16", DType::BF16}, {"torch.int64", DType::I64},  {"torch.int32", DType::I32},
      {"torch.int16", DType::I16},   {"torch.int8", DType::I8},      {"torch.uint8", DType::U8},
      {"torch.uint16", DType::U16},  {"torch.uint32", DType::U32},   {"torch.uint64", DType::U64},
      {"torch.bool", DType::BOOL}};
  ASSERT_EQ(reader.size(), desc["tensors"].size());
  std::set<DType> seen;
  for (const auto& [name, t] : desc["tensors"].items()) {
    SCOPED_TRACE(name);
    const TensorInfo& info = reader.info(name);
    EXPECT_EQ(info.dtype, torchNames.at(t["dtype"]));
    seen.insert(info.dtype);
    EXPECT_EQ(info.shape, t["shape"].get<std::vector<std::int64_t>>());
    const auto bytes = reader.bytes(name);
    ASSERT_EQ(t["values"].size(), info.numel());
    for (std::size_t i = 0; i < info.numel(); ++i) {
      const auto& v = t["values"][i];
      if (info.dtype == DType::U64) {
        std::uint64_t u;
        std::memcpy(&u, bytes.data() + 8 * i, 8);
        EXPECT_EQ(u, v.get<std::uint64_t>());
      } else if (info.dtype == DType::I64) {
        std::int64_t s;
        std::memcpy(&s, bytes.data() + 8 * i, 8);
        EXPECT_EQ(s, v.get<std::int64_t>());
      } else if (v.is_boolean()) {
        EXPECT_EQ(elementAsDouble(bytes.data(), info.dtype, i), v.get<bool>() ? 1.0 : 0.0);
      } else {
        EXPECT_EQ(elementAsDouble(bytes.data(), info.dtype, i), v.get<double>());
      }
    }
  }
  EXPECT_EQ(seen.size(), allDTypes().size()) << "the reference file covers every dtype";
}

TEST(SafetensorsReference, WriterIsByteIdenticalToHuggingFaceSafetensors) {
  // Same tensors, added in a scrambled order: our serializer must produce the reference file byte
  // for byte (ordering by dtype alignment then name, compact JSON, space padding to 8 bytes).
  const fs::path ref = kData / "safetensors/reference_all_dtypes.safetensors";
  const auto reader = SafetensorsReader::open(ref);
  auto names = reader.names();
  std::mt19937 rng(7);
  std::shuffle(names.begin(), names.end(), rng);
  SafetensorsWriter w;
  for (const auto& name : names) {
    const auto& info = reader.info(name);
    auto b = reader.bytes(name);
    w.add(name, info.dtype, info.shape, std::vector<std::uint8_t>(b.begin(), b.end()));
  }
  const auto expected = readBytes(ref);
  EXPECT_EQ(w.serialize({{"format", "pt"}}), expected);
  const auto desc = readJson(kData / "safetensors/reference_all_dtypes.json");
  EXPECT_EQ(w.header({{"format", "pt"}}), desc["header"].get<std::string>());

  TempDir dir;
  w.write(dir / "out.safetensors", {{"format", "pt"}});
  EXPECT_EQ(readBytes(dir / "out.safetensors"), expected);
}

TEST(SafetensorsReference, SerializerUnitVectorsFromReferenceTests) {
  // Byte vectors from huggingface/safetensors safetensors/src/tensor.rs tests
  // (test_serialization, test_serialization_forced_alignement, test_empty).
  std::vector<std::uint8_t> data;
  for (float f : {0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f}) {
    std::uint8_t b[4];
    std::memcpy(b, &f, 4);
    data.insert(data.end(), b, b + 4);
  }
  {
    SafetensorsWriter w;
    w.add("attn.0", DType::F32, {1, 2, 3}, data);
    const std::vector<std::uint8_t> expected = {
        64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34,
        58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100,
        97, 116, 97, 95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0,
        0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64};
    EXPECT_EQ(w.serialize(), expected);
  }
  {
    SafetensorsWriter w;
    w.add("attn0", DType::F32, {1, 1, 2, 3}, data);
    const auto out = w.serialize();
    ASSERT_EQ(out.size(), 8u + 72u + 24u);
    EXPECT_EQ(out[0], 72);
    EXPECT_EQ(std::string(out.begin() + 8 + 65, out.begin() + 8 + 72), std::string(7, ' '));
    const auto r = SafetensorsReader::fromBytes(out);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(r.data("attn0")) % 4, 0u);
  }
  {
    SafetensorsWriter w;
    EXPECT_EQ(w.serialize(), (std::vector<std::uint8_t>{8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32}));
    const std::vector<std::uint8_t> withMeta = {
        40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95, 95, 34, 58, 123,
        34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112, 116, 34, 125, 125, 32, 32, 32, 32, 32};
    EXPECT_EQ(w.serialize({{"framework", "pt"}}), withMeta);
    const auto r = SafetensorsReader::fromBytes(withMeta);
    EXPECT_EQ(r.size(), 0u);
    EXPECT_EQ(r.metadata().at("framework"), "pt");
  }
}

// --- round trips --------------------------------------------------------------------------------

TEST(SafetensorsRoundTrip, EveryDtypeBitExact) {
  TempDir dir;
  std::mt19937 rng(1234);
  SafetensorsWriter w;
  std::map<std::string, std::vector<std::uint8_t>> sent;
  for (DType t : allDTypes()) {
    std::vector<std::uint8_t> b(3 * 5 * dtypeSize(t));
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    if (t == DType::BOOL)
      for (auto& x : b) x &= 1;
    if (t == DType::F16 || t == DType::BF16) {  // include NaN payloads, infinities, -0 and subnormals
      const std::uint16_t specials[] = {0x7E01, 0xFC00, 0x8000, 0x0001, 0x7F81};
      std::memcpy(b.data(), specials, sizeof(specials));
    }
    const std::string name = std::string("t_") + dtypeName(t);
    sent[name] = b;
    w.add(name, t, {3, 5}, b);
  }
  w.write(dir / "all.safetensors");
  const auto r = SafetensorsReader::open(dir / "all.safetensors");
  ASSERT_EQ(r.size(), allDTypes().size());
  for (DType t : allDTypes()) {
    const std::string name = std::string("t_") + dtypeName(t);
    SCOPED_TRACE(name);
    EXPECT_EQ(r.info(name).dtype, t);
    EXPECT_EQ(r.info(name).shape, (std::vector<std::int64_t>{3, 5}));
    auto b = r.bytes(name);
    EXPECT_EQ(std::vector<std::uint8_t>(b.begin(), b.end()), sent[name]);
  }
  // Every tensor's data is aligned to its element size in the file (the reference's ordering).
  for (const auto& info : r.tensors()) EXPECT_EQ((8 + r.headerSize() + info.begin) % dtypeSize(info.dtype), 0u);
  // No temporary file is left next to the output.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(SafetensorsRoundTrip, MetadataScalarsAndEmptyTensors) {
  TempDir dir;
  const std::map<std::string, std::string> meta = {
      {"format", "pt"}, {"note", "quotes \" backslash \\ newline \n tab \t"}, {"unicode", "Å ångström λ 原子"}, {"", "empty key"}};
  SafetensorsWriter w;
  const float s = 2.5f;
  std::vector<std::uint8_t> sb(4);
  std::memcpy(sb.data(), &s, 4);
  w.add("scalar", DType::F32, {}, sb);
  w.add("empty0", DType::F64, {0}, {});
  w.add("empty_mid", DType::I32, {2, 0, 3}, {});
  w.add("one", DType::U8, {1}, {42});
  w.write(dir / "m.safetensors", meta);
  const auto r = SafetensorsReader::open(dir / "m.safetensors");
  EXPECT_EQ(r.metadata(), meta);
  EXPECT_EQ(r.info("scalar").shape, std::vector<std::int64_t>{});
  EXPECT_EQ(r.info("scalar").numel(), 1u);
  EXPECT_EQ(elementAsDouble(r.data("scalar"), DType::F32, 0), 2.5);
  EXPECT_EQ(r.info("empty0").numel(), 0u);
  EXPECT_EQ(r.info("empty_mid").shape, (std::vector<std::int64_t>{2, 0, 3}));
  EXPECT_EQ(r.bytes("empty_mid").size(), 0u);
  EXPECT_EQ(r.data("one")[0], 42);

  // A file with no tensors at all and no metadata.
  SafetensorsWriter none;
  none.write(dir / "none.safetensors");
  const auto r2 = SafetensorsReader::open(dir / "none.safetensors");
  EXPECT_EQ(r2.size(), 0u);
  EXPECT_TRUE(r2.metadata().empty());
}

TEST(SafetensorsWriter, RefusesInconsistentTensors) {
  SafetensorsWriter w;
  w.add("a", DType::F32, {2}, std::vector<std::uint8_t>(8));
  EXPECT_THROW(w.add("a", DType::F32, {2}, std::vector<std::uint8_t>(8)), SafetensorsError);
  EXPECT_THROW(w.add("b", DType::F32, {3}, std::vector<std::uint8_t>(8)), SafetensorsError);
  EXPECT_THROW(w.add("c", DType::F16, {-1}, {}), SafetensorsError);
  EXPECT_THROW(w.add("__metadata__", DType::U8, {1}, {1}), SafetensorsError);
  EXPECT_THROW(w.add("d", DType::F64, {1LL << 40, 1LL << 40}, {}), SafetensorsError);
  try {
    w.add("wrong_size", DType::BF16, {4}, std::vector<std::uint8_t>(3));
    FAIL();
  } catch (const SafetensorsError& e) {
    EXPECT_NE(std::string(e.what()).find("wrong_size"), std::string::npos);
  }
  EXPECT_EQ(w.size(), 1u);
  TempDir dir;
  EXPECT_THROW(w.write(dir / "no_such_dir" / "x.safetensors"), SafetensorsError);
}

// --- bad files ----------------------------------------------------------------------------------

TEST(SafetensorsBadFiles, EachRaisesSafetensorsErrorNamingTheFile) {
  TempDir dir;
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  ASSERT_NO_THROW(SafetensorsReader::fromBytes(image(ok, 8)));  // the base case is valid

  expectBad(dir, "empty", {}, "too short");
  expectBad(dir, "five_bytes", {1, 2, 3, 4, 5}, "too short");
  auto truncated = image(ok, 8);
  truncated.pop_back();
  expectBad(dir, "truncated_data", truncated, "past the data region");
  const auto full = image(ok, 8);
  expectBad(dir, "truncated_header", std::vector<std::uint8_t>(full.begin(), full.begin() + 30), "past the end of the file");
  expectBad(dir, "header_len_beyond_file", image(ok, 8, ok.size() + 9), "past the end of the file");
  expectBad(dir, "absurd_header_len", image(ok, 8, 100'000'001), "exceeds the limit");
  expectBad(dir, "huge_header_len", image(ok, 8, UINT64_MAX - 3), "exceeds the limit");
  expectBad(dir, "zero_header_len", image(ok, 8, 0), "header is empty");
  expectBad(dir, "not_json", image("{not json at all", 0), "not valid JSON");
  expectBad(dir, "json_array", image("[1,2,3]", 0), "expected an object");
  expectBad(dir, "invalid_utf8", image("{\"a\xff\":1}", 0), "not valid JSON");
  expectBad(dir, "overlap",
            image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
            "overlap");
  expectBad(dir, "gap",
            image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12),
            "gap");
  expectBad(dir, "out_of_range", image(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8), "past the data region");
  expectBad(dir, "huge_offsets",
            image(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551614,18446744073709551615]}})", 8), "gap");
  expectBad(dir, "end_before_begin", image(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8), "end before");
  expectBad(dir, "dtype_shape_mismatch", image(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "needs 12");
  expectBad(dir, "trailing_bytes", image(ok, 12), "trailing bytes");
  expectBad(dir, "unknown_dtype", image(R"({"a":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}})", 8), "unsupported dtype");
  expectBad(dir, "dtype_not_string", image(R"({"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", 8), "\"dtype\"");
  expectBad(dir, "negative_dim", image(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), "non-negative");
  expectBad(dir, "float_dim", image(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8), "non-negative");
  expectBad(dir, "overflowing_shape",
            image(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})", 8), "overflows");
  expectBad(dir, "missing_offsets", image(R"({"a":{"dtype":"F32","shape":[2]}})", 8), "missing \"data_offsets\"");
  expectBad(dir, "offsets_wrong_arity", image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}})", 8), "data_offsets");
  expectBad(dir, "missing_shape", image(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8), "missing \"shape\"");
  expectBad(dir, "entry_not_object", image(R"({"a":[1,2]})", 0), "expected an object");
  expectBad(dir, "duplicate_tensor",
            image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
            "duplicate key");
  expectBad(dir, "metadata_not_string", image(R"({"__metadata__":{"epoch":3}})", 0), "expected a string");
  expectBad(dir, "metadata_not_object", image(R"({"__metadata__":"pt"})", 0), "expected an object");
  expectBad(dir, "deep_nesting", image(std::string(200, '[') + std::string(200, ']'), 0), "nests deeper");
  expectBad(dir, "npy_file", readBytes(kData / "npy/f4_3x4.npy"), "");

  // Not a regular file, and a missing file.
  for (const fs::path& p : {dir.path(), dir / "missing.safetensors"}) {
    try {
      SafetensorsReader::open(p);
      ADD_FAILURE() << p;
    } catch (const SafetensorsError& e) {
      EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
    }
  }
  // A tensor name that is not there.
  const auto r = SafetensorsReader::fromBytes(image(ok, 8), "mem.safetensors");
  try {
    r.info("b");
    FAIL();
  } catch (const SafetensorsError& e) {
    EXPECT_NE(std::string(e.what()).find("'b'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("mem.safetensors"), std::string::npos);
  }
}

TEST(SafetensorsBadFiles, RegressionInputs) {
  // tests/core/data/regressions: hostile inputs (make_hostile_inputs.py) and any input a fuzzer
  // (tests/fuzz) made crash. Files named ok_* must load; every other one must raise
  // SafetensorsError naming the file, from disk and from memory alike.
  const fs::path dir = kData / "regressions";
  int count = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".safetensors") continue;
    ++count;
    SCOPED_TRACE(e.path().string());
    const bool shouldLoad = e.path().filename().string().rfind("ok_", 0) == 0;
    const auto bytes = readBytes(e.path());
    for (int fromMemory = 0; fromMemory < 2; ++fromMemory) {
      try {
        const auto r = fromMemory ? SafetensorsReader::fromBytes(bytes, e.path().string()) : SafetensorsReader::open(e.path());
        EXPECT_TRUE(shouldLoad) << "loaded " << r.size() << " tensors";
        for (const auto& t : r.tensors()) EXPECT_EQ(r.bytes(t.name).size(), t.numel() * dtypeSize(t.dtype));
      } catch (const SafetensorsError& err) {
        EXPECT_FALSE(shouldLoad) << err.what();
        EXPECT_NE(std::string(err.what()).find(e.path().string()), std::string::npos) << err.what();
      }
    }
  }
  EXPECT_GE(count, 5) << "regression inputs are missing from " << dir;
}

// --- torch conversion ---------------------------------------------------------------------------

TEST(TensorIo, LoadRealModelAsTorchTensors) {
  // Reference: hf_gpt2_stats.json (Hugging Face safetensors 0.8.0 on the same file).
  const auto stats = readJson(kData / "safetensors/hf_gpt2_stats.json");
  const auto& ref = stats["files"]["fake_gpt2_random"]["tensors"];
  for (bool zeroCopy : {false, true}) {
    auto tensors = loadSafetensors(kShared / "lm/fake_gpt2_random/model.safetensors", {zeroCopy});
    ASSERT_EQ(tensors.size(), ref.size());
    const at::Tensor& wte = tensors.at("transformer.wte.weight");
    EXPECT_EQ(wte.sizes().vec(), (std::vector<std::int64_t>{50257, 2}));
    EXPECT_EQ(wte.scalar_type(), at::kFloat);
    for (const auto& [name, t] : tensors) {
      EXPECT_TRUE(at::isfinite(t).all().item<bool>()) << name;
      EXPECT_NEAR(t.to(at::kDouble).sum().item<double>(), ref[name]["sum"].get<double>(),
                  1e-12 * std::max(1.0, ref[name]["abs_sum"].get<double>()))
          << name;
    }
  }
}

TEST(TensorIo, SaveLoadRoundTripTorchDtypes) {
  TempDir dir;
  at::manual_seed(0);
  std::map<std::string, at::Tensor> in = {
      {"f64", at::randn({3, 4}, at::kDouble)},
      {"f32_transposed", at::randn({4, 3}).t()},  // non-contiguous input
      {"f16", at::randn({5}).to(at::kHalf)},
      {"bf16", at::randn({2, 2, 2}).to(at::kBFloat16)},
      {"i64", at::randint(-1000000, 1000000, {6}, at::kLong)},
      {"i32", at::randint(-1000, 1000, {2, 3}, at::kInt)},
      {"i16", at::randint(-300, 300, {4}, at::kShort)},
      {"i8", at::randint(-128, 127, {4}, at::kChar)},
      {"u8", at::randint(0, 255, {4}, at::kByte)},
      {"bool", at::rand({7}) > 0.5},
      {"scalar", at::scalar_tensor(3.25, at::kFloat)},
      {"empty", at::empty({0, 4}, at::kFloat)},
  };
  saveSafetensors(dir / "t.safetensors", in, {{"format", "pt"}});
  const auto r = SafetensorsReader::open(dir / "t.safetensors");
  EXPECT_EQ(r.metadata().at("format"), "pt");
  EXPECT_EQ(r.info("bf16").dtype, DType::BF16);
  EXPECT_EQ(r.info("f32_transposed").shape, (std::vector<std::int64_t>{3, 4}));
  for (bool zeroCopy : {false, true}) {
    const auto out = loadSafetensors(dir / "t.safetensors", {zeroCopy});
    ASSERT_EQ(out.size(), in.size());
    for (const auto& [name, t] : in) {
      SCOPED_TRACE(name);
      const at::Tensor& u = out.at(name);
      EXPECT_EQ(u.scalar_type(), t.scalar_type());
      EXPECT_EQ(u.sizes(), t.sizes());
      EXPECT_TRUE(at::equal(u, t));  // bit-exact for f16/bf16 too (no NaNs here)
    }
  }
}

TEST(TensorIo, ZeroCopyViewKeepsTheMapAliveAndNeverWritesTheFile) {
  TempDir dir;
  const at::Tensor src = at::arange(16, at::kFloat).reshape({4, 4});
  saveSafetensors(dir / "z.safetensors", {{"w", src}});
  const auto before = readBytes(dir / "z.safetensors");

  auto reader = std::make_shared<const SafetensorsReader>(SafetensorsReader::open(dir / "z.safetensors"));
  std::weak_ptr<const SafetensorsReader> weak = reader;
  at::Tensor view = toTensor(reader, "w", {/*zeroCopy=*/true});
  at::Tensor copy = toTensor(reader, "w");
  EXPECT_TRUE(isZeroCopyView(view, *reader));
  EXPECT_FALSE(isZeroCopyView(copy, *reader));
  EXPECT_EQ(view.data_ptr(), static_cast<const void*>(reader->data("w")));

  reader.reset();  // the caller drops its reader: the tensor's deleter still holds it
  EXPECT_FALSE(weak.expired());
  EXPECT_TRUE(at::equal(view, src));
  view.add_(100.0);  // in-place write: private copy-on-write pages only
  EXPECT_EQ(view[0][0].item<float>(), 100.0f);
  EXPECT_EQ(readBytes(dir / "z.safetensors"), before) << "the file must not change";
  at::Tensor slice = view.slice(0, 1, 3);  // a view of the view shares the storage
  view = at::Tensor();
  EXPECT_FALSE(weak.expired());
  EXPECT_EQ(slice[0][0].item<float>(), 104.0f);
  slice = at::Tensor();
  EXPECT_TRUE(weak.expired()) << "the map is released with the last tensor";
}

TEST(TensorIo, ZeroCopyFallsBackToACopyWhenMisaligned) {
  // A header of odd length (allowed by the format; other writers do not always pad) leaves F32 data
  // misaligned: the loader must copy instead of aliasing.
  std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  while ((8 + header.size()) % 4 == 0) header += ' ';
  auto bytes = image(header, 0);
  const float v[2] = {1.5f, -3.0f};
  bytes.insert(bytes.end(), reinterpret_cast<const std::uint8_t*>(v), reinterpret_cast<const std::uint8_t*>(v) + 8);
  auto reader = std::make_shared<const SafetensorsReader>(SafetensorsReader::fromBytes(bytes, "odd"));
  ASSERT_NE(reinterpret_cast<std::uintptr_t>(reader->data("a")) % 4, 0u);
  const at::Tensor t = toTensor(reader, "a", {true});
  EXPECT_FALSE(isZeroCopyView(t, *reader));
  EXPECT_EQ(t[0].item<float>(), 1.5f);
  EXPECT_EQ(t[1].item<float>(), -3.0f);
}

TEST(TensorIo, UnsignedWideTypesFollowTheTorchVersion) {
  const auto reader = std::make_shared<const SafetensorsReader>(
      SafetensorsReader::open(kData / "safetensors/reference_all_dtypes.safetensors"));
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  const at::Tensor u = toTensor(reader, "u16");
  EXPECT_EQ(u.scalar_type(), at::kUInt16);
  EXPECT_EQ(u.to(at::kLong)[1].item<std::int64_t>(), 65535);  // reference_all_dtypes.json
#else
  try {
    toTensor(reader, "u16");
    FAIL() << "LibTorch " << TORCH_VERSION << " has no uint16";
  } catch (const SafetensorsError& e) {
    EXPECT_NE(std::string(e.what()).find("u16"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("LibTorch"), std::string::npos);
  }
#endif
  // Tensors torch has: bool with a stray byte value loads normalised to 0/1 (copy, even when zero-copy asked).
  std::vector<std::uint8_t> img = image(R"({"b":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}}       )", 0);
  img.insert(img.end(), {0, 2, 1});
  auto r2 = std::make_shared<const SafetensorsReader>(SafetensorsReader::fromBytes(img, "bool"));
  const at::Tensor b = toTensor(r2, "b", {true});
  EXPECT_FALSE(isZeroCopyView(b, *r2));
  EXPECT_EQ(b.to(at::kByte)[1].item<std::uint8_t>(), 1);
}
