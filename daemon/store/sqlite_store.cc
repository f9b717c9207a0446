#include "daemon/store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "daemon/store/store_checks.h"

namespace kcred::store {
namespace {

constexpr mode_t kFileMode = 0600;

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status SqliteStatus(const std::string& path, int rc, absl::string_view action,
                          absl::string_view detail) {
  const std::string prefix = absl::StrCat("state database ", path, ": ", action, ": ", detail);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(absl::StrCat(
          prefix,
          " (the database is locked by another process; stop the other kcredd or sqlite3 "
          "session using it and retry)"));
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
    case SQLITE_AUTH:
      return absl::PermissionDeniedError(absl::StrCat(
          prefix, " (check that the state directory ", DirectoryOf(path),
          " exists and that it and the database files are writable by the kcredd user)"));
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(absl::StrCat(
          prefix, " (the disk is full; free space on the filesystem of ", DirectoryOf(path), ")"));
    case SQLITE_IOERR:
      return absl::UnavailableError(
          absl::StrCat(prefix, " (I/O error; check the disk holding ", DirectoryOf(path), ")"));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(absl::StrCat(
          prefix,
          " (the file is not a valid kcred database; restore it from a backup, or move it "
          "aside to start with an empty store)"));
    case SQLITE_TOOBIG:
      return absl::InvalidArgumentError(prefix);
    default:
      return absl::InternalError(prefix);
  }
}

// Creates the database file with mode 0600 before SQLite sees it (SQLite would use 0644 minus the
// umask), and tightens the mode of existing files. SQLite gives -wal and -shm the database's mode.
absl::Status PrepareFiles(const std::string& path) {
  const std::string dir = DirectoryOf(path);
  struct stat dir_info;
  if (::stat(dir.c_str(), &dir_info) != 0 || !S_ISDIR(dir_info.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("state database ", path, ": state directory ", dir,
                     " does not exist; create it (systemd: StateDirectory=kcred) or point the "
                     "store at an existing directory"));
  }
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, kFileMode);
  if (fd < 0) {
    const int err = errno;
    if (err == EACCES || err == EPERM || err == EROFS) {
      return absl::PermissionDeniedError(
          absl::StrCat("state database ", path, ": cannot create or open it: ", std::strerror(err),
                       " (state directory ", dir, " not writable by uid ", ::getuid(),
                       "; fix the owner or mode of the directory)"));
    }
    if (err == ELOOP) {
      return absl::FailedPreconditionError(absl::StrCat(
          "state database ", path, " is a symbolic link; point the store at the real file"));
    }
    return absl::InternalError(
        absl::StrCat("state database ", path, ": cannot create or open it: ", std::strerror(err)));
  }
  struct stat info;
  absl::Status status = absl::OkStatus();
  if (::fstat(fd, &info) != 0) {
    status = absl::InternalError(
        absl::StrCat("state database ", path, ": stat failed: ", std::strerror(errno)));
  } else if (!S_ISREG(info.st_mode)) {
    status = absl::FailedPreconditionError(
        absl::StrCat("state database ", path, " is not a regular file; move it aside"));
  } else if ((info.st_mode & 07777) != kFileMode && ::fchmod(fd, kFileMode) != 0) {
    status = absl::PermissionDeniedError(absl::StrCat(
        "state database ", path, " has mode ", absl::StrFormat("%04o", info.st_mode & 07777),
        " and cannot be changed to 0600: ", std::strerror(errno), "; run `chmod 600 ", path,
        "` as its owner"));
  }
  ::close(fd);
  if (!status.ok()) return status;
  for (const char* suffix : {"-wal", "-shm"}) {
    const std::string side = path + suffix;
    struct stat side_info;
    if (::lstat(side.c_str(), &side_info) == 0 && S_ISREG(side_info.st_mode) &&
        (side_info.st_mode & 07777) != kFileMode && ::chmod(side.c_str(), kFileMode) != 0) {
      return absl::PermissionDeniedError(absl::StrCat(
          "state database file ", side, " cannot be changed to mode 0600: ", std::strerror(errno),
          "; run `chmod 600 ", side, "` as its owner"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

// A prepared statement, reset (bindings cleared) by Reset() after each use.
class SqliteStore::Statement {
 public:
  Statement() = default;
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  int Prepare(sqlite3* db, const char* sql) {
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  }
  sqlite3_stmt* get() const { return stmt_; }

  int BindBytes(int index, const std::string& bytes) {
    // A null pointer would bind NULL; std::string::data() never is, so "" binds an empty blob.
    return sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  }
  int BindInt(int index, int64_t value) { return sqlite3_bind_int64(stmt_, index, value); }
  std::string ColumnBytes(int index) const {
    const void* data = sqlite3_column_blob(stmt_, index);
    const int size = sqlite3_column_bytes(stmt_, index);
    if (data == nullptr || size <= 0) return std::string();
    return std::string(static_cast<const char*>(data), static_cast<size_t>(size));
  }
  int64_t ColumnInt(int index) const { return sqlite3_column_int64(stmt_, index); }
  int Step() { return sqlite3_step(stmt_); }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

struct SqliteStore::Statements {
  Statement begin_immediate;
  Statement begin_read;
  Statement commit;
  Statement rollback;
  Statement get;
  Statement list_bounded;    // key >= ?1 AND key < ?2, LIMIT ?3
  Statement list_unbounded;  // key >= ?1, LIMIT ?2
  Statement read_revision;
  Statement write_revision;
  Statement upsert;
  Statement remove;
};

namespace {

// Runs a statement that returns no rows to completion, resetting it afterwards.
template <typename Stmt>
int RunOnce(Stmt& statement) {
  const int rc = statement.Step();
  statement.Reset();
  return rc == SQLITE_ROW ? SQLITE_MISUSE : rc;
}

}  // namespace

namespace {

// Takes the one-writer lock of the database at `path`: "<path>.lock", locked with flock and
// holding this process's pid. Returns the descriptor that holds it.
absl::StatusOr<int> LockWriter(const std::string& path) {
  const std::string lock_path = path + ".lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, kFileMode);
  if (fd < 0) {
    return absl::Status(errno == EACCES || errno == EPERM ? absl::StatusCode::kPermissionDenied
                                                          : absl::StatusCode::kInternal,
                        absl::StrCat("state database ", path, ": cannot open its lock file ",
                                     lock_path, ": ", std::strerror(errno)));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char holder[32] = {};
    const ssize_t n = ::pread(fd, holder, sizeof(holder) - 1, 0);
    ::close(fd);
    if (err != EWOULDBLOCK) {
      return absl::InternalError(absl::StrCat("state database ", path, ": cannot lock ", lock_path,
                                              ": ", std::strerror(err)));
    }
    const std::string pid(absl::StripAsciiWhitespace(n > 0 ? absl::string_view(holder, n) : ""));
    return absl::FailedPreconditionError(
        absl::StrCat("state directory ", DirectoryOf(path), " is in use by another kcredd (pid ",
                     pid.empty() ? "unknown" : pid, ", holding ", lock_path,
                     "); stop that kcredd first, or give this one a state_dir of its own"));
  }
  const std::string pid = absl::StrCat(::getpid(), "\n");
  // Without the pid the lock still holds; a refused second writer then says "pid unknown".
  if (::ftruncate(fd, 0) == 0) WriteFully(fd, pid);
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError(
        "state database path is empty; configure the store path inside the state directory");
  }
  if (absl::Status s = PrepareFiles(path); !s.ok()) return s;
  absl::StatusOr<int> lock_fd = LockWriter(path);
  if (!lock_fd.ok()) return lock_fd.status();
  sqlite3* db = nullptr;
  // Not SQLITE_OPEN_NOFOLLOW: it also refuses symlinked directories, and systemd's
  // StateDirectory= with DynamicUser= is one (/var/lib/kcred -> private/kcred). PrepareFiles
  // already refused a symlink as the database file itself.
  const int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status =
        SqliteStatus(path, rc, "open", db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    ::close(*lock_fd);
    return status;
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(path, *lock_fd, db));
  if (absl::Status s = store->Initialize(); !s.ok()) return s;
  return store;
}

SqliteStore::SqliteStore(std::string path, int lock_fd, sqlite3* db)
    : path_(std::move(path)),
      lock_fd_(lock_fd),
      db_(db),
      statements_(std::make_unique<Statements>()) {}

SqliteStore::~SqliteStore() {
  absl::MutexLock lock(&mu_);
  statements_.reset();  // finalize before closing, or sqlite3_close reports SQLITE_BUSY
  sqlite3_close(db_);
  ::close(lock_fd_);  // releases the writer's lock, after the database is closed
}

absl::Status SqliteStore::Error(int rc, absl::string_view action) const {
  return SqliteStatus(path_, rc, action, sqlite3_errmsg(db_));
}

absl::Status SqliteStore::Initialize() {
  absl::MutexLock lock(&mu_);
  sqlite3_extended_result_codes(db_, 1);
  if (int rc = sqlite3_busy_timeout(db_, kBusyTimeoutMs); rc != SQLITE_OK) {
    return Error(rc, "setting the busy timeout");
  }
  // journal_mode answers with the mode in effect; anything but "wal" means WAL is unavailable
  // (e.g. a filesystem without shared memory), and kcred's durability promise would not hold.
  {
    Statement journal;
    if (int rc = journal.Prepare(db_, "PRAGMA journal_mode=WAL"); rc != SQLITE_OK) {
      return Error(rc, "enabling the WAL journal");
    }
    const int rc = journal.Step();
    if (rc != SQLITE_ROW) return Error(rc, "enabling the WAL journal");
    const std::string mode = absl::AsciiStrToLower(journal.ColumnBytes(0));
    if (mode != "wal") {
      return absl::FailedPreconditionError(absl::StrCat(
          "state database ", path_, ": the WAL journal cannot be enabled (journal mode is \"", mode,
          "\"); put the state directory on a local filesystem"));
    }
  }
  if (int rc = sqlite3_exec(db_, "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr);
      rc != SQLITE_OK) {
    return Error(rc, "setting synchronous=FULL");
  }

  // Create or check the schema in one transaction, so two processes starting at once agree.
  if (int rc = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr); rc != SQLITE_OK) {
    return Error(rc, "reading the schema");
  }
  auto fail = [this](absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return status;
  };
  int64_t version = 0;
  {
    Statement has_meta;
    int rc = has_meta.Prepare(
        db_, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
    if (rc != SQLITE_OK) return fail(Error(rc, "reading the schema"));
    rc = has_meta.Step();
    if (rc != SQLITE_ROW) return fail(Error(rc, "reading the schema"));
    if (has_meta.ColumnInt(0) != 0) {
      Statement read_version;
      rc = read_version.Prepare(db_, "SELECT value FROM meta WHERE name = 'schema_version'");
      if (rc != SQLITE_OK) return fail(Error(rc, "reading the schema version"));
      rc = read_version.Step();
      if (rc != SQLITE_ROW) {
        return fail(absl::DataLossError(absl::StrCat(
            "state database ", path_,
            ": the meta table has no schema_version; the file was not "
            "written by kcredd or is damaged: restore it from a backup or move it aside")));
      }
      version = read_version.ColumnInt(0);
    }
  }
  if (version > kSchemaVersion) {
    return fail(absl::FailedPreconditionError(absl::StrCat(
        "state database ", path_, " has schema version ", version,
        ", newer than this kcredd understands (", kSchemaVersion,
        "); run the newer kcredd that wrote it, or restore a backup taken before the upgrade")));
  }
  if (version < 1) {
    constexpr const char* kSchema =
        "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        "CREATE TABLE kv (key BLOB PRIMARY KEY, value BLOB NOT NULL,"
        " create_revision INTEGER NOT NULL, mod_revision INTEGER NOT NULL) WITHOUT ROWID;"
        "INSERT INTO meta (name, value) VALUES ('schema_version', 1), ('revision', 0);";
    if (int rc = sqlite3_exec(db_, kSchema, nullptr, nullptr, nullptr); rc != SQLITE_OK) {
      return fail(Error(rc, "creating the schema"));
    }
  }
  // Migrations from older versions go here, one step per version, inside this transaction.
  if (int rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr); rc != SQLITE_OK) {
    return fail(Error(rc, "committing the schema"));
  }

  struct {
    Statement* statement;
    const char* sql;
  } const kPrepared[] = {
      {&statements_->begin_immediate, "BEGIN IMMEDIATE"},
      {&statements_->begin_read, "BEGIN"},
      {&statements_->commit, "COMMIT"},
      {&statements_->rollback, "ROLLBACK"},
      {&statements_->get, "SELECT value, create_revision, mod_revision FROM kv WHERE key = ?1"},
      {&statements_->list_bounded,
       "SELECT key, value, create_revision, mod_revision FROM kv"
       " WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3"},
      {&statements_->list_unbounded,
       "SELECT key, value, create_revision, mod_revision FROM kv"
       " WHERE key >= ?1 ORDER BY key LIMIT ?2"},
      {&statements_->read_revision, "SELECT value FROM meta WHERE name = 'revision'"},
      {&statements_->write_revision, "UPDATE meta SET value = ?1 WHERE name = 'revision'"},
      {&statements_->upsert,
       "INSERT INTO kv (key, value, create_revision, mod_revision) VALUES (?1, ?2, ?3, ?3)"
       " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
       " mod_revision = excluded.mod_revision"},
      {&statements_->remove, "DELETE FROM kv WHERE key = ?1"},
  };
  for (const auto& entry : kPrepared) {
    if (int rc = entry.statement->Prepare(db_, entry.sql); rc != SQLITE_OK) {
      return Error(rc, absl::StrCat("preparing \"", entry.sql, "\""));
    }
  }
  return absl::OkStatus();
}

template <typename Body>
absl::Status SqliteStore::InWriteTransactionLocked(absl::string_view action, Body body) {
  if (int rc = RunOnce(statements_->begin_immediate); rc != SQLITE_DONE) {
    return Error(rc, action);
  }
  absl::Status status = body();
  if (status.ok()) {
    const int rc = RunOnce(statements_->commit);
    if (rc == SQLITE_DONE) return absl::OkStatus();
    status = Error(rc, action);
  }
  // ROLLBACK fails harmlessly when SQLite already rolled back on its own (e.g. disk full).
  RunOnce(statements_->rollback);
  return status;
}

absl::StatusOr<Revision> SqliteStore::ReadRevisionLocked() {
  Statement& statement = statements_->read_revision;
  const int rc = statement.Step();
  if (rc != SQLITE_ROW) {
    absl::Status status = Error(rc, "reading the store revision");
    statement.Reset();
    return status;
  }
  const Revision revision = statement.ColumnInt(0);
  statement.Reset();
  return revision;
}

absl::Status SqliteStore::WriteRevisionLocked(Revision revision) {
  statements_->write_revision.BindInt(1, revision);
  if (int rc = RunOnce(statements_->write_revision); rc != SQLITE_DONE) {
    return Error(rc, "writing the store revision");
  }
  return absl::OkStatus();
}

absl::StatusOr<Revision> SqliteStore::ModRevisionLocked(const std::string& key) {
  Statement& statement = statements_->get;
  statement.BindBytes(1, key);
  const int rc = statement.Step();
  Revision revision = 0;
  absl::Status status = absl::OkStatus();
  if (rc == SQLITE_ROW) {
    revision = statement.ColumnInt(2);
  } else if (rc != SQLITE_DONE) {
    status = Error(rc, absl::StrCat("reading key ", QuoteKey(key)));
  }
  statement.Reset();
  if (!status.ok()) return status;
  return revision;
}

absl::Status SqliteStore::UpsertLocked(const std::string& key, const std::string& value,
                                       Revision revision) {
  Statement& statement = statements_->upsert;
  statement.BindBytes(1, key);
  statement.BindBytes(2, value);
  statement.BindInt(3, revision);
  if (int rc = RunOnce(statement); rc != SQLITE_DONE) {
    return Error(rc, absl::StrCat("writing key ", QuoteKey(key)));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> SqliteStore::DeleteLocked(const std::string& key) {
  Statement& statement = statements_->remove;
  statement.BindBytes(1, key);
  if (int rc = RunOnce(statement); rc != SQLITE_DONE) {
    return Error(rc, absl::StrCat("deleting key ", QuoteKey(key)));
  }
  return sqlite3_changes(db_) > 0;
}

absl::StatusOr<KeyValue> SqliteStore::Get(const std::string& key) {
  if (absl::Status s = ValidateKey(key); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  Statement& statement = statements_->get;
  statement.BindBytes(1, key);
  const int rc = statement.Step();
  absl::StatusOr<KeyValue> result;
  if (rc == SQLITE_ROW) {
    result =
        KeyValue{key, statement.ColumnBytes(0), statement.ColumnInt(1), statement.ColumnInt(2)};
  } else if (rc == SQLITE_DONE) {
    result = absl::NotFoundError(absl::StrCat("store key ", QuoteKey(key), " not found"));
  } else {
    result = Error(rc, absl::StrCat("reading key ", QuoteKey(key)));
  }
  statement.Reset();
  return result;
}

absl::StatusOr<ListResult> SqliteStore::List(const ListOptions& options) {
  if (absl::Status s = ValidateListOptions(options); !s.ok()) return s;
  const std::string end = PrefixEnd(options.prefix);
  // In bytewise order the first key after `start_after` is start_after + '\0'.
  const std::string begin =
      options.start_after.empty() ? options.prefix : options.start_after + std::string(1, '\0');
  // One extra row tells whether there is more; -1 is SQLite's "no limit".
  const int64_t limit = options.limit == 0 ? -1 : static_cast<int64_t>(options.limit) + 1;

  absl::MutexLock lock(&mu_);
  // A read transaction, so the rows and the revision come from one snapshot.
  if (int rc = RunOnce(statements_->begin_read); rc != SQLITE_DONE) {
    return Error(rc, "starting a read");
  }
  ListResult result;
  absl::Status status = absl::OkStatus();
  if (absl::StatusOr<Revision> revision = ReadRevisionLocked(); revision.ok()) {
    result.revision = *revision;
  } else {
    status = revision.status();
  }
  if (status.ok()) {
    Statement& statement = end.empty() ? statements_->list_unbounded : statements_->list_bounded;
    statement.BindBytes(1, begin);
    if (end.empty()) {
      statement.BindInt(2, limit);
    } else {
      statement.BindBytes(2, end);
      statement.BindInt(3, limit);
    }
    int rc;
    while ((rc = statement.Step()) == SQLITE_ROW) {
      if (options.limit != 0 && result.items.size() == options.limit) {
        result.more = true;
        rc = SQLITE_DONE;
        break;
      }
      result.items.push_back(KeyValue{statement.ColumnBytes(0), statement.ColumnBytes(1),
                                      statement.ColumnInt(2), statement.ColumnInt(3)});
    }
    if (rc != SQLITE_DONE) {
      status = Error(rc, absl::StrCat("listing prefix ", QuoteKey(options.prefix)));
    }
    statement.Reset();
  }
  RunOnce(statements_->commit);
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<Revision> SqliteStore::Put(const std::string& key, const std::string& value,
                                          Precondition expect) {
  if (absl::Status s = ValidateKey(key); !s.ok()) return s;
  if (absl::Status s = ValidateValue(key, value); !s.ok()) return s;
  if (absl::Status s = ValidatePrecondition(key, expect); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  Revision written = 0;
  absl::Status status = InWriteTransactionLocked(
      absl::StrCat("writing key ", QuoteKey(key)),
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        absl::StatusOr<Revision> current = ModRevisionLocked(key);
        if (!current.ok()) return current.status();
        if (absl::Status s = CheckPrecondition(key, expect, *current); !s.ok()) return s;
        absl::StatusOr<Revision> revision = ReadRevisionLocked();
        if (!revision.ok()) return revision.status();
        written = *revision + 1;
        if (absl::Status s = UpsertLocked(key, value, written); !s.ok()) return s;
        return WriteRevisionLocked(written);
      });
  if (!status.ok()) return status;
  return written;
}

absl::StatusOr<bool> SqliteStore::Delete(const std::string& key, Precondition expect) {
  if (absl::Status s = ValidateDelete(key, expect); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  bool deleted = false;
  absl::Status status = InWriteTransactionLocked(
      absl::StrCat("deleting key ", QuoteKey(key)),
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        absl::StatusOr<Revision> current = ModRevisionLocked(key);
        if (!current.ok()) return current.status();
        if (absl::Status s = CheckPrecondition(key, expect, *current); !s.ok()) return s;
        if (*current == 0) return absl::OkStatus();
        absl::StatusOr<bool> removed = DeleteLocked(key);
        if (!removed.ok()) return removed.status();
        deleted = *removed;
        absl::StatusOr<Revision> revision = ReadRevisionLocked();
        if (!revision.ok()) return revision.status();
        return WriteRevisionLocked(*revision + 1);
      });
  if (!status.ok()) return status;
  return deleted;
}

absl::StatusOr<Revision> SqliteStore::Txn(const TxnRequest& request) {
  if (absl::Status s = ValidateTxn(request); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  Revision result = 0;
  absl::Status status = InWriteTransactionLocked(
      "applying a transaction", [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        for (const TxnCompare& compare : request.compares) {
          absl::StatusOr<Revision> current = ModRevisionLocked(compare.key);
          if (!current.ok()) return current.status();
          if (absl::Status s = CheckPrecondition(compare.key, compare.expect, *current); !s.ok()) {
            return s;
          }
        }
        absl::StatusOr<Revision> revision = ReadRevisionLocked();
        if (!revision.ok()) return revision.status();
        const Revision next = *revision + 1;
        bool changed = false;
        for (const TxnOp& op : request.ops) {
          if (op.kind == TxnOp::Kind::kPut) {
            if (absl::Status s = UpsertLocked(op.key, op.value, next); !s.ok()) return s;
            changed = true;
          } else {
            absl::StatusOr<bool> removed = DeleteLocked(op.key);
            if (!removed.ok()) return removed.status();
            changed = changed || *removed;
          }
        }
        result = changed ? next : *revision;
        return changed ? WriteRevisionLocked(next) : absl::OkStatus();
      });
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<Revision> SqliteStore::CurrentRevision() {
  absl::MutexLock lock(&mu_);
  return ReadRevisionLocked();
}

absl::StatusOr<std::string> SqliteStore::QueryPragma(absl::string_view name) {
  if (name.empty() || name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") != name.npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("pragma name \"", name, "\" is not of the form [a-z_]+"));
  }
  absl::MutexLock lock(&mu_);
  Statement statement;
  const std::string sql = absl::StrCat("PRAGMA ", name);
  if (int rc = statement.Prepare(db_, sql.c_str()); rc != SQLITE_OK) {
    return Error(rc, absl::StrCat("querying pragma ", name));
  }
  const int rc = statement.Step();
  if (rc != SQLITE_ROW) return Error(rc, absl::StrCat("querying pragma ", name));
  const unsigned char* text = sqlite3_column_text(statement.get(), 0);
  return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text));
}

}  // namespace kcred::store
