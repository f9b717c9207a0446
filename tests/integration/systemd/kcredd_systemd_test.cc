// kcredd as systemd starts it: the test plays the service manager. It binds the socket
// (kcredd.socket), passes it as fd 3 with LISTEN_FDS/LISTEN_PID, listens on NOTIFY_SOCKET, asks
// for a watchdog, and checks READY/STATUS/WATCHDOG/STOPPING and that `kcred health` works over the
// passed socket, which kcredd must leave in place when it stops.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/support/notify_listener.h"
#include "tests/support/process.h"

extern char** environ;

namespace kcred {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

sockaddr_un UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  return addr;
}

int BindUnix(const std::string& path, int type) {
  int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  sockaddr_un addr = UnixAddress(path);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
  if (type == SOCK_STREAM && (chmod(path.c_str(), 0660) != 0 || listen(fd, 64) != 0)) return -1;
  return fd;
}

// kcredd started as systemd starts a service: `fd` becomes fd 3, LISTEN_PID and WATCHDOG_PID
// name kcredd's own pid (set by a shell that then execs kcredd, so nothing unsafe runs between
// fork and exec). Killed with its process group when destroyed.
class ActivatedKcredd {
 public:
  ActivatedKcredd(int fd, const std::vector<std::string>& args,
                  const std::vector<std::string>& extra_env, const std::string& log) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      if (!absl::StartsWith(*e, "LISTEN_") && !absl::StartsWith(*e, "NOTIFY_SOCKET=") &&
          !absl::StartsWith(*e, "WATCHDOG_")) {
        env.push_back(*e);
      }
    }
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    std::vector<std::string> argv = {"/bin/sh", "-c",
                                     "LISTEN_PID=$$ WATCHDOG_PID=$$ exec \"$0\" \"$@\"",
                                     testing::BinaryPath("kcredd")};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> c_argv, c_env;
    for (auto& a : argv) c_argv.push_back(a.data());
    c_argv.push_back(nullptr);
    for (auto& e : env) c_env.push_back(e.data());
    c_env.push_back(nullptr);
    const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);
      dup2(log_fd, 1);
      dup2(log_fd, 2);
      if (fd != 3) dup2(fd, 3);  // dup2 clears close-on-exec on the new fd
      if (fd == 3) fcntl(3, F_SETFD, 0);
      execve(c_argv[0], c_argv.data(), c_env.data());
      _exit(127);
    }
    close(log_fd);
  }
  ~ActivatedKcredd() {
    if (pid_ > 0 && exit_code_ < 0) {
      kill(-pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool started() const { return pid_ > 0; }
  void Signal(int sig) { kill(pid_, sig); }
  // The exit code (128+N for signal N), waiting up to `timeout`; -1 on timeout.
  int Wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (exit_code_ < 0) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) return -1;
      // Polls the child's exit; the child, not the clock, decides when this ends.
      poll(nullptr, 0, 20);
    }
    return exit_code_;
  }

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

class KcreddSystemdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(notify_.ok()) << std::strerror(errno);
    // A config of its own, so the test never reads /etc/kcred or binds /run/kcred.
    ASSERT_TRUE(testing::WriteFile(
                    config_,
                    absl::StrCat("listen:\n  unix:\n    path: ", dir_.File("configured.sock"),
                                 "\nstate_dir: ", dir_.File("state"), "\n"),
                    0600)
                    .ok());
  }
  // The next notification from kcredd, or nullopt after `timeout`.
  std::optional<std::string> Notification(std::chrono::milliseconds timeout) {
    return notify_.Next(timeout);
  }
  // Waits for a notification that starts with `prefix`, skipping others (e.g. WATCHDOG=1).
  std::optional<std::string> NotificationStartingWith(const std::string& prefix) {
    return notify_.NextStartingWith(prefix, std::chrono::seconds(20));
  }
  std::vector<std::string> Env(const std::string& watchdog_usec = "400000") {
    return {"LISTEN_FDS=1", "NOTIFY_SOCKET=" + notify_.path(), "WATCHDOG_USEC=" + watchdog_usec};
  }
  std::string Log() { return testing::ReadFile(log_).value_or(""); }

  testing::TempDir dir_;
  testing::NotifyListener notify_{dir_.File("notify.sock")};
  std::string config_ = dir_.File("kcredd.yaml");
  std::string log_ = dir_.File("kcredd.log");
};

