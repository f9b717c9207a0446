#include "daemon/store/store_checks.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace kcred::store {

std::string QuoteKey(const std::string& key) {
  return absl::StrCat("\"", absl::CHexEscape(key), "\"");
}

absl::Status ValidateKey(const std::string& key) {
  if (key.empty())
    return absl::InvalidArgumentError("store key is empty; every record needs a key");
  if (key.size() > kMaxKeySize) {
    return absl::InvalidArgumentError(absl::StrCat("store key ", QuoteKey(key.substr(0, 64)),
                                                   "... is ", key.size(),
                                                   " bytes; keys are limited to ", kMaxKeySize));
  }
  return absl::OkStatus();
}

absl::Status ValidateValue(const std::string& key, const std::string& value) {
  if (value.size() > kMaxValueSize) {
    return absl::InvalidArgumentError(absl::StrCat("value for store key ", QuoteKey(key), " is ",
                                                   value.size(), " bytes; values are limited to ",
                                                   kMaxValueSize));
  }
  return absl::OkStatus();
}

absl::Status ValidatePrecondition(const std::string& key, const Precondition& expect) {
  if (expect.kind() == Precondition::Kind::kModRevision && expect.revision() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "precondition on store key ", QuoteKey(key), ": mod revision ", expect.revision(),
        " is not positive; use Precondition::Absent() to require "
        "that the key does not exist"));
  }
  return absl::OkStatus();
}

absl::Status ValidateDelete(const std::string& key, const Precondition& expect) {
  if (absl::Status s = ValidateKey(key); !s.ok()) return s;
  if (expect.kind() == Precondition::Kind::kAbsent) {
    return absl::InvalidArgumentError(
        absl::StrCat("delete of store key ", QuoteKey(key),
                     " with precondition Absent can never remove anything; use None or "
                     "ModRevision"));
  }
  return ValidatePrecondition(key, expect);
}

absl::Status ValidateListOptions(const ListOptions& options) {
  if (!options.start_after.empty() && !absl::StartsWith(options.start_after, options.prefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("list of store prefix ", QuoteKey(options.prefix), ": start_after ",
                     QuoteKey(options.start_after),
                     " does not begin with the prefix; pass the last key of the previous page"));
  }
  return absl::OkStatus();
}

absl::Status ValidateTxn(const TxnRequest& request) {
  if (request.compares.size() > kMaxTxnOps || request.ops.size() > kMaxTxnOps) {
    return absl::InvalidArgumentError(absl::StrCat(
        "transaction has ", request.compares.size(), " compares and ", request.ops.size(),
        " ops; at most ", kMaxTxnOps, " of each are allowed, so split it"));
  }
  for (const TxnCompare& compare : request.compares) {
    if (absl::Status s = ValidateKey(compare.key); !s.ok()) return s;
    if (absl::Status s = ValidatePrecondition(compare.key, compare.expect); !s.ok()) return s;
  }
  absl::flat_hash_set<std::string> written;
  for (const TxnOp& op : request.ops) {
    if (absl::Status s = ValidateKey(op.key); !s.ok()) return s;
    if (op.kind == TxnOp::Kind::kPut) {
      if (absl::Status s = ValidateValue(op.key, op.value); !s.ok()) return s;
    }
    if (!written.insert(op.key).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("transaction writes store key ", QuoteKey(op.key),
                       " more than once; merge the operations into one"));
    }
  }
  return absl::OkStatus();
}

namespace {

std::string DescribeState(Revision mod_revision) {
  if (mod_revision == 0) return "it does not exist";
  return absl::StrCat("it is at mod revision ", mod_revision);
}

}  // namespace

absl::Status CheckPrecondition(const std::string& key, const Precondition& expect,
                               Revision current_mod_revision) {
  switch (expect.kind()) {
    case Precondition::Kind::kNone:
      return absl::OkStatus();
    case Precondition::Kind::kAbsent:
      if (current_mod_revision == 0) return absl::OkStatus();
      return absl::AbortedError(
          absl::StrCat("store key ", QuoteKey(key), " was expected to be absent but ",
                       DescribeState(current_mod_revision), "; re-read it and retry"));
    case Precondition::Kind::kModRevision:
      if (current_mod_revision == expect.revision()) return absl::OkStatus();
      return absl::AbortedError(absl::StrCat(
          "store key ", QuoteKey(key), " was expected at mod revision ", expect.revision(), " but ",
          DescribeState(current_mod_revision), "; re-read it and retry"));
  }
  return absl::InternalError("unknown precondition kind");
}

std::string PrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return "";
}

}  // namespace kcred::store
