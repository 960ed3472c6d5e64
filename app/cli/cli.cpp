#include "cli.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "atomscope/all_jobs.h"
#include "atomscope/core/code_files.h"
#include "atomscope/core/device.h"
#include "atomscope/core/error.h"
#include "atomscope/core/runner.h"
#include "launcher.h"
#include "progress_bar.h"
#include "run_catalog.h"
#ifdef ATOMSCOPE_HAVE_STORE
#include "atomscope/store/project_store.h"
#endif

namespace fs = std::filesystem;

namespace atomscope::cli {

namespace {

using core::Error;

constexpr int kExitOk = 0, kExitFailed = 1, kExitUsage = 2, kExitCancelled = 130;

std::atomic<int> gInterrupts{0};
extern "C" void onInterrupt(int) {
  if (gInterrupts.fetch_add(1) >= 1) _exit(kExitCancelled);  // a second Ctrl-C leaves at once
}

const char* kUsage = R"(atomscope-cli: run Atomscope jobs without the GUI.

Usage: atomscope-cli [--project DIR] COMMAND [ARGS]

Commands:
  jobs [NAME] [--json]            list jobs, or one job's parameters with their help
  run JOB [--param k=v]... [--params FILE.json] [--device D] [--seed N] [--out DIR] [--quiet] [--nproc N]
                                  run a job; Ctrl-C cancels cleanly (the run is kept, status cancelled);
                                  --nproc N: data parallel over N processes (one per GPU with --device cuda)
  runs [--job J] [--status S] [--tag T]
                                  list the runs of the project (indexed in <project>/atomscope.db)
  tag RUN TAG [--remove]          add (or remove) a tag on a run
  note RUN TEXT                   attach a note to a run
  show RUN [--json] [--metrics]   a run's record: params, status, summary, artifacts
  resume RUN [--device D] [--nproc N]
                                  continue a cancelled, failed or crashed run from its last checkpoint
                                  (at any number of processes)
  export RUN --to DIR             copy a run's record, metrics (CSV) and artifacts to DIR/<run id>/
  devices                         the compute devices LibTorch sees

Options:
  --project DIR   runs folder (default: $ATOMSCOPE_PROJECT, else ./runs)
  --trust         allow TorchScript model files (they are code) in run and resume
  RUN             a run folder, its id, or a unique part of its id

Exit status: 0 done, 1 the job failed, 2 bad command or parameters, 130 cancelled.
)";

struct Args {
  std::vector<std::string> positional;
  std::multimap<std::string, std::string> options;
  std::set<std::string> flags;

