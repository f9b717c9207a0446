#pragma once
// The non-resource endpoints kubectl and client libraries read before anything else: /healthz,
// /livez, /readyz, /version, legacy discovery (/api, /api/v1, /apis, /apis/<group>[/<version>])
// and a minimal OpenAPI v3, all generated from the resource table (resources.h).

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "devcluster/api_request.h"

namespace kcred::devcluster {

// Answers a non-resource request. `server_address` (host:port) is what /api announces as
// serverAddressByClientCIDRs. NotFound for other paths, MethodNotAllowed for methods other than
// GET and HEAD. Thread-safe.
absl::Status ServeNonResource(ApiRequest& request, absl::string_view server_address);

}  // namespace kcred::devcluster
