// Served credentials (served_credentials.h): the kubeconfig names.
#include "daemon/broker/broker.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"

namespace kcred::broker {
namespace {

using testing::BrokerFixture;
using testing::Ref;
using testing::RulesSpec;

class ServedCredentialsTest : public BrokerFixture {};

// Kubeconfig names follow the cluster's templates.
TEST_F(ServedCredentialsTest, KubeconfigNameTemplates) {
  cluster_.cluster_name_template = "gs-{cluster}";
  cluster_.context_name_template = "gs-{cluster}-{name}@{namespace}";
  broker_ = MakeBroker();
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  auto kubeconfig = broker_->GetKubeconfig(Ref("automation", "ci-bot"));
  ASSERT_TRUE(kubeconfig.ok());
  EXPECT_EQ(kubeconfig->cluster_name(), "gs-dev");
  EXPECT_EQ(kubeconfig->context_name(), "gs-dev-ci-bot@automation");
}

}  // namespace
}  // namespace kcred::broker
