#include "devcluster/object_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "devcluster/api_error.h"
#include "tests/support/simulated_clock.h"

namespace kcred::devcluster {
namespace {

using kcred::testing::SimulatedClock;

const ResourceInfo& Res(const char* group, const char* plural) {
  const ResourceInfo* info = FindResource(group, plural);
  EXPECT_NE(info, nullptr) << plural;
  return *info;
}

class ObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.Create(Res("", "namespaces"), "", {{"metadata", {{"name", "ns"}}}}).ok());
  }
  nlohmann::json Sa(const std::string& name, nlohmann::json labels = nullptr) {
    nlohmann::json sa = {{"metadata", {{"name", name}}}};
    if (!labels.is_null()) sa["metadata"]["labels"] = labels;
    return sa;
  }

  SimulatedClock clock_;
  ObjectStore store_{clock_, /*history=*/16};
  const ResourceInfo& sa_ = Res("", "serviceaccounts");
};

// Create sets the server fields and the kind; the object reads back the same.
TEST_F(ObjectStoreTest, CreateSetsServerFields) {
  absl::StatusOr<nlohmann::json> created = store_.Create(sa_, "ns", Sa("bot"));
  ASSERT_TRUE(created.ok()) << created.status();
  const nlohmann::json& meta = (*created)["metadata"];
  EXPECT_EQ((*created)["kind"], "ServiceAccount");
  EXPECT_EQ((*created)["apiVersion"], "v1");
  EXPECT_EQ(meta["namespace"], "ns");
  EXPECT_EQ(meta["uid"].get<std::string>().size(), 36u);
  EXPECT_EQ(meta["creationTimestamp"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(*store_.Get(sa_, "ns", "bot"), *created);
  EXPECT_EQ(store_.Get("serviceaccounts", "ns", "bot").value(), *created);
}

// Kubernetes' errors for duplicates, bad names, missing namespaces and namespace mismatches.
TEST_F(ObjectStoreTest, CreateErrors) {
  ASSERT_TRUE(store_.Create(sa_, "ns", Sa("bot")).ok());
  absl::Status dup = store_.Create(sa_, "ns", Sa("bot")).status();
  EXPECT_EQ(HttpStatusCode(dup), 409);
  EXPECT_EQ(dup.message(), "serviceaccounts \"bot\" already exists");
  EXPECT_EQ(StatusObject(dup)["reason"], "AlreadyExists");

  absl::Status missing_ns = store_.Create(sa_, "nope", Sa("bot")).status();
  EXPECT_EQ(HttpStatusCode(missing_ns), 404);
  EXPECT_EQ(missing_ns.message(), "namespaces \"nope\" not found");

  absl::Status bad_name = store_.Create(sa_, "ns", Sa("Bad_Name")).status();
  EXPECT_EQ(HttpStatusCode(bad_name), 422);
  EXPECT_EQ(StatusObject(bad_name)["reason"], "Invalid");
  EXPECT_EQ(StatusObject(bad_name)["details"]["causes"][0]["field"], "metadata.name");

  nlohmann::json other_ns = Sa("x");
  other_ns["metadata"]["namespace"] = "other";
  EXPECT_EQ(HttpStatusCode(store_.Create(sa_, "ns", other_ns).status()), 400);
}

// generateName yields the prefix plus five characters.
TEST_F(ObjectStoreTest, GenerateName) {
  absl::StatusOr<nlohmann::json> created =
      store_.Create(sa_, "ns", {{"metadata", {{"generateName", "anchor-"}}}});
  ASSERT_TRUE(created.ok());
  std::string name = (*created)["metadata"]["name"];
  EXPECT_EQ(name.size(), 12u);
  EXPECT_EQ(name.substr(0, 7), "anchor-");
}

// Updates with a stale resourceVersion conflict; leases require one; uid is kept.
TEST_F(ObjectStoreTest, OptimisticConcurrency) {
  nlohmann::json created = *store_.Create(sa_, "ns", Sa("bot"));
  nlohmann::json update = created;
  update["metadata"]["labels"] = {{"a", "b"}};
  absl::StatusOr<nlohmann::json> updated = store_.Update(sa_, "ns", update, false);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_NE((*updated)["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"]);
  EXPECT_EQ((*updated)["metadata"]["uid"], created["metadata"]["uid"]);

  absl::Status stale = store_.Update(sa_, "ns", update, false).status();
  EXPECT_EQ(HttpStatusCode(stale), 409);
  EXPECT_EQ(stale.message(),
            "Operation cannot be fulfilled on serviceaccounts \"bot\": the object has been "
            "modified; please apply your changes to the latest version and try again");
  EXPECT_EQ(StatusObject(stale)["reason"], "Conflict");

  const ResourceInfo& leases = Res("coordination.k8s.io", "leases");
  ASSERT_TRUE(store_.Create(leases, "ns", {{"metadata", {{"name", "lock"}}}}).ok());
  absl::Status unconditional =
      store_.Update(leases, "ns", {{"metadata", {{"name", "lock"}}}}, true).status();
  EXPECT_EQ(HttpStatusCode(unconditional), 422);
  EXPECT_EQ(HttpStatusCode(store_.Update(sa_, "ns", Sa("ghost"), false).status()), 404);
}

// Lists filter by label and field selectors and page with limit and continue.
TEST_F(ObjectStoreTest, ListSelectorsAndPaging) {
  for (const char* name : {"a", "b", "c", "d"}) {
    ASSERT_TRUE(store_.Create(sa_, "ns", Sa(name, {{"tier", name[0] < 'c' ? "x" : "y"}})).ok());
  }
  ListOptions options;
  options.labels = *LabelSelector::Parse("tier=x");
  absl::StatusOr<ListResult> x = store_.List(sa_, "ns", options);
  ASSERT_TRUE(x.ok());
  ASSERT_EQ(x->items.size(), 2u);
  EXPECT_EQ(x->items[1]["metadata"]["name"], "b");

  ListOptions by_name;
  by_name.fields = *FieldSelector::Parse("metadata.name=c");
  EXPECT_EQ(store_.List(sa_, "", by_name)->items.size(), 1u);

  ListOptions page;
  page.limit = 3;
  absl::StatusOr<ListResult> first = store_.List(sa_, "ns", page);
  ASSERT_EQ(first->items.size(), 3u);
  ASSERT_FALSE(first->continue_token.empty());
  page.continue_token = first->continue_token;
  absl::StatusOr<ListResult> second = store_.List(sa_, "ns", page);
  ASSERT_EQ(second->items.size(), 1u);
  EXPECT_EQ(second->items[0]["metadata"]["name"], "d");
  EXPECT_TRUE(second->continue_token.empty());
}

// Listing one namespace reads its range of keys only: neighbours whose names share a prefix
// ("ns-2", "n") stay out, in both List forms and across pages.
TEST_F(ObjectStoreTest, ListOfOneNamespaceSkipsNeighbours) {
  for (const char* ns : {"n", "ns-2", "a"}) {
    ASSERT_TRUE(store_.Create(Res("", "namespaces"), "", {{"metadata", {{"name", ns}}}}).ok());
  }
  for (const char* ns : {"n", "ns", "ns-2", "a"}) {
    for (const char* name : {"x", "y"}) {
      ASSERT_TRUE(store_.Create(sa_, ns, Sa(absl::StrCat(ns, "-", name))).ok());
    }
  }
  std::vector<nlohmann::json> reader = store_.List("serviceaccounts", "ns");
  ASSERT_EQ(reader.size(), 2u);
  EXPECT_EQ(reader[0]["metadata"]["name"], "ns-x");
  EXPECT_EQ(reader[1]["metadata"]["name"], "ns-y");
  EXPECT_EQ(store_.List("serviceaccounts", "").size(), 8u);
  EXPECT_TRUE(store_.List("serviceaccounts", "nope").empty());

  ListOptions page;
  page.limit = 1;
  absl::StatusOr<ListResult> first = store_.List(sa_, "ns", page);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->items.size(), 1u);
  EXPECT_EQ(first->items[0]["metadata"]["name"], "ns-x");
  page.continue_token = first->continue_token;
  absl::StatusOr<ListResult> second = store_.List(sa_, "ns", page);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->items.size(), 1u);
  EXPECT_EQ(second->items[0]["metadata"]["name"], "ns-y");
  EXPECT_TRUE(second->continue_token.empty());
  EXPECT_EQ(store_.List(sa_, "", ListOptions())->items.size(), 8u);
}

