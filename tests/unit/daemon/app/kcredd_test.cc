// Kcredd in-process: started on a temp unix socket against fake clusters (FakeClusterConnector), a
// SQLite store and a sealing key in a temp directory; reloaded with changed configurations; stopped
// in order; and the errors of each step.
#include "daemon/app/kcredd.h"

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/clock.h"
#include "daemon/app/dev_mode.h"
#include "daemon/store/sealing_key.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/kcred/v1/broker.grpc.pb.h"
#include "tests/support/process.h"
#include "tests/support/test_pki.h"
#include "tests/unit/daemon/app/fake_cluster_connector.h"

namespace kcred::app {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kTestCaPem[] = "-----BEGIN CERTIFICATE-----\nTESTCA\n-----END CERTIFICATE-----\n";

class KcreddTest : public ::testing::Test {
 protected:
  KcreddTest() : connector_(clock_) {
    key_file_ = dir_.File("sealing.key");
    EXPECT_TRUE(store::GenerateSealingKeyFile(key_file_).ok());
  }

  config::ClusterConfig Cluster(const std::string& name) {
    config::ClusterConfig cluster;
    cluster.name = name;
    cluster.server = "https://127.0.0.1:6443";
    cluster.ca_pem = kTestCaPem;
    cluster.credential.token_file = dir_.File(name + ".token");
    return cluster;
  }

  // Serves unix:<dir>/kcredd.sock with state in <dir>/state; one cluster "dev" unless told not to.
  config::Config TestConfig(bool with_cluster = true) {
    config::Config config = config::DefaultConfig();
    config.source = "test config";
    config.listen.unix_socket->path = dir_.File("kcredd.sock");
    config.state_dir = dir_.File("state");
    config.store.sealing_key_file = key_file_;
    if (with_cluster) config.clusters.push_back(Cluster("dev"));
    return config;
  }

  // Adds a TCP listener with mTLS from a test PKI in <dir> (ca.crt, tls.crt, tls.key).
  void AddTls(config::Config& config) {
    ASSERT_TRUE(kcred::testing::WriteTestPki(dir_.path(), {}).ok());
    config::TcpListenerConfig tcp;
    tcp.address = "127.0.0.1:0";
    tcp.tls = config::TlsConfig{dir_.File("tls.crt"), dir_.File("tls.key"), dir_.File("ca.crt")};
    config.listen.tcp = tcp;
  }

  std::unique_ptr<Kcredd> Make(config::Config config, std::unique_ptr<DevMode> dev = nullptr) {
    KcreddOptions options;
    options.config = std::move(config);
    options.dev = std::move(dev);
    options.version = "test";
    return std::make_unique<Kcredd>(std::move(options), Context{clock_, connector_, environment_});
  }

  // A started Kcredd (the test fails when Start does).
  std::unique_ptr<Kcredd> Started(config::Config config) {
    auto kcredd = Make(std::move(config));
    absl::Status started = kcredd->Start();
    EXPECT_TRUE(started.ok()) << started;
    return kcredd;
  }

  static std::unique_ptr<v1::CredentialBroker::Stub> Stub(const Kcredd& kcredd) {
    return v1::CredentialBroker::NewStub(
        grpc::CreateChannel("unix:" + kcredd.unix_path(), grpc::InsecureChannelCredentials()));
  }

  static v1::AccountRef Ref(const std::string& name) {
    v1::AccountRef ref;
    ref.set_cluster("dev");
    ref.set_namespace_("automation");
    ref.set_name(name);
    return ref;
  }

  static v1::AccountSpec ReadPods() {
    v1::AccountSpec spec;
    v1::PolicyRule* rule = spec.mutable_access()->mutable_rules()->add_rules();
    rule->add_verbs("get");
    rule->add_resources("pods");
    return spec;
  }