  std::string option(const std::string& name, const std::string& fallback = {}) const {
    auto it = options.find(name);
    return it == options.end() ? fallback : it->second;
  }
  bool has(const std::string& name) const { return options.count(name) || flags.count(name); }
};

const std::set<std::string> kFlagNames = {"--json", "--quiet", "--metrics", "--help", "-h", "--remove", "--trust"};

Args parseArgs(int argc, char** argv, int first) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) == 0 || s == "-h") {
      const auto eq = s.find('=');
      if (kFlagNames.count(s)) {
        a.flags.insert(s);
      } else if (eq != std::string::npos && s != "--param") {
        a.options.emplace(s.substr(0, eq), s.substr(eq + 1));
      } else {
        if (i + 1 >= argc) throw core::ParamError("option " + s + " needs a value");
        a.options.emplace(s, argv[++i]);
      }
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

fs::path projectRoot(const Args& a) {
  if (a.has("--project")) return a.option("--project");
  if (const char* env = std::getenv("ATOMSCOPE_PROJECT")) return env;
  return "runs";
}

std::string readFile(const fs::path& p) {
  std::ifstream in(p);
  if (!in) throw Error(p.string() + ": cannot be read");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

int cmdJobs(const core::JobRegistry& reg, const Args& a) {
  if (!a.positional.empty()) {
    auto job = reg.create(a.positional[0]);
    const auto info = job->info();
    const auto schema = job->schema();
    if (a.has("--json")) {
      std::cout << Json{{"name", info.name}, {"title", info.title}, {"category", info.category},
                        {"description", info.description}, {"resumable", info.resumable},
                        {"schema", schema.toJson()}}
                       .dump(2)
                << "\n";
      return kExitOk;
    }
    std::cout << info.name << ": " << info.title << "\n\n" << info.description << "\n\nParameters:\n";
    for (const auto& s : schema.specs()) {
      std::cout << "  " << s.name << " (" << core::toString(s.type);
      if (s.min || s.max) {
        auto num = [](const std::optional<double>& v, const char* none) {
          if (!v) return std::string(none);
          if (std::abs(*v) < 1e15 && *v == static_cast<double>(static_cast<long long>(*v)))
            return std::to_string(static_cast<long long>(*v));
          std::ostringstream os;
          os << *v;
          return os.str();
        };
        std::cout << ", " << num(s.min, "-inf") << " .. " << num(s.max, "inf");
      }
      if (!s.choices.empty()) {
        std::cout << ": ";
        for (size_t i = 0; i < s.choices.size(); ++i) std::cout << (i ? "|" : "") << s.choices[i];
      }
      std::cout << ")  default " << (s.required() ? "(required)" : s.defaultValue.dump()) << "\n      " << s.help
                << "\n";
    }
    std::cout << "\nExample: atomscope-cli run " << info.name;
    for (const auto& s : schema.specs())
      if (!s.required() && s.type != core::ParamType::Device) {
        std::cout << " --param " << s.name << "=" << (s.defaultValue.is_string() ? s.defaultValue.get<std::string>() : s.defaultValue.dump());
        break;
      }
    std::cout << " --device cpu\n";
    return kExitOk;
  }
  const auto jobs = reg.list();
  if (a.has("--json")) {
    Json list = Json::array();
    for (const auto& j : jobs) list.push_back(Json{{"name", j.name}, {"title", j.title}, {"category", j.category}});
    std::cout << list.dump(2) << "\n";
    return kExitOk;
  }
  std::map<std::string, std::vector<core::JobInfo>> byCategory;
  for (const auto& j : jobs) byCategory[j.category].push_back(j);
  for (const auto& [cat, list] : byCategory) {
    std::cout << cat << ":\n";
    for (const auto& j : list) std::printf("  %-28s %s\n", j.name.c_str(), j.title.c_str());
  }
  std::cout << "\n'atomscope-cli jobs NAME' shows a job's parameters.\n";
  return kExitOk;
}

// Runs `work` on this thread while a watcher turns Ctrl-C into a cancel request.
core::RunOutcome withInterruptCancels(core::Feedback& fb, const std::function<core::RunOutcome()>& work) {
  gInterrupts = 0;
  std::signal(SIGINT, onInterrupt);
  std::signal(SIGTERM, onInterrupt);
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    bool told = false;
    while (!done) {
      if (gInterrupts.load() > 0 && !told) {
        fb.requestCancel();
        std::fprintf(stderr, "\ncancelling (Ctrl-C again to quit at once)...\n");
        told = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  core::RunOutcome out;
  try {
    out = work();
  } catch (...) {
    done = true;
    watcher.join();
    std::signal(SIGINT, SIG_DFL);
    throw;
  }
  done = true;
  watcher.join();
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  return out;
}

int reportOutcome(const core::RunOutcome& out, ProgressBar& bar) {
  bar.finish();
  const auto run = core::RunDir::open(out.runDir);
  std::fprintf(stderr, "run %s: %s\n", run.id().c_str(), core::toString(out.status).c_str());
  for (auto it = run.record()["summary"].begin(); it != run.record()["summary"].end(); ++it)
    std::fprintf(stderr, "  %s = %s\n", it.key().c_str(), it->dump().c_str());
  std::printf("%s\n", out.runDir.string().c_str());  // stdout: the run folder, for scripts
  if (out.status == core::RunStatus::Failed) {
    std::fprintf(stderr, "error: %s\n", out.error.c_str());
    return kExitFailed;
  }
  return out.status == core::RunStatus::Cancelled ? kExitCancelled : kExitOk;
}

// The command line after the program name, as given (the ranks of a data-parallel run repeat it).
std::vector<std::string> gCommandLine;

std::vector<std::string> withoutOption(const std::vector<std::string>& args, const std::string& name) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == name) {
      ++i;  // and its value
      continue;
    }
    if (args[i].rfind(name + "=", 0) == 0) continue;
    out.push_back(args[i]);
  }
  return out;
}

int processCount(const Args& a) {
  if (!a.has("--nproc")) return 1;
  const auto text = a.option("--nproc");
  try {
    std::size_t used = 0;
    const int n = std::stoi(text, &used);
    if (used == text.size() && n >= 1 && n <= 1024) return n;
  } catch (const std::exception&) {
  }
  throw core::ParamError("--nproc expects a number of processes from 1 to 1024, got '" + text + "'");
}

void requireDataParallel(const core::JobRegistry& reg, const std::string& job) {
  if (!reg.create(job)->info().dataParallel)
    throw core::ParamError("job '" + job + "' does not run data-parallel; leave out --nproc");
}

int cmdRun(const core::JobRegistry& reg, const Args& a) {
  if (const int n = processCount(a); n > 1) {
    if (a.positional.empty()) throw core::ParamError("run needs a job name; 'atomscope-cli jobs' lists them");
    requireDataParallel(reg, a.positional[0]);
    RankCommand cmd;
    cmd.rank0 = withoutOption(gCommandLine, "--nproc");
    if (!a.has("--seed")) {  // every rank needs the same seed
      cmd.rank0.push_back("--seed");
      cmd.rank0.push_back(std::to_string(std::random_device{}() & 0x7fffffff));
    }
    cmd.others = withoutOption(cmd.rank0, "--out");
    cmd.others.insert(cmd.others.end(), {"--out", "{scratch}", "--quiet"});
    return launchRanks(n, cmd);
  }
  if (a.positional.empty()) throw core::ParamError("run needs a job name; 'atomscope-cli jobs' lists them");
  core::RunRequest req;
  req.job = a.positional[0];
  if (a.positional.size() > 1) throw core::ParamError("unexpected argument '" + a.positional[1] + "'");
  const auto schema = reg.create(req.job)->schema();
  if (a.has("--params")) {
    const fs::path file = a.option("--params");
    try {
      req.params = Json::parse(readFile(file));
    } catch (const Json::parse_error& e) {
      throw core::ParamError(file.string() + ": not valid JSON (" + e.what() + ")");
    }
    if (!req.params.is_object()) throw core::ParamError(file.string() + ": expected a JSON object of parameters");
  }
  auto range = a.options.equal_range("--param");
  for (auto it = range.first; it != range.second; ++it) {
    const auto eq = it->second.find('=');
    if (eq == std::string::npos || eq == 0)
      throw core::ParamError("--param expects name=value, got '" + it->second + "'");
    const std::string name = it->second.substr(0, eq);
    req.params[name] = schema.valueFromText(name, it->second.substr(eq + 1));
  }
  if (a.has("--device")) req.device = a.option("--device");
  if (a.has("--seed")) {
    try {
      req.seed = std::stoull(a.option("--seed"));
    } catch (const std::exception&) {
      throw core::ParamError("--seed expects a non-negative integer");
    }
  }
  req.runsRoot = a.has("--out") ? fs::path(a.option("--out")) : projectRoot(a);
  core::checkCodeFileParams(req.params);  // TorchScript needs --trust; pickles are refused

  core::Feedback fb;
  auto bar = std::make_shared<ProgressBar>(stderr, ::isatty(2), a.has("--quiet"));
  fb.addSink(bar);
  const auto out = withInterruptCancels(fb, [&] { return core::runJob(reg, req, fb); });
  return reportOutcome(out, *bar);
}

int cmdResume(const core::JobRegistry& reg, const Args& a) {
  if (a.positional.empty()) throw core::ParamError("resume needs a run");
  const fs::path dir = RunCatalog(projectRoot(a)).find(a.positional[0]);
  core::checkCodeFileParams(core::RunDir::open(dir).record().value("params", Json::object()));
  if (const int n = processCount(a); n > 1) {
    requireDataParallel(reg, core::RunDir::open(dir).jobName());
    RankCommand cmd;
    cmd.rank0 = withoutOption(gCommandLine, "--nproc");
    cmd.others = {"_rank-resume", fs::absolute(dir).string(), "--out", "{scratch}", "--quiet"};
    if (a.has("--device")) cmd.others.insert(cmd.others.end(), {"--device", a.option("--device")});
    return launchRanks(n, cmd);
  }
  core::Feedback fb;
  auto bar = std::make_shared<ProgressBar>(stderr, ::isatty(2), a.has("--quiet"));
  fb.addSink(bar);
  std::optional<std::string> device;
  if (a.has("--device")) device = a.option("--device");
  const auto out = withInterruptCancels(fb, [&] { return core::resumeJob(reg, dir, fb, device); });
  return reportOutcome(out, *bar);
}

// A rank > 0 of a resumed data-parallel run: a scratch run with the run's parameters and seed that
// starts from the run's newest checkpoint, while rank 0 resumes the run itself.
int cmdRankResume(const core::JobRegistry& reg, const Args& a) {
  if (a.positional.empty() || !a.has("--out")) throw core::ParamError("_rank-resume needs a run and --out");
  const auto run = core::RunDir::open(a.positional[0]);
  core::RunRequest req;
  req.job = run.jobName();
  req.params = run.record().value("params", Json::object());
  req.seed = run.record().value("seed", 0ULL);
  req.device = a.has("--device") ? a.option("--device") : run.record().value("device", std::string("auto"));
  req.runsRoot = a.option("--out");
  req.startFrom = run.latestCheckpoint();
  core::Feedback fb;
  auto bar = std::make_shared<ProgressBar>(stderr, ::isatty(2), true);
  fb.addSink(bar);
  const auto out = withInterruptCancels(fb, [&] { return core::runJob(reg, req, fb); });
  return reportOutcome(out, *bar);
}

#ifdef ATOMSCOPE_HAVE_STORE
store::ProjectStore openStore(const fs::path& root) {
  fs::create_directories(root);
  auto db = store::ProjectStore::open(root / "atomscope.db", root);
  for (const auto& w : db.openInfo().warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  return db;
}

int cmdRuns(const Args& a) {
  const fs::path root = projectRoot(a);
  if (!fs::is_directory(root)) {
    std::cout << "no runs in " << root.string() << "\n";
    return kExitOk;
  }
  auto db = openStore(root);
  const auto report = db.sync();
  for (const auto& p : report.problems) std::fprintf(stderr, "warning: %s\n", p.c_str());
  store::RunFilter filter;
  filter.job = a.option("--job");
  filter.status = a.option("--status");
  filter.tag = a.option("--tag");
  const auto runs = db.listRuns(filter);
  if (a.has("--json")) {
    Json list = Json::array();
    for (const auto& r : runs)
      list.push_back(Json{{"id", r.id}, {"job", r.job}, {"status", r.status}, {"created", r.created},
                          {"dir", r.dir.string()}, {"summary", r.summary}, {"tags", r.tags}});
    std::cout << list.dump(2) << "\n";
    return kExitOk;
  }
  if (runs.empty()) {
    std::cout << "no runs in " << root.string() << "\n";
    return kExitOk;
  }
  std::printf("%-44s %-22s %-10s %-20s %s\n", "RUN", "JOB", "STATUS", "CREATED", "SUMMARY / TAGS");
  for (const auto& r : runs) {
    RunEntry e{r.id, r.job, r.status, r.created, r.dir, r.summary};
    std::string text = e.summaryText(60);
    for (const auto& t : r.tags) text += " #" + t;
    std::printf("%-44s %-22s %-10s %-20s %s\n", r.id.c_str(), r.job.c_str(), r.status.c_str(),
                r.created.substr(0, 19).c_str(), text.c_str());
  }
  return kExitOk;
}

int cmdTag(const Args& a) {
  if (a.positional.size() != 2) throw core::ParamError("usage: tag RUN TAG [--remove]");
  const fs::path root = projectRoot(a);
  const auto run = core::RunDir::open(RunCatalog(root).find(a.positional[0]));
  auto db = openStore(root);
  db.indexRun(run.path());
  if (a.has("--remove")) db.removeTag(run.id(), a.positional[1]);
  else db.addTag(run.id(), a.positional[1]);
  std::string tags;
  for (const auto& t : db.tags(run.id())) tags += " #" + t;
  std::printf("%s:%s\n", run.id().c_str(), tags.c_str());
  return kExitOk;
}

int cmdNote(const Args& a) {
  if (a.positional.size() != 2) throw core::ParamError("usage: note RUN TEXT");
  const fs::path root = projectRoot(a);
  const auto run = core::RunDir::open(RunCatalog(root).find(a.positional[0]));
  auto db = openStore(root);
  db.indexRun(run.path());
  db.addNote(run.id(), a.positional[1]);
  std::printf("%s: %zu note(s)\n", run.id().c_str(), db.notes(run.id()).size());
  return kExitOk;
}
#else
int cmdTag(const Args&) { throw core::Error("this build has no project store (ATOMSCOPE_STORE=OFF)"); }
int cmdNote(const Args&) { throw core::Error("this build has no project store (ATOMSCOPE_STORE=OFF)"); }

int cmdRuns(const Args& a) {
  RunCatalog catalog(projectRoot(a));
  const auto runs = catalog.list(a.option("--job"), a.option("--status"));
  if (a.has("--json")) {
    Json list = Json::array();
    for (const auto& r : runs) list.push_back(r.toJson());
    std::cout << list.dump(2) << "\n";
    return kExitOk;
  }
  if (runs.empty()) {
    std::cout << "no runs in " << catalog.root().string() << "\n";
    return kExitOk;
  }
  std::printf("%-44s %-22s %-10s %-20s %s\n", "RUN", "JOB", "STATUS", "CREATED", "SUMMARY");
  for (const auto& r : runs)
    std::printf("%-44s %-22s %-10s %-20s %s\n", r.id.c_str(), r.job.c_str(), r.status.c_str(),
                r.created.substr(0, 19).c_str(), r.summaryText(60).c_str());
  for (const auto& p : catalog.problems()) std::fprintf(stderr, "warning: %s\n", p.c_str());
  return kExitOk;
}
#endif

int cmdShow(const Args& a) {
  if (a.positional.empty()) throw core::ParamError("show needs a run");
  const auto run = core::RunDir::open(RunCatalog(projectRoot(a)).find(a.positional[0]));
  if (a.has("--json")) {
    std::cout << run.record().dump(2) << "\n";
    return kExitOk;
  }
  const auto& r = run.record();
  std::cout << "run      " << run.id() << "\nfolder   " << run.path().string() << "\njob      " << run.jobName()
            << "\nstatus   " << RunCatalog::displayStatus(run) << "\ncreated  " << r.value("created", "")
            << "\nupdated  " << r.value("updated", "") << "\ndevice   " << r.value("device", Json()).dump()
            << "\nseed     " << r.value("seed", Json()).dump() << "\n";
  if (r.contains("error") && r["error"].is_string()) std::cout << "error    " << r["error"].get<std::string>() << "\n";
  std::cout << "params:\n";
  for (auto it = r["params"].begin(); it != r["params"].end(); ++it)
    std::cout << "  " << it.key() << " = " << it->dump() << "\n";
  std::cout << "summary:\n";
  for (auto it = r["summary"].begin(); it != r["summary"].end(); ++it)
    std::cout << "  " << it.key() << " = " << it->dump() << "\n";
  std::cout << "artifacts:\n";
  for (const auto& art : r["artifacts"])
    std::cout << "  " << art.value("path", "") << "  (" << art.value("kind", "") << ") " << art.value("description", "")
              << "\n";
  if (a.has("--metrics")) {
    const auto metrics = run.readMetrics();
    std::map<std::string, std::pair<size_t, double>> last;
    for (const auto& m : metrics)
      for (const auto& [k, v] : m.values) {
        last[k].first++;
        last[k].second = v;
      }
    std::cout << "metrics (" << metrics.size() << " points):\n";
    for (const auto& [k, cv] : last) std::cout << "  " << k << ": " << cv.first << " values, last " << cv.second << "\n";
  }
  return kExitOk;
}

int cmdExport(const Args& a) {
  if (a.positional.empty() || !a.has("--to")) throw core::ParamError("usage: export RUN --to DIR");
  const auto run = core::RunDir::open(RunCatalog(projectRoot(a)).find(a.positional[0]));
  const fs::path target = fs::path(a.option("--to")) / run.id();
  fs::create_directories(target);
  fs::copy_file(run.recordPath(), target / "run.json", fs::copy_options::overwrite_existing);
  if (fs::exists(run.path() / "log.txt"))
    fs::copy_file(run.path() / "log.txt", target / "log.txt", fs::copy_options::overwrite_existing);
  // metrics.csv: one row per step, one column per metric name (empty where a step lacks it).
  const auto metrics = run.readMetrics();
  std::set<std::string> names;
  for (const auto& m : metrics)
    for (const auto& [k, v] : m.values) names.insert(k);
  std::ofstream csv(target / "metrics.csv");
  csv << "step,seconds";
  for (const auto& n : names) csv << "," << n;
  csv << "\n";
  csv.precision(10);
  for (const auto& m : metrics) {
    csv << m.step << "," << m.seconds;
    for (const auto& n : names) {
      csv << ",";
      auto it = m.values.find(n);
      if (it != m.values.end()) csv << it->second;
    }
    csv << "\n";
  }
  size_t copied = 0;
  if (fs::exists(run.artifactsDir())) {
    fs::copy(run.artifactsDir(), target / "artifacts",
             fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    for (const auto& e : fs::recursive_directory_iterator(target / "artifacts"))
      if (e.is_regular_file()) ++copied;
  }
  std::fprintf(stderr, "exported %s: run.json, metrics.csv (%zu rows, %zu metrics), %zu artifact file(s)\n",
               run.id().c_str(), metrics.size(), names.size(), copied);
  std::printf("%s\n", target.string().c_str());
  return kExitOk;
}

int cmdDevices() {
  for (const auto& d : core::availableDevices()) std::printf("%-8s %s\n", d.name.c_str(), d.description.c_str());
  std::printf("LibTorch %s\n", core::torchVersion().c_str());
  return kExitOk;
}

}  // namespace

int runCli(int argc, char** argv) {
  int first = 1;
  std::string project;
  // Global options before the command.
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--project" && i + 1 < argc) {
      project = argv[++i];
    } else if (s.rfind("--project=", 0) == 0) {
      project = s.substr(10);
    } else if (s == "--trust") {
      core::CodeTrust::trustAll(true);
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (rest.size() < 2 || std::string(rest[1]) == "--help" || std::string(rest[1]) == "-h" ||
      std::string(rest[1]) == "help") {
    std::fputs(kUsage, rest.size() < 2 ? stderr : stdout);
    return rest.size() < 2 ? kExitUsage : kExitOk;
  }
  const std::string command = rest[1];
  gCommandLine.assign(argv + 1, argv + argc);
  try {
    Args a = parseArgs(static_cast<int>(rest.size()), rest.data(), first + 1);
    if (!project.empty()) a.options.emplace("--project", project);
    if (a.has("--trust")) core::CodeTrust::trustAll(true);
    if (a.has("--help") || a.has("-h")) {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    auto& reg = core::JobRegistry::global();
    registerAllJobs(reg);
    if (command == "jobs") return cmdJobs(reg, a);
    if (command == "run") return cmdRun(reg, a);
    if (command == "resume") return cmdResume(reg, a);
    if (command == "_rank-resume") return cmdRankResume(reg, a);
    if (command == "runs") return cmdRuns(a);
    if (command == "show") return cmdShow(a);
    if (command == "export") return cmdExport(a);
    if (command == "tag") return cmdTag(a);
    if (command == "note") return cmdNote(a);
    if (command == "devices") return cmdDevices();
    std::fprintf(stderr, "unknown command '%s'\n\n%s", command.c_str(), kUsage);
    return kExitUsage;
  } catch (const core::ParamError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return kExitUsage;
  }
}

}  // namespace atomscope::cli