// Deleting a namespace's contents removes every namespaced object in it, and watches see it.
TEST_F(ObjectStoreTest, WatchEventsAndNamespaceCleanup) {
  const int64_t start = store_.CurrentResourceVersion();
  ASSERT_TRUE(store_.Create(sa_, "ns", Sa("bot")).ok());
  ASSERT_TRUE(store_.Create(Res("", "secrets"), "ns", {{"metadata", {{"name", "s"}}}}).ok());
  store_.DeleteNamespaceContents("ns");
  absl::StatusOr<std::vector<WatchEvent>> events =
      store_.WaitForEvents(sa_, "ns", start, clock_.Now());
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].type, "ADDED");
  EXPECT_EQ((*events)[1].type, "DELETED");
  EXPECT_TRUE(store_.List("secrets", "ns").empty());
  EXPECT_TRUE(store_.Get("namespaces", "", "ns").has_value());
}

// MODIFIED events carry the previous object, so filtered watches can tell what changed; the
// resumable resourceVersion advances past events of other resources.
TEST_F(ObjectStoreTest, ModifiedEventsCarryThePreviousObject) {
  nlohmann::json created = *store_.Create(sa_, "ns", Sa("bot", {{"v", "1"}}));
  const int64_t after_create = store_.CurrentResourceVersion();
  nlohmann::json update = created;
  update["metadata"]["labels"]["v"] = "2";
  ASSERT_TRUE(store_.Update(sa_, "ns", update, false).ok());
  ASSERT_TRUE(store_.Create(Res("", "secrets"), "ns", {{"metadata", {{"name", "s"}}}}).ok());
  int64_t seen = 0;
  absl::StatusOr<std::vector<WatchEvent>> events =
      store_.WaitForEvents(sa_, "ns", after_create, clock_.Now(), &seen);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].type, "MODIFIED");
  EXPECT_EQ((*events)[0].previous["metadata"]["labels"]["v"], "1");
  EXPECT_EQ((*events)[0].object["metadata"]["labels"]["v"], "2");
  EXPECT_EQ(seen, store_.CurrentResourceVersion());
}

