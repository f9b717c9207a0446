#pragma once
// The per-user cache of `kcred token`: one JSON file per kcredd address and account under
// $KCRED_CACHE_DIR (else $HOME/.kube/cache/kcred), directory 0700, file 0600, replaced atomically.
// It lets the exec-credential plugin answer kubectl without calling kcredd while the cached token
// has enough life left and kcredd has not yet planned to replace it.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kcred::client {

// One cached GetToken answer and who it was last handed to.
struct CachedToken {
  std::string token;  // a secret: never logged, never in an error message
  // absl::InfiniteFuture() when kcredd did not say (legacy tokens, no rotation planned).
  absl::Time expire_time = absl::InfiniteFuture();
  absl::Time next_rotation_time = absl::InfiniteFuture();
  // The account's grace period (how long the token stays valid after its rotation); nullopt when
  // kcredd did not say.
  std::optional<absl::Duration> grace;
  int64_t generation = 0;
  absl::Time fetched_time = absl::InfinitePast();  // when kcredd answered
  // The last time the cache (or kcredd) answered a request, and the parent process id of that
  // request (the kubectl or client-go program that ran the plugin); 0 when unknown.
  absl::Time served_time = absl::InfinitePast();
  int64_t served_to = 0;
};

// How long after answering process P a new request from P still means "P's server rejected the
// token": client-go keeps a credential in memory until its expirationTimestamp and runs the
// plugin again early only after a 401.
inline constexpr absl::Duration kRejectedRerunWindow = absl::Seconds(60);

// The default safety margin: 5 minutes, or 10% of the token's lifetime when that is less.
inline constexpr absl::Duration kDefaultMinRemaining = absl::Minutes(5);

// The cache directory: `kcred_cache_dir_env` when set and non-empty, else
// `<home_env>/.kube/cache/kcred`. Either argument may be null (unset). InvalidArgument when
// neither is usable.
absl::StatusOr<std::string> ResolveCacheDir(const char* kcred_cache_dir_env, const char* home_env);

// How much life a cached token must have left to be served: `min_remaining` when given, else
// min(kDefaultMinRemaining, 10% of expire_time - fetched_time).
absl::Duration SafetyMargin(const CachedToken& cached, std::optional<absl::Duration> min_remaining);

// Why the cached token must not answer a request from process `caller` at `now` ("" when it may):
// it expires within `margin`, kcredd's planned rotation time has passed, or the same process
// asked again within kRejectedRerunWindow of the last answer (its server rejected the token, e.g.
// after a rotation that revoked it at once).
std::string WhyNotUsable(const CachedToken& cached, absl::Time now, absl::Duration margin,
                         int64_t caller);

// Whether a request from process `caller` at `now` repeats one the cache answered within
// kRejectedRerunWindow (so the token it got was rejected).
bool IsRejectedRerun(const CachedToken& cached, absl::Time now, int64_t caller);

// The expirationTimestamp to report, after which client-go runs the plugin again. It is the
// earliest of: the token's expiry; kcredd's planned rotation time (so a long-running client moves
// to the new token while the old one is still in its grace period), or one minute from `now` when
// that time has passed (kcredd has not rotated yet); and the earliest moment a rotation may
// revoke the token, max(planned rotation, now) + grace. The expiry and the revocation bound are
// moved kExecRefreshMargin earlier, for requests already on their way. InfiniteFuture when
// nothing is known.
absl::Time ReportedExpiry(const CachedToken& cached, absl::Time now);

class TokenCache {
 public:
  explicit TokenCache(std::string dir) : dir_(std::move(dir)) {}

  // <dir>/<first 32 hex digits of SHA-256(server + "\n" + account)>.json
  std::string PathFor(absl::string_view server, absl::string_view account) const;

  // The cached answer for `server` and `account`. NotFound when there is none;
  // FailedPrecondition when the directory or file is not a plain directory/file owned by this
  // user and closed to everyone else, when the file is not valid cache JSON, or when it belongs to
  // another server or account. The caller ignores such a file, and Store replaces it.
  absl::StatusOr<CachedToken> Load(absl::string_view server, absl::string_view account) const;

  // Writes the answer (creating the directory with mode 0700, and fixing the mode of an existing
  // one owned by this user), atomically, with mode 0600. FailedPrecondition when the directory
  // belongs to someone else.
  absl::Status Store(absl::string_view server, absl::string_view account,
                     const CachedToken& cached) const;

  const std::string& dir() const { return dir_; }

 private:
  absl::Status CheckDir() const;

  std::string dir_;
};

}  // namespace kcred::client
