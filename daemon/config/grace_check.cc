#include "daemon/config/grace_check.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/account/account_ref.h"
#include "common/token_refresh.h"

namespace kcred::config {
namespace {

std::string Warning(absl::string_view what, absl::Duration grace, absl::Duration window) {
  const std::string why =
      window < grace ? absl::StrCat("the previous token expires ", FormatDurationArg(window),
                                    " after a rotation, before its grace of ",
                                    FormatDurationArg(grace), " ends")
                     : absl::StrCat("the previous token stays valid ", FormatDurationArg(window),
                                    " after a rotation (grace)");
  return absl::StrCat(
      what, ": ", why, ", less than the ", FormatDurationArg(kMinClientGrace),
      " that long-running clients need to move to the new token (`kcred watch` ",
      FormatDurationArg(kWatchRefreshTime), ", the `kcred token` exec plugin's ",
      FormatDurationArg(kExecRefreshMargin),
      " margin); such clients get 401 Unauthorized at rotations. Fine for clients that fetch a "
      "token per run; otherwise raise the grace to at least ",
      FormatDurationArg(kMinClientGrace), " and keep ttl x (1 - rotate_fraction) above it");
}

}  // namespace

absl::Duration PostRotationWindow(absl::Duration grace, absl::Duration ttl,
                                  double rotate_fraction) {
  return std::min(grace, ttl * (1.0 - rotate_fraction));
}

std::vector<std::string> ShortGraceWarnings(const Config& config) {
  std::vector<std::string> warnings;
  const TokenDefaults& d = config.token_defaults;
  const absl::Duration default_window = PostRotationWindow(d.grace, d.ttl, d.rotate_fraction);
  if (default_window < kMinClientGrace) {
    warnings.push_back(Warning("defaults.token", d.grace, default_window));
  }
  for (const DeclaredAccount& account : config.accounts.items) {
    const v1::TokenPolicy& token = account.spec.token();
    const bool own_timing = token.has_grace() || token.has_ttl() ||
                            token.rotate_at_case() != v1::TokenPolicy::ROTATE_AT_NOT_SET;
    if (!own_timing) continue;  // the defaults' warning covers it
    const absl::Duration grace = token.has_grace() ? FromProtoDuration(token.grace()) : d.grace;
    const absl::Duration ttl = token.has_ttl() ? FromProtoDuration(token.ttl()) : d.ttl;
    double fraction = d.rotate_fraction;
    if (token.rotate_at_case() == v1::TokenPolicy::kRotateFraction) {
      fraction = token.rotate_fraction();
    } else if (token.rotate_at_case() == v1::TokenPolicy::kRotateInterval) {
      fraction = FromProtoDuration(token.rotate_interval()) / ttl;
    }
    const absl::Duration window = PostRotationWindow(grace, ttl, fraction);
    if (window < kMinClientGrace) {
      warnings.push_back(
          Warning(absl::StrCat("account ", account.ref.cluster(), "/", account.ref.namespace_(),
                               "/", account.ref.name(), " (", account.where, ")"),
                  grace, window));
    }
  }
  return warnings;
}

}  // namespace kcred::config
