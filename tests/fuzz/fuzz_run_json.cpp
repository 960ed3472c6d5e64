// libFuzzer target: a run folder's record as `resume`, `runs` and `show` read it (core::RunDir::open
// on run.json, then the accessors and readMetrics on metrics.jsonl). The first byte picks the file:
// even = run.json, odd = metrics.jsonl beside a valid run.json. Anything rejected must be a
// core::Error; a record that opens must answer its accessors without throwing anything else.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "atomscope/core/error.h"
#include "atomscope/core/run_dir.h"

using namespace atomscope;
using namespace atomscope::core;
namespace fs = std::filesystem;

namespace {

const fs::path& folder() {
  static const fs::path p = [] {
    const auto d = fs::temp_directory_path() / ("atomscope-fuzz-run-" + std::to_string(::getpid()));
    fs::create_directories(d / "checkpoints");
    return d;
  }();
  return p;
}

void write(const fs::path& file, const char* data, std::size_t size) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(data, static_cast<std::streamsize>(size));
}

const char kValid[] =
    R"({"format": "atomscope.run/1", "id": "r", "job": "lm.train", "status": "running", "params": {}, "summary": {}, "artifacts": []})";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const char* text = reinterpret_cast<const char*>(data) + 1;
  if (data[0] % 2 == 0) {
    write(folder() / "run.json", text, size - 1);
    fs::remove(folder() / "metrics.jsonl");
  } else {
    write(folder() / "run.json", kValid, sizeof kValid - 1);
    write(folder() / "metrics.jsonl", text, size - 1);
  }
  try {
    const auto run = RunDir::open(folder());
    (void)run.id();
    (void)run.jobName();
    (void)toString(run.status());
    // What resume, runs and show read, with the types they read them as.
    (void)run.record().value("params", Json::object()).dump();
    (void)run.record().value("created", std::string());
    (void)run.record().value("device", std::string("auto"));
    (void)run.record().value("resume_count", 0);
    (void)run.record().value("pid", Json());
    (void)run.record().value("host", std::string());
    if (run.record().contains("seed") && !run.record()["seed"].is_null()) (void)run.record().value("seed", 0ULL);
    for (const auto& a : run.record()["artifacts"]) (void)a["path"].get<std::string>();
    (void)run.latestCheckpoint();
    for (const auto& m : run.readMetrics()) (void)m.values.size();
  } catch (const Error&) {
  }
  return 0;
}
