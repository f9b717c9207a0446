#include "devcluster/auth/escalation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/devcluster/auth/rbac_fixture.h"

namespace kcred::devcluster {
namespace {

using ::kcred::devcluster::testing::BindingObject;
using ::kcred::devcluster::testing::RbacFixture;
using ::kcred::devcluster::testing::RoleObject;
using ::kcred::devcluster::testing::Rule;
using ::kcred::devcluster::testing::ServiceAccount;
using ::kcred::devcluster::testing::Subject;
using ::kcred::devcluster::testing::UrlRule;
using ::kcred::devcluster::testing::User;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr char kSaGroups[] =
    R"((groups=["system:serviceaccounts" "system:serviceaccounts:team" "system:authenticated"]))";

bool CoveredBy(const Json& owner, const Json& servant) { return Covers(owner, servant); }

// A rule is covered by an owner rule with the same or more verbs, groups and resources.
TEST(CoversTest, SameOrWiderRulesCover) {
  const Json owner =
      Json::array({Rule({"get", "list", "watch"}, {"", "apps"}, {"pods", "deployments"})});
  EXPECT_TRUE(CoveredBy(owner, Json::array({Rule({"get"}, {""}, {"pods"})})));
  EXPECT_TRUE(CoveredBy(owner, Json::array({Rule({"get", "list"}, {"apps"}, {"deployments"})})));
  EXPECT_TRUE(CoveredBy(owner, Json::array()));
  // A servant rule split across several owner rules is covered piece by piece.
  const Json split = Json::array({Rule({"get"}, {""}, {"pods"}), Rule({"list"}, {""}, {"pods"})});
  EXPECT_TRUE(CoveredBy(split, Json::array({Rule({"get", "list"}, {""}, {"pods"})})));
}

// One extra verb, group or resource is not covered, and the missing atomic rule is reported.
TEST(CoversTest, ExtraVerbGroupOrResourceIsMissing) {
  const Json owner = Json::array({Rule({"get", "list"}, {""}, {"pods"})});
  std::vector<Json> missing;
  EXPECT_FALSE(Covers(owner, Json::array({Rule({"get", "delete"}, {""}, {"pods"})}), &missing));
  EXPECT_THAT(missing, ElementsAre(Rule({"delete"}, {""}, {"pods"})));
  missing.clear();
  EXPECT_FALSE(Covers(owner, Json::array({Rule({"get"}, {"", "apps"}, {"pods"})}), &missing));
  EXPECT_THAT(missing, ElementsAre(Rule({"get"}, {"apps"}, {"pods"})));
  missing.clear();
  EXPECT_FALSE(Covers(owner, Json::array({Rule({"get"}, {""}, {"pods", "secrets"})}), &missing));
  EXPECT_THAT(missing, ElementsAre(Rule({"get"}, {""}, {"secrets"})));
}

// A `*` is covered only by a literal `*`, not by listing every value; `*` owners cover all.
TEST(CoversTest, WildcardsNeedWildcards) {
  const Json every_verb = Json::array(
      {Rule({"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"},
            {""}, {"pods"})});
  EXPECT_FALSE(CoveredBy(every_verb, Json::array({Rule({"*"}, {""}, {"pods"})})));
  EXPECT_FALSE(CoveredBy(Json::array({Rule({"get"}, {""}, {"pods"})}),
                         Json::array({Rule({"get"}, {"*"}, {"pods"})})));
  EXPECT_FALSE(CoveredBy(Json::array({Rule({"get"}, {""}, {"pods"})}),
                         Json::array({Rule({"get"}, {""}, {"*"})})));
  const Json admin = Json::array({Rule({"*"}, {"*"}, {"*"})});
  EXPECT_TRUE(CoveredBy(
      admin, Json::array({Rule({"*"}, {"*"}, {"*"}),
                          Rule({"escalate"}, {"rbac.authorization.k8s.io"}, {"roles"}, {"x"})})));
  EXPECT_FALSE(CoveredBy(admin, Json::array({UrlRule({"get"}, {"/metrics"})})));
}

// Subresources: "pods" does not cover "pods/log"; "*/log" and "*" do.
TEST(CoversTest, Subresources) {
  const Json servant = Json::array({Rule({"get"}, {""}, {"pods/log"})});
  EXPECT_FALSE(CoveredBy(Json::array({Rule({"get"}, {""}, {"pods"})}), servant));
  EXPECT_TRUE(CoveredBy(Json::array({Rule({"get"}, {""}, {"pods/log"})}), servant));
  EXPECT_TRUE(CoveredBy(Json::array({Rule({"get"}, {""}, {"*/log"})}), servant));
  EXPECT_TRUE(CoveredBy(Json::array({Rule({"get"}, {""}, {"*"})}), servant));
  EXPECT_FALSE(CoveredBy(Json::array({Rule({"get"}, {""}, {"*/status"})}), servant));
}

// resourceNames: an owner for every name covers named rules; a named owner covers only its names
// and never a rule for every name.
TEST(CoversTest, ResourceNames) {
  const Json named = Json::array({Rule({"get"}, {""}, {"secrets"}, {"a", "b"})});
  EXPECT_TRUE(CoveredBy(named, Json::array({Rule({"get"}, {""}, {"secrets"}, {"a"})})));
  EXPECT_TRUE(CoveredBy(named, Json::array({Rule({"get"}, {""}, {"secrets"}, {"b", "a"})})));
  EXPECT_FALSE(CoveredBy(named, Json::array({Rule({"get"}, {""}, {"secrets"}, {"c"})})));
  EXPECT_FALSE(CoveredBy(named, Json::array({Rule({"get"}, {""}, {"secrets"})})));
  EXPECT_TRUE(CoveredBy(Json::array({Rule({"get"}, {""}, {"secrets"})}),
                        Json::array({Rule({"get"}, {""}, {"secrets"}, {"c"})})));
}

// Non-resource URLs: exact, `*`, or a prefix ending in `*`; resource rules never cover them.
TEST(CoversTest, NonResourceUrls) {
  const Json owner = Json::array({UrlRule({"get"}, {"/healthz", "/logs/*"})});
  EXPECT_TRUE(CoveredBy(owner, Json::array({UrlRule({"get"}, {"/healthz"})})));
  EXPECT_TRUE(CoveredBy(owner, Json::array({UrlRule({"get"}, {"/logs/a", "/logs/*"})})));
  EXPECT_FALSE(CoveredBy(owner, Json::array({UrlRule({"get"}, {"/logs"})})));
  EXPECT_FALSE(CoveredBy(owner, Json::array({UrlRule({"post"}, {"/healthz"})})));
  EXPECT_TRUE(CoveredBy(Json::array({UrlRule({"*"}, {"*"})}),
                        Json::array({UrlRule({"get", "post"}, {"/anything"})})));
  EXPECT_FALSE(CoveredBy(Json::array({Rule({"*"}, {"*"}, {"*"})}),
                         Json::array({UrlRule({"get"}, {"/healthz"})})));
}

class EscalationTest : public RbacFixture {
 protected:
  void SetUp() override {
    // The ServiceAccount team/deployer may write roles and bindings in "team" and read pods there.
    AddClusterRole("role-writer",
                   Json::array({Rule({"create", "update", "patch", "get"},
                                     {"rbac.authorization.k8s.io"}, {"roles", "rolebindings"}),
                                Rule({"get", "list"}, {""}, {"pods"})}));
    AddRoleBinding("team", "deployer", "ClusterRole", "role-writer",
                   Json::array({Subject("ServiceAccount", "deployer")}));
  }

