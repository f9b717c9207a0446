#pragma once
// One Kubernetes API request in flight, as the handlers behind ApiServer (api_server.h) see it:
// the HTTP exchange, who asked, what for (routing.h), and the answer the handler builds. A handler
// either sets `status` and `body` (JSON), or writes `response` itself and sets `raw` (watch
// streams, health checks, dropped connections). Errors are returned as Kubernetes errors
// (api_error.h); ApiServer writes them.

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "devcluster/auth/user_info.h"
#include "devcluster/object_store.h"
#include "devcluster/resources.h"
#include "devcluster/routing.h"

namespace kcred::devcluster {

struct ApiRequest {
  const httplib::Request& http;
  httplib::Response& response;
  UserInfo user;
  Route route;
  int status = 200;
  nlohmann::json body;   // the answer, unless `raw`
  bool raw = false;      // the handler wrote `response` itself
  bool dropped = false;  // an injected fault tears the connection (for the access log)
};

// The request body as JSON: a JSON body (Content-Type application/json, *+json or none) or a
// Kubernetes protobuf one (kubectl's typed creates). BadRequest when it does not decode,
// UnsupportedMediaType for other types.
absl::StatusOr<nlohmann::json> ReadBody(const httplib::Request& http);

// The labelSelector and fieldSelector of a list or watch of `info`, into `options` (Secrets allow
// the field "type"). A bad selector is a 400 BadRequest; for labels with kube-apiserver's "unable
// to parse requirement: " before the parser's message.
absl::Status ParseSelectors(const httplib::Request& http, const ResourceInfo& info,
                            ListOptions& options);

}  // namespace kcred::devcluster
