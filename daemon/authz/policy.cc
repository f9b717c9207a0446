#include "daemon/authz/policy.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/glob.h"

namespace kcred::authz {
namespace {

uint32_t Bit(Action action) { return uint32_t{1} << static_cast<int>(action); }

}  // namespace

Policy Policy::FromRules(std::vector<config::AuthorizationRule> rules, std::string description) {
  Policy policy;
  policy.description_ = std::move(description);
  for (config::AuthorizationRule& spec : rules) {
    Rule rule;
    for (const std::string& action : spec.actions) {
      if (action == "*") {
        for (Action a : GrantableActions()) rule.actions |= Bit(a);
      } else if (absl::StatusOr<Action> parsed = ParseAction(action); parsed.ok()) {
        rule.actions |= Bit(*parsed);
      }
    }
    for (const std::string& pattern : spec.accounts) {
      if (absl::StatusOr<AccountPattern> parsed = ParseAccountPattern(pattern); parsed.ok()) {
        rule.accounts.push_back(*std::move(parsed));
      }
    }
    rule.spec = std::move(spec);
    policy.rules_.push_back(std::move(rule));
  }
  return policy;
}

Policy Policy::FromConfig(const config::AuthorizationConfig& config) {
  return FromRules(config.rules,
                   absl::StrCat(config.rules.size(), config.rules.size() == 1 ? " rule" : " rules",
                                " from the authorization section"));
}

Policy Policy::RootAndOwner(uint32_t self_uid) {
  std::vector<config::AuthorizationRule> rules;
  rules.push_back(
      {{"unix:uid:0"}, {"*"}, {"*/*/*"}, "default policy (no authorization section): root"});
  if (self_uid != 0) {
    rules.push_back({{absl::StrCat("unix:uid:", self_uid)},
                     {"*"},
                     {"*/*/*"},
                     "default policy (no authorization section): kcredd's own uid"});
  }
  return FromRules(std::move(rules), self_uid == 0 ? "default policy: root only"
                                                   : absl::StrCat("default policy: root and uid ",
                                                                  self_uid, " only"));
}

Policy Policy::ForConfig(const config::AuthorizationConfig& config, uint32_t self_uid) {
  return config.configured ? FromConfig(config) : RootAndOwner(self_uid);
}

Policy Policy::DevMode(uint32_t self_uid) {
  return FromRules({{{absl::StrCat("unix:uid:", self_uid)},
                     {"*"},
                     {"*/*/*"},
                     "dev mode: the user who started kcredd"}},
                   absl::StrCat("dev mode: uid ", self_uid, " only"));
}

template <typename Match>
Decision Policy::First(const std::vector<std::string>& subjects, Action action,
                       Match matches) const {
  for (const Rule& rule : rules_) {
    if ((rule.actions & Bit(action)) == 0) continue;
    const bool named = std::any_of(
        rule.spec.subjects.begin(), rule.spec.subjects.end(), [&](const std::string& subject) {
          return std::find(subjects.begin(), subjects.end(), subject) != subjects.end();
        });
    if (!named) continue;
    if (std::any_of(rule.accounts.begin(), rule.accounts.end(), matches)) {
      return Decision{true, rule.spec.source};
    }
  }
  return Decision{};
}

Decision Policy::Decide(const Identity& identity, Action action, absl::string_view cluster,
                        absl::string_view ns, absl::string_view name) const {
  if (action == Action::kSelf) return Decision{true, kSelfRule};
  return First(identity.subjects(), action,
               [&](const AccountPattern& pattern) { return pattern.Matches(cluster, ns, name); });
}

Decision Policy::Decide(const Identity& identity, Action action, const v1::AccountRef& ref) const {
  return Decide(identity, action, ref.cluster(), ref.namespace_(), ref.name());
}

Decision Policy::DecideAny(const Identity& identity, Action action, absl::string_view cluster,
                           absl::string_view ns, absl::string_view name) const {
  if (action == Action::kSelf) return Decision{true, kSelfRule};
  return First(identity.subjects(), action, [&](const AccountPattern& pattern) {
    return (cluster.empty() || GlobMatch(pattern.cluster, cluster)) &&
           (ns.empty() || GlobMatch(pattern.ns, ns)) &&
           (name.empty() || GlobMatch(pattern.name, name));
  });
}

std::vector<config::AuthorizationRule> Policy::RulesNaming(const Identity& identity) const {
  const std::vector<std::string>& subjects = identity.subjects();
  std::vector<config::AuthorizationRule> named;
  for (const Rule& rule : rules_) {
    for (const std::string& subject : rule.spec.subjects) {
      if (std::find(subjects.begin(), subjects.end(), subject) != subjects.end()) {
        named.push_back(rule.spec);
        break;
      }
    }
  }
  return named;
}

}  // namespace kcred::authz
