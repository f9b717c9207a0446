#pragma once
// The dev cluster's objects: an in-memory, versioned store with Kubernetes semantics (uid,
// resourceVersion, creationTimestamp, generateName, optimistic concurrency) and a bounded event
// history that watch streams read from. It is the ObjectReader authentication and RBAC read.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/label_selector.h"
#include "devcluster/auth/object_reader.h"
#include "devcluster/field_selector.h"
#include "devcluster/resources.h"

namespace kcred::devcluster {

struct WatchEvent {
  int64_t resource_version = 0;
  std::string type;  // ADDED, MODIFIED, DELETED
  std::string resource;
  std::string namespace_name;
  nlohmann::json object;
  nlohmann::json previous;  // the object before a MODIFIED event; null otherwise
};

struct ListOptions {
  LabelSelector labels;
  FieldSelector fields;
  int64_t limit = 0;           // 0: no limit
  std::string continue_token;  // from a previous page
};

struct ListResult {
  std::vector<nlohmann::json> items;
  int64_t resource_version = 0;
  std::string continue_token;  // empty on the last page
};

class ObjectStore final : public ObjectReader {
 public:
  // `history` is how many events watches can resume from. `clock` (which must outlive the store)
  // stamps creationTimestamp and times the waits of WaitForEvents.
  explicit ObjectStore(Clock& clock, size_t history = 10000);

  // Called after every change, outside the store's lock; it should be cheap (SnapshotPersister
  // only marks itself dirty). Not synchronized with changes: set it before changes start and clear
  // it after they have stopped.
  void SetOnChange(std::function<void()> on_change);

  // Creates `object` (its kind and apiVersion are set from `info`). Resolves generateName,
  // validates the name, requires the namespace to exist for namespaced kinds, and sets uid,
  // resourceVersion and creationTimestamp. Errors are Kubernetes errors (api_error.h).
  // With `dry_run` every check runs but nothing is stored (for ?dryRun=All); the same holds for
  // Update and Delete.
  absl::StatusOr<nlohmann::json> Create(const ResourceInfo& info, absl::string_view ns,
                                        nlohmann::json object, bool dry_run = false);
  absl::StatusOr<nlohmann::json> Get(const ResourceInfo& info, absl::string_view ns,
                                     absl::string_view name) const;
  // Objects sorted by namespace and name, filtered, paged. `ns` empty lists all namespaces.
  absl::StatusOr<ListResult> List(const ResourceInfo& info, absl::string_view ns,
                                  const ListOptions& options) const;
  // Replaces an object. With metadata.resourceVersion set it must be current (else Conflict);
  // without it the update is unconditional unless `require_resource_version` (then Invalid).
  // uid and creationTimestamp are kept; a different uid in the body is a Conflict.
  absl::StatusOr<nlohmann::json> Update(const ResourceInfo& info, absl::string_view ns,
                                        nlohmann::json object, bool require_resource_version,
                                        bool dry_run = false);
  // Deletes and returns the object (with a new resourceVersion, as the DELETED event carries it).
  // `expected_uid`, when non-empty, is a precondition (Conflict when it differs).
  absl::StatusOr<nlohmann::json> Delete(const ResourceInfo& info, absl::string_view ns,
                                        absl::string_view name, absl::string_view expected_uid = "",
                                        bool dry_run = false);
  // Deletes every namespaced object in `ns` (not the namespace itself).
  void DeleteNamespaceContents(absl::string_view ns);

  int64_t CurrentResourceVersion() const;
  // Events of `info` in `ns` (all namespaces when empty) with resourceVersion > `after`, waiting
  // until there is at least one, the clock reaches `deadline`, or Close() is called (empty result
  // then).
  // Gone (410) when `after` is older than the retained history. `*seen` (optional) is set to the
  // resourceVersion the caller may resume after, also when no event of `info` matched.
  absl::StatusOr<std::vector<WatchEvent>> WaitForEvents(const ResourceInfo& info,
                                                        absl::string_view ns, int64_t after,
                                                        absl::Time deadline,
                                                        int64_t* seen = nullptr) const;
  // Wakes every waiting watch; later waits return at once.
  void Close();
  bool closed() const;

