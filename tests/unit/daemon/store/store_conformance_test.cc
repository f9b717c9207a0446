// One contract, every backend: the Store behaviour the broker relies on, checked against
// MemoryStore and SqliteStore alike.

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "daemon/store/memory_store.h"
#include "daemon/store/sqlite_store.h"
#include "daemon/store/store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace kcred::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

ListOptions Opts(std::string prefix, std::string start_after = "", size_t limit = 0) {
  ListOptions options;
  options.prefix = std::move(prefix);
  options.start_after = std::move(start_after);
  options.limit = limit;
  return options;
}

struct Backend {
  std::string name;
  std::function<StorePtr(const std::string& dir)> make;
};

class StoreConformanceTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    store_ = GetParam().make(dir_.path());
    ASSERT_NE(store_, nullptr);
  }

  Revision MustPut(const std::string& key, const std::string& value) {
    absl::StatusOr<Revision> revision = store_->Put(key, value);
    EXPECT_TRUE(revision.ok()) << revision.status();
    return revision.value_or(0);
  }
  Revision Current() {
    absl::StatusOr<Revision> revision = store_->CurrentRevision();
    EXPECT_TRUE(revision.ok()) << revision.status();
    return revision.value_or(-1);
  }
  std::vector<std::string> Keys(const ListOptions& options) {
    absl::StatusOr<ListResult> result = store_->List(options);
    EXPECT_TRUE(result.ok()) << result.status();
    std::vector<std::string> keys;
    if (result.ok()) {
      for (const KeyValue& kv : result->items) keys.push_back(kv.key);
    }
    return keys;
  }

  testing::TempDir dir_;
  StorePtr store_;
};

// A fresh store is at revision 0, lists no keys, and Get is NOT_FOUND naming the key.
TEST_P(StoreConformanceTest, EmptyStoreStartsAtRevisionZero) {
  // A fresh store has revision 0 and no keys.
  EXPECT_EQ(Current(), 0);
  absl::StatusOr<KeyValue> missing = store_->Get("accounts/dev/automation/ci-bot");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("accounts/dev/automation/ci-bot"));
  EXPECT_THAT(Keys(Opts("")), IsEmpty());
}

// Get returns what Put wrote, with create and mod revision both the new store revision.
TEST_P(StoreConformanceTest, PutThenGetReturnsValueAndRevisions) {
  // A put is visible to Get with create and mod revision equal to the new store revision.
  EXPECT_EQ(MustPut("accounts/dev/a", "spec-1"), 1);
  absl::StatusOr<KeyValue> kv = store_->Get("accounts/dev/a");
  ASSERT_TRUE(kv.ok()) << kv.status();
  EXPECT_EQ(kv->key, "accounts/dev/a");
  EXPECT_EQ(kv->value, "spec-1");
  EXPECT_EQ(kv->create_revision, 1);
  EXPECT_EQ(kv->mod_revision, 1);
  EXPECT_EQ(Current(), 1);
}

// An overwrite keeps the key's create revision and gives it the new store revision as mod revision.
TEST_P(StoreConformanceTest, OverwriteKeepsCreateRevisionAndAdvancesModRevision) {
  // Overwriting a key keeps its create revision; the mod revision takes the new store revision.
  MustPut("a", "1");
  MustPut("b", "x");
  EXPECT_EQ(MustPut("a", "2"), 3);
  absl::StatusOr<KeyValue> kv = store_->Get("a");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->value, "2");
  EXPECT_EQ(kv->create_revision, 1);
  EXPECT_EQ(kv->mod_revision, 3);
}

// Each write and delete takes the next revision; a key deleted and re-created gets a new one.
TEST_P(StoreConformanceTest, RevisionsAreMonotonicAndNeverReused) {
  // Every write takes the next revision; deleting and re-creating a key gives it new revisions.
  Revision last = 0;
  for (int i = 0; i < 5; ++i) {
    const Revision r = MustPut(absl::StrCat("k", i % 2), absl::StrCat(i));
    EXPECT_EQ(r, last + 1);
    last = r;
  }
  absl::StatusOr<bool> deleted = store_->Delete("k0");
  ASSERT_TRUE(deleted.ok());
  EXPECT_TRUE(*deleted);
  EXPECT_EQ(Current(), last + 1);
  const Revision recreated = MustPut("k0", "again");
  EXPECT_EQ(recreated, last + 2);
  absl::StatusOr<KeyValue> kv = store_->Get("k0");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->create_revision, recreated);
}

