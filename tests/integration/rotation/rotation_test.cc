// The rotation engine against real processes: tokens rotate on schedule while kubectl keeps
// working, API faults delay but never lose rotations, and kill -9 at random moments leaves every
// account with one valid token and no orphaned Secret.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "proto/kcred/v1/broker.grpc.pb.h"
#include "tests/support/kcred_env.h"
#include "tests/support/kill_test.h"

namespace kcred {
namespace {

using ::testing::HasSubstr;
using testing::KcredEnv;
using testing::RunResult;

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

v1::AccountRef Ref(const std::string& ns, const std::string& name) {
  v1::AccountRef ref;
  ref.set_cluster("dev");
  ref.set_namespace_(ns);
  ref.set_name(name);
  return ref;
}

// A gRPC client of the test's kcredd.
class Broker {
 public:
  explicit Broker(const KcredEnv& env)
      : stub_(v1::CredentialBroker::NewStub(
            grpc::CreateChannel("unix:" + env.socket(), grpc::InsecureChannelCredentials()))) {}

  grpc::Status Provision(const v1::AccountRef& ref, absl::Duration ttl, double fraction) {
    v1::ProvisionAccountResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return stub_->ProvisionAccount(&context, testing::RotatingAccountRequest(ref, ttl, fraction),
                                   &response);
  }

  absl::StatusOr<v1::GetTokenResponse> Token(const v1::AccountRef& ref) {
    v1::GetTokenRequest request;
    *request.mutable_ref() = ref;
    v1::GetTokenResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status status = stub_->GetToken(&context, request, &response);
    if (!status.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
    }
    return response;
  }

