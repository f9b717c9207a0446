// `kcred token` driven through RunCli against a CredentialBroker that answers GetToken on a unix
// socket and counts the calls, with a cache in a temp dir and a clock the test moves by hand.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "absl/synchronization/mutex.h"
#include "client/arguments.h"
#include "client/cli.h"
#include "client/token_cache.h"
#include "proto/kcred/v1/broker.grpc.pb.h"
#include "tests/support/process.h"
#include "tests/support/simulated_clock.h"

namespace kcred::client {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const absl::Time kT0 = absl::FromUnixSeconds(1800000000);  // 2027-01-15T08:00:00Z
constexpr char kAccount[] = "dev/automation/ci-bot";

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp out;
  out.set_seconds(absl::ToUnixSeconds(t));
  return out;
}

// Answers GetToken with "token-<n>" (n counting the calls) expiring `lifetime` after `issued`,
// to be replaced at `issued + rotate_after`.
class TokenBroker final : public v1::CredentialBroker::Service {
 public:
  grpc::Status GetToken(grpc::ServerContext*, const v1::GetTokenRequest* request,
                        v1::GetTokenResponse* response) override {
    absl::MutexLock lock(&mu_);
    ++calls_;
    last_ref_ = FormatAccountRef(request->ref());
    if (!failure.ok()) return failure;
    response->set_token(absl::StrCat("token-", calls_));
    response->set_generation(calls_);
    *response->mutable_expire_time() = ToProto(issued + lifetime);
    *response->mutable_next_rotation_time() = ToProto(issued + rotate_after);
    return grpc::Status::OK;
  }
  int calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::string last_ref() const {
    absl::MutexLock lock(&mu_);
    return last_ref_;
  }

  absl::Time issued = kT0;
  absl::Duration lifetime = absl::Hours(1);
  absl::Duration rotate_after = absl::Minutes(45);
  grpc::Status failure = grpc::Status::OK;

 private:
  mutable absl::Mutex mu_;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_ref_ ABSL_GUARDED_BY(mu_);
};

struct CliResult {
  int code;
  std::string out;
  std::string err;
};

class TokenCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = dir_.File("kcredd.sock");
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + socket_, grpc::InsecureServerCredentials());
    builder.RegisterService(&broker_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    setenv("KCRED_CACHE_DIR", cache_dir().c_str(), 1);
    unsetenv("KUBERNETES_EXEC_INFO");
  }
  void TearDown() override {
    server_->Shutdown();
    unsetenv("KCRED_CACHE_DIR");
    unsetenv("KUBERNETES_EXEC_INFO");
  }

  std::string cache_dir() const { return dir_.File("cache/kcred"); }
  std::string server() const { return "unix:" + socket_; }
  std::string cache_file() const { return TokenCache(cache_dir()).PathFor(server(), kAccount); }

  CliResult Token(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--server", server(), "token", kAccount};
    args.insert(args.end(), extra.begin(), extra.end());
    std::istringstream in;
    std::ostringstream out, err;
    const int code = RunCli(args, in, out, err, clock_);
    return {code, out.str(), err.str()};
  }

  // The token of a successful run's ExecCredential, checking its shape.
  std::string TokenOf(const CliResult& r, const std::string& expiry = "") {
    EXPECT_EQ(r.code, 0) << r.err;
    const nlohmann::json cred = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_TRUE(cred.is_object()) << "stdout holds only the ExecCredential";
    if (!cred.is_object()) return "";
    EXPECT_EQ(cred["apiVersion"], "client.authentication.k8s.io/v1");
    EXPECT_EQ(cred["kind"], "ExecCredential");
    if (!expiry.empty()) {
      EXPECT_EQ(cred["status"]["expirationTimestamp"], expiry);
    }
    return cred["status"]["token"].get<std::string>();
  }

  kcred::testing::TempDir dir_;
  std::string socket_;
  TokenBroker broker_;
  std::unique_ptr<grpc::Server> server_;
  kcred::testing::SimulatedClock clock_{kT0, kcred::testing::SimulatedClock::SleepMode::kInstant};
};

