#include "daemon/kube/kube_status.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/http_status.h"

namespace kcred::kube {
namespace {

constexpr size_t kMaxExcerpt = 200;

// A printable, bounded excerpt of a body that is not a Status (a proxy's HTML page, say).
std::string Excerpt(absl::string_view body) {
  std::string out;
  for (char c : body.substr(0, kMaxExcerpt)) {
    out.push_back(absl::ascii_isprint(static_cast<unsigned char>(c)) ? c : ' ');
  }
  if (body.size() > kMaxExcerpt) out += "...";
  return std::string(absl::StripAsciiWhitespace(out));
}

}  // namespace

absl::Status StatusFromResponse(int http_status, absl::string_view body, absl::string_view method,
                                absl::string_view path) {
  std::string reason;
  std::string message;
  nlohmann::json parsed =
      nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  // Not value("kind", ""): it throws when "kind" is there but not a string.
  if (parsed.is_object() && parsed.contains("kind") && parsed["kind"] == "Status") {
    if (parsed.contains("reason") && parsed["reason"].is_string()) {
      reason = parsed["reason"].get<std::string>();
    }
    if (parsed.contains("message") && parsed["message"].is_string()) {
      message = parsed["message"].get<std::string>();
    }
  } else if (!body.empty()) {
    message = Excerpt(body);
  }
  if (reason.empty()) reason = std::string(DefaultKubeReason(http_status));
  if (message.empty()) message = "no message from the server";
  absl::StatusCode code = StatusCodeForHttp(http_status, reason);
  std::string text = absl::StrCat(method, " ", path, ": ", message, " (HTTP ", http_status);
  if (!reason.empty()) absl::StrAppend(&text, " ", reason);
  text += ")";
  absl::Status status(code, text);
  if (!reason.empty()) status.SetPayload(kKubeReasonPayload, absl::Cord(reason));
  return status;
}

nlohmann::json MakeStatusBody(int http_status, absl::string_view reason,
                              absl::string_view message) {
  return KubeStatusBody(http_status, reason, message);
}

std::optional<absl::Duration> RetryAfterFromStatusBody(absl::string_view body) {
  nlohmann::json parsed =
      nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object() || !parsed.contains("details") || !parsed["details"].is_object()) {
    return std::nullopt;
  }
  const nlohmann::json& details = parsed["details"];
  if (!details.contains("retryAfterSeconds") || !details["retryAfterSeconds"].is_number_integer()) {
    return std::nullopt;
  }
  int64_t seconds = details["retryAfterSeconds"].get<int64_t>();
  if (seconds < 0) return std::nullopt;
  return absl::Seconds(std::min<int64_t>(seconds, 24 * 3600));
}

std::optional<std::string> KubeReason(const absl::Status& status) {
  auto payload = status.GetPayload(kKubeReasonPayload);
  if (!payload.has_value()) return std::nullopt;
  return std::string(*payload);
}

}  // namespace kcred::kube
