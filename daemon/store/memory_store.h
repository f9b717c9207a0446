#pragma once
// MemoryStore: the Store seam in memory, for unit tests of the components that use a Store. It
// follows the same contract as SqliteStore (the shared conformance suite checks both) and loses
// everything when destroyed.

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "daemon/store/store.h"

namespace kcred::store {

class MemoryStore : public Store {
 public:
  MemoryStore() = default;

  absl::StatusOr<KeyValue> Get(const std::string& key) override;
  absl::StatusOr<ListResult> List(const ListOptions& options) override;
  absl::StatusOr<Revision> Put(const std::string& key, const std::string& value,
                               Precondition expect = Precondition::None()) override;
  absl::StatusOr<bool> Delete(const std::string& key,
                              Precondition expect = Precondition::None()) override;
  absl::StatusOr<Revision> Txn(const TxnRequest& request) override;
  absl::StatusOr<Revision> CurrentRevision() override;

 private:
  struct Entry {
    std::string value;
    Revision create_revision = 0;
    Revision mod_revision = 0;
  };
  Revision ModRevisionLocked(const std::string& key) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  Revision revision_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kcred::store
