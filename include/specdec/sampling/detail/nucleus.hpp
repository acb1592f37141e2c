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

//! The order top-p walks a row of processed logits in: value descending, then the preferred token (the
//! argmax of the raw logits), then token id ascending, as one integer. Ordering by the processed logit
//! rather than by its rounded exponential keeps ties to those of the logits (two logits a few ulp apart
//! can share one float weight); the preferred token breaks the ties that processing itself creates
//! (a huge temperature rounds logits just below the maximum to the same 0 as the maximum), so that
//! top-p, like every filter, keeps the argmax. Values are <= 0 (or -inf), so their magnitude bits
//! order them (-0 and +0 tie); the halves are complemented so that a larger key comes first. Keys of
//! distinct ids never tie, and every key is below 2^63.
[[nodiscard]] inline std::uint64_t nucleus_key(float value, std::size_t id, std::size_t preferred) noexcept {
  const std::uint32_t magnitude = std::bit_cast<std::uint32_t>(value) & 0x7fffffffu;
  const std::uint32_t rank = id == preferred ? 0xffffffffu : 0xfffffffeu - static_cast<std::uint32_t>(id);
  return (static_cast<std::uint64_t>(0x7fffffffu - magnitude) << 32) | rank;
}
//! The token id of a key.
[[nodiscard]] inline std::size_t nucleus_key_id(std::uint64_t key, std::size_t preferred) noexcept {
  const auto rank = static_cast<std::uint32_t>(key);
  return rank == 0xffffffffu ? preferred : static_cast<std::size_t>(0xfffffffeu - rank);
}
//! The processed logit of a key (as a non-positive float).
[[nodiscard]] inline float nucleus_key_value(std::uint64_t key) noexcept {
  return std::bit_cast<float>((0x7fffffffu - static_cast<std::uint32_t>(key >> 32)) | 0x80000000u);
}
//! The weight of a key's token: exp_nonpositive of its processed logit, as in `exp_and_sum`.
[[nodiscard]] inline float nucleus_key_weight(std::uint64_t key) noexcept {
  return exp_nonpositive(nucleus_key_value(key));
}

//! The weight of `count` keys, in double, with eight independent accumulators (no dependency chain).
//! The order is any fixed one: `apply_top_p` only uses such sums within its rounding margin.
[[nodiscard]] inline double sum_key_weights(const std::uint64_t* keys, std::size_t count) noexcept {
  double lane[8] = {};
  const std::size_t full = count - count % 8;
  for (std::size_t i = 0; i < full; i += 8) {
    for (std::size_t j = 0; j < 8; ++j) lane[j] += static_cast<double>(nucleus_key_weight(keys[i + j]));
  }
  double sum = 0.0;
  for (std::size_t i = full; i < count; ++i) sum += static_cast<double>(nucleus_key_weight(keys[i]));
  for (const double x : lane) sum += x;
  return sum;
}

//! The buffers of `apply_top_p`; they grow to the largest row seen and are then reused.
struct nucleus_workspace {
  std::vector<float> weights;
  std::vector<std::uint64_t> keys;
  std::vector<std::uint64_t> spare;
};

//! The sort definition of top-p, exactly: candidates (entries above -inf) sorted by `nucleus_key`
//! descending (processed logit descending, then `preferred`, then id ascending), the shortest prefix whose cumulative weight -- summed in double in that order --
//! reaches `target`; every other candidate is set to -inf. No change when the whole sum stays below.
//! O(V log V); the fallback of `apply_top_p` and the definition its fast path reproduces.
//! `scratch` holds at least `row.size()` keys.
inline void apply_top_p_sorted(std::span<float> row, double target, std::size_t preferred, std::span<std::uint64_t> scratch) {
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();
  std::size_t count = 0;
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (row[i] != neg_inf) scratch[count++] = nucleus_key(row[i], i, preferred);
  }
  const auto keys = scratch.first(count);
  std::sort(keys.begin(), keys.end(), std::greater<>{});
  double cumulative = 0.0;
  std::size_t kept = 0;
  while (kept < keys.size() && cumulative < target) cumulative += static_cast<double>(nucleus_key_weight(keys[kept++]));
  for (std::size_t j = kept; j < keys.size(); ++j) row[nucleus_key_id(keys[j], preferred)] = neg_inf;
}

