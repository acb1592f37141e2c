//! Applies a request's sampling parameters to a row of logits: temperature -> top-k -> top-p -> min-p.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <span>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/sampling/argmax.hpp"
#include "specdec/sampling/detail/nucleus.hpp"
#include "specdec/sampling/sampling_params.hpp"
#include "specdec/sampling/softmax.hpp"

namespace specdec {
inline namespace v0 {

//! Turns target logits into the processed logits and the distribution p that a request samples from.
//! Holds the workspace that top-k and top-p need, so that a long-lived processor allocates nothing once
//! it has seen the largest vocabulary (one per thread; not thread-safe).
//!
//! Processed logits are `(logits - max) / temperature` with filtered tokens set to -inf: shifted so
//! that the largest is exactly 0, which changes no probability and keeps tiny temperatures from
//! overflowing. Greedy (temperature 0) gives 0 at the argmax (lowest id on ties) and -inf elsewhere.
//! Every filter keeps the argmax, so the processed row always has a finite entry.
class logits_processor {
public:
  //! Writes the processed logits of `logits` under `params` to `out` (same size; may be the same
  //! span as `logits`). Validates `params` and the row (NaN, +inf, empty and all -inf rows throw).
  //! O(V) expected: top-k and top-p both select rather than sort (top-p falls back to a sort only where
  //! a cumulative sum lies within rounding of the target). Top-k selects on the raw logits (it commutes
  //! with temperature), so its ties are exact.
  void process(std::span<const float> logits, const sampling_params& params, std::span<float> out) {
    params.validate();
    detail::expect_same_size(logits, out.size(), "out.size()");
    const argmax_result max = checked_argmax(logits);
    constexpr float neg_inf = -std::numeric_limits<float>::infinity();

    if (params.greedy()) {
      std::fill(out.begin(), out.end(), neg_inf);
      out[static_cast<std::size_t>(max.index)] = 0.0f;
      return;
    }
    // Top-k commutes with temperature; on the raw logits its ties are the model's, not rounding's.
    if (logits.data() != out.data()) std::copy(logits.begin(), logits.end(), out.begin());
    if (params.top_k != sampling_params::top_k_off) {
      apply_top_k(out, params.top_k);
    }
    const float temperature = params.temperature;
    for (float& x : out) {
      x = (x - max.value) / temperature;  // -inf stays -inf
    }
    if (params.top_p < sampling_params::top_p_off) {
      apply_top_p(out, params.top_p, static_cast<std::size_t>(max.index));
    }
    if (params.min_p > sampling_params::min_p_off) {
      apply_min_p(out, params.min_p);
    }
  }

  //! Writes the processed distribution p (softmax of the processed logits) to `probs`.
  void probabilities(std::span<const float> logits, const sampling_params& params, std::span<float> probs) {
    process(logits, params, probs);
    softmax(probs, probs);
  }

private:
  static constexpr float neg_inf = -std::numeric_limits<float>::infinity();

  // Keeps entries >= the k-th largest finite value; ties at that value survive.
  void apply_top_k(std::span<float> row, std::int32_t k) {
    values_.clear();
    for (const float x : row) {
      if (x != neg_inf) values_.push_back(x);
    }
    if (static_cast<std::size_t>(k) >= values_.size()) return;
    const auto kth = values_.begin() + (k - 1);
    std::nth_element(values_.begin(), kth, values_.end(), std::greater<>{});
    const float threshold = *kth;
    for (float& x : row) {
      if (x < threshold) x = neg_inf;
    }
  }

  // Keeps the shortest prefix, in (probability desc, id asc) order, whose mass reaches p: by selection
  // (detail/nucleus.hpp), with exactly the result of sorting.
  // Ties in processed value go to the argmax first, so top-p keeps it like every filter.
  void apply_top_p(std::span<float> row, float p, std::size_t argmax) { (void)detail::apply_top_p(row, p, nucleus_, argmax); }

  // p_i >= min_p * p_max  <=>  processed_i - processed_max >= log(min_p), and processed_max == 0.
  static void apply_min_p(std::span<float> row, float min_p) {
    const double threshold = std::log(static_cast<double>(min_p));
    for (float& x : row) {
      if (static_cast<double>(x) < threshold) x = neg_inf;
    }
  }

  std::vector<float> values_;           // top-k selection buffer
  detail::nucleus_workspace nucleus_;   // top-p weights and keys
};

} // namespace v0
} // namespace specdec
