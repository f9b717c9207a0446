#include "daemon/kube/http_kube_client.h"

#include <sys/stat.h>

#include <atomic>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "daemon/kube/kube_status.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"
#include "tests/support/simulated_clock.h"
#include "tests/unit/daemon/kube/test_pki.h"

namespace kcred::kube {
namespace {

using ::kcred::testing::SimulatedClock;
using testing::CertifiedKey;
using testing::TestCa;

struct Reply {
  int status = 200;
  std::string body;
  std::map<std::string, std::string> headers;
};

struct Seen {
  std::string method;
  std::string path;  // with the query string
  std::string authorization;
  std::string user_agent;
  std::string body;
};

// An HTTPS server on 127.0.0.1 with scripted answers: queued replies first, then `fallback`.
class TestApiServer {
 public:
  explicit TestApiServer(const CertifiedKey& identity, X509_STORE* client_cas = nullptr)
      : server_(identity.cert.get(), identity.key.get(), client_cas) {
    server_.set_keep_alive_max_count(1000);
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      Handle(req, res);
    };
    server_.Get(".*", handler);
    server_.Post(".*", handler);
    server_.Put(".*", handler);
    server_.Delete(".*", handler);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() is a no-op until the accept loop runs; wait for it so the destructor cannot hang.
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~TestApiServer() {
    release_.store(true);
    server_.stop();
    thread_.join();
  }

  std::string url() const { return absl::StrCat("https://127.0.0.1:", port_); }
  void Queue(Reply reply) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(reply));
  }
  void SetFallback(std::function<Reply(const httplib::Request&)> fallback) {
    std::lock_guard<std::mutex> lock(mu_);
    fallback_ = std::move(fallback);
  }
  // Makes every request hang until the server is destroyed.
  void Hang() { hang_.store(true); }
  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  // Distinct client ports seen: the number of TCP connections that carried requests.
  size_t connections() {
    std::lock_guard<std::mutex> lock(mu_);
    return ports_.size();
  }

 private:
  void Handle(const httplib::Request& req, httplib::Response& res) {
    Reply reply;
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::string path = req.path;
      if (!req.params.empty()) {
        std::string query;
        for (const auto& [k, v] : req.params) {
          absl::StrAppend(&query, query.empty() ? "?" : "&", k, "=", v);
        }
        path += query;
      }
      seen_.push_back({req.method, path, req.get_header_value("Authorization"),
                       req.get_header_value("User-Agent"), req.body});
      ports_.insert(req.remote_port);
      if (!queue_.empty()) {
        reply = queue_.front();
        queue_.pop_front();
      } else if (fallback_) {
        reply = fallback_(req);
      } else {
        reply = Reply{200, R"({"major":"1","minor":"31","gitVersion":"v1.31.0"})", {}};
      }
    }
    while (hang_.load() && !release_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    res.status = reply.status;
    for (const auto& [k, v] : reply.headers) res.set_header(k, v);
    res.set_content(reply.body, "application/json");
  }

  httplib::SSLServer server_;
  int port_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::deque<Reply> queue_;
  std::function<Reply(const httplib::Request&)> fallback_;
  std::vector<Seen> seen_;
  std::set<int> ports_;
  std::atomic<bool> hang_{false};
  std::atomic<bool> release_{false};
};

std::string StatusJson(int code, const std::string& reason, const std::string& message) {
  return MakeStatusBody(code, reason, message).dump();
}

class HttpKubeClientTest : public ::testing::Test {
 protected:
  HttpKubeClientTest() : ca_("test cluster CA"), server_identity_(ca_.IssueServer()) {
    log_sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_);
    logger_ = std::make_shared<spdlog::logger>("kube-test", log_sink_);
    logger_->set_level(spdlog::level::trace);
  }

  HttpKubeClientOptions Options(const TestApiServer& server) {
    HttpKubeClientOptions options;
    options.cluster_name = "dev";
    options.server = server.url();
    options.ca_pem = ca_.cert_pem();
    options.credential = MakeStaticTokenCredential(SecretString(kToken));
    options.logger = logger_;
    options.qps = 1000;
    options.burst = 1000;
    return options;
  }

  std::unique_ptr<HttpKubeClient> MakeClient(HttpKubeClientOptions options) {
    auto client = HttpKubeClient::Create(std::move(options), clock_);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  absl::Time Deadline() { return clock_.Now() + absl::Seconds(30); }

  static constexpr const char* kToken = "eyJhbGciOiJSUzI1NiJ9.s3cr3t-kcredd-token.sig";

  TestCa ca_;
  CertifiedKey server_identity_;
  // Retries and the token bucket sleep on the calling thread: each sleep moves time at once.
  SimulatedClock clock_{SimulatedClock::SleepMode::kInstant};
  std::ostringstream log_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> log_sink_;
  std::shared_ptr<spdlog::logger> logger_;
};

