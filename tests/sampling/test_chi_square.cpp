#include <specdec/testing/chi_square.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "support/catch.hpp"

using specdec::testing::chi_square_goodness_of_fit;
using specdec::testing::chi_square_p_value;
using specdec::testing::regularized_gamma_q;

TEST_CASE("chi-square p-values match tabulated quantiles") {
  // Critical values of chi2(dof) at upper-tail 0.05, 0.01 and 1e-6 (standard tables).
  REQUIRE_THAT(chi_square_p_value(3.841459, 1), WithinRel(0.05, 1e-5));
  REQUIRE_THAT(chi_square_p_value(18.307038, 10), WithinRel(0.05, 1e-5));
  REQUIRE_THAT(chi_square_p_value(6.634897, 1), WithinRel(0.01, 1e-5));
  REQUIRE_THAT(chi_square_p_value(23.928127, 1), WithinRel(1e-6, 1e-4));
  REQUIRE_THAT(chi_square_p_value(124.342113, 100), WithinRel(0.05, 1e-5));
  // Q(1, x) = exp(-x), on both sides of the series / continued-fraction switch.
  for (const double x : {0.1, 1.5, 2.0, 10.0, 40.0}) {
    REQUIRE_THAT(regularized_gamma_q(1.0, x), WithinRel(std::exp(-x), 1e-12));
  }
  REQUIRE(regularized_gamma_q(3.0, 0.0) == 1.0);
}

TEST_CASE("cells below an expected count of 5 are pooled") {
  // n = 100 over {0.5, 0.3, 0.1, 0.04, 0.03, 0.03}: expected {50, 30, 10, 4, 3, 3}. The small cells
  // pool as 3 + 3 = 6, and the remaining 4 joins that smallest group: cells {10, 10, 30, 50}.
  const std::vector<double> expected{0.5, 0.3, 0.1, 0.04, 0.03, 0.03};
  const std::vector<std::uint64_t> observed{50, 30, 10, 4, 3, 3};
  const auto result = chi_square_goodness_of_fit(observed, expected);
  REQUIRE(result.cells == 4);
  REQUIRE(result.degrees_of_freedom == 3);
  REQUIRE(result.statistic == Approx(0.0).margin(1e-12));
  REQUIRE(result.p_value == Approx(1.0));
  REQUIRE(result.passes(1e-6));
}

TEST_CASE("a sample in a cell of probability zero fails outright") {
  const std::vector<double> expected{0.5, 0.5, 0.0};
  const std::vector<std::uint64_t> observed{500, 499, 1};
  const auto result = chi_square_goodness_of_fit(observed, expected);
  REQUIRE(result.impossible == 1);
  REQUIRE_FALSE(result.passes(1e-6));
  REQUIRE_THAT(result.report(1e-6), contains_text("FAIL"));
}

TEST_CASE("a point mass passes exactly when every sample is in its cell") {
  const std::vector<double> expected{0.0, 1.0, 0.0};
  REQUIRE(chi_square_goodness_of_fit(std::vector<std::uint64_t>{0, 50, 0}, expected).passes(1e-6));
  REQUIRE_FALSE(chi_square_goodness_of_fit(std::vector<std::uint64_t>{1, 49, 0}, expected).passes(1e-6));
}

TEST_CASE("a clearly wrong histogram is rejected and total variation measures it") {
  const std::vector<double> expected{0.25, 0.25, 0.25, 0.25};
  const std::vector<std::uint64_t> observed{3000, 2500, 2500, 2000};
  const auto result = chi_square_goodness_of_fit(observed, expected);
  REQUIRE(result.p_value < 1e-20);
  REQUIRE_THAT(specdec::testing::total_variation(observed, expected), WithinAbs(0.05, 1e-12));
  const std::vector<double> p{0.5, 0.5}, q{0.2, 0.8};
  REQUIRE_THAT(specdec::testing::total_variation(p, q), WithinAbs(0.3, 1e-12));
}

TEST_CASE("chi-square rejects malformed inputs") {
  const std::vector<std::uint64_t> two{1, 1};
  REQUIRE_INVALID_ARGUMENT("sum(expected)", (void)chi_square_goodness_of_fit(two, std::vector<double>{0.5, 0.6}));
  REQUIRE_INVALID_ARGUMENT("expected.size() = 1", (void)chi_square_goodness_of_fit(two, std::vector<double>{1.0}));
  REQUIRE_INVALID_ARGUMENT("expected[1] = -0.5", (void)chi_square_goodness_of_fit(two, std::vector<double>{1.5, -0.5}));
  REQUIRE_INVALID_ARGUMENT("enough samples", (void)chi_square_goodness_of_fit(two, std::vector<double>{0.5, 0.5}));
}
