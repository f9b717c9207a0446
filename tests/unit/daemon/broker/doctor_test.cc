// Broker::Doctor (doctor.h): each kind of drift is found, --fix repairs each repairable kind, a
// clean state reports nothing, and the caller's rights bound what is checked and repaired.
#include "daemon/broker/doctor.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/broker/broker.h"
#include "daemon/broker/kube_objects.h"
#include "daemon/broker/object_names.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"

namespace kcred::broker {
namespace {

using testing::BrokerFixture;
using ::testing::HasSubstr;

class DoctorTest : public BrokerFixture {
 protected:
  absl::StatusOr<v1::DoctorResponse> Check(bool fix = false, const DoctorAccess& access = {}) {
    v1::DoctorRequest request;
    request.set_fix(fix);
    return broker_->Doctor(request, access);
  }

  // The findings of `response` as "KIND Kind ns/name" (or "KIND -" without an object).
  static std::vector<std::string> Lines(const v1::DoctorResponse& response) {
    std::vector<std::string> lines;
    for (const v1::DoctorFinding& f : response.findings()) {
      lines.push_back(f.has_object()
                          ? absl::StrCat(v1::DriftKind_Name(f.kind()), " ", f.object().kind(), " ",
                                         f.object().namespace_(), "/", f.object().name())
                          : absl::StrCat(v1::DriftKind_Name(f.kind()), " -"));
    }
    return lines;
  }

  void ExpectClean() {
    absl::StatusOr<v1::DoctorResponse> again = Check();
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_THAT(Lines(*again), ::testing::IsEmpty());
  }
};

// Freshly provisioned accounts show no drift, and every one of them was checked.
TEST_F(DoctorTest, CleanStateReportsNothing) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  ASSERT_TRUE(Provision(Ref("automation", "wide"), RulesSpec(v1::SCOPE_CLUSTER)).ok());
  absl::StatusOr<v1::DoctorResponse> report = Check();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(Lines(*report), ::testing::IsEmpty());
  ASSERT_EQ(report->clusters_size(), 1);
  EXPECT_EQ(report->clusters(0).name(), "dev");
  EXPECT_EQ(report->clusters(0).accounts_checked(), 2);
  EXPECT_GE(report->clusters(0).objects_checked(), 6);
  EXPECT_TRUE(report->clusters(0).error().empty());
  EXPECT_EQ(kube_.CallCount(Verb::kReviewToken), 2);
}

// Role rules edited behind kcred's back are OBJECT_CHANGED; --fix puts the spec's rules back.
TEST_F(DoctorTest, EditedRulesAreChangedAndFixRestoresThem) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  json role = *kube_.Peek(Resource::kRole, "automation", "ci-bot");
  const json wanted = role["rules"];
  role["rules"] =
      json::array({{{"apiGroups", {""}}, {"resources", {"secrets"}}, {"verbs", {"*"}}}});
  ASSERT_TRUE(kube_.Update(Resource::kRole, role, absl::InfiniteFuture()).ok());

  absl::StatusOr<v1::DoctorResponse> report = Check();
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_THAT(Lines(*report),
              ::testing::ElementsAre("DRIFT_KIND_OBJECT_CHANGED Role automation/ci-bot"));
  EXPECT_THAT(report->findings(0).detail(), HasSubstr("rules"));
  EXPECT_EQ(report->findings(0).account().name(), "ci-bot");
  EXPECT_FALSE(report->findings(0).repaired());

  absl::StatusOr<v1::DoctorResponse> fixed = Check(/*fix=*/true);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  ASSERT_EQ(fixed->findings_size(), 1);
  EXPECT_TRUE(fixed->findings(0).repaired()) << fixed->findings(0).repair_error();
  EXPECT_EQ((*kube_.Peek(Resource::kRole, "automation", "ci-bot"))["rules"], wanted);
  ExpectClean();
}

// A deleted RoleBinding is OBJECT_MISSING; --fix re-creates it.
TEST_F(DoctorTest, DeletedBindingIsMissingAndFixRecreatesIt) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  ASSERT_TRUE(
      kube_.Delete(Resource::kRoleBinding, "automation", "ci-bot", {}, absl::InfiniteFuture())
          .ok());
  absl::StatusOr<v1::DoctorResponse> report = Check();
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_THAT(Lines(*report),
              ::testing::ElementsAre("DRIFT_KIND_OBJECT_MISSING RoleBinding automation/ci-bot"));

  absl::StatusOr<v1::DoctorResponse> fixed = Check(/*fix=*/true);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_TRUE(fixed->findings(0).repaired()) << fixed->findings(0).repair_error();
  EXPECT_TRUE(kube_.Peek(Resource::kRoleBinding, "automation", "ci-bot").has_value());
  ExpectClean();
}

