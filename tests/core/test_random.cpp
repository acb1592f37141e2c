#include <specdec/core/random.hpp>
#include <specdec/testing/chi_square.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "support/catch.hpp"

using specdec::uniform_double;
using specdec::uniform_float;

TEST_CASE("uniform conversions stay strictly inside (0, 1) at the extreme words") {
  REQUIRE(uniform_float(0u) == 0x1p-24f);
  REQUIRE(uniform_float(0xffffffffu) == 1.0f - 0x1p-24f);
  REQUIRE(uniform_float(0xffffffffu) < 1.0f);
  REQUIRE(uniform_double(0u, 0u) == 0x1p-53);
  REQUIRE(uniform_double(0xffffffffu, 0xffffffffu) == 1.0 - 0x1p-53);
  REQUIRE(uniform_double(0xffffffffu, 0xffffffffu) < 1.0);

  // The pitfalls the conversion avoids: both of these reach exactly 1.0f at the largest word.
  const std::uint32_t top = 0xffffffffu;
  REQUIRE((static_cast<float>(top) + 0.5f) * 0x1p-32f == 1.0f);
  REQUIRE((static_cast<float>(top >> 8) + 0.5f) * 0x1p-24f == 1.0f);
}

TEST_CASE("exponential and Gumbel variates are finite at the extreme uniforms") {
  for (const std::uint32_t word : {0u, 1u, 0x7fffffffu, 0xfffffe00u, 0xffffffffu}) {
    const float u = uniform_float(word);
    const float e = specdec::exponential_from_uniform(u);
    const float g = specdec::gumbel_from_uniform(u);
    REQUIRE(e > 0.0f);
    REQUIRE(std::isfinite(e));
    REQUIRE(std::isfinite(g));
    REQUIRE(std::abs(g) < 17.0f);
  }
}

TEST_CASE("uniforms and exponentials from consecutive addresses have the right distribution") {
  // 64 equiprobable bins each; alpha = 1e-6 per test with fixed seeds.
  constexpr int bins = 64;
#if SPECDEC_SANITIZE_BUILD
  constexpr std::uint32_t draws = 20000;
#else
  constexpr std::uint32_t draws = 400000;
#endif
  const specdec::random_address address{2024, 0, 0, 0, specdec::purpose::draft_sample};
  std::vector<std::uint64_t> uniform_counts(bins), exponential_counts(bins);
  for (std::uint32_t i = 0; i < draws; ++i) {
    const float u = uniform_float(address, i);
    uniform_counts[static_cast<std::size_t>(u * bins)] += 1;
    // Bin an Exp(1) draw by its CDF, 1 - exp(-e), which is uniform under the null.
    const double cdf = -std::expm1(-static_cast<double>(specdec::exponential_from_uniform(u)));
    exponential_counts[std::min<std::size_t>(bins - 1, static_cast<std::size_t>(cdf * bins))] += 1;
  }
  const std::vector<double> expected(bins, 1.0 / bins);
  const auto uniform = specdec::testing::chi_square_goodness_of_fit(uniform_counts, expected);
  const auto exponential = specdec::testing::chi_square_goodness_of_fit(exponential_counts, expected);
  INFO(uniform.report(1e-6));
  INFO(exponential.report(1e-6));
  REQUIRE(uniform.passes(1e-6));
  REQUIRE(exponential.passes(1e-6));
}
