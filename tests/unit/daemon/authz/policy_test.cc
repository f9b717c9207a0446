// Shows that the authorization policy denies by default, grants exactly what a rule names (subject,
// action, account glob), and that identities expose every subject a rule can name.
#include "daemon/authz/policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace kcred::authz {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

config::AuthorizationRule Rule(std::vector<std::string> subjects, std::vector<std::string> actions,
                               std::vector<std::string> accounts, std::string source) {
  return {std::move(subjects), std::move(actions), std::move(accounts), std::move(source)};
}

Identity UnixCaller(uint32_t uid, std::string user, std::vector<uint32_t> gids,
                    std::vector<std::string> groups) {
  UnixPeer peer;
  peer.pid = 4242;
  peer.uid = uid;
  peer.gid = gids.empty() ? uid : gids.front();
  peer.user = std::move(user);
  peer.groups = std::move(gids);
  peer.group_names = std::move(groups);
  return Identity::Unix(std::move(peer));
}

Identity CertCaller(std::string cn, std::vector<std::string> dns, std::vector<std::string> uris) {
  Certificate cert;
  cert.common_name = std::move(cn);
  cert.dns_names = std::move(dns);
  cert.uris = std::move(uris);
  cert.sha256 = "sha256:" + std::string(64, 'a');
  return Identity::Tls("ipv4:127.0.0.1:40000", std::move(cert));
}

Policy TwoRules() {
  config::AuthorizationConfig config;
  config.configured = true;
  config.rules = {
      Rule(
          {"unix:user:deploy-bot", "unix:group:ci", "x509:cn:builder", "x509:uri:spiffe://corp/ci"},
          {"get-kubeconfig", "get-token", "get", "list", "watch"}, {"prod-eu/ci/*", "dev/*/*"},
          "authorization.rules[0] (kcredd.yaml:3:3)"),
      Rule({"unix:uid:0"}, {"*"}, {"*/*/*"}, "authorization.rules[1] (kcredd.yaml:6:3)"),
  };
  return Policy::FromConfig(config);
}

// A unix caller's subjects include its uid, user, and every group by number and by name.
TEST(IdentityTest, UnixSubjectsNameUidUserAndEveryGroup) {
  Identity id = UnixCaller(1000, "alice", {1000, 27}, {"alice", "ci"});
  EXPECT_THAT(id.subjects(), ElementsAre("unix:uid:1000", "unix:user:alice", "unix:gid:1000",
                                         "unix:gid:27", "unix:group:alice", "unix:group:ci"));
  EXPECT_EQ(id.Display(), "unix:uid:1000(alice)");
  EXPECT_EQ(id.LimitKey(), "unix:uid:1000");
  EXPECT_EQ(id.Peer(), "pid 4242");
  EXPECT_STREQ(id.TransportName(), "unix");
}

// A certificate caller is named by CN, DNS and URI names; a TLS caller without one is anonymous.
TEST(IdentityTest, CertificateSubjectsAndAnonymous) {
  Identity id = CertCaller("builder", {"builder.corp"}, {"spiffe://corp/ci"});
  EXPECT_THAT(id.subjects(),
              ElementsAre("x509:cn:builder", "x509:dns:builder.corp", "x509:uri:spiffe://corp/ci"));
  EXPECT_EQ(id.Display(), "x509:cn:builder");
  EXPECT_EQ(id.LimitKey(), "x509:sha256:" + std::string(64, 'a'));
  Identity anonymous = Identity::Tls("ipv4:127.0.0.1:1", std::nullopt);
  EXPECT_THAT(anonymous.subjects(), ElementsAre("anonymous"));
  EXPECT_EQ(anonymous.Display(), "anonymous");
  EXPECT_EQ(Identity::PlainTcp("ipv4:127.0.0.1:2").Peer(), "ipv4:127.0.0.1:2");
}

