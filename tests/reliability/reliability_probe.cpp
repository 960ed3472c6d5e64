// Checks kill_resume.sh runs after every SIGKILL, and at the end:
//   reliability_probe store DB            PRAGMA integrity_check on the project store; exit 0 iff "ok"
//   reliability_probe checkpoints DIR     every finished checkpoint (step-N.pt) loads and holds step N
//   reliability_probe compare REF RUN     RUN's loss curve, final loss and exported weights equal REF's, bitwise
#include <sqlite3.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "atomscope/core/json.h"
#include "atomscope/core/run_dir.h"

namespace fs = std::filesystem;
using atomscope::Json;

namespace {

int checkStore(const fs::path& db) {
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::cerr << db << ": cannot open: " << (h ? sqlite3_errmsg(h) : "out of memory") << "\n";
    sqlite3_close(h);
    return 1;
  }
  sqlite3_busy_timeout(h, 5000);  // a writer may hold the lock for a moment
  sqlite3_stmt* st = nullptr;
  int bad = 0, rows = 0;
  if (sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, nullptr) != SQLITE_OK) {
    std::cerr << db << ": " << sqlite3_errmsg(h) << "\n";
    sqlite3_close(h);
    return 1;
  }
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    ++rows;
    const char* text = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    if (!text || std::strcmp(text, "ok") != 0) {
      ++bad;
      std::cerr << db << ": integrity_check: " << (text ? text : "(null)") << "\n";
    }
  }
  if (rc != SQLITE_DONE) {
    std::cerr << db << ": integrity_check did not finish: " << sqlite3_errmsg(h) << "\n";
    bad = 1;
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  if (rows == 0) bad = 1;
  if (!bad) std::cout << "store ok\n";
  return bad ? 1 : 0;
}

int checkCheckpoints(const fs::path& dir) {
  int n = 0, bad = 0;
  if (!fs::is_directory(dir)) {
    std::cout << "no checkpoints yet\n";
    return 0;
  }
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto step = atomscope::core::RunDir::checkpointStep(e.path());
    if (!step) continue;  // a temp file of an interrupted write is never used
    ++n;
    try {
      torch::serialize::InputArchive in;
      in.load_from(e.path().string());
      torch::Tensor s;
      in.read("step", s);
      if (s.item<std::int64_t>() != *step) {
        std::cerr << e.path() << ": holds step " << s.item<std::int64_t>() << "\n";
        ++bad;
      }
      torch::serialize::InputArchive opt;
      in.read("optimizer", opt);  // the AdamW moments resume needs
    } catch (const std::exception& ex) {
      std::cerr << e.path() << ": does not load: " << ex.what() << "\n";
      ++bad;
    }
  }
  std::cout << n << " checkpoint(s), " << bad << " bad\n";
  return bad ? 1 : 0;
}

std::string fileBytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// step -> the metrics line's loss text; after a resume the later line for a step wins.
std::map<long long, std::string> lossCurve(const fs::path& run) {
  std::map<long long, std::string> c;
  std::ifstream in(run / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const auto j = Json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("loss")) continue;
    c[j.at("step").get<long long>()] = j.at("loss").dump();
  }
  return c;
}

int compareRuns(const fs::path& ref, const fs::path& run) {
  int bad = 0;
  const auto a = atomscope::core::RunDir::open(ref), b = atomscope::core::RunDir::open(run);
  if (b.record().value("status", std::string()) != "completed") {
    std::cerr << run << ": status " << b.record().value("status", std::string()) << "\n";
    return 1;
  }
  for (const char* key : {"final_loss", "final_val_loss"}) {
    const auto x = a.record()["summary"].value(key, Json()).dump(), y = b.record()["summary"].value(key, Json()).dump();
    if (x != y) {
      std::cerr << key << ": " << y << " vs uninterrupted " << x << "\n";
      ++bad;
    }
  }
  const auto ca = lossCurve(ref), cb = lossCurve(run);
  if (ca.size() != cb.size()) {
    std::cerr << "loss curve: " << cb.size() << " steps vs uninterrupted " << ca.size() << "\n";
    ++bad;
  }
  for (const auto& [step, loss] : ca)
    if (!cb.count(step) || cb.at(step) != loss) {
      std::cerr << "loss at step " << step << ": " << (cb.count(step) ? cb.at(step) : "missing") << " vs " << loss
                << "\n";
      ++bad;
    }
  const auto wa = fileBytes(ref / "artifacts/model/model.safetensors"),
             wb = fileBytes(run / "artifacts/model/model.safetensors");
  if (wa.empty() || wa != wb) {
    std::cerr << "exported weights differ (" << wb.size() << " vs " << wa.size() << " bytes)\n";
    ++bad;
  }
  if (!bad)
    std::cout << "identical to the uninterrupted run: " << ca.size() << " losses, final loss "
              << a.record()["summary"]["final_loss"].dump() << ", " << wa.size() << " bytes of weights\n";
  return bad ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "";
  try {
    if (what == "store" && argc == 3) return checkStore(argv[2]);
    if (what == "checkpoints" && argc == 3) return checkCheckpoints(argv[2]);
    if (what == "compare" && argc == 4) return compareRuns(argv[2], argv[3]);
  } catch (const std::exception& e) {
    std::cerr << what << ": " << e.what() << "\n";
    return 1;
  }
  std::cerr << "usage: reliability_probe store DB | checkpoints DIR | compare REF_RUN RUN\n";
  return 2;
}
