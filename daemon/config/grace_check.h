#pragma once
// The check of graces against the clients that use the tokens. After a rotation the previous token
// stays valid for the grace period, but never past its own expiry; a long-running client (one
// that follows `kcred watch`'s file, or kubectl/client-go with the `kcred token` exec plugin)
// needs kMinClientGrace (common/token_refresh.h) to move to the new token. A shorter window cuts
// such clients off (401) at every rotation.
//
// kcredd warns (at start and at each reload) rather than refusing: a grace of zero or a few
// seconds is right for accounts whose clients fetch a token for each run (scripts, CI jobs,
// tests), and kcredd cannot know which kind of client an account has.

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "daemon/config/config.h"

namespace kcred::config {

// How long the previous token stays valid after a rotation at the latest planned time: the grace,
// but no longer than what is left of its lifetime, ttl x (1 - rotate_fraction), or ttl - interval.
absl::Duration PostRotationWindow(absl::Duration grace, absl::Duration ttl, double rotate_fraction);

// One line per setting whose window is shorter than kMinClientGrace: defaults.token (its grace,
// ttl and rotate_fraction), and each declared account that sets its own grace, ttl or rotation
// time. Each names the setting, the window, the minimum and what to change. Empty when none.
std::vector<std::string> ShortGraceWarnings(const Config& config);

}  // namespace kcred::config
