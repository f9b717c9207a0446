#include "client/cli.h"

#include <algorithm>
#include <iostream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace kcred::client {
namespace {

const FlagDef* FindFlag(const std::vector<FlagDef>& defs, const std::string& name,
                        char short_name) {
  for (const auto& d : defs) {
    if ((!name.empty() && d.name == name) || (short_name != 0 && d.short_name == short_name))
      return &d;
  }
  return nullptr;
}

void PrintFlags(std::ostream& out, const std::vector<FlagDef>& defs) {
  for (const auto& d : defs) {
    std::string left = "  ";
    if (d.short_name != 0) absl::StrAppend(&left, "-", std::string(1, d.short_name), ", ");
    absl::StrAppend(&left, "--", d.name);
    if (d.takes_value) absl::StrAppend(&left, " ", d.value_name.empty() ? "VALUE" : d.value_name);
    out << left;
    if (left.size() < 28) {
      out << std::string(28 - left.size(), ' ');
    } else {
      out << "\n" << std::string(28, ' ');
    }
    out << d.help << "\n";
  }
}

std::string GlobalHelp(const std::vector<Command>& commands) {
  std::ostringstream out;
  out << "kcred: the client of kcredd, the Kubernetes credential broker.\n\n"
         "Usage:\n  kcred [global flags] COMMAND [flags] [args]\n\nCommands:\n";
  for (const auto& c : commands) {
    out << "  " << c.name << std::string(c.name.size() < 14 ? 14 - c.name.size() : 1, ' ')
        << c.summary << "\n";
  }
  out << "\nGlobal flags (also from the environment: KCRED_SERVER, KCRED_CA, KCRED_CERT, "
         "KCRED_KEY):\n";
  PrintFlags(out, GlobalFlags());
  out << "\nRun `kcred COMMAND --help` (or `kcred help COMMAND`) for a command's flags.\n"
         "Exit codes: 0 ok, 1 failed, 2 usage error.\n";
  return out.str();
}

void CommandHelp(std::ostream& out, const Command& c) {
  out << "kcred " << c.name << ": " << c.summary << "\n\nUsage:\n  " << c.usage << "\n";
  if (!c.details.empty()) out << "\n" << c.details << "\n";
  if (!c.flags.empty()) {
    out << "\nFlags:\n";
    PrintFlags(out, c.flags);
  }
  out << "\nGlobal flags:\n";
  PrintFlags(out, GlobalFlags());
}

std::string EnvOr(const char* name, const std::string& value) {
  if (!value.empty()) return value;
  const char* env = std::getenv(name);
  return env != nullptr ? env : "";
}

}  // namespace

std::string ParsedArgs::Get(const std::string& name, const std::string& fallback) const {
  auto it = flags.find(name);
  if (it == flags.end() || it->second.empty()) return fallback;
  return it->second.back();
}

const std::vector<std::string>& ParsedArgs::All(const std::string& name) const {
  static const std::vector<std::string> kEmpty;
  auto it = flags.find(name);
  return it == flags.end() ? kEmpty : it->second;
}

const std::vector<FlagDef>& GlobalFlags() {
  static const std::vector<FlagDef> kFlags = {
      {"server", 0, true, "ADDR",
       "kcredd address: unix:/path or host:port (default " + std::string(kDefaultServer) + ")"},
      {"ca", 0, true, "FILE", "CA certificate that signs kcredd's TLS certificate"},
      {"cert", 0, true, "FILE", "client certificate for mTLS"},
      {"key", 0, true, "FILE", "private key of the client certificate"},
      {"insecure", 0, false, "", "plaintext TCP (only against kcredd --insecure)"},
      {"timeout", 0, true, "DURATION", "deadline of each call (default 10s)"},
      {"help", 'h', false, "", "show help"},
  };
  return kFlags;
}

