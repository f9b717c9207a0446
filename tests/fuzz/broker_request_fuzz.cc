// Every CredentialBroker request kcredd hands to the broker, built from fuzz bytes: the first byte
// picks the RPC, the rest is parsed as its request message and passed to a real Broker (over a
// fake Kubernetes and a memory store) that already holds one account, so the validation at entry
// (broker/validation, admission, ownership) and what lies behind it see any message. Every
// answer is a status, never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "proto/kcred/v1/broker.pb.h"
#include "tests/support/broker_fixture.h"
#include "tests/support/simulated_clock.h"

namespace {

using kcred::testing::BrokerFixture;

// Parses the bytes as a `Request` and, when they parse, hands it to `call`.
template <typename Request, typename Call>
void Serve(const uint8_t* data, size_t size, Call call) {
  Request request;
  if (request.ParseFromArray(data, static_cast<int>(size))) (void)call(request);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t rpc = data[0] % 7;
  ++data;
  --size;
  kcred::testing::SimulatedClock clock(kcred::testing::SimulatedClock::SleepMode::kInstant);
  kcred::testing::TestBroker env(clock, kcred::config::TokenDefaults{}, {"automation"});
  kcred::broker::Broker& broker = *env.broker;
  kcred::v1::ProvisionAccountRequest existing;
  *existing.mutable_ref() = BrokerFixture::Ref("automation", "ci-bot");
  *existing.mutable_spec() = BrokerFixture::RulesSpec();
  if (!broker.Provision(existing).ok()) std::abort();

  namespace v1 = kcred::v1;
  switch (rpc) {
    case 0:
      Serve<v1::ProvisionAccountRequest>(data, size, [&](auto& r) { return broker.Provision(r); });
      break;
    case 1:
      Serve<v1::GetAccountRequest>(data, size, [&](auto& r) { return broker.GetAccount(r.ref()); });
      break;
    case 2:
      Serve<v1::ListAccountsRequest>(data, size, [&](auto& r) { return broker.ListAccounts(r); });
      break;
    case 3:
      Serve<v1::DeleteAccountRequest>(data, size, [&](auto& r) { return broker.DeleteAccount(r); });
      break;
    case 4:
      Serve<v1::RotateTokenRequest>(data, size, [&](auto& r) { return broker.RotateToken(r); });
      break;
    case 5:
      Serve<v1::GetKubeconfigRequest>(data, size,
                                      [&](auto& r) { return broker.GetKubeconfig(r.ref()); });
      break;
    default:
      Serve<v1::GetTokenRequest>(data, size, [&](auto& r) { return broker.GetToken(r.ref()); });
  }
  return 0;
}
