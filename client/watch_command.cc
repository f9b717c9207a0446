// kcred watch: keeps a kubeconfig file current as kcredd rotates the account's token.
#include "client/watch_command.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/arguments.h"
#include "client/connection.h"
#include "common/files.h"
#include "proto/kcred/v1/broker.grpc.pb.h"

extern char** environ;

namespace kcred::client {

void WatchStop::Request() {
  absl::MutexLock lock(&mu_);
  requested_ = true;
  if (call_ != nullptr) call_->TryCancel();
}

bool WatchStop::requested() const {
  absl::MutexLock lock(&mu_);
  return requested_;
}

bool WatchStop::WaitFor(Clock& clock, absl::Duration d) {
  absl::MutexLock lock(&mu_);
  clock.WaitUntil(&mu_, absl::Condition(&requested_), clock.Now() + d);
  return requested_;
}

void WatchStop::SetCall(grpc::ClientContext* call) {
  absl::MutexLock lock(&mu_);
  call_ = call;
  if (call_ != nullptr && requested_) call_->TryCancel();
}

namespace {

constexpr absl::string_view kCmd = "watch";

using Stub = v1::CredentialBroker::Stub;

std::string AbsolutePath(const std::string& path) {
  if (absl::StartsWith(path, "/")) return path;
  char cwd[4096];
  if (getcwd(cwd, sizeof cwd) == nullptr) return path;
  return absl::StrCat(cwd, "/", path);
}

// Codes after which reconnecting cannot help.
bool Permanent(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::UNIMPLEMENTED:
    case grpc::StatusCode::FAILED_PRECONDITION:
      return true;
    default:
      return false;
  }
}

class Watcher {
 public:
  Watcher(const WatchOptions& options, CommandContext& ctx, WatchStop& stop,
          std::unique_ptr<Stub> stub)
      : options_(options),
        ctx_(ctx),
        stop_(stop),
        stub_(std::move(stub)),
        account_(FormatAccountRef(options.ref)),
        path_(AbsolutePath(options.output)) {}

  int Run() {
    // The first write, before watching: an unknown account ends the command here.
    if (std::optional<int> done = Refresh("start"); done.has_value()) return *done;
    int failures = 0;
    while (!stop_.requested()) {
      std::optional<int> done = WatchOnce(&failures);
      if (done.has_value()) return *done;
      if (stop_.requested()) break;
      const absl::Duration delay = Backoff(failures++);
      ctx_.err << "kcred watch: reconnecting in " << FormatDurationArg(delay) << "\n" << std::flush;
      if (stop_.WaitFor(ctx_.clock, delay)) break;
      // A fresh channel: the old one may sit out gRPC's own reconnect backoff (up to minutes).
      if (auto channel = Connect(ctx_.connection); channel.ok()) {
        stub_ = v1::CredentialBroker::NewStub(*channel);
      }
    }
    ctx_.out << "kcred watch: stopped\n" << std::flush;
    return kExitOk;
  }

 private:
  absl::Duration Backoff(int failures) {
    absl::Duration delay = options_.initial_backoff;
    for (int i = 0; i < failures && delay < options_.max_backoff; ++i) delay *= 2;
    delay = std::min(delay, options_.max_backoff);
    // Full jitter over the upper half, so restarted watchers do not reconnect in lockstep.
    return delay / 2 + std::uniform_real_distribution<double>(0.0, 1.0)(gen_) * (delay / 2);
  }

  // One WatchAccounts call, until it ends. nullopt: reconnect.
  std::optional<int> WatchOnce(int* failures) {
    grpc::ClientContext rpc;
    v1::WatchAccountsRequest request;
    v1::AccountSelector& selector = *request.mutable_selector();
    selector.set_cluster(options_.ref.cluster());
    selector.set_namespace_(options_.ref.namespace_());
    selector.set_name(options_.ref.name());
    const bool resuming = !resume_token_.empty();
    request.set_resume_token(resume_token_);
    // Without a resume point the SNAPSHOT event tells us the watch is in place; the fetch it
    // triggers then cannot miss a rotation.
    request.set_send_initial_state(!resuming);
    stop_.SetCall(&rpc);
    std::unique_ptr<grpc::ClientReader<v1::AccountEvent>> reader =
        stub_->WatchAccounts(&rpc, request);
    std::optional<int> done;
    if (resuming || *failures > 0) {
      // Whatever happened while disconnected is either replayed or covered by this fetch. While
      // kcredd refuses the watch (e.g. too many streams), this fetch on each retry is what keeps
      // the file from holding a revoked token.
      done = Refresh("reconnected");
    }
    v1::AccountEvent event;
    while (!done.has_value() && !refresh_failed_ && reader->Read(&event)) {
      *failures = 0;
      if (!event.resume_token().empty()) resume_token_ = event.resume_token();
      done = Handle(event);
    }
    // A fetch that failed after a rotation must not wait for the next event: the file would keep
    // the previous token past its grace. Reconnecting (with backoff) fetches again.
    const bool retry_fetch = refresh_failed_ && !done.has_value();
    if (done.has_value() || retry_fetch) {
      rpc.TryCancel();
    }
    grpc::Status status = reader->Finish();
    stop_.SetCall(nullptr);
    if (done.has_value() || stop_.requested()) return done;
    if (retry_fetch) {
      ++*failures;
      return std::nullopt;
    }
    if (Permanent(status.error_code())) {
      ctx_.err << "kcred watch: " << DescribeRpcError(status, ctx_.connection) << "\n";
      return kExitFailed;
    }
    ctx_.err << "kcred watch: lost the watch of " << account_ << ": "
             << DescribeRpcError(status, ctx_.connection) << "\n"
             << std::flush;
    return std::nullopt;
  }

