#include "daemon/broker/kube_objects.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/broker/object_names.h"

namespace kcred::broker {

using kube::Resource;
using nlohmann::json;

namespace {

constexpr char kLegacyTokenType[] = "kubernetes.io/service-account-token";
constexpr char kServiceAccountNameAnnotation[] = "kubernetes.io/service-account.name";
constexpr char kRbacGroup[] = "rbac.authorization.k8s.io";

json StringList(const google::protobuf::RepeatedPtrField<std::string>& items) {
  return json(std::vector<std::string>(items.begin(), items.end()));
}

}  // namespace

std::string KindOf(Resource resource) { return std::string(kube::Describe(resource).kind); }

absl::StatusOr<Resource> ResourceOfKind(absl::string_view kind) {
  for (Resource r :
       {Resource::kNamespace, Resource::kServiceAccount, Resource::kSecret, Resource::kRole,
        Resource::kClusterRole, Resource::kRoleBinding, Resource::kClusterRoleBinding}) {
    if (kube::Describe(r).kind == kind) return r;
  }
  return absl::DataLossError(absl::StrCat("stored record names unknown kind \"", kind, "\""));
}

std::string ObjectString(Resource resource, absl::string_view ns, absl::string_view name) {
  if (ns.empty()) return absl::StrCat(KindOf(resource), " ", name);
  return absl::StrCat(KindOf(resource), " ", ns, "/", name);
}

std::string MetaString(const json& object, const char* key) {
  if (!object.is_object() || !object.contains("metadata")) return "";
  const json& metadata = object["metadata"];
  if (!metadata.is_object() || !metadata.contains(key) || !metadata[key].is_string()) return "";
  return metadata[key].get<std::string>();
}

v1::ObjectReference MakeRef(Resource resource, const std::string& ns, const std::string& name,
                            const std::string& uid) {
  v1::ObjectReference ref;
  ref.set_api_version(kube::ApiVersion(resource));
  ref.set_kind(KindOf(resource));
  ref.set_namespace_(ns);
  ref.set_name(name);
  ref.set_uid(uid);
  return ref;
}

absl::Status Wrap(const absl::Status& status, absl::string_view doing) {
  if (status.ok()) return status;
  absl::Status wrapped(status.code(), absl::StrCat(doing, ": ", status.message()));
  status.ForEachPayload([&wrapped](absl::string_view type_url, const absl::Cord& payload) {
    wrapped.SetPayload(type_url, payload);
  });
  return wrapped;
}

json ServiceAccountBody() { return json::object(); }

json RoleBody(const v1::RuleSet& rules) {
  json out = json::array();
  for (const v1::PolicyRule& rule : rules.rules()) {
    json r = json::object();
    r["verbs"] = StringList(rule.verbs());
    if (!rule.resources().empty()) {
      r["apiGroups"] = rule.api_groups().empty() ? json(std::vector<std::string>{""})
                                                 : StringList(rule.api_groups());
      r["resources"] = StringList(rule.resources());
      if (!rule.resource_names().empty()) r["resourceNames"] = StringList(rule.resource_names());
    } else {
      r["nonResourceURLs"] = StringList(rule.non_resource_urls());
    }
    out.push_back(std::move(r));
  }
  return {{"rules", std::move(out)}};
}

json BindingBody(Resource role_kind, const std::string& role_name, const AccountKey& key) {
  const auto& [cluster, ns, name] = key;
  json body = json::object();
  body["roleRef"] = {{"apiGroup", kRbacGroup}, {"kind", KindOf(role_kind)}, {"name", role_name}};
  body["subjects"] =
      json::array({json{{"kind", "ServiceAccount"}, {"name", name}, {"namespace", ns}}});
  return body;
}

json NamespaceObject(const AccountKey& key, const v1::AccountSpec& spec) {
  const auto& [cluster, ns, name] = key;
  json labels = json::object();
  for (const auto& [k, v] : spec.labels()) labels[k] = v;
  labels[kManagedByLabel] = kManagedByValue;
  labels[kCreatedForLabel] = LabelValue(name);
  json object = {{"metadata", {{"name", ns}, {"labels", labels}}}};
  if (!spec.annotations().empty()) {
    json annotations = json::object();
    for (const auto& [k, v] : spec.annotations()) annotations[k] = v;
    object["metadata"]["annotations"] = annotations;
  }
  return object;
}

std::string TokenSecretType(v1::TokenMode mode) {
  return mode == v1::TOKEN_MODE_LEGACY ? kLegacyTokenType : "Opaque";
}

json TokenSecret(const AccountKey& key, const v1::AccountSpec& spec, int64_t generation,
                 v1::TokenMode mode) {
  const auto& [cluster, ns, name] = key;
  json secret = json::object();
  secret["metadata"]["name"] = GenerationSecretName(ns, name, generation);
  secret["metadata"]["namespace"] = ns;
  json labels = json::object();
  for (const auto& [k, v] : spec.labels()) labels[k] = v;
  for (const auto& [k, v] : AccountLabels(cluster, ns, name)) labels[k] = v;
  labels[kGenerationLabel] = std::to_string(generation);
  secret["metadata"]["labels"] = labels;
  json annotations = json::object();
  for (const auto& [k, v] : spec.annotations()) annotations[k] = v;
  if (mode == v1::TOKEN_MODE_LEGACY) annotations[kServiceAccountNameAnnotation] = name;
  secret["type"] = TokenSecretType(mode);
  secret["metadata"]["annotations"] = annotations;
  return secret;
}

void ApplyMetadata(json& object, const AccountKey& key, const v1::AccountSpec& spec,
                   const v1::AccountSpec* previous_spec) {
  const auto& [cluster, ns, name] = key;
  json& metadata = object["metadata"];
  if (!metadata.contains("labels") || !metadata["labels"].is_object()) {
    metadata["labels"] = json::object();
  }
  if (!metadata.contains("annotations") || !metadata["annotations"].is_object()) {
    metadata["annotations"] = json::object();
  }
  if (previous_spec != nullptr) {
    for (const auto& [k, v] : previous_spec->labels()) {
      if (spec.labels().count(k) == 0) metadata["labels"].erase(k);
    }
    for (const auto& [k, v] : previous_spec->annotations()) {
      if (spec.annotations().count(k) == 0) metadata["annotations"].erase(k);
    }
  }
  for (const auto& [k, v] : spec.labels()) metadata["labels"][k] = v;
  for (const auto& [k, v] : spec.annotations()) metadata["annotations"][k] = v;
  for (const auto& [k, v] : AccountLabels(cluster, ns, name)) metadata["labels"][k] = v;
  if (metadata["annotations"].empty()) metadata.erase("annotations");
}

}  // namespace kcred::broker
