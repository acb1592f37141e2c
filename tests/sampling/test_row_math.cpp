//! The row kernels' exponential over every non-positive float, and the inputs that once made it overflow.
#include <specdec/sampling/detail/row_math.hpp>
#include <specdec/sampling/logits_processor.hpp>
#include <specdec/sampling/softmax.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "support/catch.hpp"

namespace {
constexpr float inf = std::numeric_limits<float>::infinity();

// |exp_nonpositive(x) - e^x| within 3 ulp of e^x, plus 2^-126 where the result is subnormal or flushed.
bool close_to_exp(float x) {
  const double exact = std::exp(static_cast<double>(x));
  const double got = static_cast<double>(specdec::detail::exp_nonpositive(x));
  return got >= 0.0 && got <= 1.0 && std::abs(got - exact) <= 3.0 * 0x1p-24 * exact + 0x1p-126;
}
}  // namespace

TEST_CASE("exp_nonpositive is e^x for every non-positive float, however negative") {
  using specdec::detail::exp_nonpositive;
  REQUIRE(exp_nonpositive(0.0f) == 1.0f);
  REQUIRE(exp_nonpositive(-0.0f) == 1.0f);
  REQUIRE(exp_nonpositive(-inf) == 0.0f);
  REQUIRE(exp_nonpositive(-std::numeric_limits<float>::max()) == 0.0f);
  REQUIRE(exp_nonpositive(-std::numeric_limits<float>::denorm_min()) == 1.0f);
  // The range whose integer arithmetic once overflowed (x * log2e + 1.5 * 2^23 negative), and around it.
  for (const float x : {-8.7e6f, -8.8e6f, -1e7f, -1.2e7f, -1.5e7f, -1.74e7f, -1.8e7f, -2.9e6f, -4.2e6f, -1e30f}) {
    INFO("x = " << x);
    REQUIRE(exp_nonpositive(x) == 0.0f);
  }
  // A sweep over the bit patterns of all negative floats (stride 4099 hits every binade many times,
  // the formerly undefined range included) and a dense sweep of the region where results are normal.
  std::int64_t checked = 0;
  for (std::uint64_t bits = 0x80000000u; bits <= 0xff800000u; bits += 4099u) {
    const float x = std::bit_cast<float>(static_cast<std::uint32_t>(bits));
    INFO("x = " << x);
    REQUIRE(close_to_exp(x));
    if (x < -88.0f) REQUIRE(exp_nonpositive(x) == 0.0f);
    ++checked;
  }
  for (float x = 0.0f; x > -90.0f; x -= 0.00037f) {
    INFO("x = " << x);
    REQUIRE(close_to_exp(x));
  }
  REQUIRE(checked > 500000);
}

TEST_CASE("softmax with a -1e7 mask and processing at temperature 1e-6 give the exact limits") {
  // softmax({0, -1e7, -1}): the -1e7 entry is 0 and the others are the two-entry softmax.
  const std::vector<float> logits{0.0f, -1e7f, -1.0f};
  std::vector<float> probs(3);
  specdec::softmax(logits, probs);
  const double z = 1.0 + std::exp(-1.0);
  REQUIRE_THAT(probs[0], WithinRel(static_cast<float>(1.0 / z), 1e-6f));
  REQUIRE(probs[1] == 0.0f);
  REQUIRE_THAT(probs[2], WithinRel(static_cast<float>(std::exp(-1.0) / z), 1e-6f));
  REQUIRE_THAT(specdec::logsumexp(logits), WithinAbs(std::log(z), 1e-7));

  // Temperature 1e-6 with ordinary gaps (8.7 .. 17.4): the scaled gaps fall in the formerly undefined
  // range; p must be one-hot at the maximum.
  specdec::sampling_params params;
  params.temperature = 1e-6f;
  const std::vector<float> row{10.0f, 0.0f, 1.0f, -5.0f, -7.3f, 1.5f};
  std::vector<float> p(row.size());
  specdec::logits_processor processor;
  processor.probabilities(row, params, p);
  REQUIRE(p[0] == 1.0f);
  for (std::size_t i = 1; i < p.size(); ++i) REQUIRE(p[i] == 0.0f);
}

TEST_CASE("sum_exp and checked_max over a row with entries in every range") {
  std::vector<float> row{0.0f, -1e7f, -1.2e7f, -1.6e7f, -inf, -3.0f, -1e30f, -88.0f};
  REQUIRE(specdec::detail::sum_exp(row, 0.0f, 1.0f) ==
          1.0 + static_cast<double>(specdec::detail::exp_nonpositive(-3.0f)));
  const auto max = specdec::detail::checked_max(row);
  REQUIRE(max.max == 0.0f);
  REQUIRE(max.index == 0);
  REQUIRE_FALSE(max.bad);
}
