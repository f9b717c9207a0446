#pragma once
// A real Broker for the tests of what runs on top of it (the declared-accounts reconciler, the
// Revoker, the gRPC service): cluster "dev" served by a FakeKubeClient, a MemoryStore and a fixed
// sealing key, all on the test's clock.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "daemon/broker/broker.h"
#include "daemon/kube/fake_kube_client.h"
#include "daemon/store/aes_gcm_sealer.h"
#include "daemon/store/memory_store.h"
#include "daemon/store/sealing_key.h"
#include "gtest/gtest.h"

namespace kcred::testing {

inline constexpr char kTestCaPem[] =
    "-----BEGIN CERTIFICATE-----\nTESTCA\n-----END CERTIFICATE-----\n";

struct TestBroker {
  // `namespaces` exist in the fake cluster from the start. `clock` must outlive this.
  TestBroker(Clock& clock, const config::TokenDefaults& defaults,
             const std::vector<std::string>& namespaces)
      : kube(clock) {
    auto key = store::MakeSealingKey(SecretString(std::string(32, 'k')));
    sealer = std::move(*store::AesGcmSealer::Create(std::move(*key)));
    config::ClusterConfig cluster;
    cluster.name = "dev";
    cluster.server = "https://127.0.0.1:6443";
    cluster.ca_pem = kTestCaPem;
    for (const std::string& ns : namespaces) {
      EXPECT_TRUE(kube.Seed(kube::Resource::kNamespace, {{"metadata", {{"name", ns}}}}).ok());
    }
    broker = std::make_unique<broker::Broker>(
        clock, store, *sealer, std::vector<broker::ClusterHandle>{{cluster, &kube}}, defaults);
  }

  kube::FakeKubeClient kube;
  store::MemoryStore store;
  std::unique_ptr<store::Sealer> sealer;
  std::unique_ptr<broker::Broker> broker;
};

}  // namespace kcred::testing
