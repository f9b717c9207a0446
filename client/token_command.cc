// kcred token: the kubectl exec-credential plugin (client.authentication.k8s.io/v1).
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/arguments.h"
#include "client/cli.h"
#include "client/token_cache.h"
#include "proto/kcred/v1/broker.grpc.pb.h"

namespace kcred::client {
namespace {

constexpr absl::string_view kCmd = "token";
constexpr char kApiV1[] = "client.authentication.k8s.io/v1";
constexpr char kApiV1beta1[] = "client.authentication.k8s.io/v1beta1";

int Usage(CommandContext& ctx, absl::string_view message) {
  ctx.err << "kcred " << kCmd << ": " << message << "\n";
  return kExitUsage;
}

int Failed(CommandContext& ctx, absl::string_view message) {
  ctx.err << "kcred " << kCmd << ": " << message << "\n";
  return kExitFailed;
}

void Warn(CommandContext& ctx, absl::string_view message) {
  ctx.err << "kcred " << kCmd << ": warning: " << message << "\n";
}

// The apiVersion to answer with: the one kubectl announces in KUBERNETES_EXEC_INFO when it is
// v1beta1 (same ExecCredential shape), else v1. Everything else in the variable is ignored.
std::string ApiVersion(const char* exec_info) {
  if (exec_info == nullptr) return kApiV1;
  const nlohmann::json info = nlohmann::json::parse(exec_info, nullptr, false);
  if (info.is_object() && info.contains("apiVersion") && info["apiVersion"] == kApiV1beta1) {
    return kApiV1beta1;
  }
  return kApiV1;
}

void PrintCredential(CommandContext& ctx, const std::string& api_version,
                     const CachedToken& cached) {
  nlohmann::json status = {{"token", cached.token}};
  const absl::Time expiry = ReportedExpiry(cached, ctx.clock.Now());
  if (expiry != absl::InfiniteFuture()) {
    status["expirationTimestamp"] =
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", expiry, absl::UTCTimeZone());
  }
  const nlohmann::json credential = {
      {"apiVersion", api_version}, {"kind", "ExecCredential"}, {"status", status}};
  ctx.out << credential.dump() << "\n";
  ctx.out.flush();
}

int Token(const ParsedArgs& args, CommandContext& ctx) {
  if (args.positionals.size() != 1) {
    return Usage(ctx, absl::StrCat("takes one account as CLUSTER/NAMESPACE/NAME, got ",
                                   args.positionals.size(), " arguments (",
                                   absl::StrJoin(args.positionals, " "),
                                   "), e.g. kcred token dev/automation/ci-bot"));
  }
  auto ref = ParseAccountRef(args.positionals[0]);
  if (!ref.ok()) return Usage(ctx, ref.status().message());
  std::optional<absl::Duration> min_remaining;
  if (args.Has("min-remaining")) {
    auto d = ParseDurationArg(args.Get("min-remaining"), "--min-remaining");
    if (!d.ok()) return Usage(ctx, d.status().message());
    min_remaining = *d;
  }
  const std::string api_version = ApiVersion(std::getenv("KUBERNETES_EXEC_INFO"));
  const std::string server = ResolveServer(ctx.connection);
  const std::string account = FormatAccountRef(*ref);
  const int64_t caller = static_cast<int64_t>(getppid());
  const absl::Time now = ctx.clock.Now();

  std::optional<TokenCache> cache;
  if (!args.Has("no-cache")) {
    auto dir = ResolveCacheDir(std::getenv("KCRED_CACHE_DIR"), std::getenv("HOME"));
    if (dir.ok()) {
      cache.emplace(*dir);
    } else {
      Warn(ctx, absl::StrCat("not caching: ", dir.status().message()));
    }
  }
  // A cached token that is past the margin but still valid, for when kcredd cannot be reached.
  std::optional<CachedToken> fallback;
  if (cache.has_value()) {
    auto cached = cache->Load(server, account);
    if (cached.ok()) {
      if (now < cached->expire_time && !IsRejectedRerun(*cached, now, caller)) fallback = *cached;
      if (WhyNotUsable(*cached, now, SafetyMargin(*cached, min_remaining), caller).empty()) {
        cached->served_time = now;
        cached->served_to = caller;
        if (absl::Status s = cache->Store(server, account, *cached); !s.ok()) {
          Warn(ctx, s.message());
        }
        PrintCredential(ctx, api_version, *cached);
        return kExitOk;
      }
    } else if (!absl::IsNotFound(cached.status())) {
      Warn(ctx, absl::StrCat("ignoring the cache: ", cached.status().message(),
                             "; it is replaced after this call"));
    }
  }

  auto channel = Connect(ctx.connection);
  if (!channel.ok()) return Usage(ctx, channel.status().message());
  auto stub = v1::CredentialBroker::NewStub(*channel);
  grpc::ClientContext rpc;
  SetDeadline(rpc, ctx.connection);
  v1::GetTokenRequest request;
  *request.mutable_ref() = *ref;
  v1::GetTokenResponse response;
  const grpc::Status status = stub->GetToken(&rpc, request, &response);
  if (!status.ok()) {
    // Only an unreachable kcredd falls back; a deleted account or a denied caller must not.
    const bool unreachable = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                             status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    if (unreachable && fallback.has_value()) {
      const std::string until =
          fallback->expire_time == absl::InfiniteFuture()
              ? "which does not expire"
              : absl::StrCat("valid until ",
                             absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", fallback->expire_time,
                                              absl::UTCTimeZone()));
      Warn(ctx, absl::StrCat(DescribeRpcError(status, ctx.connection),
                             "; answering with the cached token, ", until));
      PrintCredential(ctx, api_version, *fallback);
      return kExitOk;
    }
    return Failed(ctx, DescribeRpcError(status, ctx.connection));
  }
  if (response.token().empty()) {
    return Failed(ctx, absl::StrCat("kcredd answered GetToken for ", account,
                                    " without a token; check `kcred get ", account, "`"));
  }

