#pragma once
// A Store over a MemoryStore that counts reads (Get, List), for tests that show what is answered
// from memory, and that hands out every raw value it holds.

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "daemon/store/memory_store.h"
#include "daemon/store/store.h"

namespace kcred::testing {

class CountingStore : public store::Store {
 public:
  absl::StatusOr<store::KeyValue> Get(const std::string& key) override {
    Count();
    return inner_.Get(key);
  }
  absl::StatusOr<store::ListResult> List(const store::ListOptions& options) override {
    Count();
    return inner_.List(options);
  }
  absl::StatusOr<store::Revision> Put(const std::string& key, const std::string& value,
                                      store::Precondition expect) override {
    return inner_.Put(key, value, expect);
  }
  absl::StatusOr<bool> Delete(const std::string& key, store::Precondition expect) override {
    return inner_.Delete(key, expect);
  }
  absl::StatusOr<store::Revision> Txn(const store::TxnRequest& request) override {
    return inner_.Txn(request);
  }
  absl::StatusOr<store::Revision> CurrentRevision() override { return inner_.CurrentRevision(); }

  // How many Get and List calls were made.
  int reads() const {
    absl::MutexLock lock(&mu_);
    return reads_;
  }
  // Every value in the store, raw (not counted as a read).
  std::vector<store::KeyValue> All() {
    store::ListOptions options;
    return inner_.List(options)->items;
  }

 private:
  void Count() {
    absl::MutexLock lock(&mu_);
    ++reads_;
  }
  store::MemoryStore inner_;
  mutable absl::Mutex mu_;
  int reads_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kcred::testing
