#pragma once
// kcred watch: keeps a kubeconfig file current from kcredd's WatchAccounts stream. The command's
// driver, split out so tests can run and stop it without signals.

#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/cli.h"
#include "common/clock.h"
#include "proto/kcred/v1/broker.pb.h"

namespace grpc {
class ClientContext;
}

namespace kcred::client {

// Ends a running watch from another thread (a signal, a test): cancels the call in progress and
// interrupts a reconnect wait.
class WatchStop {
 public:
  void Request();
  bool requested() const;
  // Waits up to `d` on `clock`; true when a stop was requested (at once or meanwhile).
  bool WaitFor(Clock& clock, absl::Duration d);
  // The call to cancel on Request (null: none); Request cancels it even when set afterwards.
  void SetCall(grpc::ClientContext* call);

 private:
  mutable absl::Mutex mu_;
  bool requested_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* call_ ABSL_GUARDED_BY(mu_) = nullptr;
};

struct WatchOptions {
  v1::AccountRef ref;
  std::string output;  // the kubeconfig file kept current
  std::string exec;    // run through /bin/sh -c after each change; empty: none
  absl::Duration initial_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(30);
  // Called after each write of `output` (and after --exec ran), with why it was written; for
  // callers embedding the watch, and tests. May be empty.
  std::function<void(const std::string& why)> after_write;
};

// Writes the kubeconfig, then follows the account's events until `stop` (exit 0), the account is
// deleted (exit 1) or kcredd refuses the watch for good (exit 1); reconnects with backoff when
// kcredd goes away, resuming after the last event seen.
int RunWatch(const WatchOptions& options, CommandContext& ctx, WatchStop& stop);

}  // namespace kcred::client
