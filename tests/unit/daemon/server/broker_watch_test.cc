// WatchAccounts end to end inside one process: a real Broker (fake Kubernetes, memory store), the
// BrokerService with an AccountEventHub, served over a unix socket, read with a real client.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/daemon/server/service_fixture.h"

namespace kcred::server {
namespace {

using ::testing::HasSubstr;
using testing::Ref;

class BrokerWatchTest : public ::testing::Test, public testing::ServiceFixture {
 protected:
  void Rotate(const std::string& name) {
    v1::RotateTokenRequest request;
    *request.mutable_ref() = Ref(name);
    ASSERT_TRUE(broker_->RotateToken(request).ok());
  }
  void Provision(const std::string& name) { ServiceFixture::Provision(Ref(name)); }
  std::string Describe(const v1::AccountEvent& e) {
    return absl::StrCat(v1::EventType_Name(e.type()), " ", e.account().ref().name());
  }
};

// A watch sends the selected account's snapshot, then only its live events; resuming delivers what
// was missed, and closing the hub ends the stream UNAVAILABLE.
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

// A watch on an unknown cluster, or with a bad resume token, fails at once with an error other than
// UNAVAILABLE, so the client does not just reconnect.
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
