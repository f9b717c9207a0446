#include "daemon/server/broker_service.h"

#include "common/logging.h"

namespace kcred::server {

BrokerService::BrokerService(const PeerRegistry& peers, std::string version, absl::Time start_time)
    : peers_(peers), version_(std::move(version)), start_time_(start_time) {}

grpc::Status BrokerService::GetServerInfo(grpc::ServerContext* context,
                                          const kcred::v1::GetServerInfoRequest* /*request*/,
                                          kcred::v1::GetServerInfoResponse* response) {
  response->set_version(version_);
  response->set_caller_identity(CallerIdentity(*context, peers_));
  const int64_t nanos = absl::ToUnixNanos(start_time_);
  response->mutable_start_time()->set_seconds(nanos / 1000000000);
  response->mutable_start_time()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  Logger("server")->debug("GetServerInfo from {}", response->caller_identity());
  return grpc::Status::OK;
}

}  // namespace kcred::server
