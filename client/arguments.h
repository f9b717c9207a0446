#pragma once
// Parsers and printers for what users type on kcred's command line: account references, RBAC rule
// shorthands, durations, key=value pairs and role references. Each parser validates completely and
// returns InvalidArgument whose message names the input and shows a correct example. Account
// references and durations live in common/account (kcredd reads them too); they are named here as
// well so that client code calls them like the rest.

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/account/account_ref.h"
#include "google/protobuf/timestamp.pb.h"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred::client {

using ::kcred::FormatAccountRef;
using ::kcred::FormatDurationArg;
using ::kcred::FromProtoDuration;
using ::kcred::ParseAccountRef;
using ::kcred::ParseDurationArg;
using ::kcred::ToProtoDuration;

// The --rule shorthand VERBS:RESOURCES[:APIGROUPS[:NAMES]], each part a comma-separated list.
// An empty API group item (or an empty APIGROUPS part) is the core group "". Examples:
// "get,list:pods,configmaps", "get:deployments:apps", "get:configmaps::app-config".
absl::StatusOr<v1::PolicyRule> ParseRule(absl::string_view text);

// "key=value" with a non-empty key; `what` names the flag (e.g. "--label").
absl::StatusOr<std::pair<std::string, std::string>> ParseKeyValue(absl::string_view text,
                                                                  absl::string_view what);

// "Role/NAME" or "ClusterRole/NAME".
absl::StatusOr<v1::RoleRef> ParseRoleRef(absl::string_view text);

// google.protobuf.Timestamp as absl::Time.
absl::Time FromProtoTimestamp(const google::protobuf::Timestamp& t);

// "in 42m", "3h12m ago", "now": how far `t` lies from `now`, rounded to a readable unit.
std::string FormatRelative(absl::Time t, absl::Time now);

// "2026-11-29T01:00:00Z (in 42m)"; "-" when the timestamp is unset.
std::string FormatTimestamp(bool is_set, const google::protobuf::Timestamp& t, absl::Time now);

}  // namespace kcred::client
