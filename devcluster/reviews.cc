#include "devcluster/reviews.h"

#include <string>
#include <utility>
#include <vector>

#include "devcluster/api_error.h"
#include "devcluster/auth/go_quote.h"
#include "devcluster/auth/rbac.h"
#include "devcluster/json_fields.h"

namespace kcred::devcluster {
namespace {

// The attributes an access review asks about: exactly one of resourceAttributes and
// nonResourceAttributes (Invalid otherwise, as kube-apiserver says it).
absl::StatusOr<RequestAttributes> ReviewedAttributes(const ResourceInfo& info,
                                                     const nlohmann::json& spec) {
  RequestAttributes attrs;
  const nlohmann::json& resource = Field(spec, "resourceAttributes");
  const nlohmann::json& non_resource = Field(spec, "nonResourceAttributes");
  if (resource.is_object()) {
    attrs.resource_request = true;
    attrs.namespace_name = Str(resource, {"namespace"});
    attrs.verb = Str(resource, {"verb"});
    attrs.api_group = Str(resource, {"group"});
    attrs.api_version = Str(resource, {"version"});
    attrs.resource = Str(resource, {"resource"});
    attrs.subresource = Str(resource, {"subresource"});
    attrs.name = Str(resource, {"name"});
    return attrs;
  }
  if (non_resource.is_object()) {
    attrs.resource_request = false;
    attrs.path = Str(non_resource, {"path"});
    attrs.verb = Str(non_resource, {"verb"});
    return attrs;
  }
  return InvalidError(info, "",
                      {{"spec.resourceAttributes", "",
                        "Required value: exactly one of nonResourceAttributes or "
                        "resourceAttributes must be specified"}});
}

// An access review's status: RBAC's decision and its reason.
nlohmann::json Decide(const ObjectReader& objects, const UserInfo& user,
                      const RequestAttributes& attrs) {
  Decision decision = Authorize(objects, user, attrs);
  nlohmann::json out = {{"allowed", decision.allowed}};
  if (!decision.reason.empty()) out["reason"] = decision.reason;
  return out;
}

}  // namespace

nlohmann::json UserInfoToJson(const UserInfo& user) {
  nlohmann::json out = {{"username", user.username}, {"groups", user.groups}};
  if (!user.uid.empty()) out["uid"] = user.uid;
  if (!user.extra.empty()) out["extra"] = user.extra;
  return out;
}

ReviewHandler::ReviewHandler(const ApiServerConfig& config, const ObjectReader& objects,
                             const Authenticator& authenticator)
    : config_(config), objects_(objects), authenticator_(authenticator) {}

absl::Status ReviewHandler::Serve(ApiRequest& request) {
  const ResourceInfo& info = *request.route.info;
  const RequestAttributes& attrs = request.route.attrs;
  if (attrs.verb != "create" || !attrs.name.empty()) {
    return MethodNotSupportedError(info, attrs.verb);
  }
  absl::StatusOr<nlohmann::json> body = ReadBody(request.http);
  if (!body.ok()) return body.status();
  nlohmann::json spec = Field(*body, "spec");
  if (spec.is_null()) spec = nlohmann::json::object();

  absl::StatusOr<nlohmann::json> status;
  if (info.resource == "selfsubjectreviews") {
    status = nlohmann::json{{"userInfo", UserInfoToJson(request.user)}};
  } else if (info.resource == "tokenreviews") {
    status = TokenReviewStatus(info, spec);
  } else if (info.resource == "selfsubjectaccessreviews") {
    absl::StatusOr<RequestAttributes> reviewed = ReviewedAttributes(info, spec);
    if (!reviewed.ok()) return reviewed.status();
    status = Decide(objects_, request.user, *reviewed);
  } else {  // subjectaccessreviews, localsubjectaccessreviews
    status = SubjectAccessReviewStatus(request, spec);
  }
  if (!status.ok()) return status.status();

  nlohmann::json metadata = Field(*body, "metadata");
  if (!metadata.is_object()) metadata = nlohmann::json::object();
  metadata["creationTimestamp"] = nullptr;
  if (info.namespaced) metadata["namespace"] = attrs.namespace_name;
  request.status = 201;
  request.body = {{"kind", info.kind},
                  {"apiVersion", info.GroupVersion()},
                  {"metadata", std::move(metadata)},
                  {"status", *std::move(status)}};
  if (info.resource != "selfsubjectreviews") request.body["spec"] = std::move(spec);
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> ReviewHandler::TokenReviewStatus(const ResourceInfo& info,
                                                                const nlohmann::json& spec) const {
  const std::string token = Str(spec, {"token"});
  if (token.empty()) {
    return InvalidError(info, "", {{"spec.token", "", "Required value: token must not be empty"}});
  }
  std::vector<std::string> audiences = Strings(Field(spec, "audiences"));
  if (audiences.empty()) audiences = config_.api_audiences;
  absl::StatusOr<UserInfo> user = authenticator_.AuthenticateToken(token, audiences);
  if (!user.ok()) {
    return nlohmann::json{{"authenticated", false},
                          {"error", std::string(user.status().message())}};
  }
  return nlohmann::json{
      {"authenticated", true}, {"user", UserInfoToJson(*user)}, {"audiences", audiences}};
}

absl::StatusOr<nlohmann::json> ReviewHandler::SubjectAccessReviewStatus(
    const ApiRequest& request, const nlohmann::json& spec) const {
  const ResourceInfo& info = *request.route.info;
  absl::StatusOr<RequestAttributes> reviewed = ReviewedAttributes(info, spec);
  if (!reviewed.ok()) return reviewed.status();
  if (info.resource == "localsubjectaccessreviews") {
    if (!reviewed->resource_request) {
      return InvalidError(
          info, "",
          {{"spec.nonResourceAttributes", "", "Forbidden: disallowed on this kind of request"}});
    }
    if (reviewed->namespace_name != request.route.attrs.namespace_name) {
      return InvalidError(info, "",
                          {{"spec.resourceAttributes.namespace",
                            go::Quote(reviewed->namespace_name), "must match metadata.namespace"}});
    }
  }
  UserInfo subject;
  subject.username = Str(spec, {"user"});
  subject.uid = Str(spec, {"uid"});
  subject.groups = Strings(Field(spec, "groups"));
  const nlohmann::json& extra = Field(spec, "extra");
  if (extra.is_object()) {
    for (const auto& [key, values] : extra.items()) subject.extra[key] = Strings(values);
  }
  if (subject.username.empty() && subject.groups.empty()) {
    return InvalidError(
        info, "",
        {{"spec.user", "", "Required value: at least one of user or group must be specified"}});
  }
  return Decide(objects_, subject, *reviewed);
}

}  // namespace kcred::devcluster
