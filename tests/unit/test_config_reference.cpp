// docs/guide.md's ApplicationConfig table is generated from src/app/config_reference.cpp and
// must match it; every field of ApplicationConfig must have an entry.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "app/config_reference.hpp"
#include "streamframe/application.hpp"

namespace {

// Counts the fields of an aggregate: the most initializers `T{...}` accepts, each one an
// object that converts to any member type.
struct AnyMember {
  template <class T>
  operator T() const;  // never defined: only used in unevaluated requires-expressions
};
template <class T, class... Args>
constexpr std::size_t field_count() {
  if constexpr (requires { T{Args{}..., AnyMember{}}; }) {
    return field_count<T, Args..., AnyMember>();
  } else {
    return sizeof...(Args);
  }
}

constexpr const char* kBegin = "<!-- ApplicationConfig reference";
constexpr const char* kEnd = "<!-- end of the generated ApplicationConfig reference -->";

TEST(ConfigReference, EveryFieldHasAnEntry) {
  const auto entries = streamframe::detail::application_config_reference();
  EXPECT_EQ(entries.size(), field_count<streamframe::ApplicationConfig>())
      << "ApplicationConfig and the reference in src/app/config_reference.cpp have different "
         "numbers of fields: add (or remove) the entry, in declaration order";
  for (const auto& e : entries) {
    EXPECT_FALSE(e.default_value.empty()) << e.field;
    EXPECT_FALSE(e.meaning.empty()) << e.field;
  }
}

TEST(ConfigReference, DefaultsAreReadFromTheStruct) {
  const auto entries = streamframe::detail::application_config_reference();
  auto find = [&](const std::string& field) {
    for (const auto& e : entries)
      if (e.field == field) return e.default_value;
    return std::string("(missing)");
  };
  EXPECT_EQ(find("commit_interval"), "5 s");
  EXPECT_EQ(find("producer_poll_timeout"), "0");
  EXPECT_EQ(find("auto_offset_reset"), "`latest`");
  EXPECT_EQ(find("num_workers"), "1");
  EXPECT_EQ(find("loglevel"), "`\"INFO\"`");
}

TEST(ConfigReference, GuideTableMatchesTheCode) {
  std::ifstream in(STREAMFRAME_GUIDE);
  ASSERT_TRUE(in) << "cannot read " << STREAMFRAME_GUIDE;
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string guide = buffer.str();
  const auto begin = guide.find(kBegin);
  ASSERT_NE(begin, std::string::npos) << "no '" << kBegin << "' marker in docs/guide.md";
  const auto table = guide.find("-->\n", begin);
  ASSERT_NE(table, std::string::npos);
  const auto table_start = table + 4;
  const auto end = guide.find(kEnd, table_start);
  ASSERT_NE(end, std::string::npos) << "no '" << kEnd << "' marker in docs/guide.md";

  const std::string expected = streamframe::detail::config_reference_markdown();
  const std::string actual = guide.substr(table_start, end - table_start);
  if (actual != expected && std::getenv("STREAMFRAME_UPDATE_DOCS") != nullptr) {
    std::ofstream out(STREAMFRAME_GUIDE, std::ios::trunc);
    out << guide.substr(0, table_start) << expected << guide.substr(end);
    GTEST_SKIP() << "rewrote the table in " << STREAMFRAME_GUIDE;
  }
  EXPECT_EQ(actual, expected)
      << "docs/guide.md's ApplicationConfig table is out of date; rerun this test with "
         "STREAMFRAME_UPDATE_DOCS=1 to regenerate it";
}

}  // namespace
