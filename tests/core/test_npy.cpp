// .npy / .npz reader and writer against files numpy wrote (tests/core/data/npy, made by
// tests/core/data/make_npy_fixtures.py with Debian's python3-numpy 1.24); the expected values are
// the ones numpy computed on the same arrays (tests/core/data/npy_expected.json).
#include <gtest/gtest.h>

#include "test_util.h"

#include <ATen/ATen.h>
#include <ftw.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "atomscope/core/json.h"
#include "atomscope/core/npy.h"
#include "atomscope/core/tensor_io.h"

namespace fs = std::filesystem;
using namespace atomscope::core;

namespace {

const fs::path kNpyData = fs::path(ATOMSCOPE_SOURCE_DIR) / "tests/core/data";
const fs::path kNpy = kNpyData / "npy";

std::vector<std::uint8_t> readBytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
void writeBytes(const fs::path& p, const std::vector<std::uint8_t>& b) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
const atomscope::Json& expected() {
  static const atomscope::Json j = [] {
    std::ifstream f(kNpyData / "npy_expected.json");
    return atomscope::Json::parse(f);
  }();
  return j;
}

class TempDir : public atomscope::test::ScopedTempDir {
 public:
  TempDir() : ScopedTempDir("atomscope_npy") {}
};

double halfToDouble(std::uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
  double v;
  if (exp == 0) v = std::ldexp(man, -24);
  else if (exp == 31) v = man ? NAN : INFINITY;
  else v = std::ldexp(man + 1024, exp - 25);
  return sign ? -v : v;
}

// Element values in storage order, as double (no torch: checks the reader alone).
std::vector<double> storageValues(const NpyArray& a) {
  std::vector<double> out;
  const std::size_t n = a.numel(), sz = dtypeSize(a.dtype);
  EXPECT_EQ(a.bytes.size(), n * sz);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* p = a.bytes.data() + i * sz;
    auto get = [&](auto zero) {
      decltype(zero) v;
      std::memcpy(&v, p, sizeof(v));
      return v;
    };
    double v = NAN;
    switch (a.dtype) {
      case DType::F64: v = get(double{}); break;
      case DType::F32: v = get(float{}); break;
      case DType::F16: v = halfToDouble(get(std::uint16_t{})); break;
      case DType::I64: v = static_cast<double>(get(std::int64_t{})); break;
      case DType::I32: v = get(std::int32_t{}); break;
      case DType::I16: v = get(std::int16_t{}); break;
      case DType::I8: v = get(std::int8_t{}); break;
      case DType::U8: case DType::BOOL: v = get(std::uint8_t{}); break;
      case DType::U16: v = get(std::uint16_t{}); break;
      case DType::U32: v = get(std::uint32_t{}); break;
      case DType::U64: v = static_cast<double>(get(std::uint64_t{})); break;
      case DType::BF16: break;
    }
    out.push_back(v);
  }
  return out;
}

// Logical (C-order) index of storage element i for a Fortran-order array, and back.
std::vector<double> logicalValues(const NpyArray& a) {
  std::vector<double> s = storageValues(a);
  if (!a.fortranOrder || a.shape.size() < 2) return s;
  std::vector<double> out(s.size());
  const std::size_t nd = a.shape.size();
  for (std::size_t i = 0; i < s.size(); ++i) {
    // i is a column-major linear index: decompose with the first axis fastest.
    std::size_t rem = i, cIndex = 0;
    std::vector<std::size_t> idx(nd);
    for (std::size_t d = 0; d < nd; ++d) {
      idx[d] = rem % static_cast<std::size_t>(a.shape[d]);
      rem /= static_cast<std::size_t>(a.shape[d]);
    }
    for (std::size_t d = 0; d < nd; ++d) cIndex = cIndex * static_cast<std::size_t>(a.shape[d]) + idx[d];
    out[cIndex] = s[i];
  }
  return out;
}

DType dtypeOfDescr(const std::string& descr) {
  const std::string c = descr.substr(1);
  static const std::map<std::string, DType> m = {{"f2", DType::F16}, {"f4", DType::F32}, {"f8", DType::F64},
                                                 {"i1", DType::I8},  {"i2", DType::I16}, {"i4", DType::I32},
                                                 {"i8", DType::I64}, {"u1", DType::U8},  {"u2", DType::U16},
                                                 {"u4", DType::U32}, {"u8", DType::U64}, {"b1", DType::BOOL}};
  return m.at(c);
}

