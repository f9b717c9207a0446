#include "devcluster/discovery.h"

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "devcluster/api_error.h"
#include "devcluster/resources.h"

namespace kcred::devcluster {
namespace {

// The APIResourceList of one group-version; the core one also lists serviceaccounts/token.
nlohmann::json Discovery(const GroupVersionInfo& gv) {
  nlohmann::json resources = nlohmann::json::array();
  for (const ResourceInfo& info : AllResources()) {
    if (info.group != gv.group || info.version != gv.version) continue;
    nlohmann::json r = {{"name", info.resource},
                        {"singularName", info.singular},
                        {"namespaced", info.namespaced},
                        {"kind", info.kind},
                        {"verbs", info.verbs}};
    if (!info.short_names.empty()) r["shortNames"] = info.short_names;
    resources.push_back(std::move(r));
    if (info.resource == "serviceaccounts") {
      const ResourceInfo& token = TokenRequestInfo();
      resources.push_back({{"name", "serviceaccounts/token"},
                           {"singularName", ""},
                           {"namespaced", true},
                           {"group", token.group},
                           {"version", token.version},
                           {"kind", token.kind},
                           {"verbs", token.verbs}});
    }
  }
  return {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", gv.group.empty() ? gv.version : absl::StrCat(gv.group, "/", gv.version)},
          {"resources", std::move(resources)}};
}

// A minimal OpenAPI v3: the index, and per group-version the PATCH operations of each kind with
// their fieldValidation parameter. That is what kubectl checks before it relies on server-side
// field validation for `create -f` and `apply -f`, so these work without --validate=false.
absl::Status ServeOpenApiV3(ApiRequest& request, const std::string& path) {
  auto gv_key = [](const GroupVersionInfo& gv) {
    return gv.group.empty() ? std::string("api/v1")
                            : absl::StrCat("apis/", gv.group, "/", gv.version);
  };
  if (path == "/openapi/v3") {
    nlohmann::json paths = nlohmann::json::object();
    for (const GroupVersionInfo& gv : ServedGroupVersions()) {
      paths[gv_key(gv)] = {{"serverRelativeURL", absl::StrCat("/openapi/v3/", gv_key(gv))}};
    }
    request.body = {{"paths", std::move(paths)}};
    return absl::OkStatus();
  }
  for (const GroupVersionInfo& gv : ServedGroupVersions()) {
    if (path != absl::StrCat("/openapi/v3/", gv_key(gv))) continue;
    nlohmann::json paths = nlohmann::json::object();
    for (const ResourceInfo& info : AllResources()) {
      if (info.group != gv.group || info.version != gv.version || !info.stored) continue;
      const std::string object_path =
          info.namespaced
              ? absl::StrCat("/", gv_key(gv), "/namespaces/{namespace}/", info.resource, "/{name}")
              : absl::StrCat("/", gv_key(gv), "/", info.resource, "/{name}");
      nlohmann::json gvk = {{"group", info.group}, {"version", info.version}, {"kind", info.kind}};
      nlohmann::json parameters = nlohmann::json::array();
      for (const char* name : {"dryRun", "fieldManager", "fieldValidation", "force"}) {
        parameters.push_back({{"name", name}, {"in", "query"}, {"schema", {{"type", "string"}}}});
      }
      paths[object_path] = {{"patch",
                             {{"operationId", absl::StrCat("patch", info.kind)},
                              {"x-kubernetes-action", "patch"},
                              {"x-kubernetes-group-version-kind", gvk},
                              {"parameters", std::move(parameters)},
                              {"responses", {{"200", {{"description", "OK"}}}}}}}};
    }
    request.body = {{"openapi", "3.0.0"},
                    {"info", {{"title", "Kubernetes"}, {"version", "v1.32.0"}}},
                    {"paths", std::move(paths)}};
    return absl::OkStatus();
  }
  return PathNotFoundError();
}

}  // namespace

absl::Status ServeNonResource(ApiRequest& request, absl::string_view server_address) {
  const std::string& path = request.http.path;
  const std::string trimmed =
      absl::StripSuffix(path, "/").empty() ? "/" : std::string(absl::StripSuffix(path, "/"));
  if (request.http.method != "GET" && request.http.method != "HEAD") {
    return KubeError(405, "MethodNotAllowed",
                     absl::StrCat("the server does not allow this method on ", path));
  }
  if (trimmed == "/healthz" || trimmed == "/livez" || trimmed == "/readyz") {
    request.raw = true;
    request.response.status = 200;
    request.response.set_content("ok", "text/plain; charset=utf-8");
    return absl::OkStatus();
  }
  if (trimmed == "/version") {
    request.body = {{"major", "1"},
                    {"minor", "32"},
                    {"gitVersion", "v1.32.0"},
                    {"gitCommit", "kcred-devcluster"},
                    {"gitTreeState", "clean"},
                    {"buildDate", "2024-12-11T00:00:00Z"},
                    {"goVersion", "go1.23"},
                    {"compiler", "gc"},
                    {"platform", "linux/amd64"}};
    return absl::OkStatus();
  }
  if (trimmed == "/openapi/v3" || absl::StartsWith(trimmed, "/openapi/v3/")) {
    return ServeOpenApiV3(request, trimmed);
  }
  if (trimmed == "/api") {
    request.body = {
        {"kind", "APIVersions"},
        {"versions", {"v1"}},
        {"serverAddressByClientCIDRs",
         {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", std::string(server_address)}}}}};
    return absl::OkStatus();
  }
  auto group_json = [](const GroupVersionInfo& gv) {
    nlohmann::json version = {{"groupVersion", absl::StrCat(gv.group, "/", gv.version)},
                              {"version", gv.version}};
    return nlohmann::json{
        {"name", gv.group}, {"versions", {version}}, {"preferredVersion", version}};
  };
  if (trimmed == "/apis") {
    nlohmann::json groups = nlohmann::json::array();
    for (const GroupVersionInfo& gv : ServedGroupVersions()) {
      if (!gv.group.empty()) groups.push_back(group_json(gv));
    }
    request.body = {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", std::move(groups)}};
    return absl::OkStatus();
  }
  for (const GroupVersionInfo& gv : ServedGroupVersions()) {
    const std::string gv_path =
        gv.group.empty() ? "/api/v1" : absl::StrCat("/apis/", gv.group, "/", gv.version);
    if (trimmed == gv_path) {
      request.body = Discovery(gv);
      return absl::OkStatus();
    }
    if (!gv.group.empty() && trimmed == absl::StrCat("/apis/", gv.group)) {
      request.body = group_json(gv);
      request.body["kind"] = "APIGroup";
      request.body["apiVersion"] = "v1";
      return absl::OkStatus();
    }
  }
  return PathNotFoundError();
}

}  // namespace kcred::devcluster
