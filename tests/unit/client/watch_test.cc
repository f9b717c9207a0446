#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <deque>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/cli.h"
#include "client/watch_command.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/kcred/v1/broker.grpc.pb.h"
#include "tests/support/process.h"
#include "tests/support/simulated_clock.h"

namespace kcred::client {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kPatience = absl::Seconds(20);

// GetKubeconfig with a settable answer; WatchAccounts streams what the test pushes.
class WatchBroker final : public v1::CredentialBroker::Service {
 public:
  void SetKubeconfig(const std::string& kubeconfig, grpc::Status status = grpc::Status::OK) {
    absl::MutexLock lock(&mu_);
    kubeconfig_ = kubeconfig;
    kubeconfig_status_ = status;
  }
  void Push(v1::EventType type, const std::string& token) {
    v1::AccountEvent event;
    event.set_type(type);
    event.set_resume_token(token);
    absl::MutexLock lock(&mu_);
    queue_.push_back(event);
  }
  // Ends the current stream with `status`.
  void EndStream(grpc::Status status) {
    absl::MutexLock lock(&mu_);
    end_ = status;
  }
  void Close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }
  std::vector<v1::WatchAccountsRequest> WatchRequests() {
    absl::MutexLock lock(&mu_);
    return watch_requests_;
  }
  // Waits until `n` WatchAccounts calls have arrived.
  bool AwaitWatchCalls(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return watch_requests_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kPatience);
  }

  grpc::Status GetKubeconfig(grpc::ServerContext*, const v1::GetKubeconfigRequest*,
                             v1::GetKubeconfigResponse* response) override {
    absl::MutexLock lock(&mu_);
    if (!kubeconfig_status_.ok()) return kubeconfig_status_;
    response->set_kubeconfig(kubeconfig_);
    return grpc::Status::OK;
  }

  grpc::Status WatchAccounts(grpc::ServerContext* context, const v1::WatchAccountsRequest* request,
                             grpc::ServerWriter<v1::AccountEvent>* writer) override {
    {
      absl::MutexLock lock(&mu_);
      watch_requests_.push_back(*request);
      if (request->send_initial_state()) {
        v1::AccountEvent snapshot;
        snapshot.set_type(v1::EVENT_TYPE_SNAPSHOT);
        snapshot.set_resume_token("start");
        queue_.push_front(snapshot);
      }
    }
    for (;;) {
      v1::AccountEvent event;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return closed_ || end_.has_value() || !queue_.empty();
        };
        mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(50));
        if (closed_ || context->IsCancelled()) return grpc::Status::CANCELLED;
        if (end_.has_value()) {
          grpc::Status status = *end_;
          end_.reset();
          return status;
        }
        if (queue_.empty()) continue;
        event = queue_.front();
        queue_.pop_front();
      }
      if (!writer->Write(event)) return grpc::Status::CANCELLED;
    }
  }

 private:
  absl::Mutex mu_;
  std::string kubeconfig_ ABSL_GUARDED_BY(mu_);
  grpc::Status kubeconfig_status_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::AccountEvent> queue_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> end_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<v1::WatchAccountsRequest> watch_requests_ ABSL_GUARDED_BY(mu_);
};

// Counts writes reported by the watch; waits for a given count.
class Writes {
 public:
  void Add(const std::string& why) {
    absl::MutexLock lock(&mu_);
    whys_.push_back(why);
  }
  bool Await(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return whys_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kPatience);
  }
  std::vector<std::string> whys() {
    absl::MutexLock lock(&mu_);
    return whys_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> whys_ ABSL_GUARDED_BY(mu_);
};

class WatchTest : public ::testing::Test {
 protected:
  WatchTest() : socket_(dir_.File("kcredd.sock")) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + socket_, grpc::InsecureServerCredentials());
    builder.RegisterService(&broker_);
    server_ = builder.BuildAndStart();
    options_.ref.set_cluster("dev");
    options_.ref.set_namespace_("automation");
    options_.ref.set_name("ci-bot");
    options_.output = dir_.File("watched.kubeconfig");
    options_.after_write = [this](const std::string& why) { writes_.Add(why); };
  }
  ~WatchTest() override {
    broker_.Close();
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  }

  // Runs the watch on a thread; Join() returns its exit code.
  void Start() {
    thread_ = std::thread([this] {
      CommandContext ctx{connection(), out_, err_, in_, clock_};
      code_ = RunWatch(options_, ctx, stop_);
    });
  }
  int Join() {
    thread_.join();
    return code_;
  }
  ConnectionOptions connection() {
    ConnectionOptions c;
    c.server = "unix:" + socket_;
    return c;
  }
  std::string File() {
    auto s = ReadFileToString(options_.output);
    return s.ok() ? *s : "<missing>";
  }

  kcred::testing::TempDir dir_;
  std::string socket_;
  WatchBroker broker_;
  std::unique_ptr<grpc::Server> server_;
  WatchOptions options_;
  Writes writes_;
  WatchStop stop_;
  std::ostringstream out_, err_;
  std::istringstream in_;
  // The reconnect backoff waits on this clock: only the test's Advance ends it.
  kcred::testing::SimulatedClock clock_;
  std::thread thread_;
  int code_ = -1;
};