// A miss asks kcredd and caches the token (0700 directory, 0600 file); later runs answer from the
// cache until the planned rotation.
TEST_F(TokenCommandTest, MissFetchesThenTheCacheAnswers) {
  // The planned rotation (08:45) comes before the expiry (09:00): that is when kubectl asks again.
  const CliResult first = Token();
  EXPECT_EQ(TokenOf(first, "2027-01-15T08:45:00Z"), "token-1");
  EXPECT_EQ(broker_.calls(), 1);
  EXPECT_EQ(broker_.last_ref(), kAccount);

  struct stat st {};
  ASSERT_EQ(stat(cache_dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(cache_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  clock_.Advance(absl::Minutes(10));
  EXPECT_EQ(TokenOf(Token(), "2027-01-15T08:45:00Z"), "token-1");
  clock_.Advance(absl::Minutes(10));
  EXPECT_EQ(TokenOf(Token()), "token-1");
  EXPECT_EQ(broker_.calls(), 1) << "the cache answered without calling kcredd";
}

// A cached token closer to its expiry than the 5m margin is refreshed, and the new one cached.
TEST_F(TokenCommandTest, ExpiringSoonRefreshes) {
  broker_.rotate_after =
      absl::Hours(10);  // no rotation in sight: only the expiry (less 2s) matters
  EXPECT_EQ(TokenOf(Token(), "2027-01-15T08:59:58Z"), "token-1");
  clock_.Advance(absl::Minutes(54));  // 6m left: more than the 5m margin
  EXPECT_EQ(TokenOf(Token()), "token-1");
  EXPECT_EQ(broker_.calls(), 1);
  clock_.Advance(absl::Minutes(2));  // 4m left
  broker_.issued = clock_.Now();
  EXPECT_EQ(TokenOf(Token()), "token-2");
  EXPECT_EQ(broker_.calls(), 2);
  clock_.Advance(absl::Minutes(2));
  EXPECT_EQ(TokenOf(Token()), "token-2") << "the refreshed token went into the cache";
  EXPECT_EQ(broker_.calls(), 2);
}

// --min-remaining raises the margin a cached token must still have.
TEST_F(TokenCommandTest, MinRemainingRaisesTheMargin) {
  broker_.rotate_after = absl::Hours(10);
  EXPECT_EQ(TokenOf(Token()), "token-1");
  clock_.Advance(absl::Minutes(40));  // 20m left
  EXPECT_EQ(TokenOf(Token({"--min-remaining", "10m"})), "token-1");
  EXPECT_EQ(TokenOf(Token({"--min-remaining", "30m"})), "token-2");
  EXPECT_EQ(broker_.calls(), 2);
}

// The planned rotation time ends a cached token's use even though it has not expired.
TEST_F(TokenCommandTest, PlannedRotationTimeEndsTheCache) {
  EXPECT_EQ(TokenOf(Token()), "token-1");
  clock_.Advance(absl::Minutes(45));
  broker_.issued = clock_.Now();
  EXPECT_EQ(TokenOf(Token(), "2027-01-15T09:30:00Z"), "token-2");
  EXPECT_EQ(broker_.calls(), 2);
}

// A rerun right after an answer (kubectl retrying after a 401) asks kcredd again.
TEST_F(TokenCommandTest, ARerunRightAfterAnAnswerAsksKcredd) {
  // The same parent process running the plugin again at once got a 401 with the cached token.
  EXPECT_EQ(TokenOf(Token()), "token-1");
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(TokenOf(Token()), "token-2");
  EXPECT_EQ(broker_.calls(), 2);
}

// --no-cache neither reads nor writes the cache.
TEST_F(TokenCommandTest, NoCacheNeitherReadsNorWrites) {
  EXPECT_EQ(TokenOf(Token({"--no-cache"})), "token-1");
  struct stat st {};
  EXPECT_NE(stat(cache_file().c_str(), &st), 0);
  clock_.Advance(absl::Minutes(5));
  EXPECT_EQ(TokenOf(Token()), "token-2");
  clock_.Advance(absl::Minutes(5));
  EXPECT_EQ(TokenOf(Token({"--no-cache"})), "token-3");
  EXPECT_EQ(broker_.calls(), 3);
}

// A cache file that is not JSON is reported, ignored and replaced.
TEST_F(TokenCommandTest, CorruptCacheIsReplaced) {
  ASSERT_EQ(mkdir(dir_.File("cache").c_str(), 0700), 0);
  ASSERT_EQ(mkdir(cache_dir().c_str(), 0700), 0);
  ASSERT_TRUE(kcred::testing::WriteFile(cache_file(), "{not json", 0600).ok());
  const CliResult r = Token();
  EXPECT_EQ(TokenOf(r), "token-1");
  EXPECT_THAT(r.err, HasSubstr("ignoring the cache"));
  clock_.Advance(absl::Minutes(5));
  EXPECT_EQ(TokenOf(Token()), "token-1");
  EXPECT_EQ(broker_.calls(), 1);
}

// A cache file others may read is ignored, never quoted, and replaced with mode 0600.
TEST_F(TokenCommandTest, CacheFileOpenToOthersIsIgnoredAndReplaced) {
  EXPECT_EQ(TokenOf(Token()), "token-1");
  ASSERT_EQ(chmod(cache_file().c_str(), 0644), 0);
  clock_.Advance(absl::Minutes(5));
  const CliResult r = Token();
  EXPECT_EQ(TokenOf(r), "token-2");
  EXPECT_THAT(r.err, HasSubstr("mode 0644"));
  EXPECT_THAT(r.err, Not(HasSubstr("token-1")));
  struct stat st {};
  ASSERT_EQ(stat(cache_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// The ExecCredential answers in the apiVersion KUBERNETES_EXEC_INFO asks for.
TEST_F(TokenCommandTest, AcceptsKubernetesExecInfo) {
  setenv("KUBERNETES_EXEC_INFO",
         R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1",)"
         R"("spec":{"interactive":false}})",
         1);
  EXPECT_EQ(TokenOf(Token()), "token-1");
  setenv("KUBERNETES_EXEC_INFO",
         R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1"})", 1);
  clock_.Advance(absl::Minutes(5));
  const CliResult r = Token();
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["apiVersion"], "client.authentication.k8s.io/v1beta1");
}

// A failure is exit 1 with the message on stderr and nothing on stdout.
TEST_F(TokenCommandTest, FailureGoesToStderrWithExit1AndNothingOnStdout) {
  broker_.failure = grpc::Status(grpc::StatusCode::NOT_FOUND, "account dev/automation/ci-bot");
  const CliResult r = Token();
  EXPECT_EQ(r.code, kExitFailed);
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_THAT(r.err, HasSubstr("kcred token: "));
}

// An unreachable kcredd falls back to a cached token while it is valid, and fails once it expired.
TEST_F(TokenCommandTest, UnreachableKcreddFallsBackToTheStillValidCachedToken) {
  broker_.rotate_after = absl::Hours(10);
  EXPECT_EQ(TokenOf(Token()), "token-1");
  clock_.Advance(absl::Minutes(57));  // 3m left: inside the margin, but still valid
  broker_.failure = grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused");
  const CliResult r = Token();
  EXPECT_EQ(TokenOf(r, "2027-01-15T08:59:58Z"), "token-1");
  EXPECT_THAT(r.err,
              HasSubstr("answering with the cached token, valid until 2027-01-15T09:00:00Z"));
  EXPECT_EQ(broker_.calls(), 2);

  clock_.Advance(absl::Minutes(4));  // expired: nothing to fall back to
  const CliResult expired = Token();
  EXPECT_EQ(expired.code, kExitFailed);
  EXPECT_THAT(expired.out, IsEmpty());
}

// A denied or missing account never falls back to the cache.
TEST_F(TokenCommandTest, ADeniedOrMissingAccountNeverFallsBackToTheCache) {
  broker_.rotate_after = absl::Hours(10);
  EXPECT_EQ(TokenOf(Token()), "token-1");
  clock_.Advance(absl::Minutes(57));
  broker_.failure = grpc::Status(grpc::StatusCode::NOT_FOUND, "no account dev/automation/ci-bot");
  const CliResult r = Token();
  EXPECT_EQ(r.code, kExitFailed);
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_THAT(r.err, Not(HasSubstr("token-1")));
}

// Usage errors exit 2, print nothing on stdout, and call nothing.
TEST_F(TokenCommandTest, UsageErrorsExit2) {
  std::istringstream in;
  std::ostringstream out, err;
  EXPECT_EQ(RunCli({"--server", server(), "token"}, in, out, err, clock_), kExitUsage);
  EXPECT_EQ(RunCli({"--server", server(), "token", "not-a-ref"}, in, out, err, clock_), kExitUsage);
  EXPECT_EQ(RunCli({"--server", server(), "token", kAccount, "--min-remaining", "soon"}, in, out,
                   err, clock_),
            kExitUsage);
  EXPECT_THAT(out.str(), IsEmpty());
  EXPECT_EQ(broker_.calls(), 0);
}

}  // namespace
}  // namespace kcred::client
