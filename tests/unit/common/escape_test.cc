// Shows EscapeControl's contract: control characters become visible escapes, everything else
// (printable ASCII, UTF-8) is kept byte for byte.
#include "common/escape.h"

#include <gtest/gtest.h>

#include <string>

namespace kcred {
namespace {

// Newline, carriage return and tab get their usual short escapes.
TEST(EscapeControlTest, LineBreaksAndTabsGetShortEscapes) {
  EXPECT_EQ(EscapeControl("a\nb\rc\td"), R"(a\nb\rc\td)");
}

// Every other byte below 0x20, and DEL, becomes \xNN; NUL too.
TEST(EscapeControlTest, OtherControlBytesBecomeHex) {
  EXPECT_EQ(EscapeControl("\x1b[31mred\x7f\x01"), R"(\x1b[31mred\x7f\x01)");
  EXPECT_EQ(EscapeControl(std::string("a\0b", 3)), R"(a\x00b)");
}

// Printable text, backslashes and UTF-8 (even invalid sequences) pass through unchanged.
TEST(EscapeControlTest, KeepsPrintableTextAndUtf8) {
  const std::string text = "ci-bot: r\xc3\xa9sum\xc3\xa9 \\n \xff";
  EXPECT_FALSE(HasControl(text));
  EXPECT_EQ(EscapeControl(text), text);
  EXPECT_TRUE(HasControl("a\nb"));
  EXPECT_TRUE(HasControl("\x7f"));
}

}  // namespace
}  // namespace kcred
