#pragma once
// How fast kcred's own long-running clients move to a rotated token. These numbers bound the
// shortest grace period that keeps them from being cut off: `kcred token` (the exec plugin) uses
// the margin, and kcredd warns about graces below kMinClientGrace.

#include "absl/time/time.h"

namespace kcred {

// `kcred token` tells client-go to ask again this long before the earliest moment a rotation may
// revoke its token, so that requests already sent with it still reach the API server in time.
inline constexpr absl::Duration kExecRefreshMargin = absl::Seconds(2);

// How long `kcred watch` may take to rewrite its file after a rotation (the event, a GetKubeconfig
// call, an fsync'd write), and a program that re-reads the file on change to pick it up.
inline constexpr absl::Duration kWatchRefreshTime = absl::Seconds(3);

// The shortest grace (time a rotated-out token stays valid) with room for both kinds of client:
// kExecRefreshMargin + kWatchRefreshTime (absl::Duration sums are not constexpr).
inline constexpr absl::Duration kMinClientGrace = absl::Seconds(5);

}  // namespace kcred
