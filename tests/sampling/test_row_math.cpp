//! The row kernels' exponential over every non-positive float, and the inputs that once made it overflow.
#include <specdec/sampling/detail/row_math.hpp>
#include <specdec/sampling/logits_processor.hpp>
#include <specdec/sampling/softmax.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
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

TEST_CASE("every instruction set gives the baseline's bits: maximum, first index, bad flag and sums") {
  using specdec::detail::row_isa;
  std::vector<row_isa> isas;
  for (const row_isa isa : {row_isa::baseline, row_isa::avx2, row_isa::avx512}) {
    if (specdec::detail::row_isa_available(isa)) isas.push_back(isa);
  }
  REQUIRE(isas.front() == row_isa::baseline);
  REQUIRE(specdec::detail::row_isa_available(specdec::detail::best_row_isa()));
  std::mt19937 rng(99);
  std::normal_distribution<float> normal(0.0f, 5.0f);
  int compared = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    const std::size_t n = trial < 200 ? static_cast<std::size_t>(trial) : 1 + rng() % 5000;
    std::vector<float> row(n);
    const int kind = trial % 5;
    for (float& x : row) {
      x = kind == 1 ? std::round(normal(rng) / 4.0f) : normal(rng);  // kind 1: many ties
      if (rng() % 13 == 0) x = -inf;
      if (kind == 2 && rng() % 500 == 0) x = std::nanf("");
      if (kind == 3 && rng() % 700 == 0) x = inf;
    }
    if (kind == 4 && n > 0) row.assign(n, -inf);
    const auto expected = specdec::detail::checked_max(row, row_isa::baseline);
    float shift = -inf;
    for (const float x : row) shift = x > shift && x < inf ? x : shift;
    if (!(shift > -inf)) shift = 0.0f;
    std::vector<float> processed(n);
    for (std::size_t i = 0; i < n; ++i) processed[i] = row[i] < inf && row[i] == row[i] ? row[i] - shift : -inf;
    std::vector<float> w0(n), w1(n);
    const double sum0 = specdec::detail::sum_exp(processed, 0.0f, 0.7f, row_isa::baseline);
    const double both0 = specdec::detail::exp_and_sum(processed, w0.data(), row_isa::baseline);
    for (const row_isa isa : isas) {
      INFO("trial " << trial << ", isa " << static_cast<int>(isa) << ", n = " << n);
      const auto got = specdec::detail::checked_max(row, isa);
      REQUIRE(got.bad == expected.bad);
      if (!expected.bad) {
        REQUIRE(std::bit_cast<std::uint32_t>(got.max) == std::bit_cast<std::uint32_t>(expected.max));
        REQUIRE(got.index == expected.index);
      }
      REQUIRE(std::bit_cast<std::uint64_t>(specdec::detail::sum_exp(processed, 0.0f, 0.7f, isa)) ==
              std::bit_cast<std::uint64_t>(sum0));
      REQUIRE(std::bit_cast<std::uint64_t>(specdec::detail::exp_and_sum(processed, w1.data(), isa)) ==
              std::bit_cast<std::uint64_t>(both0));
      REQUIRE(w1 == w0);
      ++compared;
    }
  }
  REQUIRE(compared >= 2000);
}
