// The atom index in SQLite: the builder (torch) and the reader (atom_index.h).
#include "atomscope/sae/atom_index.h"

#include "atomscope/sae/atom_index_builder.h"

#ifdef ATOMSCOPE_HAVE_SQLITE
#include <sqlite3.h>
#endif

#include <algorithm>

namespace atomscope::sae {

namespace fs = std::filesystem;

Unembedding unembeddingOf(lm::CausalLMImpl& model) {
  Unembedding u;
  torch::Tensor tied;
  for (const auto& p : model.named_parameters()) {
    const auto& n = p.key();
    if (n == "lm_head.weight") u.W_U = p.value();
    else if (n == "embed_tokens.weight" || n == "wte.weight") tied = p.value();
    else if (n == "norm.weight" || n == "ln_f.weight") u.normScale = p.value();
  }
  if (!u.W_U.defined()) u.W_U = tied;
  if (!u.W_U.defined()) throw SaeError("the model has neither lm_head.weight nor a tied embedding to unembed with");
  u.W_U = u.W_U.detach().to(torch::kCPU).to(torch::kFloat32);
  if (u.normScale.defined()) u.normScale = u.normScale.detach().to(torch::kCPU).to(torch::kFloat32);
  return u;
}

#ifdef ATOMSCOPE_HAVE_SQLITE

bool haveAtomIndex() { return true; }

namespace {

// A small RAII layer over the SQLite C API; errors name the file.
class Db {
 public:
  Db(const fs::path& file, bool write) : file_(file) {
    const int flags = write ? (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) : SQLITE_OPEN_READONLY;
    if (sqlite3_open_v2(file.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      db_ = nullptr;
      throw SaeError("atom index '" + file.string() + "': cannot open: " + msg);
    }
    sqlite3_busy_timeout(db_, 15000);
  }
  ~Db() { sqlite3_close(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string msg = err ? err : "";
      sqlite3_free(err);
      throw SaeError("atom index '" + file_.string() + "': " + msg);
    }
  }
  sqlite3* get() const { return db_; }
  const fs::path& file() const { return file_; }

 private:
  fs::path file_;
  sqlite3* db_ = nullptr;
};

class Stmt {
 public:
  Stmt(const Db& db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &s_, nullptr) != SQLITE_OK)
      throw SaeError("atom index '" + db.file().string() + "': " + sqlite3_errmsg(db.get()));
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt& bind(int i, std::int64_t v) { return check(sqlite3_bind_int64(s_, i, v)); }
  Stmt& bind(int i, double v) { return check(sqlite3_bind_double(s_, i, v)); }
  Stmt& bind(int i, const std::string& v) {
    return check(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw SaeError("atom index '" + db_.file().string() + "': " + sqlite3_errmsg(db_.get()));
  }
  void run() {
    step();
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  std::int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  double f64(int c) const { return sqlite3_column_double(s_, c); }
  std::string text(int c) const {
    const auto* t = sqlite3_column_text(s_, c);
    return t ? std::string(reinterpret_cast<const char*>(t), static_cast<std::size_t>(sqlite3_column_bytes(s_, c))) : "";
  }

 private:
  Stmt& check(int rc) {
    if (rc != SQLITE_OK) throw SaeError("atom index '" + db_.file().string() + "': " + sqlite3_errmsg(db_.get()));
    return *this;
  }
  const Db& db_;
  sqlite3_stmt* s_ = nullptr;
};

constexpr const char* kSchema = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE atoms(id INTEGER PRIMARY KEY, frequency REAL NOT NULL, mean_activation REAL NOT NULL,
                   max_activation REAL NOT NULL, threshold REAL NOT NULL, histogram TEXT NOT NULL);
CREATE TABLE contexts(id INTEGER PRIMARY KEY, atom INTEGER NOT NULL, top_rank INTEGER NOT NULL, activation REAL NOT NULL,
                      row INTEGER NOT NULL, focus INTEGER NOT NULL, text TEXT NOT NULL, tokens TEXT NOT NULL);
CREATE INDEX contexts_atom ON contexts(atom, top_rank);
CREATE TABLE promoted_tokens(atom INTEGER NOT NULL, rank INTEGER NOT NULL, token_id INTEGER NOT NULL, token TEXT NOT NULL,
                             logit REAL NOT NULL, PRIMARY KEY(atom, rank)) WITHOUT ROWID;
CREATE VIRTUAL TABLE contexts_fts USING fts5(text, content='contexts', content_rowid='id');
)sql";

// Rows of the window around `row`: back while positions count down by one, forward while they count up.
std::pair<std::int64_t, std::int64_t> windowAround(const ActivationReader& r, std::int64_t row, std::int64_t left,
                                                   std::int64_t right) {
  std::int64_t b = row, e = row;
  while (row - b < left && b > 0 && r.position(b - 1) == r.position(b) - 1) --b;
  while (e - row < right && e + 1 < r.rows() && r.position(e + 1) == r.position(e) + 1) ++e;
  return {b, e + 1};
}

}  // namespace

void buildAtomIndex(const fs::path& file, SaeImpl& sae, const ActivationReader& reader, const std::string& site,
                    const lm::Tokenizer* tok, const Unembedding* unemb, const AtomIndexOptions& o, core::Feedback* fb) {
  torch::NoGradGuard g;
  reader.requireSite(site);
  if (reader.d() != sae.dIn())
    throw SaeError("the SAE reads width " + std::to_string(sae.dIn()) + " but the activations in '" + reader.folder().string() +
                   "' have width " + std::to_string(reader.d()));
  if (o.topK < 1 || o.left < 0 || o.right < 0 || o.histogramBins < 1) throw SaeError("bad atom index options");
  const auto n = sae.dSae();
  const auto device = sae.W_enc.device();
  const auto rows = o.maxRows > 0 ? std::min(o.maxRows, reader.rows()) : reader.rows();
  const auto k = std::min<std::int64_t>(o.topK, rows);
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(device);
  auto count = torch::zeros({n}, f64), sum = torch::zeros({n}, f64);
  auto topv = torch::full({k, n}, -1.0, torch::TensorOptions().dtype(torch::kFloat32).device(device));
  auto topi = torch::zeros({k, n}, torch::TensorOptions().dtype(torch::kLong).device(device));
  const std::int64_t chunk = 8192;
  // Pass 1: frequency, mean, top-k rows.
  for (std::int64_t i = 0; i < rows; i += chunk) {
    if (fb) {
      fb->throwIfCancelled();
      fb->setProgress(0.45 * static_cast<double>(i) / static_cast<double>(rows), "scanning activations");
    }
    const auto c = std::min(chunk, rows - i);
    auto z = sae.encode(reader.rows(site, i, c).to(device));
    count += (z > 0).sum(0).to(torch::kFloat64);
    sum += z.sum(0).to(torch::kFloat64);
    auto vals = torch::cat({topv, z}, 0);
    auto ids = torch::cat({topi, torch::arange(i, i + c, topi.options()).unsqueeze(1).expand({c, n})}, 0);
    auto [tv, where] = vals.topk(k, 0);
    topv = tv;
    topi = ids.gather(0, where);
  }
  auto maxAct = topv.select(0, 0).clamp_min(0.0);
  // Pass 2: histograms of the nonzero activations over [0, max] per atom.
  const auto bins = o.histogramBins;
  auto hist = torch::zeros({n, bins}, f64);
  auto width = (maxAct / static_cast<double>(bins)).clamp_min(1e-12);
  for (std::int64_t i = 0; i < rows; i += chunk) {
    if (fb) {
      fb->throwIfCancelled();
      fb->setProgress(0.45 + 0.35 * static_cast<double>(i) / static_cast<double>(rows), "activation histograms");
    }
    const auto c = std::min(chunk, rows - i);
    auto z = sae.encode(reader.rows(site, i, c).to(device));
    auto b = (z / width).floor().clamp(0, bins - 1).to(torch::kLong);
    auto flat = (torch::arange(n, b.options()).unsqueeze(0) * bins + b).masked_select(z > 0);
    hist.view({-1}).index_add_(0, flat, torch::ones({flat.numel()}, f64));
  }
  // Write.
  fs::create_directories(file.parent_path().empty() ? fs::path(".") : file.parent_path());
  const auto tmp = fs::path(file.string() + ".tmp");
  fs::remove(tmp);
  {
    Db db(tmp, true);
    db.exec("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;");
    db.exec(kSchema);
    db.exec("BEGIN");
    {
      Stmt meta(db, "INSERT INTO meta(key, value) VALUES(?, ?)");
      const Json m{{"format", "atomscope.atom_index/1"}, {"activations", reader.folder().string()}, {"site", site},
                   {"rows", rows}, {"top_k", k}, {"left", o.left}, {"right", o.right},
                   {"sae_kind", toString(sae.kind())}, {"d_in", sae.dIn()}, {"d_sae", n}, {"sae", sae.info}};
      for (const auto& [key, v] : m.items()) meta.bind(1, key).bind(2, v.is_string() ? v.get<std::string>() : v.dump()).run();
    }
    auto countC = count.to(torch::kCPU), sumC = sum.to(torch::kCPU), maxC = maxAct.to(torch::kCPU).to(torch::kFloat64);
    auto thetaC = sae.threshold().to(torch::kCPU).to(torch::kFloat64);
    auto histC = hist.to(torch::kCPU);
    auto widthC = width.to(torch::kCPU).to(torch::kFloat64);
    {
      Stmt ins(db, "INSERT INTO atoms(id, frequency, mean_activation, max_activation, threshold, histogram) VALUES(?,?,?,?,?,?)");
      for (std::int64_t j = 0; j < n; ++j) {
        const double cnt = countC[j].item<double>();
        Json edges = Json::array(), counts = Json::array();
        const double w = widthC[j].item<double>();
        for (std::int64_t b = 0; b <= bins; ++b) edges.push_back(w * static_cast<double>(b));
        for (std::int64_t b = 0; b < bins; ++b) counts.push_back(static_cast<std::int64_t>(histC[j][b].item<double>()));
        ins.bind(1, j)
            .bind(2, cnt / static_cast<double>(rows))
            .bind(3, cnt > 0 ? sumC[j].item<double>() / cnt : 0.0)
            .bind(4, maxC[j].item<double>())
            .bind(5, thetaC[j].item<double>())
            .bind(6, Json{{"edges", edges}, {"counts", counts}}.dump())
            .run();
      }
    }
    // Contexts: each atom's windows, with its activation on every token of the window.
    auto topvC = topv.to(torch::kCPU), topiC = topi.to(torch::kCPU);
    const auto theta = sae.threshold();
    Stmt ctxIns(db, "INSERT INTO contexts(atom, top_rank, activation, row, focus, text, tokens) VALUES(?,?,?,?,?,?,?)");
    for (std::int64_t j = 0; j < n; ++j) {
      if (fb && j % 64 == 0) {
        fb->throwIfCancelled();
        fb->setProgress(0.8 + 0.2 * static_cast<double>(j) / static_cast<double>(n), "top contexts");
      }
      std::vector<std::pair<std::int64_t, std::int64_t>> spans;
      std::vector<std::int64_t> all;
      std::vector<std::int64_t> kept;
      for (std::int64_t r = 0; r < k; ++r) {
        if (topvC[r][j].item<float>() <= 0) break;
        const auto row = topiC[r][j].item<std::int64_t>();
        auto [b, e] = windowAround(reader, row, o.left, o.right);
        spans.emplace_back(b, e);
        kept.push_back(r);
        for (auto q = b; q < e; ++q) all.push_back(q);
      }
      if (all.empty()) continue;
      auto x = reader.gather(site, torch::tensor(all, torch::kLong)).to(device);
      auto pre = torch::matmul(sae.toTransformed(x) - sae.b_dec, sae.W_enc.select(1, j)) + sae.b_enc[j];
      auto act = sae.kind() == SaeKind::Relu ? torch::relu(pre) : pre * (pre > theta[j]).to(pre.scalar_type());
      auto actC = act.to(torch::kCPU).to(torch::kFloat64);
      std::size_t off = 0;
      for (std::size_t s = 0; s < spans.size(); ++s) {
        const auto [b, e] = spans[s];
        const auto row = topiC[kept[s]][j].item<std::int64_t>();
        Json toks = Json::array();
        std::string text;
        for (auto q = b; q < e; ++q, ++off) {
          const auto id = reader.token(q);
          const std::string t = tok ? tok->tokenText(id) : "<" + std::to_string(id) + ">";
          text += t;
          toks.push_back({{"t", t}, {"id", id}, {"a", actC[static_cast<std::int64_t>(off)].item<double>()}});
        }
        ctxIns.bind(1, j)
            .bind(2, kept[s])
            .bind(3, static_cast<double>(topvC[kept[s]][j].item<float>()))
            .bind(4, row)
            .bind(5, row - b)
            .bind(6, text)
            .bind(7, toks.dump(-1, ' ', false, Json::error_handler_t::replace))
            .run();
      }
    }
    // Promoted tokens: W_U (g * d_j) for the raw-space atom d_j.
    if (unemb && unemb->W_U.defined()) {
      if (unemb->W_U.size(1) != sae.dIn())
        throw SaeError("the unembedding has width " + std::to_string(unemb->W_U.size(1)) + ", the SAE " + std::to_string(sae.dIn()));
      auto D = sae.rawAtoms().to(torch::kCPU).to(torch::kFloat32);
      if (unemb->normScale.defined()) D = D * unemb->normScale;
      auto logits = torch::matmul(D, unemb->W_U.t());  // [n, V]
      const auto m = std::min<std::int64_t>(o.promoted, logits.size(1));
      auto [vals, ids] = logits.topk(m, 1);
      Stmt pIns(db, "INSERT INTO promoted_tokens(atom, rank, token_id, token, logit) VALUES(?,?,?,?,?)");
      for (std::int64_t j = 0; j < n; ++j)
        for (std::int64_t r = 0; r < m; ++r) {
          const auto id = ids[j][r].item<std::int64_t>();
          pIns.bind(1, j).bind(2, r).bind(3, id)
              .bind(4, tok && id < tok->vocabSize() ? tok->tokenText(static_cast<std::int32_t>(id)) : "<" + std::to_string(id) + ">")
              .bind(5, static_cast<double>(vals[j][r].item<float>()))
              .run();
        }
    }
    db.exec("INSERT INTO contexts_fts(contexts_fts) VALUES('rebuild')");
    db.exec("COMMIT");
  }
  fs::rename(tmp, file);
  if (fb) fb->setProgress(1.0, "atom index written");
}

// ------------------------------------------------------------------------------------------ reader

struct AtomIndex::Impl {
  explicit Impl(const fs::path& f) : db(f, false) {}
  Db db;
};

AtomIndex::AtomIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AtomIndex::AtomIndex(AtomIndex&&) noexcept = default;
AtomIndex& AtomIndex::operator=(AtomIndex&&) noexcept = default;
AtomIndex::~AtomIndex() = default;

AtomIndex AtomIndex::open(const fs::path& file) {
  if (!fs::exists(file)) throw SaeError("atom index '" + file.string() + "' does not exist");
  auto impl = std::make_unique<Impl>(file);
  try {
    Stmt s(impl->db, "SELECT value FROM meta WHERE key = 'format'");
    if (!s.step() || s.text(0) != "atomscope.atom_index/1") throw SaeError("");
  } catch (const SaeError&) {
    throw SaeError("'" + file.string() + "' is not an atom index (no meta table with format atomscope.atom_index/1)");
  }
  return AtomIndex(std::move(impl));
}

Json AtomIndex::meta() const {
  Json m = Json::object();
  Stmt s(impl_->db, "SELECT key, value FROM meta");
  while (s.step()) {
    const auto v = s.text(1);
    try {
      m[s.text(0)] = Json::parse(v);
    } catch (const std::exception&) {
      m[s.text(0)] = v;
    }
  }
  return m;
}

std::int64_t AtomIndex::atomCount() const {
  Stmt s(impl_->db, "SELECT count(*) FROM atoms");
  s.step();
  return s.i64(0);
}

namespace {
AtomRow atomFrom(const Stmt& s) {
  AtomRow a;
  a.id = s.i64(0);
  a.frequency = s.f64(1);
  a.meanActivation = s.f64(2);
  a.maxActivation = s.f64(3);
  a.threshold = s.f64(4);
  a.histogram = Json::parse(s.text(5));
  return a;
}
ContextRow contextFrom(const Stmt& s) {
  ContextRow c;
  c.atom = s.i64(0);
  c.rank = s.i64(1);
  c.activation = s.f64(2);
  c.row = s.i64(3);
  c.focus = s.i64(4);
  c.text = s.text(5);
  c.tokens = Json::parse(s.text(6));
  return c;
}
}  // namespace

std::vector<AtomRow> AtomIndex::atoms(const std::string& orderBy, std::int64_t limit) const {
  static const std::vector<std::string> allowed{"id", "frequency", "mean_activation", "max_activation"};
  if (std::find(allowed.begin(), allowed.end(), orderBy) == allowed.end())
    throw SaeError("atoms cannot be ordered by '" + orderBy + "' (id, frequency, mean_activation, max_activation)");
  std::string sql = "SELECT id, frequency, mean_activation, max_activation, threshold, histogram FROM atoms ORDER BY " +
                    orderBy + (orderBy == "id" ? "" : " DESC");
  if (limit > 0) sql += " LIMIT " + std::to_string(limit);
  Stmt s(impl_->db, sql);
  std::vector<AtomRow> out;
  while (s.step()) out.push_back(atomFrom(s));
  return out;
}

std::optional<AtomRow> AtomIndex::atom(std::int64_t id) const {
  Stmt s(impl_->db, "SELECT id, frequency, mean_activation, max_activation, threshold, histogram FROM atoms WHERE id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return atomFrom(s);
}

std::vector<ContextRow> AtomIndex::contexts(std::int64_t atom) const {
  Stmt s(impl_->db, "SELECT atom, top_rank, activation, row, focus, text, tokens FROM contexts WHERE atom = ? ORDER BY top_rank");
  s.bind(1, atom);
  std::vector<ContextRow> out;
  while (s.step()) out.push_back(contextFrom(s));
  return out;
}

std::vector<PromotedToken> AtomIndex::promoted(std::int64_t atom) const {
  Stmt s(impl_->db, "SELECT token_id, token, logit FROM promoted_tokens WHERE atom = ? ORDER BY rank");
  s.bind(1, atom);
  std::vector<PromotedToken> out;
  while (s.step()) out.push_back({s.i64(0), s.text(1), s.f64(2)});
  return out;
}

std::map<std::int64_t, std::vector<PromotedToken>> AtomIndex::promotedByAtom(std::int64_t perAtom) const {
  Stmt s(impl_->db, "SELECT atom, token_id, token, logit FROM promoted_tokens ORDER BY atom, rank");
  std::map<std::int64_t, std::vector<PromotedToken>> out;
  while (s.step()) {
    auto& list = out[s.i64(0)];
    if (static_cast<std::int64_t>(list.size()) < perAtom) list.push_back({s.i64(1), s.text(2), s.f64(3)});
  }
  return out;
}

std::vector<ContextRow> AtomIndex::search(const std::string& query, std::int64_t limit) const {
  Stmt s(impl_->db,
         "SELECT c.atom, c.top_rank, c.activation, c.row, c.focus, c.text, c.tokens FROM contexts_fts f "
         "JOIN contexts c ON c.id = f.rowid WHERE contexts_fts MATCH ? ORDER BY f.rank, c.activation DESC LIMIT ?");
  s.bind(1, query).bind(2, limit);
  std::vector<ContextRow> out;
  try {
    while (s.step()) out.push_back(contextFrom(s));
  } catch (const SaeError& e) {
    throw SaeError("search '" + query + "' failed: " + e.what());
  }
  return out;
}

#else  // no SQLite in this build (the GPU machine)

bool haveAtomIndex() { return false; }

void buildAtomIndex(const fs::path& file, SaeImpl&, const ActivationReader&, const std::string&, const lm::Tokenizer*,
                    const Unembedding*, const AtomIndexOptions&, core::Feedback*) {
  throw SaeError("this build has no SQLite: cannot write the atom index '" + file.string() + "'");
}

struct AtomIndex::Impl {};
AtomIndex::AtomIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AtomIndex::AtomIndex(AtomIndex&&) noexcept = default;
AtomIndex& AtomIndex::operator=(AtomIndex&&) noexcept = default;
AtomIndex::~AtomIndex() = default;
AtomIndex AtomIndex::open(const fs::path& file) {
  throw SaeError("this build has no SQLite: cannot open the atom index '" + file.string() + "'");
}
Json AtomIndex::meta() const { return {}; }
std::int64_t AtomIndex::atomCount() const { return 0; }
std::vector<AtomRow> AtomIndex::atoms(const std::string&, std::int64_t) const { return {}; }
std::optional<AtomRow> AtomIndex::atom(std::int64_t) const { return std::nullopt; }
std::vector<ContextRow> AtomIndex::contexts(std::int64_t) const { return {}; }
std::vector<PromotedToken> AtomIndex::promoted(std::int64_t) const { return {}; }
std::map<std::int64_t, std::vector<PromotedToken>> AtomIndex::promotedByAtom(std::int64_t) const { return {}; }
std::vector<ContextRow> AtomIndex::search(const std::string&, std::int64_t) const { return {}; }

#endif

}  // namespace atomscope::sae
