#pragma once
// atomscope-cli: the headless front end. Every GUI action has a command here.
namespace atomscope::cli {
int runCli(int argc, char** argv);
}
