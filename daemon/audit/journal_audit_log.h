#pragma once
// The journal audit sink: one journal entry a record, MESSAGE=<the JSON line> with
// SYSLOG_IDENTIFIER=kcredd-audit, PRIORITY=6 and KCRED_AUDIT=1 (`journalctl KCRED_AUDIT=1`).
//
// Write returns once journald accepted the entry. journald then stores it on its own schedule
// and applies its rate limit to kcredd's entries like to any other (LogRateLimitIntervalSec= and
// LogRateLimitBurst= in kcredd's unit); where every record must be on disk before the answer,
// use the file sink.

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "daemon/audit/audit_log.h"

namespace kcred::audit {

// Hands one audit line to journald; 0 or a negative errno, as sd_journal_sendv returns.
using JournalSender = std::function<int(const std::string& line)>;

class JournalAuditLog final : public AuditLog {
 public:
  // Checks that journald's socket accepts a connection; FailedPrecondition otherwise.
  static absl::StatusOr<std::unique_ptr<JournalAuditLog>> Open();

  // Sends through `send`: sd_journal_sendv for Open, a fake in tests.
  explicit JournalAuditLog(JournalSender send) : send_(std::move(send)) {}

  absl::Status Write(const nlohmann::json& record) override;
  uint64_t records_written() const override { return written_.load(); }
  uint64_t records_failed() const override { return failed_.load(); }

 private:
  const JournalSender send_;
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> failed_{0};
};

}  // namespace kcred::audit
