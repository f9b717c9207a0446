#pragma once
// The JSON answers of a Kubernetes API server as HttpKubeClient decodes them once a 2xx body has
// arrived: the object, a list page, a TokenRequest answer, /version. Apart from the transport so
// that any body (a proxy's, a broken server's) can be shown to decode or fail with a message,
// never throw: every field is checked for its JSON type before it is read. Error bodies (non-2xx)
// are kube_status.h's.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "daemon/kube/kube_client.h"
#include "nlohmann/json.hpp"

namespace kcred::kube {

// The body as a JSON object. INTERNAL naming "<method> <path>" and the body's size (never its
// text: it may hold a token) when it is not valid JSON or not an object.
absl::StatusOr<nlohmann::json> ParseResponseObject(absl::string_view body, absl::string_view method,
                                                   absl::string_view path);

// One page of a list answer: its items (moved out of `page`; a missing or non-array "items" is
// an empty page) and metadata.continue (empty when absent, not a string, or the last page).
struct ListPage {
  std::vector<nlohmann::json> items;
  std::string continue_token;
};
ListPage DecodeListPage(nlohmann::json& page);

// The token, its expiry and the audiences of a TokenRequest answer POSTed to `path`. INTERNAL
// when status.token or status.expirationTimestamp is missing, empty or not a string, or the time
// is not RFC 3339. The token in `response` is wiped once copied.
absl::StatusOr<IssuedToken> DecodeTokenRequestAnswer(nlohmann::json& response,
                                                     absl::string_view path);

// GET /version. INTERNAL when gitVersion is missing (fields of another type count as missing).
absl::StatusOr<ServerVersion> DecodeServerVersion(const nlohmann::json& response);

}  // namespace kcred::kube
