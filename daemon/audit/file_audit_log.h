#pragma once
// The file audit sink: JSON lines appended to one file, fsync'd before Write returns, rotated by
// size (AuditSinkOptions).
//
// Each batch opens the path anew (O_APPEND, creating it 0600 when missing), writes, fsyncs and
// closes it. So an operator's own rotation (a rename) or a permission change takes effect at the
// next record, and a sink that stopped being writable fails that record rather than a later one.
// Concurrent writers share the cost (group commit): the first to find no batch in flight writes
// every record queued so far with one write and one fsync, and the others wait for its result.
// One FileAuditLog per path: two of them would rotate the file under each other.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "daemon/audit/audit_log.h"

namespace kcred::audit {

class FileAuditLog final : public AuditLog {
 public:
  // Validates `options` (kind kFile), creates missing parent directories (0700) and the file
  // (0600), and checks that it opens for appending. Errors as AuditLog::Open.
  static absl::StatusOr<std::unique_ptr<FileAuditLog>> Open(const AuditSinkOptions& options);

  absl::Status Write(const nlohmann::json& record) override;
  uint64_t records_written() const override { return written_.load(); }
  uint64_t records_failed() const override { return failed_.load(); }

 private:
  // Records that go to the file with one write and one fsync.
  struct Batch {
    std::vector<std::string> lines;  // each ends with "\n"
    bool done = false;               // set, with status, by the writer of the batch
    absl::Status status;
  };

  explicit FileAuditLog(AuditSinkOptions options) : options_(std::move(options)) {}

  // Appends `lines` to the file and fsyncs it, rotating first where a line would take the file
  // past max_bytes. Called by one thread at a time (the writer of the current batch). On an
  // error the records before it may be in the file already; every call of the batch still fails
  // (a refused call may then appear in the log, an answered one never lacks its record).
  absl::Status WriteBatch(const std::vector<std::string>& lines);
  // Shifts path.(N-1) -> path.N, ..., path -> path.1 and makes the renames durable.
  absl::Status Rotate();

  const AuditSinkOptions options_;
  absl::Mutex mu_;
  // The batch collecting records; taken (reset) by the thread that writes it.
  std::shared_ptr<Batch> queued_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;  // a batch is being written
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> failed_{0};
};

}  // namespace kcred::audit
