#include "daemon/server/systemd.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/logging.h"

namespace kcred::server {
namespace {

// What a socket is, for error messages.
std::string DescribeFd(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return "not a socket";
  sockaddr_storage addr{};
  socklen_t addr_len = sizeof addr;
  const char* family = "unknown family";
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) == 0) {
    family = addr.ss_family == AF_UNIX    ? "unix"
             : addr.ss_family == AF_INET  ? "IPv4"
             : addr.ss_family == AF_INET6 ? "IPv6"
                                          : "non-unix";
  }
  const char* kind = type == SOCK_STREAM      ? "stream"
                     : type == SOCK_DGRAM     ? "datagram"
                     : type == SOCK_SEQPACKET ? "seqpacket"
                                              : "other";
  return absl::StrCat("a ", family, " ", kind, " socket");
}

// STATUS= is one line of the protocol; a newline in the text would start a new assignment.
std::string OneLine(absl::string_view text) {
  return absl::StrReplaceAll(text, {{"\n", " "}, {"\r", " "}});
}

// systemd compares MONOTONIC_USEC with its own CLOCK_MONOTONIC: a field of the protocol, not a time
// kcred acts on, so it is read here and not through Clock.
uint64_t MonotonicMicros() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

std::string ServingStatusText(size_t accounts, size_t clusters) {
  return absl::StrCat("serving ", accounts, accounts == 1 ? " account" : " accounts", " on ",
                      clusters, clusters == 1 ? " cluster" : " clusters");
}

absl::StatusOr<std::optional<int>> TakeActivatedUnixSocket() {
  int n = sd_listen_fds(/*unset_environment=*/1);
  if (n < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read the sockets systemd passed (LISTEN_FDS): ", std::strerror(-n),
                     "; check the kcredd.socket unit"));
  }
  if (n == 0) return std::nullopt;
  if (n != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("systemd passed ", n,
                     " sockets; kcredd serves exactly one unix socket: give kcredd.socket a "
                     "single ListenStream= with a path"));
  }
  const int fd = SD_LISTEN_FDS_START;
  int is_unix = sd_is_socket_unix(fd, SOCK_STREAM, /*listening=*/1, nullptr, 0);
  if (is_unix < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot inspect the socket systemd passed (fd ", fd, "): ", std::strerror(-is_unix)));
  }
  if (is_unix == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "systemd passed ", DescribeFd(fd),
        " (fd 3), but kcredd needs a listening unix stream socket: use ListenStream=/path in "
        "kcredd.socket"));
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
      fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot set up the socket systemd passed (fd 3): ", std::strerror(errno)));
  }
  return fd;
}

Notifier::Notifier(Clock& clock) : clock_(clock) { ReadEnvironment(); }

Notifier::Notifier() : owned_clock_(std::make_unique<RealClock>()), clock_(*owned_clock_) {
  ReadEnvironment();
}

void Notifier::ReadEnvironment() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && socket[0] != '\0';
  uint64_t usec = 0;
  if (enabled_ && sd_watchdog_enabled(/*unset_environment=*/0, &usec) > 0 && usec > 0) {
    watchdog_timeout_ = absl::Microseconds(static_cast<int64_t>(usec));
  }
}

Notifier::~Notifier() { StopWatchdog(); }

absl::Status Notifier::Send(const std::string& message) {
  if (!enabled_) return absl::OkStatus();
  int rc = sd_notify(/*unset_environment=*/0, message.c_str());
  if (rc < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot notify systemd (NOTIFY_SOCKET): ", std::strerror(-rc)));
  }
  return absl::OkStatus();
}

absl::Status Notifier::Ready(absl::string_view status) {
  return Send(absl::StrCat("READY=1\nSTATUS=", OneLine(status)));
}

absl::Status Notifier::Status(absl::string_view text) {
  return Send(absl::StrCat("STATUS=", OneLine(text)));
}

absl::Status Notifier::Reloading() {
  return Send(absl::StrCat("RELOADING=1\nMONOTONIC_USEC=", MonotonicMicros()));
}

absl::Status Notifier::ReadyAfterReload(absl::string_view status) { return Ready(status); }

absl::Status Notifier::Stopping() { return Send("STOPPING=1"); }

absl::Status Notifier::StartWatchdog(std::function<bool()> healthy) {
  if (!watchdog_timeout_) return absl::OkStatus();
  if (watchdog_thread_.joinable()) {
    return absl::FailedPreconditionError("the systemd watchdog thread is already running");
  }
  {
    absl::MutexLock lock(&mu_);
    stop_watchdog_ = false;
  }
  absl::Duration interval = *watchdog_timeout_ / 2;
  Logger("systemd")->debug("petting the systemd watchdog every {}", absl::FormatDuration(interval));
  watchdog_thread_ = std::thread(
      [this, healthy = std::move(healthy), interval] { WatchdogLoop(healthy, interval); });
  return absl::OkStatus();
}

void Notifier::StopWatchdog() {
  {
    absl::MutexLock lock(&mu_);
    stop_watchdog_ = true;
  }
  if (watchdog_thread_.joinable()) watchdog_thread_.join();
}

void Notifier::WatchdogLoop(std::function<bool()> healthy, absl::Duration interval) {
  auto log = Logger("systemd");
  bool was_healthy = true;
  for (;;) {
    const bool ok = healthy();
    if (ok) {
      if (auto s = Send("WATCHDOG=1"); !s.ok()) log->warn("{}", s.message());
      if (!was_healthy) log->info("healthy again: petting the systemd watchdog");
    } else if (was_healthy) {
      log->error(
          "health check failed: no longer petting the systemd watchdog; systemd restarts kcredd "
          "unless it recovers");
    }
    was_healthy = ok;
    absl::MutexLock lock(&mu_);
    if (clock_.WaitUntil(&mu_, absl::Condition(&stop_watchdog_), clock_.Now() + interval)) return;
  }
}

}  // namespace kcred::server