  std::optional<int> Handle(const v1::AccountEvent& event) {
    switch (event.type()) {
      case v1::EVENT_TYPE_SNAPSHOT:
        return Refresh("watching");
      case v1::EVENT_TYPE_PROVISIONED:
        return Refresh("provisioned");
      case v1::EVENT_TYPE_UPDATED:
        return Refresh("updated");
      case v1::EVENT_TYPE_ROTATED:
        return Refresh("rotated");
      case v1::EVENT_TYPE_RESYNC_REQUIRED:
        return Refresh("resync");
      case v1::EVENT_TYPE_DELETED:
        ctx_.err << "kcred watch: account " << account_ << " was deleted; its tokens are revoked, "
                 << "so " << path_ << " no longer works. Stopping.\n";
        return kExitFailed;
      case v1::EVENT_TYPE_FAILED:
        ctx_.err << "kcred watch: kcredd reports a failure on " << account_
                 << " (it retries): " << event.message() << "\n"
                 << std::flush;
        return std::nullopt;
      default:
        return std::nullopt;
    }
  }

  // Fetches the kubeconfig and writes it when it differs from the file. nullopt: keep watching.
  std::optional<int> Refresh(absl::string_view why) {
    grpc::ClientContext rpc;
    SetDeadline(rpc, ctx_.connection);
    v1::GetKubeconfigRequest request;
    *request.mutable_ref() = options_.ref;
    v1::GetKubeconfigResponse response;
    grpc::Status status = stub_->GetKubeconfig(&rpc, request, &response);
    refresh_failed_ = !status.ok() && status.error_code() != grpc::StatusCode::NOT_FOUND;
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
      ctx_.err << "kcred watch: " << DescribeRpcError(status, ctx_.connection) << "\n";
      return kExitFailed;
    }
    if (!status.ok()) {
      ctx_.err << "kcred watch: cannot fetch the kubeconfig of " << account_ << " (" << why
               << "): " << DescribeRpcError(status, ctx_.connection) << "; keeping " << path_
               << " as it is and fetching again after reconnecting\n"
               << std::flush;
      return std::nullopt;
    }
    absl::StatusOr<std::string> current = ReadFileToString(path_);
    if (current.ok() && *current == response.kubeconfig()) return std::nullopt;
    if (absl::Status s = WriteFileAtomic(path_, response.kubeconfig(), 0600); !s.ok()) {
      ctx_.err << "kcred watch: " << s.message() << "\n";
      return kExitFailed;
    }
    ctx_.out << "kcred watch: wrote " << path_ << " (" << why << ", token generation "
             << response.generation() << ")\n"
             << std::flush;
    if (!options_.exec.empty()) RunExec();
    if (options_.after_write) options_.after_write(std::string(why));
    return std::nullopt;
  }

  // Runs the --exec command through /bin/sh -c with the file in its environment; waits for it.
  void RunExec() {
    std::vector<std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      if (absl::StartsWith(*e, "KCRED_KUBECONFIG=") || absl::StartsWith(*e, "KUBECONFIG=")) {
        continue;
      }
      env.emplace_back(*e);
    }
    env.push_back(absl::StrCat("KCRED_KUBECONFIG=", path_));
    env.push_back(absl::StrCat("KUBECONFIG=", path_));
    std::vector<char*> envp;
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string sh = "/bin/sh", dash_c = "-c", command = options_.exec;
    char* argv[] = {sh.data(), dash_c.data(), command.data(), nullptr};
    pid_t pid = 0;
    if (int err = posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, envp.data()); err != 0) {
      ctx_.err << "kcred watch: cannot run --exec command: " << std::strerror(err) << "\n";
      return;
    }
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) != 0) {
      ctx_.err << "kcred watch: --exec command exited with status " << WEXITSTATUS(wstatus) << "\n";
    } else if (WIFSIGNALED(wstatus)) {
      ctx_.err << "kcred watch: --exec command was killed by signal " << WTERMSIG(wstatus) << "\n";
    }
  }

  const WatchOptions& options_;
  CommandContext& ctx_;
  WatchStop& stop_;
  std::unique_ptr<Stub> stub_;
  const std::string account_;
  const std::string path_;
  std::string resume_token_;
  bool refresh_failed_ = false;  // the last fetch failed (not NOT_FOUND): fetch again soon
  std::mt19937_64 gen_{std::random_device{}()};
};

