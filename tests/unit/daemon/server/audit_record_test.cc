// Shows what an audit record holds for a call: who (every attribute of the caller), what, the
// decision and its rule, the outcome, a token's fingerprint (never the token), a provision's spec
// summary; and that absl::Status reaches gRPC with the same code and message.
#include "daemon/server/audit_record.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/server/call_gate.h"

namespace kcred::server {
namespace {

using json = nlohmann::json;

authz::Identity Alice() {
  authz::UnixPeer peer;
  peer.pid = 42;
  peer.uid = 1000;
  peer.gid = 1000;
  peer.user = "alice";
  peer.groups = {1000, 27};
  peer.group_names = {"alice", "ci"};
  return authz::Identity::Unix(peer);
}

// A secret-returning call that was allowed: caller, peer, rule, fingerprint and generation.
TEST(AuditRecordTest, AllowedTokenRead) {
  const authz::Identity alice = Alice();
  AuditEntry entry;
  entry.request_id = "r-1";
  entry.time = absl::FromUnixMicros(1767225600123456);
  entry.identity = &alice;
  entry.method = "GetToken";
  entry.action = Action::kGetToken;
  entry.account = "dev/ci/bot";
  entry.allowed = true;
  entry.rule = "authorization.rules[0] (kcredd.yaml:3:5)";
  entry.token_fingerprint = "sha256:0011223344556677";
  entry.generation = 3;
  const json record = AuditRecordJson(entry);
  EXPECT_EQ(record["time"], "2026-01-01T00:00:00.123456Z");
  EXPECT_EQ(record["request_id"], "r-1");
  EXPECT_EQ(record["caller"]["display"], "unix:uid:1000(alice)");
  EXPECT_EQ(record["caller"]["uid"], 1000);
  EXPECT_EQ(record["caller"]["pid"], 42);
  EXPECT_EQ(record["caller"]["groups"], json::array({1000, 27}));
  EXPECT_THAT(record["caller"]["subjects"].get<std::vector<std::string>>(),
              ::testing::Contains("unix:group:ci"));
  EXPECT_EQ(record["transport"], "unix");
  EXPECT_EQ(record["peer"], "pid 42");
  EXPECT_EQ(record["action"], "get-token");
  EXPECT_EQ(record["decision"], "allow");
  EXPECT_EQ(record["code"], "OK");
  EXPECT_FALSE(record.contains("message"));
  EXPECT_EQ(record["token_fingerprint"], "sha256:0011223344556677");
  EXPECT_EQ(record["generation"], 3);
}

// A refused call: decision deny, the code and the message; no fingerprint.
TEST(AuditRecordTest, DeniedCall) {
  const authz::Identity anonymous = authz::Identity::PlainTcp("ipv4:127.0.0.1:5000");
  AuditEntry entry;
  entry.identity = &anonymous;
  entry.method = "DeleteAccount";
  entry.action = Action::kDelete;
  entry.outcome = absl::PermissionDeniedError("no rule");
  const json record = AuditRecordJson(entry);
  EXPECT_EQ(record["decision"], "deny");
  EXPECT_EQ(record["code"], "PERMISSION_DENIED");
  EXPECT_EQ(record["message"], "no rule");
  EXPECT_EQ(record["transport"], "tcp");
  EXPECT_EQ(record["peer"], "ipv4:127.0.0.1:5000");
  EXPECT_FALSE(record.contains("token_fingerprint"));
  EXPECT_FALSE(record.contains("account"));
}

// The spec summary says what a provision asks for: scope, rules or role_ref, token settings and
// the flags that widen it.
TEST(AuditRecordTest, ProvisionSpecSummary) {
  v1::ProvisionAccountRequest request;
  v1::AccountSpec& spec = *request.mutable_spec();
  spec.set_scope(v1::SCOPE_CLUSTER);
  v1::PolicyRule* rule = spec.mutable_access()->mutable_rules()->add_rules();
  rule->add_verbs("get");
  rule->add_resources("pods");
  spec.mutable_token()->mutable_ttl()->set_seconds(7200);
  spec.mutable_token()->mutable_grace()->set_seconds(30);
  spec.set_create_namespace(true);
  request.set_validate_only(true);
  json details = SpecSummary(request);
  EXPECT_EQ(details["spec"]["scope"], "cluster");
  EXPECT_EQ(details["spec"]["rules"][0]["verbs"], json::array({"get"}));
  EXPECT_EQ(details["spec"]["rules"][0]["resources"], json::array({"pods"}));
  EXPECT_EQ(details["spec"]["ttl"], "2h");
  EXPECT_EQ(details["spec"]["grace"], "30s");
  EXPECT_EQ(details["spec"]["token_mode"], "bound");
  EXPECT_EQ(details["spec"]["create_namespace"], true);
  EXPECT_EQ(details["validate_only"], true);
  spec.mutable_access()->mutable_role_ref()->set_kind(v1::ROLE_KIND_CLUSTER_ROLE);
  spec.mutable_access()->mutable_role_ref()->set_name("view");
  details = SpecSummary(request);
  EXPECT_EQ(details["spec"]["role_ref"], "ClusterRole/view");
  EXPECT_FALSE(details["spec"].contains("rules"));
}

// absl::Status becomes grpc::Status with the same canonical code and message.
TEST(AuditRecordTest, StatusConversionKeepsCodeAndMessage) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  for (absl::StatusCode code :
       {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound,
        absl::StatusCode::kPermissionDenied, absl::StatusCode::kResourceExhausted,
        absl::StatusCode::kFailedPrecondition, absl::StatusCode::kUnavailable}) {
    grpc::Status converted = ToGrpcStatus(absl::Status(code, "why"));
    EXPECT_EQ(static_cast<int>(converted.error_code()), static_cast<int>(code));
    EXPECT_EQ(converted.error_message(), "why");
  }
}

}  // namespace
}  // namespace kcred::server
