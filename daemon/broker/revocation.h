#pragma once
// Revocation of superseded token generations and the orphan sweep, as Broker::RevokeDue and
// Broker::SweepOrphans carry them out (revocation.cc), and the record-level rules they follow.
// Internal to the broker.
//
// After a rotation the previous generation stays valid for the grace period; its revoke time is
// recorded, so a restart does not forget it, and RevokeDue deletes its Secret once that time has
// passed (token_issue.h revokes one generation). A crash between creating a generation's Secret and
// committing it leaves a labelled Secret no recorded generation owns: SweepOrphans deletes it once
// it is older than the grace period (younger ones may belong to an operation under way).

#include <optional>

#include "absl/time/time.h"
#include "daemon/broker/account_records.h"
#include "daemon/kube/resource.h"
#include "nlohmann/json.hpp"
#include "proto/kcred/v1/internal/records.pb.h"

namespace kcred::broker {

// How many accounts RevokeDue revokes at once.
inline constexpr int kRevokeParallelism = 8;

// Whether a generation of `record` is due for revocation at `now`.
bool RevocationDue(const internal::v1::AccountRecord& record, absl::Time now);

// The earliest revoke time pending in `record`, or nullopt when none is.
std::optional<absl::Time> NextRevocation(const internal::v1::AccountRecord& record);

// The earlier of two optional times (nullopt counts as never).
std::optional<absl::Time> Earlier(std::optional<absl::Time> a, std::optional<absl::Time> b);

// Whether `secret`, one of the account's token Secrets as listed by its labels, is an orphan to
// delete at `now`: no generation of `record` owns it, and it was created more than `grace` ago.
// A Secret without a readable creation time is left alone.
bool IsOrphanSecret(const nlohmann::json& secret, const internal::v1::AccountRecord& record,
                    absl::Duration grace, absl::Time now);

// The one ownership rule for kcred-labelled objects, shared by the orphan sweep and the drift
// check (doctor.h): whether `object` (of `resource`) is labelled for account `key` and no recorded
// part of the account owns it at `now`. `record` is the account's record, or null when the
// account does not exist (then every object labelled for it is an orphan). With a record: a token
// Secret is an orphan as IsOrphanSecret says; another kind when the record's objects do not list
// it and it was created more than `grace` ago (younger ones may belong to an operation under way).
bool IsOrphanObject(kube::Resource resource, const nlohmann::json& object, const AccountKey& key,
                    const internal::v1::AccountRecord* record, absl::Duration grace,
                    absl::Time now);

}  // namespace kcred::broker
