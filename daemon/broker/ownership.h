#pragma once
// Who may change an account, by where it is declared. An account belongs to the API (provisioned
// through ProvisionAccount) or to kcredd's configuration (declared under `accounts:`), and neither
// side takes over the other's: the API can neither change, delete nor rotate-with-zero-grace a
// declared account (a reload would put it back, and zero grace would cut its users off), and the
// configuration never changes or prunes an API account. kcredd's own rotation schedule may rotate
// any account. This is the one place the rule lives; Provision, RotateToken and DeleteAccount ask
// it.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred::broker {

enum class Change { kProvision, kRotate, kDelete };

// Whether `requester` may make `change` to `account`, which belongs to `owner`. `requester` is
// ORIGIN_API (a caller of kcredd's API), ORIGIN_CONFIG (kcredd's configuration) or
// ORIGIN_UNSPECIFIED (kcredd's rotation schedule, which only rotates). `grace` is how long the
// previous token stays valid after a kRotate. FAILED_PRECONDITION saying where to make the change
// otherwise.
absl::Status CheckOwnership(absl::string_view account, v1::Origin owner, v1::Origin requester,
                            Change change, absl::Duration grace = absl::InfiniteDuration());

}  // namespace kcred::broker
