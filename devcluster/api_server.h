#pragma once
// The Kubernetes REST API over the object store. ApiServer authenticates (bearer tokens),
// routes, applies injected faults, authorizes (RBAC), hands the request to the handler of its
// kind and writes the answer and the access log. The handlers live in their own files:
//   authenticator.h     bearer tokens: the admin token and ServiceAccount tokens
//   routing.h           method and path to verb, resource, namespace, name; which handler
//   discovery.h         /api, /apis, /version, health, OpenAPI v3
//   object_handler.h    get, list, create, update, patch, delete, deletecollection
//   admission.h         defaulting, validation, RBAC escalation prevention before writes
//   watch.h             watch streams
//   token_request.h     TokenRequest
//   token_controller.h  the legacy token controller
//   reviews.h           TokenReview, SelfSubjectReview, the access reviews
// Transport-independent apart from cpp-httplib's request and response types.

#include <httplib.h>
#include <spdlog/logger.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/clock.h"
#include "devcluster/api_request.h"
#include "devcluster/api_server_config.h"
#include "devcluster/auth/tokens.h"
#include "devcluster/authenticator.h"
#include "devcluster/faults.h"
#include "devcluster/object_handler.h"
#include "devcluster/object_store.h"
#include "devcluster/reviews.h"
#include "devcluster/token_controller.h"
#include "devcluster/token_request.h"
#include "devcluster/watch.h"

namespace kcred::devcluster {

class ApiServer {
 public:
  // All references must outlive the server.
  ApiServer(ApiServerConfig config, ObjectStore& store, const ServiceAccountTokens& tokens,
            FaultInjector& faults, Clock& clock, std::shared_ptr<spdlog::logger> logger);

  // Creates the namespaces every cluster has (default, kube-system, kube-public) if missing.
  absl::Status Bootstrap();

  // Answers one HTTP request (any method and path). Thread-safe.
  void Handle(const httplib::Request& request, httplib::Response& response);

  // Before serving: the host:port /api announces.
  void set_server_address(std::string address) { config_.server_address = std::move(address); }

 private:
  absl::Status Route(ApiRequest& request);
  // An injected fault for the request (faults.h): waits its latency, then answers for it (an
  // error, or a dropped connection with `answered` set) or lets the request go on.
  absl::Status ApplyFault(ApiRequest& request, bool& answered);
  // /kcred-dev/faults: the admin reads, sets and clears fault injection at run time.
  absl::Status ServeFaults(ApiRequest& request);

  ApiServerConfig config_;
  ObjectStore& store_;
  FaultInjector& faults_;
  Clock& clock_;
  std::shared_ptr<spdlog::logger> logger_;
  Authenticator authenticator_;
  TokenController token_controller_;
  ObjectHandler objects_;
  WatchHandler watches_;
  TokenRequestHandler token_requests_;
  ReviewHandler reviews_;
};

}  // namespace kcred::devcluster
