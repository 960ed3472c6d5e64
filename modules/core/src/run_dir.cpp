#include "atomscope/core/run_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>

#include "atomscope/core/error.h"

namespace fs = std::filesystem;

namespace atomscope::core {

namespace {

const char* const kStatusNames[] = {"created", "running", "completed", "failed", "cancelled"};
constexpr const char* kFormat = "atomscope.run/1";

std::string readWholeFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error(p.string() + ": cannot be read");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

std::string randomId(int length) {
  static thread_local std::mt19937_64 rng(std::random_device{}() ^
                                          std::chrono::steady_clock::now().time_since_epoch().count());
  const char* alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string s;
  for (int i = 0; i < length; ++i) s += alphabet[rng() % 36];
  return s;
}

std::string compactTimestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

std::string safeJobName(const std::string& job) {
  std::string s;
  for (char c : job) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') ? c : '_';
  return s.empty() ? "job" : s;
}

std::string hostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

}  // namespace

std::string toString(RunStatus s) { return kStatusNames[static_cast<int>(s)]; }

RunStatus runStatusFromString(const std::string& s) {
  for (int i = 0; i < 5; ++i)
    if (s == kStatusNames[i]) return static_cast<RunStatus>(i);
  throw Error("unknown run status '" + s + "'");
}

std::string isoTimeNow() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t t = system_clock::to_time_t(now);
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03lldZ", buf, static_cast<long long>(ms));
  return out;
}

double secondsSinceIso(const std::string& iso) {
  std::tm tm{};
  int ms = 0;
  if (iso.size() < 19 || !strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%S", &tm))
    throw Error("'" + iso + "' is not an ISO time like 2026-11-29T01:24:37.123Z");
  if (iso.size() >= 23 && iso[19] == '.') ms = std::atoi(iso.substr(20, 3).c_str());
  const std::time_t t = timegm(&tm);
  using namespace std::chrono;
  const double now = duration<double>(system_clock::now().time_since_epoch()).count();
  return now - (static_cast<double>(t) + ms / 1000.0);
}

void writeFileAtomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp-" + randomId(6);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(tmp.string() + ": cannot be created for writing");
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error(path.string() + ": write failed (disk full?)");
    }
    done += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw Error(path.string() + ": cannot be replaced");
  }
}

RunDir RunDir::create(const fs::path& root, const std::string& jobName) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) throw Error(root.string() + ": cannot create the runs folder (" + ec.message() + ")");
  for (int attempt = 0; attempt < 20; ++attempt) {
    const std::string id = randomId(6);
    const fs::path dir = root / (compactTimestamp() + "-" + safeJobName(jobName) + "-" + id);
    if (fs::create_directory(dir, ec)) {
      RunDir run(dir);
      fs::create_directories(run.artifactsDir());
      fs::create_directories(run.checkpointsDir());
      const std::string now = isoTimeNow();
      run.record_ = Json{{"format", kFormat},
                         {"id", dir.filename().string()},
                         {"job", jobName},
                         {"status", toString(RunStatus::Created)},
                         {"created", now},
                         {"updated", now},
                         {"finished", nullptr},
                         {"params", Json::object()},
                         {"seed", nullptr},
                         {"device", nullptr},
                         {"versions", Json::object()},
                         {"summary", Json::object()},
                         {"artifacts", Json::array()},
                         {"error", nullptr},
                         {"resume_count", 0},
                         {"pid", static_cast<long long>(::getpid())},
                         {"host", hostName()}};
      run.save();
      return run;
    }
  }
  throw Error(root.string() + ": cannot create a new run folder (" + ec.message() + ")");
}