// A binding whose subjects were edited is OBJECT_CHANGED and says so.
TEST_F(DoctorTest, EditedBindingSubjectsAreChanged) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  json binding = *kube_.Peek(Resource::kRoleBinding, "automation", "ci-bot");
  binding["subjects"].push_back({{"kind", "User"}, {"name", "mallory"}});
  ASSERT_TRUE(kube_.Update(Resource::kRoleBinding, binding, absl::InfiniteFuture()).ok());
  absl::StatusOr<v1::DoctorResponse> report = Check(/*fix=*/true);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_THAT(Lines(*report),
              ::testing::ElementsAre("DRIFT_KIND_OBJECT_CHANGED RoleBinding automation/ci-bot"));
  EXPECT_THAT(report->findings(0).detail(), HasSubstr("subjects"));
  EXPECT_TRUE(report->findings(0).repaired());
  EXPECT_EQ((*kube_.Peek(Resource::kRoleBinding, "automation", "ci-bot"))["subjects"].size(), 1u);
}

// A kcred-labelled Secret of an account that does not exist is an orphan; --fix deletes it.
TEST_F(DoctorTest, OrphanIsReportedAndFixDeletesIt) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  json orphan = {{"metadata", {{"name", "ghost-kcred-1"}, {"namespace", "automation"}}},
                 {"type", "Opaque"}};
  for (const auto& [k, v] : AccountLabels("dev", "automation", "ghost")) {
    orphan["metadata"]["labels"][k] = v;
  }
  ASSERT_TRUE(kube_.Seed(Resource::kSecret, orphan).ok());
  // A Secret of the existing account that is younger than the grace may be an issue under way.
  json young = orphan;
  young["metadata"]["name"] = "ci-bot-kcred-9";
  for (const auto& [k, v] : AccountLabels("dev", "automation", "ci-bot")) {
    young["metadata"]["labels"][k] = v;
  }
  ASSERT_TRUE(kube_.Seed(Resource::kSecret, young).ok());

  absl::StatusOr<v1::DoctorResponse> report = Check();
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_THAT(Lines(*report),
              ::testing::ElementsAre("DRIFT_KIND_ORPHAN_OBJECT Secret automation/ghost-kcred-1"));
  EXPECT_FALSE(report->findings(0).has_account());
  EXPECT_EQ(report->findings(0).cluster(), "dev");
  EXPECT_THAT(report->findings(0).detail(),
              HasSubstr("dev/automation/ghost, which does not exist"));

  // Past the grace, the unowned Secret of the existing account is an orphan too.
  clock_.Advance(absl::Minutes(6));
  absl::StatusOr<v1::DoctorResponse> fixed = Check(/*fix=*/true);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  ASSERT_EQ(fixed->findings_size(), 2) << ::testing::PrintToString(Lines(*fixed));
  for (const v1::DoctorFinding& f : fixed->findings()) {
    EXPECT_EQ(f.kind(), v1::DRIFT_KIND_ORPHAN_OBJECT);
    EXPECT_TRUE(f.repaired()) << f.repair_error();
  }
  EXPECT_FALSE(kube_.Peek(Resource::kSecret, "automation", "ghost-kcred-1").has_value());
  EXPECT_FALSE(kube_.Peek(Resource::kSecret, "automation", "ci-bot-kcred-9").has_value());
  EXPECT_TRUE(broker_->GetToken(Ref("automation", "ci-bot")).ok());
  ExpectClean();
}

// A deleted anchor Secret revokes the current token: TOKEN_NOT_ACCEPTED; --fix issues a new one.
TEST_F(DoctorTest, RevokedCurrentTokenIsNotAcceptedAndFixRotates) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  const SecretString before = TokenOf(Ref("automation", "ci-bot"));
  ASSERT_TRUE(
      kube_.Delete(Resource::kSecret, "automation", "ci-bot-kcred-1", {}, absl::InfiniteFuture())
          .ok());
  absl::StatusOr<v1::DoctorResponse> report = Check();
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_THAT(
      Lines(*report),
      ::testing::ElementsAre("DRIFT_KIND_TOKEN_NOT_ACCEPTED Secret automation/ci-bot-kcred-1"));
  EXPECT_THAT(report->findings(0).detail(), HasSubstr("generation 1"));
  EXPECT_EQ(report->findings(0).detail().find(before.Reveal()), std::string::npos);

  absl::StatusOr<v1::DoctorResponse> fixed = Check(/*fix=*/true);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  ASSERT_EQ(fixed->findings_size(), 1);
  EXPECT_TRUE(fixed->findings(0).repaired()) << fixed->findings(0).repair_error();
  const SecretString after = TokenOf(Ref("automation", "ci-bot"));
  EXPECT_NE(after, before);
  EXPECT_EQ(kube_.CheckToken(after), TokenState::kValid);
  EXPECT_EQ(broker_->GetAccount(Ref("automation", "ci-bot"))->status().generation(), 2);
  ExpectClean();
}

