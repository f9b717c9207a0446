// WatchAccounts end to end inside one process: a real Broker (fake Kubernetes, memory store), the
// BrokerService with an AccountEventHub, served over a unix socket, read with a real client.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "daemon/broker/broker.h"
#include "daemon/kube/fake_kube_client.h"
#include "daemon/server/account_events.h"
#include "daemon/server/broker_service.h"
#include "daemon/store/aes_gcm_sealer.h"
#include "daemon/store/memory_store.h"
#include "daemon/store/sealing_key.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/kcred/v1/broker.grpc.pb.h"
#include "tests/support/process.h"

namespace kcred::server {
namespace {

using ::testing::HasSubstr;

constexpr char kCaPem[] = "-----BEGIN CERTIFICATE-----\nTESTCA\n-----END CERTIFICATE-----\n";

v1::AccountRef Ref(const std::string& name) {
  v1::AccountRef ref;
  ref.set_cluster("dev");
  ref.set_namespace_("automation");
  ref.set_name(name);
  return ref;
}

class BrokerWatchTest : public ::testing::Test {
 protected:
  BrokerWatchTest() : kube_(clock_), socket_(dir_.File("kcredd.sock")) {
    auto key = store::MakeSealingKey(SecretString(std::string(32, 'k')));
    sealer_ = std::move(*store::AesGcmSealer::Create(std::move(*key)));
    config::ClusterConfig cluster;
    cluster.name = "dev";
    cluster.server = "https://127.0.0.1:6443";
    cluster.ca_pem = kCaPem;
    config::TokenDefaults defaults;
    defaults.ttl = absl::Hours(1);
    defaults.grace = absl::ZeroDuration();
    defaults.legacy_token_wait = absl::Seconds(30);
    EXPECT_TRUE(
        kube_.Seed(kube::Resource::kNamespace, {{"metadata", {{"name", "automation"}}}}).ok());
    broker_ = std::make_unique<broker::Broker>(
        clock_, store_, *sealer_, std::vector<broker::ClusterHandle>{{cluster, &kube_}}, defaults);
    broker_->SetEventListener([this](const v1::AccountEvent& e) { hub_.Publish(e); });
    service_ = std::make_unique<BrokerService>(broker_.get(), nullptr, peers_, "test", clock_.Now(),
                                               &hub_);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + socket_, grpc::InsecureServerCredentials());
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    stub_ = v1::CredentialBroker::NewStub(
        grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials()));
  }
  ~BrokerWatchTest() override {
    hub_.Close();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }

  void Provision(const std::string& name) {
    v1::ProvisionAccountRequest request;
    *request.mutable_ref() = Ref(name);
    v1::PolicyRule* rule = request.mutable_spec()->mutable_access()->mutable_rules()->add_rules();
    rule->add_verbs("get");
    rule->add_resources("pods");
    ASSERT_TRUE(broker_->Provision(request).ok());
  }
  void Rotate(const std::string& name) {
    v1::RotateTokenRequest request;
    *request.mutable_ref() = Ref(name);
    ASSERT_TRUE(broker_->RotateToken(request).ok());
  }
  std::string Describe(const v1::AccountEvent& e) {
    return absl::StrCat(v1::EventType_Name(e.type()), " ", e.account().ref().name());
  }

  RealClock clock_;
  kube::FakeKubeClient kube_;
  store::MemoryStore store_;
  std::unique_ptr<store::Sealer> sealer_;
  std::unique_ptr<broker::Broker> broker_;
  AccountEventHub hub_;
  PeerRegistry peers_;
  std::unique_ptr<BrokerService> service_;
  kcred::testing::TempDir dir_;
  std::string socket_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::CredentialBroker::Stub> stub_;
};

TEST_F(BrokerWatchTest, SnapshotThenLiveEventsThenResume) {
  Provision("ci-bot");
  Provision("other");
  std::string token;
  {
    grpc::ClientContext context;
    v1::WatchAccountsRequest request;
    request.mutable_selector()->set_name("ci-bot");
    request.set_send_initial_state(true);
    auto reader = stub_->WatchAccounts(&context, request);
    v1::AccountEvent event;
    ASSERT_TRUE(reader->Read(&event));
    EXPECT_EQ(Describe(event), "EVENT_TYPE_SNAPSHOT ci-bot");
    EXPECT_FALSE(event.resume_token().empty());
    Rotate("other");  // filtered out
    Rotate("ci-bot");
    ASSERT_TRUE(reader->Read(&event));
    EXPECT_EQ(Describe(event), "EVENT_TYPE_ROTATED ci-bot");
    token = event.resume_token();
    context.TryCancel();
    while (reader->Read(&event)) {
    }
    (void)reader->Finish();
  }
  // Missed while disconnected, delivered on resume.
  Rotate("ci-bot");
  grpc::ClientContext context;
  v1::WatchAccountsRequest request;
  request.mutable_selector()->set_name("ci-bot");
  request.set_resume_token(token);
  auto reader = stub_->WatchAccounts(&context, request);
  v1::AccountEvent event;
  // With no grace, each rotation also revokes the previous token: the first rotation's REVOKED
  // came after the token we kept, then the second rotation.
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(Describe(event), "EVENT_TYPE_REVOKED ci-bot");
  EXPECT_NE(event.resume_token(), token);
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(Describe(event), "EVENT_TYPE_ROTATED ci-bot");
  // Closing the hub (server shutdown) ends the stream: UNAVAILABLE, so clients reconnect.
  hub_.Close();
  while (reader->Read(&event)) {
  }
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(BrokerWatchTest, RefusesAnUnknownClusterAndABadToken) {
  for (const auto& [cluster, token] :
       std::vector<std::pair<std::string, std::string>>{{"nowhere", ""}, {"dev", "not-a-token"}}) {
    grpc::ClientContext context;
    v1::WatchAccountsRequest request;
    request.mutable_selector()->set_cluster(cluster);
    request.set_resume_token(token);
    auto reader = stub_->WatchAccounts(&context, request);
    v1::AccountEvent event;
    EXPECT_FALSE(reader->Read(&event));
    grpc::Status status = reader->Finish();
    EXPECT_NE(status.error_code(), grpc::StatusCode::OK) << cluster;
    EXPECT_NE(status.error_code(), grpc::StatusCode::UNAVAILABLE) << cluster;
  }
}

}  // namespace
}  // namespace kcred::server
