// What kcredd's HTTPS KubeClient makes of an API server's answer: any body decodes as an object,
// a list page, a TokenRequest answer and /version, or fails with a message; as an error body it
// maps to a status. Never a crash, never an escaping exception.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "daemon/kube/kube_responses.h"
#include "daemon/kube/kube_status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  static constexpr int kStatuses[] = {400, 401, 403, 404, 409, 410, 422, 429, 500, 503, 504};
  const int http_status = kStatuses[size % (sizeof(kStatuses) / sizeof(kStatuses[0]))];
  (void)kcred::kube::StatusFromResponse(http_status, body, "GET", "/api/v1/namespaces/a/secrets");
  (void)kcred::kube::RetryAfterFromStatusBody(body);
  absl::StatusOr<nlohmann::json> object =
      kcred::kube::ParseResponseObject(body, "GET", "/api/v1/namespaces/a/secrets");
  if (!object.ok()) return 0;
  nlohmann::json page = *object;
  (void)kcred::kube::DecodeListPage(page);
  nlohmann::json token_answer = *object;
  (void)kcred::kube::DecodeTokenRequestAnswer(token_answer,
                                              "/api/v1/namespaces/a/serviceaccounts/b/token");
  (void)kcred::kube::DecodeServerVersion(*object);
  return 0;
}
