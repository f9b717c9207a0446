#pragma once
// The CredentialBroker gRPC service. Handlers validate their request, call into the broker, and
// convert absl::Status to grpc::Status here and nowhere else.

#include <string>

#include "absl/time/time.h"
#include "daemon/server/caller.h"
#include "proto/kcred/v1/broker.grpc.pb.h"

namespace kcred::server {

class BrokerService final : public kcred::v1::CredentialBroker::Service {
 public:
  BrokerService(const PeerRegistry& peers, std::string version, absl::Time start_time);

  grpc::Status GetServerInfo(grpc::ServerContext* context, const kcred::v1::GetServerInfoRequest* request,
                             kcred::v1::GetServerInfoResponse* response) override;

 private:
  const PeerRegistry& peers_;
  const std::string version_;
  const absl::Time start_time_;
};

}  // namespace kcred::server
