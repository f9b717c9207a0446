#pragma once
// kcredd's caller authorization policy: rules that grant actions on account globs to subjects.
// Default deny: a call is allowed only when some rule names one of the caller's subjects, the
// action (or "*") and an account pattern that matches the account. The self-review calls
// (Action::kSelf) are granted to every caller by a built-in rule. Immutable once built, so one
// policy can be read by any number of threads; a reload builds a new one (see Authorizer).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/account/access.h"
#include "daemon/authz/identity.h"
#include "daemon/config/config.h"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred::authz {

// The built-in rule that grants Action::kSelf.
inline constexpr char kSelfRule[] = "built-in: every caller may ask about itself";

struct Decision {
  bool allowed = false;
  // The rule that decided ("authorization.rules[1] (kcredd.yaml:12:3)"), or empty when none did.
  std::string rule;
};

class Policy {
 public:
  // The rules of an `authorization:` section (validated by the config loader).
  static Policy FromConfig(const config::AuthorizationConfig& config);
  // Without an `authorization:` section: root and the uid kcredd runs as may do everything.
  static Policy RootAndOwner(uint32_t self_uid);
  // The file's rules when it has an `authorization:` section, RootAndOwner(self_uid) otherwise.
  static Policy ForConfig(const config::AuthorizationConfig& config, uint32_t self_uid);
  // kcredd --dev: the user who started kcredd may do everything, nobody else anything.
  static Policy DevMode(uint32_t self_uid);

  // Whether a rule grants `action` on the account to `identity`.
  Decision Decide(const Identity& identity, Action action, absl::string_view cluster,
                  absl::string_view ns, absl::string_view name) const;
  Decision Decide(const Identity& identity, Action action, const v1::AccountRef& ref) const;

  // Whether a rule grants `action` to `identity` on some account of `cluster`, `ns` and `name`
  // (an empty part: any): the call-level check of ListAccounts, WatchAccounts and ListClusters,
  // with what their selector pins down; their answers then hold only what the caller may see.
  Decision DecideAny(const Identity& identity, Action action, absl::string_view cluster = "",
                     absl::string_view ns = "", absl::string_view name = "") const;

  // The rules that name one of `identity`'s subjects, in order (for WhoAmI).
  std::vector<config::AuthorizationRule> RulesNaming(const Identity& identity) const;

  // "3 rules from /etc/kcred/kcredd.yaml", "default: root and uid 998 only", ...
  const std::string& description() const { return description_; }
  size_t rule_count() const { return rules_.size(); }

 private:
  struct Rule {
    config::AuthorizationRule spec;
    uint32_t actions = 0;  // bit per Action
    std::vector<AccountPattern> accounts;
  };
  Policy() = default;
  static Policy FromRules(std::vector<config::AuthorizationRule> rules, std::string description);
  // The first rule naming one of `subjects` and `action` for which `matches(pattern)` holds.
  template <typename Match>
  Decision First(const std::vector<std::string>& subjects, Action action, Match matches) const;

  std::vector<Rule> rules_;
  std::string description_;
};

}  // namespace kcred::authz
