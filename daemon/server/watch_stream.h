#pragma once
// WatchAccounts as a callback reactor: an open stream holds no thread while it waits for events.
// The hub wakes the stream when something is queued for it; the stream writes one event at a
// time (the snapshot first, page by page, then live events), each filtered by what the caller may
// watch under the policy of the moment. The call passes the gate once, when it starts, and leaves
// one audit record then.

#include <grpcpp/grpcpp.h>

#include "daemon/broker/broker.h"
#include "daemon/server/call_gate.h"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred::server {

// Starts serving one WatchAccounts call. `broker` may be null (no clusters configured: the call
// ends with UNAVAILABLE). The reactor deletes itself when the call is done.
grpc::ServerWriteReactor<v1::AccountEvent>* StartWatchStream(
    const ServiceDeps& deps, broker::Broker* broker, grpc::CallbackServerContext* context,
    const v1::WatchAccountsRequest* request);

}  // namespace kcred::server
