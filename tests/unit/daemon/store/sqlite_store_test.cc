// SqliteStore specifics: durability settings, file modes, schema versioning, errors that name
// the database, several connections on one file, and no unsealed token on disk.

#include "daemon/store/sqlite_store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/secret.h"
#include "daemon/store/aes_gcm_sealer.h"
#include "daemon/store/sealing_key.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace kcred::store {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<SqliteStore> MustOpen(const std::string& path) {
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

int ModeOf(const std::string& path) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) return -1;
  return static_cast<int>(info.st_mode & 07777);
}

std::string RawBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Runs SQL on the file through a separate raw connection, as an operator's sqlite3 shell would.
void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error != nullptr ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  const std::string path_ = dir_.File("kcred.db");
};

// Records, their revisions and the store revision survive a reopen, and revisions go on from there.
TEST_F(SqliteStoreTest, DataAndRevisionSurviveReopen) {
  // Records, their revisions and the store revision are back after close and reopen.
  {
    std::unique_ptr<SqliteStore> store = MustOpen(path_);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Put("accounts/dev/a", "spec-a").ok());
    ASSERT_TRUE(store->Put("accounts/dev/b", "spec-b").ok());
    ASSERT_TRUE(store->Put("accounts/dev/a", "spec-a2").ok());
    ASSERT_TRUE(store->Delete("accounts/dev/b").ok());
  }
  std::unique_ptr<SqliteStore> store = MustOpen(path_);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<KeyValue> kv = store->Get("accounts/dev/a");
  ASSERT_TRUE(kv.ok()) << kv.status();
  EXPECT_EQ(kv->value, "spec-a2");
  EXPECT_EQ(kv->create_revision, 1);
  EXPECT_EQ(kv->mod_revision, 3);
  EXPECT_EQ(store->Get("accounts/dev/b").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*store->CurrentRevision(), 4);
  // The revision continues; it is never reused after a restart.
  EXPECT_EQ(*store->Put("accounts/dev/c", "spec-c"), 5);
}

// The connection runs with WAL, synchronous=FULL and the busy timeout; SQL in a pragma is refused.
TEST_F(SqliteStoreTest, UsesWalJournalAndFullSync) {
  // The connection really runs with journal_mode=WAL and synchronous=FULL (2).
  std::unique_ptr<SqliteStore> store = MustOpen(path_);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->QueryPragma("journal_mode"), "wal");
  EXPECT_EQ(*store->QueryPragma("synchronous"), "2");
  EXPECT_EQ(*store->QueryPragma("busy_timeout"), std::to_string(SqliteStore::kBusyTimeoutMs));
  EXPECT_EQ(store->QueryPragma("journal_mode; DROP TABLE kv").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The database, its WAL and shared-memory files are 0600 even with a umask of 0.
TEST_F(SqliteStoreTest, FilesAreCreatedWithMode0600) {
  // The database, its WAL and shared-memory files are 0600 even under a permissive umask.
  const mode_t old_umask = ::umask(0);
  std::unique_ptr<SqliteStore> store = MustOpen(path_);
  ::umask(old_umask);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put("a", "v").ok());
  EXPECT_EQ(ModeOf(path_), 0600);
  EXPECT_EQ(ModeOf(path_ + "-wal"), 0600);
  EXPECT_EQ(ModeOf(path_ + "-shm"), 0600);
  EXPECT_EQ(ModeOf(path_ + ".lock"), 0600);
}

// Opening a database left 0644 sets it back to 0600.
TEST_F(SqliteStoreTest, LooseModeOfAnExistingDatabaseIsTightened) {
  // A database left world-readable (e.g. restored from a backup) is set back to 0600 on open.
  MustOpen(path_).reset();
  ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
  std::unique_ptr<SqliteStore> store = MustOpen(path_);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(ModeOf(path_), 0600);
}

// The meta table records the schema version that wrote the file.
TEST_F(SqliteStoreTest, RecordsTheSchemaVersion) {
  // The meta table says which schema wrote the file.
  MustOpen(path_).reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE name = 'schema_version'", -1,
                               &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), SqliteStore::kSchemaVersion);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

// A database of a newer schema version is refused saying what to do, and is left unchanged.
TEST_F(SqliteStoreTest, RefusesANewerSchemaVersion) {
  // A database written by a newer kcredd is refused with a message saying what to do.
  {
    std::unique_ptr<SqliteStore> store = MustOpen(path_);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Put("a", "v").ok());
  }
  RawExec(path_, "UPDATE meta SET value = 2 WHERE name = 'schema_version'");
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store.status().message(),
            absl::StrCat("state database ", path_,
                         " has schema version 2, newer than this kcredd understands (1); run the "
                         "newer kcredd that wrote it, or restore a backup taken before the "
                         "upgrade"));
  // Nothing was changed: the record is still there for the newer kcredd.
  RawExec(path_, "UPDATE meta SET value = 1 WHERE name = 'schema_version'");
  std::unique_ptr<SqliteStore> reopened = MustOpen(path_);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->Get("a")->value, "v");
}

// A database in a directory that does not exist is refused naming that directory.
TEST_F(SqliteStoreTest, MissingStateDirectoryIsNamed) {
  // A path in a directory that does not exist says which directory to create.
  const std::string path = dir_.File("missing/kcred.db");
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(),
              HasSubstr(absl::StrCat("state database ", path, ": state directory ",
                                     dir_.File("missing"), " does not exist")));
}

