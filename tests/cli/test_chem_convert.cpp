// chem.convert through the job registry and through the real atomscope-cli binary.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <sys/wait.h>

#include "atomscope/chem/chem_jobs.h"
#include "atomscope/chem/formats.h"
#include "atomscope/chem/toolkits.h"
#include "atomscope/chem/xyz.h"
#include "atomscope/core/runner.h"
#include "test_util.h"

using namespace atomscope;
namespace fs = std::filesystem;

namespace {

const fs::path kConvertData = fs::path(ATOMSCOPE_SHARED_DATA_DIR);
const fs::path kAspirin = kConvertData / "md_forces" / "md17_aspirin_15frames.xyz";

core::JobRegistry& registry() {
  static core::JobRegistry r;
  if (!r.contains("chem.convert")) chem::registerChemIoJobs(r);
  return r;
}

core::RunOutcome convert(const Json& params, const fs::path& root) {
  core::Feedback fb;
  return core::runJob(registry(), core::RunRequest{"chem.convert", params, "cpu", 1, root}, fb);
}

double maxDiff(const chem::Structure& a, const chem::Structure& b) {
  if (a.numbers != b.numbers) return 1e9;
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    for (int k = 0; k < 3; ++k) m = std::max(m, std::abs(a.positions[i][k] - b.positions[i][k]));
  return m;
}

}  // namespace

TEST(ChemConvertJob, LastFrameOfATrajectoryToPdb) {
  test::ScopedTempDir dir("chem_convert");
  // PDB goes through Open Babel; a build without the toolkits (the GPU machine's) writes extended XYZ instead.
  const std::string format = chem::hasToolkits() ? "pdb" : "xyz";
  const fs::path target = dir / (chem::hasToolkits() ? "last.pdb" : "last.xyz");
  const auto out = convert(Json{{"input", kAspirin.string()}, {"output", target.string()}, {"frames", "last"}},
                           dir / "runs");
  ASSERT_EQ(out.status, core::RunStatus::Completed) << out.error;
  const chem::Trajectory source = chem::readXyz(kAspirin);
  const chem::Trajectory written = chem::readStructureFile(target);
  ASSERT_EQ(written.size(), 1u);
  EXPECT_LT(maxDiff(written[0], source.back()), 5.1e-4);  // PDB prints 3 decimals
  const auto run = core::RunDir::open(out.runDir);
  EXPECT_EQ(run.record()["summary"]["frames_read"], 15);  // 15 frames in the shared file (README.md)
  EXPECT_EQ(run.record()["summary"]["frames_written"], 1);
  EXPECT_EQ(run.record()["summary"]["output_format"], format);
}

#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
TEST(ChemConvertJob, CsvRowToCifArtifact) {
  test::ScopedTempDir dir("chem_convert_csv");
  const fs::path csv = kConvertData / "crystals" / "mp_20_subset_test.csv";
  const auto out = convert(Json{{"input", csv.string()}, {"output_format", "cif"}, {"frames", "2"}}, dir / "runs");
  ASSERT_EQ(out.status, core::RunStatus::Completed) << out.error;
  const fs::path artifact = out.runDir / "artifacts" / "mp_20_subset_test.cif";
  ASSERT_TRUE(fs::exists(artifact));
  const chem::Structure row2 = chem::readStructureFile(csv).at(2);
  const chem::Trajectory back = chem::readStructureFile(artifact);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].formula(), row2.formula());
  EXPECT_LT(maxDiff(back[0], row2), 1e-9);  // our CIF keeps 12 decimals; same cell orientation
}
#endif

TEST(ChemConvertJob, FailuresSayWhatWasWrong) {
  test::ScopedTempDir dir("chem_convert_bad");
  auto out = convert(Json{{"input", kAspirin.string()}, {"output", (dir / "x.xyz").string()}, {"frames", "99"}}, dir / "runs");
  EXPECT_EQ(out.status, core::RunStatus::Failed);
  EXPECT_NE(out.error.find("frame 99 does not exist: the file has 15 frame(s)"), std::string::npos) << out.error;
  {
    std::FILE* f = std::fopen((dir / "bad.xyz").c_str(), "w");
    std::fputs("3\ncomment\nC 0 0 0\nH 1 0 0\n", f);
    std::fclose(f);
  }
  out = convert(Json{{"input", (dir / "bad.xyz").string()}, {"output", (dir / "y.cif").string()}}, dir / "runs");
  EXPECT_EQ(out.status, core::RunStatus::Failed);
  EXPECT_NE(out.error.find("bad.xyz:5:"), std::string::npos) << out.error;
  EXPECT_THROW(convert(Json{{"input", (dir / "missing.xyz").string()}}, dir / "runs"), core::ParamError);
}

// The same through the command line a user types.
TEST(ChemConvertJob, FromTheCommandLine) {
  test::ScopedTempDir dir("chem_convert_cli");
  const std::string ext = chem::hasToolkits() ? "sdf" : "xyz";  // SDF goes through Open Babel
  const std::string cmd = std::string(ATOMSCOPE_CLI_PATH) + " --project " + (dir / "proj").string() +
                          " run chem.convert --param input=" + kAspirin.string() + " --param output=" +
                          (dir / ("first." + ext)).string() + " --param frames=first 2>&1";
  std::string text;
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) text.append(buf.data(), n);
  const int status = pclose(p);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << text;
  const chem::Trajectory back = chem::readStructureFile(dir / ("first." + ext));
  ASSERT_EQ(back.size(), 1u);
  EXPECT_LT(maxDiff(back[0], chem::readXyz(kAspirin).front()), 5.1e-5);  // SDF prints 4 decimals
}
