#include "devcluster/auth/rbac.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/devcluster/auth/rbac_fixture.h"

namespace kcred::devcluster {
namespace {

using ::kcred::devcluster::testing::NonResource;
using ::kcred::devcluster::testing::RbacFixture;
using ::kcred::devcluster::testing::Resource;
using ::kcred::devcluster::testing::Rule;
using ::kcred::devcluster::testing::ServiceAccount;
using ::kcred::devcluster::testing::Subject;
using ::kcred::devcluster::testing::UrlRule;
using ::kcred::devcluster::testing::User;
using Json = nlohmann::json;

class RbacTest : public RbacFixture {
 protected:
  bool Allowed(const UserInfo& user, const RequestAttributes& attrs) const {
    return Authorize(objects_, user, attrs).allowed;
  }
};

// Without any bindings an ordinary user may do nothing beyond the bootstrap policy.
TEST_F(RbacTest, DeniesByDefault) {
  Decision d = Authorize(objects_, User("alice"), Resource("get", "", "pods", "default", "p"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "");
}

// system:masters may do anything, resource or not, via the bootstrap cluster-admin binding.
TEST_F(RbacTest, SystemMastersMayDoAnything) {
  UserInfo admin = User("admin", {"system:masters", "system:authenticated"});
  Decision d = Authorize(objects_, admin, Resource("delete", "apps", "deployments", "x", "d"));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason,
            R"(RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" )"
            R"(to Group "system:masters")");
  EXPECT_TRUE(Allowed(admin, Resource("create", "", "serviceaccounts", "x", "sa", "token")));
  EXPECT_TRUE(Allowed(admin, NonResource("post", "/anything/at/all")));
}

// Every authenticated user may create the self reviews, and nothing else on those groups.
TEST_F(RbacTest, BootstrapSelfReviews) {
  UserInfo sa = ServiceAccount("ns", "x");
  Decision d = Authorize(objects_, sa,
                         Resource("create", "authentication.k8s.io", "selfsubjectreviews", ""));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, R"(RBAC: allowed by ClusterRoleBinding "system:basic-user" of ClusterRole )"
                      R"("system:basic-user" to Group "system:authenticated")");
  EXPECT_TRUE(
      Allowed(sa, Resource("create", "authorization.k8s.io", "selfsubjectaccessreviews", "")));
  EXPECT_TRUE(
      Allowed(sa, Resource("create", "authorization.k8s.io", "selfsubjectrulesreviews", "")));
  EXPECT_FALSE(Allowed(sa, Resource("create", "authorization.k8s.io", "subjectaccessreviews", "")));
  EXPECT_FALSE(Allowed(sa, Resource("create", "authentication.k8s.io", "tokenreviews", "")));
  EXPECT_FALSE(
      Allowed(sa, Resource("get", "authentication.k8s.io", "selfsubjectreviews", "", "x")));
  // Without system:authenticated the bootstrap bindings do not apply.
  EXPECT_FALSE(Allowed(User("nobody", {}),
                       Resource("create", "authentication.k8s.io", "selfsubjectreviews", "")));
}

// Every authenticated user may GET the discovery and health paths, and only those.
TEST_F(RbacTest, BootstrapDiscoveryPaths) {
  UserInfo u = User("alice");
  for (const char* path :
       {"/api", "/api/v1", "/apis", "/apis/rbac.authorization.k8s.io/v1", "/version", "/version/",
        "/healthz", "/livez", "/readyz", "/openapi", "/openapi/v2", "/openapi/v3/apis/apps/v1"}) {
    EXPECT_TRUE(Allowed(u, NonResource("get", path))) << path;
  }
  Decision d = Authorize(objects_, u, NonResource("get", "/apis/apps"));
  EXPECT_EQ(d.reason, R"(RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole )"
                      R"("system:discovery" to Group "system:authenticated")");
  EXPECT_FALSE(Allowed(u, NonResource("post", "/api")));
  EXPECT_FALSE(Allowed(u, NonResource("get", "/metrics")));
  EXPECT_FALSE(Allowed(u, NonResource("get", "/healthz/etcd")));
  EXPECT_FALSE(Allowed(u, NonResource("get", "/apiextras")));
  EXPECT_FALSE(Allowed(u, NonResource("get", "/versions")));
}

