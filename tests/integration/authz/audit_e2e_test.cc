// Shows kcredd's audit log, ownership rules and limits with real processes: every call has its
// record whatever log.level says; a required audit log that cannot be written stops credentials
// from leaving; a name carrying a newline cannot forge a record; a declared account cannot be
// hijacked through the API; thousands of WatchAccounts streams from one caller are capped while
// kcredd's threads stay bounded; and no token handed out appears in any log, audit record or the
// store.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "proto/kcred/v1/broker.grpc.pb.h"
#include "tests/integration/authz/authz_env.h"

namespace kcred::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

// The number of threads process `pid` runs.
int Threads(pid_t pid) {
  for (absl::string_view line :
       absl::StrSplit(ReadFile(absl::StrCat("/proc/", pid, "/status")).value_or(""), '\n')) {
    int threads = 0;
    if (absl::ConsumePrefix(&line, "Threads:") &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &threads)) {
      return threads;
    }
  }
  return -1;
}

class AuditTest : public ::testing::Test {
 protected:
  void Start(const std::string& extra, const std::vector<std::string>& flags = {}) {
    env_.StartCluster();
    env_.AdminOk({"create", "namespace", "automation"});
    env_.WriteConfig("", extra);
    env_.StartKcredd(flags);
  }

  KcredEnv env_;
};

// With log.level error, every call, reads and refusals included, still has its record; the
// records name the token by fingerprint only; no token reaches a log, the audit log or the store.
TEST_F(AuditTest, EveryCallIsRecordedWhateverTheLogLevel) {
  Start("audit:\n  required: true\n", {"--log-level=error"});
  env_.KcredOk({"provision", "dev/automation/ci-bot", "--rule", "get:pods", "--grace", "1s"});
  std::vector<std::string> fingerprints;
  for (int i = 0; i < 3; ++i) {
    env_.FetchKubeconfig("dev/automation/ci-bot", absl::StrCat("ci-bot-", i, ".kubeconfig"));
    RunResult token = env_.Kcred({"token", "dev/automation/ci-bot", "--no-cache"});
    ASSERT_EQ(token.exit_code, 0) << token.err;
    env_.KcredOk({"rotate", "dev/automation/ci-bot", "--reason", "test", "--grace", "1s"});
  }
  env_.KcredOk({"get", "dev/automation/ci-bot"});
  env_.KcredOk({"list"});
  env_.KcredOk({"clusters"});
  env_.KcredOk({"whoami"});
  EXPECT_EQ(env_.Kcred({"get", "dev/automation/nobody-here"}).exit_code, 1);
  std::vector<json> records = AuditRecords(env_);
  // provision, 3 x (kubeconfig, token, rotate), get, list, clusters, whoami, failed get.
  ASSERT_EQ(records.size(), 1 + 3 * 3 + 5u);
  EXPECT_EQ(records[0]["method"], "ProvisionAccount");
  EXPECT_EQ(records[0]["spec"]["rules"][0]["verbs"][0], "get");
  EXPECT_EQ(records[0]["spec"]["grace"], "1s");
  EXPECT_EQ(records[1]["method"], "GetKubeconfig");
  EXPECT_THAT(records[1]["token_fingerprint"].get<std::string>(), ::testing::StartsWith("sha256:"));
  EXPECT_EQ(records[3]["method"], "RotateToken");
  EXPECT_EQ(records[3]["reason"], "test");
  EXPECT_EQ(records.back()["code"], "NOT_FOUND");
  for (const json& record : records) {
    EXPECT_EQ(record["caller"]["uid"], getuid());
    EXPECT_EQ(record["decision"], "allow");
  }
  // log.level error: kcredd logged nothing below errors, the audit log still has everything.
  EXPECT_THAT(env_.KcreddLog(), ::testing::Not(HasSubstr(" info ")));
}

