#include "devcluster/faults.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace kcred::devcluster {

absl::Status FaultConfig::Validate() const {
  if (error_rate < 0 || error_rate > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("fault error rate ", error_rate, " is out of range; use a share in [0, 1]"));
  }
  if (drop_rate < 0 || drop_rate > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("fault drop rate ", drop_rate, " is out of range; use a share in [0, 1]"));
  }
  if (error_code != 500 && error_code != 503 && error_code != 429) {
    return absl::InvalidArgumentError(
        absl::StrCat("fault error code ", error_code, " is not supported; use 500, 503 or 429"));
  }
  if (retry_after_seconds < 0) {
    return absl::InvalidArgumentError("fault retry-after must not be negative");
  }
  if (latency < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("fault latency must not be negative");
  }
  return absl::OkStatus();
}

absl::StatusOr<FaultConfig> FaultConfig::FromJson(const nlohmann::json& json) {
  if (!json.is_object()) return absl::InvalidArgumentError("fault config must be a JSON object");
  FaultConfig config;
  try {
    for (const auto& [key, value] : json.items()) {
      if (key == "errorRate") {
        config.error_rate = value.get<double>();
      } else if (key == "errorCode") {
        config.error_code = value.get<int>();
      } else if (key == "retryAfterSeconds") {
        config.retry_after_seconds = value.get<int>();
      } else if (key == "latencyMs") {
        config.latency = absl::Milliseconds(value.get<int64_t>());
      } else if (key == "dropRate") {
        config.drop_rate = value.get<double>();
      } else if (key == "pathPrefixes") {
        config.path_prefixes = value.get<std::vector<std::string>>();
      } else if (key == "verbs") {
        config.verbs = value.get<std::vector<std::string>>();
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("fault config: unknown key \"", key,
                         "\"; known: errorRate, errorCode, retryAfterSeconds, latencyMs, dropRate, "
                         "pathPrefixes, verbs"));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("fault config: wrong value type: ", e.what()));
  }
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  return config;
}

nlohmann::json FaultConfig::ToJson() const {
  return {{"errorRate", error_rate},
          {"errorCode", error_code},
          {"retryAfterSeconds", retry_after_seconds},
          {"latencyMs", absl::ToInt64Milliseconds(latency)},
          {"dropRate", drop_rate},
          {"pathPrefixes", path_prefixes},
          {"verbs", verbs}};
}

FaultInjector::FaultInjector(FaultConfig config) : config_(std::move(config)) {}

void FaultInjector::Set(FaultConfig config) {
  absl::MutexLock lock(&mu_);
  config_ = std::move(config);
}

FaultConfig FaultInjector::Get() const {
  absl::MutexLock lock(&mu_);
  return config_;
}

FaultDecision FaultInjector::Decide(absl::string_view path, absl::string_view verb) {
  FaultDecision decision;
  absl::MutexLock lock(&mu_);
  if (!config_.enabled()) return decision;
  if (!config_.path_prefixes.empty() &&
      std::none_of(config_.path_prefixes.begin(), config_.path_prefixes.end(),
                   [&](const std::string& p) { return absl::StartsWith(path, p); })) {
    return decision;
  }
  if (!config_.verbs.empty() &&
      std::find(config_.verbs.begin(), config_.verbs.end(), verb) == config_.verbs.end()) {
    return decision;
  }
  decision.latency = config_.latency;
  const double roll = absl::Uniform(random_, 0.0, 1.0);
  if (roll < config_.drop_rate) {
    decision.action = FaultDecision::Action::kDrop;
  } else if (roll < config_.drop_rate + config_.error_rate) {
    decision.action = FaultDecision::Action::kError;
    decision.code = config_.error_code;
    decision.retry_after_seconds = config_.retry_after_seconds;
  }
  return decision;
}

}  // namespace kcred::devcluster
