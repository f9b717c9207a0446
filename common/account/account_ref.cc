#include "common/account/account_ref.h"

#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/names.h"

namespace kcred {

absl::StatusOr<v1::AccountRef> ParseAccountRef(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '/');
  bool ok = parts.size() == 3;
  for (absl::string_view p : parts) ok = ok && !p.empty();
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("account \"", text,
                     "\" is not CLUSTER/NAMESPACE/NAME (three non-empty parts separated by \"/\"), "
                     "e.g. dev/automation/ci-bot"));
  }
  if (absl::Status s = ValidateDns1123Label(parts[1], "namespace"); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("account \"", text, "\": ", s.message()));
  }
  if (absl::Status s = ValidateDns1123Subdomain(parts[2], "name"); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("account \"", text, "\": ", s.message()));
  }
  v1::AccountRef ref;
  ref.set_cluster(std::string(parts[0]));
  ref.set_namespace_(std::string(parts[1]));
  ref.set_name(std::string(parts[2]));
  return ref;
}

std::string FormatAccountRef(const v1::AccountRef& ref) {
  return absl::StrCat(ref.cluster(), "/", ref.namespace_(), "/", ref.name());
}

absl::StatusOr<absl::Duration> ParseDurationArg(absl::string_view text, absl::string_view what) {
  absl::Duration d;
  if (!absl::ParseDuration(std::string(text), &d) || d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", text,
                     "\" is not a duration; write a number with a unit, e.g. 90s, 30m, 1h30m"));
  }
  if (d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", text, "\" is negative; give a duration of 0s or more"));
  }
  return d;
}

std::string FormatDurationArg(absl::Duration d) {
  if (d == absl::ZeroDuration()) return "0s";
  if (d < absl::ZeroDuration()) return absl::StrCat("-", FormatDurationArg(-d));
  if (d % absl::Seconds(1) != absl::ZeroDuration()) return absl::FormatDuration(d);
  int64_t s = absl::ToInt64Seconds(d);
  std::string out;
  if (s >= 3600) absl::StrAppend(&out, s / 3600, "h");
  if (s % 3600 >= 60) absl::StrAppend(&out, (s % 3600) / 60, "m");
  if (s % 60 != 0) absl::StrAppend(&out, s % 60, "s");
  return out;
}

google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  google::protobuf::Duration out;
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
  return out;
}

absl::Duration FromProtoDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

}  // namespace kcred
