#pragma once
// Fault injection for reliability tests: a share of matching requests is answered with 500, 503 or
// 429 (with Retry-After), delayed, or dropped mid-answer. Off unless configured.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace kcred::devcluster {

struct FaultConfig {
  double error_rate = 0;        // share of matching requests answered with `error_code`
  int error_code = 503;         // 500, 503 or 429
  int retry_after_seconds = 1;  // Retry-After on 429 and 503
  absl::Duration latency = absl::ZeroDuration();  // added to every matching request
  double drop_rate = 0;                    // share of matching requests whose connection is dropped
  std::vector<std::string> path_prefixes;  // empty: every path
  std::vector<std::string> verbs;          // Kubernetes verbs (get, list, create, ...); empty: all

  bool enabled() const { return error_rate > 0 || drop_rate > 0 || latency > absl::ZeroDuration(); }
  // Checks ranges (rates in [0,1], code 500/503/429, non-negative latency and retry-after).
  absl::Status Validate() const;
  // {"errorRate":0.5,"errorCode":503,"retryAfterSeconds":1,"latencyMs":100,"dropRate":0,
  //  "pathPrefixes":["/api/v1"],"verbs":["get"]}; unknown keys are InvalidArgument.
  static absl::StatusOr<FaultConfig> FromJson(const nlohmann::json& json);
  nlohmann::json ToJson() const;
};

struct FaultDecision {
  enum class Action { kNone, kError, kDrop };
  Action action = Action::kNone;
  absl::Duration latency = absl::ZeroDuration();
  int code = 0;
  int retry_after_seconds = 0;
};

class FaultInjector {
 public:
  explicit FaultInjector(FaultConfig config = {});
  void Set(FaultConfig config);
  FaultConfig Get() const;
  // What to do with a request for `path` with Kubernetes verb `verb`. Thread-safe.
  FaultDecision Decide(absl::string_view path, absl::string_view verb);

 private:
  mutable absl::Mutex mu_;
  FaultConfig config_ ABSL_GUARDED_BY(mu_);
  absl::BitGen random_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kcred::devcluster