// A server whose certificate the cluster CA signed is trusted; the bearer token and user agent
// arrive.
TEST_F(HttpKubeClientTest, TalksToServerSignedByClusterCa) {
  TestApiServer server(server_identity_);
  auto client = MakeClient(Options(server));
  absl::StatusOr<ServerVersion> version = client->GetServerVersion(Deadline());
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->git_version, "v1.31.0");
  EXPECT_EQ(version->minor, "31");
  ASSERT_EQ(server.seen().size(), 1u);
  EXPECT_EQ(server.seen()[0].path, "/version");
  EXPECT_EQ(server.seen()[0].authorization, absl::StrCat("Bearer ", kToken));
  EXPECT_TRUE(absl::StartsWith(server.seen()[0].user_agent, "kcred/"))
      << server.seen()[0].user_agent;
}

// A server certificate from another CA is refused before any request is sent, and not retried.
TEST_F(HttpKubeClientTest, RefusesServerFromAnotherCa) {
  TestCa other("some other CA");
  TestApiServer server(other.IssueServer());
  auto client = MakeClient(Options(server));
  absl::StatusOr<ServerVersion> version = client->GetServerVersion(Deadline());
  ASSERT_FALSE(version.ok());
  EXPECT_EQ(version.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(version.status().message(), "cluster CA")) << version.status();
  EXPECT_TRUE(absl::StrContains(version.status().message(), "cluster \"dev\"")) << version.status();
  EXPECT_TRUE(server.seen().empty());
  EXPECT_TRUE(clock_.sleeps().empty()) << "a verification failure must not be retried";
}

