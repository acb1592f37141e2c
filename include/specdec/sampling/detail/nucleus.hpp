//! Top-p (nucleus) filtering by selection: the sort definition's result in expected linear time.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <vector>

#include "specdec/sampling/detail/row_math.hpp"

namespace specdec {
inline namespace v0 {
namespace detail {

//! The order top-p walks a row in: weight descending, then token id ascending, as one integer. Weights
//! are >= 0, so their float bits order like their values; the id is complemented so that a larger key
//! comes first. Keys of distinct ids never tie, and every key is below 2^63.
[[nodiscard]] inline std::uint64_t nucleus_key(float weight, std::size_t id) noexcept {
  return (static_cast<std::uint64_t>(std::bit_cast<std::uint32_t>(weight)) << 32) |
         (0xffffffffu - static_cast<std::uint32_t>(id));
}
[[nodiscard]] inline float nucleus_key_weight(std::uint64_t key) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(key >> 32));
}

//! The buffers of `apply_top_p`; they grow to the largest row seen and are then reused.
struct nucleus_workspace {
  std::vector<float> weights;
  std::vector<std::uint64_t> keys;
};

//! w_i = exp_nonpositive(row_i) into `weights`, and their sum in double in exactly `sum_exp(row, 0, 1)`'s
//! order (the same lanes; `(x - 0) / 1 == x` for every x), so that the total is the one softmax uses.
[[nodiscard]] inline double exp_and_sum(std::span<const float> row, float* weights) noexcept {
  double lane_sum[row_lanes] = {};
  const std::size_t n = row.size();
  const std::size_t full = n - n % row_lanes;
  for (std::size_t i = 0; i < full; i += row_lanes) {
    for (std::size_t j = 0; j < row_lanes; ++j) {
      const float e = exp_nonpositive(row[i + j]);
      weights[i + j] = e;
      lane_sum[j] += static_cast<double>(e);
    }
  }
  double sum = 0.0;
  for (std::size_t i = full; i < n; ++i) {
    const float e = exp_nonpositive(row[i]);
    weights[i] = e;
    sum += static_cast<double>(e);
  }
  for (std::size_t j = 0; j < row_lanes; ++j) sum += lane_sum[j];
  return sum;
}

//! The sort definition of top-p, exactly: candidates (entries above -inf) sorted by `nucleus_key`
//! descending, the shortest prefix whose cumulative weight -- summed in double in that order --
//! reaches `target`; every other candidate is set to -inf. No change when the whole sum stays below.
//! O(V log V); the fallback of `apply_top_p` and the definition its fast path reproduces.
//! `scratch` holds at least `row.size()` keys.
inline void apply_top_p_sorted(std::span<float> row, const float* weights, double target, std::span<std::uint64_t> scratch) {
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();
  std::size_t count = 0;
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (row[i] != neg_inf) scratch[count++] = nucleus_key(weights[i], i);
  }
  const auto keys = scratch.first(count);
  std::sort(keys.begin(), keys.end(), std::greater<>{});
  double cumulative = 0.0;
  std::size_t kept = 0;
  while (kept < keys.size() && cumulative < target) cumulative += static_cast<double>(nucleus_key_weight(keys[kept++]));
  for (std::size_t j = kept; j < keys.size(); ++j) row[0xffffffffu - static_cast<std::uint32_t>(keys[j])] = neg_inf;
}