  EscalationDecision Write(const UserInfo& user, const std::string& resource, const std::string& ns,
                           const Json& object, const Json* old = nullptr) {
    const std::string request_name =
        old == nullptr ? "" : object["metadata"]["name"].get<std::string>();
    return CheckEscalation(objects_, user, RbacWrite{resource, ns, request_name, object, old});
  }

  EscalationDecision CreateRole(const UserInfo& user, const std::string& ns, Json rules) {
    return Write(user, ns.empty() ? "clusterroles" : "roles", ns,
                 RoleObject(ns, "new-role", std::move(rules)));
  }

  EscalationDecision CreateBinding(const UserInfo& user, const std::string& ns,
                                   const std::string& kind, const std::string& role) {
    return Write(
        user, ns.empty() ? "clusterrolebindings" : "rolebindings", ns,
        BindingObject(ns, "new-binding", kind, role, Json::array({Subject("User", "someone")})));
  }

  const UserInfo deployer_ = ServiceAccount("team", "deployer");
};

// A Role whose rules the user holds in that namespace may be created.
TEST_F(EscalationTest, RoleWithinHeldPermissionsIsAllowed) {
  EXPECT_TRUE(CreateRole(deployer_, "team", Json::array({Rule({"get"}, {""}, {"pods"})})).allowed);
  EXPECT_TRUE(CreateRole(deployer_, "team",
                         Json::array({Rule({"get", "list"}, {""}, {"pods"}),
                                      Rule({"create"}, {"rbac.authorization.k8s.io"}, {"roles"})}))
                  .allowed);
}

// One permission more is refused with kube-apiserver's 403 and its exact message.
TEST_F(EscalationTest, ExtraPermissionIsForbiddenWithKubernetesMessage) {
  EscalationDecision d =
      CreateRole(deployer_, "team", Json::array({Rule({"get"}, {""}, {"secrets"})}));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.code, 403);
  EXPECT_EQ(d.reason, "Forbidden");
  EXPECT_EQ(d.message, std::string(R"(roles.rbac.authorization.k8s.io "new-role" is forbidden: )"
                                   R"(user "system:serviceaccount:team:deployer" )") +
                           kSaGroups +
                           " is attempting to grant RBAC permissions not currently held:\n"
                           R"({APIGroups:[""], Resources:["secrets"], Verbs:["get"]})");
  EXPECT_EQ(
      d.details,
      Json({{"name", "new-role"}, {"group", "rbac.authorization.k8s.io"}, {"kind", "roles"}}));
  // An extra verb, and a wildcard, are refused too.
  EXPECT_FALSE(CreateRole(deployer_, "team", Json::array({Rule({"get", "delete"}, {""}, {"pods"})}))
                   .allowed);
  EXPECT_FALSE(CreateRole(deployer_, "team", Json::array({Rule({"*"}, {""}, {"pods"})})).allowed);
  EXPECT_FALSE(CreateRole(deployer_, "team", Json::array({Rule({"get"}, {""}, {"*"})})).allowed);
}

// The missing permissions are listed one line per group and resource, verbs compacted, sorted.
TEST_F(EscalationTest, MissingPermissionsAreCompactedAndSorted) {
  EscalationDecision d = CreateRole(
      deployer_, "team",
      Json::array({Rule({"get", "list", "delete"}, {""}, {"secrets", "pods"}),
                   Rule({"get"}, {""}, {"configmaps"}, {"cfg"}), UrlRule({"get"}, {"/metrics"})}));
  ASSERT_FALSE(d.allowed);
  EXPECT_THAT(d.message, HasSubstr("not currently held:\n"
                                   R"({APIGroups:[""], Resources:["configmaps"], )"
                                   R"(ResourceNames:["cfg"], Verbs:["get"]})"
                                   "\n"
                                   R"({APIGroups:[""], Resources:["pods"], Verbs:["delete"]})"
                                   "\n"
                                   R"({APIGroups:[""], Resources:["secrets"], )"
                                   R"(Verbs:["get" "list" "delete"]})"
                                   "\n"
                                   R"({NonResourceURLs:["/metrics"], Verbs:["get"]})"));
}

// Permissions count only in their scope: a RoleBinding in "team" does not help in "other", and
// never for a ClusterRole; a ClusterRoleBinding helps everywhere.
TEST_F(EscalationTest, NamespaceAndClusterScope) {
  const Json pods = Json::array({Rule({"get"}, {""}, {"pods"})});
  EXPECT_FALSE(CreateRole(deployer_, "other", pods).allowed);
  EscalationDecision cluster = CreateRole(deployer_, "", pods);
  EXPECT_FALSE(cluster.allowed);
  EXPECT_THAT(cluster.message,
              HasSubstr(R"(clusterroles.rbac.authorization.k8s.io "new-role" is forbidden: )"));
  AddClusterRole("pod-reader", pods);
  AddClusterRoleBinding("deployer-pods", "pod-reader",
                        Json::array({Subject("ServiceAccount", "deployer", "team")}));
  EXPECT_TRUE(CreateRole(deployer_, "other", pods).allowed);
  EXPECT_TRUE(CreateRole(deployer_, "", pods).allowed);
}

// system:masters may grant anything, as kube-apiserver's loopback client must.
TEST_F(EscalationTest, SystemMastersBypass) {
  UserInfo admin = User("kcred:admin", {"system:masters", "system:authenticated"});
  EXPECT_TRUE(CreateRole(admin, "team", Json::array({Rule({"*"}, {"*"}, {"*"})})).allowed);
  EXPECT_TRUE(CreateBinding(admin, "team", "ClusterRole", "does-not-exist").allowed);
}

// `escalate` on roles in the namespace allows any rules; scoped to its namespace and resource.
TEST_F(EscalationTest, EscalateGrant) {
  const Json secrets = Json::array({Rule({"*"}, {""}, {"secrets"})});
  AddRole("team", "escalator",
          Json::array({Rule({"escalate"}, {"rbac.authorization.k8s.io"}, {"roles"})}));
  AddRoleBinding("team", "deployer-escalates", "Role", "escalator",
                 Json::array({Subject("ServiceAccount", "deployer")}));
  EXPECT_TRUE(CreateRole(deployer_, "team", secrets).allowed);
  EXPECT_FALSE(CreateRole(deployer_, "other", secrets).allowed);
  EXPECT_FALSE(CreateRole(deployer_, "", secrets).allowed);
  AddClusterRole(
      "cluster-escalator",
      Json::array({Rule({"escalate"}, {"rbac.authorization.k8s.io"}, {"clusterroles"})}));
  AddClusterRoleBinding("deployer-cluster-escalates", "cluster-escalator",
                        Json::array({Subject("ServiceAccount", "deployer", "team")}));
  EXPECT_TRUE(CreateRole(deployer_, "", secrets).allowed);
}

// An `escalate` grant with resourceNames allows updating those roles only; never a create, whose
// request has no name in kube-apiserver's RequestInfo.
TEST_F(EscalationTest, EscalateGrantWithResourceNames) {
  AddRole(
      "team", "escalate-one",
      Json::array({Rule({"escalate"}, {"rbac.authorization.k8s.io"}, {"roles"}, {"new-role"})}));
  AddRoleBinding("team", "deployer-escalates-one", "Role", "escalate-one",
                 Json::array({Subject("ServiceAccount", "deployer")}));
  const Json pods = Json::array({Rule({"get"}, {""}, {"pods"})});
  const Json secrets = Json::array({Rule({"get"}, {""}, {"secrets"})});
  EXPECT_FALSE(CreateRole(deployer_, "team", secrets).allowed);
  const Json old_role = RoleObject("team", "new-role", pods);
  EXPECT_TRUE(Write(deployer_, "roles", "team", RoleObject("team", "new-role", secrets), &old_role)
                  .allowed);
  const Json other_old = RoleObject("team", "other-role", pods);
  EXPECT_FALSE(
      Write(deployer_, "roles", "team", RoleObject("team", "other-role", secrets), &other_old)
          .allowed);
}

// An update is checked like a create: adding a permission the user lacks is refused, even to a
// role that exists; an update that touches only ownerReferences or finalizers passes.
TEST_F(EscalationTest, UpdateOfExistingRoleCounts) {
  const Json old_role =
      RoleObject("team", "existing", Json::array({Rule({"get"}, {""}, {"pods"})}));
  const Json wider =
      RoleObject("team", "existing",
                 Json::array({Rule({"get"}, {""}, {"pods"}), Rule({"list"}, {""}, {"secrets"})}));
  EscalationDecision d = Write(deployer_, "roles", "team", wider, &old_role);
  EXPECT_FALSE(d.allowed);
  EXPECT_THAT(d.message, HasSubstr(R"(roles.rbac.authorization.k8s.io "existing" is forbidden: )"));
  EXPECT_THAT(d.message, HasSubstr(R"({APIGroups:[""], Resources:["secrets"], Verbs:["list"]})"));

  Json admin_role = RoleObject("team", "admin-made", Json::array({Rule({"*"}, {"*"}, {"*"})}));
  admin_role["metadata"]["uid"] = "u-1";
  Json gc_only = admin_role;
  gc_only["metadata"]["finalizers"] = Json::array({"example.com/cleanup"});
  gc_only["metadata"]["ownerReferences"] =
      Json::array({{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"name", "owner"}}});
  EXPECT_TRUE(Write(deployer_, "roles", "team", gc_only, &admin_role).allowed);
  Json relabelled = admin_role;
  relabelled["metadata"]["labels"]["x"] = "y";
  EXPECT_FALSE(Write(deployer_, "roles", "team", relabelled, &admin_role).allowed);
}

