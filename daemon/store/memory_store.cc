#include "daemon/store/memory_store.h"

#include "absl/strings/str_cat.h"
#include "daemon/store/store_checks.h"

namespace kcred::store {

Revision MemoryStore::ModRevisionLocked(const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? 0 : it->second.mod_revision;
}

absl::StatusOr<KeyValue> MemoryStore::Get(const std::string& key) {
  if (absl::Status s = ValidateKey(key); !s.ok()) return s;
  absl::ReaderMutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    return absl::NotFoundError(absl::StrCat("store key ", QuoteKey(key), " not found"));
  }
  return KeyValue{key, it->second.value, it->second.create_revision, it->second.mod_revision};
}

absl::StatusOr<ListResult> MemoryStore::List(const ListOptions& options) {
  if (absl::Status s = ValidateListOptions(options); !s.ok()) return s;
  const std::string end = PrefixEnd(options.prefix);
  ListResult result;
  absl::ReaderMutexLock lock(&mu_);
  result.revision = revision_;
  auto it = options.start_after.empty() ? entries_.lower_bound(options.prefix)
                                        : entries_.upper_bound(options.start_after);
  for (; it != entries_.end() && (end.empty() || it->first < end); ++it) {
    if (options.limit != 0 && result.items.size() == options.limit) {
      result.more = true;
      break;
    }
    result.items.push_back(
        KeyValue{it->first, it->second.value, it->second.create_revision, it->second.mod_revision});
  }
  return result;
}

absl::StatusOr<Revision> MemoryStore::Put(const std::string& key, const std::string& value,
                                          Precondition expect) {
  if (absl::Status s = ValidateKey(key); !s.ok()) return s;
  if (absl::Status s = ValidateValue(key, value); !s.ok()) return s;
  if (absl::Status s = ValidatePrecondition(key, expect); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  if (absl::Status s = CheckPrecondition(key, expect, ModRevisionLocked(key)); !s.ok()) return s;
  const Revision revision = ++revision_;
  Entry& entry = entries_[key];
  if (entry.create_revision == 0) entry.create_revision = revision;
  entry.mod_revision = revision;
  entry.value = value;
  return revision;
}

absl::StatusOr<bool> MemoryStore::Delete(const std::string& key, Precondition expect) {
  if (absl::Status s = ValidateDelete(key, expect); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  if (absl::Status s = CheckPrecondition(key, expect, ModRevisionLocked(key)); !s.ok()) return s;
  if (entries_.erase(key) == 0) return false;
  ++revision_;
  return true;
}

absl::StatusOr<Revision> MemoryStore::Txn(const TxnRequest& request) {
  if (absl::Status s = ValidateTxn(request); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  for (const TxnCompare& compare : request.compares) {
    if (absl::Status s =
            CheckPrecondition(compare.key, compare.expect, ModRevisionLocked(compare.key));
        !s.ok()) {
      return s;
    }
  }
  bool changes = false;
  for (const TxnOp& op : request.ops) {
    if (op.kind == TxnOp::Kind::kPut || entries_.count(op.key) != 0) changes = true;
  }
  if (!changes) return revision_;
  const Revision revision = ++revision_;
  for (const TxnOp& op : request.ops) {
    if (op.kind == TxnOp::Kind::kDelete) {
      entries_.erase(op.key);
      continue;
    }
    Entry& entry = entries_[op.key];
    if (entry.create_revision == 0) entry.create_revision = revision;
    entry.mod_revision = revision;
    entry.value = op.value;
  }
  return revision;
}

absl::StatusOr<Revision> MemoryStore::CurrentRevision() {
  absl::ReaderMutexLock lock(&mu_);
  return revision_;
}

}  // namespace kcred::store
