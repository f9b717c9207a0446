// ForEachInParallel (common/parallel.h): every index once, no more threads than asked for.
#include "common/parallel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace kcred {
namespace {

// Every index in [0, count) is worked on exactly once, whatever the parallelism.
TEST(ForEachInParallelTest, WorksOnEveryIndexOnce) {
  for (int parallelism : {-1, 0, 1, 3, 64}) {
    std::vector<std::atomic<int>> calls(100);
    ForEachInParallel(calls.size(), parallelism, [&](size_t i) { ++calls[i]; });
    for (size_t i = 0; i < calls.size(); ++i) {
      EXPECT_EQ(calls[i].load(), 1) << "index " << i << ", parallelism " << parallelism;
    }
  }
}

// Nothing to do returns at once; one piece of work runs on the caller's thread.
TEST(ForEachInParallelTest, NoWorkAndOneOnTheCallersThread) {
  int calls = 0;
  ForEachInParallel(0, 8, [&](size_t) { ++calls; });
  EXPECT_EQ(calls, 0);
  std::thread::id ran_on;
  ForEachInParallel(1, 8, [&](size_t) { ran_on = std::this_thread::get_id(); });
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

// At most `parallelism` calls run at once, and with enough blocking work that many do.
TEST(ForEachInParallelTest, RunsUpToParallelismAtOnce) {
  std::mutex mu;
  std::condition_variable all_in;
  int running = 0;
  int most = 0;
  ForEachInParallel(8, 4, [&](size_t) {
    std::unique_lock<std::mutex> lock(mu);
    most = std::max(most, ++running);
    // The first four wait for each other, so all four threads are seen at once.
    all_in.wait_for(lock, std::chrono::seconds(20), [&] { return most >= 4; });
    all_in.notify_all();
    --running;
  });
  EXPECT_EQ(most, 4);
}

}  // namespace
}  // namespace kcred
