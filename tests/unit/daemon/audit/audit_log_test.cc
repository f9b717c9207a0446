// Shows the audit sinks' contract: one JSON line per record that no field can break, durable when
// Write returns, size rotation that keeps max_files, group commit under concurrent writers, and
// failures (full disk, read-only file, no journald) reported with the path and the reason.
#include "daemon/audit/audit_log.h"

#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "daemon/audit/journal_audit_log.h"
#include "tests/support/process.h"

namespace kcred::audit {
namespace {

using ::testing::HasSubstr;

nlohmann::json Record(int seq, const std::string& pad = "") {
  return {{"seq", seq}, {"method", "GetToken"}, {"pad", pad}};
}

AuditSinkOptions FileOptions(const std::string& path, int64_t max_bytes = 0, int max_files = 10) {
  AuditSinkOptions options;
  options.path = path;
  options.max_bytes = max_bytes;
  options.max_files = max_files;
  return options;
}

// The lines of `path`, which must end with a newline (no torn last line).
std::vector<std::string> Lines(const std::string& path) {
  absl::StatusOr<std::string> text = testing::ReadFile(path);
  EXPECT_TRUE(text.ok()) << text.status();
  if (!text.ok() || text->empty()) return {};
  EXPECT_EQ(text->back(), '\n') << path;
  return absl::StrSplit(absl::string_view(*text).substr(0, text->size() - 1), '\n');
}

std::vector<int> Seqs(const std::string& path) {
  std::vector<int> seqs;
  for (const std::string& line : Lines(path)) {
    seqs.push_back(nlohmann::json::parse(line)["seq"].get<int>());
  }
  return seqs;
}

int64_t FileSize(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

int Mode(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777) : -1;
}

class FileAuditLogTest : public ::testing::Test {
 protected:
  std::unique_ptr<AuditLog> OpenOk(const AuditSinkOptions& options) {
    absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(options);
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? std::move(*log) : nullptr;
  }

  testing::TempDir dir_;
  const std::string path_ = dir_.File("audit.log");
};

// Each record is one line, readable as soon as Write returns; the file is created 0600.
TEST_F(FileAuditLogTest, OneLinePerRecordReadableWhenWriteReturns) {
  auto log = OpenOk(FileOptions(path_));
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(Mode(path_), 0600);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(log->Write(Record(i)).ok());
    EXPECT_EQ(Lines(path_).size(), static_cast<size_t>(i + 1));
  }
  EXPECT_EQ(nlohmann::json::parse(Lines(path_)[1]), Record(1));
  EXPECT_EQ(log->records_written(), 3u);
  EXPECT_EQ(log->records_failed(), 0u);
}

// Newline, CR, ESC and invalid UTF-8 in a field stay escaped on the record's line and parse back.
TEST_F(FileAuditLogTest, ControlCharactersAndInvalidUtf8StayOnOneLine) {
  auto log = OpenOk(FileOptions(path_));
  ASSERT_NE(log, nullptr);
  const std::string forged = "ci\n{\"seq\":99}\r\x1b[2Kbot\xff\xfe\x7f caf\xc3\xa9";
  ASSERT_TRUE(log->Write({{"seq", 1}, {"name", forged}}).ok());
  ASSERT_TRUE(log->Write(Record(2)).ok());
  const std::vector<std::string> lines = Lines(path_);
  ASSERT_EQ(lines.size(), 2u);
  for (char c : lines[0]) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << static_cast<int>(c) << " in " << lines[0];
  }
  const std::string name = nlohmann::json::parse(lines[0])["name"];
  const size_t invalid = forged.find('\xff');
  EXPECT_EQ(name.substr(0, invalid), forged.substr(0, invalid));  // unchanged up to invalid UTF-8
  EXPECT_THAT(name, HasSubstr("\xef\xbf\xbd"));                   // invalid UTF-8 became U+FFFD
  EXPECT_THAT(name, HasSubstr("\x7f caf\xc3\xa9"));  // DEL and UTF-8 come back as written
}

// A record must be a JSON object; anything else is refused and counted as failed.
TEST_F(FileAuditLogTest, RefusesRecordsThatAreNotObjects) {
  auto log = OpenOk(FileOptions(path_));
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->Write(nlohmann::json::array({1, 2})).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(log->records_failed(), 1u);
  EXPECT_TRUE(Lines(path_).empty());
}

