#pragma once
// An ApiServer driven in-process for the handler tests: requests are cpp-httplib objects, no
// sockets; time is a SimulatedClock (tests/support/simulated_clock.h) that stands still until a
// test advances it. Each test file derives its own suite from ApiServerFixture.

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "devcluster/api_server.h"
#include "devcluster/auth/tokens.h"
#include "tests/support/simulated_clock.h"

namespace kcred::devcluster::testing {

inline constexpr char kAdminToken[] = "admin-token-for-tests";

class ApiServerFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (key_pem_ != nullptr) return;
    absl::StatusOr<std::string> pem = TokenSigner::GenerateKeyPem();
    ASSERT_TRUE(pem.ok());
    key_pem_ = new std::string(*pem);
  }

  void SetUp() override {
    absl::StatusOr<TokenSigner> signer = TokenSigner::FromPem(*key_pem_);
    ASSERT_TRUE(signer.ok());
    signer_.emplace(*std::move(signer));
    tokens_ = std::make_unique<ServiceAccountTokens>(*signer_, "https://issuer.test");
    Restart(absl::Seconds(600), absl::ZeroDuration());
  }

  // A new ApiServer over the same objects, with these token lifetime limits.
  void Restart(absl::Duration min_expiration, absl::Duration max_expiration) {
    ApiServerConfig config;
    config.admin_token = kcred::SecretString(kAdminToken);
    config.ca_pem = "-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n";
    config.min_token_expiration = min_expiration;
    config.max_token_expiration = max_expiration;
    config.server_address = "127.0.0.1:6443";
    api_ = std::make_unique<ApiServer>(config, store_, *tokens_, faults_, clock_,
                                       kcred::Logger("devcluster-test"));
    ASSERT_TRUE(api_->Bootstrap().ok());
  }

  // One request: `path` may carry a query (not URL-decoded); `token` empty sends none.
  httplib::Response Call(const std::string& method, const std::string& path,
                         const std::string& body = "", const std::string& token = kAdminToken,
                         const std::string& content_type = "application/json") {
    httplib::Request req;
    req.method = method;
    size_t q = path.find('?');
    req.path = path.substr(0, q);
    if (q != std::string::npos) {
      for (absl::string_view kv : absl::StrSplit(path.substr(q + 1), '&')) {
        size_t eq = kv.find('=');
        req.params.emplace(std::string(kv.substr(0, eq)),
                           eq == absl::string_view::npos ? "" : std::string(kv.substr(eq + 1)));
      }
    }
    if (!token.empty()) req.headers.emplace("Authorization", "Bearer " + token);
    req.headers.emplace("Content-Type", content_type);
    req.body = body;
    httplib::Response res;
    api_->Handle(req, res);
    return res;
  }

  static nlohmann::json Json(const httplib::Response& res) {
    return nlohmann::json::parse(res.body, nullptr, false);
  }

  // Creates namespace `ns` and ServiceAccount `name` in it.
  void CreateAccount(const std::string& ns, const std::string& name) {
    Call("POST", "/api/v1/namespaces", nlohmann::json{{"metadata", {{"name", ns}}}}.dump());
    ASSERT_EQ(Call("POST", "/api/v1/namespaces/" + ns + "/serviceaccounts",
                   nlohmann::json{{"metadata", {{"name", name}}}}.dump())
                  .status,
              201);
  }

  std::string IssueToken(const std::string& ns, const std::string& name, int64_t seconds = 3600) {
    httplib::Response res =
        Call("POST", "/api/v1/namespaces/" + ns + "/serviceaccounts/" + name + "/token",
             nlohmann::json{{"spec", {{"expirationSeconds", seconds}}}}.dump());
    EXPECT_EQ(res.status, 201) << res.body;
    nlohmann::json answer = Json(res);
    return answer["status"]["token"].is_string() ? answer["status"]["token"].get<std::string>()
                                                 : "";
  }

  inline static std::string* key_pem_ = nullptr;
  // kInstant: injected latency sleeps on the server's handler threads, which nobody else wakes.
  kcred::testing::SimulatedClock clock_{kcred::testing::SimulatedClock::SleepMode::kInstant};
  ObjectStore store_{clock_};
  FaultInjector faults_;
  std::optional<TokenSigner> signer_;
  std::unique_ptr<ServiceAccountTokens> tokens_;
  std::unique_ptr<ApiServer> api_;
};

}  // namespace kcred::devcluster::testing