// Each event that changes the kubeconfig rewrites the file (0600) and runs --exec once; events
// that leave it unchanged write nothing; a deleted account ends the watch with exit 1.
TEST_F(WatchTest, RewritesOnRotationRunsTheCommandAndSkipsUnchangedContent) {
  const std::string runs = dir_.File("runs");
  options_.exec = "echo \"$KCRED_KUBECONFIG $KUBECONFIG\" >> '" + runs + "'";
  broker_.SetKubeconfig("generation: 1\n");
  Start();
  ASSERT_TRUE(writes_.Await(1));
  EXPECT_EQ(File(), "generation: 1\n");
  struct stat st {};
  ASSERT_EQ(stat(options_.output.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(broker_.AwaitWatchCalls(1));

  broker_.Push(v1::EVENT_TYPE_ROTATED, "t1");  // same content: no write, no command
  broker_.SetKubeconfig("generation: 2\n");
  // Content set after the push may or may not be fetched for t1; either way one write follows.
  broker_.Push(v1::EVENT_TYPE_ROTATED, "t2");
  ASSERT_TRUE(writes_.Await(2));
  broker_.Push(v1::EVENT_TYPE_REVOKED, "t3");
  broker_.Push(v1::EVENT_TYPE_UPDATED, "t4");  // unchanged again
  broker_.SetKubeconfig("generation: 3\n");
  broker_.Push(v1::EVENT_TYPE_ROTATED, "t5");
  ASSERT_TRUE(writes_.Await(3));
  EXPECT_EQ(File(), "generation: 3\n");
  broker_.Push(v1::EVENT_TYPE_DELETED, "t6");
  EXPECT_EQ(Join(), kExitFailed);
  EXPECT_THAT(err_.str(), HasSubstr("was deleted"));
  // Exactly one write per distinct content, one command run per write.
  EXPECT_EQ(writes_.whys().size(), 3u);
  auto lines = ReadFileToString(runs);
  ASSERT_TRUE(lines.ok());
  const std::string expected = options_.output + " " + options_.output + "\n";
  EXPECT_EQ(*lines, expected + expected + expected);
}

// A stop request ends a running watch with exit 0.
TEST_F(WatchTest, StopEndsTheWatchWithExitZero) {
  broker_.SetKubeconfig("generation: 1\n");
  Start();
  ASSERT_TRUE(writes_.Await(1));
  ASSERT_TRUE(broker_.AwaitWatchCalls(1));
  stop_.Request();
  EXPECT_EQ(Join(), kExitOk);
}

// When kcredd goes away the watch reconnects after its backoff, resumes after the last event it
// saw, and fetches the kubeconfig again.
TEST_F(WatchTest, ReconnectsResumingAfterTheLastEventAndFetchesAgain) {
  broker_.SetKubeconfig("generation: 1\n");
  Start();
  ASSERT_TRUE(broker_.AwaitWatchCalls(1));
  EXPECT_TRUE(broker_.WatchRequests()[0].resume_token().empty());
  EXPECT_TRUE(broker_.WatchRequests()[0].send_initial_state());
  EXPECT_EQ(broker_.WatchRequests()[0].selector().name(), "ci-bot");
  broker_.SetKubeconfig("generation: 2\n");
  broker_.Push(v1::EVENT_TYPE_ROTATED, "t1");
  ASSERT_TRUE(writes_.Await(2));
  // kcredd goes away; while it is away the account rotates.
  broker_.SetKubeconfig("generation: 3\n");
  broker_.EndStream(grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting"));
  // It waits out the first backoff (half to all of initial_backoff) and does not call before.
  ASSERT_TRUE(clock_.AwaitBlocked(1));
  const absl::Time reconnect = clock_.EarliestDeadline().value_or(absl::InfiniteFuture());
  EXPECT_GE(reconnect - clock_.Now(), options_.initial_backoff / 2);
  EXPECT_LE(reconnect - clock_.Now(), options_.initial_backoff);
  EXPECT_EQ(broker_.WatchRequests().size(), 1u);
  clock_.AdvanceTo(reconnect);
  ASSERT_TRUE(broker_.AwaitWatchCalls(2));
  EXPECT_EQ(broker_.WatchRequests()[1].resume_token(), "t1");
  EXPECT_FALSE(broker_.WatchRequests()[1].send_initial_state());
  ASSERT_TRUE(writes_.Await(3));
  EXPECT_EQ(File(), "generation: 3\n");
  stop_.Request();
  EXPECT_EQ(Join(), kExitOk);
  EXPECT_THAT(err_.str(), HasSubstr("reconnecting"));
}

// A fetch that fails after a rotation is not left until the next event: the watch reconnects
// after its backoff and fetches again, so the file does not keep the previous token past its grace.
TEST_F(WatchTest, FailedFetchAfterARotationIsRetried) {
  broker_.SetKubeconfig("generation: 1\n");
  Start();
  ASSERT_TRUE(writes_.Await(1));
  ASSERT_TRUE(broker_.AwaitWatchCalls(1));
  broker_.SetKubeconfig("", grpc::Status(grpc::StatusCode::UNAVAILABLE, "busy"));
  broker_.Push(v1::EVENT_TYPE_ROTATED, "t1");
  ASSERT_TRUE(clock_.AwaitBlocked(1));  // the reconnect backoff
  broker_.SetKubeconfig("generation: 2\n");
  clock_.AdvanceTo(clock_.EarliestDeadline().value_or(absl::InfiniteFuture()));
  ASSERT_TRUE(writes_.Await(2));
  EXPECT_EQ(File(), "generation: 2\n");
  EXPECT_THAT(err_.str(), HasSubstr("fetching again after reconnecting"));
  stop_.Request();
  EXPECT_EQ(Join(), kExitOk);
}

// RESYNC_REQUIRED makes the watch fetch the kubeconfig again.
TEST_F(WatchTest, ResyncRequiredFetchesAgain) {
  broker_.SetKubeconfig("generation: 1\n");
  Start();
  ASSERT_TRUE(broker_.AwaitWatchCalls(1));
  broker_.SetKubeconfig("generation: 2\n");
  broker_.Push(v1::EVENT_TYPE_RESYNC_REQUIRED, "t9");
  ASSERT_TRUE(writes_.Await(2));
  EXPECT_EQ(File(), "generation: 2\n");
  stop_.Request();
  EXPECT_EQ(Join(), kExitOk);
}

// An unknown account fails at once with exit 1 and writes no file.
TEST_F(WatchTest, UnknownAccountFailsAtOnce) {
  broker_.SetKubeconfig("", grpc::Status(grpc::StatusCode::NOT_FOUND, "account not found"));
  Start();
  EXPECT_EQ(Join(), kExitFailed);
  EXPECT_THAT(err_.str(), HasSubstr("account not found"));
  EXPECT_EQ(File(), "<missing>");
}

// Usage errors exit 2 naming what is missing; --help shows examples and the environment.
TEST(WatchCommandTest, UsageErrorsAndHelp) {
  kcred::testing::SimulatedClock clock;
  std::istringstream in;
  {
    std::ostringstream out, err;
    EXPECT_EQ(RunCli({"watch", "dev/automation/ci-bot"}, in, out, err, clock), kExitUsage);
    EXPECT_THAT(err.str(), HasSubstr("-o FILE"));
  }
  {
    std::ostringstream out, err;
    EXPECT_EQ(RunCli({"watch", "-o", "x"}, in, out, err, clock), kExitUsage);
    EXPECT_THAT(err.str(), HasSubstr("CLUSTER/NAMESPACE/NAME"));
  }
  {
    std::ostringstream out, err;
    EXPECT_EQ(RunCli({"watch", "--help"}, in, out, err, clock), kExitOk);
    EXPECT_THAT(out.str(), HasSubstr("Examples:"));
    EXPECT_THAT(out.str(), HasSubstr("KCRED_KUBECONFIG"));
  }
}

}  // namespace
}  // namespace kcred::client
