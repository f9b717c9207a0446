#pragma once
// A CredentialBroker with canned answers, served on a unix socket in a temp dir, so tests drive
// kcred's commands end to end over real gRPC without kcredd.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "proto/kcred/v1/broker.grpc.pb.h"
#include "tests/support/process.h"

namespace kcred::client::testing {

class FakeBroker final : public v1::CredentialBroker::Service {
 public:
  // Canned answers. Set them before the calls; `failure`, when not OK, answers every RPC.
  grpc::Status failure = grpc::Status::OK;
  v1::GetKubeconfigResponse kubeconfig;
  v1::ProvisionAccountResponse provision;
  v1::Account account;
  // ListAccounts answers page i to page_token "" (i = 0) or "page-<i>", and hands out
  // "page-<i+1>" while pages remain.
  std::vector<v1::ListAccountsResponse> pages;
  v1::RotateTokenResponse rotate;
  v1::DeleteAccountResponse deleted;
  v1::ListClustersResponse clusters;
  v1::WhoAmIResponse whoami;
  v1::CheckAccessResponse access;

  // The requests seen, in order, by method name ("ProvisionAccount", ...).
  std::vector<std::string> Calls() const;
  std::vector<v1::ProvisionAccountRequest> ProvisionRequests() const;
  std::vector<v1::ListAccountsRequest> ListRequests() const;
  std::vector<v1::RotateTokenRequest> RotateRequests() const;
  std::vector<v1::CheckAccessRequest> CheckAccessRequests() const;
  std::vector<v1::AccountRef> Refs() const;  // the ref of every call that has one
  // How long the last call had left before its deadline when it arrived.
  std::chrono::system_clock::duration LastDeadlineBudget() const;

  grpc::Status ProvisionAccount(grpc::ServerContext*, const v1::ProvisionAccountRequest* request,
                                v1::ProvisionAccountResponse* response) override;
  grpc::Status GetAccount(grpc::ServerContext*, const v1::GetAccountRequest* request,
                          v1::Account* response) override;
  grpc::Status ListAccounts(grpc::ServerContext*, const v1::ListAccountsRequest* request,
                            v1::ListAccountsResponse* response) override;
  grpc::Status DeleteAccount(grpc::ServerContext*, const v1::DeleteAccountRequest* request,
                             v1::DeleteAccountResponse* response) override;
  grpc::Status RotateToken(grpc::ServerContext*, const v1::RotateTokenRequest* request,
                           v1::RotateTokenResponse* response) override;
  grpc::Status GetKubeconfig(grpc::ServerContext*, const v1::GetKubeconfigRequest* request,
                             v1::GetKubeconfigResponse* response) override;
  grpc::Status ListClusters(grpc::ServerContext*, const v1::ListClustersRequest* request,
                            v1::ListClustersResponse* response) override;
  grpc::Status WhoAmI(grpc::ServerContext*, const v1::WhoAmIRequest* request,
                      v1::WhoAmIResponse* response) override;
  grpc::Status CheckAccess(grpc::ServerContext*, const v1::CheckAccessRequest* request,
                           v1::CheckAccessResponse* response) override;

 private:
  void Record(grpc::ServerContext* context, const std::string& method, const v1::AccountRef* ref);

  mutable absl::Mutex mu_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  std::chrono::system_clock::duration last_budget_ ABSL_GUARDED_BY(mu_){};
  std::vector<v1::AccountRef> refs_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::ProvisionAccountRequest> provision_requests_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::ListAccountsRequest> list_requests_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::RotateTokenRequest> rotate_requests_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::CheckAccessRequest> check_requests_ ABSL_GUARDED_BY(mu_);
};

// Serves a FakeBroker on unix:<temp dir>/kcredd.sock until destroyed.
class FakeBrokerServer {
 public:
  FakeBrokerServer();
  ~FakeBrokerServer();
  FakeBroker& broker() { return broker_; }
  std::string address() const { return "unix:" + socket_; }

 private:
  kcred::testing::TempDir dir_;
  std::string socket_;
  FakeBroker broker_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace kcred::client::testing
