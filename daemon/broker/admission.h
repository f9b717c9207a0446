#pragma once
// Admission: the limits an operator puts on what each cluster hands out (`clusters[].policy`),
// checked on every provision whoever asks, before anything touches Kubernetes. An authorized
// caller still cannot get more than the policy allows: no wildcard, escalate, bind or impersonate
// in rules, no cluster-wide Secrets, only allowed namespaces, scopes, role_refs, token modes,
// audiences, lifetimes and labels. Each refusal names the limit and the config key that sets it:
// PERMISSION_DENIED for what the policy forbids, INVALID_ARGUMENT for a value over a cap.

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "daemon/config/config.h"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred::broker {

// The spec of account `ref` against `cluster`'s policy (call after ValidateSpec). `grace` is the
// grace the spec resolves to (the spec's, or kcredd's default).
absl::Status Admit(const v1::AccountRef& ref, const v1::AccountSpec& spec,
                   const config::ClusterConfig& cluster, absl::Duration grace);

// The namespace against the policy's namespace_selector: `labels` are the existing namespace's,
// null when it does not exist (then a selector refuses it: the labels of a namespace kcred would
// create are the caller's choice).
absl::Status AdmitNamespace(const config::ClusterConfig& cluster, const std::string& ns,
                            const std::map<std::string, std::string>* labels);

// A grace period asked for one rotation (RotateToken) against the policy's max_grace.
absl::Status AdmitGrace(const config::ClusterConfig& cluster, absl::Duration grace);

}  // namespace kcred::broker
