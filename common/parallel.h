#pragma once
// Runs independent pieces of work a few at a time, for loops over many accounts whose steps wait
// on the network (revoking thousands of tokens due after a restart).

#include <cstddef>
#include <functional>

namespace kcred {

// Calls `work(i)` once for every i in [0, count), on up to `parallelism` threads (the caller's
// included; fewer when there is less work), and returns when every call has. Calls run in no
// particular order; `work` must be thread-safe. parallelism < 1 counts as 1.
void ForEachInParallel(size_t count, int parallelism, const std::function<void(size_t)>& work);

}  // namespace kcred
