#pragma once
// The words of kcredd's authorization policy, shared by kcredd (its configuration and its checks)
// and kcred (`kcred can-i`): the actions a caller may be granted, the subjects a rule names, and
// the account patterns (cluster/namespace/name globs) it applies to.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred {

// What a caller asks kcredd to do. Every CredentialBroker call maps to one action (the self-review
// calls GetServerInfo, WhoAmI and CheckAccess to kSelf, which every caller holds).
enum class Action {
  kProvision,      // ProvisionAccount
  kGet,            // GetAccount
  kList,           // ListAccounts (only the accounts the caller may list)
  kWatch,          // WatchAccounts (only the accounts the caller may watch)
  kGetKubeconfig,  // GetKubeconfig
  kGetToken,       // GetToken
  kRotate,         // RotateToken
  kDelete,         // DeleteAccount
  kListClusters,   // ListClusters (only the clusters some granted account glob names)
  kDoctor,         // Doctor (only the accounts, and orphans labelled for accounts, granted)
  kSelf,           // GetServerInfo, WhoAmI, CheckAccess: about the caller itself
};

// The actions a rule can grant, in the order `kcred whoami` and messages list them.
const std::vector<Action>& GrantableActions();

// "provision", "get-kubeconfig", ...; "self" for kSelf.
absl::string_view ActionName(Action action);

// One of the grantable action names; InvalidArgument naming them all otherwise.
absl::StatusOr<Action> ParseAction(absl::string_view name);

// Whether the action's answer carries a token (the audit record must be written before it leaves).
bool ReturnsSecret(Action action);

// "cluster/namespace/name", each part a glob (`*` matches any run of characters), e.g.
// "prod-eu/ci/*" or "*/*/*".
struct AccountPattern {
  std::string cluster;
  std::string ns;
  std::string name;

  bool Matches(absl::string_view cluster_name, absl::string_view namespace_name,
               absl::string_view account_name) const;
  bool Matches(const v1::AccountRef& ref) const;
  bool MatchesCluster(absl::string_view cluster_name) const;
  std::string ToString() const;
};

// Exactly three non-empty parts separated by "/"; InvalidArgument with an example otherwise.
absl::StatusOr<AccountPattern> ParseAccountPattern(absl::string_view text);

// A subject a rule may name: unix:uid:<n>, unix:gid:<n>, unix:user:<name>, unix:group:<name> (the
// peer of the unix socket, supplementary groups included), x509:cn:<cn>, x509:dns:<name>,
// x509:uri:<uri> (a verified client certificate), or anonymous (a TCP caller without one, where
// listen.tcp.allow_anonymous permits it). InvalidArgument saying which forms exist otherwise.
absl::Status ValidateSubject(absl::string_view subject);

}  // namespace kcred