// A rule grants its actions on its account globs to each of its subjects, and nothing else.
TEST(PolicyTest, GrantsExactlyWhatARuleNames) {
  Policy policy = TwoRules();
  Identity ci = UnixCaller(1001, "runner", {1001, 50}, {"runner", "ci"});
  Decision d = policy.Decide(ci, Action::kGetToken, "prod-eu", "ci", "deployer");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.rule, "authorization.rules[0] (kcredd.yaml:3:3)");
  EXPECT_TRUE(policy.Decide(ci, Action::kGet, "dev", "any", "thing").allowed);
  // Outside the globs, or an action the rule does not list.
  EXPECT_FALSE(policy.Decide(ci, Action::kGetToken, "prod-eu", "web", "deployer").allowed);
  EXPECT_FALSE(policy.Decide(ci, Action::kGetToken, "prod-us", "ci", "deployer").allowed);
  EXPECT_FALSE(policy.Decide(ci, Action::kRotate, "prod-eu", "ci", "deployer").allowed);
  EXPECT_FALSE(policy.Decide(ci, Action::kProvision, "dev", "a", "b").allowed);
  EXPECT_TRUE(policy.Decide(ci, Action::kProvision, "dev", "a", "b").rule.empty());
  // Certificates by CN and by URI SAN.
  EXPECT_TRUE(
      policy.Decide(CertCaller("builder", {}, {}), Action::kWatch, "dev", "a", "b").allowed);
  EXPECT_TRUE(
      policy.Decide(CertCaller("other", {}, {"spiffe://corp/ci"}), Action::kList, "dev", "a", "b")
          .allowed);
  EXPECT_FALSE(
      policy.Decide(CertCaller("other", {"builder"}, {}), Action::kList, "dev", "a", "b").allowed);
  // "*" grants every action; uid 0 is root.
  Identity root = UnixCaller(0, "root", {0}, {"root"});
  for (Action action : GrantableActions()) {
    Decision r = policy.Decide(root, action, "x", "y", "z");
    EXPECT_TRUE(r.allowed) << ActionName(action);
    EXPECT_EQ(r.rule, "authorization.rules[1] (kcredd.yaml:6:3)");
  }
}

// Default deny: an empty policy grants nothing but the self-review calls.
TEST(PolicyTest, EmptyPolicyDeniesEverythingButSelf) {
  config::AuthorizationConfig config;
  config.configured = true;
  Policy policy = Policy::FromConfig(config);
  Identity root = UnixCaller(0, "root", {0}, {"root"});
  for (Action action : GrantableActions()) {
    EXPECT_FALSE(policy.Decide(root, action, "dev", "a", "b").allowed) << ActionName(action);
    EXPECT_FALSE(policy.DecideAny(root, action).allowed) << ActionName(action);
  }
  Decision self = policy.Decide(root, Action::kSelf, "", "", "");
  EXPECT_TRUE(self.allowed);
  EXPECT_EQ(self.rule, kSelfRule);
  EXPECT_TRUE(policy.DecideAny(CertCaller("x", {}, {}), Action::kSelf).allowed);
}

// Without an authorization section, root and kcredd's own uid may do everything, nobody else.
TEST(PolicyTest, DefaultPolicyIsRootAndOwner) {
  Policy policy = Policy::RootAndOwner(998);
  EXPECT_TRUE(
      policy.Decide(UnixCaller(0, "root", {0}, {}), Action::kDelete, "a", "b", "c").allowed);
  EXPECT_TRUE(
      policy.Decide(UnixCaller(998, "kcred", {998}, {}), Action::kGetToken, "a", "b", "c").allowed);
  EXPECT_FALSE(
      policy.Decide(UnixCaller(1000, "bob", {0}, {"root"}), Action::kGet, "a", "b", "c").allowed);
  EXPECT_FALSE(policy.Decide(CertCaller("root", {}, {}), Action::kGet, "a", "b", "c").allowed);
  EXPECT_EQ(policy.description(), "default policy: root and uid 998 only");
}

// In dev mode only the user who started kcredd may call; root is nobody special.
TEST(PolicyTest, DevModeGrantsOnlyTheStartingUser) {
  Policy policy = Policy::DevMode(1000);
  EXPECT_TRUE(
      policy.Decide(UnixCaller(1000, "alice", {1000}, {}), Action::kProvision, "dev", "a", "b")
          .allowed);
  EXPECT_FALSE(
      policy.Decide(UnixCaller(0, "root", {0}, {}), Action::kProvision, "dev", "a", "b").allowed);
}

// DecideAny answers for any account, or any account of one cluster (ListClusters' filter).
TEST(PolicyTest, DecideAnyLooksAtClusters) {
  Policy policy = TwoRules();
  Identity bot = UnixCaller(1002, "deploy-bot", {1002}, {"deploy-bot"});
  EXPECT_TRUE(policy.DecideAny(bot, Action::kList).allowed);
  EXPECT_TRUE(policy.DecideAny(bot, Action::kList, "prod-eu").allowed);
  EXPECT_FALSE(policy.DecideAny(bot, Action::kList, "prod-us").allowed);
  EXPECT_FALSE(policy.DecideAny(bot, Action::kDelete).allowed);
}

// WhoAmI lists the rules that name one of the caller's subjects.
TEST(PolicyTest, RulesNamingTheCaller) {
  Policy policy = TwoRules();
  std::vector<config::AuthorizationRule> rules =
      policy.RulesNaming(UnixCaller(1003, "x", {1003, 9}, {"x", "ci"}));
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].source, "authorization.rules[0] (kcredd.yaml:3:3)");
  EXPECT_THAT(policy.RulesNaming(UnixCaller(1004, "y", {1004}, {"y"})), IsEmpty());
}

}  // namespace
}  // namespace kcred::authz
