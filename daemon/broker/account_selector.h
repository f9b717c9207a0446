#pragma once
// AccountMatcher: an AccountSelector (cluster, namespace, name and a Kubernetes label selector over
// spec.labels: "k=v", "k==v", "k!=v", "k in (a,b)", "k notin (a,b)", "k", "!k"), parsed once and
// matched against many accounts. Used by ListAccounts and by WatchAccounts.

#include "absl/status/statusor.h"
#include "common/label_selector.h"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred::broker {

class AccountMatcher {
 public:
  // INVALID_ARGUMENT naming the bad requirement when the label selector does not parse.
  static absl::StatusOr<AccountMatcher> Create(const v1::AccountSelector& selector);

  bool Matches(const v1::Account& account) const;

 private:
  AccountMatcher() = default;

  v1::AccountSelector selector_;
  LabelSelector labels_;
};

}  // namespace kcred::broker
