#pragma once
// Runs the real atomscope-cli binary (ATOMSCOPE_CLI_PATH) the way a user does, for the CLI tests.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace atomscope::test {

struct CliResult {
  int code = -1;
  std::string out;  // stdout and stderr together
};

inline CliResult cli(const std::string& args) {
  const std::string cmd = std::string(ATOMSCOPE_CLI_PATH) + " " + args + " 2>&1";
  CliResult r;
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// The one run folder under `root` (a test failure if there are more or none).
inline std::filesystem::path onlyRun(const std::filesystem::path& root) {
  std::vector<std::filesystem::path> runs;
  for (const auto& e : std::filesystem::directory_iterator(root)) runs.push_back(e.path());
  EXPECT_EQ(runs.size(), 1u) << root;
  return runs.empty() ? std::filesystem::path() : runs.front();
}

}  // namespace atomscope::test
