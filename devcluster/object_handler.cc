#include "devcluster/object_handler.h"

#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "devcluster/admission.h"
#include "devcluster/api_error.h"
#include "devcluster/json_fields.h"
#include "devcluster/patch.h"

namespace kcred::devcluster {
namespace {

// How often a patch is tried again when another write came between its read and its write.
constexpr int kPatchAttempts = 5;

}  // namespace

ObjectHandler::ObjectHandler(ObjectStore& store, TokenController& token_controller)
    : store_(store), token_controller_(token_controller) {}

absl::Status ObjectHandler::CreateBuiltinNamespaces() {
  const ResourceInfo& namespaces = *FindResource("", "namespaces");
  for (const char* name : kBuiltinNamespaces) {
    if (store_.Get("namespaces", "", name).has_value()) continue;
    nlohmann::json ns = {{"metadata", {{"name", name}}}};
    if (absl::Status s = PrepareObject(namespaces, ns, nullptr); !s.ok()) return s;
    absl::StatusOr<nlohmann::json> created = store_.Create(namespaces, "", std::move(ns));
    if (!created.ok()) {
      return absl::InternalError(
          absl::StrCat("creating namespace ", name, " at start: ", created.status().message()));
    }
  }
  return absl::OkStatus();
}

absl::Status ObjectHandler::Serve(ApiRequest& request) {
  const ResourceInfo& info = *request.route.info;
  const std::string& verb = request.route.attrs.verb;
  const std::string ns = info.namespaced ? request.route.attrs.namespace_name : "";
  const std::string dry_run_param = request.http.get_param_value("dryRun");
  if (!dry_run_param.empty() && dry_run_param != "All") {
    return BadRequestError(absl::StrCat("dryRun: Unsupported value: \"", dry_run_param,
                                        "\": supported values: \"All\""));
  }
  const bool dry_run = dry_run_param == "All";
  if (verb == "get") return Get(request, ns);
  if (verb == "list" || verb == "deletecollection") return List(request, ns, dry_run);
  if (verb == "create") return Create(request, ns, dry_run);
  if (verb == "update") return Update(request, ns, dry_run);
  if (verb == "patch") return Patch(request, ns, dry_run);
  if (verb == "delete") return Delete(request, ns, dry_run);
  return MethodNotSupportedError(info, verb);
}

absl::Status ObjectHandler::Get(ApiRequest& request, const std::string& ns) {
  absl::StatusOr<nlohmann::json> object =
      store_.Get(*request.route.info, ns, request.route.attrs.name);
  if (!object.ok()) return object.status();
  request.body = *std::move(object);
  return absl::OkStatus();
}

absl::Status ObjectHandler::List(ApiRequest& request, const std::string& ns, bool dry_run) {
  const ResourceInfo& info = *request.route.info;
  const httplib::Request& http = request.http;
  const bool list = request.route.attrs.verb == "list";
  ListOptions options;
  if (absl::Status s = ParseSelectors(http, info, options); !s.ok()) return s;
  if (list) {
    if (http.has_param("limit") &&
        !absl::SimpleAtoi(http.get_param_value("limit"), &options.limit)) {
      return BadRequestError("limit must be an integer");
    }
    options.continue_token = http.get_param_value("continue");
  }
  absl::StatusOr<ListResult> result = store_.List(info, ns, options);
  if (!result.ok()) return result.status();
  if (!list) {  // deletecollection
    for (const nlohmann::json& item : result->items) {
      const std::string item_ns = Str(item, {"metadata", "namespace"});
      absl::StatusOr<nlohmann::json> deleted =
          store_.Delete(info, item_ns, Str(item, {"metadata", "name"}), "", dry_run);
      if (deleted.ok() && !dry_run) AfterDelete(info, item_ns, *deleted);
    }
    request.body = {{"kind", "Status"},
                    {"apiVersion", "v1"},
                    {"metadata", nlohmann::json::object()},
                    {"status", "Success"}};
    return absl::OkStatus();
  }
  nlohmann::json metadata = {{"resourceVersion", absl::StrCat(result->resource_version)}};
  if (!result->continue_token.empty()) metadata["continue"] = result->continue_token;
  request.body = {{"kind", absl::StrCat(info.kind, "List")},
                  {"apiVersion", info.GroupVersion()},
                  {"metadata", std::move(metadata)},
                  {"items", std::move(result->items)}};
  return absl::OkStatus();
}

absl::Status ObjectHandler::Create(ApiRequest& request, const std::string& ns, bool dry_run) {
  const ResourceInfo& info = *request.route.info;
  absl::StatusOr<nlohmann::json> body = ReadBody(request.http);
  if (!body.ok()) return body.status();
  if (absl::Status s =
          ConfirmNoEscalation(store_, request.user, info, request.route.attrs, *body, nullptr);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = PrepareObject(info, *body, nullptr); !s.ok()) return s;
  absl::StatusOr<nlohmann::json> created = store_.Create(info, ns, *std::move(body), dry_run);
  if (!created.ok()) return created.status();
  if (!dry_run && info.resource == "secrets" && TokenController::IsTokenSecret(*created)) {
    absl::StatusOr<nlohmann::json> filled = token_controller_.FillSecret(*created);
    if (filled.ok()) created = *std::move(filled);
  }
  request.status = 201;
  request.body = *std::move(created);
  return absl::OkStatus();
}

absl::Status ObjectHandler::Update(ApiRequest& request, const std::string& ns, bool dry_run) {
  const ResourceInfo& info = *request.route.info;
  const RequestAttributes& attrs = request.route.attrs;
  absl::StatusOr<nlohmann::json> body = ReadBody(request.http);
  if (!body.ok()) return body.status();
  const std::string body_name = Str(*body, {"metadata", "name"});
  if (body_name != attrs.name) {
    return BadRequestError(absl::StrCat("the name of the object (", body_name,
                                        ") does not match the name on the URL (", attrs.name, ")"));
  }
  absl::StatusOr<nlohmann::json> current = store_.Get(info, ns, attrs.name);
  if (!current.ok()) return current.status();
  if (absl::Status s = ConfirmNoEscalation(store_, request.user, info, attrs, *body, &*current);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = PrepareObject(info, *body, *current); !s.ok()) return s;
  // Leases are the one kind here whose updates must name the version they replace.
  absl::StatusOr<nlohmann::json> updated =
      store_.Update(info, ns, *std::move(body), info.resource == "leases", dry_run);
  if (!updated.ok()) return updated.status();
  request.body = *std::move(updated);
  return absl::OkStatus();
}

absl::Status ObjectHandler::Patch(ApiRequest& request, const std::string& ns, bool dry_run) {
  const ResourceInfo& info = *request.route.info;
  const RequestAttributes& attrs = request.route.attrs;
  const std::string content_type = request.http.get_header_value("Content-Type");
  absl::StatusOr<PatchType> type = PatchTypeFromContentType(content_type);
  if (!type.ok()) return UnsupportedMediaTypeError(content_type);
  nlohmann::json patch = nlohmann::json::parse(request.http.body, nullptr, false);
  if (patch.is_discarded()) return BadRequestError("the patch is not valid JSON");
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<nlohmann::json> current = store_.Get(info, ns, attrs.name);
    if (!current.ok()) return current.status();
    absl::StatusOr<nlohmann::json> patched = ApplyPatch(*current, patch, *type);
    if (!patched.ok()) return KubeError(422, "Invalid", patched.status().message());
    if (Str(*patched, {"metadata", "name"}) != attrs.name) {
      return BadRequestError("a patch may not change metadata.name");
    }
    const std::string patched_rv = Str(*patched, {"metadata", "resourceVersion"});
    const bool patch_sets_rv =
        !patched_rv.empty() && patched_rv != Str(*current, {"metadata", "resourceVersion"});
    if (absl::Status s =
            ConfirmNoEscalation(store_, request.user, info, attrs, *patched, &*current);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = PrepareObject(info, *patched, *current); !s.ok()) return s;
    absl::StatusOr<nlohmann::json> updated =
        store_.Update(info, ns, *std::move(patched), false, dry_run);
    if (updated.ok()) {
      request.body = *std::move(updated);
      return absl::OkStatus();
    }
    // A conflict the patch did not ask for (someone wrote in between) is retried.
    if (!absl::IsAborted(updated.status()) || patch_sets_rv || attempt >= kPatchAttempts) {
      return updated.status();
    }
  }
}