// kcredd serves a passed socket instead of listen.unix, sends READY, WATCHDOG, RELOADING and
// STOPPING, and on exit leaves that socket, which systemd owns, in place.
TEST_F(KcreddSystemdTest, ServesThePassedSocketAndTalksToTheServiceManager) {
  const std::string socket = dir_.File("kcredd.sock");
  int fd = BindUnix(socket, SOCK_STREAM);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  const std::string ready_file = dir_.File("ready.json");
  ActivatedKcredd kcredd(fd, {"--config", config_, "--ready-file", ready_file}, Env(), log_);
  close(fd);  // kcredd holds the only copy now, as it would after systemd passed it
  ASSERT_TRUE(kcredd.started());

  auto ready = NotificationStartingWith("READY=1");
  ASSERT_TRUE(ready.has_value()) << "no READY=1; log:\n" << Log();
  EXPECT_THAT(*ready, HasSubstr("STATUS=serving 0 accounts on 0 clusters"));

  auto addresses = testing::WaitForFile(ready_file, std::chrono::seconds(10));
  ASSERT_TRUE(addresses.ok()) << Log();
  EXPECT_EQ(nlohmann::json::parse(*addresses)["unix"], "unix:" + socket);

  testing::RunResult health =
      testing::Run({testing::BinaryPath("kcred"), "health", "--server", "unix:" + socket},
                   {{"KCRED_SERVER", ""}}, std::chrono::seconds(30));
  EXPECT_EQ(health.exit_code, 0) << health.err << "\nlog:\n" << Log();
  EXPECT_EQ(health.out, "SERVING\n");
  EXPECT_NE(access(dir_.File("configured.sock").c_str(), F_OK), 0)
      << "kcredd bound listen.unix although systemd passed a socket";

  // WatchdogSec=400ms: kcredd pets every 200ms while its health check passes.
  EXPECT_EQ(NotificationStartingWith("WATCHDOG=1"), "WATCHDOG=1") << Log();

  // systemctl reload: RELOADING=1 (with MONOTONIC_USEC for systemd 253+), then READY=1 again.
  kcredd.Signal(SIGHUP);
  auto reloading = NotificationStartingWith("RELOADING=1");
  ASSERT_TRUE(reloading.has_value()) << Log();
  EXPECT_THAT(*reloading, HasSubstr("\nMONOTONIC_USEC="));
  auto reloaded = NotificationStartingWith("READY=1");
  ASSERT_TRUE(reloaded.has_value()) << Log();
  EXPECT_THAT(*reloaded, HasSubstr("STATUS=serving 0 accounts on 0 clusters"));

  kcredd.Signal(SIGTERM);
  EXPECT_EQ(NotificationStartingWith("STOPPING=1"), "STOPPING=1") << Log();
  EXPECT_EQ(kcredd.Wait(std::chrono::seconds(20)), 0) << Log();
  struct stat st {};
  ASSERT_EQ(lstat(socket.c_str(), &st), 0) << "kcredd removed the socket systemd owns";
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_THAT(Log(), HasSubstr("socket passed by systemd"));
}

// A passed datagram socket is refused: kcredd exits 1 asking for a stream socket, and binds none.
TEST_F(KcreddSystemdTest, RefusesAPassedSocketOfTheWrongKind) {
  int fd = BindUnix(dir_.File("dgram.sock"), SOCK_DGRAM);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ActivatedKcredd kcredd(fd, {"--config", config_}, Env(), log_);
  close(fd);
  ASSERT_TRUE(kcredd.started());
  EXPECT_EQ(kcredd.Wait(std::chrono::seconds(20)), 1) << Log();
  EXPECT_THAT(Log(), HasSubstr("listening unix stream socket"));
  EXPECT_NE(access(dir_.File("configured.sock").c_str(), F_OK), 0);
}

// Works with or without the systemd wiring: outside systemd nothing changes.
TEST_F(KcreddSystemdTest, WithoutSystemdKcreddBindsItsOwnSocket) {
  const std::string socket = dir_.File("configured.sock");
  const std::string ready_file = dir_.File("ready.json");
  testing::ProcessOptions options;
  options.argv = {testing::BinaryPath("kcredd"), "--config", config_, "--ready-file", ready_file};
  options.env = {{"NOTIFY_SOCKET", ""}};  // kcredd treats an empty one as unset
  options.stdout_file = log_;
  auto process = testing::Process::Start(options);
  ASSERT_TRUE(process.ok()) << process.status();
  ASSERT_TRUE(testing::WaitForFile(ready_file, std::chrono::seconds(20)).ok()) << Log();
  testing::RunResult health =
      testing::Run({testing::BinaryPath("kcred"), "health", "--server", "unix:" + socket},
                   {{"KCRED_SERVER", ""}}, std::chrono::seconds(30));
  EXPECT_EQ(health.exit_code, 0) << health.err;
  EXPECT_EQ((*process)->Stop(), 0) << Log();
  EXPECT_NE(access(socket.c_str(), F_OK), 0) << "kcredd left its own socket behind";
  EXPECT_EQ(Notification(std::chrono::milliseconds(0)), std::nullopt)
      << "notified without NOTIFY_SOCKET";
}

}  // namespace
}  // namespace kcred
