#include "cli.h"

#include "atomscope/core/memory_limits.h"

int main(int argc, char** argv) {
  atomscope::core::keepFreedHostMemory();  // before any thread allocates: tensors reuse freed pages
  return atomscope::cli::runCli(argc, argv);
}
