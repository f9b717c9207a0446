#include "daemon/broker/object_names.h"

#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/names.h"

namespace kcred::broker {
namespace {

std::string HexHash(absl::string_view text, size_t hex_digits) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  std::string hex = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
  return hex.substr(0, hex_digits);
}

}  // namespace

std::string LabelOf(const nlohmann::json& object, const char* key) {
  if (!object.is_object() || !object.contains("metadata")) return "";
  const nlohmann::json& metadata = object["metadata"];
  if (!metadata.is_object() || !metadata.contains("labels")) return "";
  const nlohmann::json& labels = metadata["labels"];
  if (!labels.is_object() || !labels.contains(key) || !labels[key].is_string()) return "";
  return labels[key].get<std::string>();
}

std::string LabelValue(absl::string_view text) {
  if (text.size() <= 63) return std::string(text);
  std::string prefix(text.substr(0, 52));
  while (!prefix.empty() && (prefix.back() == '-' || prefix.back() == '.')) prefix.pop_back();
  return absl::StrCat(prefix, "-", HexHash(text, 10));
}

std::string ClusterObjectName(absl::string_view namespace_name, absl::string_view name) {
  return absl::StrCat("kcred:", namespace_name, ":", name);
}

std::string GenerationSecretName(absl::string_view namespace_name, absl::string_view name,
                                 int64_t generation) {
  std::string candidate = absl::StrCat(name, "-kcred-", generation);
  if (ValidateDns1123Subdomain(candidate, "secret").ok()) return candidate;
  return absl::StrCat("kcred-", HexHash(absl::StrCat(namespace_name, "/", name), 16), "-",
                      generation);
}

std::map<std::string, std::string> AccountLabels(absl::string_view cluster,
                                                 absl::string_view namespace_name,
                                                 absl::string_view name) {
  return {
      {kManagedByLabel, kManagedByValue},
      {kClusterLabel, LabelValue(cluster)},
      {kNamespaceLabel, LabelValue(namespace_name)},
      {kAccountLabel, LabelValue(name)},
  };
}

std::string AccountSelector(absl::string_view cluster, absl::string_view namespace_name,
                            absl::string_view name) {
  return absl::StrJoin(AccountLabels(cluster, namespace_name, name), ",", absl::PairFormatter("="));
}

std::string NamespaceSelector(absl::string_view cluster, absl::string_view namespace_name) {
  std::map<std::string, std::string> labels = AccountLabels(cluster, namespace_name, "");
  labels.erase(kAccountLabel);
  return absl::StrJoin(labels, ",", absl::PairFormatter("="));
}

bool ManagedByKcred(const nlohmann::json& object) {
  return LabelOf(object, kManagedByLabel) == kManagedByValue;
}

bool OwnedByAccount(const nlohmann::json& object, absl::string_view cluster,
                    absl::string_view namespace_name, absl::string_view name) {
  for (const auto& [key, value] : AccountLabels(cluster, namespace_name, name)) {
    if (LabelOf(object, key.c_str()) != value) return false;
  }
  return true;
}

std::string ExpandNameTemplate(absl::string_view pattern, absl::string_view cluster,
                               absl::string_view namespace_name, absl::string_view name) {
  return absl::StrReplaceAll(
      pattern, {{"{cluster}", cluster}, {"{namespace}", namespace_name}, {"{name}", name}});
}

}  // namespace kcred::broker