// A rule allows only the verbs it lists; "*" allows every verb.
TEST_F(RbacTest, Verbs) {
  AddClusterRole("reader", Json::array({Rule({"get", "list"}, {""}, {"pods"})}));
  AddClusterRole("all-verbs", Json::array({Rule({"*"}, {""}, {"configmaps"})}));
  AddClusterRoleBinding("alice-reader", "reader", Json::array({Subject("User", "alice")}));
  AddClusterRoleBinding("alice-all", "all-verbs", Json::array({Subject("User", "alice")}));
  UserInfo alice = User("alice");
  EXPECT_TRUE(Allowed(alice, Resource("get", "", "pods", "ns", "p")));
  EXPECT_TRUE(Allowed(alice, Resource("list", "", "pods", "ns")));
  EXPECT_FALSE(Allowed(alice, Resource("watch", "", "pods", "ns")));
  EXPECT_FALSE(Allowed(alice, Resource("delete", "", "pods", "ns", "p")));
  EXPECT_TRUE(Allowed(alice, Resource("deletecollection", "", "configmaps", "ns")));
  EXPECT_TRUE(Allowed(alice, Resource("patch", "", "configmaps", "", "c")));
}

// apiGroups must contain the request's group ("" is core); "*" matches all groups.
TEST_F(RbacTest, ApiGroups) {
  AddClusterRole("core-pods", Json::array({Rule({"get"}, {""}, {"pods"})}));
  AddClusterRole("apps", Json::array({Rule({"get"}, {"apps"}, {"deployments"})}));
  AddClusterRole("any-group", Json::array({Rule({"list"}, {"*"}, {"leases"})}));
  for (const char* role : {"core-pods", "apps", "any-group"}) {
    AddClusterRoleBinding(std::string("b-") + role, role, Json::array({Subject("User", "u")}));
  }
  UserInfo u = User("u");
  EXPECT_TRUE(Allowed(u, Resource("get", "", "pods", "ns", "p")));
  EXPECT_FALSE(Allowed(u, Resource("get", "metrics.k8s.io", "pods", "ns", "p")));
  EXPECT_TRUE(Allowed(u, Resource("get", "apps", "deployments", "ns", "d")));
  EXPECT_FALSE(Allowed(u, Resource("get", "", "deployments", "ns", "d")));
  EXPECT_FALSE(Allowed(u, Resource("get", "extensions", "deployments", "ns", "d")));
  EXPECT_TRUE(Allowed(u, Resource("list", "coordination.k8s.io", "leases", "ns")));
  EXPECT_TRUE(Allowed(u, Resource("list", "", "leases", "ns")));
}

// Subresources need "resource/sub", "*/sub" or "*"; the plain resource does not cover them.
TEST_F(RbacTest, Subresources) {
  AddClusterRole("pods-only", Json::array({Rule({"get", "create"}, {""}, {"pods"})}));
  AddClusterRole("token", Json::array({Rule({"create"}, {""}, {"serviceaccounts/token"})}));
  AddClusterRole("any-status", Json::array({Rule({"update"}, {"*"}, {"*/status"})}));
  for (const char* role : {"pods-only", "token", "any-status"}) {
    AddClusterRoleBinding(std::string("b-") + role, role, Json::array({Subject("User", "u")}));
  }
  UserInfo u = User("u");
  EXPECT_TRUE(Allowed(u, Resource("get", "", "pods", "ns", "p")));
  EXPECT_FALSE(Allowed(u, Resource("get", "", "pods", "ns", "p", "log")));
  EXPECT_FALSE(Allowed(u, Resource("create", "", "pods", "ns", "p", "exec")));
  EXPECT_TRUE(Allowed(u, Resource("create", "", "serviceaccounts", "ns", "sa", "token")));
  EXPECT_FALSE(Allowed(u, Resource("create", "", "serviceaccounts", "ns", "sa")));
  EXPECT_TRUE(Allowed(u, Resource("update", "apps", "deployments", "ns", "d", "status")));
  EXPECT_TRUE(Allowed(u, Resource("update", "", "pods", "ns", "p", "status")));
  EXPECT_FALSE(Allowed(u, Resource("update", "apps", "deployments", "ns", "d", "scale")));
  EXPECT_FALSE(Allowed(u, Resource("update", "apps", "deployments", "ns", "d")));
  // "*/status" does not match a subresource that merely ends in "status".
  EXPECT_FALSE(Allowed(u, Resource("update", "", "pods", "ns", "p", "xstatus")));
}

