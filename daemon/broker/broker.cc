// The Broker's frame: construction, Restore, account events and counts. Each operation lives in
// the file of its concern (see broker.h).

#include "daemon/broker/broker.h"

#include <utility>

#include "common/logging.h"
#include "common/status.h"
#include "daemon/broker/validation.h"

namespace kcred::broker {

using internal::v1::AccountRecord;

namespace {

constexpr absl::Duration kProbeTimeout = absl::Seconds(3);
// How long a cluster's reachability is answered from the last probe.
constexpr absl::Duration kProbeFreshFor = absl::Seconds(2);

}  // namespace

Broker::Broker(Clock& clock, store::Store& store, const store::Sealer& sealer,
               std::vector<ClusterHandle> clusters, config::TokenDefaults defaults)
    : clock_(clock),
      store_(store),
      sealer_(sealer),
      defaults_(defaults),
      issuer_(clock, sealer, defaults),
      clusters_(std::move(clusters)),
      probes_(clock, kProbeTimeout, kProbeFreshFor) {}

Broker::~Broker() = default;

absl::Status Broker::Restore() {
  auto log = Logger("broker");
  std::string start_after;
  size_t loaded = 0;
  for (;;) {
    store::ListOptions options;
    options.prefix = kAccountKeyPrefix;
    options.start_after = start_after;
    options.limit = 500;
    KCRED_ASSIGN_OR_RETURN(store::ListResult page, store_.List(options));
    for (const store::KeyValue& item : page.items) {
      KCRED_ASSIGN_OR_RETURN(AccountRecord record, ParseRecord(item));
      const AccountKey key = KeyOf(record.account().ref());
      auto state = std::make_shared<AccountState>();
      std::optional<Served> served;
      std::string unserved;
      const ClusterPtr cluster = clusters_.Lookup(std::get<0>(key));
      if (cluster != nullptr) {
        served = OpenServed(sealer_, cluster->config, key, record, &unserved);
      }
      {
        absl::MutexLock lock(&state->mu);
        accounts_.SetExists(*state, true);
        state->revision = item.mod_revision;
        state->record = std::move(record);
        if (cluster == nullptr) {
          state->serving.ClusterGone(std::get<0>(key), clock_.Now());
        } else if (served.has_value()) {
          state->serving.Serve(*std::move(served));
        } else {
          state->serving.Withhold(unserved);
        }
        unserved = state->serving.unserved_reason;
      }
      if (!unserved.empty()) {
        log->warn("account {}: restored without a token: {}", RefString(key), unserved);
      }
      accounts_.Insert(key, std::move(state));
      ++loaded;
    }
    if (!page.more || page.items.empty()) break;
    start_after = page.items.back().key;
  }
  log->info("restored {} accounts from the store", loaded);
  return absl::OkStatus();
}

void Broker::SetEventListener(EventListener listener) {
  absl::MutexLock lock(&listener_mu_);
  listener_ = std::move(listener);
}

void Broker::EmitAccount(v1::EventType type, v1::Account account, absl::string_view message) {
  absl::MutexLock lock(&listener_mu_);
  if (!listener_) return;
  v1::AccountEvent event;
  event.set_type(type);
  *event.mutable_account() = std::move(account);
  *event.mutable_time() = ToProto(clock_.Now());
  event.set_message(std::string(message));
  listener_(event);
}

void Broker::Emit(v1::EventType type, const AccountState& state, absl::string_view message) {
  v1::Account account;
  {
    absl::MutexLock lock(&state.mu);
    account = state.record.account();
  }
  EmitAccount(type, std::move(account), message);
}

size_t Broker::account_count() const { return accounts_.existing(); }

size_t Broker::account_count(const std::string& cluster) const {
  return accounts_.CountExisting(cluster);
}

}  // namespace kcred::broker
