#include "atomscope/adit/dataset.h"

#include "atomscope/chem/molecule_perception.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <thread>

#include "atomscope/chem/cdvae_csv.h"
#include "atomscope/chem/cell_parameters.h"
#include "atomscope/chem/cif.h"
#include "atomscope/chem/elements.h"
#include "atomscope/chem/error.h"
#include "atomscope/chem/smiles.h"
#include "atomscope/chem/symmetry.h"
#include "atomscope/chem/xyz.h"
#include "atomscope/core/safetensors.h"
#include "atomscope/core/tensor_io.h"
#include "atomscope/core/text.h"

namespace atomscope::adit {

namespace fs = std::filesystem;

std::int64_t Records::atomsOf(std::int64_t i) const {
  const auto* o = offsets.data_ptr<std::int64_t>();
  return o[i + 1] - o[i];
}

Records recordsFromStructures(const chem::Trajectory& structures, Kind kind, bool niggli, bool spaceGroups) {
  std::vector<std::int64_t> z, offsets{0}, kinds, groups;
  std::vector<float> pos, frac, lat;
  for (const auto& input : structures) {
    chem::Structure s = input;
    if (s.empty()) throw AditError("empty structure");
    const bool crystal = kind == Kind::Crystal;
    if (crystal && !s.lattice) throw AditError("a crystal without a lattice (" + s.formula() + ")");
    int group = 0;
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
    if (crystal && niggli) s = chem::niggliReduced(s);
    if (crystal && spaceGroups) {
      try {
        group = chem::spaceGroup(s).number;
      } catch (const chem::ChemError&) {
        group = 0;
      }
    }
#else
    (void)niggli;
    (void)spaceGroups;
#endif
    if (crystal && group == 0) {
      if (auto g = s.infoNumber({"spacegroup.number", "spacegroup"})) group = static_cast<int>(*g);
    }
    chem::Vec3 centre{0, 0, 0};
    if (!crystal) centre = s.centroid();
    std::vector<chem::Vec3> f;
    if (crystal) f = s.fractionalPositions();
    for (std::size_t i = 0; i < s.size(); ++i) {
      z.push_back(s.numbers[i]);
      for (int k = 0; k < 3; ++k) pos.push_back(static_cast<float>(s.positions[i][k] - centre[k]));
      for (int k = 0; k < 3; ++k) {
        auto v = static_cast<float>(crystal ? f[i][k] - std::floor(f[i][k]) : 0.0);
        if (v >= 1.0f) v = 0.0f;  // 0.99999999 rounds to 1 in float32
        frac.push_back(v);
      }
    }
    if (crystal) {
      const auto p = chem::cellParameters(*s.lattice);
      for (double v : {p.a, p.b, p.c, p.alpha, p.beta, p.gamma}) lat.push_back(static_cast<float>(v));
      // Cartesian positions of the wrapped fractional coordinates, so both views agree.
      const auto n0 = static_cast<std::size_t>(offsets.back());
      for (std::size_t i = 0; i < s.size(); ++i) {
        const chem::Vec3 fi{frac[(n0 + i) * 3], frac[(n0 + i) * 3 + 1], frac[(n0 + i) * 3 + 2]};
        const auto r = chem::fractionalToCartesian(fi, *s.lattice);
        for (int k = 0; k < 3; ++k) pos[(n0 + i) * 3 + k] = static_cast<float>(r[k]);
      }
    } else {
      for (int k = 0; k < 6; ++k) lat.push_back(0.f);
    }
    offsets.push_back(offsets.back() + static_cast<std::int64_t>(s.size()));
    kinds.push_back(static_cast<std::int64_t>(kind));
    groups.push_back(group);
  }
  Records r;
  const auto A = static_cast<std::int64_t>(z.size());
  const auto n = static_cast<std::int64_t>(kinds.size());
  r.numbers = torch::tensor(z, torch::kInt64).view({A});
  r.positions = torch::tensor(pos, torch::kFloat32).view({A, 3});
  r.fractional = torch::tensor(frac, torch::kFloat32).view({A, 3});
  r.offsets = torch::tensor(offsets, torch::kInt64);
  r.lattice = torch::tensor(lat, torch::kFloat32).view({n, 6});
  r.kind = torch::tensor(kinds, torch::kInt64).view({n});
  r.spaceGroup = torch::tensor(groups, torch::kInt64).view({n});
  return r;
}

Records concat(const std::vector<Records>& parts) {
  std::vector<torch::Tensor> z, p, f, o, l, k, g;
  std::int64_t base = 0;
  for (const auto& r : parts) {
    if (r.size() == 0) continue;
    z.push_back(r.numbers);
    p.push_back(r.positions);
    f.push_back(r.fractional);
    o.push_back((o.empty() ? r.offsets : r.offsets.slice(0, 1)) + base);
    base += r.offsets[-1].item<std::int64_t>();
    l.push_back(r.lattice);
    k.push_back(r.kind);
    g.push_back(r.spaceGroup);
  }
  Records out;
  if (z.empty()) {
    out.numbers = torch::zeros({0}, torch::kInt64);
    out.positions = torch::zeros({0, 3});
    out.fractional = torch::zeros({0, 3});
    out.offsets = torch::zeros({1}, torch::kInt64);
    out.lattice = torch::zeros({0, 6});
    out.kind = torch::zeros({0}, torch::kInt64);
    out.spaceGroup = torch::zeros({0}, torch::kInt64);
    return out;
  }
  out.numbers = torch::cat(z);
  out.positions = torch::cat(p);
  out.fractional = torch::cat(f);
  out.offsets = torch::cat(o);
  out.lattice = torch::cat(l);
  out.kind = torch::cat(k);
  out.spaceGroup = torch::cat(g);
  return out;
}

chem::Structure toStructure(const Records& r, std::int64_t i) {
  const auto begin = r.offsets[i].item<std::int64_t>(), end = r.offsets[i + 1].item<std::int64_t>();
  chem::Structure s;
  const auto z = r.numbers.slice(0, begin, end).contiguous();
  const auto p = r.positions.slice(0, begin, end).to(torch::kFloat64).contiguous();
  for (std::int64_t a = 0; a < end - begin; ++a)
    s.addAtom(static_cast<int>(z[a].item<std::int64_t>()),
              {p[a][0].item<double>(), p[a][1].item<double>(), p[a][2].item<double>()});
  if (r.kind[i].item<std::int64_t>() == static_cast<int>(Kind::Crystal)) {
    const auto l = r.lattice[i].to(torch::kFloat64);
    chem::CellParameters c{l[0].item<double>(), l[1].item<double>(), l[2].item<double>(),
                           l[3].item<double>(), l[4].item<double>(), l[5].item<double>()};
    s.lattice = chem::latticeFromParameters(c);
    s.pbc = {true, true, true};
    const auto f = r.fractional.slice(0, begin, end).to(torch::kFloat64).contiguous();
    for (std::int64_t a = 0; a < end - begin; ++a)
      s.positions[a] = chem::fractionalToCartesian({f[a][0].item<double>(), f[a][1].item<double>(), f[a][2].item<double>()},
                                                   *s.lattice);
    const auto g = r.spaceGroup[i].item<std::int64_t>();
    if (g > 0) s.info["spacegroup"] = g;
  }
  return s;
}

namespace {

Records readSource(const PrepareSource& src, const PrepareOptions& o, PrepareReport& rep, core::Feedback* fb) {
  const fs::path path(src.path);
  if (!fs::exists(path)) throw AditError("adit.prepare: source '" + src.path + "' does not exist");
  const std::string ext = core::asciiLower(path.extension().string());
  std::string kind = src.kind;
  auto note = [&](const std::string& why) {
    ++rep.failed;
    if (rep.failures.size() < 20) rep.failures.push_back(why);
  };
  if (fs::is_directory(path) && fs::exists(path / "manifest.json")) {
    // A folder adit.prepare wrote: its records as they are (merging prepared sets; listing one
    // several times repeats it, e.g. to balance a small crystal set against many molecules).
    auto r = loadDataset(path);
    if (o.limit && static_cast<std::size_t>(r.size()) > o.limit) {
      const auto n = static_cast<std::int64_t>(o.limit), a = r.offsets[n].item<std::int64_t>();
      r = Records{r.numbers.slice(0, 0, a), r.positions.slice(0, 0, a), r.fractional.slice(0, 0, a),
                  r.offsets.slice(0, 0, n + 1), r.lattice.slice(0, 0, n), r.kind.slice(0, 0, n),
                  r.spaceGroup.slice(0, 0, n)};
    }
    return r;
  }
  if (fs::is_directory(path)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(path))
      if (core::asciiLower(e.path().extension().string()) == ".cif") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    if (files.empty()) throw AditError("adit.prepare: folder '" + src.path + "' holds no .cif files");
    if (o.limit && files.size() > o.limit) files.resize(o.limit);
    chem::Trajectory t;
    for (const auto& f : files) {
      if (fb) fb->throwIfCancelled();
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
      try {
        auto frames = chem::readCif(f);
        if (!frames.empty()) t.push_back(frames.front());
      } catch (const std::exception& e) {
        note(e.what());
      }
#else
      throw AditError("adit.prepare: reading '" + f.string() + "' needs the CIF reader (gemmi), which this build "
                      "leaves out (ATOMSCOPE_CHEM_TOOLKITS=OFF); prepare CIF folders with a full build");
#endif
    }
    return recordsFromStructures(t, Kind::Crystal, o.niggli, true);
  }
  if (ext == ".csv") {
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
    chem::CdvaeCsvOptions co;
    co.maxRows = o.limit;
    return recordsFromStructures(chem::readCdvaeCsv(path, co), Kind::Crystal, o.niggli, true);
#else
    throw AditError("adit.prepare: CDVAE CSV files need a build with the chemistry toolkits (" + src.path + ")");
#endif
  }
  if (ext == ".xyz" || ext == ".extxyz") {
    auto t = chem::readXyz(path);
    if (o.limit && t.size() > o.limit) t.resize(o.limit);
    bool periodic = !t.empty() && t.front().isPeriodic();
    if (kind == "auto") kind = periodic ? "crystal" : "molecule";
    return recordsFromStructures(t, kind == "crystal" ? Kind::Crystal : Kind::Molecule, o.niggli, true);
  }
  if (ext == ".smi" || ext == ".txt" || ext == ".smiles") {
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
    std::ifstream in(path);
    if (!in) throw AditError("adit.prepare: cannot read '" + src.path + "'");
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) {
      auto first = line.substr(0, line.find_first_of(" \t\r"));
      if (first.empty() || first[0] == '#' || core::asciiLower(first) == "smiles") continue;
      lines.push_back(first);
      if (o.limit && lines.size() >= o.limit) break;
    }
    chem::SmilesOptions so;
    so.seed = o.seed;
    so.maxEmbedAttempts = o.maxEmbedAttempts;
    // Embedding (ETKDG + MMFF) is nearly all the time and each SMILES is independent with its own fixed
    // seed: rounds of SMILES are embedded by a pool of threads and appended in file order, so the output
    // is the same for any number of threads. Cancel and progress are checked between rounds.
    const unsigned threads = o.threads > 0 ? o.threads : std::max(1u, std::thread::hardware_concurrency());
    const std::size_t round = 16 * threads;
    chem::Trajectory t;
    std::vector<std::optional<chem::Structure>> done;
    std::vector<std::string> errors;
    for (std::size_t begin = 0; begin < lines.size(); begin += round) {
      if (fb) {
        fb->throwIfCancelled();
        fb->setProgress(static_cast<double>(begin) / static_cast<double>(lines.size()),
                        "embedding " + std::to_string(begin) + " of " + std::to_string(lines.size()) + " SMILES");
      }
      const std::size_t end = std::min(lines.size(), begin + round);
      done.assign(end - begin, std::nullopt);
      errors.assign(end - begin, {});
      std::atomic<std::size_t> next{begin};
      auto work = [&] {
        for (std::size_t i; (i = next++) < end;) {
          if (o.dropCharged && chem::smilesHasCharge(lines[i])) continue;
          try {
            done[i - begin] = chem::smilesToStructure(lines[i], so);
          } catch (const std::exception& e) {
            errors[i - begin] = e.what();
          }
        }
      };
      std::vector<std::thread> pool;
      for (unsigned k = 1; k < std::min<std::size_t>(threads, end - begin); ++k) pool.emplace_back(work);
      work();
      for (auto& th : pool) th.join();
      for (std::size_t i = begin; i < end; ++i) {
        auto& s = done[i - begin];
        if (!s) {
          if (errors[i - begin].empty()) ++rep.dropped;  // charged: skipped before embedding
          else note(src.path + ":" + lines[i] + ": " + errors[i - begin]);
          continue;
        }
        int electrons = 0;
        for (int z : s->numbers) electrons += z;
        if (o.dropCharged && electrons % 2 != 0) {  // odd electron count of a neutral molecule: a radical
          ++rep.dropped;
          continue;
        }
        t.push_back(std::move(*s));
      }
    }
    return recordsFromStructures(t, Kind::Molecule, false, false);
#else
    throw AditError("adit.prepare: SMILES need a build with the chemistry toolkits (" + src.path + ")");
#endif
  }
  throw AditError("adit.prepare: source '" + src.path +
                  "' is not a SMILES (.smi/.txt), XYZ (.xyz/.extxyz), CDVAE CSV (.csv) file, a folder of CIFs or a "
                  "prepared folder (manifest.json)");
}

}  // namespace