// A previous token past its revoke time whose Secret is still there is TOKEN_NOT_REVOKED; --fix
// revokes it.
TEST_F(DoctorTest, OverdueRevocationIsReportedAndFixRevokes) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  const SecretString old_token = TokenOf(Ref("automation", "ci-bot"));
  ASSERT_TRUE(Rotate(Ref("automation", "ci-bot")).ok());
  // Within the grace the previous token is meant to work.
  ExpectClean();
  clock_.Advance(absl::Minutes(6));
  absl::StatusOr<v1::DoctorResponse> report = Check();
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_THAT(Lines(*report), ::testing::ElementsAre(
                                  "DRIFT_KIND_TOKEN_NOT_REVOKED Secret automation/ci-bot-kcred-1"));
  EXPECT_EQ(kube_.CheckToken(old_token), TokenState::kValid);

  // The revocation deletes the Secret; it is not then mistaken for an orphan.
  absl::StatusOr<v1::DoctorResponse> fixed = Check(/*fix=*/true);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  ASSERT_EQ(fixed->findings_size(), 1) << ::testing::PrintToString(Lines(*fixed));
  EXPECT_TRUE(fixed->findings(0).repaired()) << fixed->findings(0).repair_error();
  EXPECT_EQ(kube_.CheckToken(old_token), TokenState::kRevoked);
  EXPECT_EQ(broker_->GetAccount(Ref("automation", "ci-bot"))->status().pending_revocations_size(),
            0);
  ExpectClean();
}

// Only what the caller may check is reported, and a repair it may not make is left, with why.
TEST_F(DoctorTest, CallerRightsBoundWhatIsCheckedAndRepaired) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  ASSERT_TRUE(Provision(Ref("automation", "hidden"), RulesSpec()).ok());
  for (const char* name : {"ci-bot", "hidden"}) {
    ASSERT_TRUE(
        kube_.Delete(Resource::kRoleBinding, "automation", name, {}, absl::InfiniteFuture()).ok());
  }
  DoctorAccess access;
  access.may_check = [](const AccountKey& key) { return std::get<2>(key) == "ci-bot"; };
  access.may_repair = [](Repair repair, const AccountKey&) { return repair != Repair::kReconcile; };
  absl::StatusOr<v1::DoctorResponse> report = Check(/*fix=*/true, access);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_THAT(Lines(*report),
              ::testing::ElementsAre("DRIFT_KIND_OBJECT_MISSING RoleBinding automation/ci-bot"));
  EXPECT_FALSE(report->findings(0).repaired());
  EXPECT_THAT(report->findings(0).repair_error(),
              HasSubstr("needs the action provision on account dev/automation/ci-bot"));
  EXPECT_EQ(report->clusters(0).accounts_checked(), 1);
  EXPECT_FALSE(kube_.Peek(Resource::kRoleBinding, "automation", "ci-bot").has_value());
}

// A TokenReview kcredd may not make is CHECK_FAILED, naming the RBAC it needs.
TEST_F(DoctorTest, RefusedTokenReviewIsCheckFailed) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  kube_.FailNext(Verb::kReviewToken, std::nullopt, 1,
                 absl::PermissionDeniedError("tokenreviews is forbidden"));
  absl::StatusOr<v1::DoctorResponse> report = Check();
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_THAT(Lines(*report), ::testing::ElementsAre("DRIFT_KIND_CHECK_FAILED -"));
  EXPECT_THAT(report->findings(0).detail(), HasSubstr("tokenreviews.authentication.k8s.io"));
}

// A cluster that cannot be listed is reported as not checked; an unknown cluster is NOT_FOUND;
// after Shutdown the check is CANCELLED.
TEST_F(DoctorTest, UnreachableUnknownAndStopping) {
  ASSERT_TRUE(Provision(Ref("automation", "ci-bot"), RulesSpec()).ok());
  kube_.FailNext(Verb::kList, std::nullopt, 1, absl::UnavailableError("connection refused"));
  absl::StatusOr<v1::DoctorResponse> report = Check();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->clusters(0).error(), HasSubstr("connection refused"));
  EXPECT_EQ(report->clusters(0).accounts_checked(), 0);

  v1::DoctorRequest unknown;
  unknown.set_cluster("nowhere");
  EXPECT_EQ(broker_->Doctor(unknown).status().code(), absl::StatusCode::kNotFound);

  broker_->Shutdown();
  EXPECT_EQ(Check().status().code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace kcred::broker
