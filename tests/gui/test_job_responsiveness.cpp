// Issue 11, item 6: for every job type the GUI event loop never stalls for 100 ms or more, and a
// cancel reaches run.json within 1 s. Each job is started through the real main window's
// JobManager (every built plugin loaded, so the panels react to the runs as in the app) with small
// real inputs (samples/, ../shared/data: stories260K, tok512, TinyStories, QM9, MP-20, rMD17
// ethanol), chained where a job needs another's output. While it runs a 10 ms precise timer on the
// GUI thread records the largest gap between its ticks (from just before JobManager::start, which
// validates on the GUI thread, to 200 ms after the finish, when the panels load the results).
// Training, sampling and collecting jobs are also started with more work than they can do in
// 0.5 s and cancelled then: the time from JobManager::cancel to run.json saying "cancelled" is the
// cancel latency. The limits (100 ms, 1 s) are the issue's; every job prints a "[ measure  ]" line,
// the table copied into tests/fuzz/README.md ("Responsiveness").
#include <gtest/gtest.h>

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QSet>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "atomscope/core/job.h"
#include "atomscope/core/json.h"
#include "atomscope/core/run_dir.h"
#include "atomscope/gui/job_manager.h"
#include "atomscope/gui/main_window.h"
#include "test_util.h"

#ifdef ATOMSCOPE_HAVE_ALL_JOBS
#include "atomscope/all_jobs.h"
#endif

using namespace atomscope;
using namespace atomscope::gui;

namespace {

const std::string kShared = ATOMSCOPE_SHARED_DATA_DIR;
const std::string kSamples = ATOMSCOPE_SAMPLES_DIR;
const std::string kStories = kSamples + "/models/stories260K/stories260K.bin";
const std::string kTok512 = kShared + "/lm/tok512.bin";
const std::string kSample5 = kShared + "/text/tinystories/tinystories_sample5.txt";
const std::string kValHead = kShared + "/text/tinystories/tinystories_val_head.txt";
const std::string kTrainHead = kShared + "/text/tinystories/tinystories_train_head_2MiB.txt";
const std::string kQm9 = kShared + "/qm9/qm9_reduced_100.xyz";
const std::string kQm9First10 = kSamples + "/structures/qm9_first10.xyz";
const std::string kMp20Test = kShared + "/crystals/mp_20_subset_test.csv";
const std::string kMp20Val = kShared + "/crystals/mp_20_subset_val.csv";
const std::string kEthanol = kSamples + "/structures/ethanol_rmd17_100frames.xyz";
const std::string kBpa = kShared + "/md_forces/3bpa_train_300K.xyz";
const std::string kBpaIsolated = kShared + "/md_forces/3bpa_iso_atoms.xyz";

constexpr qint64 kMaxGapMs = 100;      // issue 11 item 6
constexpr qint64 kMaxCancelMs = 1000;  // issue 11 item 6
constexpr qint64 kCancelAfterMs = 500;

// Every module's jobs, as the app registers them (app/shell/main.cpp: registerAllJobs), copied into
// the global registry before any window exists so that the plugins find them there.
void registerEveryJob() {
#ifdef ATOMSCOPE_HAVE_ALL_JOBS
  static core::JobRegistry all;
  static bool done = false;
  if (done) return;
  done = true;
  registerAllJobs(all);
  auto& global = core::JobRegistry::global();
  for (const auto& info : all.list())
    if (!global.contains(info.name)) {
      const std::string name = info.name;
      global.add([name] { return all.create(name); });
    }
#endif
}

core::RunStatus statusOf(const QString& runDir) {
  try {
    return core::RunDir::open(runDir.toStdString()).status();
  } catch (const std::exception&) {  // not written yet (never torn: atomic rename)
    return core::RunStatus::Running;
  }
}

class JobResponsivenessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { registerEveryJob(); }

  void SetUp() override {
#ifndef ATOMSCOPE_HAVE_ALL_JOBS
    GTEST_SKIP() << "built without modules/all (atomscope_jobs): the module jobs are not there";
#endif
    ASSERT_TRUE(tmp_.isValid());
    window_ = std::make_unique<MainWindow>(tmp_.filePath(QStringLiteral("project/runs")));
    window_->resize(1280, 800);
    window_->loadPlugins({QStringLiteral(ATOMSCOPE_BUILD_PLUGIN_DIR)});
    window_->show();
    ASSERT_TRUE(QTest::qWaitForWindowExposed(window_.get()));
  }
  void TearDown() override {
    if (!window_) return;
    window_->jobs().cancelAll();
    window_->jobs().waitForAll(10000);
    window_.reset();
  }

  QString tmpPath(const QString& name) const { return tmp_.filePath(name); }