  static grpc::Status Provision(v1::CredentialBroker::Stub& stub, const std::string& name) {
    grpc::ClientContext context;
    v1::ProvisionAccountRequest request;
    *request.mutable_ref() = Ref(name);
    *request.mutable_spec() = ReadPods();
    v1::ProvisionAccountResponse response;
    return stub.ProvisionAccount(&context, request, &response);
  }

  static grpc::StatusCode GetAccount(v1::CredentialBroker::Stub& stub, const std::string& name) {
    grpc::ClientContext context;
    v1::GetAccountRequest request;
    *request.mutable_ref() = Ref(name);
    v1::Account account;
    return stub.GetAccount(&context, request, &account).error_code();
  }

  // Polls `check` until it holds or 10 s have passed (for what kcredd does on its own threads).
  template <typename Check>
  bool Eventually(Check check) {
    const absl::Time deadline = clock_.Now() + absl::Seconds(10);
    while (!check()) {
      if (clock_.Now() > deadline) return false;
      clock_.SleepFor(absl::Milliseconds(20));
    }
    return true;
  }

  RealClock clock_;
  kcred::testing::TempDir dir_;
  testing::FakeClusterConnector connector_;
  SystemEnvironment environment_;
  std::string key_file_;
};

// Start serves the broker on the unix socket, StatusText reports it, Stop removes the socket.
TEST_F(KcreddTest, StartsServesAndStops) {
  auto kcredd = Started(TestConfig());
  EXPECT_EQ(kcredd->unix_path(), dir_.File("kcredd.sock"));
  EXPECT_EQ(kcredd->tcp_port(), 0);
  EXPECT_EQ(kcredd->StatusText(), "serving 0 accounts on 1 cluster");
  EXPECT_TRUE(kcredd->CheckServing(absl::Seconds(5)).ok());
  EXPECT_EQ(connector_.connects("dev"), 1);

  auto stub = Stub(*kcredd);
  ASSERT_TRUE(Provision(*stub, "ci-bot").ok());
  EXPECT_EQ(kcredd->StatusText(), "serving 1 account on 1 cluster");
  grpc::ClientContext context;
  v1::GetServerInfoResponse info;
  ASSERT_TRUE(stub->GetServerInfo(&context, v1::GetServerInfoRequest(), &info).ok());
  EXPECT_EQ(info.version(), "test");

  kcredd->Stop(absl::Seconds(5));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("kcredd.sock")));
  EXPECT_EQ(connector_.releases("dev"), 1);
  EXPECT_FALSE(kcredd->CheckServing(absl::Seconds(1)).ok());
  EXPECT_EQ(kcredd->Reload(TestConfig()).status().code(), absl::StatusCode::kFailedPrecondition);
  kcredd->Stop(absl::Seconds(5));  // idempotent
}

// What Start wrote stays: a restarted Kcredd restores the accounts from the same state directory.
TEST_F(KcreddTest, ARestartRestoresTheAccounts) {
  {
    auto kcredd = Started(TestConfig());
    ASSERT_TRUE(Provision(*Stub(*kcredd), "ci-bot").ok());
    kcredd->Stop(absl::Seconds(5));
  }
  auto kcredd = Started(TestConfig());
  EXPECT_EQ(kcredd->StatusText(), "serving 1 account on 1 cluster");
}

// Without clusters kcredd opens no store and answers account calls UNAVAILABLE.
TEST_F(KcreddTest, WithoutClustersOnlyHealthAndServerInfoAreServed) {
  auto kcredd = Started(TestConfig(/*with_cluster=*/false));
  EXPECT_EQ(kcredd->StatusText(), "serving 0 accounts on 0 clusters");
  EXPECT_FALSE(std::filesystem::exists(dir_.File("state/kcred.db")));
  EXPECT_EQ(GetAccount(*Stub(*kcredd), "ci-bot"), grpc::StatusCode::UNAVAILABLE);
}

// Start called a second time is refused.
TEST_F(KcreddTest, StartTwiceIsRefused) {
  auto kcredd = Started(TestConfig());
  EXPECT_EQ(kcredd->Start().code(), absl::StatusCode::kFailedPrecondition);
}

