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
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "proto/kcred/v1/broker.grpc.pb.h"
#include "tests/support/kcred_env.h"

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
    v1::ProvisionAccountRequest request;
    *request.mutable_ref() = ref;
    v1::AccountSpec* spec = request.mutable_spec();
    spec->set_create_namespace(true);
    v1::PolicyRule* rule = spec->mutable_access()->mutable_rules()->add_rules();
    rule->add_verbs("get");
    rule->add_verbs("list");
    rule->add_resources("pods");
    spec->mutable_token()->mutable_ttl()->set_seconds(absl::ToInt64Seconds(ttl));
    spec->mutable_token()->set_rotate_fraction(fraction);
    v1::ProvisionAccountResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return stub_->ProvisionAccount(&context, request, &response);
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

  std::vector<v1::Account> List() {
    std::vector<v1::Account> out;
    v1::ListAccountsRequest request;
    request.set_page_size(1000);
    for (;;) {
      v1::ListAccountsResponse response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      grpc::Status status = stub_->ListAccounts(&context, request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) return out;
      out.insert(out.end(), response.accounts().begin(), response.accounts().end());
      if (response.next_page_token().empty()) return out;
      request.set_page_token(response.next_page_token());
    }
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

// After 20 kill -9 restarts at random moments every account has a valid token and no token Secret
// is left that no account owns.
TEST(RotationTest, KillNineAtRandomMomentsLosesNothing) {
  KcredEnv env;
  env.StartCluster();
  env.WriteConfig("  qps: 500\n  burst: 1000\n", "defaults:\n  token:\n    grace: 1s\n");
  env.StartKcredd();
  constexpr int kAccounts = 200;
  constexpr int kKills = 20;
  const absl::Time started = absl::Now();
  {
    Broker broker(env);
    for (int i = 0; i < kAccounts; ++i) {
      grpc::Status s =
          broker.Provision(Ref("crash", absl::StrFormat("bot-%03d", i)), absl::Seconds(20), 0.5);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
  }
  std::mt19937 random(42);
  for (int kill = 0; kill < kKills; ++kill) {
    // The random moment of the kill is the test's input, not a wait for something to happen.
    absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(200, 1500)(random)));
    env.KillKcredd();
    env.StartKcredd();
  }
  Broker broker(env);
  std::vector<v1::Account> accounts = broker.List();
  ASSERT_EQ(accounts.size(), static_cast<size_t>(kAccounts)) << "an account was lost";
  for (const v1::Account& account : accounts) {
    auto token = broker.Token(account.ref());
    ASSERT_TRUE(token.ok()) << account.ref().name() << ": " << token.status();
    EXPECT_GT(FromProto(token->expire_time()), absl::Now());
    EXPECT_EQ(WhoIs(env, token->token()), "system:serviceaccount:crash:" + account.ref().name())
        << "the served token of " << account.ref().name() << " is not valid";
  }

  // Store and cluster agree once the last start has swept what the kills left: every token Secret
  // in the cluster belongs to a recorded generation of its account. Secrets younger than the grace
  // wait for the second sweep (grace + 5s after the start), and a rotation in flight between the
  // two reads may add one; so look until they agree, or give up.
  std::set<std::string> orphans;
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (absl::Now() < give_up) {
    std::set<std::string> owned;
    for (const v1::Account& account : broker.List()) {
      for (const v1::ObjectReference& object : account.status().managed_objects()) {
        if (object.kind() == "Secret") owned.insert(object.name());
      }
    }
    const std::string names =
        env.AdminOk({"get", "secrets", "-n", "crash", "-l", "app.kubernetes.io/managed-by=kcred",
                     "-o", "jsonpath={.items[*].metadata.name}"});
    std::set<std::string> present;
    for (absl::string_view n : absl::StrSplit(names, ' ', absl::SkipEmpty())) {
      present.insert(std::string(n));
    }
    for (const v1::Account& account : broker.List()) {
      for (const v1::ObjectReference& object : account.status().managed_objects()) {
        if (object.kind() == "Secret") owned.insert(object.name());
      }
    }
    orphans.clear();
    for (const auto& name : present) {
      if (owned.count(name) == 0) orphans.insert(name);
    }
    if (orphans.empty()) break;
    absl::SleepFor(absl::Milliseconds(250));
  }
  EXPECT_TRUE(orphans.empty()) << "Secrets no account owns: " << *orphans.begin();
  std::cout << "crash test: " << kAccounts << " accounts, " << kKills << " kill -9 restarts, took "
            << absl::FormatDuration(absl::Now() - started) << "\n";
}

}  // namespace
}  // namespace kcred