PrepareReport prepareDataset(const std::vector<PrepareSource>& sources, const fs::path& outDir,
                             const PrepareOptions& options, core::Feedback* feedback) {
  if (sources.empty()) throw AditError("adit.prepare: no sources given");
  PrepareReport rep;
  std::vector<Records> parts;
  for (const auto& s : sources) {
    if (feedback) feedback->setStage("reading " + s.path);
    parts.push_back(readSource(s, options, rep, feedback));
  }
  Records all = concat(parts);
  rep.records = static_cast<std::size_t>(all.size());
  rep.crystals = static_cast<std::size_t>((all.kind == 1).sum().item<std::int64_t>());
  rep.molecules = rep.records - rep.crystals;
  if (rep.records == 0) throw AditError("adit.prepare: no structure could be read from the sources");
  fs::create_directories(outDir);
  Json shards = Json::array();
  const auto n = all.size();
  const auto per = static_cast<std::int64_t>(std::max<std::size_t>(1, options.shardSize));
  for (std::int64_t b = 0, k = 0; b < n; b += per, ++k) {
    const auto e = std::min(n, b + per);
    Records part;
    const auto a0 = all.offsets[b].item<std::int64_t>(), a1 = all.offsets[e].item<std::int64_t>();
    part.numbers = all.numbers.slice(0, a0, a1);
    part.positions = all.positions.slice(0, a0, a1);
    part.fractional = all.fractional.slice(0, a0, a1);
    part.offsets = all.offsets.slice(0, b, e + 1) - a0;
    part.lattice = all.lattice.slice(0, b, e);
    part.kind = all.kind.slice(0, b, e);
    part.spaceGroup = all.spaceGroup.slice(0, b, e);
    const std::string name = "shard_" + std::to_string(k) + ".safetensors";
    saveShard(outDir / name, part);
    shards.push_back({{"file", name}, {"records", e - b}, {"atoms", a1 - a0}});
  }
  Json m;
  m["format"] = "atomscope.adit_data/1";
  m["shards"] = shards;
  m["records"] = rep.records;
  m["molecules"] = rep.molecules;
  m["crystals"] = rep.crystals;
  m["dropped_charged_or_radical"] = rep.dropped;
  m["failed"] = rep.failed;
  Json src = Json::array();
  for (const auto& s : sources) src.push_back(s.path);
  m["sources"] = src;
  const auto hist = atomCountHistogram(all);
  m["atom_counts"] = {{"molecule", hist[0]}, {"crystal", hist[1]}};
  std::ofstream out(outDir / "manifest.json");
  out << m.dump(1) << "\n";
  if (!out) throw AditError("adit.prepare: cannot write " + (outDir / "manifest.json").string());
  return rep;
}

