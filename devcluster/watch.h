#pragma once
// Watches (?watch=true on a collection) as kube-apiserver streams them: newline-separated JSON
// events (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR) of the objects a label and field selector
// pick, starting with the current objects or after a given resourceVersion, until
// timeoutSeconds (capped by the server's maximum) passes or the server stops.

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "devcluster/api_request.h"
#include "devcluster/api_server_config.h"
#include "devcluster/object_store.h"

namespace kcred::devcluster {

// What a watch asks for.
struct WatchSpec {
  const ResourceInfo* info = nullptr;
  std::string ns;         // empty: all namespaces
  ListOptions selectors;  // labels and fields (limit and continue do not apply)
  // "" or "0": the current objects first (as ADDED), then changes; else changes after this one.
  std::string resource_version;
  absl::Time deadline;     // when the watch ends (on the stream's clock)
  bool bookmarks = false;  // ?allowWatchBookmarks
};

// One watch between the chunks of its answer. Not thread-safe: one connection drives it.
class WatchStream {
 public:
  // How long one Poll waits for changes at most, so that a gone client is noticed.
  static constexpr absl::Duration kPollInterval = absl::Seconds(1);
  // A BOOKMARK is sent after this long without an event (when the watch allows bookmarks).
  static constexpr absl::Duration kBookmarkInterval = absl::Seconds(10);

  // Starts a watch; `store` and `clock` must outlive it. For resourceVersion "" or "0" it reads
  // the current objects now. BadRequest for a resourceVersion that is not a number.
  static absl::StatusOr<std::unique_ptr<WatchStream>> Start(ObjectStore& store, Clock& clock,
                                                            WatchSpec spec);

  enum class Next {
    kMore,        // call Poll again
    kDone,        // the watch is over: deadline, server stopping, or an ERROR event was sent
    kClientGone,  // `send` failed
  };
  // Sends through `send` what is due: on the first call the current objects (when asked for);
  // later the changes that come within kPollInterval (or until the deadline), filtered as
  // kube-apiserver filters (an object that starts to match is ADDED, one that stops matching is
  // DELETED), and a BOOKMARK after kBookmarkInterval without events. An ERROR event with 410
  // Expired when the watched resourceVersion is older than the store's history.
  Next Poll(absl::FunctionRef<bool(const nlohmann::json& event)> send);

 private:
  WatchStream(ObjectStore& store, Clock& clock, WatchSpec spec);
  bool Matches(const nlohmann::json& object) const;

  ObjectStore& store_;
  Clock& clock_;
  const WatchSpec spec_;
  int64_t last_rv_ = 0;
  absl::Time last_sent_;
  std::vector<nlohmann::json> initial_;
};

// The watch endpoint: reads the query (labelSelector, fieldSelector, resourceVersion,
// timeoutSeconds, allowWatchBookmarks) and streams the events as the response body
// (application/json;stream=watch).
class WatchHandler {
 public:
  // All references must outlive the handler and every stream it started.
  WatchHandler(const ApiServerConfig& config, ObjectStore& store, Clock& clock);

  // Answers a request routed to Handler::kWatch (routing.h). BadRequest for a bad selector,
  // resourceVersion or timeoutSeconds. Thread-safe.
  absl::Status Serve(ApiRequest& request);

 private:
  const ApiServerConfig& config_;
  ObjectStore& store_;
  Clock& clock_;
};

}  // namespace kcred::devcluster
