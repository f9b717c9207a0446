#pragma once
// An account's store record (proto/kcred/v1/internal/records.proto) and what is derived from it.
// Internal to the broker.
//
// Store: one record per account under accounts/<cluster>/<ns>/<name>: spec, status, the objects
// kcred manages, and every live token generation with its token sealed under the associated data
// "accounts/<cluster>/<ns>/<name>#generation=<g>". Writes are compare-and-swap on the record's
// revision (Broker::Commit, in account_records.cc); a lost race reloads the stored version and asks
// for a retry. A rotation commits the new generation (current) before the previous one's Secret is
// deleted; superseded generations stay in the record, with their revoke time, until RevokeDue has
// deleted their Secrets, so revocations survive a restart.
//
// Origin: an account records where it is declared, ORIGIN_API (ProvisionAccount) or ORIGIN_CONFIG
// (the accounts: section of kcredd's configuration). Who may change which is decided in
// ownership.h; records stored without an origin are API accounts (NormalizeOrigin).

#include <cstdint>
#include <string>
#include <tuple>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "daemon/broker/validation.h"
#include "daemon/store/store.h"
#include "google/protobuf/timestamp.pb.h"
#include "proto/kcred/v1/broker.pb.h"
#include "proto/kcred/v1/internal/records.pb.h"

namespace kcred::broker {

// An account's identity: cluster, namespace, name.
using AccountKey = std::tuple<std::string, std::string, std::string>;

inline constexpr char kAccountKeyPrefix[] = "accounts/";

AccountKey KeyOf(const v1::AccountRef& ref);

// "<cluster>/<ns>/<name>", how messages and logs name an account.
std::string RefString(const AccountKey& key);
std::string RefString(const v1::AccountRef& ref);

// The store key of the account's record: "accounts/<cluster>/<ns>/<name>".
std::string StoreKey(const AccountKey& key);

// The associated data a generation's token is sealed under: "<store key>#generation=<g>".
std::string SealingContext(absl::string_view store_key, int64_t generation);

// The account record stored as `item`; DATA_LOSS when it does not parse or is filed under
// another account's key. The origin is normalized.
absl::StatusOr<internal::v1::AccountRecord> ParseRecord(const store::KeyValue& item);

// The generation in service (the one without a revoke time), or null when there is none.
const internal::v1::GenerationRecord* CurrentGeneration(const internal::v1::AccountRecord& record);

// Records written before accounts had an origin were all provisioned through the API.
void NormalizeOrigin(internal::v1::AccountRecord& record);

// INVALID_ARGUMENT unless `origin` is ORIGIN_API or ORIGIN_CONFIG (who declares an account).
absl::Status ValidateOrigin(v1::Origin origin);

// Recomputes the derived parts of record.account after a change: the status (current generation,
// times, managed objects, pending revocations, the Ready and Degraded conditions, keeping a
// condition's transition time while its status holds) and a new etag.
void RefreshStatus(internal::v1::AccountRecord& record, const TokenPolicy& policy, absl::Time now);

// Turns a Ready=True condition false, for what the record does not say yet.
void ObserveNotReady(v1::AccountStatus& status, absl::string_view reason, absl::string_view message,
                     const google::protobuf::Timestamp& since);

// The account as of `now`: Ready turns false once the current token has expired, even before
// anything is written about it.
v1::Account ObservedAccount(v1::Account account, absl::Time now);

}  // namespace kcred::broker
