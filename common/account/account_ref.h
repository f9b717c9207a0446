#pragma once
// Account references and durations as people write them, on kcred's command line and in YAML
// (provision files, kcredd's declared accounts): parsers that validate completely and return
// InvalidArgument naming the input with a correct example, and the printers that go with them.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred {

// CLUSTER/NAMESPACE/NAME: exactly three non-empty parts; the namespace must be a DNS-1123 label
// and the name a DNS-1123 subdomain (the cluster ID is checked by kcredd against its config).
absl::StatusOr<v1::AccountRef> ParseAccountRef(absl::string_view text);

// "cluster/namespace/name".
std::string FormatAccountRef(const v1::AccountRef& ref);

// A non-negative duration with units, as Go and kubectl write them: "90s", "30m", "1h30m", "0s".
// `what` names the input in the error (e.g. "--ttl").
absl::StatusOr<absl::Duration> ParseDurationArg(absl::string_view text, absl::string_view what);

// The shortest Go-style spelling of a duration: "1h30m", "45s", "0s" (sub-second parts as "1.5s").
std::string FormatDurationArg(absl::Duration d);

// Conversions between google.protobuf.Duration and absl::Duration.
google::protobuf::Duration ToProtoDuration(absl::Duration d);
absl::Duration FromProtoDuration(const google::protobuf::Duration& d);

}  // namespace kcred
