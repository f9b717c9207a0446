#pragma once
// Test helpers for integration tests: start real kcred processes, wait for what they publish, and
// always stop them (the destructor kills the whole process group, also when a test fails).

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kcred::testing {

// A temporary directory removed (recursively) when the object goes out of scope.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct ProcessOptions {
  std::vector<std::string> argv;           // argv[0] is the executable path
  std::map<std::string, std::string> env;  // added to (or overriding) the test's environment
  std::string stdout_file;                 // where stdout goes; /dev/null when empty
  std::string stderr_file;                 // where stderr goes; the stdout file when empty
  std::string stdin_data;                  // written to the child's stdin, then closed
};

// A child process in its own process group. Stop() sends SIGTERM and waits; the destructor kills
// (SIGKILL) whatever is left of the group.
class Process {
 public:
  static absl::StatusOr<std::unique_ptr<Process>> Start(const ProcessOptions& options);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool Running();
  // Sends `signal` to the process. No-op when it has exited.
  void Signal(int signal);
  // Waits up to `timeout` for exit; returns the exit code (128+N for signal N) or an error on
  // timeout.
  absl::StatusOr<int> Wait(std::chrono::milliseconds timeout);
  // SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit code.
  int Stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  explicit Process(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  int exit_code_ = -1;
};

struct RunResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;     // stdout
  std::string err;     // stderr
};

// Runs a command to completion (killed after `timeout`) and captures its output.
RunResult Run(const std::vector<std::string>& argv,
              const std::map<std::string, std::string>& env = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(60),
              const std::string& stdin_data = "");

// Polls until `path` exists and is non-empty, or `timeout` passes; returns its contents.
absl::StatusOr<std::string> WaitForFile(const std::string& path, std::chrono::milliseconds timeout);
// Polls until `path` (a log, a file another process appends to) holds `text` at least `count`
// times; false once `timeout` passes. The writer, not a guess at its speed, decides when it ends.
bool WaitForText(const std::string& path, const std::string& text, int count,
                 std::chrono::milliseconds timeout);
// How many times `text` occurs in `haystack` (overlapping occurrences count).
int CountOf(const std::string& haystack, const std::string& text);

// Reads a whole file; an error when it cannot be read.
absl::StatusOr<std::string> ReadFile(const std::string& path);
// Writes a whole file with the given mode.
absl::Status WriteFile(const std::string& path, const std::string& data, int mode = 0644);

// A TCP port on 127.0.0.1 that was free a moment ago (bound with port 0 and released).
int FreePort();

// Location of a built binary: $KCRED_BIN_DIR/name when set, else the directory CMake compiled in.
std::string BinaryPath(const std::string& name);

}  // namespace kcred::testing
