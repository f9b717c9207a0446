#include "devcluster/routing.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "devcluster/api_error.h"

namespace kcred::devcluster {
namespace {

std::string ResourceVerb(absl::string_view method, const RequestAttributes& attrs, bool watch) {
  if (method == "GET") return !attrs.name.empty() ? "get" : watch ? "watch" : "list";
  if (method == "POST") return "create";
  if (method == "PUT") return "update";
  if (method == "PATCH") return "patch";
  if (method == "DELETE") return attrs.name.empty() ? "deletecollection" : "delete";
  return absl::AsciiStrToLower(method);
}

}  // namespace

absl::StatusOr<Route> ParseRoute(absl::string_view method, absl::string_view path, bool watch) {
  Route route;
  route.watch = watch;
  RequestAttributes& attrs = route.attrs;
  attrs.path = std::string(path);
  std::vector<std::string> segs = absl::StrSplit(path, '/', absl::SkipEmpty());
  std::string group, version;
  size_t rest = 0;
  if (segs.size() >= 2 && segs[0] == "api") {
    version = segs[1];
    rest = 2;
  } else if (segs.size() >= 3 && segs[0] == "apis") {
    group = segs[1];
    version = segs[2];
    rest = 3;
  }
  if (rest == 0 || rest == segs.size()) {
    attrs.resource_request = false;
    const std::string lower = absl::AsciiStrToLower(method);
    attrs.verb = lower == "post" ? "create" : lower == "put" ? "update" : lower;
    return route;
  }
  attrs.resource_request = true;
  attrs.api_group = group;
  attrs.api_version = version;
  const std::vector<std::string> r(segs.begin() + rest, segs.end());
  const ResourceInfo* in_namespace = r.size() >= 3 ? FindResource(group, r[2]) : nullptr;
  if (r[0] == "namespaces" && in_namespace != nullptr && in_namespace->namespaced) {
    attrs.namespace_name = r[1];
    attrs.resource = r[2];
    if (r.size() >= 4) attrs.name = r[3];
    if (r.size() >= 5) attrs.subresource = r[4];
    if (r.size() > 5) return PathNotFoundError();
  } else {
    attrs.resource = r[0];
    if (r.size() >= 2) attrs.name = r[1];
    if (r.size() >= 3) attrs.subresource = r[2];
    if (r.size() > 3) return PathNotFoundError();
    if (attrs.resource == "namespaces") attrs.namespace_name = attrs.name;
  }
  attrs.verb = ResourceVerb(method, attrs, watch);
  if (version == "v1") route.info = FindResource(group, attrs.resource);
  return route;
}

absl::StatusOr<Handler> SelectHandler(const Route& route) {
  const RequestAttributes& attrs = route.attrs;
  if (!attrs.resource_request) return Handler::kNonResource;
  if (route.info == nullptr) return PathNotFoundError();
  if (route.info->namespaced && attrs.namespace_name.empty() && attrs.verb != "list" &&
      attrs.verb != "watch") {
    return PathNotFoundError();
  }
  if (!route.info->stored) return Handler::kReview;
  if (attrs.subresource == "token" && route.info->resource == "serviceaccounts") {
    if (attrs.verb != "create") return MethodNotSupportedError(TokenRequestInfo(), attrs.verb);
    return Handler::kTokenRequest;
  }
  if (!attrs.subresource.empty()) return PathNotFoundError();
  return route.watch ? Handler::kWatch : Handler::kObjects;
}

bool ParseBool(absl::string_view value) {
  return value == "1" || value == "t" || value == "T" || value == "true" || value == "True" ||
         value == "TRUE";
}

}  // namespace kcred::devcluster
