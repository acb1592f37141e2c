#include <specdec/sampling/argmax.hpp>

#include <limits>
#include <vector>

#include "support/catch.hpp"

namespace {
constexpr float inf = std::numeric_limits<float>::infinity();
constexpr float quiet_nan = std::numeric_limits<float>::quiet_NaN();
}  // namespace

TEST_CASE("argmax breaks ties toward the lowest token id and skips -inf") {
  REQUIRE(specdec::argmax(std::vector<float>{1.0f, 3.0f, 2.0f, 3.0f}) == 1);
  REQUIRE(specdec::argmax(std::vector<float>{-inf, -inf, -5.0f, -5.0f}) == 2);
  REQUIRE(specdec::argmax(std::vector<float>{7.0f}) == 0);
  const auto best = specdec::checked_argmax(std::vector<float>{-1.0f, 4.5f, 4.5f});
  REQUIRE(best.index == 1);
  REQUIRE(best.value == 4.5f);
}

TEST_CASE("argmax rejects NaN, +inf, empty and all -inf rows with the offending entry named") {
  REQUIRE_INVALID_ARGUMENT("logits[1] = nan", specdec::argmax(std::vector<float>{0.0f, quiet_nan, 1.0f}));
  REQUIRE_INVALID_ARGUMENT("logits[2] = inf", specdec::argmax(std::vector<float>{0.0f, 1.0f, inf}));
  REQUIRE_INVALID_ARGUMENT("all -inf", specdec::argmax(std::vector<float>{-inf, -inf}));
  REQUIRE_INVALID_ARGUMENT("empty", specdec::argmax(std::vector<float>{}));
  REQUIRE_INVALID_ARGUMENT("target_logits[0]", specdec::validate_logits(std::vector<float>{quiet_nan}, "target_logits"));
}
