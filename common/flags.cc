#include "common/flags.h"

#include <algorithm>

namespace kcred {

std::vector<std::string> NormalizeFlagDashes(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  for (std::size_t i = 1; i < args.size(); ++i) {
    std::string& arg = args[i];
    if (arg == "--") break;  // everything after is positional
    if (arg.rfind("--", 0) != 0) continue;
    const std::size_t end = std::min(arg.find('='), arg.size());
    std::replace(arg.begin() + 2, arg.begin() + static_cast<std::ptrdiff_t>(end), '-', '_');
  }
  return args;
}

}  // namespace kcred