//! Top-p over a row of processed logits (every entry <= 0 or -inf, at least one finite): with weights
//! w_i = exp_nonpositive(row_i), total T their sum (`exp_and_sum`) and target = top_p * T in double,
//! keeps exactly the candidates that `apply_top_p_sorted` keeps, in expected O(V):
//! 1. Candidates with w_i <= tau = (1 - top_p) T / (4 V) cannot be in the nucleus: together they weigh
//!    at most V tau = (1 - top_p) T / 4, so the heavier candidates alone reach the target with a margin
//!    far above any rounding (1 - top_p >= 2^-24 for a float top_p < 1, while the rounding of V double
//!    additions is below V 2^-53 T; the filter is skipped above 2^26 entries, where that would fail).
//! 2. Quickselect with random pivots over the remaining keys, carrying the weight of everything ranked
//!    above the current range, finds the cut; only the last few keys are sorted.
//! 3. The cut is exact when the sums on both sides of it clear the target by more than the rounding
//!    that separates any two summation orders of those terms, (m + 64) 2^-50 T for m keys; otherwise
//!    (near-ties with the target: inputs built for it, or chance of order 1e-11 per row) the sort
//!    definition runs instead. Either way the result is the sort definition's.
//! Returns true when the selection decided (the fast path), false when the sort definition ran.
inline bool apply_top_p(std::span<float> row, float top_p, nucleus_workspace& ws) {
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();
  const std::size_t n = row.size();
  if (ws.weights.size() < n) ws.weights.resize(n);
  if (ws.keys.size() < n) ws.keys.resize(n);
  float* const weights = ws.weights.data();
  const double total = exp_and_sum(row, weights);
  const double target = static_cast<double>(top_p) * total;

  // 1. Prefilter (see above). tau as a float is rounded down, which only keeps more keys.
  float tau = 0.0f;
  if (n <= (std::size_t{1} << 26)) {
    const double tau_exact = (1.0 - static_cast<double>(top_p)) * total / (4.0 * static_cast<double>(n));
    tau = static_cast<float>(tau_exact);
    if (static_cast<double>(tau) > tau_exact) tau = std::nextafter(tau, 0.0f);
  }
  std::uint64_t* const keys = ws.keys.data();
  std::size_t m = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const float w = weights[i];
    keys[m] = nucleus_key(w, i);
    m += static_cast<std::size_t>(w > tau);  // -inf entries have weight 0 <= tau
  }

  // 2. Quickselect. Invariant: keys[0, lo) rank above keys[lo, hi), which rank above keys[hi, m);
  // `before` is the weight of keys[0, lo) and stays below the target; the cut lies in [lo, hi) unless
  // nothing reaches the target. Pivots are the median of three pseudo-random keys (distinct keys: both
  // sides of a partition are non-empty, so every round shrinks the range).
  std::size_t lo = 0;
  std::size_t hi = m;
  double before = 0.0;
  std::uint64_t state = 0x9e3779b97f4a7c15u;
  const auto next_random = [&state](std::size_t range) {
    state = state * 6364136223846793005u + 1442695040888963407u;
    return static_cast<std::size_t>((state >> 33) % range);
  };
  while (hi - lo > 32) {
    const std::size_t size = hi - lo;
    std::uint64_t a = keys[lo + next_random(size)];
    std::uint64_t b = keys[lo + next_random(size)];
    std::uint64_t c = keys[lo + next_random(size)];
    if (a > b) std::swap(a, b);
    if (b > c) std::swap(b, c);
    if (a > b) std::swap(a, b);
    std::uint64_t pivot = b;
    // Three equal draws would make the median the range's extreme; fall back to a middle key then.
    if (a == c) pivot = keys[lo + size / 2];
    std::size_t mid = lo;
    double mass = 0.0;
    for (std::size_t i = lo; i < hi; ++i) {
      const std::uint64_t key = keys[i];
      if (key > pivot) {
        mass += static_cast<double>(nucleus_key_weight(key));
        keys[i] = keys[mid];
        keys[mid++] = key;
      }
    }
    if (mid == lo) {
      // The pivot is the range's largest key: take it alone as the next rank.
      std::size_t top = lo;
      for (std::size_t i = lo; i < hi; ++i) top = keys[i] > keys[top] ? i : top;
      std::swap(keys[lo], keys[top]);
      mid = lo + 1;
      mass = static_cast<double>(nucleus_key_weight(keys[lo]));
    }
    if (before + mass >= target) {
      hi = mid;
    } else {
      before += mass;
      lo = mid;
    }
  }
  std::sort(keys + lo, keys + hi, std::greater<>{});
  bool found = false;
  std::size_t cut = 0;  // keys[0, cut) are kept when found
  double below_cut = before;
  double at_cut = before;
  for (std::size_t i = lo; i < hi; ++i) {
    const double next = at_cut + static_cast<double>(nucleus_key_weight(keys[i]));
    if (next >= target) {
      found = true;
      cut = i + 1;
      below_cut = at_cut;
      at_cut = next;
      break;
    }
    at_cut = next;
  }

  // 3. Exact unless a sum lies within the rounding margin of the target (see above).
  const double margin = static_cast<double>(m + 64) * 0x1p-50 * total;
  if (found) {
    if (below_cut < target - margin && at_cut >= target + margin) {
      const auto last_kept = static_cast<std::int64_t>(keys[cut - 1]);
      for (std::size_t i = 0; i < n; ++i) {
        const bool drop = static_cast<std::int64_t>(nucleus_key(weights[i], i)) < last_kept;
        row[i] = drop ? neg_inf : row[i];
      }
      return true;
    }
  } else if (tau == 0.0f && hi == m && at_cut < target - margin) {
    return true;  // every weight > 0 was summed and the target is out of reach: keep every candidate
  }
  apply_top_p_sorted(row, weights, target, std::span<std::uint64_t>(ws.keys));
  return false;
}

} // namespace detail
} // namespace v0
} // namespace specdec
