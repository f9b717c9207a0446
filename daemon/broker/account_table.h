#pragma once
// The broker's accounts in memory, and the lock that serializes the operations on each.
// Internal to the broker.
//
// Concurrency: operations that change an account (Provision, RotateToken, DeleteAccount, RevokeDue,
// SweepOrphans) hold its LockedAccount for their whole run, Kubernetes calls included; operations
// on different accounts proceed in parallel. Reads (GetAccount, ListAccounts, GetKubeconfig,
// GetToken) take only the short locks (the table's, an account's `mu`) and are answered from
// memory. Lock order: an account's operation lock, then its `mu`, then the cluster list's
// (cluster_registry.h); the table's lock, then an account's `mu`. Nobody waits for an operation
// lock while holding another lock.

#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "daemon/broker/account_records.h"
#include "daemon/broker/served_credentials.h"
#include "daemon/store/store.h"
#include "proto/kcred/v1/internal/records.pb.h"

namespace kcred::broker {

// One account in memory. It is in the table while it exists, and while an operation holds its
// lock (a new account before its first commit, or one being deleted).
struct AccountState {
  // Held by a LockedAccount for the whole of an operation that changes the account. It guards no
  // field: writers hold it and `mu`, readers only `mu`.
  absl::Mutex op_mu;
  // Guards the fields below; held only briefly, never across a Kubernetes or store call.
  mutable absl::Mutex mu;
  bool exists ABSL_GUARDED_BY(mu) = false;  // changed only by AccountTable::SetExists
  internal::v1::AccountRecord record ABSL_GUARDED_BY(mu);
  store::Revision revision ABSL_GUARDED_BY(mu) = 0;  // of the stored record
  ServedCache serving ABSL_GUARDED_BY(mu);
  // When the rotation engine tries again after a failed rotation (InfinitePast: no retry pending).
  absl::Time retry_time ABSL_GUARDED_BY(mu) = absl::InfinitePast();
};

using StatePtr = std::shared_ptr<AccountState>;

class AccountTable {
 public:
  AccountTable() = default;
  AccountTable(const AccountTable&) = delete;
  AccountTable& operator=(const AccountTable&) = delete;

  // The state of `key` (existing or not), or null. Does not wait for operations.
  StatePtr Find(const AccountKey& key) const;

  // Adds an account loaded from the store (Restore), replacing any state of `key`.
  void Insert(const AccountKey& key, StatePtr state);

  // Every entry, ordered by key; for passes over all accounts, which lock each one themselves.
  std::vector<std::pair<AccountKey, StatePtr>> Snapshot() const;

  // The states of the entries after `after` (from the first when nullopt) whose key `keep`
  // accepts, ordered by key. `keep` runs under the table's lock: it must be quick.
  std::vector<StatePtr> Select(const std::optional<AccountKey>& after,
                               const std::function<bool(const AccountKey&)>& keep) const;

  // How many accounts exist: in all (O(1)), of `cluster`, and per cluster.
  size_t existing() const { return existing_.load(); }
  size_t CountExisting(const std::string& cluster) const;
  std::map<std::string, int> CountByCluster() const;

  // Sets state.exists and keeps the count in step.
  void SetExists(AccountState& state, bool exists) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state.mu);

 private:
  friend class LockedAccount;

  // The state of `key`, created (not existing) when missing.
  StatePtr FindOrAdd(const AccountKey& key);
  // Whether `state` is (still) the entry of `key`.
  bool Holds(const AccountKey& key, const StatePtr& state) const;
  // Removes the entry of `key` when it is `state` and does not exist.
  void RemoveIfGone(const AccountKey& key, const StatePtr& state);

  mutable absl::Mutex mu_;
  std::map<AccountKey, StatePtr> accounts_ ABSL_GUARDED_BY(mu_);
  std::atomic<size_t> existing_{0};
};

// An account's operation lock, held from construction to destruction: the handle every operation
// that changes an account works through. Functions that must run under the lock take a
// LockedAccount&, so the lock is held by construction of their argument.
class LockedAccount {
 public:
  // Waits until no other operation holds the account's lock, then holds it. An account missing
  // from the table is added, not existing, so that a new account is created under the lock too.
  // When the state waited for was removed meanwhile (its account deleted), waits for the current
  // one instead, so that one account never has two states.
  LockedAccount(AccountTable& table, AccountKey key);
  // Releases the lock. A state that does not exist (never created, or deleted) leaves the table.
  ~LockedAccount();

  LockedAccount(const LockedAccount&) = delete;
  LockedAccount& operator=(const LockedAccount&) = delete;

  const AccountKey& key() const { return key_; }
  AccountState& state() const { return *state_; }

 private:
  AccountTable& table_;
  const AccountKey key_;
  StatePtr state_;
};

}  // namespace kcred::broker
