#pragma once
// Deprecated: SteppingClock is SimulatedClock in SleepMode::kInstant (time stands still until the
// test advances it; SleepUntil jumps straight to its deadline and is recorded in sleeps()). Kept
// only for the tests not yet moved to SimulatedClock (tests/unit/daemon/broker); delete it, and the
// link in tests/unit/daemon/CMakeLists.txt, once they have moved.

#include "absl/time/time.h"
#include "tests/support/simulated_clock.h"

namespace kcred::testing {

class SteppingClock final : public SimulatedClock {
 public:
  explicit SteppingClock(absl::Time start = kDefaultStart)
      : SimulatedClock(start, SleepMode::kInstant) {}
};

}  // namespace kcred::testing