// Watching from a resourceVersion older than the kept history is 410 Gone.
TEST_F(ObjectStoreTest, WatchFromExpiredVersionIsGone) {
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(store_.Create(sa_, "ns", Sa("sa-" + std::to_string(i))).ok());
  }
  absl::Status gone = store_.WaitForEvents(sa_, "ns", 1, clock_.Now()).status();
  EXPECT_EQ(HttpStatusCode(gone), 410);
  EXPECT_TRUE(
      store_.WaitForEvents(sa_, "ns", store_.CurrentResourceVersion() - 2, clock_.Now()).ok());
}

// A snapshot restores every object and the resourceVersion counter.
TEST_F(ObjectStoreTest, SnapshotRoundTrip) {
  nlohmann::json created = *store_.Create(sa_, "ns", Sa("bot"));
  nlohmann::json snapshot = store_.Snapshot();
  ObjectStore restored(clock_);
  ASSERT_TRUE(restored.Restore(snapshot).ok());
  EXPECT_EQ(*restored.Get(sa_, "ns", "bot"), created);
  EXPECT_EQ(restored.CurrentResourceVersion(), store_.CurrentResourceVersion());
  EXPECT_FALSE(restored.Restore(nlohmann::json::array()).ok());
}

// What the persister wrote, in order; writes fail while `fail` is set.
struct Disk {
  absl::Mutex mu;
  std::vector<nlohmann::json> snapshots ABSL_GUARDED_BY(mu);
  bool fail ABSL_GUARDED_BY(mu) = false;

  absl::Status Write(const std::string& data) {
    absl::MutexLock lock(&mu);
    if (fail) return absl::UnavailableError("disk full");
    snapshots.push_back(nlohmann::json::parse(data));
    return absl::OkStatus();
  }
  size_t count() {
    absl::MutexLock lock(&mu);
    return snapshots.size();
  }
  nlohmann::json last() {
    absl::MutexLock lock(&mu);
    return snapshots.empty() ? nlohmann::json() : snapshots.back();
  }
  // Waits for the `n`th snapshot (an event; at most 10 s of real time).
  bool AwaitCount(size_t n) {
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return snapshots.size() >= n; };
    absl::MutexLock lock(&mu);
    return mu.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }
};