// A Put with Absent creates the key once; a second is ABORTED naming the key and changes nothing.
TEST_P(StoreConformanceTest, PutAbsentCreatesOnlyOnce) {
  // Precondition::Absent creates a key once; a second create is ABORTED and changes nothing.
  ASSERT_TRUE(store_->Put("accounts/dev/a", "first", Precondition::Absent()).ok());
  absl::StatusOr<Revision> again = store_->Put("accounts/dev/a", "second", Precondition::Absent());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(again.status().message(), HasSubstr("\"accounts/dev/a\""));
  EXPECT_THAT(again.status().message(), HasSubstr("expected to be absent"));
  EXPECT_EQ(store_->Get("accounts/dev/a")->value, "first");
  EXPECT_EQ(Current(), 1);
}

// A Put at the current mod revision succeeds; at a stale one or on a missing key it is ABORTED,
// saying what was expected and found, and writes nothing.
TEST_P(StoreConformanceTest, PutWithModRevisionIsCompareAndSwap) {
  // A put expecting the current mod revision succeeds; a stale or missing key is ABORTED.
  const Revision r1 = MustPut("a", "v1");
  absl::StatusOr<Revision> r2 = store_->Put("a", "v2", Precondition::ModRevision(r1));
  ASSERT_TRUE(r2.ok()) << r2.status();
  absl::StatusOr<Revision> stale = store_->Put("a", "v3", Precondition::ModRevision(r1));
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(stale.status().message(), HasSubstr(absl::StrCat("expected at mod revision ", r1,
                                                               " but it is at mod "
                                                               "revision ",
                                                               *r2)));
  EXPECT_EQ(store_->Get("a")->value, "v2");
  absl::StatusOr<Revision> missing = store_->Put("b", "v", Precondition::ModRevision(r1));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(missing.status().message(), HasSubstr("it does not exist"));
  EXPECT_EQ(Current(), *r2);
}

