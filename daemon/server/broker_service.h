#pragma once
// The CredentialBroker gRPC service. Handlers call into the broker and convert absl::Status to
// grpc::Status here and nowhere else. Every call that changes something is written to the audit
// log (logger "audit": caller, method, account, outcome; never a token).

#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "daemon/broker/account_listener.h"
#include "daemon/broker/broker.h"
#include "daemon/server/account_events.h"
#include "daemon/server/caller.h"
#include "proto/kcred/v1/broker.grpc.pb.h"

namespace kcred::server {

// absl::Status -> grpc::Status with the same canonical code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

class BrokerService final : public kcred::v1::CredentialBroker::Service {
 public:
  // `broker` may be null: then only GetServerInfo is served and account calls answer UNAVAILABLE.
  // `listener` (optional) hears about every successful change made through the API.
  // `events` (optional; must outlive the service) serves WatchAccounts: it should receive the
  // broker's events (Broker::SetEventListener); without it WatchAccounts answers UNAVAILABLE.
  BrokerService(broker::Broker* broker, broker::AccountListener* listener,
                const PeerRegistry& peers, std::string version, absl::Time start_time,
                AccountEventHub* events = nullptr);

  // Serves accounts through `broker` from now on (kcredd started without clusters and a reload
  // added the first one). Both must outlive the service. Thread-safe.
  void Attach(broker::Broker* broker, broker::AccountListener* listener);

  grpc::Status ProvisionAccount(grpc::ServerContext* context,
                                const v1::ProvisionAccountRequest* request,
                                v1::ProvisionAccountResponse* response) override;
  grpc::Status GetAccount(grpc::ServerContext* context, const v1::GetAccountRequest* request,
                          v1::Account* response) override;
  grpc::Status ListAccounts(grpc::ServerContext* context, const v1::ListAccountsRequest* request,
                            v1::ListAccountsResponse* response) override;
  grpc::Status DeleteAccount(grpc::ServerContext* context, const v1::DeleteAccountRequest* request,
                             v1::DeleteAccountResponse* response) override;
  grpc::Status RotateToken(grpc::ServerContext* context, const v1::RotateTokenRequest* request,
                           v1::RotateTokenResponse* response) override;
  grpc::Status GetKubeconfig(grpc::ServerContext* context, const v1::GetKubeconfigRequest* request,
                             v1::GetKubeconfigResponse* response) override;
  grpc::Status GetToken(grpc::ServerContext* context, const v1::GetTokenRequest* request,
                        v1::GetTokenResponse* response) override;
  // Optional SNAPSHOT events, then events resumed from resume_token, then live events until the
  // client cancels or the server stops (the hub is closed, or the call is cancelled at the end of
  // the shutdown grace).
  grpc::Status WatchAccounts(grpc::ServerContext* context, const v1::WatchAccountsRequest* request,
                             grpc::ServerWriter<v1::AccountEvent>* writer) override;
  grpc::Status ListClusters(grpc::ServerContext* context, const v1::ListClustersRequest* request,
                            v1::ListClustersResponse* response) override;
  grpc::Status GetServerInfo(grpc::ServerContext* context, const v1::GetServerInfoRequest* request,
                             v1::GetServerInfoResponse* response) override;

 private:
  // Runs `call` (returning absl::StatusOr<T>) into `response`, audits it when `audited`.
  template <typename T, typename Call>
  grpc::Status Handle(grpc::ServerContext* context, const char* method, const v1::AccountRef* ref,
                      bool audited, T* response, Call call);

  std::atomic<broker::Broker*> broker_;
  std::atomic<broker::AccountListener*> listener_;
  const PeerRegistry& peers_;
  const std::string version_;
  const absl::Time start_time_;
  AccountEventHub* events_;
};

}  // namespace kcred::server