// A ClusterRole with an aggregationRule needs cluster-admin rights, whatever its rules.
TEST_F(EscalationTest, AggregationRuleNeedsClusterAdmin) {
  AddClusterRole("writer",
                 Json::array({Rule({"create"}, {"rbac.authorization.k8s.io"}, {"clusterroles"})}));
  AddClusterRoleBinding("deployer-writer", "writer",
                        Json::array({Subject("ServiceAccount", "deployer", "team")}));
  Json aggregated = RoleObject("", "aggregated", Json::array());
  aggregated["aggregationRule"] = {
      {"clusterRoleSelectors", Json::array({{{"matchLabels", {{"a", "b"}}}}})}};
  EscalationDecision d = Write(deployer_, "clusterroles", "", aggregated);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.message, R"(clusterroles.rbac.authorization.k8s.io "aggregated" is forbidden: )"
                       "must have cluster-admin privileges to use the aggregationRule");
}

// Binding a role the user does not hold is refused; holding its permissions is enough.
TEST_F(EscalationTest, BindingNeedsTheRolesPermissions) {
  AddClusterRole("admin", Json::array({Rule({"*"}, {""}, {"secrets", "pods"})}));
  AddClusterRole("viewer", Json::array({Rule({"list"}, {""}, {"pods"})}));
  EscalationDecision d = CreateBinding(deployer_, "team", "ClusterRole", "admin");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.code, 403);
  EXPECT_EQ(d.message,
            std::string(R"(rolebindings.rbac.authorization.k8s.io "new-binding" is forbidden: )"
                        R"(user "system:serviceaccount:team:deployer" )") +
                kSaGroups +
                " is attempting to grant RBAC permissions not currently held:\n"
                R"({APIGroups:[""], Resources:["pods"], Verbs:["*"]})"
                "\n"
                R"({APIGroups:[""], Resources:["secrets"], Verbs:["*"]})");
  EXPECT_EQ(d.details["kind"], "rolebindings");
  EXPECT_TRUE(CreateBinding(deployer_, "team", "ClusterRole", "viewer").allowed);
  EXPECT_FALSE(CreateBinding(deployer_, "other", "ClusterRole", "viewer").allowed);
  AddRole("team", "local", Json::array({Rule({"get"}, {""}, {"pods"})}));
  EXPECT_TRUE(CreateBinding(deployer_, "team", "Role", "local").allowed);
}

