#include "daemon/broker/ownership.h"

#include "absl/strings/str_cat.h"

namespace kcred::broker {

absl::Status CheckOwnership(absl::string_view account, v1::Origin owner, v1::Origin requester,
                            Change change, absl::Duration grace) {
  if (requester == v1::ORIGIN_UNSPECIFIED) {
    if (change == Change::kRotate) return absl::OkStatus();
    return absl::InternalError(
        absl::StrCat("account ", account, ": kcredd's schedule only rotates accounts"));
  }
  if (owner == requester) return absl::OkStatus();
  if (owner == v1::ORIGIN_CONFIG) {
    // requester == ORIGIN_API
    switch (change) {
      case Change::kProvision:
        return absl::FailedPreconditionError(
            absl::StrCat("account ", account,
                         " is declared in kcredd's configuration (accounts:); change it there"));
      case Change::kDelete:
        return absl::FailedPreconditionError(absl::StrCat(
            "account ", account,
            " is declared in kcredd's configuration (accounts:); the API does not delete it: "
            "remove it from the configuration with accounts.prune: true and reload kcredd"));
      case Change::kRotate:
        if (grace > absl::ZeroDuration()) return absl::OkStatus();
        return absl::FailedPreconditionError(absl::StrCat(
            "account ", account,
            " is declared in kcredd's configuration (accounts:); the API may rotate it only with "
            "a grace period, so that the users of its current token are not cut off: pass a "
            "grace above zero"));
    }
  }
  // owner == ORIGIN_API, requester == ORIGIN_CONFIG
  switch (change) {
    case Change::kProvision:
      return absl::FailedPreconditionError(absl::StrCat(
          "account ", account,
          " was provisioned through the API; kcredd's configuration does not take it over: "
          "delete it through the API first, or remove it from the configuration"));
    case Change::kDelete:
      return absl::FailedPreconditionError(
          absl::StrCat("account ", account,
                       " was provisioned through the API; kcredd's configuration never deletes "
                       "API accounts: delete it through the API"));
    case Change::kRotate:
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

}  // namespace kcred::broker
