#include "devcluster/admission.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "devcluster/api_error.h"
#include "devcluster/auth/escalation.h"
#include "devcluster/auth/go_quote.h"
#include "devcluster/json_fields.h"
#include "devcluster/token_controller.h"

namespace kcred::devcluster {
namespace {

constexpr char kRbacGroup[] = "rbac.authorization.k8s.io";

}  // namespace

absl::Status PrepareObject(const ResourceInfo& info, nlohmann::json& object,
                           const nlohmann::json& old) {
  if (!object.is_object()) return BadRequestError("the request body must be a JSON object");
  const std::string name = Str(object, {"metadata", "name"});
  const std::string body_kind = Str(object, {"kind"});
  if (!body_kind.empty() && body_kind != info.kind) {
    return BadRequestError(
        absl::StrCat("the body is a ", body_kind, " but the URL is for ", info.GroupResource()));
  }
  if (info.resource == "namespaces") {
    // Like kube-apiserver, every namespace carries its name as a label (for namespaceSelectors).
    if (!name.empty()) object["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
    object["spec"]["finalizers"] = nlohmann::json::array({"kubernetes"});
    object["status"]["phase"] = "Active";
  } else if (info.resource == "secrets") {
    if (Str(object, {"type"}).empty()) object["type"] = "Opaque";
    nlohmann::json& data = object["data"];
    if (!data.is_object()) data = nlohmann::json::object();
    for (const auto& [key, value] : data.items()) {
      std::string decoded;
      if (!value.is_string() || !absl::Base64Unescape(value.get<std::string>(), &decoded)) {
        return BadRequestError(
            absl::StrCat("Secret in version \"v1\" cannot be handled as a "
                         "Secret: illegal base64 data in data[\"",
                         key, "\"]"));
      }
    }
    if (object.contains("stringData") && object["stringData"].is_object()) {
      for (const auto& [key, value] : object["stringData"].items()) {
        if (value.is_string()) data[key] = absl::Base64Escape(value.get<std::string>());
      }
    }
    object.erase("stringData");
    if (data.empty()) object.erase("data");
    if (Str(object, {"type"}) == kServiceAccountTokenType &&
        Str(object, {"metadata", "annotations", kServiceAccountNameAnnotation}).empty()) {
      return InvalidError(
          info, name,
          {{absl::StrCat("metadata.annotations[", kServiceAccountNameAnnotation, "]"), "",
            "Required value"}});
    }
    if (!old.is_null() && Str(old, {"type"}) != Str(object, {"type"})) {
      return InvalidError(info, name,
                          {{"type", go::Quote(Str(object, {"type"})), "field is immutable"}});
    }
  } else if (info.resource == "roles" || info.resource == "clusterroles") {
    const nlohmann::json& rules = Field(object, "rules");
    if (!rules.is_null() && !rules.is_array()) {
      return BadRequestError(absl::StrCat(info.kind, ".rules must be a list"));
    }
    std::vector<FieldCause> causes;
    for (size_t i = 0; rules.is_array() && i < rules.size(); ++i) {
      if (Strings(Field(rules[i], "verbs")).empty()) {
        causes.push_back({absl::StrCat("rules[", i, "].verbs"), "",
                          "Required value: verbs must contain at least one value"});
      }
      if (Strings(Field(rules[i], "nonResourceURLs")).empty() &&
          Strings(Field(rules[i], "resources")).empty()) {
        causes.push_back({absl::StrCat("rules[", i, "].resources"), "",
                          "Required value: resource rules must supply at least one resource"});
      }
    }
    if (!causes.empty()) return InvalidError(info, name, causes);
  } else if (info.resource == "rolebindings" || info.resource == "clusterrolebindings") {
    const nlohmann::json& ref = Field(object, "roleRef");
    const std::string kind = Str(ref, {"kind"});
    std::vector<FieldCause> causes;
    if (Str(ref, {"apiGroup"}) != kRbacGroup) {
      causes.push_back({"roleRef.apiGroup", go::Quote(Str(ref, {"apiGroup"})),
                        "supported values: \"rbac.authorization.k8s.io\""});
    }
    if (info.resource == "rolebindings" ? (kind != "Role" && kind != "ClusterRole")
                                        : kind != "ClusterRole") {
      causes.push_back({"roleRef.kind", go::Quote(kind),
                        info.resource == "rolebindings"
                            ? "supported values: \"Role\", \"ClusterRole\""
                            : "supported values: \"ClusterRole\""});
    }
    if (Str(ref, {"name"}).empty()) causes.push_back({"roleRef.name", "", "Required value"});
    const nlohmann::json& subjects = Field(object, "subjects");
    for (size_t i = 0; subjects.is_array() && i < subjects.size(); ++i) {
      const std::string skind = Str(subjects[i], {"kind"});
      if (skind != "User" && skind != "Group" && skind != "ServiceAccount") {
        causes.push_back({absl::StrCat("subjects[", i, "].kind"), go::Quote(skind),
                          "supported values: \"ServiceAccount\", \"User\", \"Group\""});
      }
      if (Str(subjects[i], {"name"}).empty()) {
        causes.push_back({absl::StrCat("subjects[", i, "].name"), "", "Required value"});
      }
    }
    if (!old.is_null() && Field(old, "roleRef") != ref) {
      causes.push_back({"roleRef", "", "Invalid value: cannot change roleRef"});
    }
    if (!causes.empty()) return InvalidError(info, name, causes);
  } else if (info.resource == "leases") {
    const nlohmann::json& duration = Field(Field(object, "spec"), "leaseDurationSeconds");
    if (duration.is_number_integer() && duration.get<int64_t>() <= 0) {
      return InvalidError(info, name,
                          {{"spec.leaseDurationSeconds", std::to_string(duration.get<int64_t>()),
                            "must be greater than 0"}});
    }
  }
  return absl::OkStatus();
}

absl::Status ConfirmNoEscalation(const ObjectReader& objects, const UserInfo& user,
                                 const ResourceInfo& info, const RequestAttributes& attrs,
                                 const nlohmann::json& object, const nlohmann::json* old) {
  if (info.group != kRbacGroup) return absl::OkStatus();
  EscalationDecision decision =
      CheckEscalation(objects, user,
                      RbacWrite{info.resource, info.namespaced ? attrs.namespace_name : "",
                                attrs.name, object, old});
  if (decision.allowed) return absl::OkStatus();
  return KubeError(decision.code, decision.reason, decision.message, std::move(decision.details));
}

}  // namespace kcred::devcluster