// Size rotation shifts path -> path.1 -> ... -> path.N, never lets a file pass max_bytes, keeps
// max_files rotated files, and loses no record in between.
TEST_F(FileAuditLogTest, RotationKeepsMaxFiles) {
  auto log = OpenOk(FileOptions(path_, /*max_bytes=*/300, /*max_files=*/3));
  ASSERT_NE(log, nullptr);
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(log->Write(Record(i, "0123456789")).ok());
  std::vector<int> kept;
  for (const std::string& file : {path_ + ".3", path_ + ".2", path_ + ".1", path_}) {
    EXPECT_EQ(Mode(file), 0600) << file;
    EXPECT_LE(FileSize(file), 300) << file;
    for (int seq : Seqs(file)) kept.push_back(seq);
  }
  EXPECT_FALSE(std::filesystem::exists(path_ + ".4"));
  ASSERT_FALSE(kept.empty());
  EXPECT_EQ(kept.back(), 39);
  for (size_t i = 1; i < kept.size(); ++i) EXPECT_EQ(kept[i], kept[i - 1] + 1);
  EXPECT_GT(kept.size(), 20u);  // four files of five or six records each
}

// A record larger than max_bytes is written all the same, alone in its file.
TEST_F(FileAuditLogTest, OversizedRecordIsWrittenAlone) {
  auto log = OpenOk(FileOptions(path_, /*max_bytes=*/100, /*max_files=*/5));
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->Write(Record(0)).ok());
  ASSERT_TRUE(log->Write(Record(1, std::string(300, 'x'))).ok());
  ASSERT_TRUE(log->Write(Record(2)).ok());
  EXPECT_EQ(Seqs(path_ + ".2"), std::vector<int>{0});
  EXPECT_EQ(Seqs(path_ + ".1"), std::vector<int>{1});
  EXPECT_EQ(Seqs(path_), std::vector<int>{2});
}

// An operator's own rotation (rename) takes effect at the next record: a new file is started.
TEST_F(FileAuditLogTest, ExternalRenameStartsANewFile) {
  auto log = OpenOk(FileOptions(path_));
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->Write(Record(0)).ok());
  ASSERT_EQ(rename(path_.c_str(), dir_.File("audit.log.old").c_str()), 0);
  ASSERT_TRUE(log->Write(Record(1)).ok());
  EXPECT_EQ(Seqs(dir_.File("audit.log.old")), std::vector<int>{0});
  EXPECT_EQ(Seqs(path_), std::vector<int>{1});
  EXPECT_EQ(Mode(path_), 0600);
}

// 8 threads x 200 records, with rotation: every record is there exactly once, every line whole.
TEST_F(FileAuditLogTest, ConcurrentWritersEachRecordOnce) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  auto log = OpenOk(FileOptions(path_, /*max_bytes=*/16384, /*max_files=*/1000));
  ASSERT_NE(log, nullptr);
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!log->Write(Record(t * kPerThread + i, "line\nbreak")).ok()) ++failures[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures, std::vector<int>(kThreads, 0));

  std::map<int, int> seen;
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
    EXPECT_LE(FileSize(entry.path().string()), 16384) << entry.path();
    for (const std::string& line : Lines(entry.path().string())) {
      const nlohmann::json record =
          nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      ASSERT_TRUE(record.is_object()) << "torn line: " << line;
      EXPECT_EQ(record["pad"], "line\nbreak");
      ++seen[record["seq"].get<int>()];
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kPerThread));
  for (const auto& [seq, count] : seen) EXPECT_EQ(count, 1) << "record " << seq;
  EXPECT_EQ(log->records_written(), static_cast<uint64_t>(kThreads * kPerThread));
}

// A full disk fails the record, with the path and the system's reason.
TEST_F(FileAuditLogTest, FullDiskFailsTheWrite) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full on this machine";
  auto log = OpenOk(FileOptions("/dev/full"));
  ASSERT_NE(log, nullptr);
  absl::Status status = log->Write(Record(1));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("/dev/full"));
  EXPECT_THAT(status.message(), HasSubstr(std::strerror(ENOSPC)));
  EXPECT_EQ(log->records_failed(), 1u);
  EXPECT_EQ(log->records_written(), 0u);
}

constexpr uid_t kNobody = 65534;
constexpr int kCannotDropPrivileges = 77;