  QSet<QString> runFolders() const {
    const QDir root(window_->jobs().runsRoot());
    const auto names = root.entryList(QDir::Dirs | QDir::NoDotAndDotDot);
    return QSet<QString>(names.begin(), names.end());
  }
  QString newRunFolder(const QSet<QString>& before) const {
    for (const QString& n : runFolders())
      if (!before.contains(n)) return QDir(window_->jobs().runsRoot()).absoluteFilePath(n);
    return {};
  }

  // Starts `job` and waits for it (timeoutMs); returns its run folder, or empty after a test
  // failure that holds the job's error. cancel: stop it after kCancelAfterMs instead.
  QString measure(const std::string& job, const Json& params, bool cancel = false, int timeoutMs = 120000) {
    JobManager& jobs = window_->jobs();
    test::GapMeter meter;
    meter.start();
    QElapsedTimer clock;
    clock.start();
    const QSet<QString> before = runFolders();
    int id = -1;
    try {
      id = jobs.start(QString::fromStdString(job), params, QStringLiteral("cpu"), 1ULL);
    } catch (const std::exception& e) {
      ADD_FAILURE() << job << " did not start: " << e.what();
      return {};
    }
    if (id < 0) {
      ADD_FAILURE() << job << " did not start";
      return {};
    }
    qint64 cancelMs = -1;
    if (cancel) {
      test::waitUntil([&] { return jobs.state(id).finished || clock.elapsed() >= kCancelAfterMs; }, 60000);
      if (jobs.state(id).finished) {
        ADD_FAILURE() << job << " finished (" << core::toString(jobs.state(id).status) << ") after "
                      << clock.elapsed() << " ms, before it could be cancelled: " << jobs.state(id).error.toStdString();
        return {};
      }
      QString runDir;
      test::waitUntil([&] { return !(runDir = newRunFolder(before)).isEmpty(); }, 5000);
      EXPECT_FALSE(runDir.isEmpty()) << job << ": no run folder under " << jobs.runsRoot().toStdString();
      QElapsedTimer t;
      t.start();
      jobs.cancel(id);
      bool cancelled = false;
      while (!runDir.isEmpty() && !cancelled && t.elapsed() < 10000) {
        QCoreApplication::processEvents(QEventLoop::AllEvents, 5);
        cancelled = statusOf(runDir) == core::RunStatus::Cancelled;
      }
      cancelMs = t.elapsed();
      EXPECT_TRUE(cancelled) << job << ": run.json says " << core::toString(statusOf(runDir)) << " " << cancelMs
                             << " ms after the cancel";
      EXPECT_LT(cancelMs, kMaxCancelMs) << job << ": run.json said cancelled after " << cancelMs << " ms";
    }
    const bool finished = test::waitUntil([&] { return jobs.state(id).finished; }, timeoutMs);
    const qint64 runMs = clock.elapsed();
    QTest::qWait(200);  // the panels' reaction to the finished run
    meter.stop();
    const JobState s = jobs.state(id);
    std::printf("[ measure  ] %-20s run %6lld ms  max gap %4lld ms (%3.0f ms of it waiting for a CPU, GUI-thread CPU %3.0f ms)"
                "  stall %4.0f ms  cancel %s\n",
                job.c_str(), static_cast<long long>(runMs), static_cast<long long>(meter.maxGap()), meter.queueInMaxGap(),
                meter.cpuInMaxGap(), meter.maxStall(), cancelMs < 0 ? "-" : (std::to_string(cancelMs) + " ms").c_str());
    std::fflush(stdout);
    EXPECT_LT(meter.maxStall(), kMaxGapMs) << job << ": the GUI thread was held for " << meter.maxStall() << " ms ("
                                           << meter.maxGap() << " ms between timer ticks)";
    if (!finished) {
      ADD_FAILURE() << job << " did not finish within " << timeoutMs << " ms";
      return {};
    }
    const auto expected = cancel ? core::RunStatus::Cancelled : core::RunStatus::Completed;
    if (s.status != expected) {
      ADD_FAILURE() << job << " ended " << core::toString(s.status) << ": " << s.error.toStdString();
      return {};
    }
    return s.runDir;
  }

  QTemporaryDir tmp_;
  std::unique_ptr<MainWindow> window_;
};

// The header and first `rows` records of a CSV whose quoted fields span lines (CDVAE's cif column).
std::string headCsv(const std::string& src, const QString& dst, int rows) {
  QFile in(QString::fromStdString(src)), out(dst);
  if (!in.open(QIODevice::ReadOnly) || !out.open(QIODevice::WriteOnly)) return {};
  int records = -1;  // the header first
  long long quotes = 0;
  while (!in.atEnd() && records < rows) {
    const QByteArray line = in.readLine();
    out.write(line);
    quotes += line.count('"');
    if (quotes % 2 == 0) ++records;
  }
  return dst.toStdString();
}

