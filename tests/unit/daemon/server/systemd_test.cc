#include "daemon/server/systemd.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/support/process.h"
#include "tests/support/simulated_clock.h"

namespace kcred::server {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Sets environment variables for one test and restores the previous values afterwards.
class ScopedEnv {
 public:
  void Set(const std::string& name, const std::optional<std::string>& value) {
    if (saved_.count(name) == 0) {
      const char* old = std::getenv(name.c_str());
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
    }
    if (value) {
      setenv(name.c_str(), value->c_str(), 1);
    } else {
      unsetenv(name.c_str());
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

sockaddr_un UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  return addr;
}

// A datagram socket standing in for systemd's notification socket.
class FakeNotifySocket {
 public:
  explicit FakeNotifySocket(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr = UnixAddress(path);
    bound_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~FakeNotifySocket() {
    if (fd_ >= 0) close(fd_);
  }
  bool bound() const { return bound_; }

  // The next datagram, or nullopt when none arrives within `timeout_ms`.
  std::optional<std::string> Receive(int timeout_ms = 10000) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<size_t>(n));
  }
  // Everything already queued, without waiting.
  std::vector<std::string> Drain() {
    std::vector<std::string> out;
    while (auto m = Receive(0)) out.push_back(*m);
    return out;
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
};

class NotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(socket_.bound()) << std::strerror(errno);
    env_.Set("NOTIFY_SOCKET", socket_path_);
    env_.Set("WATCHDOG_USEC", std::nullopt);
    env_.Set("WATCHDOG_PID", std::nullopt);
  }
  void EnableWatchdog(const std::string& usec) {
    env_.Set("WATCHDOG_USEC", usec);
    env_.Set("WATCHDOG_PID", std::to_string(getpid()));
  }

  kcred::testing::TempDir dir_;
  std::string socket_path_ = dir_.File("notify.sock");
  FakeNotifySocket socket_{socket_path_};
  ScopedEnv env_;
  // The watchdog tests' Notifier waits on this clock; only the test's Advance starts a new round.
  kcred::testing::SimulatedClock clock_;
};

// Ready sends READY=1 with the STATUS= line.
TEST_F(NotifierTest, ReadySendsReadyAndStatus) {
  Notifier notifier;
  EXPECT_TRUE(notifier.enabled());
  ASSERT_TRUE(notifier.Ready("serving 42 accounts on 2 clusters").ok());
  EXPECT_EQ(socket_.Receive(), "READY=1\nSTATUS=serving 42 accounts on 2 clusters");
}

// The serving status counts accounts and clusters, singular for one.
TEST(ServingStatusTextTest, CountsAccountsAndClusters) {
  EXPECT_EQ(ServingStatusText(42, 2), "serving 42 accounts on 2 clusters");
  EXPECT_EQ(ServingStatusText(1, 1), "serving 1 account on 1 cluster");
  EXPECT_EQ(ServingStatusText(0, 0), "serving 0 accounts on 0 clusters");
}

// A multi-line status is sent as one line.
TEST_F(NotifierTest, StatusIsOneLine) {
  Notifier notifier;
  ASSERT_TRUE(notifier.Status("reload refused:\nclusters[0].url is empty").ok());
  EXPECT_EQ(socket_.Receive(), "STATUS=reload refused: clusters[0].url is empty");
}

// Reloading sends RELOADING=1 with MONOTONIC_USEC; ReadyAfterReload sends READY=1 again.
TEST_F(NotifierTest, ReloadSequenceCarriesMonotonicTimestamp) {
  Notifier notifier;
  ASSERT_TRUE(notifier.Reloading().ok());
  std::optional<std::string> reloading = socket_.Receive();
  ASSERT_TRUE(reloading.has_value());
  EXPECT_THAT(*reloading, StartsWith("RELOADING=1\nMONOTONIC_USEC="));
  std::string usec = reloading->substr(std::strlen("RELOADING=1\nMONOTONIC_USEC="));
  ASSERT_FALSE(usec.empty());
  EXPECT_EQ(usec.find_first_not_of("0123456789"), std::string::npos) << usec;
  EXPECT_GT(std::stoull(usec), 0u);

  ASSERT_TRUE(notifier.ReadyAfterReload("serving 3 accounts on 1 cluster").ok());
  EXPECT_EQ(socket_.Receive(), "READY=1\nSTATUS=serving 3 accounts on 1 cluster");
}

// Stopping sends STOPPING=1.
TEST_F(NotifierTest, StoppingSendsStopping) {
  Notifier notifier;
  ASSERT_TRUE(notifier.Stopping().ok());
  EXPECT_EQ(socket_.Receive(), "STOPPING=1");
}

// Without NOTIFY_SOCKET at construction every call is an OK no-op, the watchdog included.
TEST_F(NotifierTest, NoOpWithoutNotifySocket) {
  env_.Set("NOTIFY_SOCKET", std::nullopt);
  EnableWatchdog("20000");
  Notifier notifier;
  EXPECT_FALSE(notifier.enabled());
  EXPECT_FALSE(notifier.watchdog_timeout().has_value());
  // Decided at construction: a NOTIFY_SOCKET appearing later does not turn it on.
  env_.Set("NOTIFY_SOCKET", socket_path_);
  EXPECT_TRUE(notifier.Ready("serving").ok());
  EXPECT_TRUE(notifier.Status("x").ok());
  EXPECT_TRUE(notifier.Reloading().ok());
  EXPECT_TRUE(notifier.Stopping().ok());
  std::atomic<int> checks{0};
  EXPECT_TRUE(notifier.StartWatchdog([&] { return ++checks > 0; }).ok());
  notifier.StopWatchdog();
  EXPECT_EQ(checks.load(), 0);
  EXPECT_THAT(socket_.Drain(), ::testing::IsEmpty());
}

// A NOTIFY_SOCKET nobody listens on is an error that names NOTIFY_SOCKET.
TEST_F(NotifierTest, UnreachableSocketIsAnError) {
  env_.Set("NOTIFY_SOCKET", dir_.File("nobody-listens.sock"));
  Notifier notifier;
  absl::Status s = notifier.Ready("serving");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("NOTIFY_SOCKET"));
}

