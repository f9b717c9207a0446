#include "devcluster/api_request.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/label_selector.h"
#include "devcluster/api_error.h"
#include "devcluster/protobuf_codec.h"

namespace kcred::devcluster {

absl::StatusOr<nlohmann::json> ReadBody(const httplib::Request& http) {
  const std::string content_type = http.get_header_value("Content-Type");
  if (IsKubernetesProtobuf(content_type)) {
    absl::StatusOr<nlohmann::json> decoded = DecodeKubernetesProtobuf(http.body);
    if (!decoded.ok()) return BadRequestError(decoded.status().message());
    return decoded;
  }
  absl::string_view media =
      absl::StripAsciiWhitespace(absl::string_view(content_type).substr(0, content_type.find(';')));
  if (!media.empty() && media != "application/json" && !absl::EndsWith(media, "+json")) {
    return UnsupportedMediaTypeError(content_type);
  }
  nlohmann::json body = nlohmann::json::parse(http.body, nullptr, false);
  if (body.is_discarded()) return BadRequestError("the request body is not valid JSON");
  return body;
}

absl::Status ParseSelectors(const httplib::Request& http, const ResourceInfo& info,
                            ListOptions& options) {
  absl::StatusOr<LabelSelector> labels =
      LabelSelector::Parse(http.get_param_value("labelSelector"));
  if (!labels.ok()) {
    return BadRequestError(
        absl::StrCat("unable to parse requirement: ", labels.status().message()));
  }
  options.labels = *std::move(labels);
  std::vector<std::string> extra_fields;
  if (info.resource == "secrets") extra_fields.push_back("type");
  absl::StatusOr<FieldSelector> fields =
      FieldSelector::Parse(http.get_param_value("fieldSelector"), extra_fields);
  if (!fields.ok()) return BadRequestError(fields.status().message());
  options.fields = *std::move(fields);
  return absl::OkStatus();
}

}  // namespace kcred::devcluster