// resources "*" matches every resource and every subresource.
TEST_F(RbacTest, ResourceWildcard) {
  AddClusterRole("everything-core", Json::array({Rule({"get"}, {""}, {"*"})}));
  AddClusterRoleBinding("b", "everything-core", Json::array({Subject("User", "u")}));
  UserInfo u = User("u");
  EXPECT_TRUE(Allowed(u, Resource("get", "", "secrets", "ns", "s")));
  EXPECT_TRUE(Allowed(u, Resource("get", "", "pods", "ns", "p", "log")));
  EXPECT_FALSE(Allowed(u, Resource("get", "apps", "deployments", "ns", "d")));
}

// resourceNames restricts to those names and so never allows list, create or deletecollection.
TEST_F(RbacTest, ResourceNames) {
  AddClusterRole("one-secret",
                 Json::array({Rule({"get", "list", "create", "update", "deletecollection", "watch"},
                                   {""}, {"secrets"}, {"foo", "bar"})}));
  AddClusterRoleBinding("b", "one-secret", Json::array({Subject("User", "u")}));
  UserInfo u = User("u");
  EXPECT_TRUE(Allowed(u, Resource("get", "", "secrets", "ns", "foo")));
  EXPECT_TRUE(Allowed(u, Resource("update", "", "secrets", "ns", "bar")));
  EXPECT_TRUE(Allowed(u, Resource("watch", "", "secrets", "ns", "foo")));
  EXPECT_FALSE(Allowed(u, Resource("get", "", "secrets", "ns", "baz")));
  EXPECT_FALSE(Allowed(u, Resource("list", "", "secrets", "ns")));
  EXPECT_FALSE(Allowed(u, Resource("create", "", "secrets", "ns")));
  EXPECT_FALSE(Allowed(u, Resource("deletecollection", "", "secrets", "ns")));
}

// Non-resource URLs match exactly, by "*", or by a prefix ending in "*"; verbs still apply.
TEST_F(RbacTest, NonResourceUrls) {
  AddClusterRole("metrics", Json::array({UrlRule({"get"}, {"/metrics"}),
                                         UrlRule({"get", "post"}, {"/logs/*"})}));
  AddClusterRole("all-urls", Json::array({UrlRule({"put"}, {"*"})}));
  AddClusterRoleBinding("b1", "metrics", Json::array({Subject("User", "u")}));
  AddClusterRoleBinding("b2", "all-urls", Json::array({Subject("User", "u")}));
  UserInfo u = User("u");
  EXPECT_TRUE(Allowed(u, NonResource("get", "/metrics")));
  EXPECT_FALSE(Allowed(u, NonResource("get", "/metrics/x")));
  EXPECT_FALSE(Allowed(u, NonResource("post", "/metrics")));
  EXPECT_TRUE(Allowed(u, NonResource("get", "/logs/")));
  EXPECT_TRUE(Allowed(u, NonResource("post", "/logs/kubelet/a.log")));
  EXPECT_FALSE(Allowed(u, NonResource("get", "/logs")));
  EXPECT_TRUE(Allowed(u, NonResource("put", "/whatever")));
  // A resource rule never allows a non-resource request, and vice versa.
  AddClusterRole("pods", Json::array({Rule({"get"}, {"*"}, {"*"})}));
  AddClusterRoleBinding("b3", "pods", Json::array({Subject("User", "v")}));
  EXPECT_FALSE(Allowed(User("v"), NonResource("get", "/metrics")));
  EXPECT_FALSE(Allowed(u, Resource("get", "", "pods", "ns", "p")));
}

// User subjects match the username exactly.
TEST_F(RbacTest, UserSubject) {
  AddClusterRole("r", Json::array({Rule({"get"}, {""}, {"pods"})}));
  AddClusterRoleBinding("b", "r", Json::array({Subject("User", "alice")}));
  EXPECT_TRUE(Allowed(User("alice"), Resource("get", "", "pods", "ns", "p")));
  EXPECT_FALSE(Allowed(User("bob"), Resource("get", "", "pods", "ns", "p")));
  // A group of the same name is not the user.
  EXPECT_FALSE(Allowed(User("bob", {"alice"}), Resource("get", "", "pods", "ns", "p")));
}