  // The whole state as JSON, and its inverse (replaces everything; events are not kept). Snapshot
  // copies the objects under a reader lock (reads go on meanwhile) and builds the JSON outside it.
  nlohmann::json Snapshot() const;
  absl::Status Restore(const nlohmann::json& snapshot);

  // ObjectReader.
  std::optional<nlohmann::json> Get(std::string_view resource, std::string_view ns,
                                    std::string_view name) const override;
  std::vector<nlohmann::json> List(std::string_view resource, std::string_view ns) const override;

 private:
  using Objects = std::map<std::string, nlohmann::json>;  // "ns/name" -> object

  static std::string Key(absl::string_view ns, absl::string_view name);
  void RecordLocked(std::string type, const ResourceInfo& info, absl::string_view ns,
                    const nlohmann::json& object, nlohmann::json previous = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NotifyChange();

  Clock& clock_;
  const size_t history_;
  std::function<void()> on_change_;
  mutable absl::Mutex mu_;
  std::map<std::string, Objects, std::less<>> objects_ ABSL_GUARDED_BY(mu_);
  int64_t resource_version_ ABSL_GUARDED_BY(mu_) = 1;
  std::deque<WatchEvent> events_ ABSL_GUARDED_BY(mu_);
  // The smallest resourceVersion a watch may resume after.
  int64_t oldest_watchable_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

// Keeps a file in sync with an ObjectStore without making changes wait for the disk. Every change
// only marks the persister dirty; a background thread writes a snapshot (Snapshot().dump(), through
// `write`, e.g. kcred::WriteFileAtomic: temp file, fsync, rename) at most once per `interval`
// while dirty, so a burst of changes costs one write. The snapshot is copied under the store's
// reader lock and serialized and written outside it.
//
// Durability: Start() writes the current state before it returns; Stop() writes the last changes
// before it returns, so a clean stop loses nothing. A crash (kill -9, power loss) may lose the
// changes of about the last `interval` (plus the time one write takes); the file on disk is
// always a complete, consistent snapshot (old or new, never torn). That is enough for a dev
// server; it is not etcd.
//
//   SnapshotPersister persister(store, clock, [](const std::string& data) {
//     return kcred::WriteFileAtomic(dir + "/state.json", data, 0600);
//   });
//   persister.Start();   // writes once, then follows changes
//   ...
//   persister.Stop();    // after changes have stopped: final write
class SnapshotPersister {
 public:
  using WriteFn = std::function<absl::Status(const std::string& data)>;
  // Called from the writer thread when a write fails after the previous one succeeded, and when
  // writes succeed again (with OkStatus), so a failing disk is reported once, not every interval.
  using ErrorFn = std::function<void(const absl::Status& status)>;

  static constexpr absl::Duration kDefaultInterval = absl::Milliseconds(200);

  // `store` and `clock` must outlive the persister. The clock times the interval (a simulated
  // clock in tests).
  SnapshotPersister(ObjectStore& store, Clock& clock, WriteFn write,
                    absl::Duration interval = kDefaultInterval, ErrorFn on_error = nullptr);
  // Stops (and flushes) when still running.
  ~SnapshotPersister();
  SnapshotPersister(const SnapshotPersister&) = delete;
  SnapshotPersister& operator=(const SnapshotPersister&) = delete;

  // Writes the current state, then hooks the store's change callback and starts the writer
  // thread. Returns the first write's error (and starts nothing) when it fails. Call once.
  absl::Status Start();
  // Marks the state changed; the writer thread picks it up. Cheap; the store calls it on change.
  void MarkDirty();
  // Unhooks the store, stops the writer thread and, when anything changed since the last write,
  // writes once more. Returns that write's error (or the last failed background write's, when
  // it was not retried successfully). Call after the store's changes have stopped. Idempotent.
  absl::Status Stop();

  // Snapshots written so far, including Start's and Stop's. Thread-safe.
  int64_t writes() const;

 private:
  void Loop();
  // Writes one snapshot; serialized by write_mu_.
  absl::Status WriteSnapshot();

  ObjectStore& store_;
  Clock& clock_;
  const WriteFn write_;
  const absl::Duration interval_;
  const ErrorFn on_error_;
  std::thread thread_;
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_write_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t writes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
};

// RFC 3339 in UTC with whole seconds, as creationTimestamp is written.
std::string FormatTimestamp(absl::Time t);

}  // namespace kcred::devcluster