// SIGINT/SIGTERM -> WatchStop, through a pipe (the handler only writes a byte).
int g_signal_pipe = -1;

void OnSignal(int) {
  if (g_signal_pipe >= 0) {
    char b = 1;
    (void)!write(g_signal_pipe, &b, 1);
  }
}

int WatchCommand(const ParsedArgs& args, CommandContext& ctx) {
  auto usage = [&](absl::string_view message) {
    ctx.err << "kcred " << kCmd << ": " << message << "\n";
    return kExitUsage;
  };
  if (args.positionals.size() != 1) {
    return usage(absl::StrCat(
        "needs one account as CLUSTER/NAMESPACE/NAME, e.g. kcred watch dev/automation/ci-bot -o "
        "ci-bot.kubeconfig",
        args.positionals.empty() ? "" : absl::StrCat(" (got ", args.positionals.size(), ")")));
  }
  auto ref = ParseAccountRef(args.positionals[0]);
  if (!ref.ok()) return usage(ref.status().message());
  if (!args.Has("output") || args.Get("output").empty() || args.Get("output") == "-") {
    return usage("needs -o FILE: the kubeconfig file to keep current");
  }
  if (args.Has("exec") && args.Get("exec").empty()) {
    return usage("--exec needs a command, e.g. --exec 'systemctl reload my-agent'");
  }
  WatchOptions options;
  options.ref = *ref;
  options.output = args.Get("output");
  options.exec = args.Get("exec");
  auto channel = Connect(ctx.connection);
  if (!channel.ok()) return usage(channel.status().message());
  std::unique_ptr<Stub> stub = v1::CredentialBroker::NewStub(*channel);

  WatchStop stop;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    ctx.err << "kcred watch: cannot create a pipe: " << std::strerror(errno) << "\n";
    return kExitFailed;
  }
  g_signal_pipe = fds[1];
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  struct sigaction old_int {
  }, old_term{};
  sigaction(SIGINT, &action, &old_int);
  sigaction(SIGTERM, &action, &old_term);
  std::thread signals([fd = fds[0], &stop] {
    char b = 0;
    ssize_t n;
    while ((n = read(fd, &b, 1)) < 0 && errno == EINTR) {
    }
    if (n == 1 && b == 1) stop.Request();
  });
  const int code = Watcher(options, ctx, stop, std::move(stub)).Run();
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  g_signal_pipe = -1;
  char done = 0;
  (void)!write(fds[1], &done, 1);
  signals.join();
  close(fds[0]);
  close(fds[1]);
  return code;
}

}  // namespace

int RunWatch(const WatchOptions& options, CommandContext& ctx, WatchStop& stop) {
  auto channel = Connect(ctx.connection);
  if (!channel.ok()) {
    ctx.err << "kcred " << kCmd << ": " << channel.status().message() << "\n";
    return kExitUsage;
  }
  std::unique_ptr<Stub> stub = v1::CredentialBroker::NewStub(*channel);
  return Watcher(options, ctx, stop, std::move(stub)).Run();
}

void AddWatchCommand(std::vector<Command>& commands) {
  commands.push_back(Command{
      "watch",
      "keep a kubeconfig file current as kcredd rotates the account's token",
      "kcred watch CLUSTER/NAMESPACE/NAME -o FILE [--exec CMD]",
      "Writes the account's kubeconfig to FILE (mode 0600, replaced atomically, so readers never\n"
      "see a partial file), then follows kcredd's events for the account and writes it again\n"
      "whenever its token is rotated or its spec changes. A file whose content would not change\n"
      "is left alone.\n"
      "\n"
      "--exec CMD runs CMD through /bin/sh -c after each change, with KCRED_KUBECONFIG and\n"
      "KUBECONFIG set to FILE's absolute path; kcred waits for it before handling the next event.\n"
      "\n"
      "When kcredd restarts or the connection drops, kcred watch reconnects with exponential\n"
      "backoff (up to about 30s, with jitter), resumes after the last event it saw and fetches\n"
      "the kubeconfig again. It runs until SIGINT or SIGTERM (exit 0). When the account is\n"
      "deleted it exits 1: the file's token is revoked then.\n"
      "\n"
      "Examples:\n"
      "  kcred watch dev/automation/ci-bot -o /var/lib/ci/kubeconfig\n"
      "  kcred watch dev/automation/ci-bot -o ci-bot.kubeconfig \\\n"
      "      --exec 'kubectl --kubeconfig \"$KCRED_KUBECONFIG\" auth whoami'\n"
      "  kcred watch prod/agents/shipper -o /etc/shipper/kubeconfig --exec 'systemctl reload "
      "shipper'",
      {{"output", 'o', true, "FILE", "the kubeconfig file to keep current (mode 0600, atomic)"},
       {"exec", 0, true, "CMD", "run CMD (/bin/sh -c) after each change of FILE"}},
      WatchCommand});
}

}  // namespace kcred::client
