#pragma once
// Per-caller and total limits on what callers may hold of kcredd at once: calls in flight,
// WatchAccounts streams, and the rate of secret-returning calls. A caller over a limit gets
// RESOURCE_EXHAUSTED naming the limit and its config key, so no single caller can take every
// thread or read tokens in a tight loop. Limits can be changed while calls run (reload); slots
// already held stay held.

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "daemon/config/config.h"

namespace kcred::authz {

class CallLimits {
 public:
  // `clock` must outlive the limits.
  CallLimits(Clock& clock, config::LimitsConfig limits);
  CallLimits(const CallLimits&) = delete;
  CallLimits& operator=(const CallLimits&) = delete;

  // A call or stream counted against its caller until the slot is destroyed.
  class Slot {
   public:
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&&) = delete;
    ~Slot();

   private:
    friend class CallLimits;
    enum class Kind { kCall, kWatch };
    Slot(CallLimits* limits, Kind kind, std::string caller);
    CallLimits* limits_;
    Kind kind_;
    std::string caller_;
  };

  // Counts one more unary call of `caller` (a LimitKey), or RESOURCE_EXHAUSTED when it already has
  // limits.calls_per_caller in flight.
  absl::StatusOr<Slot> EnterCall(const std::string& caller);
  // Counts one more WatchAccounts stream, or RESOURCE_EXHAUSTED at limits.watches_per_caller (for
  // the caller) or limits.watches_total (for all callers).
  absl::StatusOr<Slot> EnterWatch(const std::string& caller);
  // Takes one secret read from the caller's token bucket (limits.secret_reads_per_second, burst
  // limits.secret_reads_burst), or RESOURCE_EXHAUSTED saying when the next one is possible.
  absl::Status TakeSecretRead(const std::string& caller);

  void Reconfigure(const config::LimitsConfig& limits);

  int watches() const;  // streams open now, in all

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time last;
  };
  void Release(Slot::Kind kind, const std::string& caller);

  Clock& clock_;
  mutable absl::Mutex mu_;
  config::LimitsConfig limits_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> calls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> watches_ ABSL_GUARDED_BY(mu_);
  int watches_total_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kcred::authz
