#include "tests/support/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#ifndef KCRED_TEST_BIN_DIR
#define KCRED_TEST_BIN_DIR ""
#endif

extern char** environ;

namespace kcred::testing {
namespace {

std::vector<std::string> MergedEnv(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : extra) merged[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : merged) out.push_back(k + "=" + v);
  return out;
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Forks and execs; the child gets its own process group. stdin is a pipe fed with stdin_data.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv,
                            const std::map<std::string, std::string>& env, const std::string& out,
                            const std::string& err, const std::string& stdin_data) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  std::vector<std::string> env_strings = MergedEnv(env);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& s : args) argp.push_back(s.data());
  argp.push_back(nullptr);

  int in_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  const std::string out_path = out.empty() ? "/dev/null" : out;
  const std::string err_path = err.empty() ? out_path : err;

  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork failed: ", std::strerror(errno)));
  if (pid == 0) {
    setpgid(0, 0);
    dup2(in_pipe[0], 0);
    int o = open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (o >= 0) dup2(o, 1);
    int e = err_path == out_path ? o : open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (e >= 0) dup2(e, 2);
    execve(argp[0], argp.data(), envp.data());
    dprintf(2, "exec %s failed: %s\n", argp[0], std::strerror(errno));
    _exit(127);
  }
  setpgid(pid, pid);
  close(in_pipe[0]);
  if (!stdin_data.empty()) {
    // Bounded input sizes only (tests); a full pipe would block, so write in a thread.
    std::string data = stdin_data;
    int fd = in_pipe[1];
    std::thread([fd, data]() {
      size_t off = 0;
      while (off < data.size()) {
        ssize_t n = write(fd, data.data() + off, data.size() - off);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      close(fd);
    }).detach();
  } else {
    close(in_pipe[1]);
  }
  return pid;
}

}  // namespace

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "kcred-test-XXXXXX").string();
  char* made = mkdtemp(tmpl.data());
  path_ = made != nullptr ? std::string(made) : std::string();
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

absl::StatusOr<std::unique_ptr<Process>> Process::Start(const ProcessOptions& options) {
  auto pid = Spawn(options.argv, options.env, options.stdout_file, options.stderr_file,
                   options.stdin_data);
  if (!pid.ok()) return pid.status();
  return std::unique_ptr<Process>(new Process(*pid));
}

Process::~Process() {
  if (pid_ > 0 && exit_code_ < 0) {
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  } else if (pid_ > 0) {
    kill(-pid_, SIGKILL);  // anything the process left in its group
  }
}

bool Process::Running() {
  if (exit_code_ >= 0) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = DecodeWaitStatus(status);
    return false;
  }
  return true;
}

void Process::Signal(int signal) {
  if (Running()) kill(pid_, signal);
}

absl::StatusOr<int> Process::Wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Running()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("process ", pid_, " still running"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_code_;
}

int Process::Stop(std::chrono::milliseconds timeout) {
  Signal(SIGTERM);
  auto code = Wait(timeout);
  if (code.ok()) return *code;
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
  code = Wait(std::chrono::seconds(5));
  return code.ok() ? *code : -1;
}

RunResult Run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
              std::chrono::milliseconds timeout, const std::string& stdin_data) {
  RunResult result;
  TempDir dir;
  const std::string out = dir.File("stdout"), err = dir.File("stderr");
  auto pid = Spawn(argv, env, out, err, stdin_data);
  if (!pid.ok()) {
    result.err = std::string(pid.status().message());
    return result;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(*pid, &status, WNOHANG);
    if (r == *pid) {
      result.exit_code = DecodeWaitStatus(status);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(-*pid, SIGKILL);
      waitpid(*pid, &status, 0);
      result.exit_code = DecodeWaitStatus(status);
      result.err = "timed out; ";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(-*pid, SIGKILL);
  result.out = ReadFile(out).value_or("");
  result.err += ReadFile(err).value_or("");
  return result;
}

absl::StatusOr<std::string> WaitForFile(const std::string& path,
                                        std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto data = ReadFile(path);
    if (data.ok() && !data->empty()) return data;
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(path, " did not appear within ", timeout.count(), " ms"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool WaitForText(const std::string& path, const std::string& text, int count,
                 std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (CountOf(ReadFile(path).value_or(""), text) >= count) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int CountOf(const std::string& haystack, const std::string& text) {
  if (text.empty()) return 0;
  int found = 0;
  for (size_t at = haystack.find(text); at != std::string::npos; at = haystack.find(text, at + 1)) {
    ++found;
  }
  return found;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status WriteFile(const std::string& path, const std::string& data, int mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot write ", path));
  fchmod(fd, mode);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n <= 0) {
      close(fd);
      return absl::InternalError(absl::StrCat("short write to ", path));
    }
    off += static_cast<size_t>(n);
  }
  close(fd);
  return absl::OkStatus();
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

std::string BinaryPath(const std::string& name) {
  const char* dir = std::getenv("KCRED_BIN_DIR");
  std::string base = dir != nullptr && *dir != '\0' ? dir : KCRED_TEST_BIN_DIR;
  return base + "/" + name;
}

}  // namespace kcred::testing
