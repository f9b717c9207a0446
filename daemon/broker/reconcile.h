#pragma once
// The reconcile of one ProvisionAccount call: Plan reads the cluster and decides, object by object,
// what the spec needs (reads only); Apply carries the plan out; Rollback takes back what Apply
// created for a new account whose provisioning then failed. Internal to the broker (used by
// provisioning.cc); the objects themselves are built by kube_objects.h.
//
// Spec changes: rules, role_ref, scope, labels and annotations are reconciled (a binding whose
// roleRef must change is deleted and re-created, since roleRef is immutable); objects of the
// previous spec that the new one no longer needs are deleted; the ServiceAccount stays.
//
// Adopted objects (spec.adopt) become kcred's: they are labelled, kept in line with the spec, and
// deleted with the account. A role named by role_ref and a token_only ServiceAccount are never
// modified or deleted. A new account whose provisioning fails part-way is rolled back; an existing
// one keeps what was done (labelled, so DeleteAccount finds it).

#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "daemon/broker/account_records.h"
#include "daemon/kube/resource.h"
#include "nlohmann/json.hpp"
#include "proto/kcred/v1/broker.pb.h"
#include "proto/kcred/v1/internal/records.pb.h"

namespace kcred::broker {

struct ClusterHandle;  // broker.h

// What the plan does to one object.
struct Step {
  enum class Action { kKeep, kCreate, kUpdate, kAdopt, kRecreate, kDelete };
  Action action = Action::kKeep;
  kube::Resource resource = kube::Resource::kServiceAccount;
  std::string ns;
  std::string name;
  nlohmann::json object;  // the object to create or the updated object to write
  std::string uid;        // of the existing object (of the created one, once created)
  bool managed = true;    // recorded in the account's objects (false for token_only's SA)
  // For kUpdate and kRecreate: what differs from the spec, as the drift check reports it (the
  // fields of the body, e.g. "rules", "roleRef", "subjects", and "metadata" for labels or
  // annotations).
  std::vector<std::string> differs;
};

// How a ProvisionAccount response reports a step's action (UNSPECIFIED for kKeep).
v1::ChangeAction ChangeOf(Step::Action action);

class Reconcile {
 public:
  // What Apply did.
  struct Applied {
    std::vector<v1::ObjectChange> changes;             // every step done
    std::vector<internal::v1::ManagedObject> objects;  // what kcred manages now
    bool created_namespace = false;  // set when Apply creates it; the caller starts it as recorded
    std::vector<Step> created;       // what this call created, for Rollback
  };

  // Reconciles account `key` on `cluster` to `spec`; `previous` is its record (null for a new
  // account). Everything referenced must outlive the Reconcile.
  Reconcile(Clock& clock, const ClusterHandle& cluster, const AccountKey& key,
            const v1::AccountSpec& spec, const internal::v1::AccountRecord* previous);

  // Reads the cluster and plans every change; fails before any write when the request cannot be
  // carried out: the namespace is missing (NOT_FOUND unless create_namespace) or refused by the
  // admission policy, the role of role_ref or token_only's ServiceAccount is missing (NOT_FOUND),
  // an object of the same name is not the account's (ALREADY_EXISTS unless adopt).
  absl::Status Plan();

  const std::vector<Step>& steps() const { return steps_; }
  // Whether the plan writes anything.
  bool HasWrites() const;
  // The changes the plan would make, as a validate_only preview reports them.
  std::vector<v1::ObjectChange> Preview() const;
  // Whether the plan creates the ServiceAccount or found one other than `recorded_uid` (either
  // way, tokens of the recorded one are dead).
  bool ServiceAccountReplaced(const std::string& recorded_uid) const;
  // The uid of the account's ServiceAccount, once applied.
  std::string ServiceAccountUid() const;

  // Carries out the plan in order; stops at the first failure, with what was done in `applied`.
  absl::Status Apply(Applied& applied);

  // Deletes what `created` lists, newest first and the namespace excepted (kcred never deletes
  // one), tolerating objects already gone; other failures are logged.
  void Rollback(const std::vector<Step>& created) const;

 private:
  absl::Time Deadline() const;
  // Plans one object: create it, keep it, update it to `body`'s fields, adopt it, or (bindings
  // whose roleRef changed) re-create it. A foreign object stops the plan.
  absl::Status PlanObject(kube::Resource resource, const std::string& object_ns,
                          const std::string& object_name, const nlohmann::json& body);
  using ObjectKey = std::tuple<std::string, std::string, std::string>;  // kind, namespace, name
  absl::Status PlanNamespace();
  absl::Status PlanServiceAccount();
  // The role and binding of the spec's access and scope; adds what they need to `desired`.
  absl::Status PlanAccess(std::set<ObjectKey>& desired);
  // Deletes the objects of the previous spec that are not `desired`.
  absl::Status PlanRemovals(const std::set<ObjectKey>& desired);

  Clock& clock_;
  const ClusterHandle& cluster_;
  const AccountKey& key_;
  const v1::AccountSpec& spec_;
  const internal::v1::AccountRecord* previous_;
  std::vector<Step> steps_;
};

}  // namespace kcred::broker
