#pragma once
// The one mapping between HTTP statuses, as Kubernetes API servers use them with their
// metav1.Status reasons, and absl::StatusCode. kcredd reads a server's answers with it
// (daemon/kube/kube_status.h) and kcred-devcluster writes its answers with it
// (devcluster/api_error.h), so an error means the same on both sides.
//
// 410 Gone. A Kubernetes API server answers 410 (reason "Expired", sometimes "Gone") when a watch
// or a list's continue token names a resourceVersion older than the history it keeps. The client
// cannot fix that by repeating the request, nor is anything broken: it must resync, i.e. list
// again and watch from the new list's resourceVersion (client-go's reflector does exactly that).
// That is absl's Aborted, "retry at a higher level, restarting the read-modify-write (here:
// list-watch) sequence". Not OutOfRange (a position past the end of a range, which waits for the
// range to grow), not FailedPrecondition (do not retry until the system is fixed), not NotFound.
// Aborted is shared with 409 Conflict on purpose: both say "your view is stale; read again and
// retry". The reason ("Expired", "Gone", "Conflict") tells them apart where it matters.

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace kcred {

// The absl code for an HTTP error status and the Kubernetes reason sent with it (may be empty):
//   400, 422                   InvalidArgument     (BadRequest, Invalid)
//   401                        Unauthenticated
//   403                        PermissionDenied
//   404                        NotFound
//   405, 406, 415              Unimplemented       (the server does not do that method or format)
//   409 reason AlreadyExists   AlreadyExists
//   409 otherwise (Conflict)   Aborted
//   410                        Aborted             (Expired or Gone: resync; see above)
//   429                        ResourceExhausted
//   504, or reason Timeout     DeadlineExceeded
//   other 5xx                  Unavailable         (the server failed; a later attempt may work)
//   other 4xx                  FailedPrecondition
//   anything else              Unknown
absl::StatusCode StatusCodeForHttp(int http_status, absl::string_view reason = "");

struct HttpError {
  int status;                // e.g. 404
  absl::string_view reason;  // the Kubernetes reason, e.g. "NotFound"
};

// The HTTP status and Kubernetes reason for an error that carries none of its own, the inverse of
// StatusCodeForHttp wherever that is one to one: NotFound 404 NotFound, AlreadyExists 409
// AlreadyExists, Aborted 409 Conflict, InvalidArgument / FailedPrecondition / OutOfRange 400
// BadRequest, Unauthenticated 401 Unauthorized, PermissionDenied 403 Forbidden, Unimplemented 405
// MethodNotAllowed, ResourceExhausted 429 TooManyRequests, Unavailable 503 ServiceUnavailable,
// DeadlineExceeded 504 Timeout, anything else 500 InternalError. (A 410 needs its reason
// "Expired" said explicitly: Aborted alone becomes 409 Conflict.)
HttpError HttpErrorForStatusCode(absl::StatusCode code);

// The reason Kubernetes gives an HTTP status when the server sent none ("NotFound" for 404,
// "Gone" for 410, "InternalError" for 500, ...); empty when there is no standard one.
absl::string_view DefaultKubeReason(int http_status);

// A metav1.Status failure body as an API server sends it: kind Status, status Failure, the
// message, reason and code (details are the caller's to add).
nlohmann::json KubeStatusBody(int http_status, absl::string_view reason, absl::string_view message);

}  // namespace kcred