// `bind` on the role allows the binding, limited to the listed role names and the namespace.
TEST_F(EscalationTest, BindGrant) {
  AddClusterRole("admin", Json::array({Rule({"*"}, {"*"}, {"*"})}));
  AddClusterRole("edit", Json::array({Rule({"*"}, {"*"}, {"*"})}));
  AddRole(
      "team", "bind-admin",
      Json::array({Rule({"bind"}, {"rbac.authorization.k8s.io"}, {"clusterroles"}, {"admin"})}));
  AddRoleBinding("team", "deployer-binds", "Role", "bind-admin",
                 Json::array({Subject("ServiceAccount", "deployer")}));
  EXPECT_TRUE(CreateBinding(deployer_, "team", "ClusterRole", "admin").allowed);
  EXPECT_FALSE(CreateBinding(deployer_, "team", "ClusterRole", "edit").allowed);
  EXPECT_FALSE(CreateBinding(deployer_, "other", "ClusterRole", "admin").allowed);
  EXPECT_FALSE(CreateBinding(deployer_, "", "ClusterRole", "admin").allowed);
  // `bind` on roles does not cover clusterroles.
  AddRole("team", "bind-roles",
          Json::array({Rule({"bind"}, {"rbac.authorization.k8s.io"}, {"roles"})}));
  AddRoleBinding("team", "deployer-binds-roles", "Role", "bind-roles",
                 Json::array({Subject("ServiceAccount", "deployer")}));
  EXPECT_FALSE(CreateBinding(deployer_, "team", "ClusterRole", "edit").allowed);
  AddRole("team", "local-admin", Json::array({Rule({"*"}, {"*"}, {"*"})}));
  EXPECT_TRUE(CreateBinding(deployer_, "team", "Role", "local-admin").allowed);
}

