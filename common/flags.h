#pragma once
// Command-line helpers shared by kcred's absl-flags binaries (kcredd, kcred-devcluster).

#include <string>
#include <vector>

namespace kcred {

// Copies argv, turning dashes inside long flag names into underscores (--data-dir=x becomes
// --data_dir=x) so users may type either; values and positional arguments are left alone.
std::vector<std::string> NormalizeFlagDashes(int argc, char** argv);

// Runs `parse` (absl::ParseCommandLine) over `args` and returns its positional arguments.
template <typename Parse>
std::vector<std::string> ParseNormalized(std::vector<std::string> args, Parse parse) {
  std::vector<char*> cargs;
  for (std::string& arg : args) cargs.push_back(arg.data());
  std::vector<char*> rest = parse(static_cast<int>(cargs.size()), cargs.data());
  return std::vector<std::string>(rest.begin(), rest.end());
}

}  // namespace kcred
