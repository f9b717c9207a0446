#pragma once
// Users, requests, rules, roles and bindings for the RBAC tests, kept in a FakeObjectReader.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "devcluster/auth/rbac.h"
#include "devcluster/auth/user_info.h"
#include "tests/unit/devcluster/auth/fake_object_reader.h"

namespace kcred::devcluster::testing {

inline UserInfo User(std::string name, std::vector<std::string> groups = {"system:authenticated"}) {
  return UserInfo{std::move(name), "", std::move(groups), {}};
}

inline UserInfo ServiceAccount(const std::string& ns, const std::string& name) {
  return UserInfo{
      "system:serviceaccount:" + ns + ":" + name,
      "uid-" + name,
      {"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
      {}};
}

inline RequestAttributes Resource(std::string verb, std::string group, std::string resource,
                                  std::string ns, std::string name = "",
                                  std::string subresource = "") {
  RequestAttributes a;
  a.verb = std::move(verb);
  a.api_group = std::move(group);
  a.api_version = "v1";
  a.resource = std::move(resource);
  a.subresource = std::move(subresource);
  a.namespace_name = std::move(ns);
  a.name = std::move(name);
  return a;
}

inline RequestAttributes NonResource(std::string verb, std::string path) {
  RequestAttributes a;
  a.resource_request = false;
  a.verb = std::move(verb);
  a.path = std::move(path);
  return a;
}

inline nlohmann::json Rule(std::vector<std::string> verbs, std::vector<std::string> groups,
                           std::vector<std::string> resources,
                           std::vector<std::string> names = {}) {
  nlohmann::json rule = {{"verbs", verbs}, {"apiGroups", groups}, {"resources", resources}};
  if (!names.empty()) rule["resourceNames"] = names;
  return rule;
}

inline nlohmann::json UrlRule(std::vector<std::string> verbs, std::vector<std::string> urls) {
  return {{"verbs", verbs}, {"nonResourceURLs", urls}};
}

inline nlohmann::json Subject(const std::string& kind, const std::string& name,
                              const std::string& ns = "") {
  nlohmann::json s = {{"kind", kind}, {"name", name}};
  if (kind != "ServiceAccount") s["apiGroup"] = "rbac.authorization.k8s.io";
  if (!ns.empty()) s["namespace"] = ns;
  return s;
}

inline nlohmann::json RoleObject(const std::string& ns, const std::string& name,
                                 nlohmann::json rules) {
  nlohmann::json role = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                         {"kind", ns.empty() ? "ClusterRole" : "Role"},
                         {"metadata", {{"name", name}}},
                         {"rules", std::move(rules)}};
  if (!ns.empty()) role["metadata"]["namespace"] = ns;
  return role;
}

// A RoleBinding in `ns`, or a ClusterRoleBinding when `ns` is empty.
inline nlohmann::json BindingObject(const std::string& ns, const std::string& name,
                                    const std::string& role_kind, const std::string& role,
                                    nlohmann::json subjects) {
  nlohmann::json binding = {
      {"apiVersion", "rbac.authorization.k8s.io/v1"},
      {"kind", ns.empty() ? "ClusterRoleBinding" : "RoleBinding"},
      {"metadata", {{"name", name}}},
      {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", role_kind}, {"name", role}}},
      {"subjects", std::move(subjects)}};
  if (!ns.empty()) binding["metadata"]["namespace"] = ns;
  return binding;
}

// A fixture holding RBAC objects in `objects_`.
class RbacFixture : public ::testing::Test {
 protected:
  void AddClusterRole(const std::string& name, nlohmann::json rules) {
    objects_.Put("clusterroles", RoleObject("", name, std::move(rules)));
  }
  void AddRole(const std::string& ns, const std::string& name, nlohmann::json rules) {
    objects_.Put("roles", RoleObject(ns, name, std::move(rules)));
  }
  void AddClusterRoleBinding(const std::string& name, const std::string& role,
                             nlohmann::json subjects) {
    objects_.Put("clusterrolebindings",
                 BindingObject("", name, "ClusterRole", role, std::move(subjects)));
  }
  void AddRoleBinding(const std::string& ns, const std::string& name, const std::string& kind,
                      const std::string& role, nlohmann::json subjects) {
    objects_.Put("rolebindings", BindingObject(ns, name, kind, role, std::move(subjects)));
  }

  FakeObjectReader objects_;
};

}  // namespace kcred::devcluster::testing