// A ClusterRoleBinding needs the role's permissions cluster-wide.
TEST_F(EscalationTest, ClusterRoleBindingNeedsClusterScope) {
  AddClusterRole("viewer", Json::array({Rule({"list"}, {""}, {"pods"})}));
  EscalationDecision d = CreateBinding(deployer_, "", "ClusterRole", "viewer");
  EXPECT_FALSE(d.allowed);
  EXPECT_THAT(d.message, HasSubstr(R"(clusterrolebindings.rbac.authorization.k8s.io )"
                                   R"("new-binding" is forbidden: )"));
  AddClusterRoleBinding("deployer-viewer", "viewer",
                        Json::array({Subject("ServiceAccount", "deployer", "team")}));
  EXPECT_TRUE(CreateBinding(deployer_, "", "ClusterRole", "viewer").allowed);
}

// A binding to a missing role is kube-apiserver's 404 for that role, unless `bind` allows it.
TEST_F(EscalationTest, BindingToMissingRole) {
  EscalationDecision d = CreateBinding(deployer_, "team", "ClusterRole", "gone");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.code, 404);
  EXPECT_EQ(d.reason, "NotFound");
  EXPECT_EQ(d.message, R"(clusterroles.rbac.authorization.k8s.io "gone" not found)");
  EXPECT_EQ(
      d.details,
      Json({{"name", "gone"}, {"group", "rbac.authorization.k8s.io"}, {"kind", "clusterroles"}}));
  EXPECT_EQ(CreateBinding(deployer_, "team", "Role", "gone").message,
            R"(roles.rbac.authorization.k8s.io "gone" not found)");
  AddRole("team", "bind-any",
          Json::array({Rule({"bind"}, {"rbac.authorization.k8s.io"}, {"clusterroles"})}));
  AddRoleBinding("team", "deployer-binds", "Role", "bind-any",
                 Json::array({Subject("ServiceAccount", "deployer")}));
  EXPECT_TRUE(CreateBinding(deployer_, "team", "ClusterRole", "gone").allowed);
}

