#include "devcluster/routing.h"

#include <gtest/gtest.h>

#include "devcluster/api_error.h"

namespace kcred::devcluster {
namespace {

Route R(const char* method, const char* path, bool watch = false) {
  absl::StatusOr<Route> route = ParseRoute(method, path, watch);
  EXPECT_TRUE(route.ok()) << method << " " << path << ": " << route.status();
  return route.ok() ? *route : Route();
}

absl::StatusOr<Handler> H(const char* method, const char* path, bool watch = false) {
  return SelectHandler(R(method, path, watch));
}

// Namespaced paths give namespace, resource, name, subresource, the kind and each method's verb.
TEST(RoutingTest, NamespacedResourcePaths) {
  Route get = R("GET", "/api/v1/namespaces/team/serviceaccounts/bot");
  EXPECT_TRUE(get.attrs.resource_request);
  EXPECT_EQ(get.attrs.api_group, "");
  EXPECT_EQ(get.attrs.api_version, "v1");
  EXPECT_EQ(get.attrs.namespace_name, "team");
  EXPECT_EQ(get.attrs.resource, "serviceaccounts");
  EXPECT_EQ(get.attrs.name, "bot");
  EXPECT_EQ(get.attrs.subresource, "");
  EXPECT_EQ(get.attrs.verb, "get");
  ASSERT_NE(get.info, nullptr);
  EXPECT_EQ(get.info->kind, "ServiceAccount");

  EXPECT_EQ(R("GET", "/api/v1/namespaces/team/secrets").attrs.verb, "list");
  EXPECT_EQ(R("GET", "/api/v1/namespaces/team/secrets", /*watch=*/true).attrs.verb, "watch");
  EXPECT_EQ(R("GET", "/api/v1/namespaces/team/secrets/s", /*watch=*/true).attrs.verb, "get");
  EXPECT_EQ(R("POST", "/api/v1/namespaces/team/secrets").attrs.verb, "create");
  EXPECT_EQ(R("PUT", "/api/v1/namespaces/team/secrets/s").attrs.verb, "update");
  EXPECT_EQ(R("PATCH", "/api/v1/namespaces/team/secrets/s").attrs.verb, "patch");
  EXPECT_EQ(R("DELETE", "/api/v1/namespaces/team/secrets/s").attrs.verb, "delete");
  EXPECT_EQ(R("DELETE", "/api/v1/namespaces/team/secrets").attrs.verb, "deletecollection");

  Route token = R("POST", "/api/v1/namespaces/team/serviceaccounts/bot/token");
  EXPECT_EQ(token.attrs.subresource, "token");
  EXPECT_EQ(token.attrs.verb, "create");

  Route role = R("GET", "/apis/rbac.authorization.k8s.io/v1/namespaces/team/roles/r");
  EXPECT_EQ(role.attrs.api_group, "rbac.authorization.k8s.io");
  EXPECT_EQ(role.attrs.namespace_name, "team");
  ASSERT_NE(role.info, nullptr);
  EXPECT_EQ(role.info->kind, "Role");
}

// A namespace is its own namespace; cluster-scoped kinds and all-namespace lists have none.
TEST(RoutingTest, ClusterScopedPaths) {
  Route ns = R("GET", "/api/v1/namespaces/team");
  EXPECT_EQ(ns.attrs.resource, "namespaces");
  EXPECT_EQ(ns.attrs.name, "team");
  EXPECT_EQ(ns.attrs.namespace_name, "team");

  Route cluster_role = R("DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin");
  EXPECT_EQ(cluster_role.attrs.name, "admin");
  EXPECT_EQ(cluster_role.attrs.namespace_name, "");
  EXPECT_EQ(cluster_role.attrs.verb, "delete");

  Route all_secrets = R("GET", "/api/v1/secrets");
  EXPECT_EQ(all_secrets.attrs.resource, "secrets");
  EXPECT_EQ(all_secrets.attrs.namespace_name, "");
  EXPECT_EQ(all_secrets.attrs.verb, "list");
}

// Paths outside /api/<v>/... and /apis/<g>/<v>/... are non-resource, with the method as verb.
TEST(RoutingTest, NonResourcePaths) {
  for (const char* path :
       {"/version", "/api", "/api/v1", "/apis", "/apis/coordination.k8s.io",
        "/apis/coordination.k8s.io/v1", "/healthz", "/openapi/v3", "/kcred-dev/faults"}) {
    Route route = R("GET", path);
    EXPECT_FALSE(route.attrs.resource_request) << path;
    EXPECT_EQ(route.attrs.verb, "get") << path;
    EXPECT_EQ(route.attrs.path, path);
    EXPECT_EQ(route.info, nullptr) << path;
  }
  EXPECT_EQ(R("POST", "/kcred-dev/faults").attrs.verb, "create");
  EXPECT_EQ(R("PUT", "/kcred-dev/faults").attrs.verb, "update");
  EXPECT_EQ(R("DELETE", "/kcred-dev/faults").attrs.verb, "delete");
}

// Paths deeper than a subresource are 404; kinds not served here route without a kind.
TEST(RoutingTest, TooDeepAndUnservedPaths) {
  absl::StatusOr<Route> deep =
      ParseRoute("GET", "/api/v1/namespaces/team/serviceaccounts/bot/token/x", false);
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(HttpStatusCode(deep.status()), 404);
  EXPECT_EQ(HttpStatusCode(ParseRoute("GET", "/api/v1/nodes/a/b/c", false).status()), 404);
  EXPECT_EQ(R("GET", "/apis/apps/v1/namespaces/team/deployments").info, nullptr);
  EXPECT_EQ(R("GET", "/api/v2/namespaces/team/secrets").info, nullptr);
}

// Each request reaches its handler; unserved kinds and paths are 404, a token is only created.
TEST(RoutingTest, SelectHandler) {
  EXPECT_EQ(*H("GET", "/version"), Handler::kNonResource);
  EXPECT_EQ(*H("GET", "/apis"), Handler::kNonResource);
  EXPECT_EQ(*H("GET", "/api/v1/namespaces/team/secrets"), Handler::kObjects);
  EXPECT_EQ(*H("DELETE", "/api/v1/namespaces/team"), Handler::kObjects);
  EXPECT_EQ(*H("GET", "/api/v1/namespaces/team/secrets", true), Handler::kWatch);
  EXPECT_EQ(*H("GET", "/api/v1/secrets", true), Handler::kWatch);
  EXPECT_EQ(*H("GET", "/api/v1/secrets"), Handler::kObjects);
  EXPECT_EQ(*H("POST", "/api/v1/namespaces/team/serviceaccounts/bot/token"),
            Handler::kTokenRequest);
  EXPECT_EQ(*H("POST", "/apis/authentication.k8s.io/v1/tokenreviews"), Handler::kReview);
  EXPECT_EQ(*H("POST", "/apis/authorization.k8s.io/v1/namespaces/team/localsubjectaccessreviews"),
            Handler::kReview);

  for (const char* path : {"/apis/apps/v1/namespaces/team/deployments",
                           "/api/v1/namespaces/team/secrets/s/status", "/api/v1/secrets/s"}) {
    absl::StatusOr<Handler> handler = H("GET", path);
    ASSERT_FALSE(handler.ok()) << path;
    EXPECT_EQ(HttpStatusCode(handler.status()), 404) << path;
  }
  absl::StatusOr<Handler> token_get = H("GET", "/api/v1/namespaces/team/serviceaccounts/bot/token");
  ASSERT_FALSE(token_get.ok());
  EXPECT_EQ(HttpStatusCode(token_get.status()), 405);
  EXPECT_EQ(token_get.status().message(),
            "the server does not allow this method on the requested resource (get "
            "tokenrequests.authentication.k8s.io)");
}

// Query booleans read as Go's strconv.ParseBool (python3-kubernetes sends "True").
TEST(RoutingTest, ParseBool) {
  for (const char* yes : {"1", "t", "T", "true", "True", "TRUE"}) EXPECT_TRUE(ParseBool(yes));
  for (const char* no : {"", "0", "false", "False", "yes", "on"}) EXPECT_FALSE(ParseBool(no));
}

}  // namespace
}  // namespace kcred::devcluster