// A PEM that holds no certificate is refused at construction.
TEST_F(HttpKubeClientTest, CreateValidatesOptions) {
  TestApiServer server(server_identity_);
  HttpKubeClientOptions options = Options(server);
  options.ca_pem = "not a certificate";
  EXPECT_EQ(HttpKubeClient::Create(options, clock_).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options(server);
  options.server = "http://127.0.0.1:1";
  EXPECT_EQ(HttpKubeClient::Create(options, clock_).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options(server);
  options.credential = nullptr;
  EXPECT_EQ(HttpKubeClient::Create(options, clock_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Sequential calls reuse one kept-alive TCP connection.
TEST_F(HttpKubeClientTest, ReusesConnection) {
  TestApiServer server(server_identity_);
  auto client = MakeClient(Options(server));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(client->GetServerVersion(Deadline()).ok());
  EXPECT_EQ(server.seen().size(), 10u);
  EXPECT_EQ(server.connections(), 1u);
}

// Concurrent callers each get a connection, and those connections are reused afterwards.
TEST_F(HttpKubeClientTest, ConcurrentCallersShareThePool) {
  TestApiServer server(server_identity_);
  auto client = MakeClient(Options(server));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        if (client->GetServerVersion(Deadline()).ok()) ++ok;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 40);
  EXPECT_LE(server.connections(), 4u);
}

// Every request takes a slot from the cluster's token bucket: past the burst, calls are paced at
// qps on the (simulated) clock.
TEST_F(HttpKubeClientTest, PacesRequestsWithTokenBucket) {
  TestApiServer server(server_identity_);
  HttpKubeClientOptions options = Options(server);
  options.qps = 2;
  options.burst = 2;
  auto client = MakeClient(options);
  const absl::Time start = clock_.Now();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client->GetServerVersion(Deadline()).ok());
  EXPECT_EQ(clock_.Now() - start, absl::Milliseconds(1500));
  EXPECT_EQ(server.seen().size(), 5u);
  // A deadline the bucket cannot meet fails without sending.
  absl::StatusOr<ServerVersion> late =
      client->GetServerVersion(clock_.Now() + absl::Milliseconds(100));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(absl::StrContains(late.status().message(), "GET /version")) << late.status();
  EXPECT_EQ(server.seen().size(), 5u);
}

// 503 is retried (with backoff, not Retry-After) until it succeeds.
TEST_F(HttpKubeClientTest, RetriesServiceUnavailable) {
  TestApiServer server(server_identity_);
  server.Queue({503, StatusJson(503, "ServiceUnavailable", "apiserver is starting"), {}});
  server.Queue({503, StatusJson(503, "ServiceUnavailable", "apiserver is starting"), {}});
  HttpKubeClientOptions options = Options(server);
  options.backoff = BackoffPolicy{absl::Seconds(1), absl::Seconds(10), 2.0};
  auto client = MakeClient(options);
  absl::StatusOr<nlohmann::json> sa =
      client->Get(Resource::kServiceAccount, "ns", "sa", Deadline());
  ASSERT_TRUE(sa.ok()) << sa.status();
  EXPECT_EQ(server.seen().size(), 3u);
  std::vector<absl::Duration> sleeps = clock_.sleeps();
  ASSERT_EQ(sleeps.size(), 2u);
  EXPECT_LE(sleeps[0], absl::Seconds(1));
  EXPECT_LE(sleeps[1], absl::Seconds(2));
}

// 429 is retried after exactly the server's Retry-After, also for a POST.
TEST_F(HttpKubeClientTest, HonoursRetryAfterOn429) {
  TestApiServer server(server_identity_);
  server.Queue(
      {429, StatusJson(429, "TooManyRequests", "too many requests"), {{"Retry-After", "3"}}});
  server.Queue({201, R"({"metadata":{"name":"sa","namespace":"ns","uid":"u1"}})", {}});
  auto client = MakeClient(Options(server));
  const absl::Time start = clock_.Now();
  absl::StatusOr<nlohmann::json> created = client->Create(
      Resource::kServiceAccount, {{"metadata", {{"name", "sa"}, {"namespace", "ns"}}}}, Deadline());
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["metadata"]["uid"], "u1");
  EXPECT_EQ(clock_.Now() - start, absl::Seconds(3));
  ASSERT_EQ(server.seen().size(), 2u);
  EXPECT_EQ(server.seen()[1].method, "POST");
  EXPECT_EQ(server.seen()[1].path, "/api/v1/namespaces/ns/serviceaccounts");
  nlohmann::json body = nlohmann::json::parse(server.seen()[1].body);
  EXPECT_EQ(body["apiVersion"], "v1");
  EXPECT_EQ(body["kind"], "ServiceAccount");
}

// Without a Retry-After header, the Status body's details.retryAfterSeconds sets the wait.
TEST_F(HttpKubeClientTest, HonoursRetryAfterSecondsInStatusBody) {
  TestApiServer server(server_identity_);
  nlohmann::json body = MakeStatusBody(429, "TooManyRequests", "storage is (re)initializing");
  body["details"] = {{"retryAfterSeconds", 2}};
  server.Queue({429, body.dump(), {}});
  auto client = MakeClient(Options(server));
  const absl::Time start = clock_.Now();
  ASSERT_TRUE(client->GetServerVersion(Deadline()).ok());
  EXPECT_EQ(clock_.Now() - start, absl::Seconds(2));
  EXPECT_EQ(server.seen().size(), 2u);
}

// A POST answered 500 may have been applied: it is not repeated. A GET is.
TEST_F(HttpKubeClientTest, DoesNotRepeatPostAfter500) {
  TestApiServer server(server_identity_);
  server.SetFallback([](const httplib::Request&) {
    return Reply{500, StatusJson(500, "InternalError", "etcdserver: request timed out"), {}};
  });
  auto client = MakeClient(Options(server));
  absl::StatusOr<nlohmann::json> created = client->Create(
      Resource::kSecret, {{"metadata", {{"name", "anchor"}, {"namespace", "ns"}}}}, Deadline());
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(created.status().message(), "etcdserver: request timed out"));
  EXPECT_EQ(server.seen().size(), 1u);

  HttpKubeClientOptions options = Options(server);
  options.max_attempts = 3;
  auto get_client = MakeClient(options);
  absl::StatusOr<nlohmann::json> got =
      get_client->Get(Resource::kSecret, "ns", "anchor", Deadline());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(got.status().message(), "gave up after 3 attempts"))
      << got.status();
  EXPECT_EQ(server.seen().size(), 4u);
}

