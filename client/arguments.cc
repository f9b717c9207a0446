#include "client/arguments.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/names.h"

namespace kcred::client {
namespace {

constexpr char kRuleForm[] =
    "expected VERBS:RESOURCES[:APIGROUPS[:NAMES]], e.g. 'get,list:pods,configmaps' or "
    "'get:deployments:apps'";

// Splits a comma-separated list; `allow_empty_items` keeps empty items (the core API group).
absl::StatusOr<std::vector<std::string>> SplitList(absl::string_view rule, absl::string_view list,
                                                   absl::string_view what, bool allow_empty_items) {
  std::vector<std::string> items;
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (item.empty() && !allow_empty_items) {
      return absl::InvalidArgumentError(
          absl::StrCat("--rule \"", rule, "\": empty ", what, " in \"", list, "\"; ", kRuleForm));
    }
    items.emplace_back(item);
  }
  return items;
}

}  // namespace

absl::StatusOr<v1::PolicyRule> ParseRule(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  if (parts.size() < 2 || parts.size() > 4) {
    return absl::InvalidArgumentError(absl::StrCat("--rule \"", text, "\": ", kRuleForm));
  }
  if (absl::StripAsciiWhitespace(parts[0]).empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--rule \"", text, "\": no verbs before the first \":\"; ", kRuleForm));
  }
  if (absl::StripAsciiWhitespace(parts[1]).empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--rule \"", text, "\": no resources after the first \":\"; ", kRuleForm));
  }
  v1::PolicyRule rule;
  auto verbs = SplitList(text, parts[0], "verb", false);
  if (!verbs.ok()) return verbs.status();
  for (auto& v : *verbs) rule.add_verbs(v);
  auto resources = SplitList(text, parts[1], "resource", false);
  if (!resources.ok()) return resources.status();
  for (auto& r : *resources) rule.add_resources(r);
  if (parts.size() >= 3) {
    auto groups = SplitList(text, parts[2], "API group", true);
    if (!groups.ok()) return groups.status();
    for (auto& g : *groups) rule.add_api_groups(g);
  }
  if (parts.size() == 4) {
    if (absl::StripAsciiWhitespace(parts[3]).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--rule \"", text,
                       "\": the NAMES part is empty; drop the last \":\" to allow all names"));
    }
    auto names = SplitList(text, parts[3], "resource name", false);
    if (!names.ok()) return names.status();
    for (auto& n : *names) rule.add_resource_names(n);
  }
  return rule;
}

absl::StatusOr<std::pair<std::string, std::string>> ParseKeyValue(absl::string_view text,
                                                                  absl::string_view what) {
  std::pair<std::string, std::string> kv = absl::StrSplit(text, absl::MaxSplits('=', 1));
  if (text.find('=') == absl::string_view::npos || kv.first.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", text, "\" is not KEY=VALUE, e.g. team=ci"));
  }
  return kv;
}

absl::StatusOr<v1::RoleRef> ParseRoleRef(absl::string_view text) {
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(text, absl::MaxSplits('/', 1));
  v1::RoleRef ref;
  if (parts.first == "Role") {
    ref.set_kind(v1::ROLE_KIND_ROLE);
  } else if (parts.first == "ClusterRole") {
    ref.set_kind(v1::ROLE_KIND_CLUSTER_ROLE);
  }
  if (ref.kind() == v1::ROLE_KIND_UNSPECIFIED || parts.second.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--role-ref \"", text, "\" is not Role/NAME or ClusterRole/NAME, e.g. ClusterRole/view"));
  }
  if (absl::Status s = ValidatePathSegmentName(parts.second, "--role-ref role name"); !s.ok()) {
    return s;
  }
  ref.set_name(std::string(parts.second));
  return ref;
}

absl::Time FromProtoTimestamp(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

std::string FormatRelative(absl::Time t, absl::Time now) {
  absl::Duration d = t - now;
  const bool future = d > absl::ZeroDuration();
  if (!future) d = -d;
  const int64_t s = absl::ToInt64Seconds(d);
  std::string amount;
  if (s < 1) return "now";
  if (s < 60) {
    amount = absl::StrCat(s, "s");
  } else if (s < 3600) {
    amount = absl::StrCat(s / 60, "m");
  } else if (s < 48 * 3600) {
    amount = absl::StrCat(s / 3600, "h");
    if ((s % 3600) / 60 != 0) absl::StrAppend(&amount, (s % 3600) / 60, "m");
  } else {
    amount = absl::StrCat(s / 86400, "d");
  }
  return future ? absl::StrCat("in ", amount) : absl::StrCat(amount, " ago");
}

std::string FormatTimestamp(bool is_set, const google::protobuf::Timestamp& t, absl::Time now) {
  if (!is_set) return "-";
  const absl::Time time = FromProtoTimestamp(t);
  return absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone()), " (",
                      FormatRelative(time, now), ")");
}

}  // namespace kcred::client
