#include "daemon/audit/audit_log.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "daemon/audit/file_audit_log.h"
#include "daemon/audit/journal_audit_log.h"

namespace kcred::audit {

absl::StatusOr<std::string> AuditLine(const nlohmann::json& record) {
  if (!record.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("an audit record must be a JSON object, not ",
                                                   record.type_name(), "; this is a bug"));
  }
  try {
    // ensure_ascii: every byte of the line is printable ASCII, so nothing in a field can end the
    // line or reach a terminal as a control sequence.
    return record.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("an audit record cannot be written as JSON: ", e.what()));
  }
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const AuditSinkOptions& options) {
  if (options.kind == AuditSinkOptions::Kind::kJournal) return JournalAuditLog::Open();
  return FileAuditLog::Open(options);
}

}  // namespace kcred::audit