// A TLS certificate that does not parse fails Start, naming the file; nothing is left serving.
TEST_F(KcreddTest, ABadTlsFileFailsStart) {
  config::Config config = TestConfig();
  AddTls(config);
  ASSERT_TRUE(kcred::testing::WriteFile(dir_.File("tls.crt"), "not a certificate\n").ok());
  auto kcredd = Make(config);
  absl::Status started = kcredd->Start();
  EXPECT_FALSE(started.ok());
  EXPECT_THAT(started.message(), HasSubstr(dir_.File("tls.crt")));
  EXPECT_EQ(kcredd->WriteReadyFile(dir_.File("ready.json")).code(),
            absl::StatusCode::kFailedPrecondition);
  kcredd.reset();
  EXPECT_FALSE(std::filesystem::exists(dir_.File("kcredd.sock")));
  EXPECT_EQ(connector_.releases("dev"), connector_.connects("dev"));
}

// A sealing key others may read fails Start with PermissionDenied, saying how to fix it.
TEST_F(KcreddTest, AnUnreadableSealingKeyFailsStart) {
  ASSERT_EQ(chmod(key_file_.c_str(), 0644), 0);
  absl::Status started = Make(TestConfig())->Start();
  EXPECT_EQ(started.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(started.message(), HasSubstr("sealing key: "));
  EXPECT_THAT(started.message(), HasSubstr("chmod 600"));
  EXPECT_EQ(connector_.connects("dev"), 0);
}

// Without a key file the sealing key is systemd's credential, read from the environment's
// credentials directory; without one, Start says how to pass it.
TEST_F(KcreddTest, TheSealingKeyCredentialComesFromTheCredentialsDirectory) {
  config::Config config = TestConfig();
  config.store.sealing_key_file.clear();
  absl::Status missing = Make(config)->Start();
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(missing.message(), HasSubstr("LoadCredential=sealing-key:/path/to/key"));

  std::filesystem::create_directory(dir_.File("credentials"));
  std::filesystem::copy_file(key_file_, dir_.File("credentials/sealing-key"));
  environment_.credentials_directory = dir_.File("credentials");
  EXPECT_TRUE(Make(config)->Start().ok());
}

// An audit log that cannot be opened fails Start ("audit log: ..."); the cluster clients made
// before are released when the Kcredd goes.
TEST_F(KcreddTest, AnAuditLogThatCannotBeOpenedFailsStart) {
  ASSERT_TRUE(kcred::testing::WriteFile(dir_.File("not-a-dir"), "").ok());
  config::Config config = TestConfig();
  config.audit.path = dir_.File("not-a-dir/audit.log");
  auto kcredd = Make(config);
  absl::Status started = kcredd->Start();
  EXPECT_FALSE(started.ok());
  EXPECT_THAT(std::string(started.message()), ::testing::StartsWith("audit log: "));
  EXPECT_EQ(connector_.connects("dev"), 1);
  kcredd.reset();
  EXPECT_EQ(connector_.releases("dev"), 1);
}

// A second Kcredd on a socket another one serves fails Start and leaves the first one serving.
TEST_F(KcreddTest, ASocketInUseFailsStart) {
  auto first = Started(TestConfig());
  config::Config config = TestConfig();
  config.state_dir = dir_.File("state-of-the-second");
  absl::Status second = Make(config)->Start();
  EXPECT_THAT(second.message(), HasSubstr("another server is already listening"));
  EXPECT_TRUE(first->CheckServing(absl::Seconds(5)).ok());
}

// A second Kcredd on the state directory of a running one (on a socket of its own) fails Start
// with FAILED_PRECONDITION naming the directory and the first's pid; the first keeps serving.
TEST_F(KcreddTest, AStateDirectoryInUseFailsStart) {
  auto first = Started(TestConfig());
  config::Config config = TestConfig();
  config.listen.unix_socket->path = dir_.File("second.sock");
  absl::Status second = Make(config)->Start();
  EXPECT_EQ(second.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.message(), HasSubstr(absl::StrCat("state directory ", dir_.File("state"),
                                                       " is in use by another kcredd (pid ",
                                                       getpid(), ", holding ")));
  EXPECT_TRUE(first->CheckServing(absl::Seconds(5)).ok());
}

// The ready file names the socket and the pid; one that cannot be written is an error to report.
TEST_F(KcreddTest, WritesTheReadyFileOrSaysWhyNot) {
  auto kcredd = Started(TestConfig());
  ASSERT_TRUE(kcredd->WriteReadyFile(dir_.File("ready.json")).ok());
  auto ready = nlohmann::json::parse(*kcred::testing::ReadFile(dir_.File("ready.json")));
  EXPECT_EQ(ready["unix"], "unix:" + dir_.File("kcredd.sock"));
  EXPECT_EQ(ready["pid"], getpid());
  EXPECT_FALSE(ready.contains("tcp_port"));

  EXPECT_FALSE(kcredd->WriteReadyFile(dir_.File("missing/ready.json")).ok());
}

// Stop ends open WatchAccounts streams first (the event hub closes), so that the server's drain
// does not wait out the grace period for them.
TEST_F(KcreddTest, StopClosesTheEventHubBeforeTheServerDrains) {
  auto kcredd = Started(TestConfig());
  auto stub = Stub(*kcredd);
  ASSERT_TRUE(Provision(*stub, "ci-bot").ok());
  grpc::ClientContext context;
  v1::WatchAccountsRequest request;
  request.set_send_initial_state(true);
  auto reader = stub->WatchAccounts(&context, request);
  v1::AccountEvent event;
  ASSERT_TRUE(reader->Read(&event));  // the snapshot: the stream is open
  EXPECT_EQ(event.type(), v1::EVENT_TYPE_SNAPSHOT);

  const absl::Time stopping = clock_.Now();
  kcredd->Stop(absl::Seconds(60));
  EXPECT_LT(clock_.Now() - stopping, absl::Seconds(20));
  while (reader->Read(&event)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

// In dev mode the broker's API clients are released while the embedded cluster still runs; the
// cluster stops after them, and every reload is refused (dev mode has no file).
TEST_F(KcreddTest, StopReleasesTheBrokersClientsBeforeTheDevClusterStops) {
  DevOptions dev_options;
  dev_options.dir = dir_.File("dev");
  auto dev = DevMode::Start(dev_options, clock_);
  ASSERT_TRUE(dev.ok()) << dev.status();
  const std::string address_file = dir_.File("dev/cluster/address");  // there while it serves
  ASSERT_TRUE(std::filesystem::exists(address_file));
  EXPECT_THAT((*dev)->Banner(),
              HasSubstr("export KCRED_SERVER=unix:" + dir_.File("dev/kcredd.sock")));
  std::vector<bool> cluster_ran_at_release;
  connector_.OnRelease([&](const std::string&) {
    cluster_ran_at_release.push_back(std::filesystem::exists(address_file));
  });
  const config::Config config = (*dev)->config();
  auto kcredd = Make(config, *std::move(dev));
  ASSERT_TRUE(kcredd->Start().ok());
  EXPECT_TRUE(kcredd->dev_mode());
  EXPECT_EQ(GetAccount(*Stub(*kcredd), "ci-bot"), grpc::StatusCode::NOT_FOUND);

  auto reload = kcredd->Reload(config);
  EXPECT_EQ(reload.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(reload.status().message(), HasSubstr("dev mode has no configuration file"));

  kcredd->Stop(absl::Seconds(5));
  EXPECT_THAT(cluster_ran_at_release, ElementsAre(true));
  EXPECT_FALSE(std::filesystem::exists(address_file));
}

// The status line adds the declared accounts' last pass once it has run.
TEST_F(KcreddTest, TheStatusShowsTheDeclaredAccounts) {
  config::Config config = TestConfig();
  config.accounts.items.push_back({Ref("declared"), ReadPods(), "test config:1:1"});
  auto kcredd = Started(config);
  EXPECT_TRUE(Eventually([&] {
    return kcredd->StatusText() ==
           "serving 1 account on 1 cluster; declared accounts: 1 declared: 1 created";
  })) << kcredd->StatusText();
}

// A changed admission policy alone keeps the cluster's API client; a changed server gets a new one.
TEST_F(KcreddTest, ReloadKeepsTheClientWhenOnlyThePolicyChanged) {
  auto kcredd = Started(TestConfig());
  config::Config next = TestConfig();
  next.clusters[0].policy.allow_create_namespace = true;
  auto report = kcredd->Reload(next);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->changes, Contains("cluster \"dev\" policy changed"));
  EXPECT_EQ(connector_.connects("dev"), 1);
  EXPECT_EQ(connector_.releases("dev"), 0);
  EXPECT_TRUE(kcredd->config().clusters[0].policy.allow_create_namespace);

  next.clusters[0].server = "https://127.0.0.1:7443";
  report = kcredd->Reload(next);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->changes, Contains("cluster \"dev\" changed"));
  EXPECT_EQ(connector_.connects("dev"), 2);
  EXPECT_EQ(connector_.releases("dev"), 1);
}

// A reload replaces the authorization policy: calls that start afterwards are decided by it.
TEST_F(KcreddTest, ReloadReplacesTheAuthorizationPolicy) {
  auto kcredd = Started(TestConfig());
  auto stub = Stub(*kcredd);
  EXPECT_EQ(GetAccount(*stub, "ci-bot"), grpc::StatusCode::NOT_FOUND);

  config::Config next = TestConfig();
  next.authorization.configured = true;
  next.authorization.rules = {{{"unix:uid:4242424"}, {"*"}, {"*/*/*"}, "test rule"}};
  auto report = kcredd->Reload(next);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->changes, Contains(HasSubstr("authorization: ")));
  EXPECT_EQ(GetAccount(*stub, "ci-bot"), grpc::StatusCode::PERMISSION_DENIED);
}

// Raising limits.watches_total needs a restart (the server's thread cap was sized with it): it is
// reported and keeps its running value, while the other limits change.
TEST_F(KcreddTest, RaisingWatchesTotalNeedsARestart) {
  auto kcredd = Started(TestConfig());
  const int watches_total = kcredd->config().limits.watches_total;
  config::Config next = TestConfig();
  next.limits.watches_total = watches_total + 100;
  next.limits.calls_per_caller = 8;
  auto report = kcredd->Reload(next);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->needs_restart, Contains("limits.watches_total (raised)"));
  EXPECT_THAT(report->changes, Contains("limits"));
  EXPECT_EQ(kcredd->config().limits.watches_total, watches_total);
  EXPECT_EQ(kcredd->config().limits.calls_per_caller, 8);
}

