#pragma once
// The CredentialBroker gRPC service. Every call, whatever its method, passes the gate
// (call_gate.h) before it reaches the broker: identified, limited, authorized and audited.
// absl::Status becomes grpc::Status here and nowhere else.

#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "daemon/broker/account_listener.h"
#include "daemon/broker/broker.h"
#include "daemon/server/call_gate.h"
#include "proto/kcred/v1/broker.grpc.pb.h"

namespace kcred::server {

// WatchAccounts is served by the callback API (watch_stream.h), so an open stream holds no thread;
// the other calls are short and run on gRPC's sync threads.
class BrokerService final
    : public v1::CredentialBroker::WithCallbackMethod_WatchAccounts<v1::CredentialBroker::Service> {
 public:
  // `broker` may be null: then account calls answer UNAVAILABLE (no clusters configured) until
  // Attach. `listener` (optional) hears about every successful change made through the API.
  BrokerService(ServiceDeps deps, broker::Broker* broker = nullptr,
                broker::AccountListener* listener = nullptr);

  // Serves accounts through `broker` from now on (kcredd started without clusters and a reload
  // added the first one). Both must outlive the service. Thread-safe.
  void Attach(broker::Broker* broker, broker::AccountListener* listener);

  grpc::Status ProvisionAccount(grpc::ServerContext* context,
                                const v1::ProvisionAccountRequest* request,
                                v1::ProvisionAccountResponse* response) override;
  grpc::Status GetAccount(grpc::ServerContext* context, const v1::GetAccountRequest* request,
                          v1::Account* response) override;
  // Only the accounts the caller may list (action list) are returned.
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
  // client cancels or the server stops (the hub is closed: UNAVAILABLE, clients reconnect). Only
  // accounts the caller may watch (action watch, decided with the policy of the moment) are sent.
  // Audited once, when the stream is accepted or refused.
  grpc::ServerWriteReactor<v1::AccountEvent>* WatchAccounts(
      grpc::CallbackServerContext* context, const v1::WatchAccountsRequest* request) override;
  // Only the clusters some account glob granting list-clusters names.
  grpc::Status ListClusters(grpc::ServerContext* context, const v1::ListClustersRequest* request,
                            v1::ListClustersResponse* response) override;
  // The drift check: the call needs doctor on what the request selects; the answer holds only the
  // accounts (and orphans labelled for accounts) the caller holds doctor on, and each repair of
  // fix needs the action it implies (provision, rotate, delete). The audit record lists the
  // repairs made.
  grpc::Status Doctor(grpc::ServerContext* context, const v1::DoctorRequest* request,
                      v1::DoctorResponse* response) override;
  grpc::Status GetServerInfo(grpc::ServerContext* context, const v1::GetServerInfoRequest* request,
                             v1::GetServerInfoResponse* response) override;
  grpc::Status WhoAmI(grpc::ServerContext* context, const v1::WhoAmIRequest* request,
                      v1::WhoAmIResponse* response) override;
  grpc::Status CheckAccess(grpc::ServerContext* context, const v1::CheckAccessRequest* request,
                           v1::CheckAccessResponse* response) override;

 private:
  // Runs a unary call through the gate: `call(broker, gate)` returns absl::StatusOr<T>. `ref` is
  // the account the action applies to (null: the call-level check of list-like actions).
  template <typename T, typename Call>
  grpc::Status Serve(grpc::ServerContext* context, const char* method, Action action,
                     const v1::AccountRef* ref, T* response, Call call);

  ServiceDeps deps_;
  std::atomic<broker::Broker*> broker_;
  std::atomic<broker::AccountListener*> listener_;
};

}  // namespace kcred::server