// Bindings of the user whose roles are missing are named after the missing permissions.
TEST_F(EscalationTest, ResolutionErrorsAreAppended) {
  AddRoleBinding("team", "dangling", "ClusterRole", "vanished",
                 Json::array({Subject("ServiceAccount", "deployer")}));
  AddRoleBinding("team", "dangling-2", "Role", "vanished-too",
                 Json::array({Subject("ServiceAccount", "deployer")}));
  std::optional<std::string> cause = ConfirmNoEscalation(
      objects_, deployer_, "team", Json::array({Rule({"get"}, {""}, {"secrets"})}));
  ASSERT_TRUE(cause.has_value());
  EXPECT_THAT(*cause,
              HasSubstr(R"({APIGroups:[""], Resources:["secrets"], Verbs:["get"]}; resolution )"
                        R"(errors: [[clusterroles.rbac.authorization.k8s.io "vanished" not )"
                        R"(found, roles.rbac.authorization.k8s.io "vanished-too" not found]])"));
  EXPECT_FALSE(
      ConfirmNoEscalation(objects_, deployer_, "team", Json::array({Rule({"get"}, {""}, {"pods"})}))
          .has_value());
}

// The bootstrap policy counts as held permissions, as its bindings exist in a real cluster.
TEST_F(EscalationTest, BootstrapPolicyCounts) {
  EXPECT_TRUE(
      CreateRole(deployer_, "",
                 Json::array({Rule({"create"}, {"authentication.k8s.io"}, {"selfsubjectreviews"}),
                              UrlRule({"get"}, {"/version", "/api/v1"})}))
          .allowed);
}

// Objects of other resources are not the escalation check's business.
TEST_F(EscalationTest, OtherResourcesPass) {
  EXPECT_TRUE(Write(deployer_, "secrets", "team", Json{{"metadata", {{"name", "s"}}}}).allowed);
}

}  // namespace
}  // namespace kcred::devcluster
