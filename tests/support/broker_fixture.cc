#include "tests/support/broker_fixture.h"

#include <utility>
#include <vector>

#include "daemon/broker/object_names.h"
#include "daemon/store/sealing_key.h"

namespace kcred::testing {

std::unique_ptr<store::AesGcmSealer> TestSealer(char key_byte) {
  auto key = store::MakeSealingKey(SecretString(std::string(32, key_byte)));
  return std::move(*store::AesGcmSealer::Create(std::move(*key)));
}

config::ClusterConfig TestCluster(const std::string& name) {
  config::ClusterConfig cluster;
  cluster.name = name;
  cluster.server = "https://127.0.0.1:6443";
  cluster.ca_pem = kTestCaPem;
  return cluster;
}

void AdmitEverything(config::AdmissionPolicy& policy) {
  policy.allow_cluster_scope = true;
  policy.allow_create_namespace = true;
  policy.allow_token_only = true;
  policy.allow_legacy_tokens = true;
  policy.allow_adopt = true;
  policy.allowed_role_refs = {"ClusterRole/*", "Role/*"};
}

std::shared_ptr<kube::KubeClient> Unowned(kube::KubeClient& client) {
  // Aliasing an empty shared_ptr: no control block, nothing deleted.
  return std::shared_ptr<kube::KubeClient>(std::shared_ptr<kube::KubeClient>(), &client);
}

void SeedNamespace(kube::FakeKubeClient& kube, const std::string& name) {
  EXPECT_TRUE(kube.Seed(kube::Resource::kNamespace, {{"metadata", {{"name", name}}}}).ok()) << name;
}

TestBroker::TestBroker(Clock& clock, const config::TokenDefaults& defaults,
                       const std::vector<std::string>& namespaces)
    : kube(clock), sealer(TestSealer()) {
  for (const std::string& ns : namespaces) SeedNamespace(kube, ns);
  broker = std::make_unique<broker::Broker>(
      clock, store, *sealer, std::vector<broker::ClusterHandle>{{TestCluster(), Unowned(kube)}},
      defaults);
}

v1::AccountRef BrokerFixture::Ref(const std::string& ns, const std::string& name,
                                  const std::string& cluster) {
  v1::AccountRef ref;
  ref.set_cluster(cluster);
  ref.set_namespace_(ns);
  ref.set_name(name);
  return ref;
}

v1::AccountSpec BrokerFixture::RulesSpec(v1::Scope scope) {
  v1::AccountSpec spec;
  spec.set_scope(scope);
  v1::PolicyRule* rule = spec.mutable_access()->mutable_rules()->add_rules();
  for (const char* verb : {"get", "list", "watch"}) rule->add_verbs(verb);
  rule->add_resources("pods");
  rule->add_resources("configmaps");
  return spec;
}

v1::AccountSpec BrokerFixture::RoleRefSpec(v1::RoleKind kind, const std::string& role,
                                           v1::Scope scope) {
  v1::AccountSpec spec;
  spec.set_scope(scope);
  spec.mutable_access()->mutable_role_ref()->set_kind(kind);
  spec.mutable_access()->mutable_role_ref()->set_name(role);
  return spec;
}

google::protobuf::Duration BrokerFixture::Minutes(int64_t minutes) {
  google::protobuf::Duration d;
  d.set_seconds(minutes * 60);
  return d;
}

int BrokerFixture::Writes(const kube::FakeKubeClient& kube) {
  return kube.CallCount(Verb::kCreate) + kube.CallCount(Verb::kUpdate) +
         kube.CallCount(Verb::kDelete) + kube.CallCount(Verb::kCreateToken);
}

int BrokerFixture::AllCalls(const kube::FakeKubeClient& kube) {
  return static_cast<int>(kube.Calls().size());
}

BrokerFixture::BrokerFixture() : kube_(clock_), sealer_(TestSealer()), cluster_(TestCluster()) {
  // Everything kcred can do is admitted here; admission has its own tests.
  AdmitEverything(cluster_.policy);
  defaults_.ttl = absl::Hours(1);
  defaults_.grace = absl::Minutes(5);
  defaults_.legacy_token_wait = absl::Seconds(30);
  SeedNamespace("automation");
  broker_ = MakeBroker();
}

std::unique_ptr<broker::Broker> BrokerFixture::MakeBroker() {
  return std::make_unique<broker::Broker>(
      clock_, store_, *sealer_, std::vector<broker::ClusterHandle>{{cluster_, Unowned(kube_)}},
      defaults_);
}

void BrokerFixture::SeedNamespace(const std::string& name) { testing::SeedNamespace(kube_, name); }

void BrokerFixture::UseDefaultPolicy() {
  cluster_.policy = config::AdmissionPolicy();
  broker_ = MakeBroker();
}

absl::StatusOr<v1::ProvisionAccountResponse> BrokerFixture::Provision(const v1::AccountRef& ref,
                                                                      const v1::AccountSpec& spec) {
  v1::ProvisionAccountRequest request;
  *request.mutable_ref() = ref;
  *request.mutable_spec() = spec;
  return broker_->Provision(request);
}

absl::StatusOr<v1::RotateTokenResponse> BrokerFixture::Rotate(
    const v1::AccountRef& ref, std::optional<int64_t> grace_minutes) {
  v1::RotateTokenRequest request;
  *request.mutable_ref() = ref;
  request.set_reason("test");
  if (grace_minutes.has_value()) *request.mutable_grace() = Minutes(*grace_minutes);
  return broker_->RotateToken(request);
}

absl::StatusOr<v1::DeleteAccountResponse> BrokerFixture::Delete(const v1::AccountRef& ref) {
  v1::DeleteAccountRequest request;
  *request.mutable_ref() = ref;
  return broker_->DeleteAccount(request);
}

SecretString BrokerFixture::TokenOf(const v1::AccountRef& ref) {
  absl::StatusOr<v1::GetTokenResponse> token = broker_->GetToken(ref);
  EXPECT_TRUE(token.ok()) << token.status();
  return token.ok() ? SecretString(token->token()) : SecretString();
}

size_t BrokerFixture::Labelled(Resource resource, const std::string& ns, const std::string& name) {
  const std::string list_ns = kube::Describe(resource).namespaced ? ns : "";
  auto items = kube_.List(resource, list_ns, broker::AccountSelector("dev", ns, name),
                          absl::InfiniteFuture());
  EXPECT_TRUE(items.ok()) << items.status();
  return items.ok() ? items->size() : 0;
}

size_t BrokerFixture::LabelledEverywhere(const std::string& ns, const std::string& name) {
  size_t total = 0;
  for (Resource r :
       {Resource::kServiceAccount, Resource::kSecret, Resource::kRole, Resource::kRoleBinding,
        Resource::kClusterRole, Resource::kClusterRoleBinding}) {
    total += Labelled(r, ns, name);
  }
  return total;
}

}  // namespace kcred::testing
