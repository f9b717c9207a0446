#pragma once
// The seams between the rotation engine and the rest of kcredd: the Executor performs one
// rotation (the broker implements it), the RotationObserver hears about each result (kcredd logs
// it and sets Degraded conditions).

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kcred::rotation {

// The new token's lifetime after a successful rotation.
struct RotationOutcome {
  absl::Time issued;
  absl::Time expiry;
};

class Executor {
 public:
  virtual ~Executor() = default;
  // Rotates the token of account `key` and returns the new token's times, or why it failed
  // (the account then backs off and retries). Called from worker threads, concurrently for
  // different keys and never twice at once for the same key. May block on the network.
  virtual absl::StatusOr<RotationOutcome> Rotate(const std::string& key) = 0;
};

// One finished rotation, as reported to the observer. Never holds a token.
struct RotationReport {
  std::string key;
  std::string cluster;
  int attempt = 0;  // 0 for a scheduled rotation, n for the n-th retry
  absl::Time due;   // when it was scheduled to start
  absl::Time started;
  absl::Duration duration;                 // how long the Executor took
  absl::Status status;                     // OK, or the Executor's error
  std::optional<RotationOutcome> outcome;  // the new token's times on success
  absl::Time next_rotation;                // when this account is due again (or retried)
  int consecutive_failures = 0;            // 0 after a success
};

class RotationObserver {
 public:
  virtual ~RotationObserver() = default;
  // Called once per finished rotation, from the worker thread that ran it, without any scheduler
  // lock held (it may call back into the Scheduler). Must be thread-safe.
  virtual void OnRotation(const RotationReport& report) = 0;
};

}  // namespace kcred::rotation