// Listeners, state_dir and audit only change with a restart: reported, running values kept.
TEST_F(KcreddTest, RestartOnlySettingsAreReportedNotApplied) {
  auto kcredd = Started(TestConfig());
  config::Config next = TestConfig();
  next.listen.unix_socket->path = dir_.File("other.sock");
  next.state_dir = dir_.File("other-state");
  next.audit.max_files = 3;
  auto report = kcredd->Reload(next);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->needs_restart, Contains("listen.unix.path"));
  EXPECT_THAT(report->needs_restart, Contains("state_dir"));
  EXPECT_THAT(report->needs_restart, Contains("audit"));
  EXPECT_EQ(kcredd->config().listen.unix_socket->path, dir_.File("kcredd.sock"));
  EXPECT_EQ(kcredd->config().state_dir, dir_.File("state"));
  EXPECT_TRUE(kcredd->CheckServing(absl::Seconds(5)).ok());
}

// A broken TLS key refuses the whole reload: the policy change in the same file is not applied,
// no client is made, and the status line says why until a reload succeeds.
TEST_F(KcreddTest, ABrokenTlsFileRefusesTheReloadAndChangesNothing) {
  config::Config config = TestConfig();
  AddTls(config);
  auto kcredd = Started(config);
  EXPECT_NE(kcredd->tcp_port(), 0);

  ASSERT_TRUE(kcred::testing::WriteFile(dir_.File("broken.key"), "not a key\n", 0600).ok());
  config::Config next = config;
  next.clusters[0].policy.allow_create_namespace = true;
  next.listen.tcp->tls->key_file = dir_.File("broken.key");
  auto refused = kcredd->Reload(next);
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("listen.tcp.tls.key_file"));
  EXPECT_FALSE(kcredd->config().clusters[0].policy.allow_create_namespace);
  EXPECT_EQ(kcredd->config().listen.tcp->tls->key_file, dir_.File("tls.key"));
  EXPECT_EQ(connector_.connects("dev"), 1);
  EXPECT_THAT(kcredd->StatusText(), HasSubstr("; reload refused: "));

  next.listen.tcp->tls->key_file = dir_.File("tls.key");
  auto applied = kcredd->Reload(next);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_THAT(applied->changes, Contains("TLS files re-read"));
  EXPECT_TRUE(kcredd->config().clusters[0].policy.allow_create_namespace);
  EXPECT_EQ(kcredd->StatusText(), "serving 0 accounts on 1 cluster");
}

