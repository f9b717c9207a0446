#include "tests/unit/client/fake_broker.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace kcred::client::testing {

void FakeBroker::Record(grpc::ServerContext* context, const std::string& method,
                        const v1::AccountRef* ref) {
  absl::MutexLock lock(&mu_);
  last_budget_ = context->deadline() - std::chrono::system_clock::now();
  calls_.push_back(method);
  if (ref != nullptr) refs_.push_back(*ref);
}

std::chrono::system_clock::duration FakeBroker::LastDeadlineBudget() const {
  absl::MutexLock lock(&mu_);
  return last_budget_;
}

std::vector<std::string> FakeBroker::Calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

std::vector<v1::ProvisionAccountRequest> FakeBroker::ProvisionRequests() const {
  absl::MutexLock lock(&mu_);
  return provision_requests_;
}

std::vector<v1::ListAccountsRequest> FakeBroker::ListRequests() const {
  absl::MutexLock lock(&mu_);
  return list_requests_;
}

std::vector<v1::RotateTokenRequest> FakeBroker::RotateRequests() const {
  absl::MutexLock lock(&mu_);
  return rotate_requests_;
}

std::vector<v1::AccountRef> FakeBroker::Refs() const {
  absl::MutexLock lock(&mu_);
  return refs_;
}

grpc::Status FakeBroker::ProvisionAccount(grpc::ServerContext* context,
                                          const v1::ProvisionAccountRequest* request,
                                          v1::ProvisionAccountResponse* response) {
  Record(context, "ProvisionAccount", &request->ref());
  {
    absl::MutexLock lock(&mu_);
    provision_requests_.push_back(*request);
  }
  if (!failure.ok()) return failure;
  *response = provision;
  return grpc::Status::OK;
}

grpc::Status FakeBroker::GetAccount(grpc::ServerContext* context,
                                    const v1::GetAccountRequest* request, v1::Account* response) {
  Record(context, "GetAccount", &request->ref());
  if (!failure.ok()) return failure;
  *response = account;
  return grpc::Status::OK;
}

grpc::Status FakeBroker::ListAccounts(grpc::ServerContext* context,
                                      const v1::ListAccountsRequest* request,
                                      v1::ListAccountsResponse* response) {
  Record(context, "ListAccounts", nullptr);
  {
    absl::MutexLock lock(&mu_);
    list_requests_.push_back(*request);
  }
  if (!failure.ok()) return failure;
  std::size_t index = 0;
  if (!request->page_token().empty()) {
    absl::string_view token = request->page_token();
    if (!absl::ConsumePrefix(&token, "page-") || !absl::SimpleAtoi(token, &index) ||
        index >= pages.size()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad page token");
    }
  }
  if (index < pages.size()) *response = pages[index];
  if (index + 1 < pages.size()) response->set_next_page_token(absl::StrCat("page-", index + 1));
  return grpc::Status::OK;
}

grpc::Status FakeBroker::DeleteAccount(grpc::ServerContext* context,
                                       const v1::DeleteAccountRequest* request,
                                       v1::DeleteAccountResponse* response) {
  Record(context, "DeleteAccount", &request->ref());
  if (!failure.ok()) return failure;
  *response = deleted;
  return grpc::Status::OK;
}

grpc::Status FakeBroker::RotateToken(grpc::ServerContext* context,
                                     const v1::RotateTokenRequest* request,
                                     v1::RotateTokenResponse* response) {
  Record(context, "RotateToken", &request->ref());
  {
    absl::MutexLock lock(&mu_);
    rotate_requests_.push_back(*request);
  }
  if (!failure.ok()) return failure;
  *response = rotate;
  return grpc::Status::OK;
}

grpc::Status FakeBroker::GetKubeconfig(grpc::ServerContext* context,
                                       const v1::GetKubeconfigRequest* request,
                                       v1::GetKubeconfigResponse* response) {
  Record(context, "GetKubeconfig", &request->ref());
  if (!failure.ok()) return failure;
  *response = kubeconfig;
  return grpc::Status::OK;
}

grpc::Status FakeBroker::ListClusters(grpc::ServerContext* context, const v1::ListClustersRequest*,
                                      v1::ListClustersResponse* response) {
  Record(context, "ListClusters", nullptr);
  if (!failure.ok()) return failure;
  *response = clusters;
  return grpc::Status::OK;
}

grpc::Status FakeBroker::WhoAmI(grpc::ServerContext* context, const v1::WhoAmIRequest*,
                                v1::WhoAmIResponse* response) {
  Record(context, "WhoAmI", nullptr);
  if (!failure.ok()) return failure;
  *response = whoami;
  return grpc::Status::OK;
}

grpc::Status FakeBroker::CheckAccess(grpc::ServerContext* context,
                                     const v1::CheckAccessRequest* request,
                                     v1::CheckAccessResponse* response) {
  Record(context, "CheckAccess", &request->account());
  {
    absl::MutexLock lock(&mu_);
    check_requests_.push_back(*request);
  }
  if (!failure.ok()) return failure;
  *response = access;
  return grpc::Status::OK;
}

std::vector<v1::CheckAccessRequest> FakeBroker::CheckAccessRequests() const {
  absl::MutexLock lock(&mu_);
  return check_requests_;
}

FakeBrokerServer::FakeBrokerServer() : socket_(dir_.File("kcredd.sock")) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + socket_, grpc::InsecureServerCredentials());
  builder.RegisterService(&broker_);
  server_ = builder.BuildAndStart();
}

FakeBrokerServer::~FakeBrokerServer() {
  if (server_ != nullptr) server_->Shutdown();
}

}  // namespace kcred::client::testing
