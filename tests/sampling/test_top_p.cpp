//! Top-p by selection against its sort definition, on many random rows with and without ties.
#include <specdec/sampling/detail/nucleus.hpp>
#include <specdec/sampling/logits_processor.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "support/catch.hpp"

namespace {

constexpr float neg_inf = -std::numeric_limits<float>::infinity();

// The definition, written out independently: candidates sorted by (weight desc, id asc) with a full
// sort, the cumulative weight in double in that order, the first prefix reaching top_p * total.
std::vector<float> top_p_by_sorting(std::vector<float> row, float top_p, std::size_t preferred = static_cast<std::size_t>(-1)) {
  std::vector<std::pair<float, std::size_t>> order;
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (row[i] != neg_inf) order.emplace_back(row[i], i);
  }
  std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
    // Processed logit descending (-0 and +0 tie), then id ascending.
    if (a.first != b.first) return a.first > b.first;
    if ((a.second == preferred) != (b.second == preferred)) return a.second == preferred;  // the argmax first
    return a.second < b.second;
  });
  const double target = static_cast<double>(top_p) * specdec::detail::sum_exp(row, 0.0f, 1.0f);
  double cumulative = 0.0;
  std::size_t kept = 0;
  while (kept < order.size() && cumulative < target) {
    cumulative += static_cast<double>(specdec::detail::exp_nonpositive(order[kept++].first));
  }
  for (std::size_t j = kept; j < order.size(); ++j) row[order[j].second] = neg_inf;
  return row;
}

// A processed row: maximum exactly 0, some entries masked.
std::vector<float> random_row(std::mt19937& rng, std::size_t n, int kind) {
  std::vector<float> row(n);
  std::normal_distribution<float> normal(0.0f, kind == 0 ? 0.5f : kind == 1 ? 3.0f : 12.0f);
  std::uniform_int_distribution<int> level(-6, 0);
  for (float& x : row) {
    if (kind == 3) {
      x = static_cast<float>(level(rng)) * 0.5f;  // few distinct values: long runs of ties
    } else {
      x = normal(rng);
    }
    if (rng() % 17 == 0) x = neg_inf;
  }
  row[rng() % n] = 0.0f;
  const float max = *std::max_element(row.begin(), row.end());
  for (float& x : row) x = x == neg_inf ? x : x - max;
  return row;
}

}  // namespace

TEST_CASE("top-p by selection equals the sort definition on random rows, ties included") {
  std::mt19937 rng(1307);
  specdec::detail::nucleus_workspace workspace;
  const float ps[] = {0.05f, 0.3f, 0.5f, 0.9f, 0.95f, 0.999f, 0.99999994f};
  int selected = 0;
  int rows = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const std::size_t n = 1 + rng() % (trial % 10 == 0 ? 20000 : 600);
    const int kind = static_cast<int>(rng() % 4);
    const std::vector<float> row = random_row(rng, n, kind);
    const float p = ps[rng() % std::size(ps)];
    std::vector<float> fast = row;
    // A preferred token (ranked first among its ties) half of the time, as the processor passes the argmax.
    const std::size_t preferred = trial % 2 == 0 ? static_cast<std::size_t>(-1) : rng() % n;
    const bool by_selection = specdec::detail::apply_top_p(fast, p, workspace, preferred);
    const std::vector<float> expected = top_p_by_sorting(row, p, preferred);
    INFO("trial " << trial << ", n = " << n << ", kind = " << kind << ", p = " << p);
    REQUIRE(fast == expected);
    selected += by_selection ? 1 : 0;
    // The sort runs only where a cumulative sum lies within rounding of the target. On these rows that
    // happens only for top_p = 1 - 2^-24, whose cut lies deep in the tail among weights as small as
    // the rounding margin.
    if (p < 0.999f) REQUIRE(by_selection);
    ++rows;
  }
  REQUIRE(rows - selected <= rows / 100);
}

