#pragma once
// The two ways `kcred provision` describes an account: command-line flags for the common case, and
// a YAML file for everything (the shape is documented in kProvisionFileHelp).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/cli.h"
#include "common/account/spec_yaml.h"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred::client {

// The flags of `kcred provision` that describe the spec (exclusive with -f).
const std::vector<FlagDef>& ProvisionSpecFlags();

// Builds the spec from the flags of ProvisionSpecFlags(). InvalidArgument naming the flag when a
// value is malformed or flags contradict each other (exactly one of --rule, --role-ref,
// --token-only is required).
absl::StatusOr<v1::AccountSpec> BuildSpecFromFlags(const ParsedArgs& args);

// The help text describing the YAML file of `kcred provision -f`.
extern const char kProvisionFileHelp[];

// has_ref: the file names the account (ref: or account:).
using ProvisionFile = AccountDocument;

// Parses a provision file. `source` names it in errors ("FILE:LINE:COL: key.path: problem").
// Unknown keys are errors.
absl::StatusOr<ProvisionFile> ParseProvisionFile(const std::string& text,
                                                 const std::string& source);

}  // namespace kcred::client
