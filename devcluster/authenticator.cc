#include "devcluster/authenticator.h"

#include <openssl/crypto.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/logging.h"
#include "common/secret.h"
#include "devcluster/api_error.h"

namespace kcred::devcluster {
namespace {

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

Authenticator::Authenticator(const ApiServerConfig& config, const ServiceAccountTokens& tokens,
                             const ObjectReader& objects, const Clock& clock,
                             std::shared_ptr<spdlog::logger> logger)
    : config_(config),
      tokens_(tokens),
      objects_(objects),
      clock_(clock),
      logger_(std::move(logger)) {}

absl::StatusOr<UserInfo> Authenticator::AuthenticateRequest(const httplib::Request& request) const {
  const std::string header = request.get_header_value("Authorization");
  constexpr absl::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size() ||
      !absl::EqualsIgnoreCase(absl::string_view(header).substr(0, kBearer.size()), kBearer)) {
    return UnauthorizedError();
  }
  const absl::string_view token =
      absl::StripAsciiWhitespace(absl::string_view(header).substr(kBearer.size()));
  absl::StatusOr<UserInfo> user = AuthenticateToken(token, config_.api_audiences);
  if (!user.ok()) {
    logger_->debug("authentication failed for token {}: {}", kcred::Fingerprint(token),
                   user.status().message());
    return UnauthorizedError();
  }
  return user;
}

absl::StatusOr<UserInfo> Authenticator::AuthenticateToken(
    absl::string_view token, const std::vector<std::string>& audiences) const {
  if (ConstantTimeEquals(token, config_.admin_token.Reveal())) {
    UserInfo admin;
    admin.username = config_.admin_user;
    admin.groups = {"system:masters", "system:authenticated"};
    return admin;
  }
  return tokens_.Authenticate(std::string_view(token.data(), token.size()), clock_.Now(), objects_,
                              audiences);
}

}  // namespace kcred::devcluster
