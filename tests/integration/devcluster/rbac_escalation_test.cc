// RBAC escalation prevention seen through real kubectl v1.32, as a least-privilege
// ServiceAccount against a started kcred-devcluster process.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tests/integration/devcluster/devcluster_fixture.h"
#include "tests/support/process.h"

namespace kcred::devcluster {
namespace {

using ::kcred::devcluster::testing::DevClusterTest;
using ::kcred::testing::RunResult;
using ::testing::HasSubstr;

constexpr char kFailed[] = "error: failed to create rolebinding: ";
constexpr char kDeployer[] = "system:serviceaccount:team:deployer";
constexpr char kDeployerGroups[] =
    R"((groups=["system:serviceaccounts" "system:serviceaccounts:team" "system:authenticated"]))";

// kube-apiserver's message refusing to store `resource` "name" that grants `missing`.
std::string NotHeld(const std::string& resource, const std::string& name,
                    const std::string& missing) {
  return absl::StrCat(resource, ".rbac.authorization.k8s.io \"", name, "\" is forbidden: user \"",
                      kDeployer, "\" ", kDeployerGroups,
                      " is attempting to grant RBAC permissions not currently held:\n", missing);
}

class RbacEscalationTest : public DevClusterTest {
 protected:
  void SetUp() override {
    DevClusterTest::SetUp();
    if (HasFatalFailure()) return;
    // A least-privilege deployer: it may write roles and rolebindings and read pods in "team".
    Admin({"create", "namespace", "team"});
    Admin({"create", "serviceaccount", "deployer", "-n", "team"});
    Admin({"apply", "-f", "-"}, R"({"apiVersion":"rbac.authorization.k8s.io/v1",
        "kind":"ClusterRole","metadata":{"name":"deployer"},"rules":[
        {"apiGroups":["rbac.authorization.k8s.io"],"resources":["roles","rolebindings"],
         "verbs":["create","get","update","patch"]},
        {"apiGroups":[""],"resources":["pods"],"verbs":["get"]}]})");
    Admin({"create", "rolebinding", "deployer", "-n", "team", "--clusterrole=deployer",
           "--serviceaccount=team:deployer"});
    std::string token = std::string(
        absl::StripAsciiWhitespace(Admin({"create", "token", "deployer", "-n", "team"})));
    deployer_ = TokenKubeconfig("deployer", token);
  }

  // kubectl as the deployer.
  RunResult Deployer(std::vector<std::string> args) {
    args.push_back("-n");
    args.push_back("team");
    return Kubectl(deployer_, std::move(args));
  }

  // `kubectl create rolebinding <name> --clusterrole=<role>` as the deployer, which must fail;
  // returns what kubectl printed on stderr.
  std::string RefusedBinding(const std::string& name, const std::string& cluster_role) {
    RunResult r = Deployer({"create", "rolebinding", name, "--clusterrole=" + cluster_role,
                            "--serviceaccount=team:deployer"});
    EXPECT_NE(r.exit_code, 0) << "rolebinding " << name << " to " << cluster_role;
    return r.err;
  }

