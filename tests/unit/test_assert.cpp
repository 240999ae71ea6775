// SF_ASSERT stays on in release builds and stops the process naming where and why.
#include <gtest/gtest.h>

#include "core/assert.hpp"

namespace {

int checked_half(int n) {
  SF_ASSERT(n % 2 == 0, "odd input {}", n);
  return n / 2;
}

TEST(SfAssert, HoldingInvariantCostsNothingVisible) {
  EXPECT_EQ(checked_half(8), 4);
}

TEST(SfAssertDeathTest, ViolationAbortsNamingConditionValuesAndPlace) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(checked_half(7),
               "internal invariant violated at .*test_assert\\.cpp:[0-9]+: odd input 7 "
               "\\(n % 2 == 0\\)");
}

}  // namespace