std::string art(const QString& runDir, const char* name) {
  return (runDir + QStringLiteral("/artifacts/") + QString::fromLatin1(name)).toStdString();
}

}  // namespace

TEST_F(JobResponsivenessTest, CoreAndChemistryJobs) {
  measure("core.gemm_benchmark", Json{{"size", 192}, {"iterations", 1000000}, {"dtype", "float32"}}, true);
  measure("chem.convert", Json{{"input", kQm9First10}, {"output_format", "sdf"}});
  // 142 crystals take half a minute: the first 12 of them.
  const std::string mp20 = headCsv(kMp20Test, tmpPath(QStringLiteral("mp20_head12.csv")), 12);
  ASSERT_FALSE(mp20.empty());
  measure("chem.symmetry", Json{{"input", mp20}, {"symprec", 0.1}});
  measure("chem.validity", Json{{"input", kMp20Val}});
}

TEST_F(JobResponsivenessTest, LanguageModelAndMasaJobs) {
  const QString tok = measure("lm.tokenize", Json{{"input", kSample5}, {"tokenizer", kTok512}, {"validation_fraction", 0.2}});
  ASSERT_FALSE(tok.isEmpty());
  const std::string shards = art(tok, "token_shards");
  // The tiny Llama of tests/lm (LmJobs tinyTrain), on the shards.
  Json train{{"data", shards}, {"tokenizer", kTok512}, {"family", "llama"}, {"dim", 32}, {"n_layers", 2},
             {"n_heads", 4}, {"n_kv_heads", 2}, {"context", 16}, {"batch_size", 8}, {"steps", 10},
             {"lr", 3e-3}, {"warmup_steps", 3}, {"checkpoint_every", 10}, {"val_every", 5}};
  const QString trained = measure("lm.train", train);
  ASSERT_FALSE(trained.isEmpty());
  train["steps"] = 1000000;
  train["checkpoint_every"] = 1000000;
  measure("lm.train", train, true);
  const std::string model = art(trained, "model");
  measure("lm.eval", Json{{"model", model}, {"tokenizer", kTok512}, {"data", shards}, {"context", 16}});
  measure("lm.generate", Json{{"model", kStories}, {"max_new_tokens", 40}});
  measure("lm.attention", Json{{"model", kStories}});
  measure("lm.inspect", Json{{"model", model}});
  const QString masa = measure("masa.compress", Json{{"model", kStories}, {"method", "matrix-pca"}, {"ratio", 0.4},
                                                      {"eval_text", kSample5}, {"export", "masa"}});
  ASSERT_FALSE(masa.isEmpty());
  measure("masa.export", Json{{"masa", art(masa, "masa_model")}});
}

TEST_F(JobResponsivenessTest, SparseAutoencoderJobs) {
  // The Atoms plugin test's tiny SAE (test_atoms_plugin.cpp), with fewer steps.
  Json collect{{"model", kStories}, {"data", kValHead}, {"layers", "2"}, {"context", 128}, {"max_activations", 4000}};
  const QString activations = measure("sae.collect", collect);
  ASSERT_FALSE(activations.isEmpty());
  measure("sae.collect", Json{{"model", kStories}, {"data", kTrainHead}, {"layers", "all"}, {"context", 128}}, true);
  const std::string acts = art(activations, "activations");
  Json train{{"activations", acts}, {"latents", 128}, {"steps", 60},     {"batch", 256},
             {"target_l0", 4.0},    {"eval_rows", 1000}, {"dead_window", 20000}};
  const QString trained = measure("sae.train", train);
  ASSERT_FALSE(trained.isEmpty());
  train["steps"] = 100000000;
  measure("sae.train", train, true);
  const std::string sae = art(trained, "sae");
  Json analyze{{"activations", acts}, {"targets", "4"}, {"latents", 128}, {"steps", 20}, {"batch", 256}, {"eval_rows", 1000}};
  measure("sae.analyze", analyze);
  analyze["steps"] = 100000000;
  measure("sae.analyze", analyze, true);
  measure("sae.index", Json{{"sae", sae}, {"activations", acts}, {"top_k", 5}, {"left", 8}, {"right", 3}, {"promoted", 5}});
  measure("sae.neighbors", Json{{"sae", sae}, {"activations", acts}, {"k", 5}});
  measure("sae.encode_text", Json{{"sae", sae}});
  const std::string exported = tmpPath(QStringLiteral("sae_export")).toStdString();
  ASSERT_FALSE(measure("sae.export", Json{{"sae", sae}, {"out", exported}}).isEmpty());
  measure("sae.import", Json{{"folder", exported}});
}