// Without WATCHDOG_USEC there is no watchdog and StartWatchdog starts nothing.
TEST_F(NotifierTest, NoWatchdogWithoutWatchdogUsec) {
  Notifier notifier;
  EXPECT_FALSE(notifier.watchdog_timeout().has_value());
  std::atomic<int> checks{0};
  ASSERT_TRUE(notifier.StartWatchdog([&] { return ++checks > 0; }).ok());
  notifier.StopWatchdog();
  EXPECT_EQ(checks.load(), 0);
  EXPECT_THAT(socket_.Drain(), ::testing::IsEmpty());
}

// A WATCHDOG_PID naming another process means no watchdog for this one.
TEST_F(NotifierTest, WatchdogForAnotherProcessIsIgnored) {
  env_.Set("WATCHDOG_USEC", "20000");
  env_.Set("WATCHDOG_PID", std::to_string(getpid() + 1));
  Notifier notifier;
  EXPECT_FALSE(notifier.watchdog_timeout().has_value());
}

// While healthy, the watchdog pets at once and then once every half of WATCHDOG_USEC (10ms here),
// never in between; a second StartWatchdog is refused.
TEST_F(NotifierTest, WatchdogPetsWhileHealthy) {
  EnableWatchdog("20000");
  Notifier notifier(clock_);
  ASSERT_EQ(notifier.watchdog_timeout(), absl::Milliseconds(20));
  const absl::Time start = clock_.Now();
  ASSERT_TRUE(notifier.StartWatchdog([] { return true; }).ok());
  EXPECT_FALSE(notifier.StartWatchdog([] { return true; }).ok());
  for (int round = 1; round <= 3; ++round) {
    // Waiting for its next round: this round's datagram, and only it, is queued.
    ASSERT_TRUE(clock_.AwaitBlockedUntil(start + absl::Milliseconds(10) * round)) << round;
    EXPECT_EQ(socket_.Drain(), std::vector<std::string>{"WATCHDOG=1"}) << round;
    clock_.Advance(absl::Milliseconds(10));
  }
  notifier.StopWatchdog();
  notifier.StopWatchdog();  // idempotent
}

