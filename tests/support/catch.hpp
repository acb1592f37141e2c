//! The one place that knows whether Catch2 is v2 (Debian bookworm) or v3: tests include this header
//! and use only the subset both versions share (TEST_CASE, SECTION, REQUIRE/CHECK, STATIC_REQUIRE,
//! Approx, WithinRel/WithinAbs, TEMPLATE_TEST_CASE, GENERATE).
#pragma once

#if SPECDEC_CATCH2_MAJOR >= 3
#include <catch2/catch_approx.hpp>
#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#else
#include <catch2/catch.hpp>
#endif

#include <string>

#if SPECDEC_CATCH2_MAJOR >= 3
using Catch::Approx;  // v2 declares Approx at global scope itself
#endif
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

//! A matcher for strings containing `text` (v3 `ContainsSubstring`, v2 `Contains`).
inline auto contains_text(const std::string& text) {
#if SPECDEC_CATCH2_MAJOR >= 3
  return Catch::Matchers::ContainsSubstring(text);
#else
  return Catch::Matchers::Contains(text);
#endif
}

//! Requires the expression (the variadic part, so that braced lists with commas need no parentheses)
//! to throw `specdec::invalid_argument` whose message contains `text`: the argument's name and value.
#define REQUIRE_INVALID_ARGUMENT(text, ...)                    \
  do {                                                         \
    const auto specdec_call_ = [&] { (void)(__VA_ARGS__); };   \
    REQUIRE_THROWS_AS(specdec_call_(), specdec::invalid_argument); \
    REQUIRE_THROWS_WITH(specdec_call_(), contains_text(text)); \
  } while (false)
