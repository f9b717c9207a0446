// Shows that globs match whole strings with `*` standing for any run of characters, including none.
#include "common/glob.h"

#include <gtest/gtest.h>

namespace kcred {
namespace {

// `*` matches any run, anywhere in the pattern; every other character matches itself.
TEST(GlobTest, StarMatchesAnyRun) {
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("*", "anything"));
  EXPECT_TRUE(GlobMatch("team-*", "team-a"));
  EXPECT_TRUE(GlobMatch("team-*", "team-"));
  EXPECT_FALSE(GlobMatch("team-*", "teams"));
  EXPECT_TRUE(GlobMatch("*.kubernetes.io", "pod-security.kubernetes.io"));
  EXPECT_FALSE(GlobMatch("*.kubernetes.io", "kubernetes.io"));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXXbYYc"));
  EXPECT_TRUE(GlobMatch("a*b*c", "abbbc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "aXXbYY"));
  EXPECT_TRUE(GlobMatch("**", "x"));
}

// Without `*` a pattern matches only itself.
TEST(GlobTest, LiteralMatchesOnlyItself) {
  EXPECT_TRUE(GlobMatch("ci", "ci"));
  EXPECT_FALSE(GlobMatch("ci", "ci2"));
  EXPECT_FALSE(GlobMatch("ci", "c"));
  EXPECT_FALSE(GlobMatch("", "x"));
  EXPECT_TRUE(GlobMatch("", ""));
  EXPECT_FALSE(IsGlob("ci"));
  EXPECT_TRUE(IsGlob("c*"));
}

}  // namespace
}  // namespace kcred