// Once the health check fails, the watchdog keeps checking every round but pets no more.
TEST_F(NotifierTest, WatchdogStopsPettingWhenUnhealthy) {
  EnableWatchdog("2000");  // a round every millisecond
  Notifier notifier(clock_);
  std::atomic<int> checks{0};
  const absl::Time start = clock_.Now();
  // Healthy for the first two checks, unhealthy from then on.
  ASSERT_TRUE(notifier.StartWatchdog([&] { return ++checks <= 2; }).ok());
  for (int round = 1; round <= 6; ++round) {
    ASSERT_TRUE(clock_.AwaitBlockedUntil(start + absl::Milliseconds(round))) << round;
    EXPECT_EQ(checks.load(), round);
    if (round < 6) clock_.Advance(absl::Milliseconds(1));
  }
  notifier.StopWatchdog();  // joined: every datagram it sent is queued
  EXPECT_EQ(checks.load(), 6);
  EXPECT_EQ(socket_.Drain(), (std::vector<std::string>{"WATCHDOG=1", "WATCHDOG=1"}));
}

// Stopping ends the watchdog's wait for its next round (30s away) at once, without a last pet.
TEST_F(NotifierTest, WatchdogStopsCleanly) {
  EnableWatchdog("60000000");
  Notifier notifier(clock_);
  ASSERT_TRUE(notifier.StartWatchdog([] { return true; }).ok());
  EXPECT_EQ(socket_.Receive(), "WATCHDOG=1");
  ASSERT_TRUE(clock_.AwaitBlocked(1));
  notifier.StopWatchdog();
  EXPECT_THAT(socket_.Drain(), ::testing::IsEmpty());
  EXPECT_EQ(clock_.Now(), clock_.kDefaultStart) << "no time had to pass";
}

// Socket activation reads (and clears) LISTEN_* and uses fd 3, so each case runs in a child
// process that arranges its own fds; the child reports what it saw through a pipe.
std::string InChild(const std::function<std::string()>& body) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(pipe_fds[0]);
    std::string result = body();
    (void)!write(pipe_fds[1], result.data(), result.size());
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(pipe_fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "child crashed";
  return out;
}

// In the child: puts `fds` at 3, 4, ... and sets LISTEN_FDS/LISTEN_PID as systemd does.
void PassFds(const std::vector<int>& fds, pid_t listen_pid) {
  std::vector<int> copies;
  for (int fd : fds) copies.push_back(fcntl(fd, F_DUPFD_CLOEXEC, 100));
  for (size_t i = 0; i < copies.size(); ++i) dup2(copies[i], 3 + static_cast<int>(i));
  setenv("LISTEN_FDS", std::to_string(fds.size()).c_str(), 1);
  setenv("LISTEN_PID", std::to_string(listen_pid).c_str(), 1);
}

std::string Describe(const absl::StatusOr<std::optional<int>>& r) {
  if (!r.ok()) return absl::StrCat("error: ", r.status().message());
  if (!r->has_value()) return "not activated";
  const bool nonblocking = (fcntl(**r, F_GETFL) & O_NONBLOCK) != 0;
  const bool cloexec = (fcntl(**r, F_GETFD) & FD_CLOEXEC) != 0;
  return absl::StrCat("fd ", **r, nonblocking ? " nonblocking" : "", cloexec ? " cloexec" : "",
                      std::getenv("LISTEN_FDS") ? " env-kept" : "");
}

int ListeningUnixSocket(const std::string& path, int type = SOCK_STREAM) {
  int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  sockaddr_un addr = UnixAddress(path);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
  if (type == SOCK_STREAM && listen(fd, 8) != 0) return -1;
  return fd;
}

