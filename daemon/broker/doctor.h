#pragma once
// The drift check (Broker::Doctor, in doctor.cc): compares what kcredd recorded with what each
// cluster holds, and with fix repairs what the broker's own operations can repair. Internal to the
// broker except for DoctorAccess, through which the caller's rights come in.
//
// Per account (reads only, no account lock held):
//   objects   Reconcile::Plan of the recorded spec (reconcile.h): a step that would create an
//             object is OBJECT_MISSING, one that would update, re-create or adopt it is
//             OBJECT_CHANGED (Role rules, binding subjects or roleRef, kcred's labels and the
//             spec's labels and annotations). A plan that cannot be made (namespace or role_ref's
//             role gone, an object no longer kcred's) is reported with the reason.
//   token     the current generation's token is opened from the record and sent to a TokenReview
//             with the account's audiences; not authenticated, or expired: TOKEN_NOT_ACCEPTED.
//   revoked   a previous generation past its revoke time whose Secret (anchor or legacy token
//             Secret) still exists with the recorded uid, and that has not expired:
//             TOKEN_NOT_REVOKED.
// Per cluster: the kcred-labelled objects (ServiceAccounts, Secrets, Roles, RoleBindings,
// ClusterRoles, ClusterRoleBindings with managed-by=kcred and the cluster's label), one List per
// kind, judged by the ownership rule the orphan sweep uses (IsOrphanObject, revocation.h):
// ORPHAN_OBJECT. Objects labelled for an account an operation is creating right now are skipped.
//
// Repairs (fix), each through the operation that owns the concern and under its account lock:
// OBJECT_* by Provision of the recorded spec with the account's own origin (ownership.h and
// admission still apply, so a tightened policy is reported, not bypassed); TOKEN_NOT_ACCEPTED by a
// rotation with zero grace (the token is dead anyway), unless the reconcile already replaced it;
// TOKEN_NOT_REVOKED by the account's due revocations (RevokeDueLocked); ORPHAN_OBJECT by deleting
// it (uid precondition) after checking again, under the lock of the account its labels name, that
// it is still an orphan. A repair the caller may not make is left, with the reason.
//
// Calls go through each cluster's client (its rate limiter and retries); Shutdown ends the check
// with CANCELLED before the next account.

#include <functional>

#include "daemon/broker/account_records.h"

namespace kcred::broker {

// What a repair needs, in the words of kcredd's authorization policy: kReconcile is provision,
// kRotate is rotate (also for revoking a previous token), kDelete is delete.
enum class Repair { kReconcile, kRotate, kDelete };

// The caller's rights for one Doctor call. An empty function allows everything (kcredd's own use).
struct DoctorAccess {
  // Whether the caller may see the findings of account `key` (for an orphan: the account its
  // labels name).
  std::function<bool(const AccountKey&)> may_check;
  // Whether the caller may make `repair` on account `key`.
  std::function<bool(Repair, const AccountKey&)> may_repair;
};

// "provision", "rotate" or "delete".
const char* RepairAction(Repair repair);

}  // namespace kcred::broker