// The ServiceAccount names in a snapshot.
std::vector<std::string> SaNames(const nlohmann::json& snapshot) {
  std::vector<std::string> names;
  if (!snapshot.contains("objects") || !snapshot["objects"].contains("serviceaccounts")) {
    return names;
  }
  for (const nlohmann::json& sa : snapshot["objects"]["serviceaccounts"]) {
    names.push_back(sa["metadata"]["name"]);
  }
  return names;
}

class SnapshotPersisterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.Create(Res("", "namespaces"), "", {{"metadata", {{"name", "ns"}}}}).ok());
  }
  absl::Status CreateSa(const std::string& name) {
    return store_.Create(sa_, "ns", {{"metadata", {{"name", name}}}}).status();
  }

  // The persister's writer thread waits on it: only the test's Advance ends an interval.
  SimulatedClock clock_;
  ObjectStore store_{clock_};
  Disk disk_;
  std::vector<absl::Status> reported_;  // only touched by the writer thread, read after Stop()
  SnapshotPersister persister_{
      store_, clock_, [this](const std::string& data) { return disk_.Write(data); },
      absl::Milliseconds(200), [this](const absl::Status& s) { reported_.push_back(s); }};
  const ResourceInfo& sa_ = Res("", "serviceaccounts");
  const absl::Time t0_ = clock_.Now();
};

// A burst of changes costs one write per interval, not one per change; the writes carry every
// change and read back with Restore.
TEST_F(SnapshotPersisterTest, ManyQuickChangesFewWrites) {
  ASSERT_TRUE(persister_.Start().ok());
  ASSERT_EQ(disk_.count(), 1u);  // Start writes the current state
  EXPECT_TRUE(SaNames(disk_.last()).empty());

  for (int i = 0; i < 100; ++i) ASSERT_TRUE(CreateSa(absl::StrCat("sa-", i)).ok());
  // The writer waits for the interval since Start's write; the clock stands still, so nothing
  // was written for the 100 changes yet.
  ASSERT_TRUE(clock_.AwaitBlockedUntil(t0_ + absl::Milliseconds(200)));
  EXPECT_EQ(disk_.count(), 1u);
  EXPECT_EQ(persister_.writes(), 1);

  clock_.Advance(absl::Milliseconds(200));
  ASSERT_TRUE(disk_.AwaitCount(2));
  EXPECT_EQ(SaNames(disk_.last()).size(), 100u);
  EXPECT_EQ(disk_.last()["resourceVersion"], store_.CurrentResourceVersion());

  // The next change waits for the next interval.
  ASSERT_TRUE(CreateSa("late").ok());
  ASSERT_TRUE(clock_.AwaitBlockedUntil(t0_ + absl::Milliseconds(400)));
  EXPECT_EQ(disk_.count(), 2u);
  clock_.Advance(absl::Milliseconds(200));
  ASSERT_TRUE(disk_.AwaitCount(3));
  EXPECT_EQ(SaNames(disk_.last()).size(), 101u);

  ASSERT_TRUE(persister_.Stop().ok());
  EXPECT_EQ(disk_.count(), 3u);  // nothing changed since: Stop writes nothing
  EXPECT_EQ(persister_.writes(), 3);
  EXPECT_TRUE(reported_.empty());

  ObjectStore restored(clock_);
  ASSERT_TRUE(restored.Restore(disk_.last()).ok());
  EXPECT_TRUE(restored.Get(sa_, "ns", "late").ok());
  EXPECT_EQ(restored.CurrentResourceVersion(), store_.CurrentResourceVersion());
}