void saveShard(const fs::path& file, const Records& r) {
  core::saveSafetensors(file, {{"numbers", r.numbers.contiguous()},
                               {"positions", r.positions.contiguous()},
                               {"fractional", r.fractional.contiguous()},
                               {"offsets", r.offsets.contiguous()},
                               {"lattice", r.lattice.contiguous()},
                               {"kind", r.kind.contiguous()},
                               {"space_group", r.spaceGroup.contiguous()}});
}

Records loadShard(const fs::path& file) {
  std::map<std::string, torch::Tensor> t;
  try {
    checkShard(core::SafetensorsReader::open(file));  // layout and values, before any tensor is built
    t = core::loadSafetensors(file);
  } catch (const AditError&) {
    throw;
  } catch (const std::exception& e) {
    throw AditError("ADiT shard '" + file.string() + "': " + e.what());
  }
  return Records{t.at("numbers"), t.at("positions"), t.at("fractional"), t.at("offsets"),
                 t.at("lattice"), t.at("kind"), t.at("space_group")};
}

Records loadDataset(const fs::path& dir) {
  const auto mpath = dir / "manifest.json";
  std::ifstream in(mpath);
  if (!in) throw AditError("ADiT data set: no manifest.json in '" + dir.string() + "' (run adit.prepare first)");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto manifest = parseDataManifest(text, mpath.string());
  std::vector<Records> parts;
  for (const auto& s : manifest.shards) {
    auto r = loadShard(dir / s.file);
    if (r.size() != s.records || r.numbers.size(0) != s.atoms)
      throw AditError(mpath.string() + ": shard '" + s.file + "' holds " + std::to_string(r.size()) + " records and " +
                      std::to_string(r.numbers.size(0)) + " atoms, the manifest says " + std::to_string(s.records) +
                      " and " + std::to_string(s.atoms));
    parts.push_back(std::move(r));
  }
  return concat(parts);
}

