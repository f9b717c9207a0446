// The gate every CredentialBroker call passes, end to end inside one process over kcredd's unix
// socket: no method reaches the broker without the authorization check, every call leaves exactly
// one audit record, answers hold only what the caller may see, limits refuse with
// RESOURCE_EXHAUSTED, and no credential leaves when its audit record cannot be written.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/daemon/server/service_fixture.h"

namespace kcred::server {
namespace {

using testing::GrantSelf;
using ::testing::HasSubstr;
using testing::Ref;
using testing::ServiceFixture;
using testing::ServiceOptions;

using json = nlohmann::json;

// The methods every caller may use about itself.
bool IsSelfReview(const std::string& method) {
  return method == "GetServerInfo" || method == "WhoAmI" || method == "CheckAccess";
}

json LastRecord(const ServiceFixture& f) {
  std::vector<std::string> lines = f.AuditLines();
  return lines.empty() ? json() : json::parse(lines.back());
}

// Every method of the service, present and future, is refused to a caller no rule names (the
// self-review calls excepted), and each call, refused or not, has its one audit record.
TEST(BrokerServiceTest, EveryMethodPassesTheGate) {
  ServiceOptions options;
  options.rules = {{{"unix:uid:4294967294"}, {"*"}, {"*/*/*"}, "someone else"}};
  ServiceFixture f(options);
  f.Provision(Ref("ci-bot"));
  grpc::GenericStub generic(f.channel_);
  const google::protobuf::ServiceDescriptor* service =
      v1::CredentialBroker::service_full_name() != nullptr
          ? google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
                v1::CredentialBroker::service_full_name())
          : nullptr;
  ASSERT_NE(service, nullptr);
  ASSERT_GE(service->method_count(), 12);
  for (int i = 0; i < service->method_count(); ++i) {
    const google::protobuf::MethodDescriptor* method = service->method(i);
    const size_t records_before = f.AuditLines().size();
    // An empty request: a well-formed message of every type.
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::CompletionQueue cq;
    auto call = generic.PrepareCall(
        &context, absl::StrCat("/", service->full_name(), "/", method->name()), &cq);
    call->StartCall(reinterpret_cast<void*>(1));
    void* tag = nullptr;
    bool ok = false;
    ASSERT_TRUE(cq.Next(&tag, &ok));
    grpc::ByteBuffer empty;
    grpc::Slice slice("");
    empty = grpc::ByteBuffer(&slice, 1);
    call->Write(empty, reinterpret_cast<void*>(2));
    ASSERT_TRUE(cq.Next(&tag, &ok));
    call->WritesDone(reinterpret_cast<void*>(3));
    ASSERT_TRUE(cq.Next(&tag, &ok));
    grpc::ByteBuffer reply;
    call->Read(&reply, reinterpret_cast<void*>(4));
    ASSERT_TRUE(cq.Next(&tag, &ok));
    grpc::Status status;
    call->Finish(&status, reinterpret_cast<void*>(5));
    ASSERT_TRUE(cq.Next(&tag, &ok));
    const std::string name = method->name();
    if (IsSelfReview(name)) {
      EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << name;
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
          << name << ": " << status.error_message();
      EXPECT_THAT(status.error_message(), HasSubstr("no rule of kcredd's authorization policy"));
    }
    ASSERT_EQ(f.AuditLines().size(), records_before + 1) << name;
    json record = LastRecord(f);
    EXPECT_EQ(record["method"], name);
    EXPECT_EQ(record["decision"], IsSelfReview(name) ? "allow" : "deny") << name;
    EXPECT_EQ(record["transport"], "unix");
    EXPECT_EQ(record["caller"]["uid"], getuid());
    EXPECT_FALSE(record["request_id"].get<std::string>().empty());
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
  }
}

// A denial names the caller, the action and the account; the record names the deciding rule.
TEST(BrokerServiceTest, DenialSaysWhoAskedForWhat) {
  ServiceOptions options;
  options.rules = {GrantSelf({"get", "get-token"}, {"dev/automation/ci-*"}, "rule A")};
  ServiceFixture f(options);
  f.Provision(Ref("ci-bot"));
  f.Provision(Ref("web"));
  grpc::ClientContext context;
  v1::GetTokenRequest request;
  *request.mutable_ref() = Ref("web");
  v1::GetTokenResponse response;
  grpc::Status denied = f.stub_->GetToken(&context, request, &response);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(denied.error_message(), HasSubstr(absl::StrCat("unix:uid:", getuid())));
  EXPECT_THAT(denied.error_message(),
              HasSubstr("asked to get-token on account dev/automation/web"));
  EXPECT_TRUE(response.token().empty());
  json record = LastRecord(f);
  EXPECT_EQ(record["decision"], "deny");
  EXPECT_EQ(record["code"], "PERMISSION_DENIED");
  EXPECT_EQ(record["account"], "dev/automation/web");
  EXPECT_FALSE(record.contains("token_fingerprint"));

  grpc::ClientContext allowed_context;
  *request.mutable_ref() = Ref("ci-bot");
  ASSERT_TRUE(f.stub_->GetToken(&allowed_context, request, &response).ok());
  record = LastRecord(f);
  EXPECT_EQ(record["decision"], "allow");
  EXPECT_EQ(record["rule"], "rule A");
  EXPECT_EQ(record["token_fingerprint"], response.token_fingerprint());
  EXPECT_EQ(record["generation"], 1);
  EXPECT_EQ(LastRecord(f).dump().find(response.token()), std::string::npos);
  // The request id reaches the caller too, to find its record.
  auto id = allowed_context.GetServerTrailingMetadata().find("kcred-request-id");
  ASSERT_NE(id, allowed_context.GetServerTrailingMetadata().end());
  EXPECT_EQ(std::string(id->second.data(), id->second.size()), record["request_id"]);
}

// ListAccounts and WatchAccounts show only the accounts the caller may list / watch; a selector
// outside every grant is refused; ListClusters only the clusters of the caller's globs.
TEST(BrokerServiceTest, AnswersHoldOnlyWhatTheCallerMaySee) {
  ServiceOptions options;
  options.rules = {GrantSelf({"list", "watch"}, {"dev/automation/*"})};
  ServiceFixture f(options);
  f.Provision(Ref("ci-bot"));
  f.Provision(Ref("hidden", "other"));
  {
    grpc::ClientContext context;
    v1::ListAccountsResponse response;
    ASSERT_TRUE(f.stub_->ListAccounts(&context, v1::ListAccountsRequest(), &response).ok());
    ASSERT_EQ(response.accounts_size(), 1);
    EXPECT_EQ(response.accounts(0).ref().name(), "ci-bot");
  }
  {
    grpc::ClientContext context;
    v1::ListAccountsRequest request;
    request.mutable_selector()->set_namespace_("other");
    v1::ListAccountsResponse response;
    grpc::Status status = f.stub_->ListAccounts(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(status.error_message(), HasSubstr("list on accounts */other/*"));
  }
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::WatchAccountsRequest request;
    request.set_send_initial_state(true);
    auto reader = f.stub_->WatchAccounts(&context, request);
    v1::AccountEvent event;
    ASSERT_TRUE(reader->Read(&event));
    EXPECT_EQ(event.account().ref().name(), "ci-bot");
    // A rotation of the hidden account is not delivered; one of the visible one is.
    v1::RotateTokenRequest rotate;
    *rotate.mutable_ref() = Ref("hidden", "other");
    ASSERT_TRUE(f.broker_->RotateToken(rotate).ok());
    *rotate.mutable_ref() = Ref("ci-bot");
    ASSERT_TRUE(f.broker_->RotateToken(rotate).ok());
    ASSERT_TRUE(reader->Read(&event));
    EXPECT_EQ(event.account().ref().name(), "ci-bot");
    context.TryCancel();
  }
  {
    grpc::ClientContext context;
    v1::ListClustersResponse response;
    grpc::Status status = f.stub_->ListClusters(&context, v1::ListClustersRequest(), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
}

// Doctor is refused without the doctor action (and audited); with it, only the accounts it
// grants are checked, and a repair needs the action it implies: a denied one is left and the
// audit record lists the repairs made.
TEST(BrokerServiceTest, DoctorNeedsTheDoctorActionAndRepairRights) {
  ServiceOptions options;
  options.rules = {GrantSelf({"get"}, {"*/*/*"}, "rule A"),
                   GrantSelf({"doctor", "rotate"}, {"dev/automation/*"}, "rule B")};
  ServiceFixture f(options);
  f.Provision(Ref("ci-bot"));
  f.Provision(Ref("hidden", "other"));
  {
    grpc::ClientContext context;
    v1::DoctorRequest request;
    request.set_namespace_("other");
    v1::DoctorResponse response;
    grpc::Status status = f.stub_->Doctor(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(status.error_message(), HasSubstr("asked to doctor on accounts */other/*"));
    json record = LastRecord(f);
    EXPECT_EQ(record["method"], "Doctor");
    EXPECT_EQ(record["action"], "doctor");
    EXPECT_EQ(record["decision"], "deny");
  }
  // Behind kcred's back: both accounts lose their binding, ci-bot its token's anchor.
  for (const auto& [ns, name] :
       {std::pair<std::string, std::string>{"automation", "ci-bot"}, {"other", "hidden"}}) {
    ASSERT_TRUE(
        f.world_.kube.Delete(kube::Resource::kRoleBinding, ns, name, {}, absl::InfiniteFuture())
            .ok());
  }
  ASSERT_TRUE(f.world_.kube
                  .Delete(kube::Resource::kSecret, "automation", "ci-bot-kcred-1", {},
                          absl::InfiniteFuture())
                  .ok());
  grpc::ClientContext context;
  v1::DoctorRequest request;
  request.set_fix(true);
  v1::DoctorResponse response;
  grpc::Status status = f.stub_->Doctor(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.findings_size(), 2);
  for (const v1::DoctorFinding& finding : response.findings()) {
    EXPECT_EQ(finding.account().name(), "ci-bot");
  }
  // The binding needs provision, which rule B does not grant; the token needs rotate, which it
  // does.
  EXPECT_EQ(response.findings(0).kind(), v1::DRIFT_KIND_OBJECT_MISSING);
  EXPECT_FALSE(response.findings(0).repaired());
  EXPECT_THAT(response.findings(0).repair_error(), HasSubstr("needs the action provision"));
  EXPECT_EQ(response.findings(1).kind(), v1::DRIFT_KIND_TOKEN_NOT_ACCEPTED);
  EXPECT_TRUE(response.findings(1).repaired()) << response.findings(1).repair_error();
  json record = LastRecord(f);
  EXPECT_EQ(record["decision"], "allow");
  EXPECT_EQ(record["rule"], "rule B");
  EXPECT_EQ(record["fix"], true);
  EXPECT_EQ(record["unrepaired"], 1);
  ASSERT_EQ(record["repaired"].size(), 1u);
  EXPECT_THAT(record["repaired"][0].get<std::string>(),
              HasSubstr("DRIFT_KIND_TOKEN_NOT_ACCEPTED dev/automation/ci-bot Secret"));
}

// WhoAmI shows the caller's subjects and the rules naming it; CheckAccess answers per account.
TEST(BrokerServiceTest, WhoAmIAndCheckAccess) {
  ServiceOptions options;
  options.rules = {GrantSelf({"get-token"}, {"dev/automation/*"}, "rule A"),
                   {{"unix:uid:4294967294"}, {"*"}, {"*/*/*"}, "rule B"}};
  ServiceFixture f(options);
  grpc::ClientContext context;
  v1::WhoAmIResponse who;
  ASSERT_TRUE(f.stub_->WhoAmI(&context, v1::WhoAmIRequest(), &who).ok());
  EXPECT_EQ(who.identity().transport(), "unix");
  EXPECT_THAT(who.identity().subjects(), ::testing::Contains(absl::StrCat("unix:uid:", getuid())));
  ASSERT_EQ(who.rules_size(), 1);
  EXPECT_EQ(who.rules(0).source(), "rule A");

  auto check = [&](const std::string& action, const v1::AccountRef& ref) {
    grpc::ClientContext c;
    v1::CheckAccessRequest request;
    request.set_action(action);
    *request.mutable_account() = ref;
    v1::CheckAccessResponse response;
    grpc::Status status = f.stub_->CheckAccess(&c, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  };
  v1::CheckAccessResponse yes = check("get-token", Ref("any"));
  EXPECT_TRUE(yes.allowed());
  EXPECT_EQ(yes.reason(), "allowed by rule A");
  EXPECT_FALSE(check("get-token", Ref("any", "other")).allowed());
  EXPECT_FALSE(check("rotate", Ref("any")).allowed());
  grpc::ClientContext bad_context;
  v1::CheckAccessRequest bad;
  bad.set_action("read");
  v1::CheckAccessResponse ignored;
  EXPECT_EQ(f.stub_->CheckAccess(&bad_context, bad, &ignored).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// With the audit log required, a credential whose record cannot be written is not handed out;
// other calls still work and the failure is counted.
TEST(BrokerServiceTest, RequiredAuditWithholdsUnauditedSecrets) {
  for (bool required : {true, false}) {
    ServiceOptions options;
    options.audit_path = "/dev/full";
    options.audit_required = required;
    ServiceFixture f(options);
    f.Provision(Ref("ci-bot"));
    grpc::ClientContext context;
    v1::GetTokenRequest request;
    *request.mutable_ref() = Ref("ci-bot");
    v1::GetTokenResponse response;
    grpc::Status status = f.stub_->GetToken(&context, request, &response);
    if (required) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
      EXPECT_THAT(status.error_message(), HasSubstr("audit.required"));
      EXPECT_TRUE(response.token().empty());
    } else {
      EXPECT_TRUE(status.ok()) << status.error_message();
    }
    grpc::ClientContext get_context;
    v1::GetAccountRequest get;
    *get.mutable_ref() = Ref("ci-bot");
    v1::Account account;
    EXPECT_TRUE(f.stub_->GetAccount(&get_context, get, &account).ok());
    EXPECT_EQ(f.audit_->records_failed(), 2u);
  }
}

// Over a limit a call is RESOURCE_EXHAUSTED naming it: watch streams per caller, secret reads.
TEST(BrokerServiceTest, LimitsRefuseWithResourceExhausted) {
  ServiceOptions options;
  options.limits.watches_per_caller = 2;
  options.limits.secret_reads_per_second = 0.001;
  options.limits.secret_reads_burst = 2;
  ServiceFixture f(options);
  f.Provision(Ref("ci-bot"));
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::AccountEvent>>> streams;
  for (int i = 0; i < 2; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    v1::WatchAccountsRequest request;
    request.set_send_initial_state(true);
    streams.push_back(f.stub_->WatchAccounts(contexts.back().get(), request));
    v1::AccountEvent event;
    ASSERT_TRUE(streams.back()->Read(&event));  // accepted
  }
  grpc::ClientContext third;
  auto refused = f.stub_->WatchAccounts(&third, v1::WatchAccountsRequest());
  v1::AccountEvent event;
  EXPECT_FALSE(refused->Read(&event));
  grpc::Status status = refused->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("limits.watches_per_caller"));
  for (auto& context : contexts) context->TryCancel();

  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    v1::GetTokenRequest request;
    *request.mutable_ref() = Ref("ci-bot");
    v1::GetTokenResponse response;
    grpc::Status read = f.stub_->GetToken(&context, request, &response);
    if (i < 2) {
      EXPECT_TRUE(read.ok()) << read.error_message();
    } else {
      EXPECT_EQ(read.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      EXPECT_THAT(read.error_message(), HasSubstr("limits.secret_reads_per_second"));
    }
  }
  EXPECT_EQ(LastRecord(f)["rule"], "limits.secret_reads_per_second");
}

// A name carrying a newline is refused, and its record is still one line that parses.
TEST(BrokerServiceTest, ControlCharactersCannotForgeARecord) {
  ServiceFixture f;
  grpc::ClientContext context;
  v1::GetAccountRequest request;
  *request.mutable_ref() = Ref("x\n{\"decision\":\"allow\"}");
  v1::Account account;
  grpc::Status status = f.stub_->GetAccount(&context, request, &account);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  std::vector<std::string> lines = f.AuditLines();
  ASSERT_EQ(lines.size(), 1u);
  json record = json::parse(lines[0]);
  EXPECT_EQ(record["account"], "dev/automation/x\n{\"decision\":\"allow\"}");
  EXPECT_EQ(record["code"], "INVALID_ARGUMENT");
}

}  // namespace
}  // namespace kcred::server
