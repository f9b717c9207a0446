// The shared request checks: prefix bounds, precondition wording, and Txn validation.

#include "daemon/store/store_checks.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kcred::store {
namespace {

using ::testing::HasSubstr;

// PrefixEnd increments the last byte below 0xff and drops what follows; "" and all-0xff have none.
TEST(StoreChecksTest, PrefixEndIsTheSmallestKeyAfterThePrefix) {
  // The upper bound increments the last byte that is not 0xff; none exists for "" or all-0xff.
  EXPECT_EQ(PrefixEnd("accounts/"), "accounts0");
  EXPECT_EQ(PrefixEnd("a"), "b");
  EXPECT_EQ(PrefixEnd("a\xff"), "b");
  EXPECT_EQ(PrefixEnd("a\xfe"), "a\xff");
  EXPECT_EQ(PrefixEnd("\xff\xff"), "");
  EXPECT_EQ(PrefixEnd(""), "");
}

// Preconditions that hold pass; failed ones are ABORTED naming the key, the expectation, the state.
TEST(StoreChecksTest, PreconditionFailuresNameKeyExpectationAndState) {
  // ABORTED messages say which key, what was expected and what was found.
  EXPECT_TRUE(CheckPrecondition("k", Precondition::None(), 5).ok());
  EXPECT_TRUE(CheckPrecondition("k", Precondition::Absent(), 0).ok());
  EXPECT_TRUE(CheckPrecondition("k", Precondition::ModRevision(5), 5).ok());
  absl::Status exists = CheckPrecondition("k", Precondition::Absent(), 5);
  EXPECT_EQ(exists.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(exists.message(),
            "store key \"k\" was expected to be absent but it is at mod revision 5; re-read it "
            "and retry");
  absl::Status gone = CheckPrecondition("k", Precondition::ModRevision(5), 0);
  EXPECT_EQ(gone.message(),
            "store key \"k\" was expected at mod revision 5 but it does not exist; re-read it and "
            "retry");
}

// QuoteKey quotes a key with NUL, 0xff and newline bytes escaped.
TEST(StoreChecksTest, KeysAreQuotedWithNonPrintableBytesEscaped) {
  // Binary keys cannot garble a log line.
  EXPECT_EQ(QuoteKey(std::string("a\0\xff\n", 4)), "\"a\\x00\\xff\\n\"");
}

// ValidateTxn refuses an empty compare key, a mod revision of 0 and an oversize value.
TEST(StoreChecksTest, TxnValidationCatchesEveryMalformedPart) {
  // Bad compare keys, bad revisions and oversize values are refused before any work.
  EXPECT_TRUE(ValidateTxn({{{"a", Precondition::ModRevision(1)}}, {TxnOp::Put("a", "v")}}).ok());
  EXPECT_EQ(ValidateTxn({{{"", Precondition::Absent()}}, {}}).code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status zero = ValidateTxn({{{"a", Precondition::ModRevision(0)}}, {}});
  EXPECT_EQ(zero.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(zero.message(), HasSubstr("use Precondition::Absent()"));
  EXPECT_EQ(ValidateTxn({{}, {TxnOp::Put("a", std::string(kMaxValueSize + 1, 'v'))}}).code(),
            absl::StatusCode::kInvalidArgument);
}

// kMaxTxnOps compares and ops pass; one op more is refused with the counts and the advice to split.
TEST(StoreChecksTest, TxnSizeIsBoundedLikeEtcd) {
  // kMaxTxnOps compares and ops pass; one more of either is refused with the fix.
  TxnRequest txn;
  for (size_t i = 0; i < kMaxTxnOps; ++i) {
    txn.compares.push_back({absl::StrCat("c", i), Precondition::Absent()});
    txn.ops.push_back(TxnOp::Put(absl::StrCat("k", i), "v"));
  }
  EXPECT_TRUE(ValidateTxn(txn).ok());
  txn.ops.push_back(TxnOp::Delete("one-more"));
  absl::Status too_many = ValidateTxn(txn);
  EXPECT_EQ(too_many.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(too_many.message(),
            "transaction has 128 compares and 129 ops; at most 128 of each are allowed, so split "
            "it");
}

}  // namespace
}  // namespace kcred::store
