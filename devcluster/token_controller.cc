#include "devcluster/token_controller.h"

#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "common/logging.h"
#include "devcluster/json_fields.h"

namespace kcred::devcluster {

TokenController::TokenController(const ApiServerConfig& config, ObjectStore& store,
                                 const ServiceAccountTokens& tokens,
                                 std::shared_ptr<spdlog::logger> logger)
    : config_(config), store_(store), tokens_(tokens), logger_(std::move(logger)) {}

bool TokenController::IsTokenSecret(const nlohmann::json& secret) {
  return Str(secret, {"type"}) == kServiceAccountTokenType;
}

absl::StatusOr<nlohmann::json> TokenController::FillSecret(const nlohmann::json& secret) {
  const std::string ns = Str(secret, {"metadata", "namespace"});
  const std::string name = Str(secret, {"metadata", "name"});
  const std::string sa_name =
      Str(secret, {"metadata", "annotations", kServiceAccountNameAnnotation});
  std::optional<nlohmann::json> sa = store_.Get("serviceaccounts", ns, sa_name);
  if (!sa.has_value()) {
    logger_->warn(
        "secret {}/{} names ServiceAccount {} which does not exist; its token stays empty", ns,
        name, sa_name);
    return secret;
  }
  const std::string sa_uid = Str(*sa, {"metadata", "uid"});
  nlohmann::json filled = secret;
  filled["metadata"]["annotations"][kServiceAccountUidAnnotation] = sa_uid;
  filled["data"]["token"] = absl::Base64Escape(tokens_.IssueLegacy(ns, sa_name, sa_uid, name));
  filled["data"]["ca.crt"] = absl::Base64Escape(config_.ca_pem);
  filled["data"]["namespace"] = absl::Base64Escape(ns);
  absl::StatusOr<nlohmann::json> updated =
      store_.Update(*FindResource("", "secrets"), ns, std::move(filled), false);
  if (updated.ok()) logger_->info("token controller filled secret {}/{} for {}", ns, name, sa_name);
  return updated;
}

void TokenController::ServiceAccountDeleted(const std::string& ns, const std::string& name) {
  const ResourceInfo& secrets = *FindResource("", "secrets");
  for (const nlohmann::json& secret : store_.List("secrets", ns)) {
    if (!IsTokenSecret(secret) ||
        Str(secret, {"metadata", "annotations", kServiceAccountNameAnnotation}) != name) {
      continue;
    }
    const std::string secret_name = Str(secret, {"metadata", "name"});
    if (store_.Delete(secrets, ns, secret_name).ok()) {
      logger_->info("token controller deleted secret {}/{} of deleted ServiceAccount {}", ns,
                    secret_name, name);
    }
  }
}

}  // namespace kcred::devcluster