// A Retry-After beyond the deadline ends the call at once with the server's answer.
TEST_F(HttpKubeClientTest, RetryAfterBeyondDeadlineIsNotAwaited) {
  TestApiServer server(server_identity_);
  server.Queue({429, StatusJson(429, "TooManyRequests", "slow down"), {{"Retry-After", "30"}}});
  auto client = MakeClient(Options(server));
  const absl::Time start = clock_.Now();
  absl::StatusOr<nlohmann::json> got =
      client->Get(Resource::kNamespace, "", "ns", start + absl::Seconds(5));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(got.status().message(), "deadline")) << got.status();
  EXPECT_EQ(clock_.Now(), start);
  EXPECT_EQ(server.seen().size(), 1u);
}

// A server that does not answer is abandoned at the deadline (real time: this is curl's timer).
TEST_F(HttpKubeClientTest, DeadlineBoundsAHangingServer) {
  TestApiServer server(server_identity_);
  server.Hang();
  RealClock real_clock;
  HttpKubeClientOptions options = Options(server);
  auto client = HttpKubeClient::Create(options, real_clock);
  ASSERT_TRUE(client.ok());
  const absl::Time start = absl::Now();
  absl::StatusOr<nlohmann::json> got =
      (*client)->Get(Resource::kNamespace, "", "ns", start + absl::Milliseconds(300));
  absl::Duration took = absl::Now() - start;
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDeadlineExceeded) << got.status();
  EXPECT_LT(took, absl::Seconds(3));
}

// Cancel aborts a request the server never answers (the call ends CANCELLED, not at its five-minute
// deadline), and later calls fail CANCELLED without sending anything.
TEST_F(HttpKubeClientTest, CancelAbortsARequestInFlightAndRefusesLaterOnes) {
  TestApiServer server(server_identity_);
  server.Hang();
  RealClock real_clock;
  auto client = HttpKubeClient::Create(Options(server), real_clock);
  ASSERT_TRUE(client.ok());
  absl::StatusOr<nlohmann::json> got;
  std::thread call([&] {
    got = (*client)->Get(Resource::kNamespace, "", "ns", real_clock.Now() + absl::Minutes(5));
  });
  for (int i = 0; i < 2000 && server.seen().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(server.seen().size(), 1u) << "the request never reached the server";
  (*client)->Cancel();
  call.join();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kCancelled) << got.status();
  EXPECT_TRUE(absl::StrContains(got.status().message(), "kcredd is stopping")) << got.status();
  absl::StatusOr<ServerVersion> later =
      (*client)->GetServerVersion(real_clock.Now() + absl::Seconds(5));
  EXPECT_EQ(later.status().code(), absl::StatusCode::kCancelled) << later.status();
  EXPECT_EQ(server.seen().size(), 1u);
}

// A cancelled client's retry wait (the server asked for 60 s) ends at once with CANCELLED.
TEST_F(HttpKubeClientTest, CancelEndsARetryWait) {
  TestApiServer server(server_identity_);
  server.Queue(
      {429, StatusJson(429, "TooManyRequests", "too many requests"), {{"Retry-After", "60"}}});
  SimulatedClock clock;  // kBlock: the retry wait lasts until the test advances time, or Cancel
  HttpKubeClientOptions options = Options(server);
  auto client = HttpKubeClient::Create(options, clock);
  ASSERT_TRUE(client.ok());
  absl::StatusOr<ServerVersion> got;
  std::thread call([&] { got = (*client)->GetServerVersion(clock.Now() + absl::Minutes(5)); });
  ASSERT_TRUE(clock.AwaitBlockedUntil(clock.Now() + absl::Seconds(60)));
  (*client)->Cancel();
  call.join();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kCancelled) << got.status();
  EXPECT_TRUE(absl::StrContains(got.status().message(), "too many requests")) << got.status();
  EXPECT_EQ(server.seen().size(), 1u);
}

