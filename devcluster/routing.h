#pragma once
// Routing of the dev cluster's API requests, as kube-apiserver's RequestInfoFactory reads a URL:
// which verb, group, version, resource, namespace, name and subresource a method and path mean,
// and which handler answers them. Pure functions: no store, no user.

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "devcluster/auth/rbac.h"
#include "devcluster/resources.h"

namespace kcred::devcluster {

struct Route {
  RequestAttributes attrs;             // what RBAC authorizes (verb, resource, path, ...)
  const ResourceInfo* info = nullptr;  // the served kind of a v1 resource request, else null
  bool watch = false;                  // ?watch=true
};

// The route of `method` on `path` (`watch`: the request's ?watch). Paths under /api/<version> and
// /apis/<group>/<version> with more after them are resource requests, everything else
// (discovery, /version, /healthz, /kcred-dev/...) is not. Verbs as Kubernetes names them: GET is
// get (with a name), watch (?watch) or list; POST create; PUT update; PATCH patch; DELETE delete
// or (without a name) deletecollection; non-resource requests use the lower-case method, POST and
// PUT as create and update. NotFound for paths deeper than <resource>/<name>/<subresource>.
absl::StatusOr<Route> ParseRoute(absl::string_view method, absl::string_view path, bool watch);

enum class Handler {
  kNonResource,   // discovery, health, /version, OpenAPI (discovery.h)
  kObjects,       // get, list, create, update, patch, delete, deletecollection (object_handler.h)
  kWatch,         // ?watch=true on a collection (watch.h)
  kTokenRequest,  // create serviceaccounts/<name>/token (token_request.h)
  kReview,        // the review kinds (reviews.h)
};

// The handler for an authorized route. NotFound for kinds or subresources that are not served
// and for namespaced kinds addressed without a namespace (except list and watch across all
// namespaces); MethodNotAllowed for a TokenRequest verb other than create.
absl::StatusOr<Handler> SelectHandler(const Route& route);

// A query boolean as Go's strconv.ParseBool reads it ("1", "t", "true", "True", ...);
// python3-kubernetes sends "True".
bool ParseBool(absl::string_view value);

}  // namespace kcred::devcluster