// In a child process: opens the sink, writes, makes the file read-only and checks that the next
// record fails. Returns the exit code: 0 when all went as expected.
int ReadOnlyFileCheck(const std::string& path) {
  if (geteuid() == 0 && (setgroups(0, nullptr) != 0 || setresgid(kNobody, kNobody, kNobody) != 0 ||
                         setresuid(kNobody, kNobody, kNobody) != 0)) {
    return kCannotDropPrivileges;
  }
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(FileOptions(path));
  if (!log.ok()) {
    std::fprintf(stderr, "Open: %s\n", log.status().ToString().c_str());
    return 1;
  }
  if (absl::Status s = (*log)->Write(Record(1)); !s.ok()) {
    std::fprintf(stderr, "first Write: %s\n", s.ToString().c_str());
    return 2;
  }
  if (chmod(path.c_str(), 0400) != 0) return 3;
  const absl::Status s = (*log)->Write(Record(2));
  const std::string message(s.message());
  if (s.ok() || message.find(path) == std::string::npos ||
      message.find(std::strerror(EACCES)) == std::string::npos) {
    std::fprintf(stderr, "Write to the read-only file: %s\n", s.ToString().c_str());
    return 4;
  }
  return (*log)->records_failed() == 1 ? 0 : 5;
}

// chmod 0400 of the file fails the next record. Root would write regardless (CAP_DAC_OVERRIDE),
// so the check runs in a child that drops to an unprivileged uid when the test runs as root.
TEST_F(FileAuditLogTest, ReadOnlyFileFailsTheNextWrite) {
  if (geteuid() == 0 && chown(dir_.path().c_str(), kNobody, kNobody) != 0) {
    // Bazel's sandbox runs tests as a root that owns nothing outside its user namespace.
    GTEST_SKIP() << "running as root without the right to change owners (chown: "
                 << std::strerror(errno) << ")";
  }
  std::fflush(nullptr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(ReadOnlyFileCheck(path_));
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child status " << status;
  if (WEXITSTATUS(status) == kCannotDropPrivileges) {
    GTEST_SKIP() << "running as root without the right to change uid (setresuid)";
  }
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child's stderr above says which step failed";
}

// Missing parent directories are created with mode 0700.
TEST_F(FileAuditLogTest, CreatesMissingParentDirectories) {
  const std::string path = dir_.File("a/b/audit.log");
  auto log = OpenOk(FileOptions(path));
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(Mode(dir_.File("a")), 0700);
  EXPECT_EQ(Mode(dir_.File("a/b")), 0700);
  EXPECT_EQ(Mode(path), 0600);
  ASSERT_TRUE(log->Write(Record(1)).ok());
  EXPECT_EQ(Seqs(path), std::vector<int>{1});
}

// Bad options and an unusable path are refused at Open, naming the path and what to change.
TEST_F(FileAuditLogTest, OpenRefusesBadOptionsAndUnusablePaths) {
  EXPECT_EQ(AuditLog::Open(FileOptions("")).status().code(), absl::StatusCode::kInvalidArgument);
  absl::Status no_files = AuditLog::Open(FileOptions(path_, 100, 0)).status();
  EXPECT_EQ(no_files.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_files.message(), HasSubstr("max_files"));
  EXPECT_EQ(AuditLog::Open(FileOptions(path_, -1)).status().code(),
            absl::StatusCode::kInvalidArgument);

  ASSERT_TRUE(testing::WriteFile(dir_.File("file"), "x").ok());
  absl::Status under_file = AuditLog::Open(FileOptions(dir_.File("file/audit.log"))).status();
  EXPECT_EQ(under_file.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(under_file.message(), HasSubstr(dir_.File("file/audit.log")));
  absl::Status directory = AuditLog::Open(FileOptions(dir_.path())).status();
  EXPECT_EQ(directory.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(directory.message(), HasSubstr(std::strerror(EISDIR)));
}

// The journal sink hands each record to journald as one JSON line and counts what it accepted.
TEST(JournalAuditLogTest, SendsOneLinePerRecordAndReportsRefusals) {
  std::vector<std::string> sent;
  int result = 0;
  JournalAuditLog log([&](const std::string& line) {
    sent.push_back(line);
    return result;
  });
  ASSERT_TRUE(log.Write({{"seq", 1}, {"name", "a\nb"}}).ok());
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0], R"({"name":"a\nb","seq":1})");

  result = -ENOBUFS;
  absl::Status refused = log.Write(Record(2));
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.message(), HasSubstr("journald"));
  EXPECT_THAT(refused.message(), HasSubstr(std::strerror(ENOBUFS)));
  EXPECT_EQ(log.records_written(), 1u);
  EXPECT_EQ(log.records_failed(), 1u);
}

// Opening the journal sink succeeds only where journald listens, and says so otherwise.
TEST(JournalAuditLogTest, OpenChecksThatJournaldIsReachable) {
  AuditSinkOptions options;
  options.kind = AuditSinkOptions::Kind::kJournal;
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(options);
  if (log.ok()) return;  // journald listens on this machine
  EXPECT_EQ(log.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(log.status().message(), HasSubstr("/run/systemd/journal/socket"));
}

}  // namespace
}  // namespace kcred::audit
