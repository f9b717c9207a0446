#pragma once
// The object verbs of the dev cluster's REST API on stored kinds: get, list (selectors, limit and
// continue), create (generateName), update (PUT), patch (merge, JSON, strategic merge),
// delete and deletecollection, with ?dryRun=All. Writes pass admission (admission.h) before the
// store; the token controller (token_controller.h) follows Secret creates and ServiceAccount
// deletes, and deleting a namespace deletes its objects.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "devcluster/api_request.h"
#include "devcluster/object_store.h"
#include "devcluster/token_controller.h"

namespace kcred::devcluster {

class ObjectHandler {
 public:
  // Both must outlive the handler.
  ObjectHandler(ObjectStore& store, TokenController& token_controller);

  // The namespaces every cluster has; they cannot be deleted.
  static constexpr const char* kBuiltinNamespaces[] = {"default", "kube-system", "kube-public"};

  // Creates the built-in namespaces that do not exist yet (at start). Internal on failure.
  absl::Status CreateBuiltinNamespaces();

  // Answers an authorized request routed to Handler::kObjects (routing.h): sets the request's
  // status and body, or returns a Kubernetes error. MethodNotAllowed for other verbs.
  // Thread-safe.
  absl::Status Serve(ApiRequest& request);

 private:
  absl::Status Get(ApiRequest& request, const std::string& ns);
  // list, and deletecollection (the same selection, then a delete of each).
  absl::Status List(ApiRequest& request, const std::string& ns, bool dry_run);
  absl::Status Create(ApiRequest& request, const std::string& ns, bool dry_run);
  absl::Status Update(ApiRequest& request, const std::string& ns, bool dry_run);
  absl::Status Patch(ApiRequest& request, const std::string& ns, bool dry_run);
  absl::Status Delete(ApiRequest& request, const std::string& ns, bool dry_run);
  // What follows a delete: a namespace's objects go, a ServiceAccount's token Secrets go.
  void AfterDelete(const ResourceInfo& info, const std::string& ns, const nlohmann::json& deleted);
  static bool IsBuiltinNamespace(absl::string_view name);

  ObjectStore& store_;
  TokenController& token_controller_;
};

}  // namespace kcred::devcluster
