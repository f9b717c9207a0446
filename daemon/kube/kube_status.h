#pragma once
// Maps Kubernetes API answers to absl::Status. Both KubeClient implementations use it, so the
// broker sees the same codes and messages from the fake as from a real API server. The codes are
// common/http_status.h's (StatusCodeForHttp), the mapping kcred-devcluster answers with too; there
// 410 Expired/Gone (resync) and 409 Conflict are both Aborted, 409 AlreadyExists is AlreadyExists.

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace kcred::kube {

// The payload type URL under which the server's reason ("NotFound", "AlreadyExists", "Conflict",
// "Invalid", ...) is attached to a mapped status.
inline constexpr absl::string_view kKubeReasonPayload = "type.kcred.io/kube.reason";

// A status for a non-2xx answer, with the code for its HTTP status and reason. `body` is the
// response body (a metav1.Status when the server is an API server); its message and reason are
// used, and a short excerpt of anything else. The message reads "<method> <path>: <server message>
// (HTTP <code> <reason>)".
absl::Status StatusFromResponse(int http_status, absl::string_view body, absl::string_view method,
                                absl::string_view path);

// A metav1.Status body as an API server would send it, for servers and fakes
// (common/http_status.h's KubeStatusBody).
nlohmann::json MakeStatusBody(int http_status, absl::string_view reason, absl::string_view message);

// details.retryAfterSeconds of a Status body (sent with 429 and some 5xx), if any.
std::optional<absl::Duration> RetryAfterFromStatusBody(absl::string_view body);

// The server's reason attached to `status` by StatusFromResponse, if any.
std::optional<std::string> KubeReason(const absl::Status& status);

}  // namespace kcred::kube