// Stop writes the last change at once, without waiting for the interval, and later changes are
// no longer followed.
TEST_F(SnapshotPersisterTest, StopFlushesTheLastChange) {
  ASSERT_TRUE(persister_.Start().ok());
  ASSERT_TRUE(CreateSa("first").ok());
  ASSERT_TRUE(clock_.AwaitBlockedUntil(t0_ + absl::Milliseconds(200)));
  ASSERT_TRUE(CreateSa("last").ok());
  EXPECT_EQ(disk_.count(), 1u);

  ASSERT_TRUE(persister_.Stop().ok());  // the clock never moved
  ASSERT_EQ(disk_.count(), 2u);
  EXPECT_EQ(SaNames(disk_.last()), (std::vector<std::string>{"first", "last"}));

  ASSERT_TRUE(CreateSa("after-stop").ok());
  EXPECT_TRUE(persister_.Stop().ok());  // idempotent
  EXPECT_EQ(disk_.count(), 2u);
}

// A failing write is reported once, retried every interval, and reported again when it works.
TEST_F(SnapshotPersisterTest, FailedWritesAreRetriedAndReportedOnce) {
  ASSERT_TRUE(persister_.Start().ok());
  {
    absl::MutexLock lock(&disk_.mu);
    disk_.fail = true;
  }
  ASSERT_TRUE(CreateSa("kept").ok());
  ASSERT_TRUE(clock_.AwaitBlockedUntil(t0_ + absl::Milliseconds(200)));
  clock_.Advance(absl::Milliseconds(200));  // fails
  ASSERT_TRUE(clock_.AwaitBlockedUntil(t0_ + absl::Milliseconds(400)));
  clock_.Advance(absl::Milliseconds(200));  // fails again, without a change in between
  ASSERT_TRUE(clock_.AwaitBlockedUntil(t0_ + absl::Milliseconds(600)));
  EXPECT_EQ(disk_.count(), 1u);
  {
    absl::MutexLock lock(&disk_.mu);
    disk_.fail = false;
  }
  clock_.Advance(absl::Milliseconds(200));
  ASSERT_TRUE(disk_.AwaitCount(2));
  EXPECT_EQ(SaNames(disk_.last()), (std::vector<std::string>{"kept"}));

  ASSERT_TRUE(persister_.Stop().ok());
  ASSERT_EQ(reported_.size(), 2u);
  EXPECT_EQ(reported_[0].code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(reported_[1].ok());
}

// When the first write fails, Start says so and follows no changes.
TEST_F(SnapshotPersisterTest, StartFailsWhenTheFirstWriteFails) {
  {
    absl::MutexLock lock(&disk_.mu);
    disk_.fail = true;
  }
  absl::Status started = persister_.Start();
  EXPECT_EQ(started.code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(CreateSa("ignored").ok());
  EXPECT_TRUE(persister_.Stop().ok());
  EXPECT_EQ(disk_.count(), 0u);
}

// A watch waits on the store's clock: a change wakes it, the clock reaching the deadline ends it.
TEST(ObjectStoreWaitTest, WaitsUntilTheStoreClockReachesTheDeadline) {
  SimulatedClock clock;
  ObjectStore store(clock);
  ASSERT_TRUE(store.Create(Res("", "namespaces"), "", {{"metadata", {{"name", "ns"}}}}).ok());
  const ResourceInfo& sa = Res("", "serviceaccounts");
  const absl::Time deadline = clock.Now() + absl::Seconds(30);

  absl::StatusOr<std::vector<WatchEvent>> timed_out;
  std::thread idle(
      [&] { timed_out = store.WaitForEvents(sa, "ns", store.CurrentResourceVersion(), deadline); });
  ASSERT_TRUE(clock.AwaitBlockedUntil(deadline));
  clock.Advance(absl::Seconds(30));
  idle.join();
  ASSERT_TRUE(timed_out.ok()) << timed_out.status();
  EXPECT_TRUE(timed_out->empty());

  absl::StatusOr<std::vector<WatchEvent>> woken;
  const int64_t before = store.CurrentResourceVersion();
  std::thread watcher(
      [&] { woken = store.WaitForEvents(sa, "ns", before, deadline + absl::Seconds(30)); });
  ASSERT_TRUE(clock.AwaitBlockedUntil(deadline + absl::Seconds(30)));
  ASSERT_TRUE(store.Create(sa, "ns", {{"metadata", {{"name", "bot"}}}}).ok());
  watcher.join();
  ASSERT_TRUE(woken.ok()) << woken.status();
  ASSERT_EQ(woken->size(), 1u);
  EXPECT_EQ((*woken)[0].type, "ADDED");
}

}  // namespace
}  // namespace kcred::devcluster
