// The account table and its per-account operation lock (account_table.h).
#include "daemon/broker/account_table.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kcred::broker {
namespace {

using ::testing::ElementsAre;

// Long enough for a thread that is not blocked to get the lock; a blocked one never does.
constexpr absl::Duration kBlockedFor = absl::Milliseconds(50);

const AccountKey kKey{"dev", "automation", "ci-bot"};

void MarkExists(AccountTable& table, AccountState& state, bool exists) {
  absl::MutexLock lock(&state.mu);
  table.SetExists(state, exists);
}

// Creates account `key` the way operations do: under its lock.
void Create(AccountTable& table, const AccountKey& key) {
  LockedAccount locked(table, key);
  MarkExists(table, locked.state(), true);
}

// A second operation on the same account waits until the first has released its lock.
TEST(AccountTableTest, LockedAccountSerializesOperationsOnOneAccount) {
  AccountTable table;
  absl::Notification acquired;
  std::vector<std::string> order;
  absl::Mutex order_mu;
  std::thread second;
  {
    LockedAccount first(table, kKey);
    second = std::thread([&] {
      LockedAccount again(table, kKey);
      acquired.Notify();
      absl::MutexLock lock(&order_mu);
      order.push_back("second");
    });
    EXPECT_FALSE(acquired.WaitForNotificationWithTimeout(kBlockedFor));
    absl::MutexLock lock(&order_mu);
    order.push_back("first done");
  }
  second.join();
  EXPECT_TRUE(acquired.HasBeenNotified());
  EXPECT_THAT(order, ElementsAre("first done", "second"));
}

// Operations on different accounts do not wait for each other.
TEST(AccountTableTest, DifferentAccountsDoNotWait) {
  AccountTable table;
  LockedAccount first(table, kKey);
  LockedAccount other(table, AccountKey{"dev", "automation", "other"});
  LockedAccount other_cluster(table, AccountKey{"prod", "automation", "ci-bot"});
  EXPECT_NE(&first.state(), &other.state());
  EXPECT_NE(&first.state(), &other_cluster.state());
}

// An account that never came to exist is in the table only while it is locked.
TEST(AccountTableTest, AccountNeverCreatedLeavesTheTable) {
  AccountTable table;
  {
    LockedAccount locked(table, kKey);
    EXPECT_EQ(table.Find(kKey).get(), &locked.state());
  }
  EXPECT_EQ(table.Find(kKey), nullptr);
  EXPECT_EQ(table.existing(), 0u);
}

// An account created under the lock stays, and is counted; deleting it removes it on release.
TEST(AccountTableTest, CreatedAccountStaysUntilDeleted) {
  AccountTable table;
  Create(table, kKey);
  ASSERT_NE(table.Find(kKey), nullptr);
  EXPECT_EQ(table.existing(), 1u);
  EXPECT_EQ(table.CountExisting("dev"), 1u);
  EXPECT_EQ(table.CountExisting("prod"), 0u);
  {
    LockedAccount locked(table, kKey);
    MarkExists(table, locked.state(), false);
    EXPECT_NE(table.Find(kKey), nullptr);  // until the lock is released
  }
  EXPECT_EQ(table.Find(kKey), nullptr);
  EXPECT_EQ(table.existing(), 0u);
}

// An operation that waited for an account deleted meanwhile gets a fresh state, the one in the
// table, never the removed one.
TEST(AccountTableTest, WaiterForADeletedAccountGetsAFreshState) {
  AccountTable table;
  Create(table, kKey);
  const StatePtr deleted = table.Find(kKey);
  absl::Notification acquired;
  StatePtr waiter_state;
  std::thread waiter;
  {
    LockedAccount deleting(table, kKey);
    waiter = std::thread([&] {
      LockedAccount again(table, kKey);
      waiter_state = table.Find(kKey);
      EXPECT_EQ(waiter_state.get(), &again.state());
      acquired.Notify();
    });
    EXPECT_FALSE(acquired.WaitForNotificationWithTimeout(kBlockedFor));
    MarkExists(table, deleting.state(), false);
  }
  waiter.join();
  ASSERT_NE(waiter_state, nullptr);
  EXPECT_NE(waiter_state, deleted);
  EXPECT_EQ(table.Find(kKey), nullptr);  // the waiter did not create it either
}

// SetExists counts each account once, however often it is told.
TEST(AccountTableTest, SetExistsKeepsTheCount) {
  AccountTable table;
  auto a = std::make_shared<AccountState>();
  auto b = std::make_shared<AccountState>();
  table.Insert(kKey, a);
  table.Insert(AccountKey{"prod", "automation", "ci-bot"}, b);
  MarkExists(table, *a, true);
  MarkExists(table, *a, true);
  MarkExists(table, *b, true);
  EXPECT_EQ(table.existing(), 2u);
  EXPECT_THAT(table.CountByCluster(), ElementsAre(std::pair<const std::string, int>("dev", 1),
                                                  std::pair<const std::string, int>("prod", 1)));
  MarkExists(table, *b, false);
  MarkExists(table, *b, false);
  EXPECT_EQ(table.existing(), 1u);
  EXPECT_THAT(table.CountByCluster(), ElementsAre(std::pair<const std::string, int>("dev", 1)));
}

// Snapshot lists every entry in key order; Select continues after a key and filters.
TEST(AccountTableTest, SnapshotAndSelectFollowKeyOrder) {
  AccountTable table;
  const std::vector<AccountKey> keys = {
      {"dev", "a", "x"}, {"dev", "a", "y"}, {"dev", "b", "x"}, {"prod", "a", "x"}};
  for (auto it = keys.rbegin(); it != keys.rend(); ++it) {
    table.Insert(*it, std::make_shared<AccountState>());
  }
  std::vector<AccountKey> listed;
  for (const auto& [key, state] : table.Snapshot()) listed.push_back(key);
  EXPECT_EQ(listed, keys);

  std::vector<AccountKey> kept;
  std::vector<StatePtr> selected = table.Select(keys[0], [&kept](const AccountKey& key) {
    if (std::get<1>(key) != "a") return false;
    kept.push_back(key);
    return true;
  });
  EXPECT_EQ(selected.size(), 2u);
  EXPECT_THAT(kept, ElementsAre(keys[1], keys[3]));
  EXPECT_EQ(selected[0], table.Find(keys[1]));
  EXPECT_EQ(table.Select(std::nullopt, [](const AccountKey&) { return true; }).size(), 4u);
}

}  // namespace
}  // namespace kcred::broker
