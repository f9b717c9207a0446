#include "client/token_cache.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/token_refresh.h"

namespace kcred::client {
namespace {

constexpr int kFormatVersion = 1;
constexpr char kTimeFormat[] = "%Y-%m-%dT%H:%M:%E*SZ";

std::string FormatCacheTime(absl::Time t) {
  return absl::FormatTime(kTimeFormat, t, absl::UTCTimeZone());
}

// A time field of the file: absent means `absent`; a malformed one is an error.
bool ReadTime(const nlohmann::json& doc, const char* key, absl::Time absent, absl::Time* out) {
  if (!doc.contains(key)) {
    *out = absent;
    return true;
  }
  if (!doc[key].is_string()) return false;
  std::string error;
  return absl::ParseTime(kTimeFormat, doc[key].get<std::string>(), absl::UTCTimeZone(), out,
                         &error);
}

// Owner and mode checks shared by the directory and the file: `what` names it in the message.
absl::Status CheckOwnerAndMode(const struct stat& st, const std::string& path,
                               absl::string_view what) {
  if (st.st_uid != geteuid()) {
    return absl::FailedPreconditionError(absl::StrCat(what, " ", path, " is owned by uid ",
                                                      st.st_uid, ", not by this user (uid ",
                                                      geteuid(), ")"));
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 0777));
    return absl::FailedPreconditionError(
        absl::StrCat(what, " ", path, " has mode ", mode,
                     "; only its owner may have access (0700 for the directory, 0600 for files)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ResolveCacheDir(const char* kcred_cache_dir_env, const char* home_env) {
  if (kcred_cache_dir_env != nullptr && *kcred_cache_dir_env != '\0') return kcred_cache_dir_env;
  if (home_env != nullptr && *home_env != '\0') {
    return (std::filesystem::path(home_env) / ".kube" / "cache" / "kcred").string();
  }
  return absl::InvalidArgumentError(
      "no cache directory: neither $KCRED_CACHE_DIR nor $HOME is set (set one, or pass "
      "--no-cache)");
}

absl::Duration SafetyMargin(const CachedToken& cached,
                            std::optional<absl::Duration> min_remaining) {
  if (min_remaining.has_value()) return *min_remaining;
  if (cached.expire_time == absl::InfiniteFuture() || cached.fetched_time == absl::InfinitePast()) {
    return kDefaultMinRemaining;
  }
  const absl::Duration lifetime = cached.expire_time - cached.fetched_time;
  return std::max(absl::ZeroDuration(), std::min(kDefaultMinRemaining, lifetime / 10));
}

std::string WhyNotUsable(const CachedToken& cached, absl::Time now, absl::Duration margin,
                         int64_t caller) {
  if (cached.token.empty()) return "the cached entry holds no token";
  if (cached.expire_time != absl::InfiniteFuture() && now >= cached.expire_time - margin) {
    return absl::StrCat("the cached token expires within ", absl::FormatDuration(margin));
  }
  if (now >= cached.next_rotation_time) return "kcredd's planned rotation time has passed";
  if (now >= ReportedExpiry(cached, now)) {
    return "a rotation may revoke the cached token before a request with it would be done";
  }
  if (IsRejectedRerun(cached, now, caller)) {
    return "the same program asked again right after the last answer (its token was rejected)";
  }
  return "";
}

bool IsRejectedRerun(const CachedToken& cached, absl::Time now, int64_t caller) {
  return caller != 0 && caller == cached.served_to && now >= cached.served_time &&
         now - cached.served_time < kRejectedRerunWindow;
}

absl::Time ReportedExpiry(const CachedToken& cached, absl::Time now) {
  absl::Time rotation = cached.next_rotation_time;
  if (rotation != absl::InfiniteFuture() && rotation <= now) rotation = now + absl::Minutes(1);
  absl::Time reported = rotation;
  if (cached.expire_time != absl::InfiniteFuture()) {
    reported = std::min(reported, cached.expire_time - kExecRefreshMargin);
  }
  if (cached.grace.has_value() && cached.next_rotation_time != absl::InfiniteFuture()) {
    const absl::Time earliest_revoke = std::max(cached.next_rotation_time, now) + *cached.grace;
    reported = std::min(reported, earliest_revoke - kExecRefreshMargin);
  }
  return reported;
}

std::string TokenCache::PathFor(absl::string_view server, absl::string_view account) const {
  const std::string key = absl::StrCat(server, "\n", account);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
  const std::string hex =
      absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), 16));
  return (std::filesystem::path(dir_) / (hex + ".json")).string();
}

