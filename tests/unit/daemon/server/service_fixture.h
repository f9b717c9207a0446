#pragma once
// kcredd's gRPC service inside one test process: a real Broker (fake Kubernetes, memory store),
// the BrokerService with its gate (authorization policy, limits, audit log in a temp file) and
// the event hub, served by GrpcServer on a unix socket (so the test is identified by SO_PEERCRED
// as the uid it runs as), and a client stub. The service's time is simulated; only the gRPC calls
// (their deadlines, the server's shutdown) run on real time.

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "daemon/audit/audit_log.h"
#include "daemon/authz/authorizer.h"
#include "daemon/authz/limits.h"
#include "daemon/server/account_events.h"
#include "daemon/server/broker_service.h"
#include "daemon/server/grpc_server.h"
#include "gtest/gtest.h"
#include "proto/kcred/v1/broker.grpc.pb.h"
#include "tests/support/broker_fixture.h"
#include "tests/support/process.h"
#include "tests/support/simulated_clock.h"

namespace kcred::server::testing {

inline v1::AccountRef Ref(const std::string& name, const std::string& ns = "automation") {
  v1::AccountRef ref;
  ref.set_cluster("dev");
  ref.set_namespace_(ns);
  ref.set_name(name);
  return ref;
}

// A rule granting `actions` on `accounts` to the uid the test runs as.
inline config::AuthorizationRule GrantSelf(std::vector<std::string> actions,
                                           std::vector<std::string> accounts,
                                           std::string source = "test rule") {
  return {{absl::StrCat("unix:uid:", getuid())},
          std::move(actions),
          std::move(accounts),
          std::move(source)};
}

struct ServiceOptions {
  std::vector<config::AuthorizationRule> rules = {GrantSelf({"*"}, {"*/*/*"})};
  config::LimitsConfig limits;
  std::string audit_path;  // empty: <temp>/audit.log
  bool audit_required = true;
};

class ServiceFixture {
 public:
  explicit ServiceFixture(ServiceOptions options = {})
      : world_(clock_, Defaults(), {"automation", "other"}),
        limits_(clock_, options.limits),
        socket_(dir_.File("kcredd.sock")) {
    broker_->SetEventListener([this](const v1::AccountEvent& e) { hub_.Publish(e); });
    config::AuthorizationConfig authz;
    authz.configured = true;
    authz.rules = std::move(options.rules);
    authorizer_ = std::make_unique<authz::Authorizer>(authz::Policy::FromConfig(authz));
    audit_path_ = options.audit_path.empty() ? dir_.File("audit.log") : options.audit_path;
    audit::AuditSinkOptions sink;
    sink.path = audit_path_;
    auto audit = audit::AuditLog::Open(sink);
    EXPECT_TRUE(audit.ok()) << audit.status();
    audit_ = *std::move(audit);
    ServiceDeps deps;
    deps.peers = &peers_;
    deps.authorizer = authorizer_.get();
    deps.limits = &limits_;
    deps.audit = audit_.get();
    deps.audit_required = options.audit_required;
    deps.clock = &clock_;
    deps.version = "test";
    deps.start_time = clock_.Now();
    deps.events = &hub_;
    service_ = std::make_unique<BrokerService>(std::move(deps), broker_.get());
    server::ServerOptions server_options;
    server_options.listen.unix_socket = config::UnixListenerConfig{};
    server_options.listen.unix_socket->path = socket_;
    server_options.listen.unix_socket->mode = 0600;
    auto server = GrpcServer::Start(server_options, {service_.get()}, &peers_);
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials());
    stub_ = v1::CredentialBroker::NewStub(channel_);
  }

  ~ServiceFixture() {
    hub_.Close();
    server_->Shutdown(absl::Seconds(5));
  }

  // Provisions `ref` with get/list on pods, directly through the broker.
  void Provision(const v1::AccountRef& ref) {
    v1::ProvisionAccountRequest request;
    *request.mutable_ref() = ref;
    v1::PolicyRule* rule = request.mutable_spec()->mutable_access()->mutable_rules()->add_rules();
    rule->add_verbs("get");
    rule->add_resources("pods");
    ASSERT_TRUE(broker_->Provision(request).ok());
  }

  static config::TokenDefaults Defaults() {
    config::TokenDefaults defaults;
    defaults.ttl = absl::Hours(1);
    defaults.grace = absl::ZeroDuration();
    defaults.legacy_token_wait = absl::Seconds(30);
    return defaults;
  }

  // The audit file's lines.
  std::vector<std::string> AuditLines() const {
    std::vector<std::string> lines =
        absl::StrSplit(kcred::testing::ReadFile(audit_path_).value_or(""), '\n', absl::SkipEmpty());
    return lines;
  }

  // kInstant: what sleeps (the broker waiting for a legacy token) does so on a handler thread that
  // nobody else would wake.
  kcred::testing::SimulatedClock clock_{kcred::testing::SimulatedClock::SleepMode::kInstant};
  kcred::testing::TempDir dir_;
  kcred::testing::TestBroker world_;
  std::unique_ptr<broker::Broker>& broker_ = world_.broker;
  AccountEventHub hub_;
  PeerRegistry peers_;
  std::unique_ptr<authz::Authorizer> authorizer_;
  authz::CallLimits limits_;
  std::string audit_path_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<BrokerService> service_;
  std::string socket_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CredentialBroker::Stub> stub_;
};

}  // namespace kcred::server::testing
