#include "launcher.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;

namespace atomscope::cli {

int freeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("cannot open a socket to find a free port");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port on 127.0.0.1");
  }
  const int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

namespace {

int exitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

int launchRanks(int nproc, const RankCommand& command) {
  const int port = freeLoopbackPort();
  const fs::path scratch = fs::temp_directory_path() / ("atomscope-ranks-" + std::to_string(::getpid()));
  fs::create_directories(scratch);
  std::fprintf(stderr, "data parallel: %d processes, rendezvous on 127.0.0.1:%d\n", nproc, port);
  // The ranks take Ctrl-C themselves (the terminal sends it to the whole group); this process waits.
  struct sigaction ignore{}, oldInt{}, oldTerm{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGINT, &ignore, &oldInt);
  ::sigaction(SIGTERM, &ignore, &oldTerm);

  std::vector<pid_t> pids;
  for (int r = 0; r < nproc; ++r) {
    std::vector<std::string> args{"atomscope-cli"};
    for (const auto& s : r == 0 ? command.rank0 : command.others) args.push_back(s == "{scratch}" ? scratch.string() : s);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("cannot start rank " + std::to_string(r));
    if (pid == 0) {
      ::sigaction(SIGINT, &oldInt, nullptr);
      ::sigaction(SIGTERM, &oldTerm, nullptr);
      ::setenv("ATOMSCOPE_RANK", std::to_string(r).c_str(), 1);
      ::setenv("ATOMSCOPE_LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("ATOMSCOPE_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("ATOMSCOPE_MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("ATOMSCOPE_MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv;
      for (auto& s : args) argv.push_back(s.data());
      argv.push_back(nullptr);
      ::execv("/proc/self/exe", argv.data());
      std::fprintf(stderr, "rank %d: cannot start /proc/self/exe\n", r);
      ::_exit(127);
    }
    pids.push_back(pid);
  }

  std::vector<int> status(nproc, -1);
  int firstFailure = -1, running = nproc;
  std::chrono::steady_clock::time_point killAt{};
  while (running > 0) {
    int st = 0;
    const pid_t done = ::waitpid(-1, &st, WNOHANG);
    if (done < 0) break;
    if (done == 0) {
      // A rank stuck in a collective ignores the polite signal: after 5 s it is killed.
      if (firstFailure >= 0 && std::chrono::steady_clock::now() > killAt)
        for (int k = 0; k < nproc; ++k)
          if (status[k] < 0) ::kill(pids[k], SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    int r = 0;
    while (r < nproc && pids[r] != done) ++r;
    if (r == nproc) continue;
    status[r] = exitStatus(st);
    --running;
    // 130: cancelled, which every rank does together. Anything else stops the others: they would
    // wait for the failed rank in their next all-reduce.
    if (status[r] != 0 && status[r] != 130 && firstFailure < 0) {
      firstFailure = r;
      killAt = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      std::fprintf(stderr, "data parallel: rank %d stopped with status %d; stopping the others\n", r, status[r]);
      for (int k = 0; k < nproc; ++k)
        if (status[k] < 0) ::kill(pids[k], SIGTERM);
    }
  }
  ::sigaction(SIGINT, &oldInt, nullptr);
  ::sigaction(SIGTERM, &oldTerm, nullptr);
  std::error_code ec;
  fs::remove_all(scratch, ec);
  return firstFailure >= 0 ? status[firstFailure] : status[0];
}

}  // namespace atomscope::cli