bool torchHas(DType t) { return t != DType::U16 && t != DType::U32 && t != DType::U64; }

void checkAgainstNumpy(const NpyArray& a, const atomscope::Json& e, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(a.descr, e["descr"].get<std::string>());
  EXPECT_EQ(a.dtype, dtypeOfDescr(e["descr"]));
  EXPECT_EQ(a.shape, e["shape"].get<std::vector<std::int64_t>>());
  EXPECT_EQ(a.fortranOrder, e["fortran_order"].get<bool>());
  EXPECT_EQ(a.numel(), e["size"].get<std::uint64_t>());
  const std::vector<double> v = logicalValues(a);
  double sum = 0;
  for (double x : v) sum += x;
  EXPECT_NEAR(sum, e["sum"].get<double>(), 1e-12 * std::max(1.0, std::abs(e["sum"].get<double>())));
  const auto head = e["head"].get<std::vector<double>>(), tail = e["tail"].get<std::vector<double>>();
  for (std::size_t i = 0; i < head.size(); ++i) EXPECT_EQ(v[i], head[i]) << "head " << i;
  for (std::size_t i = 0; i < tail.size(); ++i) EXPECT_EQ(v[v.size() - tail.size() + i], tail[i]) << "tail " << i;

  // The torch conversion gives the logical layout (C order) for Fortran arrays too.
  if (!torchHas(a.dtype)) return;
  const at::Tensor t = npyToTensor(a);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.sizes().vec(), a.shape);
  if (a.numel()) EXPECT_NEAR(t.to(at::kDouble).sum().item<double>(), e["sum"].get<double>(), 1e-9 * std::max(1.0, std::abs(e["sum"].get<double>())));
  const at::Tensor flat = t.to(at::kDouble).reshape({-1});
  for (std::size_t i = 0; i < head.size(); ++i) EXPECT_EQ(flat[static_cast<std::int64_t>(i)].item<double>(), head[i]);
  for (const char* key : {"last_index", "one_index"}) {
    if (!e.contains(key)) continue;
    at::Tensor x = t.to(at::kDouble);
    for (auto i : e[key].get<std::vector<std::int64_t>>()) x = x[i];
    EXPECT_EQ(x.item<double>(), e[std::string("at_") + key].get<double>()) << key;
  }
}

void expectNpyError(const std::function<void()>& f, const std::string& file, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << file << ": no error (expected '" << needle << "')";
  } catch (const NpyError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(file), std::string::npos) << "message does not name " << file << ": " << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << "expected '" << needle << "' in: " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << file << ": threw a non-NpyError: " << e.what();
  }
}

}  // namespace

TEST(NpyFixtures, EveryNumpyFileMatchesNumpysValues) {
  const auto& npy = expected()["npy"];
  ASSERT_GE(npy.size(), 20u);
  std::set<DType> dtypes;
  for (const auto& [name, e] : npy.items()) {
    const NpyArray a = readNpy(kNpy / (name + ".npy"));
    dtypes.insert(a.dtype);
    checkAgainstNumpy(a, e, name);
  }
  EXPECT_EQ(dtypes.size(), allDTypes().size() - 1) << "every dtype but BF16 (numpy has none) is covered";
}

TEST(NpyFixtures, WriterReproducesNumpySaveByteForByte) {
  // numpy.save writes format 1.0 with the header padded to 64 bytes; for little-endian arrays our
  // writer must give the same bytes (big-endian ones are rewritten little-endian, so they differ).
  int compared = 0;
  for (const auto& [name, e] : expected()["npy"].items()) {
    if (e["descr"].get<std::string>()[0] == '>' || e["format_version"][0] != 1) continue;
    SCOPED_TRACE(name);
    const auto file = readBytes(kNpy / (name + ".npy"));
    EXPECT_EQ(encodeNpy(readNpy(file.data(), file.size(), name)), file);
    ++compared;
  }
  EXPECT_GE(compared, 15);
}

