#include "daemon/kube/kube_responses.h"

#include <openssl/crypto.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "daemon/kube/resource.h"

namespace kcred::kube {
namespace {

// object[key], or null when `object` is not an object or has no such key.
template <typename Json>
Json* Member(Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it != object.end() ? &*it : nullptr;
}

// object[key] when it is a string, else "" (nlohmann's value() throws on another type).
std::string StringField(const nlohmann::json& object, const char* key) {
  const nlohmann::json* value = Member(object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : "";
}

}  // namespace

absl::StatusOr<nlohmann::json> ParseResponseObject(absl::string_view body, absl::string_view method,
                                                   absl::string_view path) {
  nlohmann::json parsed =
      nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    // The body is not quoted: it could hold a token.
    return absl::InternalError(absl::StrCat(method, " ", path, ": the response (", body.size(),
                                            " bytes) is not a JSON object; is the server URL an "
                                            "API server?"));
  }
  return parsed;
}

ListPage DecodeListPage(nlohmann::json& page) {
  ListPage out;
  if (nlohmann::json* items = Member(page, "items"); items != nullptr && items->is_array()) {
    for (nlohmann::json& item : *items) out.items.push_back(std::move(item));
  }
  if (const nlohmann::json* metadata = Member(page, "metadata"); metadata != nullptr) {
    out.continue_token = StringField(*metadata, "continue");
  }
  return out;
}

absl::StatusOr<IssuedToken> DecodeTokenRequestAnswer(nlohmann::json& response,
                                                     absl::string_view path) {
  nlohmann::json* status = Member(response, "status");
  nlohmann::json* token = status != nullptr ? Member(*status, "token") : nullptr;
  if (token == nullptr || !token->is_string() || token->get_ref<const std::string&>().empty() ||
      StringField(*status, "expirationTimestamp").empty()) {
    return absl::InternalError(absl::StrCat("POST ", path,
                                            ": the TokenRequest answer has no status.token or "
                                            "status.expirationTimestamp"));
  }
  absl::StatusOr<absl::Time> expiration =
      ParseKubeTime(StringField(*status, "expirationTimestamp"));
  if (!expiration.ok()) {
    return absl::InternalError(absl::StrCat(
        "POST ", path, ": status.expirationTimestamp: ", expiration.status().message()));
  }
  IssuedToken issued;
  std::string& raw = token->get_ref<std::string&>();
  issued.token = SecretString(raw);
  issued.expiration = *expiration;
  // The parsed response holds the token too; wipe it before it is freed.
  OPENSSL_cleanse(raw.data(), raw.size());
  const nlohmann::json* spec = Member(response, "spec");
  const nlohmann::json* audiences = spec != nullptr ? Member(*spec, "audiences") : nullptr;
  if (audiences != nullptr && audiences->is_array()) {
    for (const nlohmann::json& audience : *audiences) {
      if (audience.is_string()) issued.audiences.push_back(audience.get<std::string>());
    }
  }
  return issued;
}

absl::StatusOr<ServerVersion> DecodeServerVersion(const nlohmann::json& response) {
  ServerVersion version;
  version.major = StringField(response, "major");
  version.minor = StringField(response, "minor");
  version.git_version = StringField(response, "gitVersion");
  version.platform = StringField(response, "platform");
  if (version.git_version.empty()) {
    return absl::InternalError(
        "GET /version: the answer has no gitVersion; is the server URL an API server?");
  }
  return version;
}

}  // namespace kcred::kube