// A required audit log that cannot be written withholds credentials (kcredd running as an
// unprivileged user, its audit file made read-only); the other calls go on, and credentials flow
// again once the file can be written.
TEST_F(AuditTest, UnwritableRequiredAuditLogWithholdsCredentials) {
  env_.StartCluster();
  env_.AdminOk({"create", "namespace", "automation"});
  env_.WriteConfig("", "audit:\n  required: true\n");
  // kcredd runs as nobody, owning its directory and files, as it runs as kcred under systemd;
  // the cluster's CA certificate is public.
  ASSERT_EQ(chown(env_.dir().c_str(), 65534, 65534), 0);
  for (const char* file : {"kcredd.yaml", "kcredd.token", "sealing.key"}) {
    ASSERT_EQ(chown(env_.File(file).c_str(), 65534, 65534), 0) << file;
  }
  ASSERT_EQ(chmod(env_.File("cluster").c_str(), 0711), 0);
  ASSERT_EQ(chmod(env_.File("cluster/ca.crt").c_str(), 0644), 0);
  env_.StartKcredd({}, {}, kAsNobody);
  auto kcred = [&](std::vector<std::string> args) {
    args.insert(args.begin(), BinaryPath("kcred"));
    return testing::Run(args, {{"KCRED_SERVER", "unix:" + env_.socket()}, {"HOME", env_.dir()}});
  };
  ASSERT_EQ(kcred({"provision", "dev/automation/ci-bot", "--rule", "get:pods"}).exit_code, 0);
  ASSERT_EQ(kcred({"token", "dev/automation/ci-bot", "--no-cache"}).exit_code, 0);

  ASSERT_EQ(chmod(env_.File("state/audit.log").c_str(), 0400), 0);
  RunResult token = kcred({"token", "dev/automation/ci-bot", "--no-cache"});
  EXPECT_EQ(token.exit_code, 1);
  EXPECT_EQ(token.out, "");
  EXPECT_THAT(token.err, HasSubstr("audit.required"));
  RunResult kubeconfig = kcred({"kubeconfig", "dev/automation/ci-bot"});
  EXPECT_EQ(kubeconfig.exit_code, 1);
  EXPECT_THAT(kubeconfig.out, ::testing::Not(HasSubstr("token:")));
  EXPECT_EQ(kcred({"get", "dev/automation/ci-bot"}).exit_code, 0);  // no secret, not withheld
  EXPECT_TRUE(env_.WaitForKcreddLog("the audit record could not be written"));

  ASSERT_EQ(chmod(env_.File("state/audit.log").c_str(), 0600), 0);
  EXPECT_EQ(kcred({"token", "dev/automation/ci-bot", "--no-cache"}).exit_code, 0);
}

// A name carrying a newline (sent raw, past kcred's own validation) is refused, and its record is
// one line among lines that all parse: it cannot forge a record, nor a log line.
TEST_F(AuditTest, ANewlineCannotForgeARecord) {
  Start("");
  const std::string forged = "{\"decision\":\"allow\",\"method\":\"GetToken\"}";
  RunResult r = testing::Run({BinaryPath("kcred-rpc"), "--server", "unix:" + env_.socket(), "--raw",
                              "get-token", "dev/automation/x\n" + forged});
  EXPECT_THAT(r.out, HasSubstr("INVALID_ARGUMENT"));
  const std::string audit = ReadFile(env_.File("state/audit.log")).value_or("");
  std::vector<std::string> lines = absl::StrSplit(audit, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u);
  json record = json::parse(lines[0]);
  EXPECT_EQ(record["account"], "dev/automation/x\n" + forged);
  EXPECT_EQ(record["code"], "INVALID_ARGUMENT");
  EXPECT_FALSE(absl::StrContains(audit, "\n" + forged));
  for (absl::string_view line : absl::StrSplit(env_.KcreddLog(), '\n')) {
    EXPECT_FALSE(absl::StartsWith(line, forged)) << line;
  }
}