TEST(NpyFixtures, BigEndianRoundTripsAsLittleEndian) {
  TempDir dir;
  for (const char* name : {"f4_be_2x3", "f8_be_4", "i8_be_3", "u2_be_3", "f2_be_3"}) {
    SCOPED_TRACE(name);
    const NpyArray a = readNpy(kNpy / (std::string(name) + ".npy"));
    ASSERT_EQ(a.descr[0], '>');
    writeNpy(dir / "le.npy", a);
    const NpyArray b = readNpy(dir / "le.npy");
    EXPECT_EQ(b.descr, npyDescr(a.dtype));
    EXPECT_EQ(b.bytes, a.bytes);
    EXPECT_EQ(b.shape, a.shape);
    checkAgainstNumpy(b, [&] {
      auto e = expected()["npy"][name];
      e["descr"] = npyDescr(a.dtype);
      return e;
    }(), std::string(name) + " rewritten");
  }
}

TEST(NpyFixtures, NpzStoredAndDeflatedMatchNumpy) {
  for (const char* archive : {"savez", "savez_compressed", "savez_positional", "handmade_ok"}) {
    SCOPED_TRACE(archive);
    const auto& e = expected()["npz"][archive];
    const fs::path path = kNpy / (std::string(archive) + ".npz");
    if (std::string(archive) == "savez_compressed" && !npzDeflateSupported()) {
      expectNpyError([&] { readNpz(path); }, path.string(), "no zlib");  // this build has no zlib
      continue;
    }
    const auto arrays = readNpz(path);
    std::set<std::string> want;
    for (const auto& [k, v] : e.items())
      if (k != "__methods__") want.insert(k);
    std::set<std::string> got;
    for (const auto& [k, v] : arrays) got.insert(k);
    EXPECT_EQ(got, want);
    for (const auto& k : want) checkAgainstNumpy(arrays.at(k), e[k], std::string(archive) + ":" + k);
  }
  // savez_compressed really is deflated (zip method 8) and savez stored (0): as numpy's zipfile reported.
  for (const auto& [member, method] : expected()["npz"]["savez_compressed"]["__methods__"].items()) EXPECT_EQ(method, 8) << member;
  for (const auto& [member, method] : expected()["npz"]["savez"]["__methods__"].items()) EXPECT_EQ(method, 0) << member;
}

TEST(NpyTorch, LoadSaveAndFortranLayout) {
  TempDir dir;
  // numpy: a = arange(6).reshape(2,3) in Fortran order; a[1,2] == 5, a[0,1] == 1.
  const at::Tensor f = loadNpy(kNpy / "i4_fortran_2x3.npy");
  EXPECT_EQ(f.scalar_type(), at::kInt);
  EXPECT_TRUE(at::equal(f, at::arange(6, at::kInt).reshape({2, 3})));

  at::manual_seed(3);
  for (const at::Tensor& t : {at::randn({3, 4}, at::kDouble), at::randn({2, 3, 4}).permute({2, 0, 1}),
                              (at::randn({5}) > 0), at::randint(-5, 5, {2, 2}, at::kShort), at::scalar_tensor(1.25),
                              at::empty({0, 2}, at::kFloat), at::randn({4}).to(at::kHalf)}) {
    saveNpy(dir / "t.npy", t);
    const at::Tensor u = loadNpy(dir / "t.npy");
    EXPECT_EQ(u.scalar_type(), t.scalar_type());
    EXPECT_TRUE(at::equal(u, t.contiguous()));
  }
  EXPECT_THROW(saveNpy(dir / "bf.npy", at::ones({2}, at::kBFloat16)), NpyError);
  EXPECT_FALSE(fs::exists(dir / "bf.npy"));

  const auto z = loadNpz(kNpy / (npzDeflateSupported() ? "savez_compressed.npz" : "savez.npz"));
  EXPECT_TRUE(at::equal(z.at("fortran"), at::arange(6, at::kDouble).reshape({3, 2})));
  EXPECT_TRUE(at::equal(z.at("ids"), at::arange(10, at::kLong)));
  EXPECT_EQ(z.at("zeros").abs().sum().item<double>(), 0.0);
}

