#pragma once
// Request validation and error wording shared by every Store backend, so they answer alike.

#include <string>

#include "absl/status/status.h"
#include "daemon/store/store.h"

namespace kcred::store {

// INVALID_ARGUMENT for an empty or oversize key.
absl::Status ValidateKey(const std::string& key);
// INVALID_ARGUMENT for an oversize value, naming its key.
absl::Status ValidateValue(const std::string& key, const std::string& value);
// INVALID_ARGUMENT for ModRevision(r) with r <= 0.
absl::Status ValidatePrecondition(const std::string& key, const Precondition& expect);
// ValidateKey + ValidatePrecondition for Delete, where Absent makes no sense.
absl::Status ValidateDelete(const std::string& key, const Precondition& expect);
// INVALID_ARGUMENT when start_after is set and does not begin with the prefix.
absl::Status ValidateListOptions(const ListOptions& options);
// INVALID_ARGUMENT for bad keys, values or revisions, a key written twice, or more than
// kMaxTxnOps compares or ops.
absl::Status ValidateTxn(const TxnRequest& request);

// Checks `expect` against a key's current mod_revision (0 = absent); ABORTED naming the key, what
// was expected and what was found.
absl::Status CheckPrecondition(const std::string& key, const Precondition& expect,
                               Revision current_mod_revision);

// The smallest key greater than every key starting with `prefix`; "" when there is none (the
// prefix is empty or all 0xff bytes), meaning "no upper bound".
std::string PrefixEnd(const std::string& prefix);

// A key quoted for messages, with non-printable bytes escaped.
std::string QuoteKey(const std::string& key);

}  // namespace kcred::store
