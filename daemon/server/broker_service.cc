#include "daemon/server/broker_service.h"

#include <memory>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"

namespace kcred::server {
namespace {

std::string RefString(const v1::AccountRef* ref) {
  if (ref == nullptr) return "-";
  return absl::StrCat(ref->cluster(), "/", ref->namespace_(), "/", ref->name());
}

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(t);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

// How long a WatchAccounts Write in progress at shutdown may still take before it is cancelled.
constexpr absl::Duration kBlockedWriteGrace = absl::Seconds(1);

// What a WatchAccounts handler shares with the hub's close hook (which may outlive it).
struct WatchCallState {
  absl::Mutex mu;
  grpc::ServerContext* context ABSL_GUARDED_BY(mu) = nullptr;  // null once the handler returned
  bool writing ABSL_GUARDED_BY(mu) = false;
};

grpc::Status NoClusters() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "kcredd has no clusters configured; add one to its configuration and reload "
                      "it (systemctl reload kcredd, or SIGHUP)");
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

BrokerService::BrokerService(broker::Broker* broker, broker::AccountListener* listener,
                             const PeerRegistry& peers, std::string version, absl::Time start_time,
                             AccountEventHub* events)
    : broker_(broker),
      listener_(listener),
      peers_(peers),
      version_(std::move(version)),
      start_time_(start_time),
      events_(events) {}

void BrokerService::Attach(broker::Broker* broker, broker::AccountListener* listener) {
  listener_.store(listener);
  broker_.store(broker);
}

template <typename T, typename Call>
grpc::Status BrokerService::Handle(grpc::ServerContext* context, const char* method,
                                   const v1::AccountRef* ref, bool audited, T* response,
                                   Call call) {
  broker::Broker* broker = broker_.load();
  if (broker == nullptr) return NoClusters();
  absl::StatusOr<T> result = call(*broker);
  const std::string caller = CallerIdentity(*context, peers_);
  if (audited) {
    Logger("audit")->info("caller={} method={} account={} result={}", caller, method,
                          RefString(ref),
                          result.ok() ? "OK" : absl::StatusCodeToString(result.status().code()));
  }
  if (!result.ok()) {
    Logger("server")->debug("{} {} for {}: {}", method, RefString(ref), caller,
                            result.status().message());
    return ToGrpcStatus(result.status());
  }
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status BrokerService::ProvisionAccount(grpc::ServerContext* context,
                                             const v1::ProvisionAccountRequest* request,
                                             v1::ProvisionAccountResponse* response) {
  grpc::Status status = Handle(context, "ProvisionAccount", &request->ref(), true, response,
                               [&](broker::Broker& b) { return b.Provision(*request); });
  if (broker::AccountListener* listener = listener_.load();
      status.ok() && listener != nullptr && !request->validate_only()) {
    listener->AccountChanged(response->account());
  }
  return status;
}

grpc::Status BrokerService::GetAccount(grpc::ServerContext* context,
                                       const v1::GetAccountRequest* request,
                                       v1::Account* response) {
  return Handle(context, "GetAccount", &request->ref(), false, response,
                [&](broker::Broker& b) { return b.GetAccount(request->ref()); });
}

grpc::Status BrokerService::ListAccounts(grpc::ServerContext* context,
                                         const v1::ListAccountsRequest* request,
                                         v1::ListAccountsResponse* response) {
  return Handle(context, "ListAccounts", nullptr, false, response,
                [&](broker::Broker& b) { return b.ListAccounts(*request); });
}

grpc::Status BrokerService::DeleteAccount(grpc::ServerContext* context,
                                          const v1::DeleteAccountRequest* request,
                                          v1::DeleteAccountResponse* response) {
  grpc::Status status = Handle(context, "DeleteAccount", &request->ref(), true, response,
                               [&](broker::Broker& b) { return b.DeleteAccount(*request); });
  if (broker::AccountListener* listener = listener_.load(); status.ok() && listener != nullptr) {
    listener->AccountDeleted(request->ref());
  }
  return status;
}

grpc::Status BrokerService::RotateToken(grpc::ServerContext* context,
                                        const v1::RotateTokenRequest* request,
                                        v1::RotateTokenResponse* response) {
  grpc::Status status = Handle(context, "RotateToken", &request->ref(), true, response,
                               [&](broker::Broker& b) { return b.RotateToken(*request); });
  if (broker::AccountListener* listener = listener_.load(); status.ok() && listener != nullptr) {
    listener->AccountChanged(response->account());
  }
  return status;
}

grpc::Status BrokerService::GetKubeconfig(grpc::ServerContext* context,
                                          const v1::GetKubeconfigRequest* request,
                                          v1::GetKubeconfigResponse* response) {
  // Credential reads are audited too: who fetched which account's secret matters.
  return Handle(context, "GetKubeconfig", &request->ref(), true, response,
                [&](broker::Broker& b) { return b.GetKubeconfig(request->ref()); });
}

grpc::Status BrokerService::GetToken(grpc::ServerContext* context,
                                     const v1::GetTokenRequest* request,
                                     v1::GetTokenResponse* response) {
  return Handle(context, "GetToken", &request->ref(), true, response,
                [&](broker::Broker& b) { return b.GetToken(request->ref()); });
}

grpc::Status BrokerService::WatchAccounts(grpc::ServerContext* context,
                                          const v1::WatchAccountsRequest* request,
                                          grpc::ServerWriter<v1::AccountEvent>* writer) {
  broker::Broker* broker = broker_.load();
  if (broker == nullptr) return NoClusters();
  if (events_ == nullptr) {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        "this kcredd does not publish account events; upgrade kcredd");
  }
  const std::string caller = CallerIdentity(*context, peers_);
  // Validates the selector (known cluster, parsable label selector) the way ListAccounts does.
  v1::ListAccountsRequest list;
  *list.mutable_selector() = request->selector();
  list.set_page_size(1);
  if (absl::StatusOr<v1::ListAccountsResponse> probe = broker->ListAccounts(list); !probe.ok()) {
    return ToGrpcStatus(probe.status());
  }
  // Subscribe before reading the snapshot, so nothing that happens meanwhile is lost.
  absl::StatusOr<std::unique_ptr<AccountEventHub::Subscription>> subscription =
      events_->Subscribe(request->selector(), request->resume_token());
  if (!subscription.ok()) return ToGrpcStatus(subscription.status());
  // At shutdown a handler waiting for events ends with UNAVAILABLE (clients reconnect). A Write in
  // progress gets a moment to finish (a client that reads takes the event, then hears UNAVAILABLE);
  // one still blocked after that (a client that does not read) is cancelled, so it cannot hold up
  // the drain.
  auto state = std::make_shared<WatchCallState>();
  state->context = context;
  absl::Cleanup handler_done = [state] {
    absl::MutexLock lock(&state->mu);
    state->context = nullptr;
  };
  (*subscription)->OnClose([state] {
    absl::MutexLock lock(&state->mu);
    if (!state->writing) return;
    std::thread([state] {
      absl::MutexLock lock(&state->mu);
      state->mu.AwaitWithTimeout(absl::Condition(
                                     +[](WatchCallState* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) {
                                       return !s->writing || s->context == nullptr;
                                     },
                                     state.get()),
                                 kBlockedWriteGrace);
      if (state->writing && state->context != nullptr) state->context->TryCancel();
    }).detach();
  });
  auto write = [&](const v1::AccountEvent& e) {
    {
      absl::MutexLock lock(&state->mu);
      state->writing = true;
    }
    const bool ok = writer->Write(e);
    absl::MutexLock lock(&state->mu);
    state->writing = false;
    return ok;
  };
  Logger("server")->debug("WatchAccounts for {}: started ({})", caller,
                          request->resume_token().empty() ? "from now" : "resuming");
  if (request->resume_token().empty() && request->send_initial_state()) {
    list.set_page_size(0);
    for (;;) {
      absl::StatusOr<v1::ListAccountsResponse> page = broker->ListAccounts(list);
      if (!page.ok()) return ToGrpcStatus(page.status());
      for (const v1::Account& account : page->accounts()) {
        v1::AccountEvent event;
        event.set_type(v1::EVENT_TYPE_SNAPSHOT);
        *event.mutable_account() = account;
        event.set_resume_token((*subscription)->start_token());
        SetTimestamp(absl::Now(), event.mutable_time());
        if (!write(event)) {
          return grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away");
        }
      }
      if (page->next_page_token().empty()) break;
      list.set_page_token(page->next_page_token());
    }
  }
  // Wakes up now and then to notice a cancelled call even when no event comes.
  constexpr absl::Duration kPoll = absl::Milliseconds(250);
  v1::AccountEvent event;
  for (;;) {
    if (context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "the watch was cancelled");
    }
    switch ((*subscription)->Next(kPoll, &event)) {
      case AccountEventHub::NextResult::kTimeout:
        continue;
      case AccountEventHub::NextResult::kClosed:
        return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            "kcredd is shutting down; reconnect and pass the last resume_token");
      case AccountEventHub::NextResult::kEvent:
        if (!write(event)) {
          return grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away");
        }
        break;
    }
  }
}

grpc::Status BrokerService::ListClusters(grpc::ServerContext* context,
                                         const v1::ListClustersRequest* /*request*/,
                                         v1::ListClustersResponse* response) {
  return Handle(context, "ListClusters", nullptr, false, response,
                [&](broker::Broker& b) { return b.ListClusters(); });
}

grpc::Status BrokerService::GetServerInfo(grpc::ServerContext* context,
                                          const v1::GetServerInfoRequest* /*request*/,
                                          v1::GetServerInfoResponse* response) {
  response->set_version(version_);
  response->set_caller_identity(CallerIdentity(*context, peers_));
  SetTimestamp(start_time_, response->mutable_start_time());
  return grpc::Status::OK;
}

}  // namespace kcred::server
