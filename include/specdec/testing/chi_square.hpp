//! Pearson's chi-square goodness-of-fit test with pooled cells, and total-variation distance: the
//! statistics behind every losslessness check in the conformance kit.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"

namespace specdec {
inline namespace v0 {
namespace testing {

//! The regularised upper incomplete gamma function Q(a, x) = Gamma(a, x) / Gamma(a), for a > 0 and
//! x >= 0: the series of P = 1 - Q below x = a + 1, Lentz's continued fraction for Q above it
//! (Abramowitz & Stegun 6.5.29 and 6.5.31). Relative accuracy ~1e-14, also deep in the tail, which is
//! what a p-value of 1e-6 needs.
[[nodiscard]] inline double regularized_gamma_q(double a, double x) {
  expects(a > 0.0 && std::isfinite(a), "a", a, "a > 0");
  expects(x >= 0.0, "x", x, "x >= 0");
  if (x == 0.0) return 1.0;
  if (std::isinf(x)) return 0.0;
  const double log_prefactor = -x + a * std::log(x) - std::lgamma(a);  // log(x^a e^-x / Gamma(a))
  constexpr double eps = 1e-16;
  constexpr int max_iterations = 100000;
  if (x < a + 1.0) {
    // P(a, x) = x^a e^-x / Gamma(a + 1) * sum_n x^n / ((a + 1) ... (a + n))
    double term = 1.0 / a;
    double sum = term;
    for (int n = 1; n < max_iterations; ++n) {
      term *= x / (a + n);
      sum += term;
      if (std::abs(term) < std::abs(sum) * eps) break;
    }
    return std::max(0.0, 1.0 - sum * std::exp(log_prefactor));
  }
  // Q(a, x) = x^a e^-x / Gamma(a) * 1 / (x + 1 - a - 1 (1 - a) / (x + 3 - a - ...)), modified Lentz.
  constexpr double tiny = std::numeric_limits<double>::min() / eps;
  double b = x + 1.0 - a;
  double c = 1.0 / tiny;
  double d = 1.0 / b;
  double h = d;
  for (int i = 1; i < max_iterations; ++i) {
    const double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (std::abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::abs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1.0) < eps) break;
  }
  return std::exp(log_prefactor) * h;
}

//! The upper tail of the chi-square distribution: P(X >= statistic) for X ~ chi2(dof).
[[nodiscard]] inline double chi_square_p_value(double statistic, index_t degrees_of_freedom) {
  expects(degrees_of_freedom >= 1, "degrees_of_freedom", degrees_of_freedom, "degrees_of_freedom >= 1");
  return regularized_gamma_q(0.5 * static_cast<double>(degrees_of_freedom), 0.5 * std::max(0.0, statistic));
}

//! The outcome of a goodness-of-fit test.
struct chi_square_result {
  double statistic = 0.0;          //!< Pearson's sum (O - E)^2 / E over the pooled cells
  index_t degrees_of_freedom = 0;  //!< pooled cells - 1
  double p_value = 1.0;            //!< P(chi2(dof) >= statistic)
  index_t cells = 0;               //!< cells after pooling
  std::uint64_t samples = 0;       //!< total observed count
  //! Observed count in a cell of expected probability 0: the hypothesis is refuted outright.
  std::uint64_t impossible = 0;

  //! True when the test does not reject the hypothesis at significance `alpha`.
  [[nodiscard]] bool passes(double alpha) const noexcept { return impossible == 0 && p_value >= alpha; }

  //! "chi2 = 12.3, dof = 9, p = 0.197 (n = 200000, 10 cells); alpha = 1e-06: pass".
  [[nodiscard]] std::string report(double alpha) const {
    std::ostringstream out;
    out.precision(6);
    out << "chi2 = " << statistic << ", dof = " << degrees_of_freedom << ", p = " << p_value
        << " (n = " << samples << ", " << cells << " cells";
    if (impossible != 0) out << ", " << impossible << " samples in cells of probability 0";
    out << "); alpha = " << alpha << ": " << (passes(alpha) ? "pass" : "FAIL");
    return out.str();
  }
};

//! Pearson's chi-square test of `observed` counts against the probabilities `expected` (same length,
//! non-negative, summing to 1 within 1e-6). Cells whose expected count is below 5 are pooled, smallest
//! first, into groups of expected count >= 5 (a remainder joins the smallest group), so the chi-square
//! approximation holds. A sample in a cell of probability 0 fails the test regardless of the p-value.
//! A point mass (one cell of positive probability) passes unless a sample fell elsewhere. Throws if the
//! samples are too few to leave two pooled cells.
[[nodiscard]] inline chi_square_result chi_square_goodness_of_fit(std::span<const std::uint64_t> observed,
                                                                  std::span<const double> expected) {
  expects(observed.size() == expected.size(), "expected.size()", expected.size(), "== observed.size()");
  double mass = 0.0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    expects_element(expected[i] >= 0.0 && std::isfinite(expected[i]), "expected", i, expected[i],
                    "finite probabilities >= 0");
    mass += expected[i];
  }
  expects(std::abs(mass - 1.0) <= 1e-6, "sum(expected)", mass, "probabilities summing to 1");

  chi_square_result result;
  result.samples = std::accumulate(observed.begin(), observed.end(), std::uint64_t{0});
  const double n = static_cast<double>(result.samples);

  struct cell {
    double expected;
    double observed;
  };
  std::vector<cell> cells;
  for (std::size_t i = 0; i < observed.size(); ++i) {
    if (expected[i] == 0.0) {
      result.impossible += observed[i];
    } else {
      cells.push_back({expected[i] * n, static_cast<double>(observed[i])});
    }
  }
  std::sort(cells.begin(), cells.end(), [](const cell& a, const cell& b) { return a.expected < b.expected; });

  // Ascending order puts the small cells first: they pool among themselves into groups of expected
  // count >= 5, and a remainder below 5 joins the smallest group. Cells of >= 5 stand alone.
  std::vector<cell> pooled;
  cell pending{0.0, 0.0};
  for (const cell& c : cells) {
    if (c.expected >= 5.0) {
      pooled.push_back(c);
      continue;
    }
    pending.expected += c.expected;
    pending.observed += c.observed;
    if (pending.expected >= 5.0) {
      pooled.push_back(pending);
      pending = {0.0, 0.0};
    }
  }
  if (pending.expected > 0.0) {
    if (pooled.empty()) {
      pooled.push_back(pending);
    } else {
      cell& smallest = *std::min_element(pooled.begin(), pooled.end(),
                                         [](const cell& a, const cell& b) { return a.expected < b.expected; });
      smallest.expected += pending.expected;
      smallest.observed += pending.observed;
    }
  }
  if (cells.size() == 1) {
    // A point mass: the only evidence against it is a sample elsewhere (counted in `impossible`).
    result.cells = 1;
    result.p_value = 1.0;
    return result;
  }
  expects(pooled.size() >= 2, "sum(observed)", result.samples,
          "enough samples for two pooled cells of expected count >= 5");

  for (const cell& c : pooled) {
    const double diff = c.observed - c.expected;
    result.statistic += diff * diff / c.expected;
  }
  result.cells = static_cast<index_t>(pooled.size());
  result.degrees_of_freedom = result.cells - 1;
  result.p_value = chi_square_p_value(result.statistic, result.degrees_of_freedom);
  return result;
}

//! Total-variation distance between the empirical distribution of `observed` and `expected`:
//! (1/2) sum_i |O_i / n - E_i|.
[[nodiscard]] inline double total_variation(std::span<const std::uint64_t> observed, std::span<const double> expected) {
  expects(observed.size() == expected.size(), "expected.size()", expected.size(), "== observed.size()");
  const double n = static_cast<double>(std::accumulate(observed.begin(), observed.end(), std::uint64_t{0}));
  expects(n > 0.0, "sum(observed)", n, "at least one sample");
  double sum = 0.0;
  for (std::size_t i = 0; i < observed.size(); ++i) {
    sum += std::abs(static_cast<double>(observed[i]) / n - expected[i]);
  }
  return 0.5 * sum;
}

//! Exact total-variation distance between two distributions over the same support.
[[nodiscard]] inline double total_variation(std::span<const double> p, std::span<const double> q) {
  expects(p.size() == q.size(), "q.size()", q.size(), "== p.size()");
  double sum = 0.0;
  for (std::size_t i = 0; i < p.size(); ++i) sum += std::abs(p[i] - q[i]);
  return 0.5 * sum;
}

//! Pearson's chi-square test of homogeneity: were the counts `a` and `b` (two samples over the same
//! cells) drawn from one distribution? Expected counts come from the pooled sample; cells whose
//! smaller expected count is below 5 are pooled, smallest first, as in the goodness-of-fit test.
//! Degrees of freedom: pooled cells - 1. Throws when the samples leave fewer than two pooled cells.
[[nodiscard]] inline chi_square_result chi_square_homogeneity(std::span<const std::uint64_t> a, std::span<const std::uint64_t> b) {
  expects(a.size() == b.size(), "b.size()", b.size(), "== a.size()");
  const double na = static_cast<double>(std::accumulate(a.begin(), a.end(), std::uint64_t{0}));
  const double nb = static_cast<double>(std::accumulate(b.begin(), b.end(), std::uint64_t{0}));
  expects(na > 0.0 && nb > 0.0, "samples", na < nb ? na : nb, "two non-empty samples");
  struct cell {
    double a;
    double b;
    [[nodiscard]] double smaller_expected(double na, double nb) const { return (a + b) * std::min(na, nb) / (na + nb); }
  };
  std::vector<cell> cells;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] + b[i] > 0) cells.push_back({static_cast<double>(a[i]), static_cast<double>(b[i])});
  }
  std::sort(cells.begin(), cells.end(), [](const cell& x, const cell& y) { return x.a + x.b < y.a + y.b; });
  std::vector<cell> pooled;
  cell pending{0.0, 0.0};
  for (const cell& c : cells) {
    if (c.smaller_expected(na, nb) >= 5.0) {
      pooled.push_back(c);
      continue;
    }
    pending.a += c.a;
    pending.b += c.b;
    if (pending.smaller_expected(na, nb) >= 5.0) {
      pooled.push_back(pending);
      pending = {0.0, 0.0};
    }
  }
  if (pending.a + pending.b > 0.0) {
    if (pooled.empty()) {
      pooled.push_back(pending);
    } else {
      pooled.front().a += pending.a;  // the smallest pooled group (ascending order)
      pooled.front().b += pending.b;
    }
  }
  chi_square_result result;
  result.samples = static_cast<std::uint64_t>(na + nb);
  if (cells.size() == 1) {  // both samples in one cell: identical
    result.cells = 1;
    return result;
  }
  expects(pooled.size() >= 2, "samples", result.samples, "enough samples for two pooled cells of expected count >= 5");
  for (const cell& c : pooled) {
    const double total = c.a + c.b;
    const double ea = total * na / (na + nb);
    const double eb = total * nb / (na + nb);
    result.statistic += (c.a - ea) * (c.a - ea) / ea + (c.b - eb) * (c.b - eb) / eb;
  }
  result.cells = static_cast<index_t>(pooled.size());
  result.degrees_of_freedom = result.cells - 1;
  result.p_value = chi_square_p_value(result.statistic, result.degrees_of_freedom);
  return result;
}

//! Total-variation distance between the empirical distributions of two samples over the same cells.
[[nodiscard]] inline double total_variation(std::span<const std::uint64_t> a, std::span<const std::uint64_t> b) {
  expects(a.size() == b.size(), "b.size()", b.size(), "== a.size()");
  const double na = static_cast<double>(std::accumulate(a.begin(), a.end(), std::uint64_t{0}));
  const double nb = static_cast<double>(std::accumulate(b.begin(), b.end(), std::uint64_t{0}));
  expects(na > 0.0 && nb > 0.0, "samples", na < nb ? na : nb, "two non-empty samples");
  double sum = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += std::abs(static_cast<double>(a[i]) / na - static_cast<double>(b[i]) / nb);
  return 0.5 * sum;
}

} // namespace testing
} // namespace v0
} // namespace specdec