// A mod revision of 0 or less in a Put or Delete is INVALID_ARGUMENT, not a failed compare.
TEST_P(StoreConformanceTest, NonPositiveModRevisionIsInvalid) {
  // ModRevision(0) is a caller bug (Absent says "must not exist"), not a failed compare.
  EXPECT_EQ(store_->Put("a", "v", Precondition::ModRevision(0)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Delete("a", Precondition::ModRevision(-1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Delete says whether it removed a key; deleting a missing one does not advance the revision.
TEST_P(StoreConformanceTest, DeleteReportsWhetherItRemovedAKey) {
  // Deleting a missing key is a no-op that reports false and does not advance the revision.
  absl::StatusOr<bool> missing = store_->Delete("a");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_FALSE(*missing);
  EXPECT_EQ(Current(), 0);
  MustPut("a", "v");
  absl::StatusOr<bool> removed = store_->Delete("a");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(*removed);
  EXPECT_EQ(Current(), 2);
  EXPECT_EQ(store_->Get("a").status().code(), absl::StatusCode::kNotFound);
}

// A conditional Delete removes the key only at its current mod revision; Absent is refused there.
TEST_P(StoreConformanceTest, DeleteWithModRevisionIsCompareAndDelete) {
  // A conditional delete removes the key only at the expected revision.
  const Revision r1 = MustPut("a", "v1");
  const Revision r2 = MustPut("a", "v2");
  absl::StatusOr<bool> stale = store_->Delete("a", Precondition::ModRevision(r1));
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(store_->Get("a").ok());
  absl::StatusOr<bool> exact = store_->Delete("a", Precondition::ModRevision(r2));
  ASSERT_TRUE(exact.ok()) << exact.status();
  EXPECT_TRUE(*exact);
  EXPECT_EQ(store_->Delete("a", Precondition::ModRevision(r2)).status().code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(store_->Delete("a", Precondition::Absent()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Empty or oversize keys in Get, Put, Delete and Txn, and oversize values, are INVALID_ARGUMENT;
// a key of the maximum size is fine.
TEST_P(StoreConformanceTest, MalformedKeysAndValuesAreRejected) {
  // Empty and oversize keys, and oversize values, are INVALID_ARGUMENT everywhere.
  const std::string long_key(kMaxKeySize + 1, 'k');
  for (const std::string& key : {std::string(), long_key}) {
    EXPECT_EQ(store_->Get(key).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->Put(key, "v").status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->Delete(key).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->Txn({{}, {TxnOp::Put(key, "v")}}).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(store_->Put(std::string(kMaxKeySize, 'k'), "v").ok());
  EXPECT_EQ(store_->Put("a", std::string(kMaxValueSize + 1, 'v')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Current(), 1);
}

// Keys and values holding NUL and 0xff bytes, and empty values, come back unchanged.
TEST_P(StoreConformanceTest, BinaryKeysAndValuesRoundTrip) {
  // Keys and values are bytes: NUL, 0xff and empty values survive unchanged.
  const std::string key("bin/\0\xff", 6);
  const std::string value("\0\x01\xfe\xff token", 10);
  MustPut(key, value);
  MustPut("empty", "");
  absl::StatusOr<KeyValue> kv = store_->Get(key);
  ASSERT_TRUE(kv.ok()) << kv.status();
  EXPECT_EQ(kv->value, value);
  absl::StatusOr<KeyValue> empty = store_->Get("empty");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->value, "");
  EXPECT_THAT(Keys(Opts("bin/")), ElementsAre(key));
}

// List returns the keys that start with the prefix, byte for byte, in key order.
TEST_P(StoreConformanceTest, ListSelectsByPrefixInKeyOrder) {
  // A prefix matches bytewise: "accounts/dev/" excludes "accounts/dev0/..." and "accounts/devx".
  for (const char* key : {"b", "accounts/devx", "accounts/dev/b", "accounts0", "accounts/dev0/c",
                          "accounts/dev/a", "a", "accounts"}) {
    MustPut(key, "v");
  }
  EXPECT_THAT(Keys(Opts("accounts/dev/")), ElementsAre("accounts/dev/a", "accounts/dev/b"));
  EXPECT_THAT(Keys(Opts("accounts/dev")),
              ElementsAre("accounts/dev/a", "accounts/dev/b", "accounts/dev0/c", "accounts/devx"));
  EXPECT_THAT(Keys(Opts("accounts")), ElementsAre("accounts", "accounts/dev/a", "accounts/dev/b",
                                                  "accounts/dev0/c", "accounts/devx", "accounts0"));
  EXPECT_THAT(Keys(Opts("")), ElementsAre("a", "accounts", "accounts/dev/a", "accounts/dev/b",
                                          "accounts/dev0/c", "accounts/devx", "accounts0", "b"));
  EXPECT_THAT(Keys(Opts("nothing/")), IsEmpty());
  EXPECT_THAT(Keys(Opts("accounts/dev/a")), ElementsAre("accounts/dev/a"));
}

// List finds the right keys for prefixes ending in one or more 0xff bytes.
TEST_P(StoreConformanceTest, ListHandlesPrefixesEndingInFF) {
  // A prefix whose last bytes are 0xff still has a correct upper bound.
  for (const std::string& key :
       {std::string("p\xff"), std::string("p\xff\xff"), std::string("p\xff\x01"), std::string("q"),
        std::string("\xff\x01"), std::string("\xff\xff")}) {
    MustPut(key, "v");
  }
  EXPECT_THAT(Keys(Opts("p\xff")), ElementsAre("p\xff", "p\xff\x01", "p\xff\xff"));
  EXPECT_THAT(Keys(Opts("\xff")), ElementsAre("\xff\x01", "\xff\xff"));
  EXPECT_THAT(Keys(Opts("\xff\xff")), ElementsAre("\xff\xff"));
}

// Paging with start_after and limit visits every key once with `more` set while keys remain;
// start_after is exclusive and need not exist.
TEST_P(StoreConformanceTest, ListPagesWithStartAfterAndLimit) {
  // Paging by start_after = last key of the previous page visits every key once; `more` is set
  // exactly when keys remain.
  std::vector<std::string> all;
  for (int i = 0; i < 7; ++i) all.push_back(absl::StrCat("accounts/dev/ns/a", i));
  for (const std::string& key : all) MustPut(key, "v");
  MustPut("accounts/prod/ns/z", "v");

  std::vector<std::string> seen;
  ListOptions options = Opts("accounts/dev/", "", 3);
  std::vector<bool> more_flags;
  for (int page = 0; page < 10; ++page) {
    absl::StatusOr<ListResult> result = store_->List(options);
    ASSERT_TRUE(result.ok()) << result.status();
    for (const KeyValue& kv : result->items) seen.push_back(kv.key);
    more_flags.push_back(result->more);
    if (!result->more) break;
    options.start_after = result->items.back().key;
  }
  EXPECT_EQ(seen, all);
  EXPECT_THAT(more_flags, ElementsAre(true, true, false));

  // A limit equal to the number of matches is one full page with nothing more.
  absl::StatusOr<ListResult> exact = store_->List(Opts("accounts/dev/", "", 7));
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->items.size(), 7u);
  EXPECT_FALSE(exact->more);
  // start_after need not be an existing key, and past the last key the page is empty.
  EXPECT_THAT(Keys(Opts("accounts/dev/", "accounts/dev/ns/a4x", 0)),
              ElementsAre("accounts/dev/ns/a5", "accounts/dev/ns/a6"));
  EXPECT_THAT(Keys(Opts("accounts/dev/", "accounts/dev/ns/a6", 0)), IsEmpty());
  // start_after is exclusive even for the key equal to the prefix.
  MustPut("accounts/dev/", "v");
  EXPECT_THAT(Keys(Opts("accounts/dev/", "accounts/dev/", 1)), ElementsAre("accounts/dev/ns/a0"));
}

// A start_after outside the prefix is INVALID_ARGUMENT naming start_after.
TEST_P(StoreConformanceTest, ListRejectsStartAfterOutsideThePrefix) {
  // A start_after that does not begin with the prefix is a caller bug.
  absl::StatusOr<ListResult> result = store_->List(Opts("accounts/dev/", "accounts/a", 0));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("start_after"));
}

// List reports the store revision it read at and each item's create and mod revisions.
TEST_P(StoreConformanceTest, ListReportsTheRevisionItReadAt) {
  // The list carries the store revision and each item's own revisions.
  MustPut("a", "1");
  MustPut("b", "2");
  MustPut("a", "3");
  absl::StatusOr<ListResult> result = store_->List(Opts(""));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->revision, 3);
  ASSERT_EQ(result->items.size(), 2u);
  EXPECT_EQ(result->items[0].value, "3");
  EXPECT_EQ(result->items[0].create_revision, 1);
  EXPECT_EQ(result->items[0].mod_revision, 3);
  EXPECT_EQ(result->items[1].mod_revision, 2);
}

// A Txn of puts and a delete, as a rotation commits, applies all of them at one new revision.
TEST_P(StoreConformanceTest, TxnAppliesEverythingAtOneRevision) {
  // The broker's rotation commit: new generation current, old one pending revocation, and the
  // account record, in one step at one revision.
  const Revision account = MustPut("accounts/dev/a", "status-g1");
  MustPut("tokens/dev/a/1", "sealed-g1");
  MustPut("revocations/dev/a/0", "pending");
  TxnRequest txn;
  txn.compares = {{"accounts/dev/a", Precondition::ModRevision(account)},
                  {"tokens/dev/a/2", Precondition::Absent()}};
  txn.ops = {TxnOp::Put("accounts/dev/a", "status-g2"), TxnOp::Put("tokens/dev/a/2", "sealed-g2"),
             TxnOp::Put("revocations/dev/a/1", "pending"), TxnOp::Delete("revocations/dev/a/0")};
  absl::StatusOr<Revision> revision = store_->Txn(txn);
  ASSERT_TRUE(revision.ok()) << revision.status();
  EXPECT_EQ(*revision, 4);
  EXPECT_EQ(Current(), 4);
  for (const char* key : {"accounts/dev/a", "tokens/dev/a/2", "revocations/dev/a/1"}) {
    absl::StatusOr<KeyValue> kv = store_->Get(key);
    ASSERT_TRUE(kv.ok()) << key;
    EXPECT_EQ(kv->mod_revision, 4) << key;
  }
  EXPECT_EQ(store_->Get("accounts/dev/a")->value, "status-g2");
  EXPECT_EQ(store_->Get("accounts/dev/a")->create_revision, 1);
  EXPECT_EQ(store_->Get("revocations/dev/a/0").status().code(), absl::StatusCode::kNotFound);
}

// A Txn with a failed Absent or mod-revision compare is ABORTED naming the key and applies nothing.
TEST_P(StoreConformanceTest, TxnWithAFailingCompareAppliesNothing) {
  // One failed compare aborts the whole Txn, naming the key; no op is applied.
  MustPut("accounts/dev/a", "status-g1");
  MustPut("tokens/dev/a/2", "someone else's");
  TxnRequest txn;
  txn.compares = {{"accounts/dev/a", Precondition::ModRevision(1)},
                  {"tokens/dev/a/2", Precondition::Absent()}};
  txn.ops = {TxnOp::Put("accounts/dev/a", "status-g2"), TxnOp::Put("tokens/dev/a/3", "x"),
             TxnOp::Delete("tokens/dev/a/2")};
  absl::StatusOr<Revision> revision = store_->Txn(txn);
  EXPECT_EQ(revision.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(revision.status().message(), HasSubstr("\"tokens/dev/a/2\""));
  EXPECT_EQ(Current(), 2);
  EXPECT_EQ(store_->Get("accounts/dev/a")->value, "status-g1");
  EXPECT_EQ(store_->Get("tokens/dev/a/3").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Get("tokens/dev/a/2")->value, "someone else's");

  // A stale revision compare fails the same way.
  txn.compares = {{"accounts/dev/a", Precondition::ModRevision(7)}};
  revision = store_->Txn(txn);
  EXPECT_EQ(revision.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(revision.status().message(), HasSubstr("\"accounts/dev/a\""));
  EXPECT_EQ(Current(), 2);
}

// A Txn of compares only, of deletes of missing keys, or of nothing keeps the revision.
TEST_P(StoreConformanceTest, TxnThatChangesNothingKeepsTheRevision) {
  // Compares alone, or deletes of absent keys, do not advance the revision.
  MustPut("a", "v");
  absl::StatusOr<Revision> read_only = store_->Txn({{{"a", Precondition::ModRevision(1)}}, {}});
  ASSERT_TRUE(read_only.ok()) << read_only.status();
  EXPECT_EQ(*read_only, 1);
  absl::StatusOr<Revision> no_op = store_->Txn({{}, {TxnOp::Delete("missing")}});
  ASSERT_TRUE(no_op.ok()) << no_op.status();
  EXPECT_EQ(*no_op, 1);
  absl::StatusOr<Revision> empty = store_->Txn({});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, 1);
  EXPECT_EQ(Current(), 1);
}

// A Txn with two ops on one key is INVALID_ARGUMENT naming it, and writes nothing.
TEST_P(StoreConformanceTest, TxnRejectsAKeyWrittenTwice) {
  // Two ops on one key are ambiguous; the Txn is refused before anything is checked or written.
  absl::StatusOr<Revision> revision =
      store_->Txn({{}, {TxnOp::Put("a", "1"), TxnOp::Delete("b"), TxnOp::Delete("a")}});
  EXPECT_EQ(revision.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(revision.status().message(), HasSubstr("\"a\" more than once"));
  EXPECT_EQ(Current(), 0);
}

// Four threads incrementing one counter by compare-and-swap lose no update and write nothing on a
// failed compare.
TEST_P(StoreConformanceTest, ConcurrentCompareAndSwapLosesNoUpdate) {
  // Threads incrementing one counter by read-CAS-retry end with every increment counted.
  constexpr int kThreads = 4;
  constexpr int kIncrements = 25;
  MustPut("counter", "0");
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this] {
      for (int i = 0; i < kIncrements; ++i) {
        while (true) {
          absl::StatusOr<KeyValue> kv = store_->Get("counter");
          ASSERT_TRUE(kv.ok()) << kv.status();
          const int value = std::stoi(kv->value);
          absl::StatusOr<Revision> put = store_->Put("counter", std::to_string(value + 1),
                                                     Precondition::ModRevision(kv->mod_revision));
          if (put.ok()) break;
          ASSERT_EQ(put.status().code(), absl::StatusCode::kAborted) << put.status();
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(store_->Get("counter")->value, std::to_string(kThreads * kIncrements));
  // Failed compares write nothing: one revision per successful increment, plus the first put.
  EXPECT_EQ(Current(), kThreads * kIncrements + 1);
}

INSTANTIATE_TEST_SUITE_P(
    Backends, StoreConformanceTest,
    ::testing::Values(Backend{"Memory",
                              [](const std::string&) -> StorePtr {
                                return std::make_unique<MemoryStore>();
                              }},
                      Backend{"Sqlite",
                              [](const std::string& dir) -> StorePtr {
                                absl::StatusOr<std::unique_ptr<SqliteStore>> store =
                                    SqliteStore::Open(dir + "/kcred.db");
                                EXPECT_TRUE(store.ok()) << store.status();
                                if (!store.ok()) return nullptr;
                                return std::move(*store);
                              }}),
    [](const ::testing::TestParamInfo<Backend>& info) { return info.param.name; });

}  // namespace
}  // namespace kcred::store
