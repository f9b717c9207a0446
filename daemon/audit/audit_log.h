#pragma once
// kcredd's audit trail: one record per RPC, written to a sink of its own whatever the log level,
// and durable before the RPC answers. A secret-returning RPC whose record cannot be written is
// refused (as Vault does), so AuditLog::Write reports every failure instead of dropping records.
//
// The caller builds each record as a JSON object; the sink writes it as one line of JSON (see
// AuditLine), so caller-supplied text in a field cannot start a forged record.
//
// Implementations: file_audit_log.h (JSON lines, fsync'd, rotated by size) and
// journal_audit_log.h (one journal entry a record).

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kcred::audit {

struct AuditSinkOptions {
  enum class Kind {
    kFile,     // JSON lines appended to `path`
    kJournal,  // one journal entry a record (SYSLOG_IDENTIFIER=kcredd-audit, KCRED_AUDIT=1)
  };
  Kind kind = Kind::kFile;
  // kFile: the file. Missing parent directories are created with mode 0700, the file with 0600.
  std::string path;
  // kFile: before a write that would grow the file past this size the file is rotated: path.1
  // becomes path.2 and so on, path becomes path.1, a new path is started. 0: never rotate (leave
  // it to logrotate or similar). A record larger than this is still written, alone in its file.
  int64_t max_bytes = int64_t{100} << 20;
  // kFile: how many rotated files are kept (path.1, newest, to path.N); the oldest is dropped.
  int max_files = 10;
};

// An audit sink. Implementations are thread-safe.
class AuditLog {
 public:
  virtual ~AuditLog() = default;

  // Opens the sink `options` describes and checks that it can be written: a file sink creates
  // missing parent directories and the file and opens it for appending; a journal sink connects
  // to journald's socket. InvalidArgument for bad options, FailedPrecondition when the sink cannot
  // be written; messages name the path and what to fix.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const AuditSinkOptions& options);

  // Writes `record` (a JSON object) as one line and returns once the sink has it: a file sink
  // once the line is written and fsync'd, a journal sink once journald accepted the entry.
  // InvalidArgument when `record` is not an object; Unavailable, naming the sink and the system's
  // reason, when it cannot be written.
  virtual absl::Status Write(const nlohmann::json& record) = 0;

  // Records written, and records whose Write failed, since Open. For metrics.
  virtual uint64_t records_written() const = 0;
  virtual uint64_t records_failed() const = 0;
};

using AuditLogPtr = std::unique_ptr<AuditLog>;

// `record` as one line of JSON without the newline, in printable ASCII only: control characters,
// DEL and non-ASCII characters are written as \uXXXX escapes, and invalid UTF-8 is replaced by
// U+FFFD. InvalidArgument when `record` is not an object.
absl::StatusOr<std::string> AuditLine(const nlohmann::json& record);

}  // namespace kcred::audit
