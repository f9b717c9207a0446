#include "daemon/broker/account_selector.h"

namespace kcred::broker {

absl::StatusOr<AccountMatcher> AccountMatcher::Create(const v1::AccountSelector& selector) {
  absl::StatusOr<LabelSelector> labels =
      LabelSelector::Parse(selector.label_selector(), "selector.label_selector");
  if (!labels.ok()) return labels.status();
  AccountMatcher matcher;
  matcher.selector_ = selector;
  matcher.labels_ = *std::move(labels);
  return matcher;
}

bool AccountMatcher::Matches(const v1::Account& account) const {
  const v1::AccountRef& ref = account.ref();
  if (!selector_.cluster().empty() && ref.cluster() != selector_.cluster()) return false;
  if (!selector_.namespace_().empty() && ref.namespace_() != selector_.namespace_()) return false;
  if (!selector_.name().empty() && ref.name() != selector_.name()) return false;
  return labels_.Matches(account.spec().labels());
}

}  // namespace kcred::broker
