#pragma once
// What tests of the broker share. BrokerFixture: a real Broker over a fake Kubernetes
// (FakeKubeClient), a store that counts reads (CountingStore) and a SimulatedClock whose sleeps
// return at once (kInstant), with cluster "dev" admitting everything kcred can do, namespace
// "automation" seeded, and the calls and specs the tests use. TestBroker: the same real Broker for
// the tests of what runs on top of it (declared accounts, rotation, the gRPC service), on the
// test's own clock. The free pieces (sealer, cluster config, an unowned client for a
// ClusterHandle) serve tests that build a Broker their own way.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/secret.h"
#include "daemon/broker/broker.h"
#include "daemon/config/config.h"
#include "daemon/kube/fake_kube_client.h"
#include "daemon/kube/kube_client.h"
#include "daemon/store/aes_gcm_sealer.h"
#include "daemon/store/memory_store.h"
#include "google/protobuf/duration.pb.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "proto/kcred/v1/broker.pb.h"
#include "tests/support/counting_store.h"
#include "tests/support/simulated_clock.h"

namespace kcred::testing {

inline constexpr char kTestCaPem[] =
    "-----BEGIN CERTIFICATE-----\nTESTCA\n-----END CERTIFICATE-----\n";

// AES-256-GCM under a fixed key of 32 `key_byte`s.
std::unique_ptr<store::AesGcmSealer> TestSealer(char key_byte = 'k');

// Cluster `name` at https://127.0.0.1:6443 with kTestCaPem and the default admission policy.
config::ClusterConfig TestCluster(const std::string& name = "dev");

// A policy that admits everything kcred can do (cluster scope, namespace creation, token_only,
// legacy tokens, adopt, any role_ref).
void AdmitEverything(config::AdmissionPolicy& policy);

// `client` for a ClusterHandle, not owned: the test keeps it alive longer than the broker.
std::shared_ptr<kube::KubeClient> Unowned(kube::KubeClient& client);

// Adds namespace `name` to the fake cluster.
void SeedNamespace(kube::FakeKubeClient& kube, const std::string& name);

// A real Broker over cluster "dev" (TestCluster: the default admission policy) served by a
// FakeKubeClient, a MemoryStore and TestSealer, on `clock` (which must outlive it); `namespaces`
// exist in the fake cluster from the start.
struct TestBroker {
  TestBroker(Clock& clock, const config::TokenDefaults& defaults,
             const std::vector<std::string>& namespaces);

  kube::FakeKubeClient kube;
  store::MemoryStore store;
  std::unique_ptr<store::AesGcmSealer> sealer;
  std::unique_ptr<broker::Broker> broker;
};

class BrokerFixture : public ::testing::Test {
 public:
  // The vocabulary of the broker's tests (public, for tests without the fixture too).
  using Resource = kube::Resource;
  using Verb = kube::Verb;
  using TokenState = kube::FakeKubeClient::TokenState;
  using json = nlohmann::json;

  static v1::AccountRef Ref(const std::string& ns, const std::string& name,
                            const std::string& cluster = "dev");
  // get, list and watch on pods and configmaps, at `scope`.
  static v1::AccountSpec RulesSpec(v1::Scope scope = v1::SCOPE_NAMESPACE);
  // Binds the existing role `role` of `kind`.
  static v1::AccountSpec RoleRefSpec(v1::RoleKind kind, const std::string& role,
                                     v1::Scope scope = v1::SCOPE_NAMESPACE);
  static google::protobuf::Duration Minutes(int64_t minutes);
  // How many writes (create, update, delete, token request) / calls of any kind `kube` has seen.
  static int Writes(const kube::FakeKubeClient& kube);
  static int AllCalls(const kube::FakeKubeClient& kube);

 protected:
  BrokerFixture();

  // A new Broker over the fixture's clock, store, sealer, cluster "dev" (cluster_) and defaults.
  std::unique_ptr<broker::Broker> MakeBroker();

  void SeedNamespace(const std::string& name);
  // Gives cluster "dev" the default admission policy, in a new broker_.
  void UseDefaultPolicy();

  absl::StatusOr<v1::ProvisionAccountResponse> Provision(const v1::AccountRef& ref,
                                                         const v1::AccountSpec& spec);
  // A rotation through the API, with the grace given (the policy's otherwise).
  absl::StatusOr<v1::RotateTokenResponse> Rotate(const v1::AccountRef& ref,
                                                 std::optional<int64_t> grace_minutes = {});
  absl::StatusOr<v1::DeleteAccountResponse> Delete(const v1::AccountRef& ref);
  // The account's current token (empty, and a test failure, when it has none).
  SecretString TokenOf(const v1::AccountRef& ref);

  // Objects of `resource` carrying the account's labels, on cluster "dev".
  size_t Labelled(kube::Resource resource, const std::string& ns, const std::string& name);
  // The same, over every kind kcred labels per account.
  size_t LabelledEverywhere(const std::string& ns, const std::string& name);

  SimulatedClock clock_{SimulatedClock::SleepMode::kInstant};
  kube::FakeKubeClient kube_;
  CountingStore store_;
  std::unique_ptr<store::AesGcmSealer> sealer_;
  config::ClusterConfig cluster_;
  config::TokenDefaults defaults_;
  std::unique_ptr<broker::Broker> broker_;
};

}  // namespace kcred::testing
