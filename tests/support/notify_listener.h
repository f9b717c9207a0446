#pragma once
// The service manager's side of sd_notify for tests: a unix datagram socket to pass to a child as
// NOTIFY_SOCKET, and reads of the messages it sends ("READY=1\nSTATUS=...", "WATCHDOG=1", ...).

#include <chrono>
#include <optional>
#include <string>

namespace kcred::testing {

class NotifyListener {
 public:
  // Binds `path`; ok() says whether that worked.
  explicit NotifyListener(std::string path);
  ~NotifyListener();
  NotifyListener(const NotifyListener&) = delete;
  NotifyListener& operator=(const NotifyListener&) = delete;

  bool ok() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

  // The next message, or nullopt after `timeout`.
  std::optional<std::string> Next(std::chrono::milliseconds timeout);
  // The next message starting with `prefix` (others, e.g. WATCHDOG=1, are skipped), or nullopt
  // when none came within `timeout`.
  std::optional<std::string> NextStartingWith(const std::string& prefix,
                                              std::chrono::milliseconds timeout);

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace kcred::testing
