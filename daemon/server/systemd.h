#pragma once
// kcredd under systemd: socket activation (sd_listen_fds) and the sd_notify protocol (READY,
// STATUS, RELOADING, STOPPING, WATCHDOG). Everything here is inert when kcredd does not run under
// systemd, so the same binary serves a terminal, a container and a unit.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace kcred::server {

// Takes the listening socket systemd passed (kcredd.socket). Returns the fd (close-on-exec,
// non-blocking) when systemd passed exactly one listening unix stream socket; nullopt when kcredd
// was not socket-activated; FailedPrecondition naming the problem when it passed something else
// (several fds, a datagram or TCP socket). Clears LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES either way,
// so it answers only once per process.
absl::StatusOr<std::optional<int>> TakeActivatedUnixSocket();

// The STATUS= line while serving: "serving 42 accounts on 2 clusters" (singular for 1).
std::string ServingStatusText(size_t accounts, size_t clusters);

// Reports kcredd's state to the service manager over $NOTIFY_SOCKET. Every call is a no-op (and
// OK) when $NOTIFY_SOCKET was unset at construction. Thread-safe.
class Notifier {
 public:
  // Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID from the environment. The watchdog
  // paces itself on `clock`, which must outlive the Notifier.
  explicit Notifier(Clock& clock);
  // The same on a RealClock of its own.
  Notifier();
  // Stops the watchdog thread.
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // True when a service manager listens ($NOTIFY_SOCKET set).
  bool enabled() const { return enabled_; }
  // The watchdog timeout systemd asked for (WatchdogSec=), or nullopt when there is none.
  std::optional<absl::Duration> watchdog_timeout() const { return watchdog_timeout_; }

  // READY=1 with a STATUS= line: start-up finished, kcredd serves.
  absl::Status Ready(absl::string_view status);
  // STATUS= only, e.g. "serving 42 accounts on 2 clusters" or why a reload was refused.
  absl::Status Status(absl::string_view text);
  // RELOADING=1 with MONOTONIC_USEC= (what systemd 253+ expects from Type=notify-reload; older
  // versions ignore the extra field).
  absl::Status Reloading();
  // READY=1 with a STATUS= line once a reload finished (applied or refused).
  absl::Status ReadyAfterReload(absl::string_view status);
  // STOPPING=1: kcredd drains and exits.
  absl::Status Stopping();

  // Starts a thread that sends WATCHDOG=1 every half of watchdog_timeout(), but only while
  // `healthy` returns true; a process that stops being healthy stops petting the watchdog and
  // systemd restarts it. No thread (and OK) without a watchdog. FailedPrecondition when already
  // started. `healthy` is called from the watchdog thread.
  absl::Status StartWatchdog(std::function<bool()> healthy);
  // Stops and joins the watchdog thread. Idempotent.
  void StopWatchdog();

 private:
  void ReadEnvironment();
  absl::Status Send(const std::string& message);
  void WatchdogLoop(std::function<bool()> healthy, absl::Duration interval);

  std::unique_ptr<Clock> owned_clock_;  // set by Notifier() only
  Clock& clock_;
  bool enabled_ = false;
  std::optional<absl::Duration> watchdog_timeout_;
  absl::Mutex mu_;
  bool stop_watchdog_ ABSL_GUARDED_BY(mu_) = false;
  std::thread watchdog_thread_;
};

}  // namespace kcred::server