TEST_CASE("top-p near-ties with the target take the sort definition's side") {
  specdec::detail::nucleus_workspace workspace;
  // Uniform rows: cumulative sums hit top_p * total exactly, inside the rounding margin.
  for (const std::size_t n : {4u, 10u, 1000u, 4096u}) {
    for (const float p : {0.25f, 0.5f, 0.75f, 0.3f}) {
      const std::vector<float> row(n, 0.0f);
      std::vector<float> fast = row;
      (void)specdec::detail::apply_top_p(fast, p, workspace);
      INFO("n = " << n << ", p = " << p);
      REQUIRE(fast == top_p_by_sorting(row, p));
    }
  }
  // A single finite entry, and a row whose tail underflows to weight 0 behind the largest.
  std::vector<float> one{neg_inf, 0.0f, neg_inf};
  (void)specdec::detail::apply_top_p(one, 0.5f, workspace);
  REQUIRE(one == std::vector<float>{neg_inf, 0.0f, neg_inf});
  std::vector<float> tail{0.0f, -200.0f, -1e7f, -3e38f};
  const auto expected = top_p_by_sorting(tail, 0.99999994f);
  (void)specdec::detail::apply_top_p(tail, 0.99999994f, workspace);
  REQUIRE(tail == expected);
}

TEST_CASE("top-p through the processor keeps the sort definition's set after temperature and top-k") {
  std::mt19937 rng(77);
  specdec::logits_processor processor;
  for (int trial = 0; trial < 300; ++trial) {
    const std::size_t n = 1 + rng() % 3000;
    std::vector<float> logits(n);
    std::normal_distribution<float> normal(0.0f, 4.0f);
    for (float& x : logits) x = std::round(normal(rng) * 4.0f) / 4.0f;  // quantised: ties
    specdec::sampling_params params;
    params.temperature = 0.7f;
    params.top_p = 0.8f;
    params.top_k = trial % 2 == 0 ? specdec::sampling_params::top_k_off : static_cast<std::int32_t>(1 + rng() % 200);
    std::vector<float> out(n);
    processor.process(logits, params, out);
    // The definition applied to the processed row before top-p.
    params.top_p = 1.0f;
    std::vector<float> before(n);
    processor.process(logits, params, before);
    REQUIRE(out == top_p_by_sorting(before, 0.8f, static_cast<std::size_t>(specdec::argmax(logits))));
  }
}

TEST_CASE("top-p orders by processed logit, so logits whose weights round equal never lose the argmax") {
  // Found by fuzz_sampling: logits {0, 1.05e-43} at temperature 0.52. The processed row is
  // {-2e-43, 0}: both weights round to exactly 1.0f, and ordering by weight (then id) kept token 0 and
  // dropped the argmax, token 1.
  specdec::sampling_params params;
  params.temperature = 0x1.09f324p-1f;
  params.top_p = 0x1.31dp-19f;
  const std::vector<float> logits{0.0f, 0x1.8p-143f};
  specdec::logits_processor processor;
  std::vector<float> out(2);
  processor.process(logits, params, out);
  REQUIRE(out[1] == 0.0f);
  REQUIRE(out[0] == neg_inf);
  // The same on a row given directly, and -0 ties +0 (then the lower id wins).
  specdec::detail::nucleus_workspace workspace;
  std::vector<float> row{-1e-44f, 0.0f, -1e-30f};
  (void)specdec::detail::apply_top_p(row, 0.1f, workspace);
  REQUIRE(row == std::vector<float>{neg_inf, 0.0f, neg_inf});
  std::vector<float> zeros{0.0f, -0.0f};
  std::vector<float> signed_zeros{-0.0f, 0.0f};
  (void)specdec::detail::apply_top_p(zeros, 0.4f, workspace);
  (void)specdec::detail::apply_top_p(signed_zeros, 0.4f, workspace);
  REQUIRE(zeros[1] == neg_inf);
  REQUIRE(signed_zeros[1] == neg_inf);
  REQUIRE(signed_zeros[0] == 0.0f);
  // Also found by fuzz_sampling: a huge temperature rounds a logit just below the maximum to the same
  // processed 0 as the maximum; the argmax (id 2) must still rank first among the tied zeros.
  params.temperature = 0x1.84411cp+103f;
  params.top_p = 0x1.282828p-87f;
  const std::vector<float> close{0x1.282828p-87f, -1.0f, 0x1.282922p-87f};
  std::vector<float> processed(3);
  processor.process(close, params, processed);
  REQUIRE(processed[2] == 0.0f);
  REQUIRE(processed[0] == neg_inf);
}