//! Top-p over a row of processed logits (every entry <= 0 or -inf, at least one finite): with weights
//! w_i = exp_nonpositive(row_i), total T their sum (`exp_and_sum`), target = top_p * T in double and
//! candidates ordered by `nucleus_key` (processed logit descending, then `preferred` -- the argmax of
//! the raw logits; none by default -- then id ascending),
//! keeps exactly the candidates that `apply_top_p_sorted` keeps, in expected O(V):
//! 1. Rows of 4096 entries or more: a sorted sample of 1024 weights brackets the crossing of the
//!    cumulative weight with the target, and one pass keeps the keys above the bracket and inside it
//!    (a few percent of the row), summing their weights.
//!    Otherwise, or when the sample misjudged: candidates of weight below tau = (1 - top_p) T / (4 V)
//!    cannot be in the nucleus -- together they weigh at most V tau = (1 - top_p) T / 4, so the heavier
//!    ones alone reach the target with a margin far above any rounding (1 - top_p >= 2^-24 for a float
//!    top_p < 1, while V double additions round by less than V 2^-53 T; the filter is off above 2^26
//!    entries, where that would fail). The filter is a threshold on the processed logit, so that the
//!    survivors are a prefix of the order.
//! 2. Quickselect with pseudo-random pivots over the remaining keys, carrying the weight of everything
//!    ranked above the current range, narrows the cut to 32 keys, which are sorted.
//! 3. The cut is exact when the sums on both sides of it clear the target by more than the rounding
//!    that separates any two summation orders of at most V terms, (V + 64) 2^-50 T; otherwise
//!    (near-ties with the target: inputs built for it, or a chance of order 1e-11 per row) the sort
//!    definition runs instead. Either way the result is the sort definition's.
//! Pivots and samples come from a fixed-seed generator, so the work done is reproducible too.
//! Returns true when the selection decided (the fast path), false when the sort definition ran.
inline bool apply_top_p(std::span<float> row, float top_p, nucleus_workspace& ws,
                        std::size_t preferred = static_cast<std::size_t>(-1)) {
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();
  const std::size_t n = row.size();
  if (ws.weights.size() < n) ws.weights.resize(n);
  if (ws.keys.size() < n) ws.keys.resize(n);
  float* const weights = ws.weights.data();
  const double total = exp_and_sum(row, weights);
  const double target = static_cast<double>(top_p) * total;

  std::uint64_t state = 0x9e3779b97f4a7c15u;  // a fixed-seed LCG: pivots and samples, reproducibly
  const auto next_random = [&state](std::size_t range) {
    state = state * 6364136223846793005u + 1442695040888963407u;
    return static_cast<std::size_t>((state >> 33) % range);
  };
  // Quickselect state. Invariant: keys[0, lo) rank above keys[lo, hi), which rank above every other
  // candidate; `before` is the weight of keys[0, lo) and stays below the target; the cut lies in
  // [lo, hi) unless nothing reaches the target.
  std::uint64_t* keys = ws.keys.data();
  std::size_t m = 0;  // keys[0, m) hold every candidate that can still be kept
  std::size_t lo = 0;
  std::size_t hi = 0;
  double before = 0.0;
  bool complete = false;  // keys[0, m) are all the candidates of weight > 0 (nothing-reaches is decidable)

  // 1. Bracket (rows of 4096 or more): a sorted sample of 1024 weights estimates where the cumulative
  // weight crosses the target; one pass keeps the keys ranked above the bracket (A, all kept unless
  // the estimate was wrong) and those inside it (B), and only sums the rest. When the crossing is not
  // in A or B, the general path below runs.
  bool bracketed = false;
  if (n >= 4096) {
    constexpr std::size_t samples = 1024;
    constexpr std::size_t half_width = 64;  // ~4 standard deviations of a sample quantile's rank
    if (ws.spare.size() < n) ws.spare.resize(n);
    std::uint64_t* const sample = ws.spare.data();
    for (std::size_t k = 0; k < samples; ++k) {
      const std::size_t i = next_random(n);
      sample[k] = nucleus_key(row[i], i, preferred);
    }
    std::sort(sample, sample + samples, std::greater<>{});
    // The crossing of the sample's own cumulative share with top_p: a ratio estimate, free of the
    // noise of the sample's total.
    double sample_total = 0.0;
    for (std::size_t k = 0; k < samples; ++k) sample_total += static_cast<double>(nucleus_key_weight(sample[k]));
    const double sample_target = static_cast<double>(top_p) * sample_total;
    double cumulative = 0.0;
    std::size_t crossing = samples;
    for (std::size_t k = 0; k < samples; ++k) {
      cumulative += static_cast<double>(nucleus_key_weight(sample[k]));
      if (cumulative >= sample_target) {
        crossing = k;
        break;
      }
    }
    if (crossing < samples) {
      const std::uint64_t upper = crossing >= half_width ? sample[crossing - half_width] : ~std::uint64_t{0};
      const std::uint64_t lower = crossing + half_width < samples ? sample[crossing + half_width] : 0;
      std::uint64_t* const inside = ws.spare.data();  // the sample is no longer needed
      std::size_t above_count = 0;
      std::size_t inside_count = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t key = nucleus_key(row[i], i, preferred);
        const bool is_above = key > upper;
        const bool is_inside = (key <= upper) & (key >= lower);
        keys[above_count] = key;
        inside[inside_count] = key;
        above_count += static_cast<std::size_t>(is_above);
        inside_count += static_cast<std::size_t>(is_inside);
      }
      const double above_mass = sum_key_weights(keys, above_count);
      const double inside_mass = sum_key_weights(inside, inside_count);
      if (above_mass >= target) {
        m = hi = above_count;
        bracketed = true;
      } else if (above_mass + inside_mass >= target) {
        std::copy(inside, inside + inside_count, keys + above_count);
        m = hi = above_count + inside_count;
        lo = above_count;
        before = above_mass;
        bracketed = true;
      }
    }
  }

  // 1'. General path: candidates whose processed logit is <= theta = log(tau) - 2^-10 cannot be in the
  // nucleus (see above). A threshold on the value keeps the survivors a prefix of the order, and each
  // excluded weight is below tau: exp_nonpositive is within a few ulp of e^x (relative 1e-6 covers it)
  // and e^theta (1 + 1e-6) < tau; theta as a float is rounded down, which only keeps more keys.
  if (!bracketed) {
    float theta = -std::numeric_limits<float>::infinity();
    if (n <= (std::size_t{1} << 26)) {
      const double tau = (1.0 - static_cast<double>(top_p)) * total / (4.0 * static_cast<double>(n));
      const double theta_exact = std::log(tau) - 0x1p-10;
      theta = static_cast<float>(theta_exact);
      if (static_cast<double>(theta) > theta_exact) theta = std::nextafter(theta, -std::numeric_limits<float>::infinity());
    }
    for (std::size_t i = 0; i < n; ++i) {
      keys[m] = nucleus_key(row[i], i, preferred);
      m += static_cast<std::size_t>(row[i] > theta);  // -inf entries never survive
    }
    lo = 0;
    hi = m;
    before = 0.0;
    complete = theta == -std::numeric_limits<float>::infinity();
  }

  // 2. Quickselect on [lo, hi): pivots are the median of three pseudo-random keys; the partition is
  // branch-free (its outcome is a coin flip for the branch predictor). Distinct keys: unless the pivot
  // is the range's largest (handled apart), both sides are non-empty, so every round shrinks the range.
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
      const std::uint64_t other = keys[mid];
      const bool greater = key > pivot;
      keys[i] = greater ? other : key;
      keys[mid] = greater ? key : other;
      mid += static_cast<std::size_t>(greater);
    }
    mass = sum_key_weights(keys + lo, mid - lo);
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
  const double margin = static_cast<double>(n + 64) * 0x1p-50 * total;
  if (found) {
    if (below_cut < target - margin && at_cut >= target + margin) {
      // Drop every key ranked below the last kept: lighter, or as heavy with a larger id.
      // On the bits of the processed logits (magnitudes, as in the keys); branch-free, so the loop
      // vectorises.
      const auto last_magnitude = static_cast<std::int32_t>(0x7fffffffu - static_cast<std::uint32_t>(keys[cut - 1] >> 32));
      const auto last_rank = static_cast<std::uint32_t>(keys[cut - 1]);
      const auto neg_inf_bits = std::bit_cast<std::int32_t>(neg_inf);
      // The loop ranks every id plainly (so that it vectorises); the preferred token is redone after it.
      const float preferred_value = preferred < n ? row[preferred] : 0.0f;
      for (std::size_t i = 0; i < n; ++i) {
        const std::int32_t bits = std::bit_cast<std::int32_t>(row[i]);
        const std::int32_t magnitude = bits & 0x7fffffff;
        const std::uint32_t rank = 0xfffffffeu - static_cast<std::uint32_t>(i);
        const std::int32_t drop =
            -static_cast<std::int32_t>((magnitude > last_magnitude) | ((magnitude == last_magnitude) & (rank < last_rank)));
        row[i] = std::bit_cast<float>((bits & ~drop) | (neg_inf_bits & drop));
      }
      if (preferred < n) {
        row[preferred] = nucleus_key(preferred_value, preferred, preferred) >= keys[cut - 1] ? preferred_value : neg_inf;
      }
      return true;
    }
  } else if (complete && hi == m && at_cut < target - margin) {
    return true;  // every weight > 0 was summed and the target is out of reach: keep every candidate
  }
  apply_top_p_sorted(row, target, preferred, std::span<std::uint64_t>(ws.keys));
  return false;
}

} // namespace detail
} // namespace v0
} // namespace specdec
