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

// Runs `f`, expects an exception of type E whose what() contains `part`.
template <typename E, typename F>
void expect_error(F&& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "expected an exception containing: " << part;
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

// Runs `f`, expects an exception of type E and returns its what() (a failure and "" when none
// or another type is thrown), for tests that look at several parts of one message.
template <typename E, typename F>
std::string error_message(F&& f) {
  try {
    f();
    ADD_FAILURE() << "expected an exception";
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
  return "";
}

}  // namespace streamframe::test
