#include "daemon/broker/reconcile.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status.h"
#include "daemon/broker/admission.h"
#include "daemon/broker/broker.h"
#include "daemon/broker/kube_objects.h"
#include "daemon/broker/object_names.h"
#include "daemon/broker/validation.h"

namespace kcred::broker {

using internal::v1::AccountRecord;
using internal::v1::ManagedObject;
using kube::Resource;
using nlohmann::json;

v1::ChangeAction ChangeOf(Step::Action action) {
  switch (action) {
    case Step::Action::kCreate:
      return v1::CHANGE_ACTION_CREATED;
    case Step::Action::kUpdate:
    case Step::Action::kRecreate:
      return v1::CHANGE_ACTION_UPDATED;
    case Step::Action::kAdopt:
      return v1::CHANGE_ACTION_ADOPTED;
    case Step::Action::kDelete:
      return v1::CHANGE_ACTION_DELETED;
    case Step::Action::kKeep:
      break;
  }
  return v1::CHANGE_ACTION_UNSPECIFIED;
}

Reconcile::Reconcile(Clock& clock, const ClusterHandle& cluster, const AccountKey& key,
                     const v1::AccountSpec& spec, const AccountRecord* previous)
    : clock_(clock), cluster_(cluster), key_(key), spec_(spec), previous_(previous) {}

absl::Time Reconcile::Deadline() const { return clock_.Now() + kKubeCallTimeout; }

// ----- plan ----------------------------------------------------------------------------------

absl::Status Reconcile::Plan() {
  KCRED_RETURN_IF_ERROR(PlanNamespace());
  KCRED_RETURN_IF_ERROR(PlanServiceAccount());
  std::set<ObjectKey> desired;
  desired.insert({KindOf(Resource::kServiceAccount), std::get<1>(key_), std::get<2>(key_)});
  KCRED_RETURN_IF_ERROR(PlanAccess(desired));
  return PlanRemovals(desired);
}

absl::Status Reconcile::PlanObject(Resource resource, const std::string& object_ns,
                                   const std::string& object_name, const json& body) {
  const std::string what = ObjectString(resource, object_ns, object_name);
  const auto& [cluster_name, ns, name] = key_;
  absl::StatusOr<json> existing =
      cluster_.client->Get(resource, object_ns, object_name, Deadline());
  Step step;
  step.resource = resource;
  step.ns = object_ns;
  step.name = object_name;
  if (!existing.ok()) {
    if (!absl::IsNotFound(existing.status())) {
      return Wrap(existing.status(), absl::StrCat("reading ", what));
    }
    json object = body;
    object["metadata"]["name"] = object_name;
    if (!object_ns.empty()) object["metadata"]["namespace"] = object_ns;
    ApplyMetadata(object, key_, spec_,
                  previous_ == nullptr ? nullptr : &previous_->account().spec());
    step.action = Step::Action::kCreate;
    step.object = std::move(object);
    steps_.push_back(std::move(step));
    return absl::OkStatus();
  }
  const bool owned = OwnedByAccount(*existing, cluster_name, ns, name);
  if (!owned && !spec_.adopt()) {
    return absl::AlreadyExistsError(absl::StrCat(
        what, " already exists and is not managed by kcred for account ", RefString(key_),
        " (it lacks the label ", kManagedByLabel, "=", kManagedByValue, " with this account's ",
        kAccountLabel,
        "); kcred leaves it alone: delete or rename it, or set adopt to take it over"));
  }
  step.uid = MetaString(*existing, "uid");
  json updated = *existing;
  ApplyMetadata(updated, key_, spec_,
                previous_ == nullptr ? nullptr : &previous_->account().spec());
  for (const auto& [field, value] : body.items()) {
    if (existing->value(field, json()) != value) step.differs.push_back(field);
    updated[field] = value;
  }
  if (updated["metadata"] != existing->value("metadata", json()))
    step.differs.push_back("metadata");
  if (resource == Resource::kRoleBinding || resource == Resource::kClusterRoleBinding) {
    if (existing->value("roleRef", json()) != body["roleRef"]) {
      step.action = Step::Action::kRecreate;
      json object = body;
      object["metadata"]["name"] = object_name;
      if (!object_ns.empty()) object["metadata"]["namespace"] = object_ns;
      object["metadata"]["labels"] = updated["metadata"]["labels"];
      if (updated["metadata"].contains("annotations")) {
        object["metadata"]["annotations"] = updated["metadata"]["annotations"];
      }
      step.object = std::move(object);
      steps_.push_back(std::move(step));
      return absl::OkStatus();
    }
  }
  if (!owned) {
    step.action = Step::Action::kAdopt;
  } else if (updated != *existing) {
    step.action = Step::Action::kUpdate;
  }
  step.object = std::move(updated);
  steps_.push_back(std::move(step));
  return absl::OkStatus();
}

absl::Status Reconcile::PlanNamespace() {
  const auto& [cluster_name, ns, name] = key_;
  absl::StatusOr<json> found = cluster_.client->Get(Resource::kNamespace, "", ns, Deadline());
  if (found.ok()) {
    std::map<std::string, std::string> labels;
    const json& present = found->value("metadata", json::object()).value("labels", json::object());
    for (const auto& [k, v] : present.items()) {
      if (v.is_string()) labels[k] = v.get<std::string>();
    }
    return AdmitNamespace(cluster_.config, ns, &labels);
  }
  if (!absl::IsNotFound(found.status())) {
    return Wrap(found.status(), absl::StrCat("reading Namespace ", ns));
  }
  KCRED_RETURN_IF_ERROR(AdmitNamespace(cluster_.config, ns, nullptr));
  if (!spec_.create_namespace()) {
    return absl::NotFoundError(
        absl::StrCat("namespace \"", ns, "\" does not exist on cluster \"", cluster_name,
                     "\"; create it, or set create_namespace to let kcred create it"));
  }
  Step step;
  step.action = Step::Action::kCreate;
  step.resource = Resource::kNamespace;
  step.name = ns;
  step.managed = false;  // it outlives the account (kube_objects.h)
  step.object = NamespaceObject(key_, spec_);
  steps_.push_back(std::move(step));
  return absl::OkStatus();
}

absl::Status Reconcile::PlanServiceAccount() {
  const auto& [cluster_name, ns, name] = key_;
  if (!spec_.access().has_token_only()) {
    return PlanObject(Resource::kServiceAccount, ns, name, ServiceAccountBody());
  }
  absl::StatusOr<json> sa = cluster_.client->Get(Resource::kServiceAccount, ns, name, Deadline());
  if (!sa.ok()) {
    if (absl::IsNotFound(sa.status())) {
      return absl::NotFoundError(absl::StrCat(
          "ServiceAccount ", ns, "/", name,
          " does not exist; token_only issues tokens for an existing ServiceAccount: create "
          "it, or use rules or role_ref to let kcred create it"));
    }
    return Wrap(sa.status(), absl::StrCat("reading ServiceAccount ", ns, "/", name));
  }
  Step step;
  step.resource = Resource::kServiceAccount;
  step.ns = ns;
  step.name = name;
  step.uid = MetaString(*sa, "uid");
  step.managed = false;
  steps_.push_back(std::move(step));
  return absl::OkStatus();
}

absl::Status Reconcile::PlanAccess(std::set<ObjectKey>& desired) {
  const auto& [cluster_name, ns, name] = key_;
  auto want = [&](Resource resource, const std::string& object_ns, const std::string& object_name) {
    desired.insert({KindOf(resource), object_ns, object_name});
  };
  const v1::Scope scope = EffectiveScope(spec_);
  const std::string cluster_object = ClusterObjectName(ns, name);
  if (spec_.access().has_rules()) {
    const json body = RoleBody(spec_.access().rules());
    if (scope == v1::SCOPE_CLUSTER) {
      KCRED_RETURN_IF_ERROR(PlanObject(Resource::kClusterRole, "", cluster_object, body));
      KCRED_RETURN_IF_ERROR(PlanObject(Resource::kClusterRoleBinding, "", cluster_object,
                                       BindingBody(Resource::kClusterRole, cluster_object, key_)));
      want(Resource::kClusterRole, "", cluster_object);
      want(Resource::kClusterRoleBinding, "", cluster_object);
    } else {
      KCRED_RETURN_IF_ERROR(PlanObject(Resource::kRole, ns, name, body));
      KCRED_RETURN_IF_ERROR(
          PlanObject(Resource::kRoleBinding, ns, name, BindingBody(Resource::kRole, name, key_)));
      want(Resource::kRole, ns, name);
      want(Resource::kRoleBinding, ns, name);
    }
  } else if (spec_.access().has_role_ref()) {
    const v1::RoleRef& role = spec_.access().role_ref();
    const Resource role_kind =
        role.kind() == v1::ROLE_KIND_ROLE ? Resource::kRole : Resource::kClusterRole;
    const std::string role_ns = role_kind == Resource::kRole ? ns : "";
    absl::StatusOr<json> found = cluster_.client->Get(role_kind, role_ns, role.name(), Deadline());
    if (!found.ok()) {
      if (absl::IsNotFound(found.status())) {
        return absl::NotFoundError(
            absl::StrCat(ObjectString(role_kind, role_ns, role.name()),
                         " does not exist; create it, or fix spec.access.role_ref"));
      }
      return Wrap(found.status(),
                  absl::StrCat("reading ", ObjectString(role_kind, role_ns, role.name())));
    }
    if (scope == v1::SCOPE_CLUSTER) {
      KCRED_RETURN_IF_ERROR(PlanObject(Resource::kClusterRoleBinding, "", cluster_object,
                                       BindingBody(role_kind, role.name(), key_)));
      want(Resource::kClusterRoleBinding, "", cluster_object);
    } else {
      KCRED_RETURN_IF_ERROR(
          PlanObject(Resource::kRoleBinding, ns, name, BindingBody(role_kind, role.name(), key_)));
      want(Resource::kRoleBinding, ns, name);
    }
  }
  return absl::OkStatus();
}

absl::Status Reconcile::PlanRemovals(const std::set<ObjectKey>& desired) {
  if (previous_ == nullptr) return absl::OkStatus();
  // The token_only ServiceAccount is never deleted, so it is forgotten rather than removed.
  for (const ManagedObject& object : previous_->objects()) {
    if (desired.count({object.kind(), object.namespace_(), object.name()}) > 0) continue;
    KCRED_ASSIGN_OR_RETURN(Resource resource, ResourceOfKind(object.kind()));
    if (resource == Resource::kServiceAccount) continue;
    Step step;
    step.action = Step::Action::kDelete;
    step.resource = resource;
    step.ns = object.namespace_();
    step.name = object.name();
    step.uid = object.uid();
    steps_.push_back(std::move(step));
  }
  return absl::OkStatus();
}

// ----- what the plan says --------------------------------------------------------------------

bool Reconcile::HasWrites() const {
  for (const Step& step : steps_) {
    if (step.action != Step::Action::kKeep) return true;
  }
  return false;
}

std::vector<v1::ObjectChange> Reconcile::Preview() const {
  std::vector<v1::ObjectChange> changes;
  for (const Step& step : steps_) {
    if (step.action == Step::Action::kKeep) continue;
    v1::ObjectChange& change = changes.emplace_back();
    *change.mutable_object() = MakeRef(step.resource, step.ns, step.name, step.uid);
    change.set_action(ChangeOf(step.action));
  }
  return changes;
}

bool Reconcile::ServiceAccountReplaced(const std::string& recorded_uid) const {
  for (const Step& step : steps_) {
    if (step.resource == Resource::kServiceAccount &&
        (step.action == Step::Action::kCreate || step.uid != recorded_uid)) {
      return true;
    }
  }
  return false;
}

std::string Reconcile::ServiceAccountUid() const {
  std::string uid;
  for (const Step& step : steps_) {
    if (step.resource == Resource::kServiceAccount) uid = step.uid;
  }
  return uid;
}

// ----- apply and roll back -------------------------------------------------------------------

absl::Status Reconcile::Apply(Applied& applied) {
  kube::KubeClient& client = *cluster_.client;
  for (Step& step : steps_) {
    const std::string what = ObjectString(step.resource, step.ns, step.name);
    std::string uid = step.uid;
    switch (step.action) {
      case Step::Action::kKeep:
        break;
      case Step::Action::kCreate: {
        absl::StatusOr<json> made = client.Create(step.resource, step.object, Deadline());
        if (!made.ok() && step.resource == Resource::kNamespace &&
            absl::IsAlreadyExists(made.status())) {
          // Another account's provisioning created it a moment ago. The namespace exists, which
          // is all this account needs (kcred never deletes namespaces), and it is not ours.
          break;
        }
        if (!made.ok()) return Wrap(made.status(), absl::StrCat("creating ", what));
        uid = MetaString(*made, "uid");
        step.uid = uid;
        applied.created.push_back(step);
        if (step.resource == Resource::kNamespace) applied.created_namespace = true;
        break;
      }
      case Step::Action::kUpdate:
      case Step::Action::kAdopt: {
        absl::StatusOr<json> written = client.Update(step.resource, step.object, Deadline());
        if (!written.ok()) {
          return Wrap(
              written.status(),
              absl::StrCat(step.action == Step::Action::kAdopt ? "adopting " : "updating ", what));
        }
        break;
      }
      case Step::Action::kRecreate: {
        absl::Status removed =
            client.Delete(step.resource, step.ns, step.name, {step.uid, ""}, Deadline());
        if (!removed.ok() && !absl::IsNotFound(removed)) {
          return Wrap(removed, absl::StrCat("deleting ", what, " to change its roleRef"));
        }
        absl::StatusOr<json> made = client.Create(step.resource, step.object, Deadline());
        if (!made.ok()) {
          return Wrap(made.status(), absl::StrCat("re-creating ", what, " with the new roleRef"));
        }
        uid = MetaString(*made, "uid");
        break;
      }
      case Step::Action::kDelete: {
        absl::Status removed =
            client.Delete(step.resource, step.ns, step.name, {step.uid, ""}, Deadline());
        if (removed.ok()) {
          v1::ObjectChange change;
          *change.mutable_object() = MakeRef(step.resource, step.ns, step.name, step.uid);
          change.set_action(v1::CHANGE_ACTION_DELETED);
          applied.changes.push_back(std::move(change));
        } else if (!absl::IsNotFound(removed) && !absl::IsAborted(removed)) {
          return Wrap(removed, absl::StrCat("deleting ", what, ", no longer in the spec"));
        }
        continue;
      }
    }
    if (step.action != Step::Action::kKeep) {
      v1::ObjectChange change;
      *change.mutable_object() = MakeRef(step.resource, step.ns, step.name, uid);
      change.set_action(ChangeOf(step.action));
      applied.changes.push_back(std::move(change));
    }
    if (step.managed) {
      ManagedObject object;
      object.set_kind(KindOf(step.resource));
      object.set_namespace_(step.ns);
      object.set_name(step.name);
      object.set_uid(uid);
      applied.objects.push_back(std::move(object));
    }
  }
  return absl::OkStatus();
}

void Reconcile::Rollback(const std::vector<Step>& created) const {
  for (auto it = created.rbegin(); it != created.rend(); ++it) {
    if (it->resource == Resource::kNamespace) continue;  // never deleted by kcred
    absl::Status removed =
        cluster_.client->Delete(it->resource, it->ns, it->name, {it->uid, ""}, Deadline());
    if (!removed.ok() && !absl::IsNotFound(removed)) {
      Logger("broker")->warn("account {}: rolling back {}: {}", RefString(key_),
                             ObjectString(it->resource, it->ns, it->name), removed.message());
    }
  }
}

}  // namespace kcred::broker
