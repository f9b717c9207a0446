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
    : revoker_(std::in_place, clock, broker),
      sweeper_(std::in_place, clock, broker, config.token_defaults.grace + kSecondSweepMargin),
      rotation_(broker, config.token_defaults, &*revoker_),
      scheduler_(clock, rotation_, SchedulerOptionsFor(), &rotation_),
      declared_(clock, broker) {
  auto log = Logger("kcredd");
  rotation_.Attach(&scheduler_);
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
  declared_.Stop();
  scheduler_.Stop();
  revoker_.reset();
  sweeper_.reset();
}

}  // namespace kcred::app