// A configuration that failed to load, or a cluster whose client cannot be made, refuses the
// reload; the running clusters stay.
TEST_F(KcreddTest, AFailedLoadOrConnectionRefusesTheReload) {
  auto kcredd = Started(TestConfig());
  EXPECT_FALSE(kcredd->Reload(absl::InvalidArgumentError("kcredd.yaml:3:1: log.level: bad")).ok());
  EXPECT_EQ(kcredd->StatusText(),
            "serving 0 accounts on 1 cluster; reload refused: kcredd.yaml:3:1: log.level: bad");

  connector_.FailFor("prod", absl::InvalidArgumentError("cluster \"prod\": no credential"));
  config::Config next = TestConfig();
  next.clusters.push_back(Cluster("prod"));
  EXPECT_FALSE(kcredd->Reload(next).ok());
  EXPECT_EQ(kcredd->config().clusters.size(), 1u);
  EXPECT_THAT(kcredd->StatusText(), HasSubstr("reload refused: cluster \"prod\": no credential"));

  connector_.FailFor("prod", absl::OkStatus());
  auto added = kcredd->Reload(next);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_THAT(added->changes, Contains("cluster \"prod\" added"));
  EXPECT_EQ(kcredd->StatusText(), "serving 0 accounts on 2 clusters");
}