// Group subjects match any member.
TEST_F(RbacTest, GroupSubject) {
  AddClusterRole("r", Json::array({Rule({"get"}, {""}, {"pods"})}));
  AddClusterRoleBinding("devs", "r", Json::array({Subject("Group", "developers")}));
  Decision d = Authorize(objects_, User("carol", {"developers", "system:authenticated"}),
                         Resource("get", "", "pods", "ns", "p"));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(
      d.reason,
      R"(RBAC: allowed by ClusterRoleBinding "devs" of ClusterRole "r" to Group "developers")");
  EXPECT_FALSE(Allowed(User("dave"), Resource("get", "", "pods", "ns", "p")));
  // A user named like the group is not a member.
  EXPECT_FALSE(Allowed(User("developers"), Resource("get", "", "pods", "ns", "p")));
}

// ServiceAccount subjects in a ClusterRoleBinding need a namespace; without one they match nothing.
TEST_F(RbacTest, ServiceAccountSubjectInClusterRoleBinding) {
  AddClusterRole("r", Json::array({Rule({"list"}, {""}, {"nodes"})}));
  AddClusterRoleBinding("with-ns", "r", Json::array({Subject("ServiceAccount", "bot", "ops")}));
  AddClusterRoleBinding("without-ns", "r", Json::array({Subject("ServiceAccount", "other")}));
  Decision d = Authorize(objects_, ServiceAccount("ops", "bot"), Resource("list", "", "nodes", ""));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, R"(RBAC: allowed by ClusterRoleBinding "with-ns" of ClusterRole "r" to )"
                      R"(ServiceAccount "bot/ops")");
  EXPECT_FALSE(Allowed(ServiceAccount("dev", "bot"), Resource("list", "", "nodes", "")));
  EXPECT_FALSE(Allowed(ServiceAccount("ops", "other"), Resource("list", "", "nodes", "")));
  EXPECT_FALSE(Allowed(ServiceAccount("", "other"), Resource("list", "", "nodes", "")));
  // A user who merely has the SA's name is not the SA.
  EXPECT_FALSE(Allowed(User("bot"), Resource("list", "", "nodes", "")));
}

// In a RoleBinding a ServiceAccount subject's namespace defaults to the binding's.
TEST_F(RbacTest, ServiceAccountSubjectInRoleBindingDefaultsNamespace) {
  AddRole("team", "pod-reader", Json::array({Rule({"get", "list"}, {""}, {"pods"})}));
  AddRoleBinding("team", "read-pods", "Role", "pod-reader",
                 Json::array({Subject("ServiceAccount", "bot")}));
  Decision d =
      Authorize(objects_, ServiceAccount("team", "bot"), Resource("list", "", "pods", "team"));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, R"(RBAC: allowed by RoleBinding "read-pods/team" of Role "pod-reader" to )"
                      R"(ServiceAccount "bot/team")");
  EXPECT_FALSE(Allowed(ServiceAccount("other", "bot"), Resource("list", "", "pods", "team")));
  // A RoleBinding grants SAs of other namespaces when they are named explicitly.
  AddRoleBinding("team", "read-pods-ci", "Role", "pod-reader",
                 Json::array({Subject("ServiceAccount", "runner", "ci")}));
  EXPECT_TRUE(Allowed(ServiceAccount("ci", "runner"), Resource("list", "", "pods", "team")));
  EXPECT_FALSE(Allowed(ServiceAccount("team", "runner"), Resource("list", "", "pods", "team")));
}

// The system:serviceaccounts groups bind all SAs, or all SAs of one namespace.
TEST_F(RbacTest, ServiceAccountGroups) {
  AddClusterRole("r", Json::array({Rule({"get"}, {""}, {"configmaps"})}));
  AddClusterRoleBinding("all-sas", "r", Json::array({Subject("Group", "system:serviceaccounts")}));
  AddClusterRole("w", Json::array({Rule({"update"}, {""}, {"configmaps"})}));
  AddClusterRoleBinding("team-sas", "w",
                        Json::array({Subject("Group", "system:serviceaccounts:team")}));
  EXPECT_TRUE(Allowed(ServiceAccount("any", "x"), Resource("get", "", "configmaps", "a", "c")));
  EXPECT_FALSE(Allowed(User("alice"), Resource("get", "", "configmaps", "a", "c")));
  EXPECT_TRUE(Allowed(ServiceAccount("team", "x"), Resource("update", "", "configmaps", "a", "c")));
  EXPECT_FALSE(Allowed(ServiceAccount("any", "x"), Resource("update", "", "configmaps", "a", "c")));
}

