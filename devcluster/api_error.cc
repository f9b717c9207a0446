#include "devcluster/api_error.h"

#include <optional>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/http_status.h"

namespace kcred::devcluster {
namespace {

constexpr char kPayloadUrl[] = "type.kcred.dev/k8s.io.apimachinery.pkg.apis.meta.v1.Status";

std::optional<nlohmann::json> Payload(const absl::Status& status) {
  absl::optional<absl::Cord> cord = status.GetPayload(kPayloadUrl);
  if (!cord) return std::nullopt;
  return nlohmann::json::parse(std::string(*cord), nullptr, /*allow_exceptions=*/false);
}

}  // namespace

absl::Status KubeError(int code, absl::string_view reason, absl::string_view message,
                       nlohmann::json details) {
  nlohmann::json body = KubeStatusBody(code, reason, message);
  if (!details.empty()) body["details"] = std::move(details);
  absl::Status status(StatusCodeForHttp(code, reason), message);
  // A message may quote the request (a name, a kind): bytes that are not UTF-8 are replaced, not
  // thrown on.
  status.SetPayload(
      kPayloadUrl, absl::Cord(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  return status;
}

absl::Status NotFoundError(const ResourceInfo& info, absl::string_view name) {
  nlohmann::json details = {{"name", name}, {"kind", info.resource}};
  if (!info.group.empty()) details["group"] = info.group;
  return KubeError(404, "NotFound", absl::StrCat(info.GroupResource(), " \"", name, "\" not found"),
                   std::move(details));
}

absl::Status PathNotFoundError() {
  return KubeError(404, "NotFound", "the server could not find the requested resource");
}

absl::Status AlreadyExistsError(const ResourceInfo& info, absl::string_view name) {
  nlohmann::json details = {{"name", name}, {"kind", info.resource}};
  if (!info.group.empty()) details["group"] = info.group;
  return KubeError(409, "AlreadyExists",
                   absl::StrCat(info.GroupResource(), " \"", name, "\" already exists"),
                   std::move(details));
}

absl::Status ConflictError(const ResourceInfo& info, absl::string_view name,
                           absl::string_view why) {
  nlohmann::json details = {{"name", name}, {"kind", info.resource}};
  if (!info.group.empty()) details["group"] = info.group;
  return KubeError(409, "Conflict",
                   absl::StrCat("Operation cannot be fulfilled on ", info.GroupResource(), " \"",
                                name, "\": ", why),
                   std::move(details));
}

absl::Status InvalidError(const ResourceInfo& info, absl::string_view name,
                          const std::vector<FieldCause>& causes) {
  std::vector<std::string> parts;
  nlohmann::json json_causes = nlohmann::json::array();
  for (const FieldCause& cause : causes) {
    std::string text =
        cause.value.empty()
            ? absl::StrCat(cause.field, ": ", cause.detail)
            : absl::StrCat(cause.field, ": Invalid value: ", cause.value, ": ", cause.detail);
    parts.push_back(text);
    json_causes.push_back(
        {{"reason", "FieldValueInvalid"},
         {"message", cause.value.empty()
                         ? cause.detail
                         : absl::StrCat("Invalid value: ", cause.value, ": ", cause.detail)},
         {"field", cause.field}});
  }
  std::string joined =
      parts.size() == 1 ? parts[0] : absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
  nlohmann::json details = {{"name", name}, {"kind", info.kind}, {"causes", json_causes}};
  if (!info.group.empty()) details["group"] = info.group;
  return KubeError(422, "Invalid",
                   absl::StrCat(info.GroupKind(), " \"", name, "\" is invalid: ", joined),
                   std::move(details));
}

absl::Status BadRequestError(absl::string_view message) {
  return KubeError(400, "BadRequest", message);
}

absl::Status ForbiddenError(const ResourceInfo* info, absl::string_view name,
                            absl::string_view message) {
  nlohmann::json details = nlohmann::json::object();
  if (info != nullptr) {
    if (!name.empty()) details["name"] = name;
    if (!info->group.empty()) details["group"] = info->group;
    details["kind"] = info->resource;
  }
  return KubeError(403, "Forbidden", message, std::move(details));
}

absl::Status UnauthorizedError() { return KubeError(401, "Unauthorized", "Unauthorized"); }

absl::Status GoneError(absl::string_view message) { return KubeError(410, "Expired", message); }

absl::Status MethodNotSupportedError(const ResourceInfo& info, absl::string_view verb) {
  return KubeError(405, "MethodNotAllowed",
                   absl::StrCat("the server does not allow this method on the requested resource (",
                                verb, " ", info.GroupResource(), ")"),
                   {{"kind", info.resource}});
}

absl::Status UnsupportedMediaTypeError(absl::string_view content_type) {
  return KubeError(415, "UnsupportedMediaType",
                   absl::StrCat("the body of the request was in an unknown format - accepted "
                                "media types include: application/json, application/yaml, "
                                "application/vnd.kubernetes.protobuf (got \"",
                                content_type, "\")"));
}

absl::Status TooManyRequestsError(int retry_after_seconds) {
  return KubeError(429, "TooManyRequests",
                   "the server has received too many requests and has asked us to try again later",
                   {{"retryAfterSeconds", retry_after_seconds}});
}

absl::Status ServiceUnavailableError(absl::string_view message) {
  return KubeError(503, "ServiceUnavailable", message);
}

absl::Status InternalServerError(absl::string_view message) {
  return KubeError(500, "InternalError", absl::StrCat("Internal error occurred: ", message));
}

int HttpStatusCode(const absl::Status& status) {
  if (status.ok()) return 200;
  if (std::optional<nlohmann::json> body = Payload(status); body && body->contains("code")) {
    return (*body)["code"].get<int>();
  }
  return HttpErrorForStatusCode(status.code()).status;
}

nlohmann::json StatusObject(const absl::Status& status) {
  if (std::optional<nlohmann::json> body = Payload(status); body && body->is_object()) {
    return *body;
  }
  const HttpError error = HttpErrorForStatusCode(status.code());
  return KubeStatusBody(error.status, error.reason, status.message());
}

nlohmann::json SuccessStatus(const ResourceInfo& info, absl::string_view name,
                             absl::string_view uid) {
  nlohmann::json details = {{"name", name}, {"kind", info.resource}, {"uid", uid}};
  if (!info.group.empty()) details["group"] = info.group;
  return {{"kind", "Status"},
          {"apiVersion", "v1"},
          {"metadata", nlohmann::json::object()},
          {"status", "Success"},
          {"details", details}};
}

}  // namespace kcred::devcluster
