#pragma once
// When HttpKubeClient retries a request, and how long it waits in between.
//
// The rule for retrying: a request is retried only when repeating it cannot apply a change twice.
//  - Nothing reached the server (connection refused, DNS failure, connect timeout): any method.
//  - 429 Too Many Requests and 503 Service Unavailable: any method, POST included. The API server
//    answers these before the handler runs (max-in-flight / priority-and-fairness / not ready).
//  - Other 5xx, and a connection that broke or timed out after the request was sent: only GET,
//    PUT and DELETE. PUT carries a resourceVersion, so a replay of an applied update answers 409
//    Conflict rather than applying twice; a replayed DELETE answers 404, which the caller already
//    has to handle. A POST (create, TokenRequest) is never replayed after it may have been applied:
//    a second create would answer AlreadyExists or mint a second token.
//  - TLS verification failures and any other 4xx: never (retrying cannot change the answer).
// Waits use exponential backoff with full jitter (a uniform draw in [0, min(max, initial *
// multiplier^attempt)]), or the server's Retry-After when it sends one, and never run past the
// call's deadline.

#include <optional>

#include "absl/random/bit_gen_ref.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kcred::kube {

struct BackoffPolicy {
  absl::Duration initial = absl::Milliseconds(200);
  absl::Duration max = absl::Seconds(10);
  double multiplier = 2.0;
};

// The ceiling of the wait after failed attempt number `attempt` (0-based): min(max, initial *
// multiplier^attempt).
absl::Duration BackoffCeiling(const BackoffPolicy& policy, int attempt);

// A full-jitter wait for `attempt`: uniform in [0, BackoffCeiling(policy, attempt)].
absl::Duration BackoffDelay(const BackoffPolicy& policy, int attempt, absl::BitGenRef random);

// How a single attempt ended, as far as retrying is concerned.
enum class AttemptOutcome {
  kNotSent,         // the connection could not be made: nothing reached the server
  kMaybeSent,       // the connection broke or timed out after the request may have been sent
  kHttpStatus,      // the server answered with an HTTP status
  kNeverRetryable,  // TLS verification failure, bad URL, ...: retrying cannot help
};

// Whether an attempt with this outcome (and HTTP status, for kHttpStatus) may be retried for
// `method` ("GET", "POST", "PUT", "DELETE").
bool IsRetryable(absl::string_view method, AttemptOutcome outcome, int http_status);

// Parses a Retry-After header value given in seconds (the form API servers send). nullopt when
// absent or not a non-negative integer.
std::optional<absl::Duration> ParseRetryAfter(absl::string_view value);

}  // namespace kcred::kube
