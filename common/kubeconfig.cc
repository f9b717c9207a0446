#include "common/kubeconfig.h"

#include <yaml-cpp/yaml.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace kcred {
namespace {

YAML::Node ClusterNode(const KubeconfigEntry& e) {
  YAML::Node n;
  n["name"] = e.cluster_name;
  n["cluster"]["server"] = e.server;
  n["cluster"]["certificate-authority-data"] = absl::Base64Escape(e.ca_pem);
  return n;
}

YAML::Node UserNode(const KubeconfigEntry& e) {
  YAML::Node n;
  n["name"] = e.user_name;
  if (e.use_exec) {
    YAML::Node exec;
    exec["apiVersion"] = "client.authentication.k8s.io/v1";
    exec["command"] = e.exec.command;
    exec["args"] = YAML::Node(YAML::NodeType::Sequence);
    for (const auto& a : e.exec.args) exec["args"].push_back(a);
    if (!e.exec.env.empty()) {
      exec["env"] = YAML::Node(YAML::NodeType::Sequence);
      for (const auto& [k, v] : e.exec.env) {
        YAML::Node kv;
        kv["name"] = k;
        kv["value"] = v;
        exec["env"].push_back(kv);
      }
    }
    exec["interactiveMode"] = e.exec.interactive_mode;
    exec["provideClusterInfo"] = false;
    n["user"]["exec"] = exec;
  } else {
    n["user"]["token"] = e.token;
  }
  return n;
}

YAML::Node ContextNode(const KubeconfigEntry& e) {
  YAML::Node n;
  n["name"] = e.context_name;
  n["context"]["cluster"] = e.cluster_name;
  n["context"]["user"] = e.user_name;
  if (!e.namespace_name.empty()) n["context"]["namespace"] = e.namespace_name;
  return n;
}

std::string Emit(const YAML::Node& root) {
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

// Upsert reads entries["name"] of every element: yaml-cpp throws on a subscript of a scalar or a
// sequence, and on reading a name that is not a scalar, so such a file is refused here first.
absl::Status CheckNamedEntries(const YAML::Node& seq, const std::string& key,
                               const std::string& source) {
  for (std::size_t i = 0; i < seq.size(); ++i) {
    const YAML::Node entry = seq[i];
    if (entry.IsMap() && (!entry["name"] || entry["name"].IsScalar())) continue;
    const std::string what =
        !entry.IsMap() ? "is not a mapping with a \"name\"" : "has a \"name\" that is not a string";
    const YAML::Mark mark = entry.Mark();
    return absl::InvalidArgumentError(absl::StrCat(source, ":", mark.line + 1, ":", mark.column + 1,
                                                   ": not a kubeconfig (", key, "[", i, "] ", what,
                                                   "); fix or move the file, then retry"));
  }
  return absl::OkStatus();
}

// Replaces the element of sequence `seq` named `name` with `node`, or appends it.
void Upsert(YAML::Node seq, const std::string& name, const YAML::Node& node) {
  for (std::size_t i = 0; i < seq.size(); ++i) {
    if (seq[i]["name"] && seq[i]["name"].as<std::string>() == name) {
      seq[i] = node;
      return;
    }
  }
  seq.push_back(node);
}

}  // namespace

std::string RenderKubeconfig(const KubeconfigEntry& entry) {
  YAML::Node root;
  root["apiVersion"] = "v1";
  root["kind"] = "Config";
  root["clusters"].push_back(ClusterNode(entry));
  root["users"].push_back(UserNode(entry));
  root["contexts"].push_back(ContextNode(entry));
  root["current-context"] = entry.context_name;
  root["preferences"] = YAML::Node(YAML::NodeType::Map);
  return Emit(root);
}

absl::StatusOr<std::string> MergeKubeconfig(const std::string& existing, const std::string& source,
                                            const KubeconfigEntry& entry, bool set_current) {
  YAML::Node root;
  try {
    root = existing.empty() ? YAML::Node(YAML::NodeType::Map) : YAML::Load(existing);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", e.mark.line + 1, ":",
                                                   e.mark.column + 1, ": not valid YAML: ", e.msg,
                                                   "; fix or move the file, then retry"));
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a kubeconfig (the document is not a mapping)"));
  }
  if (root["kind"] && root["kind"].as<std::string>("") != "Config") {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not a kubeconfig (kind is \"",
                                                   root["kind"].as<std::string>(""),
                                                   "\", expected \"Config\")"));
  }
  for (const char* key : {"clusters", "users", "contexts"}) {
    if (root[key] && !root[key].IsNull() && !root[key].IsSequence()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": not a kubeconfig (\"", key, "\" is not a list)"));
    }
    if (!root[key] || root[key].IsNull()) root[key] = YAML::Node(YAML::NodeType::Sequence);
    KCRED_RETURN_IF_ERROR(CheckNamedEntries(root[key], key, source));
  }
  if (!root["apiVersion"]) root["apiVersion"] = "v1";
  if (!root["kind"]) root["kind"] = "Config";
  Upsert(root["clusters"], entry.cluster_name, ClusterNode(entry));
  Upsert(root["users"], entry.user_name, UserNode(entry));
  Upsert(root["contexts"], entry.context_name, ContextNode(entry));
  const bool has_current = root["current-context"] && !root["current-context"].IsNull() &&
                           !root["current-context"].as<std::string>("").empty();
  if (set_current || !has_current) root["current-context"] = entry.context_name;
  return Emit(root);
}

}  // namespace kcred
