#include "devcluster/token_request.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/secret.h"
#include "devcluster/api_error.h"
#include "devcluster/json_fields.h"

namespace kcred::devcluster {
namespace {

constexpr int64_t kDefaultTokenSeconds = 3600;
constexpr int64_t kMaxTokenSeconds = int64_t{1} << 32;

// A duration as kube-apiserver's validation messages write it: "10 minutes", "1 second".
std::string DurationText(int64_t seconds) {
  if (seconds % 60 == 0 && seconds >= 60) {
    return seconds == 60 ? "1 minute" : absl::StrCat(seconds / 60, " minutes");
  }
  return seconds == 1 ? "1 second" : absl::StrCat(seconds, " seconds");
}

}  // namespace

TokenRequestHandler::TokenRequestHandler(const ApiServerConfig& config, ObjectStore& store,
                                         const ServiceAccountTokens& tokens, const Clock& clock,
                                         std::shared_ptr<spdlog::logger> logger)
    : config_(config), store_(store), tokens_(tokens), clock_(clock), logger_(std::move(logger)) {}

absl::Status TokenRequestHandler::Serve(ApiRequest& request) {
  const std::string& ns = request.route.attrs.namespace_name;
  const std::string& sa_name = request.route.attrs.name;
  const ResourceInfo& sa_info = *FindResource("", "serviceaccounts");
  absl::StatusOr<nlohmann::json> body = ReadBody(request.http);
  if (!body.ok()) return body.status();
  absl::StatusOr<nlohmann::json> sa = store_.Get(sa_info, ns, sa_name);
  if (!sa.ok()) return sa.status();
  const nlohmann::json& spec = Field(*body, "spec");

  int64_t seconds = kDefaultTokenSeconds;
  const nlohmann::json& requested = Field(spec, "expirationSeconds");
  if (requested.is_number_integer()) seconds = requested.get<int64_t>();
  const int64_t min_seconds = absl::ToInt64Seconds(config_.min_token_expiration);
  if (seconds < min_seconds) {
    return InvalidError(
        TokenRequestInfo(), sa_name,
        {{"spec.expirationSeconds", std::to_string(seconds),
          absl::StrCat("may not specify a duration less than ", DurationText(min_seconds))}});
  }
  if (seconds > kMaxTokenSeconds) {
    return InvalidError(TokenRequestInfo(), sa_name,
                        {{"spec.expirationSeconds", std::to_string(seconds),
                          "may not specify a duration larger than 2^32 seconds"}});
  }
  const int64_t max_seconds = absl::ToInt64Seconds(config_.max_token_expiration);
  if (max_seconds > 0 && seconds > max_seconds) {
    request.response.set_header("Warning",
                                absl::StrCat("299 - \"requested expiration of ", seconds,
                                             " seconds shortened to ", max_seconds, " seconds\""));
    seconds = max_seconds;
  }

  std::vector<std::string> audiences = Strings(Field(spec, "audiences"));
  if (audiences.empty()) audiences = config_.api_audiences;

  BoundTokenRequest bound;
  bound.namespace_name = ns;
  bound.service_account_name = sa_name;
  bound.service_account_uid = Str(*sa, {"metadata", "uid"});
  bound.audiences = audiences;
  bound.issued_at = absl::FromUnixSeconds(absl::ToUnixSeconds(clock_.Now()));
  bound.expires_at = bound.issued_at + absl::Seconds(seconds);

  nlohmann::json bound_ref = nullptr;
  const nlohmann::json& ref = Field(spec, "boundObjectRef");
  if (ref.is_object() && !Str(ref, {"kind"}).empty()) {
    const std::string kind = Str(ref, {"kind"});
    const std::string ref_name = Str(ref, {"name"});
    const std::string ref_uid = Str(ref, {"uid"});
    if (kind != "Secret") {
      return BadRequestError(absl::StrCat("cannot bind token for serviceaccount \"", sa_name,
                                          "\" to object of type ", kind,
                                          "; kcred-devcluster binds tokens to Secrets only"));
    }
    absl::StatusOr<nlohmann::json> secret = store_.Get(*FindResource("", "secrets"), ns, ref_name);
    if (!secret.ok()) return secret.status();
    const std::string secret_uid = Str(*secret, {"metadata", "uid"});
    if (!ref_uid.empty() && ref_uid != secret_uid) {
      return KubeError(409, "Conflict",
                       absl::StrCat("Operation cannot be fulfilled on Secret \"", ref_name,
                                    "\": the UID in the bound object reference (", ref_uid,
                                    ") does not match the UID in record. The object might have "
                                    "been deleted and then recreated"),
                       {{"name", ref_name}, {"kind", "Secret"}});
    }
    bound.bound_secret = SecretRef{ref_name, secret_uid};
    bound_ref = {{"kind", "Secret"}, {"apiVersion", "v1"}, {"name", ref_name}, {"uid", secret_uid}};
  }

  const std::string token = tokens_.IssueBound(bound);
  request.status = 201;
  request.body = {
      {"kind", "TokenRequest"},
      {"apiVersion", "authentication.k8s.io/v1"},
      {"metadata",
       {{"name", sa_name},
        {"namespace", ns},
        {"creationTimestamp", FormatTimestamp(bound.issued_at)}}},
      {"spec",
       {{"audiences", audiences}, {"expirationSeconds", seconds}, {"boundObjectRef", bound_ref}}},
      {"status", {{"token", token}, {"expirationTimestamp", FormatTimestamp(bound.expires_at)}}}};
  logger_->info("issued token {} for {}/{} valid {}s", kcred::Fingerprint(token), ns, sa_name,
                seconds);
  return absl::OkStatus();
}

}  // namespace kcred::devcluster