TEST(NpyBadInputs, MalformedNpyRaisesNpyErrorNamingTheFile) {
  TempDir dir;
  const auto good = readBytes(kNpy / "f4_3x4.npy");  // header of 118 bytes, 48 data bytes
  auto withHeader = [&](std::string dict, std::size_t dataBytes = 48, int major = 1) {
    dict.resize(((10 + dict.size() + 1 + 63) / 64) * 64 - 10 - 1, ' ');
    dict += '\n';
    std::vector<std::uint8_t> b(10 + dict.size() + dataBytes, 0);
    const std::uint8_t prefix[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(major), 0,
                                     static_cast<std::uint8_t>(dict.size() & 0xFF), static_cast<std::uint8_t>(dict.size() >> 8)};
    std::memcpy(b.data(), prefix, 10);
    std::memcpy(b.data() + 10, dict.data(), dict.size());
    return b;
  };
  ASSERT_NO_THROW(readNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }").data(), 176));

  struct Case {
    std::string name;
    std::vector<std::uint8_t> bytes;
    std::string needle;
  };
  auto truncated = good;
  truncated.resize(good.size() - 1);
  auto badMagic = good;
  badMagic[1] = 'X';
  auto v4 = good;
  v4[6] = 4;
  auto longHeader = good;
  longHeader[8] = 0xFF;
  longHeader[9] = 0xFF;
  auto trailing = good;
  trailing.push_back(0);
  const std::vector<Case> cases = {
      {"empty", {}, "not a .npy file"},
      {"truncated", truncated, "truncated"},
      {"trailing", trailing, "trailing bytes"},
      {"bad_magic", badMagic, "magic"},
      {"version_4", v4, "version 4.0"},
      {"header_past_end", longHeader, "past the end"},
      {"missing_shape", withHeader("{'descr': '<f4', 'fortran_order': False, }"), "lacks the key 'shape'"},
      {"extra_key", withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), 'x': 1, }"), "'x'"},
      {"duplicate_key", withHeader("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (12,), }"), "twice"},
      {"int_not_tuple", withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (12), }"), "not a tuple"},
      {"list_shape", withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': [12], }"), "list"},
      {"negative_dim", withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (-12,), }"), "negative"},
      {"complex", withHeader("{'descr': '<c8', 'fortran_order': False, 'shape': (6,), }"), "unsupported dtype"},
      {"object", withHeader("{'descr': '|O', 'fortran_order': False, 'shape': (6,), }"), "unsupported dtype"},
      {"unicode", withHeader("{'descr': '<U3', 'fortran_order': False, 'shape': (4,), }"), "unsupported dtype"},
      {"structured", withHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (12,), }"), "structured"},
      {"pipe_multibyte", withHeader("{'descr': '|f4', 'fortran_order': False, 'shape': (12,), }"), "unsupported dtype"},
      {"fortran_not_bool", withHeader("{'descr': '<f4', 'fortran_order': 0, 'shape': (12,), }"), "fortran_order"},
      {"overflow", withHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4), }"), "overflows"},
      {"huge_int", withHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,), }"), "too large"},
      {"garbage_after", withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (12,), } x"), "after the header"},
      {"not_a_dict", withHeader("descr='<f4'"), "expected '{'"},
      {"unterminated", withHeader("{'descr': '<f4, 'fortran_order': False, 'shape': (12,), }"), "malformed"},
      {"escape", withHeader("{'descr': '<f\\x34', 'fortran_order': False, 'shape': (12,), }"), "escape"},
      {"npz_given", readBytes(kNpy / "savez.npz"), "zip archive"},
  };
  for (const auto& c : cases) {
    const fs::path p = dir / (c.name + ".npy");
    writeBytes(p, c.bytes);
    expectNpyError([&] { readNpy(p); }, p.string(), c.needle);
  }
  expectNpyError([&] { readNpy(dir / "missing.npy"); }, (dir / "missing.npy").string(), "open failed");
}

