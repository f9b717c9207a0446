#include "daemon/app/engine.h"

#include "common/logging.h"
#include "daemon/app/reload.h"

namespace kcred::app {
namespace {

rotation::SchedulerOptions SchedulerOptionsFor() {
  rotation::SchedulerOptions options;
  options.workers = kRotationWorkers;
  return options;
}

}  // namespace

Engine::Engine(Clock& clock, broker::Broker& broker, const config::Config& config)
    : broker_(broker),
      revoker_(std::in_place, clock, broker),
      sweeper_(std::in_place, clock, broker, config.token_defaults.grace + kSecondSweepMargin),
      rotation_(broker, config.token_defaults, &*revoker_),
      scheduler_(clock, rotation_, SchedulerOptionsFor(), &rotation_),
      declared_(clock, broker) {
  auto log = Logger("kcredd");
  rotation_.Attach(&scheduler_);
  // GetToken reports the scheduler's own time (jitter included), so that exec-plugin clients move
  // to the new token before the rotation can revoke the old one.
  broker.SetRotationPlanner([this](const v1::AccountRef& ref) -> std::optional<absl::Time> {
    std::optional<rotation::EntryStatus> status =
        scheduler_.Get(rotation::BrokerRotation::KeyOf(ref));
    if (!status.has_value()) return std::nullopt;
    return status->next_rotation;
  });
  auto seeded = ScheduleRotations(rotation_, scheduler_, broker, config);
  if (!seeded.ok()) {
    log->error("scheduling rotations: {}", seeded.status().message());
  } else {
    log->info("scheduled rotations for {} account(s)", *seeded);
  }
  if (auto s = scheduler_.Start(); !s.ok()) log->error("rotation scheduler: {}", s.message());
  declared_.Start();
  declared_.Apply(config.accounts);
}

Engine::~Engine() { Stop(); }

void Engine::Stop() {
  broker_.SetRotationPlanner(nullptr);
  declared_.Stop();
  scheduler_.Stop();
  revoker_.reset();
  sweeper_.reset();
}

}  // namespace kcred::app
