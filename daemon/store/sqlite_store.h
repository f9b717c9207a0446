#pragma once
// SqliteStore: the Store seam on an embedded SQLite database in kcredd's state directory.
//
// Durability: WAL journal with synchronous=FULL, so a write that returned OK survives a power cut.
// The database file (and SQLite's -wal/-shm files, which inherit its mode) is 0600. One connection
// serves the process, serialized by a mutex; a busy timeout covers another process holding the
// file briefly (e.g. a backup with the sqlite3 shell).
//
// Schema: a `meta` table holds schema_version and the store revision; `kv` holds the records.
// A database written by a newer kcredd (higher schema_version) is refused rather than guessed at.
//
// One writer: Open takes an exclusive lock (flock) on "<path>.lock", holding the writer's pid,
// for the store's lifetime, so a second kcredd on the same state directory is refused instead of
// rotating the same accounts beside the first. The lock goes with the process, however it ends.

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "daemon/store/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace kcred::store {

class SqliteStore : public Store {
 public:
  // The schema this build writes and the newest it reads.
  static constexpr int kSchemaVersion = 1;
  // How long a statement waits for a lock held by another process before UNAVAILABLE.
  static constexpr int kBusyTimeoutMs = 5000;

  // Opens (creating when missing, mode 0600) the database at `path`. Errors name the path and
  // say what to fix: missing or unwritable state directory, not a database, newer schema, and
  // (FAILED_PRECONDITION) another process holding the database, named by its pid.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path);

  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  absl::StatusOr<KeyValue> Get(const std::string& key) override;
  absl::StatusOr<ListResult> List(const ListOptions& options) override;
  absl::StatusOr<Revision> Put(const std::string& key, const std::string& value,
                               Precondition expect = Precondition::None()) override;
  absl::StatusOr<bool> Delete(const std::string& key,
                              Precondition expect = Precondition::None()) override;
  absl::StatusOr<Revision> Txn(const TxnRequest& request) override;
  absl::StatusOr<Revision> CurrentRevision() override;

  // The value of a PRAGMA (e.g. "journal_mode", "synchronous") on this store's connection, as
  // text; for diagnostics and tests. INVALID_ARGUMENT for a name that is not [a-z_]+.
  absl::StatusOr<std::string> QueryPragma(absl::string_view name);

  const std::string& path() const { return path_; }

 private:
  class Statement;
  struct Statements;

  SqliteStore(std::string path, int lock_fd, sqlite3* db);
  absl::Status Initialize();

  // Turns an SQLite result code into a Status naming the database, the action and a remedy.
  // Reads the connection's last error message (so the caller holds mu_).
  absl::Status Error(int rc, absl::string_view action) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT, rolling back when it (or COMMIT) fails.
  template <typename Body>
  absl::Status InWriteTransactionLocked(absl::string_view action, Body body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Revision> ReadRevisionLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteRevisionLocked(Revision revision) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The key's mod_revision, 0 when absent.
  absl::StatusOr<Revision> ModRevisionLocked(const std::string& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status UpsertLocked(const std::string& key, const std::string& value, Revision revision)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Returns whether a row was removed.
  absl::StatusOr<bool> DeleteLocked(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const int lock_fd_;  // holds the writer's lock on "<path_>.lock" until the destructor
  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Statements> statements_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kcred::store