Batch Batch::to(const torch::Device& d) const {
  return {numbers.to(d), positions.to(d), fractional.to(d), mask.to(d), lattice.to(d), kind.to(d), spaceGroup.to(d),
          natoms.to(d)};
}

torch::Tensor normaliseLattice(const torch::Tensor& lattice, const torch::Tensor& natoms) {
  auto scale = natoms.to(torch::kFloat32).clamp_min(1).pow(1.0 / 3.0).unsqueeze(1);
  auto lengths = lattice.slice(1, 0, 3) / scale;
  auto angles = lattice.slice(1, 3, 6) * (M_PI / 180.0);
  return torch::cat({lengths, angles}, 1);
}

torch::Tensor denormaliseLattice(const torch::Tensor& f, const torch::Tensor& natoms) {
  auto scale = natoms.to(f.dtype()).clamp_min(1).pow(1.0 / 3.0).unsqueeze(1);
  return torch::cat({f.slice(1, 0, 3) * scale, f.slice(1, 3, 6) * (180.0 / M_PI)}, 1);
}

Batch makeBatch(const Records& r, const std::vector<std::int64_t>& indices) {
  const auto B = static_cast<std::int64_t>(indices.size());
  std::int64_t N = 1;
  for (auto i : indices) {
    if (i < 0 || i >= r.size()) throw AditError("batch index " + std::to_string(i) + " outside the data set");
    N = std::max(N, r.atomsOf(i));
  }
  Batch b;
  b.numbers = torch::zeros({B, N}, torch::kInt64);
  b.positions = torch::zeros({B, N, 3});
  b.fractional = torch::zeros({B, N, 3});
  b.mask = torch::zeros({B, N}, torch::kBool);
  auto idx = torch::tensor(indices, torch::kInt64);
  b.natoms = torch::zeros({B}, torch::kInt64);
  const auto* o = r.offsets.data_ptr<std::int64_t>();
  for (std::int64_t j = 0; j < B; ++j) {
    const auto i = indices[j], a0 = o[i], a1 = o[i + 1];
    b.numbers[j].slice(0, 0, a1 - a0).copy_(r.numbers.slice(0, a0, a1));
    b.positions[j].slice(0, 0, a1 - a0).copy_(r.positions.slice(0, a0, a1));
    b.fractional[j].slice(0, 0, a1 - a0).copy_(r.fractional.slice(0, a0, a1));
    b.mask[j].slice(0, 0, a1 - a0).fill_(true);
    b.natoms[j] = a1 - a0;
  }
  b.kind = r.kind.index_select(0, idx);
  b.spaceGroup = r.spaceGroup.index_select(0, idx);
  b.lattice = normaliseLattice(r.lattice.index_select(0, idx), b.natoms);
  return b;
}

