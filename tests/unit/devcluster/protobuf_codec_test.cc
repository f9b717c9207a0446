#include "devcluster/protobuf_codec.h"

#include <gtest/gtest.h>

#include "devcluster/k8s_proto/authentication.pb.h"
#include "devcluster/k8s_proto/authorization.pb.h"
#include "devcluster/k8s_proto/core.pb.h"
#include "devcluster/k8s_proto/rbac.pb.h"
#include "devcluster/k8s_proto/runtime.pb.h"

namespace kcred::devcluster {
namespace {

namespace core = k8s::io::api::core::v1;
namespace rbac = k8s::io::api::rbac::v1;
namespace authn = k8s::io::api::authentication::v1;
namespace authz = k8s::io::api::authorization::v1;

// A body as kubectl sends it: "k8s\0" + runtime.Unknown{typeMeta, raw}.
std::string Envelope(const std::string& api_version, const std::string& kind,
                     const google::protobuf::Message& object) {
  k8s::io::apimachinery::pkg::runtime::Unknown unknown;
  unknown.mutable_typemeta()->set_apiversion(api_version);
  unknown.mutable_typemeta()->set_kind(kind);
  unknown.set_raw(object.SerializeAsString());
  unknown.set_contenttype("");
  return std::string("k8s\0", 4) + unknown.SerializeAsString();
}

// A Secret decodes into its JSON form: base64 data, RFC 3339 times, Go's empty fields dropped.
TEST(ProtobufCodecTest, SecretDecodesToKubernetesJson) {
  core::Secret secret;
  auto* meta = secret.mutable_metadata();
  meta->set_name("anchor");
  meta->set_generatename("");  // Go's marshaller writes empty strings; JSON omits them
  meta->set_namespace_("team-a");
  meta->mutable_creationtimestamp()->set_seconds(0);
  (*meta->mutable_labels())["app"] = "kcred";
  (*secret.mutable_data())["token"] = std::string(
      "\x00\xff"
      "abc",
      5);
  secret.set_type("Opaque");

  absl::StatusOr<nlohmann::json> json = DecodeKubernetesProtobuf(Envelope("v1", "Secret", secret));
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ((*json)["apiVersion"], "v1");
  EXPECT_EQ((*json)["kind"], "Secret");
  EXPECT_EQ((*json)["metadata"],
            nlohmann::json(
                {{"name", "anchor"}, {"namespace", "team-a"}, {"labels", {{"app", "kcred"}}}}));
  EXPECT_EQ((*json)["data"]["token"], "AP9hYmM=");
  EXPECT_EQ((*json)["type"], "Opaque");
}

// TokenRequest keeps the numbers and nested references kubectl sets, and times become RFC 3339.
TEST(ProtobufCodecTest, TokenRequestWithBoundObject) {
  authn::TokenRequest request;
  request.mutable_metadata()->mutable_creationtimestamp()->set_seconds(1767225600);
  request.mutable_spec()->set_expirationseconds(3600);
  request.mutable_spec()->add_audiences("https://example");
  auto* ref = request.mutable_spec()->mutable_boundobjectref();
  ref->set_kind("Secret");
  ref->set_apiversion("v1");
  ref->set_name("anchor");
  ref->set_uid("");
  absl::StatusOr<nlohmann::json> json =
      DecodeKubernetesProtobuf(Envelope("authentication.k8s.io/v1", "TokenRequest", request));
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ((*json)["metadata"]["creationTimestamp"], "2026-01-01T00:00:00Z");
  EXPECT_EQ((*json)["spec"]["expirationSeconds"], 3600);
  EXPECT_EQ((*json)["spec"]["audiences"], nlohmann::json({"https://example"}));
  EXPECT_EQ((*json)["spec"]["boundObjectRef"],
            nlohmann::json({{"kind", "Secret"}, {"apiVersion", "v1"}, {"name", "anchor"}}));
}

// RBAC lists and repeated messages keep their order and lowerCamel names.
TEST(ProtobufCodecTest, RoleBindingAndRole) {
  rbac::RoleBinding binding;
  binding.mutable_metadata()->set_name("bind");
  auto* subject = binding.add_subjects();
  subject->set_kind("ServiceAccount");
  subject->set_name("bot");
  subject->set_namespace_("ns");
  binding.mutable_roleref()->set_apigroup("rbac.authorization.k8s.io");
  binding.mutable_roleref()->set_kind("Role");
  binding.mutable_roleref()->set_name("reader");
  absl::StatusOr<nlohmann::json> json =
      DecodeKubernetesProtobuf(Envelope("rbac.authorization.k8s.io/v1", "RoleBinding", binding));
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ((*json)["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
  EXPECT_EQ((*json)["subjects"][0],
            nlohmann::json({{"kind", "ServiceAccount"}, {"name", "bot"}, {"namespace", "ns"}}));

  rbac::Role role;
  auto* rule = role.add_rules();
  rule->add_verbs("get");
  rule->add_verbs("list");
  rule->add_apigroups("");
  rule->add_resources("pods");
  json = DecodeKubernetesProtobuf(Envelope("rbac.authorization.k8s.io/v1", "Role", role));
  ASSERT_TRUE(json.ok());
  EXPECT_EQ((*json)["rules"][0]["verbs"], nlohmann::json({"get", "list"}));
  EXPECT_EQ((*json)["rules"][0]["apiGroups"], nlohmann::json({""}));
}

// UserInfo.extra's ExtraValue is a plain list in JSON; booleans survive even when false.
TEST(ProtobufCodecTest, ExtraValuesAndBooleans) {
  authz::SubjectAccessReview review;
  review.mutable_spec()->set_user("alice");
  (*review.mutable_spec()->mutable_extra())["scopes"].add_items("a");
  review.mutable_spec()->mutable_resourceattributes()->set_verb("get");
  review.mutable_status()->set_allowed(false);
  absl::StatusOr<nlohmann::json> json =
      DecodeKubernetesProtobuf(Envelope("authorization.k8s.io/v1", "SubjectAccessReview", review));
  ASSERT_TRUE(json.ok());
  EXPECT_EQ((*json)["spec"]["extra"]["scopes"], nlohmann::json({"a"}));
  EXPECT_EQ((*json)["status"]["allowed"], false);

  core::ServiceAccount sa;
  sa.mutable_metadata()->set_name("bot");
  sa.mutable_metadata()->set_generation(0);
  sa.set_automountserviceaccounttoken(false);
  json = DecodeKubernetesProtobuf(Envelope("v1", "ServiceAccount", sa));
  ASSERT_TRUE(json.ok());
  EXPECT_EQ((*json)["automountServiceAccountToken"], false);
  EXPECT_FALSE((*json)["metadata"].contains("generation"));
}

// A Service's ports keep IntOrString target ports in their JSON form (a number or a name).
TEST(ProtobufCodecTest, ServiceWithIntOrStringPorts) {
  core::Service service;
  service.mutable_metadata()->set_name("web");
  service.mutable_spec()->set_type("NodePort");
  (*service.mutable_spec()->mutable_selector())["app"] = "web";
  auto* named = service.mutable_spec()->add_ports();
  named->set_port(8080);
  named->mutable_targetport()->set_type(1);
  named->mutable_targetport()->set_strval("http");
  auto* numbered = service.mutable_spec()->add_ports();
  numbered->set_port(443);
  numbered->mutable_targetport()->set_type(0);
  numbered->mutable_targetport()->set_intval(8443);
  absl::StatusOr<nlohmann::json> json =
      DecodeKubernetesProtobuf(Envelope("v1", "Service", service));
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ((*json)["spec"]["ports"][0]["targetPort"], "http");
  EXPECT_EQ((*json)["spec"]["ports"][1]["targetPort"], 8443);
  EXPECT_EQ((*json)["spec"]["selector"], nlohmann::json({{"app", "web"}}));
}

// Bodies that are not Kubernetes protobuf, or of kinds not served, are errors that say so.
TEST(ProtobufCodecTest, RejectsBadBodies) {
  EXPECT_FALSE(DecodeKubernetesProtobuf("{\"kind\":\"Secret\"}").ok());
  EXPECT_FALSE(DecodeKubernetesProtobuf(std::string("k8s\0\xff\xff", 6)).ok());
  core::Secret secret;
  absl::StatusOr<nlohmann::json> unknown_kind =
      DecodeKubernetesProtobuf(Envelope("apps/v1", "Deployment", secret));
  ASSERT_FALSE(unknown_kind.ok());
  EXPECT_NE(unknown_kind.status().message().find("Deployment"), absl::string_view::npos);
  EXPECT_TRUE(IsKubernetesProtobuf("application/vnd.kubernetes.protobuf"));
  EXPECT_TRUE(IsKubernetesProtobuf("application/vnd.kubernetes.protobuf; charset=x"));
  EXPECT_FALSE(IsKubernetesProtobuf("application/json"));
}

// A string field holding invalid UTF-8 is refused: it could not be kept or answered as JSON
// (found by the k8s_protobuf fuzz target, which aborted in json::dump).
TEST(ProtobufCodecTest, RejectsStringsThatAreNotUtf8) {
  core::Secret secret;
  secret.mutable_metadata()->set_name("bad\xff\xfename");
  absl::StatusOr<nlohmann::json> json = DecodeKubernetesProtobuf(Envelope("v1", "Secret", secret));
  ASSERT_FALSE(json.ok());
  EXPECT_EQ(json.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(json.status().message().find("not UTF-8"), absl::string_view::npos);
}

}  // namespace
}  // namespace kcred::devcluster