// A RoleBinding grants only within its namespace, never at the cluster scope.
TEST_F(RbacTest, RoleBindingIsNamespaceScoped) {
  AddRole("team", "pod-reader", Json::array({Rule({"get", "list"}, {""}, {"pods"})}));
  AddRoleBinding("team", "rb", "Role", "pod-reader", Json::array({Subject("User", "alice")}));
  UserInfo alice = User("alice");
  EXPECT_TRUE(Allowed(alice, Resource("list", "", "pods", "team")));
  EXPECT_FALSE(Allowed(alice, Resource("list", "", "pods", "other")));
  EXPECT_FALSE(Allowed(alice, Resource("list", "", "pods", "")));
}

// A RoleBinding to a ClusterRole grants its rules only in the binding's namespace.
TEST_F(RbacTest, RoleBindingToClusterRoleIsScoped) {
  AddClusterRole("secret-reader", Json::array({Rule({"get"}, {""}, {"secrets"})}));
  AddRoleBinding("team", "rb", "ClusterRole", "secret-reader",
                 Json::array({Subject("User", "alice")}));
  UserInfo alice = User("alice");
  Decision d = Authorize(objects_, alice, Resource("get", "", "secrets", "team", "s"));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(
      d.reason,
      R"(RBAC: allowed by RoleBinding "rb/team" of ClusterRole "secret-reader" to User "alice")");
  EXPECT_FALSE(Allowed(alice, Resource("get", "", "secrets", "other", "s")));
  EXPECT_FALSE(Allowed(alice, Resource("get", "", "secrets", "", "s")));
}