// A declared account can be neither deleted, taken over, nor rotated with zero grace through the
// API; a rotation with a grace is fine.
TEST_F(AuditTest, DeclaredAccountCannotBeHijacked) {
  Start(
      "accounts:\n  items:\n  - account: dev/automation/declared\n"
      "    spec: {access: {rules: [{verbs: [get], resources: [pods]}]}}\n");
  ASSERT_TRUE(env_.WaitForKcreddLog("1 declared: 1 created")) << env_.KcreddLog();
  RunResult deleted = env_.Kcred({"delete", "dev/automation/declared", "--yes"});
  EXPECT_EQ(deleted.exit_code, 1);
  EXPECT_THAT(deleted.err, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_THAT(deleted.err, HasSubstr("accounts.prune: true"));
  RunResult taken = env_.Kcred({"provision", "dev/automation/declared", "--rule", "get,list:pods"});
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_THAT(taken.err, HasSubstr("declared in kcredd's configuration"));
  RunResult zero = env_.Kcred({"rotate", "dev/automation/declared", "--grace", "0s"});
  EXPECT_EQ(zero.exit_code, 1);
  EXPECT_THAT(zero.err, HasSubstr("grace above zero"));
  EXPECT_EQ(env_.Kcred({"rotate", "dev/automation/declared", "--grace", "30s"}).exit_code, 0);
  std::string account = env_.KcredOk({"get", "dev/automation/declared", "-o", "json"});
  json parsed = json::parse(account);
  EXPECT_EQ(parsed["origin"], "ORIGIN_CONFIG");
  EXPECT_EQ(parsed["status"]["generation"], "2");
  EXPECT_THAT(env_.LabelledObjects("declared"), HasSubstr("serviceaccount/declared"));
}

// 2,000 WatchAccounts streams from one caller: the first ones up to limits.watches_per_caller are
// served, every other is RESOURCE_EXHAUSTED, and kcredd's thread count stays bounded throughout.
TEST_F(AuditTest, ThousandsOfWatchStreamsAreCapped) {
  Start("limits:\n  watches_per_caller: 64\n  watches_total: 100\n");
  env_.KcredOk({"provision", "dev/automation/watched", "--rule", "get:pods"});
  const int threads_before = Threads(env_.kcredd()->pid());
  auto channel = grpc::CreateChannel("unix:" + env_.socket(), grpc::InsecureChannelCredentials());
  auto stub = v1::CredentialBroker::NewStub(channel);
  constexpr int kStreams = 2000;
  struct Stream {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientAsyncReader<v1::AccountEvent>> reader;
    v1::AccountEvent event;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Stream>> streams;
  grpc::CompletionQueue cq;
  v1::WatchAccountsRequest request;
  request.set_send_initial_state(true);
  auto tag = [](int stream, int step) {
    return reinterpret_cast<void*>(intptr_t{stream} * 4 + step);
  };
  for (int i = 0; i < kStreams; ++i) {
    streams.push_back(std::make_unique<Stream>());
    streams[i]->reader = stub->PrepareAsyncWatchAccounts(&streams[i]->context, request, &cq);
    streams[i]->reader->StartCall(tag(i, 0));
  }
  int accepted = 0, exhausted = 0, other = 0, max_threads = 0;
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(120);
  while (accepted + exhausted + other < kStreams) {
    void* got = nullptr;
    bool ok = false;
    if (cq.AsyncNext(&got, &ok, deadline) != grpc::CompletionQueue::GOT_EVENT) break;
    const intptr_t value = reinterpret_cast<intptr_t>(got);
    Stream& s = *streams[value / 4];
    switch (value % 4) {
      case 0:  // started: read the first event
        s.reader->Read(&s.event, tag(static_cast<int>(value / 4), 1));
        break;
      case 1:  // an event (the snapshot: accepted), or the end of a refused stream
        if (ok) {
          ++accepted;
          max_threads = std::max(max_threads, Threads(env_.kcredd()->pid()));
        } else {
          s.reader->Finish(&s.status, tag(static_cast<int>(value / 4), 2));
        }
        break;
      case 2:
        if (s.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          ++exhausted;
        } else {
          ++other;
          ADD_FAILURE() << "stream " << value / 4 << ": " << s.status.error_code() << " "
                        << s.status.error_message();
        }
        break;
    }
  }
  max_threads = std::max(max_threads, Threads(env_.kcredd()->pid()));
  std::cout << "kcredd threads: " << threads_before << " before, at most " << max_threads
            << " with " << accepted << " streams served and " << exhausted << " refused\n";
  EXPECT_EQ(accepted, 64);
  EXPECT_EQ(exhausted, kStreams - 64);
  // Each served stream holds one thread; refused ones return at once.
  EXPECT_LE(max_threads, threads_before + 64 + 40) << "before: " << threads_before;
  // The served streams end when cancelled; the refused ones already did.
  int open = 0;
  for (int i = 0; i < kStreams; ++i) {
    if (streams[i]->status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) continue;
    streams[i]->context.TryCancel();
    streams[i]->reader->Finish(&streams[i]->status, tag(i, 3));
    ++open;
  }
  for (; open > 0; --open) {
    void* got = nullptr;
    bool ok = false;
    ASSERT_EQ(cq.AsyncNext(&got, &ok, std::chrono::system_clock::now() + std::chrono::seconds(30)),
              grpc::CompletionQueue::GOT_EVENT);
  }
  cq.Shutdown();
  void* got = nullptr;
  bool ok = false;
  while (cq.Next(&got, &ok)) {
  }
  // The refusals are in the audit log, each naming the limit.
  int limited = 0;
  for (const json& record : AuditRecords(env_)) {
    if (record["code"] == "RESOURCE_EXHAUSTED") {
      ++limited;
      EXPECT_THAT(record["rule"].get<std::string>(), HasSubstr("limits.watches_per_caller"));
    }
  }
  EXPECT_EQ(limited, kStreams - 64);
}

}  // namespace
}  // namespace kcred::testing
