#include "atomscope/forcefield/xtb_calculator.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <optional>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "atomscope/chem/elements.h"
#include "atomscope/forcefield/error.h"

namespace atomscope::forcefield {

namespace fs = std::filesystem;

namespace {

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string tail(const std::string& text, std::size_t lines) {
  std::size_t pos = text.size(), n = 0;
  while (pos > 0 && n <= lines) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
    ++n;
  }
  return text.substr(pos + 1);
}

// Fortran writes 1.0D-03 as well as 1.0E-03.
double parseNumber(std::string t, const std::string& where) {
  for (auto& c : t)
    if (c == 'D' || c == 'd') c = 'E';
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (end == t.c_str() || *end != '\0' || !std::isfinite(v)) throw ForceFieldError(where + ": '" + t + "' is not a number");
  return v;
}

int runProcess(const std::vector<std::string>& args, const fs::path& dir, const fs::path& log, int threads) {
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (::chdir(dir.c_str()) != 0) ::_exit(126);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    const std::string t = std::to_string(threads);
    ::setenv("OMP_NUM_THREADS", t.c_str(), 1);
    ::setenv("OMP_STACKSIZE", "1G", 1);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

XtbCalculator::XtbCalculator(XtbOptions options) : options_(std::move(options)) {}

CalcResult parseXtbGradient(const std::string& text, std::size_t atoms, const std::string& file) {
  std::istringstream in(text);
  std::string line;
  std::size_t lineNo = 0;
  bool inGrad = false;
  std::optional<double> energy;
  std::vector<std::vector<std::string>> rows;
  while (std::getline(in, line)) {
    ++lineNo;
    if (line.rfind("$grad", 0) == 0) {
      inGrad = true;
      continue;
    }
    if (!inGrad) continue;
    if (line.rfind("$end", 0) == 0 || line.rfind("$", 0) == 0) break;
    const auto where = file + ":" + std::to_string(lineNo);
    if (line.find("cycle") != std::string::npos) {
      const auto k = line.find("energy =");
      if (k == std::string::npos) throw ForceFieldError(where + ": no 'energy =' in the cycle line");
      std::istringstream ls(line.substr(k + 8));
      std::string tok;
      ls >> tok;
      energy = parseNumber(tok, where) * kHartreeEv;
      continue;
    }
    std::istringstream ls(line);
    std::vector<std::string> toks;
    for (std::string t; ls >> t;) toks.push_back(t);
    if (toks.empty()) continue;
    if (toks.size() != 3 && toks.size() != 4) throw ForceFieldError(where + ": expected 3 or 4 columns, found " + std::to_string(toks.size()));
    rows.push_back(toks);
    rows.back().push_back(where);
  }
  if (!energy) throw ForceFieldError(file + ": no $grad block with an energy");
  // Coordinates (x y z symbol) come first, then one gradient row (gx gy gz) per atom.
  if (rows.size() != 2 * atoms)
    throw ForceFieldError(file + ": expected " + std::to_string(2 * atoms) + " rows for " + std::to_string(atoms) +
                          " atoms, found " + std::to_string(rows.size()));
  CalcResult r;
  r.energy = *energy;
  for (std::size_t a = 0; a < atoms; ++a) {
    const auto& row = rows[atoms + a];
    if (row.size() != 4) throw ForceFieldError(row.back() + ": expected a gradient row gx gy gz");
    chem::Vec3 f{};
    for (int c = 0; c < 3; ++c) f[c] = -parseNumber(row[c], row.back()) * kHartreeEv / kBohrAngstrom;
    r.forces.push_back(f);
  }
  return r;
}

CalcResult XtbCalculator::compute(const chem::Structure& s, bool) {
  if (s.empty()) throw ForceFieldError("xtb: the structure has no atoms");
  if (s.isPeriodic()) throw ForceFieldError("xtb: GFN2-xTB runs on molecules only; " + s.formula() + " is periodic");
  if (::access(options_.executable.c_str(), X_OK) != 0)
    throw ForceFieldError("xtb: '" + options_.executable + "' is not an executable (install Debian's xtb package)");
  static std::atomic<int> counter{0};
  const auto dir = fs::temp_directory_path() /
                   ("atomscope-xtb-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::create_directories(dir);
  struct Cleanup {
    fs::path d;
    bool keep;
    ~Cleanup() {
      std::error_code ec;
      if (!keep) fs::remove_all(d, ec);
    }
  } cleanup{dir, options_.keepFolder};
  {
    std::ofstream out(dir / "in.xyz");
    out << s.size() << "\natomscope\n";
    out.precision(12);
    for (std::size_t a = 0; a < s.size(); ++a)
      out << chem::element(s.numbers[a]).symbol << ' ' << s.positions[a][0] << ' ' << s.positions[a][1] << ' '
          << s.positions[a][2] << '\n';
  }
  std::ostringstream acc;
  acc << options_.accuracy;
  const std::vector<std::string> args{options_.executable, "in.xyz", "--gfn", "2", "--grad",
                                      "--chrg", std::to_string(options_.charge), "--uhf", std::to_string(options_.unpaired),
                                      "--acc", acc.str()};
  const int rc = runProcess(args, dir, dir / "xtb.log", options_.threads);
  if (rc != 0)
    throw ForceFieldError("xtb failed on " + s.formula() + " (exit " + std::to_string(rc) + "):\n" + tail(readFile(dir / "xtb.log"), 8));
  const auto grad = dir / "gradient";
  if (!fs::exists(grad)) throw ForceFieldError("xtb wrote no gradient file for " + s.formula() + ":\n" + tail(readFile(dir / "xtb.log"), 8));
  return parseXtbGradient(readFile(grad), s.size(), "xtb gradient file (" + s.formula() + ")");
}

}  // namespace atomscope::forcefield