TEST(NpyBadInputs, MalformedAndHostileNpzAreRefused) {
  TempDir dir;
  // A zip bomb's signature: 1118 compressed bytes that declare 10 GiB (ZIP64), made by the fixture script.
  const fs::path bomb = kNpy / "bomb_declared_10GiB.npz";
  expectNpyError([&] { readNpz(bomb); }, bomb.string(), "over the limit");
  // The 10 GiB size comes from the ZIP64 extra field of the central directory entry.
  expectNpyError([&] { readNpz(bomb); }, bomb.string(), "declares 10737418240 uncompressed bytes");
  // Even with the per-entry limit raised, the declared ratio (~9.6 million : 1) is refused.
  NpzOptions generous;
  generous.maxEntryBytes = generous.maxTotalBytes = std::uint64_t{1} << 40;
  expectNpyError([&] { readNpz(bomb, generous); }, bomb.string(), "zip bomb");
  // Declares 512 KiB but inflates to 1 MiB: refused when the output would pass the declared size.
  const fs::path under = kNpy / "bomb_underdeclared.npz";
  expectNpyError([&] { readNpz(under); }, under.string(), npzDeflateSupported() ? "more than its declared" : "no zlib");
  const fs::path crc = kNpy / "bad_crc.npz";
  expectNpyError([&] { readNpz(crc); }, crc.string(), "CRC-32");
  // Limits from options apply to genuine archives too.
  NpzOptions tiny;
  tiny.maxEntryBytes = 1000;  // zeros.npy is 32896 bytes
  expectNpyError([&] { readNpz(kNpy / "savez.npz", tiny); }, (kNpy / "savez.npz").string(), "zeros.npy");
  NpzOptions total;
  total.maxTotalBytes = 4000;  // the five members hold 33587 bytes together
  expectNpyError([&] { readNpz(kNpy / "savez_compressed.npz", total); }, (kNpy / "savez_compressed.npz").string(), "limit");

  const auto good = readBytes(kNpy / "savez.npz");
  auto half = good;
  half.resize(good.size() / 2);
  auto noEocd = good;
  noEocd.resize(good.size() - 10);
  auto badCd = good;
  // Corrupt the central directory offset in the end record (last 22 bytes, offset field at +16).
  badCd[good.size() - 22 + 16] ^= 0x40;
  const std::vector<std::pair<std::string, std::vector<std::uint8_t>>> cases = {
      {"empty", {}}, {"half", half}, {"no_eocd", noEocd}, {"bad_cd_offset", badCd},
      {"npy_given", readBytes(kNpy / "f4_3x4.npy")}};
  for (const auto& [name, bytes] : cases) {
    const fs::path p = dir / (name + ".npz");
    writeBytes(p, bytes);
    expectNpyError([&] { readNpz(p); }, p.string(), "");
  }
  // A member that is not .npy: rename weights.npy to weights.txt in both headers.
  auto renamed = good;
  const std::string from = "weights.npy", to = "weights.txt";
  for (std::size_t i = 0; i + from.size() <= renamed.size(); ++i)
    if (std::equal(from.begin(), from.end(), renamed.begin() + i)) std::copy(to.begin(), to.end(), renamed.begin() + i);
  writeBytes(dir / "renamed.npz", renamed);
  expectNpyError([&] { readNpz(dir / "renamed.npz"); }, (dir / "renamed.npz").string(), "not a .npy member");
}

TEST(NpyBadInputs, RegressionInputs) {
  // tests/core/data/regressions (see make_hostile_inputs.py and tests/fuzz): ok_* files must load
  // (numpy 1.24 loads the ok_*.npy ones as well); every other one must raise NpyError naming it.
  int count = 0;
  for (const auto& e : fs::directory_iterator(kNpyData / "regressions")) {
    const auto ext = e.path().extension();
    if (ext != ".npy" && ext != ".npz") continue;
    ++count;
    SCOPED_TRACE(e.path().string());
    const bool shouldLoad = e.path().filename().string().rfind("ok_", 0) == 0;
    try {
      if (ext == ".npy") {
        const NpyArray a = readNpy(e.path());
        EXPECT_EQ(a.bytes.size(), a.numel() * dtypeSize(a.dtype));
      } else {
        readNpz(e.path());
      }
      EXPECT_TRUE(shouldLoad);
    } catch (const NpyError& err) {
      EXPECT_FALSE(shouldLoad) << err.what();
      EXPECT_NE(std::string(err.what()).find(e.path().string()), std::string::npos) << err.what();
    }
  }
  EXPECT_GE(count, 5);
  // ZIP64 end records (saturated EOCD, ZIP64 record and locator): numpy 1.24 reads z64 = [-7, 0, 300].
  const auto z64 = readNpz(kNpyData / "regressions/ok_npz_zip64_end_records.npz");
  ASSERT_EQ(z64.count("z64"), 1u);
  EXPECT_EQ(z64.at("z64").dtype, DType::I16);
  EXPECT_EQ(storageValues(z64.at("z64")), (std::vector<double>{-7, 0, 300}));
  // The Python 2 style header ('2L') reads as numpy reads it: shape (2, 3) of int32.
  const NpyArray py2 = readNpy(kNpyData / "regressions/ok_npy_py2_long_ints.npy");
  EXPECT_EQ(py2.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(py2.dtype, DType::I32);
}