// A RoleBinding's Role is looked up in the binding's namespace, not in others.
TEST_F(RbacTest, RoleBindingUsesRoleOfItsOwnNamespace) {
  AddRole("other", "pod-reader", Json::array({Rule({"get"}, {""}, {"pods"})}));
  AddRoleBinding("team", "rb", "Role", "pod-reader", Json::array({Subject("User", "alice")}));
  Decision d = Authorize(objects_, User("alice"), Resource("get", "", "pods", "team", "p"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, R"(RBAC: role.rbac.authorization.k8s.io "pod-reader" not found)");
}

// A binding whose role is missing is reported in the denial reason, only for matching subjects.
TEST_F(RbacTest, MissingRolesAreReportedInDenialReason) {
  AddClusterRoleBinding("dangling", "gone", Json::array({Subject("User", "alice")}));
  Decision d = Authorize(objects_, User("alice"), Resource("get", "", "pods", "ns", "p"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, R"(RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found)");
  EXPECT_EQ(Authorize(objects_, User("bob"), Resource("get", "", "pods", "ns", "p")).reason, "");
  AddRoleBinding("ns", "rb", "Role", "also-gone", Json::array({Subject("User", "alice")}));
  EXPECT_EQ(Authorize(objects_, User("alice"), Resource("get", "", "pods", "ns", "p")).reason,
            R"(RBAC: [clusterrole.rbac.authorization.k8s.io "gone" not found, )"
            R"(role.rbac.authorization.k8s.io "also-gone" not found])");
  // Other rules still allow despite the dangling binding.
  AddClusterRole("r", Json::array({Rule({"get"}, {""}, {"pods"})}));
  AddClusterRoleBinding("ok", "r", Json::array({Subject("User", "alice")}));
  EXPECT_TRUE(Allowed(User("alice"), Resource("get", "", "pods", "ns", "p")));
}

// A ClusterRoleBinding can only use a ClusterRole; other roleRef kinds are reported, not used.
TEST_F(RbacTest, ClusterRoleBindingToRoleOrUnknownKindGrantsNothing) {
  AddRole("ns", "pod-reader", Json::array({Rule({"get"}, {""}, {"pods"})}));
  objects_.Put("clusterrolebindings", {{"metadata", {{"name", "to-role"}}},
                                       {"roleRef", {{"kind", "Role"}, {"name", "pod-reader"}}},
                                       {"subjects", Json::array({Subject("User", "alice")})}});
  Decision d = Authorize(objects_, User("alice"), Resource("get", "", "pods", "ns", "p"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, R"(RBAC: role.rbac.authorization.k8s.io "pod-reader" not found)");
  objects_.Put("clusterrolebindings", {{"metadata", {{"name", "to-role"}}},
                                       {"roleRef", {{"kind", "Policy"}, {"name", "pod-reader"}}},
                                       {"subjects", Json::array({Subject("User", "alice")})}});
  EXPECT_EQ(Authorize(objects_, User("alice"), Resource("get", "", "pods", "ns", "p")).reason,
            R"(RBAC: unsupported role reference kind: "Policy")");
}

// Unknown subject kinds match nobody.
TEST_F(RbacTest, UnknownSubjectKindMatchesNothing) {
  AddClusterRole("r", Json::array({Rule({"*"}, {"*"}, {"*"})}));
  AddClusterRoleBinding("b", "r", Json::array({Subject("Robot", "alice")}));
  EXPECT_FALSE(Allowed(User("alice"), Resource("get", "", "pods", "ns", "p")));
}

// Namespaced list: `pods is forbidden: ... in the namespace "y"`.
TEST(ForbiddenMessageTest, NamespacedList) {
  EXPECT_EQ(ForbiddenMessage(ServiceAccount("ns", "x"), Resource("list", "", "pods", "y")),
            R"(pods is forbidden: User "system:serviceaccount:ns:x" cannot list resource "pods" )"
            R"(in API group "" in the namespace "y")");
}

// Named: `secrets "foo" is forbidden: ...`.
TEST(ForbiddenMessageTest, NamedResource) {
  EXPECT_EQ(ForbiddenMessage(User("alice"), Resource("get", "", "secrets", "other", "foo")),
            R"(secrets "foo" is forbidden: User "alice" cannot get resource "secrets" in API )"
            R"(group "" in the namespace "other")");
}

// Subresource: the resource in the prefix, "resource/sub" in the sentence.
TEST(ForbiddenMessageTest, Subresource) {
  EXPECT_EQ(ForbiddenMessage(User("alice"),
                             Resource("create", "", "serviceaccounts", "ns", "robot", "token")),
            R"(serviceaccounts "robot" is forbidden: User "alice" cannot create resource )"
            R"("serviceaccounts/token" in API group "" in the namespace "ns")");
}

// Cluster scope, and a non-core group qualifying the resource in the prefix.
TEST(ForbiddenMessageTest, ClusterScopeAndGroup) {
  EXPECT_EQ(ForbiddenMessage(User("alice"), Resource("list", "", "namespaces", "")),
            R"(namespaces is forbidden: User "alice" cannot list resource "namespaces" in API )"
            R"(group "" at the cluster scope)");
  EXPECT_EQ(ForbiddenMessage(User("alice"),
                             Resource("create", "rbac.authorization.k8s.io", "clusterroles", "")),
            R"(clusterroles.rbac.authorization.k8s.io is forbidden: User "alice" cannot create )"
            R"(resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster )"
            R"(scope)");
  EXPECT_EQ(ForbiddenMessage(User("alice"),
                             Resource("get", "coordination.k8s.io", "leases", "kube-system", "l")),
            R"(leases.coordination.k8s.io "l" is forbidden: User "alice" cannot get resource )"
            R"("leases" in API group "coordination.k8s.io" in the namespace "kube-system")");
}

// Non-resource: `forbidden: User "x" cannot get path "/foo"`.
TEST(ForbiddenMessageTest, NonResource) {
  EXPECT_EQ(ForbiddenMessage(User("x"), NonResource("get", "/foo")),
            R"(forbidden: User "x" cannot get path "/foo")");
}

// Request data is quoted like Go's %q and HTML metacharacters are escaped.
TEST(ForbiddenMessageTest, QuotesAndEscapes) {
  EXPECT_EQ(ForbiddenMessage(User("a\"b"), NonResource("get", "/x<y>&z")),
            R"(forbidden: User "a\"b" cannot get path "/x&lt;y&gt;&amp;z")");
}

}  // namespace
}  // namespace kcred::devcluster
