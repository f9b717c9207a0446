#include "devcluster/faults.h"

#include <gtest/gtest.h>

namespace kcred::devcluster {
namespace {

// With no config nothing is injected; a full error rate hits only matching paths and verbs.
TEST(FaultInjectorTest, MatchesPathsAndVerbs) {
  FaultInjector injector;
  EXPECT_EQ(injector.Decide("/api/v1/pods", "get").action, FaultDecision::Action::kNone);
  FaultConfig config;
  config.error_rate = 1;
  config.error_code = 429;
  config.retry_after_seconds = 3;
  config.path_prefixes = {"/api/v1/namespaces/a"};
  config.verbs = {"get"};
  injector.Set(config);
  FaultDecision hit = injector.Decide("/api/v1/namespaces/a/secrets/x", "get");
  EXPECT_EQ(hit.action, FaultDecision::Action::kError);
  EXPECT_EQ(hit.code, 429);
  EXPECT_EQ(hit.retry_after_seconds, 3);
  EXPECT_EQ(injector.Decide("/api/v1/namespaces/b/secrets/x", "get").action,
            FaultDecision::Action::kNone);
  EXPECT_EQ(injector.Decide("/api/v1/namespaces/a/secrets/x", "list").action,
            FaultDecision::Action::kNone);
}

// A drop rate of 1 drops every request; latency applies to matching requests.
TEST(FaultInjectorTest, DropsAndLatency) {
  FaultConfig config;
  config.drop_rate = 1;
  config.latency = absl::Milliseconds(20);
  FaultInjector injector(config);
  FaultDecision decision = injector.Decide("/version", "get");
  EXPECT_EQ(decision.action, FaultDecision::Action::kDrop);
  EXPECT_EQ(decision.latency, absl::Milliseconds(20));
}

// The JSON form round-trips, and bad values or unknown keys are rejected with a reason.
TEST(FaultConfigTest, JsonRoundTripAndValidation) {
  absl::StatusOr<FaultConfig> config = FaultConfig::FromJson(nlohmann::json::parse(
      R"({"errorRate":0.5,"errorCode":500,"latencyMs":15,"verbs":["create"]})"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->error_rate, 0.5);
  EXPECT_EQ(config->latency, absl::Milliseconds(15));
  EXPECT_EQ(FaultConfig::FromJson(config->ToJson())->ToJson(), config->ToJson());
  EXPECT_FALSE(FaultConfig::FromJson(nlohmann::json::parse(R"({"errorRate":2})")).ok());
  EXPECT_FALSE(FaultConfig::FromJson(nlohmann::json::parse(R"({"errorCode":404})")).ok());
  absl::StatusOr<FaultConfig> unknown =
      FaultConfig::FromJson(nlohmann::json::parse(R"({"rate":1})"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown key \"rate\""), absl::string_view::npos);
  EXPECT_FALSE(FaultConfig::FromJson(nlohmann::json::parse(R"({"verbs":"get"})")).ok());
}

}  // namespace
}  // namespace kcred::devcluster
