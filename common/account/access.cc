#include "common/account/access.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/escape.h"
#include "common/glob.h"

namespace kcred {
namespace {

constexpr std::pair<Action, absl::string_view> kActionNames[] = {
    {Action::kProvision, "provision"},
    {Action::kGet, "get"},
    {Action::kList, "list"},
    {Action::kWatch, "watch"},
    {Action::kGetKubeconfig, "get-kubeconfig"},
    {Action::kGetToken, "get-token"},
    {Action::kRotate, "rotate"},
    {Action::kDelete, "delete"},
    {Action::kListClusters, "list-clusters"},
    {Action::kDoctor, "doctor"},
};

std::string ActionList() {
  std::vector<std::string> names;
  for (const auto& [action, name] : kActionNames) names.emplace_back(name);
  return absl::StrJoin(names, ", ");
}

}  // namespace

const std::vector<Action>& GrantableActions() {
  static const auto* const actions = [] {
    auto* all = new std::vector<Action>();
    for (const auto& [action, name] : kActionNames) all->push_back(action);
    return all;
  }();
  return *actions;
}

absl::string_view ActionName(Action action) {
  for (const auto& [a, name] : kActionNames) {
    if (a == action) return name;
  }
  return "self";
}

absl::StatusOr<Action> ParseAction(absl::string_view name) {
  for (const auto& [action, known] : kActionNames) {
    if (known == name) return action;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown action \"", name, "\"; use one of ", ActionList(), " (or \"*\")"));
}

bool ReturnsSecret(Action action) {
  return action == Action::kGetKubeconfig || action == Action::kGetToken;
}

bool AccountPattern::Matches(absl::string_view cluster_name, absl::string_view namespace_name,
                             absl::string_view account_name) const {
  return GlobMatch(cluster, cluster_name) && GlobMatch(ns, namespace_name) &&
         GlobMatch(name, account_name);
}

bool AccountPattern::Matches(const v1::AccountRef& ref) const {
  return Matches(ref.cluster(), ref.namespace_(), ref.name());
}

bool AccountPattern::MatchesCluster(absl::string_view cluster_name) const {
  return GlobMatch(cluster, cluster_name);
}

std::string AccountPattern::ToString() const { return absl::StrCat(cluster, "/", ns, "/", name); }

absl::StatusOr<AccountPattern> ParseAccountPattern(absl::string_view text) {
  std::vector<std::string> parts = absl::StrSplit(text, '/');
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty() || parts[2].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text,
                     "\" is not an account pattern: write CLUSTER/NAMESPACE/NAME, each part a "
                     "name or a glob, e.g. \"prod-eu/ci/*\" or \"*/*/*\""));
  }
  for (const std::string& part : parts) {
    for (char c : part) {
      if (absl::ascii_iscntrl(static_cast<unsigned char>(c)) || c == ' ') {
        return absl::InvalidArgumentError(
            absl::StrCat("\"", EscapeControl(text),
                         "\" is not an account pattern: no spaces or control "
                         "characters"));
      }
    }
  }
  return AccountPattern{parts[0], parts[1], parts[2]};
}

absl::Status ValidateSubject(absl::string_view subject) {
  if (subject == "anonymous") return absl::OkStatus();
  for (absl::string_view numeric : {"unix:uid:", "unix:gid:"}) {
    if (absl::StartsWith(subject, numeric)) {
      uint32_t id = 0;
      if (!absl::SimpleAtoi(subject.substr(numeric.size()), &id)) {
        return absl::InvalidArgumentError(absl::StrCat("subject \"", subject, "\": ", numeric,
                                                       " takes a number, e.g. ", numeric, "1000"));
      }
      return absl::OkStatus();
    }
  }
  for (absl::string_view named :
       {"unix:user:", "unix:group:", "x509:cn:", "x509:dns:", "x509:uri:"}) {
    if (absl::StartsWith(subject, named)) {
      if (subject.size() == named.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("subject \"", subject, "\": the name after ", named, " is missing"));
      }
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown subject \"", EscapeControl(subject),
                   "\"; use unix:uid:N, unix:gid:N, unix:user:NAME, unix:group:NAME, x509:cn:NAME, "
                   "x509:dns:NAME, x509:uri:URI or anonymous"));
}

}  // namespace kcred
