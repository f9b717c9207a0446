#pragma once
// AccountMatcher: an AccountSelector (cluster, namespace, name and a Kubernetes label selector over
// spec.labels: "k=v", "k==v", "k!=v", "k in (a,b)", "k notin (a,b)", "k", "!k"), parsed once and
// matched against many accounts. Used by ListAccounts and by WatchAccounts.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred::broker {

class AccountMatcher {
 public:
  // INVALID_ARGUMENT naming the bad requirement when the label selector does not parse.
  static absl::StatusOr<AccountMatcher> Create(const v1::AccountSelector& selector);

  bool Matches(const v1::Account& account) const;

 private:
  struct Requirement {
    std::string key;
    std::vector<std::string> values;  // empty: an existence test
    bool negate = false;
  };
  AccountMatcher() = default;

  v1::AccountSelector selector_;
  std::vector<Requirement> requirements_;
};

}  // namespace kcred::broker