RunDir RunDir::open(const fs::path& dir) {
  RunDir run(dir);
  const fs::path file = run.recordPath();
  if (!fs::exists(file)) throw Error(file.string() + ": missing; " + dir.string() + " is not a run folder");
  Json j;
  try {
    j = Json::parse(readWholeFile(file));
  } catch (const Json::parse_error& e) {
    throw Error(file.string() + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw Error(file.string() + ": expected a JSON object");
  for (const char* key : {"id", "job", "status"})
    if (!j.contains(key) || !j[key].is_string())
      throw Error(file.string() + ": field '" + std::string(key) + "' is missing or not text");
  try {
    runStatusFromString(j["status"].get<std::string>());
  } catch (const Error& e) {
    throw Error(file.string() + ": " + e.what());
  }
  if (j.contains("artifacts") && !j["artifacts"].is_array())
    throw Error(file.string() + ": field 'artifacts' must be an array");
  // Fields the front ends read with a type: a hand-edited or damaged record is refused here, by
  // name, rather than failing later inside a JSON accessor.
  auto expect = [&](const char* key, bool ok, const char* what) {
    if (j.contains(key) && !j[key].is_null() && !ok)
      throw Error(file.string() + ": field '" + std::string(key) + "' must be " + what);
  };
  for (const char* key : {"format", "created", "updated", "finished", "device", "host", "error"})
    expect(key, j.contains(key) && j[key].is_string(), "text");
  expect("seed", j.contains("seed") && j["seed"].is_number_unsigned(), "a non-negative integer");
  for (const char* key : {"pid", "resume_count"})
    expect(key, j.contains(key) && j[key].is_number_integer(), "an integer");
  expect("params", j.contains("params") && j["params"].is_object(), "an object");
  expect("versions", j.contains("versions") && j["versions"].is_object(), "an object");
  for (const auto& a : j.contains("artifacts") ? j["artifacts"] : Json::array())
    if (!a.is_object() || !a.contains("path") || !a["path"].is_string())
      throw Error(file.string() + ": every entry of 'artifacts' must be an object with a text 'path'");
  if (!j.contains("summary") || !j["summary"].is_object()) j["summary"] = Json::object();
  if (!j.contains("artifacts")) j["artifacts"] = Json::array();
  run.record_ = std::move(j);
  return run;
}

std::string RunDir::id() const { return record_.value("id", dir_.filename().string()); }
std::string RunDir::jobName() const { return record_.value("job", std::string()); }
RunStatus RunDir::status() const { return runStatusFromString(record_.value("status", std::string("created"))); }

void RunDir::setStatus(RunStatus status, const std::string& error) {
  std::lock_guard lock(*mutex_);
  record_["status"] = toString(status);
  record_["updated"] = isoTimeNow();
  if (status == RunStatus::Completed || status == RunStatus::Failed || status == RunStatus::Cancelled)
    record_["finished"] = record_["updated"];
  else
    record_["finished"] = nullptr;
  record_["error"] = error.empty() ? Json() : Json(error);
  save();
}

void RunDir::setSummary(const std::string& key, const Json& value) {
  std::lock_guard lock(*mutex_);
  record_["summary"][key] = value;
  save();
}

void RunDir::heartbeat() {
  std::lock_guard lock(*mutex_);
  record_["updated"] = isoTimeNow();
  save();
}

void RunDir::save() const {
  std::lock_guard lock(*mutex_);
  writeFileAtomically(recordPath(), record_.dump(2) + "\n");
}

Json metricsLine(const MetricPoint& point) {
  Json j{{"step", point.step}, {"seconds", point.seconds}};
  for (const auto& [k, v] : point.values) j[k] = std::isfinite(v) ? Json(v) : Json(nullptr);
  return j;
}

void RunDir::appendMetrics(const MetricPoint& point) const {
  const std::string line = metricsLine(point).dump() + "\n";
  // O_APPEND writes of one line are atomic enough for a reader that skips a torn last line.
  const int fd = ::open(metricsPath().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(metricsPath().string() + ": cannot be opened for appending");
  const ssize_t n = ::write(fd, line.data(), line.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size())) throw Error(metricsPath().string() + ": write failed (disk full?)");
}

std::vector<MetricPoint> RunDir::readMetrics() const {
  std::vector<MetricPoint> out;
  std::ifstream in(metricsPath());
  if (!in) return out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Json j = Json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;  // torn line after a crash
    if ((j.contains("step") && !j["step"].is_number_integer()) || (j.contains("seconds") && !j["seconds"].is_number()))
      continue;  // not a line we wrote
    MetricPoint p;
    p.step = j.value("step", 0LL);
    p.seconds = j.value("seconds", 0.0);
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "step" || it.key() == "seconds") continue;
      if (it->is_number()) p.values[it.key()] = it->get<double>();
      else if (it->is_null()) p.values[it.key()] = std::numeric_limits<double>::quiet_NaN();
    }
    out.push_back(std::move(p));
  }
  return out;
}

fs::path RunDir::addArtifact(const std::string& fileName, const std::string& kind, const std::string& description) {
  std::lock_guard lock(*mutex_);
  if (fileName.empty() || fileName.find("..") != std::string::npos || fs::path(fileName).is_absolute())
    throw Error("artifact name '" + fileName + "' must be a relative path inside the run's artifacts folder");
  const fs::path full = artifactsDir() / fileName;
  fs::create_directories(full.parent_path());
  auto& list = record_["artifacts"];
  bool found = false;
  for (auto& a : list)
    if (a.value("path", std::string()) == "artifacts/" + fileName) {
      a["kind"] = kind;
      a["description"] = description;
      found = true;
    }
  if (!found) list.push_back(Json{{"path", "artifacts/" + fileName}, {"kind", kind}, {"description", description}});
  save();
  return full;
}

fs::path RunDir::checkpointPath(long long step, const std::string& extension) const {
  char name[64];
  std::snprintf(name, sizeof name, "step-%012lld.%s", step, extension.c_str());
  return checkpointsDir() / name;
}

std::optional<long long> RunDir::checkpointStep(const fs::path& file) {
  const std::string name = file.filename().string();
  if (name.rfind("step-", 0) != 0) return std::nullopt;
  const auto dot = name.find('.', 5);
  if (dot == std::string::npos || dot == 5) return std::nullopt;
  const std::string digits = name.substr(5, dot - 5);
  for (char c : digits)
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  if (name.find(".tmp") != std::string::npos) return std::nullopt;  // incomplete write
  return std::stoll(digits);
}

std::optional<fs::path> RunDir::latestCheckpoint() const {
  std::optional<fs::path> best;
  long long bestStep = -1;
  std::error_code ec;
  if (!fs::is_directory(checkpointsDir(), ec)) return best;
  for (const auto& e : fs::directory_iterator(checkpointsDir(), ec)) {
    if (!e.is_regular_file()) continue;
    auto step = checkpointStep(e.path());
    if (step && *step > bestStep) {
      bestStep = *step;
      best = e.path();
    }
  }
  return best;
}

}  // namespace atomscope::core