// Nothing listening: a connection failure is retried, POSTs included, then reported.
TEST_F(HttpKubeClientTest, RetriesConnectionRefused) {
  int port;
  {
    TestApiServer server(server_identity_);
    port = std::stoi(server.url().substr(server.url().rfind(':') + 1));
  }
  TestApiServer placeholder(server_identity_);
  HttpKubeClientOptions options = Options(placeholder);
  options.server = absl::StrCat("https://127.0.0.1:", port);
  options.max_attempts = 3;
  auto client = MakeClient(options);
  absl::StatusOr<IssuedToken> token =
      client->CreateToken("ns", "sa", TokenRequestSpec{}, Deadline());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable) << token.status();
  EXPECT_TRUE(absl::StrContains(token.status().message(), "not reachable")) << token.status();
  EXPECT_EQ(clock_.sleeps().size(), 2u);
}

// Kubernetes Status answers become codes that keep the server's message and the request.
TEST_F(HttpKubeClientTest, MapsStatusAnswers) {
  TestApiServer server(server_identity_);
  server.Queue(
      {409, StatusJson(409, "AlreadyExists", "serviceaccounts \"sa\" already exists"), {}});
  server.Queue({409, StatusJson(409, "Conflict", "Operation cannot be fulfilled on roles"), {}});
  server.Queue(
      {403, StatusJson(403, "Forbidden", "secrets is forbidden: User \"x\" cannot list"), {}});
  server.Queue({401, StatusJson(401, "Unauthorized", "Unauthorized"), {}});
  auto client = MakeClient(Options(server));
  nlohmann::json sa{{"metadata", {{"name", "sa"}, {"namespace", "ns"}}}};
  absl::StatusOr<nlohmann::json> created =
      client->Create(Resource::kServiceAccount, sa, Deadline());
  EXPECT_EQ(created.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(created.status().message(),
            "cluster \"dev\": POST /api/v1/namespaces/ns/serviceaccounts: serviceaccounts \"sa\" "
            "already exists (HTTP 409 AlreadyExists)");
  EXPECT_EQ(KubeReason(created.status()), "AlreadyExists");

  nlohmann::json role{{"metadata", {{"name", "r"}, {"namespace", "ns"}, {"resourceVersion", "7"}}}};
  absl::StatusOr<nlohmann::json> updated = client->Update(Resource::kRole, role, Deadline());
  EXPECT_EQ(updated.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(KubeReason(updated.status()), "Conflict");
  EXPECT_EQ(server.seen()[1].method, "PUT");
  EXPECT_EQ(server.seen()[1].path, "/apis/rbac.authorization.k8s.io/v1/namespaces/ns/roles/r");

  absl::StatusOr<std::vector<nlohmann::json>> listed =
      client->List(Resource::kSecret, "ns", "", Deadline());
  EXPECT_EQ(listed.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(listed.status().message(), "cannot list"));

  absl::Status deleted = client->Delete(Resource::kSecret, "ns", "s", {}, Deadline());
  EXPECT_EQ(deleted.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(server.seen().size(), 4u) << "client errors are not retried";
}

// An update without resourceVersion is refused locally; nothing is sent.
TEST_F(HttpKubeClientTest, UpdateNeedsResourceVersion) {
  TestApiServer server(server_identity_);
  auto client = MakeClient(Options(server));
  absl::StatusOr<nlohmann::json> updated = client->Update(
      Resource::kClusterRole, {{"metadata", {{"name", "c"}}}, {"rules", nlohmann::json::array()}},
      Deadline());
  EXPECT_EQ(updated.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(server.seen().empty());
}

// List sends the label selector and follows continue tokens.
TEST_F(HttpKubeClientTest, ListFollowsPages) {
  TestApiServer server(server_identity_);
  server.Queue(
      {200,
       R"({"kind":"SecretList","metadata":{"continue":"page2"},"items":[{"metadata":{"name":"a"}}]})",
       {}});
  server.Queue(
      {200, R"({"kind":"SecretList","metadata":{},"items":[{"metadata":{"name":"b"}}]})", {}});
  auto client = MakeClient(Options(server));
  absl::StatusOr<std::vector<nlohmann::json>> items =
      client->List(Resource::kSecret, "ns",
                   "app.kubernetes.io/managed-by=kcred,kcred.io/account=bot", Deadline());
  ASSERT_TRUE(items.ok()) << items.status();
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ((*items)[1]["metadata"]["name"], "b");
  std::vector<Seen> seen = server.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(absl::StrContains(
      seen[0].path, "labelSelector=app.kubernetes.io/managed-by=kcred,kcred.io/account=bot"))
      << seen[0].path;
  EXPECT_TRUE(absl::StrContains(seen[1].path, "continue=page2")) << seen[1].path;
}

// Delete sends its preconditions as DeleteOptions.
TEST_F(HttpKubeClientTest, DeleteSendsPreconditions) {
  TestApiServer server(server_identity_);
  server.Queue({200, R"({"kind":"Status","status":"Success"})", {}});
  auto client = MakeClient(Options(server));
  ASSERT_TRUE(client->Delete(Resource::kSecret, "ns", "anchor-1", {"uid-1", ""}, Deadline()).ok());
  Seen seen = server.seen().at(0);
  EXPECT_EQ(seen.method, "DELETE");
  EXPECT_EQ(seen.path, "/api/v1/namespaces/ns/secrets/anchor-1");
  nlohmann::json body = nlohmann::json::parse(seen.body);
  EXPECT_EQ(body["kind"], "DeleteOptions");
  EXPECT_EQ(body["preconditions"]["uid"], "uid-1");
  EXPECT_FALSE(body["preconditions"].contains("resourceVersion"));
}

// CreateToken sends a TokenRequest bound to the Secret and returns the token and its expiry.
TEST_F(HttpKubeClientTest, CreateTokenRoundTrip) {
  TestApiServer server(server_identity_);
  server.Queue({201,
                R"({"kind":"TokenRequest","spec":{"audiences":["aud-1"],"expirationSeconds":3600},
                    "status":{"token":"issued-token-value","expirationTimestamp":"2026-01-01T01:00:00Z"}})",
                {}});
  auto client = MakeClient(Options(server));
  TokenRequestSpec spec;
  spec.audiences = {"aud-1"};
  spec.expiration = absl::Hours(1);
  spec.bound_secret_name = "bot-anchor-3";
  spec.bound_secret_uid = "uid-3";
  absl::StatusOr<IssuedToken> token = client->CreateToken("automation", "bot", spec, Deadline());
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->token.Reveal(), "issued-token-value");
  EXPECT_EQ(token->expiration, absl::FromUnixSeconds(1767229200));
  EXPECT_EQ(token->audiences, std::vector<std::string>{"aud-1"});
  Seen seen = server.seen().at(0);
  EXPECT_EQ(seen.path, "/api/v1/namespaces/automation/serviceaccounts/bot/token");
  nlohmann::json body = nlohmann::json::parse(seen.body);
  EXPECT_EQ(body["kind"], "TokenRequest");
  EXPECT_EQ(body["apiVersion"], "authentication.k8s.io/v1");
  EXPECT_EQ(body["spec"]["expirationSeconds"], 3600);
  EXPECT_EQ(body["spec"]["boundObjectRef"]["kind"], "Secret");
  EXPECT_EQ(body["spec"]["boundObjectRef"]["name"], "bot-anchor-3");
  EXPECT_EQ(body["spec"]["boundObjectRef"]["uid"], "uid-3");
}

// A TokenRequest answer without a token is an error that does not quote the body.
TEST_F(HttpKubeClientTest, CreateTokenRejectsIncompleteAnswer) {
  TestApiServer server(server_identity_);
  server.Queue({201, R"({"kind":"TokenRequest","status":{"token":"half-a-secret"}})", {}});
  auto client = MakeClient(Options(server));
  absl::StatusOr<IssuedToken> token =
      client->CreateToken("ns", "sa", TokenRequestSpec{}, Deadline());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kInternal);
  EXPECT_FALSE(absl::StrContains(token.status().message(), "half-a-secret"));
}