 private:
  std::unique_ptr<v1::CredentialBroker::Stub> stub_;
};

// Asks the dev cluster who a token belongs to (SelfSubjectReview); "" when it is refused.
std::string WhoIs(const KcredEnv& env, const std::string& token) {
  std::vector<std::string> hp = absl::StrSplit(env.address(), ':');
  httplib::SSLClient client(hp[0], std::stoi(hp[1]));
  client.set_ca_cert_path(env.File("cluster/ca.crt").c_str());
  client.enable_server_certificate_verification(true);
  client.set_bearer_token_auth(token.c_str());
  auto res = client.Post("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                         R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})",
                         "application/json");
  if (!res || res->status != 201) return "";
  return nlohmann::json::parse(res->body)["status"]["userInfo"]["username"].get<std::string>();
}

void SetFaults(const KcredEnv& env, const std::string& json) {
  const std::string file = env.File("faults.json");
  ASSERT_TRUE(testing::WriteFile(file, json).ok());
  RunResult r = env.Kubectl(env.admin(), {"replace", "--raw", "/kcred-dev/faults", "-f", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

// Tokens rotate on schedule while a freshly fetched kubeconfig works at every moment, and the
// first generation is revoked after its grace.
TEST(RotationTest, TokensRotateOnScheduleWhileKubectlKeepsWorking) {
  KcredEnv env;
  env.StartCluster();
  env.WriteConfig("", "defaults:\n  token:\n    grace: 2s\n");
  env.StartKcredd();
  env.KcredOk({"provision", "dev/rot/bot", "--create-namespace", "--rule", "get,list:pods", "--ttl",
               "20s", "--rotate-at", "0.5"});
  const std::string first = env.FetchKubeconfig("dev/rot/bot", "first.kubeconfig");
  Broker broker(env);

  std::set<int64_t> generations;
  int kubectl_failures = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline && generations.size() < 3) {
    auto token = broker.Token(Ref("rot", "bot"));
    ASSERT_TRUE(token.ok()) << token.status();
    EXPECT_GT(FromProto(token->expire_time()), absl::Now()) << "an expired token was served";
    generations.insert(token->generation());
    // A freshly fetched kubeconfig works at every moment.
    const std::string current = env.FetchKubeconfig("dev/rot/bot", "current.kubeconfig");
    RunResult whoami = env.Kubectl(current, {"auth", "whoami"});
    if (whoami.exit_code != 0) ++kubectl_failures;
    absl::SleepFor(absl::Milliseconds(700));  // the probes' pace, not a wait for an event
  }
  EXPECT_GE(generations.size(), 3u) << "expected two scheduled rotations within a minute";
  EXPECT_EQ(kubectl_failures, 0);
  // Generation 1 was revoked once its 2s grace passed.
  RunResult old = env.Kubectl(first, {"get", "pods", "-n", "rot"});
  EXPECT_THAT(old.err, HasSubstr("You must be logged in to the server"));
  EXPECT_THAT(env.Log("kcredd.log"), HasSubstr("rotated dev/rot/bot to generation 2 (sha256:"));
}

// Under 503 and then 429 faults on 30% of API calls every account keeps rotating and no probe is
// served an expired token.
TEST(RotationTest, ApiFaultsDelayButNeverLoseRotations) {
  KcredEnv env;
  env.StartCluster();
  env.WriteConfig("  qps: 100\n  burst: 200\n", "defaults:\n  token:\n    grace: 1s\n");
  env.StartKcredd();
  Broker broker(env);
  constexpr int kAccounts = 5;
  for (int i = 0; i < kAccounts; ++i) {
    ASSERT_TRUE(
        broker.Provision(Ref("faults", absl::StrCat("bot-", i)), absl::Seconds(20), 0.5).ok());
  }
  std::map<int, int64_t> start_generation;
  for (int i = 0; i < kAccounts; ++i) {
    start_generation[i] = broker.Token(Ref("faults", absl::StrCat("bot-", i)))->generation();
  }
  // 30% of the API server's answers fail: first 503, then 429 with Retry-After. Under each, the
  // accounts are probed until every one has rotated again (kcredd retries through the faults).
  const std::string api_only = R"(,"retryAfterSeconds":1,"pathPrefixes":["/api/","/apis/"])";
  std::map<int, int64_t> generation = start_generation;
  int refused = 0;
  for (const char* code : {"503", "429"}) {
    SetFaults(env, absl::StrCat(R"({"errorRate":0.3,"errorCode":)", code, api_only, "}"));
    const std::map<int, int64_t> before = generation;
    auto all_rotated = [&] {
      for (int i = 0; i < kAccounts; ++i) {
        if (generation[i] <= before.at(i)) return false;
      }
      return true;
    };
    // Rotations are due every 10s; the bound only keeps a broken build from hanging.
    const absl::Time give_up = absl::Now() + absl::Seconds(90);
    while (!all_rotated() && absl::Now() < give_up) {
      for (int i = 0; i < kAccounts; ++i) {
        auto token = broker.Token(Ref("faults", absl::StrCat("bot-", i)));
        if (!token.ok()) {
          // Refusing is allowed (UNAVAILABLE when nothing valid is left); serving expired is not.
          EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable) << token.status();
          ++refused;
          continue;
        }
        EXPECT_GT(FromProto(token->expire_time()), absl::Now()) << "an expired token was served";
        generation[i] = std::max(generation[i], token->generation());
      }
      absl::SleepFor(absl::Milliseconds(300));  // the probes' pace, not a wait for an event
    }
    EXPECT_TRUE(all_rotated()) << "an account stopped rotating under " << code << " faults";
  }
  SetFaults(env, R"({"errorRate":0})");
  for (int i = 0; i < kAccounts; ++i) {
    const std::string name = absl::StrCat("bot-", i);
    auto token = broker.Token(Ref("faults", name));
    ASSERT_TRUE(token.ok()) << token.status();
    EXPECT_GE(token->generation(), start_generation[i] + 2) << name << " stopped rotating";
    EXPECT_EQ(WhoIs(env, token->token()), "system:serviceaccount:faults:" + name);
  }
  EXPECT_EQ(refused, 0) << "with retries, no account should run out of valid tokens";
}

// After 20 kill -9 restarts (during provisioning, rotation bursts, revocations, the start-up
// orphan sweep, and at random) every account serves a token the cluster accepts, no token is
// served expired, no generation is skipped, nothing is orphaned, and revocations after the last
// restart keep up (the short version of bench/kill-test, same driver).
TEST(RotationTest, KillNineAtRandomMomentsLosesNothing) {
  KcredEnv env;
  testing::KillTestOptions options;
  options.accounts = 200;
  options.kills = 20;
  options.ttl = absl::Seconds(20);
  options.grace = absl::Seconds(1);
  options.duration = absl::Seconds(30);
  // Generous for a shared CI machine; bench/kill-test holds kcredd to 5 s. A stalled revocation
  // (what this bound exists for) lags by far more.
  options.lag_bound = absl::Seconds(15);
  const testing::KillTestReport report = testing::RunKillTest(env, options);
  std::cout << report.Format();
  EXPECT_EQ(report.kills, options.kills);
  EXPECT_EQ(report.accounts_lost, 0);
  EXPECT_EQ(report.vanished, 0);
  EXPECT_EQ(report.provision_failures, 0);
  EXPECT_GT(report.served, 0) << "the pollers received nothing: the expiry check saw nothing";
  EXPECT_EQ(report.expired_served, 0);
  EXPECT_EQ(report.token_review_failures, 0);
  EXPECT_EQ(report.generation_gaps, 0);
  EXPECT_EQ(report.fingerprint_conflicts, 0);
  EXPECT_EQ(report.generation_regressions, 0);
  EXPECT_EQ(report.orphans, 0);
  EXPECT_GT(report.lag_after_last_restart.count, 0) << "no revocation after the last restart";
  EXPECT_EQ(report.revocations_overdue, 0);
  EXPECT_LE(report.lag_after_last_restart.max, options.lag_bound);
  EXPECT_THAT(report.Broken(), ::testing::IsEmpty());
}

}  // namespace
}  // namespace kcred
