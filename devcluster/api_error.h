#pragma once
// Kubernetes API errors (metav1.Status) carried as absl::Status: the code and message say what a
// Go client expects, and a payload holds the full Status object with reason and details. HTTP
// statuses and absl codes map as common/http_status.h says, the mapping kcredd reads answers with
// (409 Conflict and 410 Expired are Aborted, 409 AlreadyExists is AlreadyExists).

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "devcluster/resources.h"

namespace kcred::devcluster {

struct FieldCause {
  std::string field;  // e.g. "metadata.name"
  std::string
      value;  // rendered like Go's %#v: go::Quote (auth/go_quote.h) for strings, 60 for numbers
  std::string detail;
};

// Any Kubernetes error: HTTP `code`, `reason` (NotFound, ...), `message`, `details`.
absl::Status KubeError(int code, absl::string_view reason, absl::string_view message,
                       nlohmann::json details = nlohmann::json::object());

absl::Status NotFoundError(const ResourceInfo& info, absl::string_view name);
// 404 for a path that names nothing served: "the server could not find the requested resource".
absl::Status PathNotFoundError();
absl::Status AlreadyExistsError(const ResourceInfo& info, absl::string_view name);
// The optimistic-concurrency conflict: "Operation cannot be fulfilled on ...: the object has been
// modified; please apply your changes to the latest version and try again".
absl::Status ConflictError(const ResourceInfo& info, absl::string_view name, absl::string_view why);
absl::Status InvalidError(const ResourceInfo& info, absl::string_view name,
                          const std::vector<FieldCause>& causes);
absl::Status BadRequestError(absl::string_view message);
absl::Status ForbiddenError(const ResourceInfo* info, absl::string_view name,
                            absl::string_view message);
absl::Status UnauthorizedError();
absl::Status GoneError(absl::string_view message);
absl::Status MethodNotSupportedError(const ResourceInfo& info, absl::string_view verb);
absl::Status UnsupportedMediaTypeError(absl::string_view content_type);
absl::Status TooManyRequestsError(int retry_after_seconds);
absl::Status ServiceUnavailableError(absl::string_view message);
absl::Status InternalServerError(absl::string_view message);

// The HTTP status code for `status` (200 for OK).
int HttpStatusCode(const absl::Status& status);
// The metav1.Status JSON object for a non-OK `status`; statuses that did not come from the
// functions above map by code (common/http_status.h's HttpErrorForStatusCode: NotFound 404,
// AlreadyExists 409, Aborted 409 Conflict, InvalidArgument 400, ...).
nlohmann::json StatusObject(const absl::Status& status);
// {"kind":"Status","status":"Success",...} for deletes of kinds that answer with a Status.
nlohmann::json SuccessStatus(const ResourceInfo& info, absl::string_view name,
                             absl::string_view uid);

}  // namespace kcred::devcluster