// Without LISTEN_FDS kcredd was not socket-activated.
TEST(TakeActivatedUnixSocketTest, NotActivated) {
  std::string seen = InChild([] {
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_PID");
    return Describe(TakeActivatedUnixSocket());
  });
  EXPECT_EQ(seen, "not activated");
}

// One listening unix stream socket is taken as fd 3, non-blocking and close-on-exec, once.
TEST(TakeActivatedUnixSocketTest, TakesOneListeningUnixStreamSocket) {
  kcred::testing::TempDir dir;
  int fd = ListeningUnixSocket(dir.File("kcredd.sock"));
  ASSERT_GE(fd, 0) << std::strerror(errno);
  std::string seen = InChild([&] {
    PassFds({fd}, getpid());
    auto first = Describe(TakeActivatedUnixSocket());
    // The environment is consumed: a second call (or a child process) sees no activation.
    auto second = Describe(TakeActivatedUnixSocket());
    return absl::StrCat(first, "; ", second);
  });
  close(fd);
  EXPECT_EQ(seen, "fd 3 nonblocking cloexec; not activated");
}

// Sockets passed to another pid (LISTEN_PID) are not taken.
TEST(TakeActivatedUnixSocketTest, SocketsForAnotherProcessAreNotTaken) {
  kcred::testing::TempDir dir;
  int fd = ListeningUnixSocket(dir.File("kcredd.sock"));
  ASSERT_GE(fd, 0) << std::strerror(errno);
  std::string seen = InChild([&] {
    PassFds({fd}, getpid() + 1);
    return Describe(TakeActivatedUnixSocket());
  });
  close(fd);
  EXPECT_EQ(seen, "not activated");
}

// Several sockets are refused, saying how to fix the unit.
TEST(TakeActivatedUnixSocketTest, RefusesSeveralSockets) {
  kcred::testing::TempDir dir;
  int a = ListeningUnixSocket(dir.File("a.sock"));
  int b = ListeningUnixSocket(dir.File("b.sock"));
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  std::string seen = InChild([&] {
    PassFds({a, b}, getpid());
    return Describe(TakeActivatedUnixSocket());
  });
  close(a);
  close(b);
  EXPECT_THAT(seen, StartsWith("error: systemd passed 2 sockets"));
  EXPECT_THAT(seen, HasSubstr("single ListenStream="));
}

// A datagram socket is refused, naming what was passed and what is needed.
TEST(TakeActivatedUnixSocketTest, RefusesDatagramSocket) {
  kcred::testing::TempDir dir;
  int fd = ListeningUnixSocket(dir.File("dgram.sock"), SOCK_DGRAM);
  ASSERT_GE(fd, 0);
  std::string seen = InChild([&] {
    PassFds({fd}, getpid());
    return Describe(TakeActivatedUnixSocket());
  });
  close(fd);
  EXPECT_THAT(seen, HasSubstr("error: systemd passed a unix datagram socket"));
  EXPECT_THAT(seen, HasSubstr("listening unix stream socket"));
}

// A TCP socket is refused, naming it.
TEST(TakeActivatedUnixSocketTest, RefusesTcpSocket) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 8), 0);
  std::string seen = InChild([&] {
    PassFds({fd}, getpid());
    return Describe(TakeActivatedUnixSocket());
  });
  close(fd);
  EXPECT_THAT(seen, HasSubstr("error: systemd passed a IPv4 stream socket"));
}

// A unix stream socket that does not listen is refused.
TEST(TakeActivatedUnixSocketTest, RefusesUnboundUnixSocketThatDoesNotListen) {
  kcred::testing::TempDir dir;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = UnixAddress(dir.File("bound-only.sock"));
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string seen = InChild([&] {
    PassFds({fd}, getpid());
    return Describe(TakeActivatedUnixSocket());
  });
  close(fd);
  EXPECT_THAT(seen, HasSubstr("error: systemd passed a unix stream socket"));
}

}  // namespace
}  // namespace kcred::server