  std::string deployer_;
};

// Roles: within the deployer's permissions they are created; one permission more is refused with
// kube-apiserver's message, on create and on patch, until an `escalate` grant allows it.
TEST_F(RbacEscalationTest, RolesNeedHeldPermissionsOrEscalate) {
  RunResult reader = Deployer({"create", "role", "pod-reader", "--verb=get", "--resource=pods"});
  EXPECT_EQ(reader.exit_code, 0) << reader.err;
  EXPECT_THAT(reader.out, HasSubstr("role.rbac.authorization.k8s.io/pod-reader created"));

  const std::string secrets_get = R"({APIGroups:[""], Resources:["secrets"], Verbs:["get"]})";
  RunResult secrets =
      Deployer({"create", "role", "secret-reader", "--verb=get", "--resource=secrets"});
  EXPECT_NE(secrets.exit_code, 0);
  EXPECT_THAT(secrets.err, HasSubstr("Error from server (Forbidden): " +
                                     NotHeld("roles", "secret-reader", secrets_get)));
  EXPECT_NE(Kubectl(admin_, {"get", "role", "secret-reader", "-n", "team"}).exit_code, 0);

  RunResult widened = Deployer({"patch", "role", "pod-reader", "--type=json", "-p",
                                R"([{"op":"add","path":"/rules/-","value":{"apiGroups":[""],)"
                                R"("resources":["secrets"],"verbs":["list"]}}])"});
  EXPECT_NE(widened.exit_code, 0);
  EXPECT_THAT(widened.err,
              HasSubstr("Error from server (Forbidden): " +
                        NotHeld("roles", "pod-reader",
                                R"({APIGroups:[""], Resources:["secrets"], Verbs:["list"]})")));

  Admin({"create", "role", "escalator", "-n", "team", "--verb=escalate",
         "--resource=roles.rbac.authorization.k8s.io"});
  Admin({"create", "rolebinding", "deployer-escalates", "-n", "team", "--role=escalator",
         "--serviceaccount=team:deployer"});
  RunResult escalated =
      Deployer({"create", "role", "secret-reader", "--verb=get", "--resource=secrets"});
  EXPECT_EQ(escalated.exit_code, 0) << escalated.err;
  EXPECT_THAT(escalated.out, HasSubstr("role.rbac.authorization.k8s.io/secret-reader created"));
}

// RoleBindings: a role the deployer holds may be bound; ClusterRole `admin` only with `bind` on
// that name; a missing role is kube-apiserver's NotFound. `kubectl create rolebinding` prefixes
// server errors with "failed to create rolebinding" whatever the server.
TEST_F(RbacEscalationTest, BindingsNeedHeldPermissionsOrBind) {
  // kcred-devcluster has no bootstrap `admin` ClusterRole, so the admin makes one.
  Admin({"create", "clusterrole", "admin", "--verb=*", "--resource=pods,secrets"});
  Admin({"create", "clusterrole", "edit", "--verb=*", "--resource=configmaps"});
  Admin({"create", "role", "pod-getter", "-n", "team", "--verb=get", "--resource=pods"});

  RunResult held = Deployer(
      {"create", "rolebinding", "get-pods", "--role=pod-getter", "--serviceaccount=team:deployer"});
  EXPECT_EQ(held.exit_code, 0) << held.err;
  EXPECT_THAT(held.out, HasSubstr("rolebinding.rbac.authorization.k8s.io/get-pods created"));

  EXPECT_THAT(
      RefusedBinding("team-admin", "admin"),
      HasSubstr(absl::StrCat(kFailed, NotHeld("rolebindings", "team-admin",
                                              R"({APIGroups:[""], Resources:["pods"], Verbs:["*"]})"
                                              "\n"
                                              R"({APIGroups:[""], Resources:["secrets"], )"
                                              R"(Verbs:["*"]})"))));
  EXPECT_THAT(RefusedBinding("ghost", "no-such-role"),
              HasSubstr(absl::StrCat(kFailed, "clusterroles.rbac.authorization.k8s.io ",
                                     "\"no-such-role\" not found")));

  Admin({"create", "role", "bind-admin", "-n", "team", "--verb=bind",
         "--resource=clusterroles.rbac.authorization.k8s.io", "--resource-name=admin"});
  Admin({"create", "rolebinding", "deployer-binds-admin", "-n", "team", "--role=bind-admin",
         "--serviceaccount=team:deployer"});
  RunResult bound = Deployer({"create", "rolebinding", "team-admin", "--clusterrole=admin",
                              "--serviceaccount=team:deployer"});
  EXPECT_EQ(bound.exit_code, 0) << bound.err;
  EXPECT_THAT(bound.out, HasSubstr("rolebinding.rbac.authorization.k8s.io/team-admin created"));
  // `bind` names only `admin`: `edit` stays out of reach.
  EXPECT_THAT(RefusedBinding("team-edit", "edit"),
              HasSubstr(absl::StrCat(kFailed, NotHeld("rolebindings", "team-edit",
                                                      R"({APIGroups:[""], Resources:)"
                                                      R"(["configmaps"], Verbs:["*"]})"))));
}

}  // namespace
}  // namespace kcred::devcluster
