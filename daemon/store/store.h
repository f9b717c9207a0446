#pragma once
// The Store seam: kcredd's durable records. A flat, ordered key space of byte values, each key
// stamped with revisions from one store-wide counter (etcd's model), with compare-and-swap on a
// key's revision and small all-or-nothing transactions. Nothing here is SQL-shaped, so an etcd
// backend can implement the same contract.
//
// Revisions: the store revision starts at 0 (empty store) and grows by exactly one for every
// successful write (Put, Delete that removed a key, Txn that changed anything); every key written
// by that write gets it as its mod_revision. A key's create_revision is the revision at which it
// was last created. Revisions are never reused, also after a key is deleted and re-created.
//
// Compare failures (a precondition or a Txn compare that does not hold) return ABORTED with a
// message naming the key, the expected and the actual state: the caller re-reads and retries its
// read-modify-write. INVALID_ARGUMENT is a malformed request (empty key, bad revision, duplicate
// key in one Txn). UNAVAILABLE, PERMISSION_DENIED, RESOURCE_EXHAUSTED and DATA_LOSS come from the
// backend and name it.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kcred::store {

using Revision = int64_t;

// Keys are non-empty byte strings of at most kMaxKeySize bytes, by convention slash-separated
// paths ("accounts/dev/automation/ci-bot"). Values are arbitrary bytes up to kMaxValueSize.
inline constexpr size_t kMaxKeySize = 1024;
inline constexpr size_t kMaxValueSize = 1024 * 1024;
// A Txn holds at most this many compares and at most this many ops (etcd's default --max-txn-ops).
inline constexpr size_t kMaxTxnOps = 128;

struct KeyValue {
  std::string key;
  std::string value;
  Revision create_revision = 0;
  Revision mod_revision = 0;
};

// What a write or a Txn compare expects of a key before it applies.
class Precondition {
 public:
  enum class Kind { kNone, kAbsent, kModRevision };

  // No expectation: the write applies whatever the key's state.
  static Precondition None() { return Precondition(Kind::kNone, 0); }
  // The key must not exist.
  static Precondition Absent() { return Precondition(Kind::kAbsent, 0); }
  // The key must exist with this mod_revision (> 0).
  static Precondition ModRevision(Revision revision) {
    return Precondition(Kind::kModRevision, revision);
  }

  Kind kind() const { return kind_; }
  Revision revision() const { return revision_; }

 private:
  Precondition(Kind kind, Revision revision) : kind_(kind), revision_(revision) {}
  Kind kind_;
  Revision revision_;
};

struct TxnCompare {
  std::string key;
  Precondition expect = Precondition::None();
};

struct TxnOp {
  enum class Kind { kPut, kDelete };
  static TxnOp Put(std::string key, std::string value) {
    return TxnOp{Kind::kPut, std::move(key), std::move(value)};
  }
  static TxnOp Delete(std::string key) { return TxnOp{Kind::kDelete, std::move(key), {}}; }

  Kind kind = Kind::kPut;
  std::string key;
  std::string value;  // kPut only
};

// All compares are checked, then all ops applied, atomically. A key appears at most once in ops.
struct TxnRequest {
  std::vector<TxnCompare> compares;
  std::vector<TxnOp> ops;
};

struct ListOptions {
  std::string prefix;       // "" lists every key
  std::string start_after;  // exclusive lower bound for paging: the last key of the previous page
  size_t limit = 0;         // at most this many items; 0 = no limit
};

struct ListResult {
  std::vector<KeyValue> items;  // ordered by key (bytewise)
  bool more = false;            // true when keys after the last item also match
  Revision revision = 0;        // the store revision the list was read at
};

// All methods are thread-safe; each call is atomic with respect to the others.
class Store {
 public:
  virtual ~Store() = default;

  // The key and its revisions; NOT_FOUND when absent.
  virtual absl::StatusOr<KeyValue> Get(const std::string& key) = 0;

  // Keys starting with options.prefix, after options.start_after, in key order, read at one
  // revision. INVALID_ARGUMENT when start_after does not begin with the prefix (unless empty).
  virtual absl::StatusOr<ListResult> List(const ListOptions& options) = 0;

  // Writes key = value if `expect` holds; returns the key's new mod_revision. ABORTED when the
  // precondition fails.
  virtual absl::StatusOr<Revision> Put(const std::string& key, const std::string& value,
                                       Precondition expect = Precondition::None()) = 0;

  // Removes the key if `expect` holds (Absent is INVALID_ARGUMENT here). Returns true when a key
  // was removed, false when it did not exist (only possible with None). ABORTED when the
  // precondition fails.
  virtual absl::StatusOr<bool> Delete(const std::string& key,
                                      Precondition expect = Precondition::None()) = 0;

  // Checks every compare and, when all hold, applies every op at one new revision (deleting an
  // absent key is a no-op); returns the store revision after the Txn (unchanged when nothing was
  // written). ABORTED naming the first failing compare's key, and nothing is applied.
  virtual absl::StatusOr<Revision> Txn(const TxnRequest& request) = 0;

  // The current store revision (0 for a store that was never written).
  virtual absl::StatusOr<Revision> CurrentRevision() = 0;
};

using StorePtr = std::unique_ptr<Store>;

}  // namespace kcred::store
