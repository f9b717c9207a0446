#include "daemon/audit/journal_audit_log.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace kcred::audit {
namespace {

// Where sd_journal_send delivers entries.
constexpr char kJournalSocket[] = "/run/systemd/journal/socket";

int SendToJournal(const std::string& line) {
  const std::string message = absl::StrCat("MESSAGE=", line);
  static constexpr absl::string_view kFields[] = {"SYSLOG_IDENTIFIER=kcredd-audit", "PRIORITY=6",
                                                  "KCRED_AUDIT=1"};
  struct iovec fields[4];
  fields[0] = {const_cast<char*>(message.data()), message.size()};
  for (int i = 0; i < 3; ++i) {
    fields[i + 1] = {const_cast<char*>(kFields[i].data()), kFields[i].size()};
  }
  return sd_journal_sendv(fields, 4);
}

// 0 when journald's socket accepts a connection, else the errno. A datagram socket's connect
// checks that the socket exists and that we may send to it, without sending anything.
int ProbeJournal() {
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, kJournalSocket, sizeof(address.sun_path) - 1);
  const int err =
      ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace

absl::StatusOr<std::unique_ptr<JournalAuditLog>> JournalAuditLog::Open() {
  if (const int err = ProbeJournal(); err != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "audit journal: cannot reach journald at ", kJournalSocket, ": ", std::strerror(err),
        "; run kcredd under systemd, or write the audit log to a file"));
  }
  return std::make_unique<JournalAuditLog>(SendToJournal);
}

absl::Status JournalAuditLog::Write(const nlohmann::json& record) {
  absl::StatusOr<std::string> line = AuditLine(record);
  if (!line.ok()) {
    failed_.fetch_add(1);
    return line.status();
  }
  if (const int r = send_(*line); r < 0) {
    failed_.fetch_add(1);
    return absl::UnavailableError(
        absl::StrCat("audit journal: journald did not take a record: ", std::strerror(-r),
                     "; check that systemd-journald runs (systemctl status systemd-journald)"));
  }
  written_.fetch_add(1);
  return absl::OkStatus();
}

}  // namespace kcred::audit
