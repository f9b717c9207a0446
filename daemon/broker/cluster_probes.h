#pragma once
// Reachability of the configured clusters for ListClusters, probed with GET /version. However many
// callers ask at once, each cluster has at most one probe in flight (callers share it), and a
// result younger than `fresh_for` is answered from memory, so ListClusters costs neither a thread
// per cluster per call nor an API request per call.

#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "daemon/kube/kube_client.h"

namespace kcred::broker {

struct ClusterHandle;

class ClusterProbes {
 public:
  struct Result {
    absl::Time checked;
    absl::StatusOr<kube::ServerVersion> version;
  };

  // `clock` must outlive the probes; each probe waits at most `timeout`.
  ClusterProbes(Clock& clock, absl::Duration timeout, absl::Duration fresh_for);
  // Waits for probes still in flight.
  ~ClusterProbes();

  // The reachability of each of `clusters` (same order), probing those without a fresh result.
  // A cluster whose handle changed (a reload) is probed anew. Thread-safe.
  std::vector<Result> Probe(const std::vector<std::shared_ptr<const ClusterHandle>>& clusters);

 private:
  struct Slot {
    const ClusterHandle* handle = nullptr;  // what the result below is about
    std::shared_future<Result> in_flight;   // valid while a probe runs
    std::optional<Result> last;
  };

  Clock& clock_;
  const absl::Duration timeout_;
  const absl::Duration fresh_for_;
  absl::Mutex mu_;
  std::map<std::string, Slot> slots_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kcred::broker