absl::Status ObjectHandler::Delete(ApiRequest& request, const std::string& ns, bool dry_run) {
  const ResourceInfo& info = *request.route.info;
  const std::string& name = request.route.attrs.name;
  if (info.resource == "namespaces" && IsBuiltinNamespace(name)) {
    return ForbiddenError(
        &info, name,
        absl::StrCat("namespaces \"", name, "\" is forbidden: this namespace may not be deleted"));
  }
  std::string expected_uid;
  if (!request.http.body.empty()) {
    nlohmann::json options = nlohmann::json::parse(request.http.body, nullptr, false);
    if (!options.is_discarded()) expected_uid = Str(options, {"preconditions", "uid"});
  }
  absl::StatusOr<nlohmann::json> deleted = store_.Delete(info, ns, name, expected_uid, dry_run);
  if (!deleted.ok()) return deleted.status();
  if (!dry_run) AfterDelete(info, ns, *deleted);
  if (info.resource == "serviceaccounts" || info.resource == "namespaces") {
    request.body = *std::move(deleted);
  } else {
    request.body = SuccessStatus(info, name, Str(*deleted, {"metadata", "uid"}));
  }
  return absl::OkStatus();
}

void ObjectHandler::AfterDelete(const ResourceInfo& info, const std::string& ns,
                                const nlohmann::json& deleted) {
  if (info.resource == "namespaces") {
    store_.DeleteNamespaceContents(Str(deleted, {"metadata", "name"}));
  } else if (info.resource == "serviceaccounts") {
    token_controller_.ServiceAccountDeleted(ns, Str(deleted, {"metadata", "name"}));
  }
}

bool ObjectHandler::IsBuiltinNamespace(absl::string_view name) {
  for (const char* builtin : kBuiltinNamespaces) {
    if (name == builtin) return true;
  }
  return false;
}

}  // namespace kcred::devcluster