absl::Status TokenCache::CheckDir() const {
  struct stat st {};
  if (lstat(dir_.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no cache directory ", dir_));
    return absl::FailedPreconditionError(
        absl::StrCat("cannot inspect the cache directory ", dir_, ": ", std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the cache directory ", dir_, " is not a directory (nor may it be a symlink)"));
  }
  return CheckOwnerAndMode(st, dir_, "the cache directory");
}

absl::StatusOr<CachedToken> TokenCache::Load(absl::string_view server,
                                             absl::string_view account) const {
  if (absl::Status s = CheckDir(); !s.ok()) return s;
  const std::string path = PathFor(server, account);
  const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no cache file ", path));
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open the cache file ", path, ": ", std::strerror(errno)));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("the cache file ", path, " is not a regular file"));
  }
  if (absl::Status s = CheckOwnerAndMode(st, path, "the cache file"); !s.ok()) {
    close(fd);
    return s;
  }
  std::string data;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) data.append(buf, static_cast<std::size_t>(n));
  const int read_errno = errno;
  close(fd);
  if (n < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read the cache file ", path, ": ", std::strerror(read_errno)));
  }

  // The parse error is not quoted: it could show part of the token.
  const auto corrupt = [&path](absl::string_view what) {
    return absl::FailedPreconditionError(
        absl::StrCat("the cache file ", path, " is not usable (", what, ")"));
  };
  const nlohmann::json doc = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return corrupt("not a JSON object");
  if (!doc.contains("version") || doc["version"] != kFormatVersion) {
    return corrupt(absl::StrCat("not version ", kFormatVersion, " of the format"));
  }
  if (!doc.contains("server") || doc["server"] != std::string(server) || !doc.contains("account") ||
      doc["account"] != std::string(account)) {
    return corrupt("written for another server or account");
  }
  CachedToken cached;
  if (!doc.contains("token") || !doc["token"].is_string()) return corrupt("no token");
  cached.token = doc["token"].get<std::string>();
  if (cached.token.empty()) return corrupt("an empty token");
  if (!ReadTime(doc, "expireTime", absl::InfiniteFuture(), &cached.expire_time) ||
      !ReadTime(doc, "nextRotationTime", absl::InfiniteFuture(), &cached.next_rotation_time) ||
      !ReadTime(doc, "fetchedTime", absl::InfinitePast(), &cached.fetched_time) ||
      !ReadTime(doc, "servedTime", absl::InfinitePast(), &cached.served_time)) {
    return corrupt("a malformed time");
  }
  if (doc.contains("generation")) {
    if (!doc["generation"].is_number_integer()) return corrupt("a malformed generation");
    cached.generation = doc["generation"].get<int64_t>();
  }
  if (doc.contains("graceSeconds")) {
    if (!doc["graceSeconds"].is_number() || doc["graceSeconds"].get<double>() < 0) {
      return corrupt("a malformed graceSeconds");
    }
    cached.grace = absl::Seconds(doc["graceSeconds"].get<double>());
  }
  if (doc.contains("servedTo")) {
    if (!doc["servedTo"].is_number_integer()) return corrupt("a malformed servedTo");
    cached.served_to = doc["servedTo"].get<int64_t>();
  }
  return cached;
}

absl::Status TokenCache::Store(absl::string_view server, absl::string_view account,
                               const CachedToken& cached) const {
  // Each missing directory on the way is made 0700 (kubectl's cache directories hold tokens too).
  std::filesystem::path partial;
  for (const auto& part : std::filesystem::path(dir_)) {
    partial /= part;
    if (mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot create the cache directory ", partial.string(), ": ", std::strerror(errno)));
    }
  }
  if (absl::Status s = CheckDir(); !s.ok()) {
    struct stat st {};
    // A directory of ours that is merely too open is closed; anything else is refused.
    if (lstat(dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        chmod(dir_.c_str(), 0700) != 0) {
      return s;
    }
  }
  nlohmann::json doc = {{"version", kFormatVersion},
                        {"server", std::string(server)},
                        {"account", std::string(account)},
                        {"token", cached.token},
                        {"generation", cached.generation}};
  if (cached.expire_time != absl::InfiniteFuture())
    doc["expireTime"] = FormatCacheTime(cached.expire_time);
  if (cached.next_rotation_time != absl::InfiniteFuture()) {
    doc["nextRotationTime"] = FormatCacheTime(cached.next_rotation_time);
  }
  if (cached.fetched_time != absl::InfinitePast())
    doc["fetchedTime"] = FormatCacheTime(cached.fetched_time);
  if (cached.served_time != absl::InfinitePast())
    doc["servedTime"] = FormatCacheTime(cached.served_time);
  if (cached.served_to != 0) doc["servedTo"] = cached.served_to;
  if (cached.grace.has_value()) doc["graceSeconds"] = absl::ToDoubleSeconds(*cached.grace);
  absl::Status s = WriteFileAtomic(PathFor(server, account), doc.dump() + "\n", 0600);
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat("cannot write the token cache: ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace kcred::client
