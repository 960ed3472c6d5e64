#pragma once
// Starts the ranks of a data-parallel job: N copies of this program, one per device, that meet on a
// loopback port (rendezvous through c10d's TCP store, which rank 0 serves). Rank 0 is the run the
// user sees (its run folder, progress, checkpoints); the other ranks work in a scratch folder that
// is removed at the end. A Ctrl-C reaches every rank, and they stop together at the same step; when
// one rank fails, the others are stopped.
#include <string>
#include <vector>

namespace atomscope::cli {

struct RankCommand {
  std::vector<std::string> rank0;   // arguments after the program name
  std::vector<std::string> others;  // "{scratch}" is replaced by the scratch folder
};

// Returns rank 0's exit status, or the first failing rank's.
int launchRanks(int nproc, const RankCommand& command);

// A TCP port on 127.0.0.1 that was free a moment ago.
int freeLoopbackPort();

}  // namespace atomscope::cli
