#pragma once
// The kcred command line: global flags, a table of subcommands, each with its own flags and --help.
// Exit codes: 0 ok, 1 failed, 2 usage error.

#include <functional>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "client/connection.h"
#include "common/clock.h"

namespace kcred::client {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

struct FlagDef {
  std::string name;         // long name without dashes, e.g. "output"
  char short_name = 0;      // e.g. 'o'; 0 when none
  bool takes_value = true;  // false for booleans
  std::string value_name;   // e.g. "FILE", shown in help
  std::string help;
  bool repeated = false;  // may be given more than once
};

struct ParsedArgs {
  std::map<std::string, std::vector<std::string>> flags;  // name -> values ("true" for booleans)
  std::vector<std::string> positionals;

  bool Has(const std::string& name) const { return flags.count(name) > 0; }
  // The last value given, or `fallback`.
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  const std::vector<std::string>& All(const std::string& name) const;
};

struct CommandContext {
  ConnectionOptions connection;
  std::ostream& out;
  std::ostream& err;
  std::istream& in;  // for `-f -`
  Clock& clock;      // "expires in 42m", and the watch's reconnect waits
};

struct Command {
  std::string name;
  std::string summary;  // one line for `kcred --help`
  std::string usage;    // "kcred health [--service NAME]"
  std::string details;  // paragraphs for `kcred <name> --help`
  std::vector<FlagDef> flags;
  std::function<int(const ParsedArgs&, CommandContext&)> run;
};

// The global flags every command accepts (--server, --ca, --cert, --key, --insecure, --timeout).
const std::vector<FlagDef>& GlobalFlags();

// Parses `args` against `defs`; on error returns false and sets `error` (naming the flag).
bool ParseFlags(const std::vector<std::string>& args, const std::vector<FlagDef>& defs,
                ParsedArgs* parsed, std::string* error);

// Runs the kcred command line with std::cin and the real clock.
int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
// Runs the kcred command line with explicit streams and clock (tests).
int RunCli(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
           std::ostream& err, Clock& clock);

// Registration of command groups (each in its own file).
void AddBasicCommands(std::vector<Command>& commands);
void AddAccountCommands(std::vector<Command>& commands);
void AddAccessCommands(std::vector<Command>& commands);  // client/access_commands.cc
void AddWatchCommand(std::vector<Command>& commands);    // client/watch_command.cc
void AddTokenCommand(std::vector<Command>& commands);    // client/token_command.cc
void AddDoctorCommand(std::vector<Command>& commands);   // client/doctor_command.cc

}  // namespace kcred::client