// kcredd started without clusters opens the store, and starts rotation and declared accounts, when
// a reload configures the first cluster.
TEST_F(KcreddTest, TheReloadThatConfiguresTheFirstClusterOpensTheStore) {
  auto kcredd = Started(TestConfig(/*with_cluster=*/false));
  config::Config next = TestConfig();
  next.accounts.items.push_back({Ref("declared"), ReadPods(), "test config:1:1"});
  auto report = kcredd->Reload(next);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->opened_store);
  EXPECT_THAT(report->changes, Contains(HasSubstr("store opened at " + dir_.File("state"))));
  EXPECT_TRUE(Eventually([&] {
    return kcredd->StatusText() ==
           "serving 1 account on 1 cluster; declared accounts: 1 declared: 1 created";
  })) << kcredd->StatusText();
  EXPECT_TRUE(Provision(*Stub(*kcredd), "ci-bot").ok());
}

// The watchdog's health check may take a quarter of systemd's watchdog timeout.
TEST(HealthCheckTimeoutTest, IsAQuarterOfTheWatchdogTimeout) {
  EXPECT_EQ(HealthCheckTimeout(absl::Seconds(40)), absl::Seconds(10));
  EXPECT_EQ(HealthCheckTimeout(std::nullopt), absl::Seconds(5));
}

}  // namespace
}  // namespace kcred::app
