#pragma once
// Kubernetes' protobuf wire format (`application/vnd.kubernetes.protobuf`): the 4 bytes "k8s\0"
// then a runtime.Unknown holding the type and the encoded object. Decoded objects take the same
// JSON form a JSON body has, so the rest of the server sees one representation.

#include <google/protobuf/message.h>

#include <nlohmann/json.hpp>
#include <string_view>

#include "absl/status/statusor.h"

namespace kcred::devcluster {

inline constexpr absl::string_view kProtobufContentType = "application/vnd.kubernetes.protobuf";

// Whether a Content-Type header names the Kubernetes protobuf encoding.
bool IsKubernetesProtobuf(absl::string_view content_type);

// Decodes a whole request body. InvalidArgument when the magic is missing, the envelope or the
// object does not parse, or the apiVersion/kind is not one this server knows.
absl::StatusOr<nlohmann::json> DecodeKubernetesProtobuf(absl::string_view body);

// The Kubernetes JSON form of `message`: field names as declared (Kubernetes names them in
// lowerCamelCase like its JSON), meta.v1.Time as RFC 3339 (MicroTime with microseconds), bytes as
// base64, ExtraValue as a plain array; empty strings and zero times are omitted like omitempty.
nlohmann::json MessageToKubeJson(const google::protobuf::Message& message);

}  // namespace kcred::devcluster