// The token goes only into the Authorization header: not into logs, not into errors.
TEST_F(HttpKubeClientTest, TokenNeverLoggedNorInErrors) {
  TestApiServer server(server_identity_);
  server.Queue({503, StatusJson(503, "ServiceUnavailable", "busy"), {}});
  server.Queue({403, StatusJson(403, "Forbidden", "namespaces is forbidden"), {}});
  auto client = MakeClient(Options(server));
  absl::StatusOr<nlohmann::json> got = client->Get(Resource::kNamespace, "", "x", Deadline());
  ASSERT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied);
  logger_->flush();
  std::string log = log_.str();
  EXPECT_TRUE(absl::StrContains(log, "GET /api/v1/namespaces/x")) << "the calls are logged";
  EXPECT_FALSE(absl::StrContains(log, "s3cr3t")) << log;
  EXPECT_FALSE(absl::StrContains(got.status().ToString(), "s3cr3t"));
  for (const Seen& seen : server.seen()) {
    EXPECT_EQ(seen.authorization, absl::StrCat("Bearer ", kToken));
  }
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::trunc);
  out << contents;
}

// kcredd's token file is re-read when it changes; a 401 forces a re-read even when the file looks
// unchanged (same size and mtime), and the request is retried once with the new token.
TEST_F(HttpKubeClientTest, TokenFileIsReReadWhenItChanges) {
  char dir_template[] = "/tmp/kcred-kube-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string path = std::string(dir_template) + "/token";
  WriteFile(path, "token-one\n");

  TestApiServer server(server_identity_);
  std::string accepted = "Bearer token-one";
  std::mutex accepted_mu;
  server.SetFallback([&](const httplib::Request& req) {
    std::lock_guard<std::mutex> lock(accepted_mu);
    if (req.get_header_value("Authorization") != accepted) {
      return Reply{401, StatusJson(401, "Unauthorized", "Unauthorized"), {}};
    }
    return Reply{200, R"({"gitVersion":"v1.31.0"})", {}};
  });
  HttpKubeClientOptions options = Options(server);
  options.credential = std::make_shared<TokenFileCredential>(path);
  auto client = MakeClient(options);
  ASSERT_TRUE(client->GetServerVersion(Deadline()).ok());

  // A rotation with a different size is noticed by the stat check.
  WriteFile(path, "token-two-rotated");
  {
    std::lock_guard<std::mutex> lock(accepted_mu);
    accepted = "Bearer token-two-rotated";
  }
  ASSERT_TRUE(client->GetServerVersion(Deadline()).ok());
  EXPECT_EQ(server.seen().back().authorization, "Bearer token-two-rotated");
  size_t requests_before = server.seen().size();

  // Same size, mtime put back: only the 401 reveals the change.
  struct stat before;
  ASSERT_EQ(stat(path.c_str(), &before), 0);
  WriteFile(path, "token-3-rotated-x");
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  {
    std::lock_guard<std::mutex> lock(accepted_mu);
    accepted = "Bearer token-3-rotated-x";
  }
  absl::StatusOr<ServerVersion> version = client->GetServerVersion(Deadline());
  ASSERT_TRUE(version.ok()) << version.status();
  std::vector<Seen> seen = server.seen();
  ASSERT_EQ(seen.size(), requests_before + 2);
  EXPECT_EQ(seen[requests_before].authorization, "Bearer token-two-rotated");
  EXPECT_EQ(seen[requests_before + 1].authorization, "Bearer token-3-rotated-x");

  // A rejected token that the file still holds gives Unauthenticated, without a second attempt.
  {
    std::lock_guard<std::mutex> lock(accepted_mu);
    accepted = "Bearer nobody";
  }
  EXPECT_EQ(client->GetServerVersion(Deadline()).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(server.seen().size(), requests_before + 3);
  std::remove(path.c_str());
  rmdir(dir_template);
}

// A client certificate from the kubeconfig authenticates the client to a server that requires one.
TEST_F(HttpKubeClientTest, ClientCertificate) {
  TestCa client_ca("client CA");
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, client_ca.ca().cert.get());
  TestApiServer server(server_identity_, store);
  CertifiedKey client_identity = client_ca.IssueClient("kcredd");

  HttpKubeClientOptions options = Options(server);
  options.credential = MakeClientCertificateCredential(
      ClientCertificate{client_identity.cert_pem, SecretString(client_identity.key_pem)});
  auto client = MakeClient(options);
  absl::StatusOr<ServerVersion> version = client->GetServerVersion(Deadline());
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(server.seen().at(0).authorization, "");

  // Without the certificate the handshake fails.
  auto anonymous = MakeClient(Options(server));
  EXPECT_FALSE(anonymous->GetServerVersion(Deadline()).ok());
  EXPECT_EQ(server.seen().size(), 1u);
}

}  // namespace
}  // namespace kcred::kube