TEST_F(JobResponsivenessTest, GenerativeModelJobs) {
  // The Generate plugin test's tiny model (test_generate_plugin.cpp), with fewer steps.
  const QString prep = measure("adit.prepare", Json{{"sources", kQm9}, {"limit", 20}});
  ASSERT_FALSE(prep.isEmpty());
  const std::string data = art(prep, "data");
  Json vae{{"data", data}, {"size", "tiny"}, {"steps", 4}, {"batch_size", 20}, {"lr", 2e-3}, {"checkpoint_every", 4}};
  const QString vaeRun = measure("adit.train_vae", vae);
  ASSERT_FALSE(vaeRun.isEmpty());
  vae["steps"] = 100000000;
  vae["checkpoint_every"] = 100000000;
  measure("adit.train_vae", vae, true);
  const std::string vaeFile = art(vaeRun, "vae.pt");
  Json dit{{"data", data}, {"vae", vaeFile}, {"size", "tiny"}, {"steps", 4}, {"batch_size", 20}, {"lr", 1e-3}, {"checkpoint_every", 4}};
  const QString ditRun = measure("adit.train_dit", dit);
  ASSERT_FALSE(ditRun.isEmpty());
  dit["steps"] = 100000000;
  dit["checkpoint_every"] = 100000000;
  measure("adit.train_dit", dit, true);
  const std::string ditFile = art(ditRun, "dit.pt");
  Json sample{{"vae", vaeFile}, {"dit", ditFile}, {"count", 12}, {"steps", 10}, {"batch_size", 12}};
  const QString samples = measure("adit.sample", sample);
  ASSERT_FALSE(samples.isEmpty());
  sample["steps"] = 100000;
  measure("adit.sample", sample, true);
  measure("adit.evaluate", Json{{"structures", art(samples, "samples.extxyz")}, {"reference", kQm9}});
}

TEST_F(JobResponsivenessTest, ForceFieldJobs) {
  // A tiny PONITA (tests/forcefield's sizes) on 3BPA frames, then used on rMD17 ethanol (C, H, O).
  Json train{{"train", kBpa},   {"isolated_atoms", kBpaIsolated}, {"train_count", 2}, {"valid_count", 2},
             {"orientations", 4}, {"hidden", 8}, {"basis", 8}, {"layers", 1}, {"steps", 5}, {"batch_size", 1},
             {"eval_every", 0},   {"checkpoint_every", 1000}};
  const QString trained = measure("ff.train", train);
  ASSERT_FALSE(trained.isEmpty());
  train["steps"] = 100000000;
  train["checkpoint_every"] = 100000000;
  measure("ff.train", train, true);
  const std::string model = art(trained, "model.pt");
  measure("ff.predict", Json{{"model", model}, {"structures", kEthanol}, {"limit", 3}});
  measure("ff.evaluate", Json{{"model", model}, {"data", kEthanol}, {"limit", 3}});
  measure("ff.optimize", Json{{"model", model}, {"structure", kEthanol}, {"fmax", 1e-6}, {"max_steps", 5}});
  measure("ff.md", Json{{"model", model}, {"structure", kEthanol}, {"steps", 10}, {"sample_every", 5}});
  measure("ff.md", Json{{"model", model}, {"structure", kEthanol}, {"steps", 100000000}, {"sample_every", 1000}}, true);
  if (QFileInfo(QStringLiteral("/usr/bin/xtb")).isExecutable())
    measure("ff.label", Json{{"structures", kEthanol}, {"limit", 2}});
  else
    std::printf("[ measure  ] %-20s skipped: no /usr/bin/xtb\n", "ff.label");
}

TEST_F(JobResponsivenessTest, ArchitectureSearchJobs) {
  // The NAS plugin test's space (test_nas_plugin.cpp) on the five TinyStories stories.
  Json search{{"data", kSample5}, {"tokenizer", kTok512}, {"layers", "1,2"}, {"heads", "2"}, {"embed", "16,32"},
              {"mlp_ratio", "2,3"}, {"steps", 12}, {"context", 16}, {"batch_size", 4}, {"log_every", 4}};
  const QString searched = measure("nas.search", search);
  ASSERT_FALSE(searched.isEmpty());
  search["steps"] = 100000000;
  measure("nas.search", search, true);
  const std::string dir = searched.toStdString();
  Json evaluate{{"search", dir}, {"steps", 8}, {"context", 16}, {"batch_size", 4}};
  measure("nas.evaluate", evaluate);
  evaluate["steps"] = 100000000;
  measure("nas.evaluate", evaluate, true);
  Json random = search;
  random["samples"] = 2;
  random["steps"] = 8;
  random.erase("log_every");
  measure("nas.random_search", random);
  random["steps"] = 100000000;
  measure("nas.random_search", random, true);
}