torch::Tensor padAtomRows(const torch::Tensor& rows, const torch::Tensor& offsets, std::int64_t N) {
  const auto n = offsets.size(0) - 1;
  const auto counts = offsets.slice(0, 1) - offsets.slice(0, 0, n);
  if (n > 0 && counts.max().item<std::int64_t>() > N)
    throw AditError("padding to " + std::to_string(N) + " atoms: a record has more");
  // Record and slot of every atom, vectorised (no per-record loop over 10^5 records).
  const auto record = torch::repeat_interleave(torch::arange(n, torch::kInt64), counts);
  const auto slot = torch::arange(rows.size(0), torch::kInt64) - offsets.index_select(0, record);
  std::vector<std::int64_t> shape{n, N};
  for (std::int64_t k = 1; k < rows.dim(); ++k) shape.push_back(rows.size(k));
  auto out = torch::zeros(shape, rows.options());
  out.index_put_({record, slot}, rows);
  return out;
}

PaddedRecords padRecords(const Records& r, const torch::Device& d, std::int64_t minAtoms) {
  PaddedRecords p;
  const auto n = r.size();
  auto natoms = n ? (r.offsets.slice(0, 1) - r.offsets.slice(0, 0, n)) : torch::zeros({0}, torch::kInt64);
  const auto N = std::max<std::int64_t>({1, minAtoms, n ? natoms.max().item<std::int64_t>() : 1});
  p.numbers = padAtomRows(r.numbers, r.offsets, N).to(d);
  p.positions = padAtomRows(r.positions, r.offsets, N).to(d);
  p.fractional = padAtomRows(r.fractional, r.offsets, N).to(d);
  p.mask = (torch::arange(N, torch::kInt64).unsqueeze(0) < natoms.unsqueeze(1)).to(d);
  p.lattice = normaliseLattice(r.lattice, natoms).to(d);
  p.kind = r.kind.to(d);
  p.spaceGroup = r.spaceGroup.to(d);
  p.natoms = natoms.to(d);
  return p;
}