// A state directory that cannot be written is PERMISSION_DENIED naming it.
TEST_F(SqliteStoreTest, UnwritableStateDirectoryIsNamed) {
  // A state directory kcredd cannot write to is PERMISSION_DENIED naming it.
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  const std::string dir = dir_.File("readonly");
  ASSERT_EQ(::mkdir(dir.c_str(), 0500), 0);
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(dir + "/kcred.db");
  ::chmod(dir.c_str(), 0700);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(store.status().message(),
              HasSubstr(absl::StrCat("state directory ", dir, " not writable")));
}

// A state directory that is a symlink, as systemd's DynamicUser= makes it, is followed.
TEST_F(SqliteStoreTest, StateDirectoryMayBeASymlink) {
  // systemd's StateDirectory= with DynamicUser= is a symlink (/var/lib/kcred -> private/kcred).
  ASSERT_EQ(::mkdir(dir_.File("private").c_str(), 0700), 0);
  ASSERT_EQ(::symlink("private", dir_.File("state").c_str()), 0);
  std::unique_ptr<SqliteStore> store = MustOpen(dir_.File("state/kcred.db"));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put("a", "v").ok());
  EXPECT_EQ(ModeOf(dir_.File("private/kcred.db")), 0600);
}

// A database file that is a symlink is refused, not followed.
TEST_F(SqliteStoreTest, DatabaseFileThatIsASymlinkIsRefused) {
  // A symlink planted as the database file is not followed.
  MustOpen(path_).reset();
  ASSERT_EQ(::symlink(path_.c_str(), dir_.File("link.db").c_str()), 0);
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(dir_.File("link.db"));
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store.status().message(),
            absl::StrCat("state database ", dir_.File("link.db"),
                         " is a symbolic link; point the store at the real file"));
}

// A file that is not a database is DATA_LOSS naming the path and saying to move it aside.
TEST_F(SqliteStoreTest, AFileThatIsNotADatabaseIsDataLoss) {
  // Garbage at the database path is reported as such, with the path and the way out.
  {
    std::ofstream out(path_, std::ios::binary);
    out << std::string(4096, 'x');
  }
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(store.status().message(), HasSubstr(absl::StrCat("state database ", path_)));
  EXPECT_THAT(store.status().message(), HasSubstr("move it aside"));
}

// An empty database path is INVALID_ARGUMENT.
TEST_F(SqliteStoreTest, EmptyPathIsInvalid) {
  // An empty path is a configuration error, not a file in the working directory.
  EXPECT_EQ(SqliteStore::Open("").status().code(), absl::StatusCode::kInvalidArgument);
}

// A second writer on the same database is refused naming the directory and the first writer's
// pid, and loses nothing; once the first store is closed the database opens again.
TEST_F(SqliteStoreTest, ASecondWriterIsRefusedNamingTheFirstsPid) {
  std::unique_ptr<SqliteStore> first = MustOpen(path_);
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(first->Put("a", "v").ok());
  absl::StatusOr<std::unique_ptr<SqliteStore>> second = SqliteStore::Open(path_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      second.status().message(),
      absl::StrCat("state directory ", dir_.path(), " is in use by another kcredd (pid ",
                   ::getpid(), ", holding ", path_,
                   ".lock); stop that kcredd first, or give this one a state_dir of its own"));
  EXPECT_EQ(first->Get("a")->value, "v");
  EXPECT_TRUE(first->Put("b", "w").ok());
  first.reset();
  std::unique_ptr<SqliteStore> reopened = MustOpen(path_);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->Get("b")->value, "w");
}

// A sealed token stored is found as its blob in the WAL and, after close, the database, but never
// in the clear.
TEST_F(SqliteStoreTest, SealedTokenNeverReachesTheFilesInClear) {
  // With the token sealed before storing, neither the database nor its WAL contains it, while
  // the sealed blob itself is found there (so the search does look at the right bytes).
  absl::StatusOr<SealingKey> key = GenerateSealingKeyFile(dir_.File("sealing.key"));
  ASSERT_TRUE(key.ok()) << key.status();
  absl::StatusOr<std::unique_ptr<AesGcmSealer>> sealer = AesGcmSealer::Create(std::move(*key));
  ASSERT_TRUE(sealer.ok()) << sealer.status();
  const SecretString token(
      "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ."
      "eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YXV0b21hdGlvbjpjaS1ib3QifQ.c2lnbmF0dXJl");
  const std::string record = "tokens/dev/automation/ci-bot/1";
  absl::StatusOr<std::string> blob = (*sealer)->Seal(token, record);
  ASSERT_TRUE(blob.ok()) << blob.status();

  std::unique_ptr<SqliteStore> store = MustOpen(path_);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put(record, *blob).ok());

  const std::string wal = RawBytes(path_ + "-wal");
  ASSERT_FALSE(wal.empty());
  EXPECT_NE(wal.find(*blob), std::string::npos) << "the sealed blob should be in the WAL";
  EXPECT_EQ(wal.find(token.Reveal()), std::string::npos) << "token found in the WAL";
  EXPECT_EQ(wal.find("eyJzdWIiOiJzeXN0ZW06"), std::string::npos) << "token part in the WAL";
  EXPECT_EQ(RawBytes(path_).find(token.Reveal()), std::string::npos);

  // After close the WAL is checkpointed into the main file: the blob is there, the token not.
  store.reset();
  const std::string db = RawBytes(path_);
  EXPECT_NE(db.find(*blob), std::string::npos) << "the sealed blob should be in the database";
  EXPECT_EQ(db.find(token.Reveal()), std::string::npos) << "token found in the database";
  EXPECT_EQ(RawBytes(path_ + "-wal").find(token.Reveal()), std::string::npos);
}

}  // namespace
}  // namespace kcred::store
