// Crash safety (issue 11 item 3): a run whose process was killed is stale at once when its recorded
// process is gone from this host, so `resume` right after a SIGKILL works; a live process with a
// fresh heartbeat is never stale. The dead process is a real child, forked here and reaped.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomscope/core/run_dir.h"
#include "atomscope/core/runner.h"
#include "test_util.h"

using namespace atomscope;
using namespace atomscope::core;

TEST(RunStaleness, ARunOfADeadProcessIsStaleAtOnce) {
  test::ScopedTempDir dir("staleness");
  auto run = RunDir::create(dir.path(), "core.gemm_benchmark");
  run.setStatus(RunStatus::Running);  // fresh heartbeat, our own pid and host
  EXPECT_FALSE(isStale(RunDir::open(run.path())));

  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);  // reaped: the pid no longer exists
  run.mutableRecord()["pid"] = static_cast<long long>(child);
  run.save();
  EXPECT_TRUE(isStale(RunDir::open(run.path())));

  // Recorded on another host: the pid means nothing here, the heartbeat rule decides.
  run.mutableRecord()["host"] = "some-other-host.invalid";
  run.save();
  EXPECT_FALSE(isStale(RunDir::open(run.path())));
}
