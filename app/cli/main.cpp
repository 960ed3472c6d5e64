#include "cli.h"

int main(int argc, char** argv) { return atomscope::cli::runCli(argc, argv); }
