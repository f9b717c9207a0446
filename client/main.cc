// kcred: the kcred command-line client. Wiring only.
#include <signal.h>

#include <iostream>
#include <string>
#include <vector>

#include "client/cli.h"

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  return kcred::client::RunCli(args, std::cout, std::cerr);
}
