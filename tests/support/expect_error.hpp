// Asserting on exceptions whose exact message is part of the contract.
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <string>

namespace streamframe::test {

// Runs `f`, expects an exception of type E whose what() equals `message`.
template <typename E, typename F>
void expect_error_exact(F&& f, const std::string& message) {
  try {
    f();
    ADD_FAILURE() << "expected an exception: " << message;
  } catch (const E& e) {
    EXPECT_EQ(std::string(e.what()), message);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

}  // namespace streamframe::test
