#include "daemon/broker/cluster_probes.h"

#include "daemon/broker/broker.h"

namespace kcred::broker {

ClusterProbes::ClusterProbes(Clock& clock, absl::Duration timeout, absl::Duration fresh_for)
    : clock_(clock), timeout_(timeout), fresh_for_(fresh_for) {}

ClusterProbes::~ClusterProbes() {
  std::vector<std::shared_future<Result>> running;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [name, slot] : slots_) {
      if (slot.in_flight.valid()) running.push_back(slot.in_flight);
    }
  }
  for (auto& probe : running) probe.wait();
}

std::vector<ClusterProbes::Result> ClusterProbes::Probe(
    const std::vector<std::shared_ptr<const ClusterHandle>>& clusters) {
  const absl::Time now = clock_.Now();
  std::vector<std::shared_future<Result>> waits(clusters.size());
  std::vector<Result> results(clusters.size());
  {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < clusters.size(); ++i) {
      const std::shared_ptr<const ClusterHandle>& cluster = clusters[i];
      Slot& slot = slots_[cluster->config.name];
      if (slot.handle != cluster.get()) slot = Slot{cluster.get(), {}, std::nullopt};
      if (slot.last.has_value() && now - slot.last->checked < fresh_for_) {
        results[i] = *slot.last;
        continue;
      }
      if (!slot.in_flight.valid()) {
        // The probe holds its handle, so a reload cannot free the client under it.
        slot.in_flight = std::async(std::launch::async, [this, cluster] {
                           Result result;
                           result.checked = clock_.Now();
                           result.version =
                               cluster->client->GetServerVersion(result.checked + timeout_);
                           return result;
                         }).share();
      }
      waits[i] = slot.in_flight;
    }
  }
  for (size_t i = 0; i < clusters.size(); ++i) {
    if (!waits[i].valid()) continue;
    results[i] = waits[i].get();
    absl::MutexLock lock(&mu_);
    Slot& slot = slots_[clusters[i]->config.name];
    if (slot.handle == clusters[i].get()) {
      slot.last = results[i];
      slot.in_flight = {};
    }
  }
  return results;
}

}  // namespace kcred::broker
