#include "daemon/broker/validation.h"

#include "gtest/gtest.h"

namespace kcred::broker {
namespace {

v1::AccountSpec Spec() {
  v1::AccountSpec spec;
  v1::PolicyRule* rule = spec.mutable_access()->mutable_rules()->add_rules();
  rule->add_verbs("get");
  rule->add_resources("pods");
  return spec;
}

// Unset token fields take the defaults, kept within the cluster's ttl bounds.
TEST(ValidationTest, ResolvePolicyDefaults) {
  config::ClusterConfig cluster;
  cluster.max_token_ttl = absl::Minutes(30);
  config::TokenDefaults defaults;
  cluster.audiences = {"api"};
  TokenPolicy policy = ResolvePolicy(Spec(), cluster, defaults);
  EXPECT_EQ(policy.mode, v1::TOKEN_MODE_BOUND);
  EXPECT_EQ(policy.ttl, absl::Minutes(30));
  EXPECT_EQ(policy.grace, defaults.grace);
  EXPECT_EQ(policy.audiences, std::vector<std::string>{"api"});
  ASSERT_TRUE(policy.rotate_fraction.has_value());
  const absl::Time issue = absl::FromUnixSeconds(1000);
  EXPECT_EQ(NextRotationTime(policy, issue, issue + absl::Minutes(30)), issue + absl::Minutes(24));
  EXPECT_TRUE(ValidateSpec(Spec(), cluster, defaults).ok());
}

// A ttl above the cluster's maximum names the allowed range.
TEST(ValidationTest, TtlAboveMaximum) {
  config::ClusterConfig cluster;
  cluster.name = "dev";
  cluster.max_token_ttl = absl::Hours(2);
  v1::AccountSpec spec = Spec();
  spec.mutable_token()->mutable_ttl()->set_seconds(3 * 3600);
  absl::Status status = ValidateSpec(spec, cluster, config::TokenDefaults());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("use between 10m and 2h"), absl::string_view::npos)
      << status.message();
}

// A fixed interval sets the next rotation; legacy tokens rotate on the configured ttl.
TEST(ValidationTest, RotateInterval) {
  config::ClusterConfig cluster;
  v1::AccountSpec spec = Spec();
  spec.mutable_token()->mutable_rotate_interval()->set_seconds(600);
  TokenPolicy policy = ResolvePolicy(spec, cluster, config::TokenDefaults());
  const absl::Time issue = absl::FromUnixSeconds(1000);
  EXPECT_EQ(NextRotationTime(policy, issue, absl::InfiniteFuture()), issue + absl::Minutes(10));
  spec.mutable_token()->clear_rotate_interval();
  policy = ResolvePolicy(spec, cluster, config::TokenDefaults());
  EXPECT_EQ(NextRotationTime(policy, issue, absl::InfiniteFuture()), issue + absl::Minutes(48));
}

// Timestamps survive the round trip through protobuf.
TEST(ValidationTest, TimeConversions) {
  const absl::Time t = absl::FromUnixMillis(1767225600123);
  EXPECT_EQ(FromProto(ToProto(t)), t);
}

}  // namespace
}  // namespace kcred::broker
