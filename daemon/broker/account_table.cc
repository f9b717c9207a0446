#include "daemon/broker/account_table.h"

#include <tuple>
#include <utility>

namespace kcred::broker {

StatePtr AccountTable::Find(const AccountKey& key) const {
  absl::MutexLock lock(&mu_);
  auto it = accounts_.find(key);
  return it == accounts_.end() ? nullptr : it->second;
}

void AccountTable::Insert(const AccountKey& key, StatePtr state) {
  absl::MutexLock lock(&mu_);
  accounts_[key] = std::move(state);
}

std::vector<std::pair<AccountKey, StatePtr>> AccountTable::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return {accounts_.begin(), accounts_.end()};
}

std::vector<StatePtr> AccountTable::Select(
    const std::optional<AccountKey>& after,
    const std::function<bool(const AccountKey&)>& keep) const {
  std::vector<StatePtr> selected;
  absl::MutexLock lock(&mu_);
  auto it = after.has_value() ? accounts_.upper_bound(*after) : accounts_.begin();
  for (; it != accounts_.end(); ++it) {
    if (keep(it->first)) selected.push_back(it->second);
  }
  return selected;
}

size_t AccountTable::CountExisting(const std::string& cluster) const {
  absl::MutexLock lock(&mu_);
  size_t count = 0;
  for (auto it = accounts_.lower_bound(AccountKey{cluster, "", ""});
       it != accounts_.end() && std::get<0>(it->first) == cluster; ++it) {
    absl::MutexLock state_lock(&it->second->mu);
    if (it->second->exists) ++count;
  }
  return count;
}

std::map<std::string, int> AccountTable::CountByCluster() const {
  std::map<std::string, int> counts;
  absl::MutexLock lock(&mu_);
  for (const auto& [key, state] : accounts_) {
    absl::MutexLock state_lock(&state->mu);
    if (state->exists) ++counts[std::get<0>(key)];
  }
  return counts;
}

void AccountTable::SetExists(AccountState& state, bool exists) {
  if (state.exists == exists) return;
  state.exists = exists;
  if (exists) {
    existing_.fetch_add(1);
  } else {
    existing_.fetch_sub(1);
  }
}

StatePtr AccountTable::FindOrAdd(const AccountKey& key) {
  absl::MutexLock lock(&mu_);
  StatePtr& slot = accounts_[key];
  if (slot == nullptr) slot = std::make_shared<AccountState>();
  return slot;
}

bool AccountTable::Holds(const AccountKey& key, const StatePtr& state) const {
  absl::MutexLock lock(&mu_);
  auto it = accounts_.find(key);
  return it != accounts_.end() && it->second == state;
}

void AccountTable::RemoveIfGone(const AccountKey& key, const StatePtr& state) {
  {
    absl::MutexLock lock(&state->mu);
    if (state->exists) return;
  }
  absl::MutexLock lock(&mu_);
  auto it = accounts_.find(key);
  if (it != accounts_.end() && it->second == state) accounts_.erase(it);
}

// The operation lock is taken and released in the constructor and the destructor, the one place
// where it outlives a scope; the thread-safety analysis leaves constructors and destructors alone.
LockedAccount::LockedAccount(AccountTable& table, AccountKey key)
    : table_(table), key_(std::move(key)) {
  for (;;) {
    StatePtr state = table_.FindOrAdd(key_);
    state->op_mu.Lock();
    if (table_.Holds(key_, state)) {
      state_ = std::move(state);
      return;
    }
    // The account was removed while we waited: start over with the current state.
    state->op_mu.Unlock();
  }
}

LockedAccount::~LockedAccount() {
  table_.RemoveIfGone(key_, state_);
  state_->op_mu.Unlock();
}

}  // namespace kcred::broker
