#include "devcluster/watch.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/json_labels.h"
#include "devcluster/api_error.h"
#include "devcluster/routing.h"

namespace kcred::devcluster {

WatchStream::WatchStream(ObjectStore& store, Clock& clock, WatchSpec spec)
    : store_(store), clock_(clock), spec_(std::move(spec)), last_sent_(clock.Now()) {}

absl::StatusOr<std::unique_ptr<WatchStream>> WatchStream::Start(ObjectStore& store, Clock& clock,
                                                                WatchSpec spec) {
  std::unique_ptr<WatchStream> stream(new WatchStream(store, clock, std::move(spec)));
  const std::string& rv = stream->spec_.resource_version;
  if (rv.empty() || rv == "0") {
    absl::StatusOr<ListResult> list =
        store.List(*stream->spec_.info, stream->spec_.ns, stream->spec_.selectors);
    if (!list.ok()) return list.status();
    stream->last_rv_ = list->resource_version;
    for (nlohmann::json& item : list->items) {
      stream->initial_.push_back({{"type", "ADDED"}, {"object", std::move(item)}});
    }
  } else if (!absl::SimpleAtoi(rv, &stream->last_rv_)) {
    return BadRequestError(absl::StrCat("resourceVersion \"", rv, "\" is not valid"));
  }
  return stream;
}

bool WatchStream::Matches(const nlohmann::json& object) const {
  return object.is_object() && SelectorMatchesObject(spec_.selectors.labels, object) &&
         spec_.selectors.fields.Matches(object);
}

WatchStream::Next WatchStream::Poll(absl::FunctionRef<bool(const nlohmann::json& event)> send) {
  if (!initial_.empty()) {
    for (const nlohmann::json& event : initial_) {
      if (!send(event)) return Next::kClientGone;
    }
    initial_.clear();
    return Next::kMore;
  }
  const absl::Time now = clock_.Now();
  if (now >= spec_.deadline || store_.closed()) return Next::kDone;
  int64_t seen = last_rv_;
  absl::StatusOr<std::vector<WatchEvent>> events = store_.WaitForEvents(
      *spec_.info, spec_.ns, last_rv_, std::min(spec_.deadline, now + kPollInterval), &seen);
  if (!events.ok()) {
    send({{"type", "ERROR"}, {"object", StatusObject(events.status())}});
    return Next::kDone;
  }
  for (const WatchEvent& event : *events) {
    // As kube-apiserver does for filtered watches: an object that starts matching is ADDED, one
    // that stops matching is DELETED.
    std::string type = event.type;
    const bool now_matches = Matches(event.object);
    if (type == "MODIFIED") {
      const bool matched_before = Matches(event.previous);
      if (!now_matches && !matched_before) continue;
      if (!matched_before) type = "ADDED";
      if (!now_matches) type = "DELETED";
    } else if (!now_matches) {
      continue;
    }
    if (!send({{"type", type}, {"object", event.object}})) return Next::kClientGone;
    last_sent_ = clock_.Now();
  }
  last_rv_ = std::max(last_rv_, seen);
  if (spec_.bookmarks && clock_.Now() - last_sent_ > kBookmarkInterval) {
    nlohmann::json bookmark = {{"type", "BOOKMARK"},
                               {"object",
                                {{"kind", spec_.info->kind},
                                 {"apiVersion", spec_.info->GroupVersion()},
                                 {"metadata", {{"resourceVersion", absl::StrCat(last_rv_)}}}}}};
    if (!send(bookmark)) return Next::kClientGone;
    last_sent_ = clock_.Now();
  }
  return Next::kMore;
}

WatchHandler::WatchHandler(const ApiServerConfig& config, ObjectStore& store, Clock& clock)
    : config_(config), store_(store), clock_(clock) {}

absl::Status WatchHandler::Serve(ApiRequest& request) {
  const httplib::Request& http = request.http;
  WatchSpec spec;
  spec.info = request.route.info;
  spec.ns = spec.info->namespaced ? request.route.attrs.namespace_name : "";
  if (absl::Status s = ParseSelectors(http, *spec.info, spec.selectors); !s.ok()) return s;
  absl::Duration timeout = config_.max_watch_timeout;
  if (http.has_param("timeoutSeconds")) {
    int64_t seconds = 0;
    if (!absl::SimpleAtoi(http.get_param_value("timeoutSeconds"), &seconds) || seconds < 0) {
      return BadRequestError("timeoutSeconds must be a non-negative integer");
    }
    timeout = std::min(timeout, absl::Seconds(seconds));
  }
  spec.deadline = clock_.Now() + timeout;
  spec.bookmarks = ParseBool(http.get_param_value("allowWatchBookmarks"));
  spec.resource_version = http.get_param_value("resourceVersion");
  absl::StatusOr<std::unique_ptr<WatchStream>> started =
      WatchStream::Start(store_, clock_, std::move(spec));
  if (!started.ok()) return started.status();
  std::shared_ptr<WatchStream> stream = *std::move(started);

  request.raw = true;
  request.response.status = 200;
  // The media type real API servers use for watches; it also keeps cpp-httplib from gzipping the
  // stream, which would buffer events until the watch ends.
  request.response.set_chunked_content_provider("application/json;stream=watch",
                                                [stream](size_t, httplib::DataSink& sink) {
                                                  if (!sink.is_writable()) {
                                                    sink.done();
                                                    return true;
                                                  }
                                                  auto send = [&sink](const nlohmann::json& event) {
                                                    std::string line = event.dump();
                                                    line.push_back('\n');
                                                    return sink.write(line.data(), line.size());
                                                  };
                                                  switch (stream->Poll(send)) {
                                                    case WatchStream::Next::kMore:
                                                      return true;
                                                    case WatchStream::Next::kDone:
                                                      sink.done();
                                                      return true;
                                                    case WatchStream::Next::kClientGone:
                                                      return false;
                                                  }
                                                  return false;
                                                });
  return absl::OkStatus();
}

}  // namespace kcred::devcluster