bool ParseFlags(const std::vector<std::string>& args, const std::vector<FlagDef>& defs,
                ParsedArgs* parsed, std::string* error) {
  bool only_positionals = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (only_positionals || arg == "-" || arg.size() < 2 || arg[0] != '-') {
      parsed->positionals.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positionals = true;
      continue;
    }
    std::string name, value;
    bool has_inline_value = false;
    const FlagDef* def = nullptr;
    if (absl::StartsWith(arg, "--")) {
      name = arg.substr(2);
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_inline_value = true;
      }
      def = FindFlag(defs, name, 0);
    } else {
      if (arg.size() != 2) {
        *error = absl::StrCat("unknown flag \"", arg, "\" (long flags take two dashes)");
        return false;
      }
      def = FindFlag(defs, "", arg[1]);
    }
    if (def == nullptr) {
      *error = absl::StrCat("unknown flag \"", arg, "\"");
      return false;
    }
    if (def->takes_value) {
      if (!has_inline_value) {
        if (i + 1 >= args.size()) {
          *error = absl::StrCat("flag --", def->name, " needs a value (", def->value_name, ")");
          return false;
        }
        value = args[++i];
      }
    } else {
      if (has_inline_value && value != "true" && value != "false") {
        *error = absl::StrCat("flag --", def->name, " takes no value (or =true/=false)");
        return false;
      }
      if (!has_inline_value) value = "true";
      if (value == "false") {
        parsed->flags.erase(def->name);
        continue;
      }
    }
    auto& values = parsed->flags[def->name];
    if (!def->repeated && !values.empty() && def->takes_value) values.clear();
    values.push_back(value);
  }
  return true;
}

int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  RealClock clock;
  return RunCli(args, std::cin, out, err, clock);
}

int RunCli(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
           std::ostream& err, Clock& clock) {
  std::vector<Command> commands;
  AddBasicCommands(commands);
  AddAccountCommands(commands);
  AddAccessCommands(commands);
  AddWatchCommand(commands);
  AddTokenCommand(commands);
  AddDoctorCommand(commands);
  std::sort(commands.begin(), commands.end(),
            [](const Command& a, const Command& b) { return a.name < b.name; });

  // The command is the first argument that is not a global flag or its value.
  const Command* command = nullptr;
  std::vector<std::string> rest;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (command == nullptr && !a.empty() && a[0] != '-') {
      for (const auto& c : commands) {
        if (c.name == a) command = &c;
      }
      if (command == nullptr) {
        if (a == "help") {
          // `kcred help COMMAND` is `kcred COMMAND --help`.
          if (i + 1 < args.size()) {
            for (const auto& c : commands) {
              if (c.name == args[i + 1]) {
                CommandHelp(out, c);
                return kExitOk;
              }
            }
            err << "kcred help: unknown command \"" << args[i + 1]
                << "\"; run `kcred --help` for the list\n";
            return kExitUsage;
          }
          out << GlobalHelp(commands);
          return kExitOk;
        }
        err << "kcred: unknown command \"" << a << "\"; run `kcred --help` for the list\n";
        return kExitUsage;
      }
      continue;
    }
    if (command == nullptr && !a.empty() && a[0] == '-' && a.find('=') == std::string::npos) {
      // A global flag before the command may take the next argument as its value.
      const std::string name = absl::StartsWith(a, "--") ? a.substr(2) : "";
      const FlagDef* def = FindFlag(GlobalFlags(), name, a.size() == 2 ? a[1] : 0);
      rest.push_back(a);
      if (def != nullptr && def->takes_value && i + 1 < args.size()) rest.push_back(args[++i]);
      continue;
    }
    rest.push_back(a);
  }

  std::vector<FlagDef> defs = GlobalFlags();
  if (command != nullptr) defs.insert(defs.end(), command->flags.begin(), command->flags.end());
  ParsedArgs parsed;
  std::string error;
  if (!ParseFlags(rest, defs, &parsed, &error)) {
    err << "kcred" << (command ? " " + command->name : "") << ": " << error << "; run `kcred"
        << (command ? " " + command->name : "") << " --help`\n";
    return kExitUsage;
  }
  if (command == nullptr) {
    if (parsed.Has("help")) {
      out << GlobalHelp(commands);
      return kExitOk;
    }
    err << GlobalHelp(commands);
    return kExitUsage;
  }
  if (parsed.Has("help")) {
    CommandHelp(out, *command);
    return kExitOk;
  }

  CommandContext ctx{ConnectionOptions{}, out, err, in, clock};
  ctx.connection.server = parsed.Get("server");
  ctx.connection.ca_file = EnvOr("KCRED_CA", parsed.Get("ca"));
  ctx.connection.cert_file = EnvOr("KCRED_CERT", parsed.Get("cert"));
  ctx.connection.key_file = EnvOr("KCRED_KEY", parsed.Get("key"));
  ctx.connection.insecure = parsed.Has("insecure");
  if (parsed.Has("timeout")) {
    absl::Duration timeout;
    if (!absl::ParseDuration(parsed.Get("timeout"), &timeout) || timeout <= absl::ZeroDuration()) {
      err << "kcred " << command->name << ": --timeout \"" << parsed.Get("timeout")
          << "\" is not a positive duration such as 5s or 1m\n";
      return kExitUsage;
    }
    ctx.connection.timeout = timeout;
  }
  return command->run(parsed, ctx);
}

}  // namespace kcred::client