Batch PaddedRecords::gather(const torch::Tensor& idx) const {
  Batch b;
  b.numbers = numbers.index_select(0, idx);
  b.positions = positions.index_select(0, idx);
  b.fractional = fractional.index_select(0, idx);
  b.mask = mask.index_select(0, idx);
  b.lattice = lattice.index_select(0, idx);
  b.kind = kind.index_select(0, idx);
  b.spaceGroup = spaceGroup.index_select(0, idx);
  b.natoms = natoms.index_select(0, idx);
  return b;
}

std::vector<std::vector<std::int64_t>> atomCountHistogram(const Records& r) {
  std::vector<std::vector<std::int64_t>> h(kNumKinds);
  for (std::int64_t i = 0; i < r.size(); ++i) {
    const auto k = r.kind[i].item<std::int64_t>();
    const auto n = static_cast<std::size_t>(r.atomsOf(i));
    if (h[k].size() <= n) h[k].resize(n + 1, 0);
    ++h[k][n];
  }
  return h;
}

std::string compositionKey(const std::map<int, int>& counts) {
  std::string key;
  for (const auto& [z, n] : counts) {
    if (n <= 0) continue;
    if (!key.empty()) key += ',';
    key += std::to_string(z) + ':' + std::to_string(n);
  }
  return key;
}

std::map<int, int> compositionFromKey(const std::string& key) {
  std::map<int, int> counts;
  std::stringstream in(key);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto colon = item.find(':');
    int z = 0, n = 0;
    try {
      if (colon == std::string::npos) throw std::invalid_argument("no colon");
      std::size_t used = 0;
      z = std::stoi(item.substr(0, colon), &used);
      if (used != colon) throw std::invalid_argument("trailing text");
      n = std::stoi(item.substr(colon + 1), &used);
      if (used != item.size() - colon - 1) throw std::invalid_argument("trailing text");
    } catch (const std::exception&) {
      throw AditError("composition '" + key + "': expected Z:count pairs separated by commas, got '" + item + "'");
    }
    if (z < 1 || z > chem::kMaxAtomicNumber || n < 1)
      throw AditError("composition '" + key + "': no element " + std::to_string(z) + " or a count below 1");
    counts[z] += n;
  }
  if (counts.empty()) throw AditError("composition '" + key + "' is empty");
  return counts;
}

std::vector<std::map<std::string, std::int64_t>> compositionHistogram(const Records& r) {
  std::vector<std::map<std::string, std::int64_t>> h(kNumKinds);
  const auto numbers = r.numbers.to(torch::kCPU).contiguous();
  const auto offsets = r.offsets.to(torch::kCPU).contiguous();
  const auto* z = numbers.data_ptr<std::int64_t>();
  const auto* off = offsets.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < r.size(); ++i) {
    std::map<int, int> counts;
    for (auto a = off[i]; a < off[i + 1]; ++a) ++counts[static_cast<int>(z[a])];
    ++h[static_cast<std::size_t>(r.kind[i].item<std::int64_t>())][compositionKey(counts)];
  }
  return h;
}

}  // namespace atomscope::adit