  CachedToken fresh;
  fresh.token = response.token();
  if (response.has_expire_time()) fresh.expire_time = FromProtoTimestamp(response.expire_time());
  if (response.has_next_rotation_time()) {
    fresh.next_rotation_time = FromProtoTimestamp(response.next_rotation_time());
  }
  if (response.has_grace()) fresh.grace = FromProtoDuration(response.grace());
  fresh.generation = response.generation();
  fresh.fetched_time = now;
  fresh.served_time = now;
  fresh.served_to = caller;
  if (cache.has_value()) {
    if (absl::Status s = cache->Store(server, account, fresh); !s.ok()) Warn(ctx, s.message());
  }
  PrintCredential(ctx, api_version, fresh);
  return kExitOk;
}

}  // namespace

void AddTokenCommand(std::vector<Command>& commands) {
  commands.push_back(Command{
      "token",
      "print an account's token as a kubectl exec credential (the --exec plugin)",
      "kcred token CLUSTER/NAMESPACE/NAME [--min-remaining DURATION] [--no-cache]",
      "Prints a client.authentication.k8s.io/v1 ExecCredential with the account's current\n"
      "token and its expirationTimestamp (RFC 3339) on stdout, and nothing else; messages go to\n"
      "stderr. Exit codes: 0 ok, 1 failed, 2 usage error. kubectl runs it for kubeconfigs made by\n"
      "`kcred kubeconfig --exec`; KUBERNETES_EXEC_INFO is accepted (only its apiVersion is\n"
      "used: v1beta1 is answered in kind).\n"
      "\n"
      "expirationTimestamp is when kubectl (client-go) runs the plugin again: kcredd's planned\n"
      "rotation time, so a long-running client moves to the new token while the old one is still\n"
      "in its grace period, but never later than 2s before the token expires or before a rotation\n"
      "may revoke it (the planned rotation, or now when it is overdue, plus the account's grace).\n"
      "A client that gets a 401 (a manual rotation with a shorter or zero grace) runs the plugin\n"
      "again at once.\n"
      "\n"
      "Cache: answers are kept in $KCRED_CACHE_DIR, else $HOME/.kube/cache/kcred, one file per\n"
      "kcredd address and account (directory 0700, files 0600, replaced atomically). The cache\n"
      "answers without calling kcredd while the token has more than a safety margin left\n"
      "(--min-remaining; default 5m or 10% of the token's lifetime, whichever is smaller) and\n"
      "kcredd's planned rotation time has not come. A program that runs the plugin again within\n"
      "60s of its last answer (same parent process) had its token rejected, so it is answered\n"
      "by kcredd, not the cache. A cache file or directory that is not owned by you or is open\n"
      "to others is ignored (with a warning) and replaced. When kcredd cannot be reached, a\n"
      "cached token that has not expired yet is still used (with a warning). --no-cache neither\n"
      "reads nor writes the cache.\n"
      "\n"
      "Example:\n"
      "  kcred kubeconfig dev/automation/ci-bot --exec -o ci-bot.kubeconfig\n"
      "  kubectl --kubeconfig ci-bot.kubeconfig auth whoami",
      {{"min-remaining", 0, true, "DURATION",
        "serve from the cache only while the token has more left (default min(5m, 10%))"},
       {"no-cache", 0, false, "", "always ask kcredd; do not read or write the cache"}},
      Token});
}

}  // namespace kcred::client
