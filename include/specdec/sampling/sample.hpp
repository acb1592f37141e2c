//! Sampling a token from a row without prefix sums: Gumbel-max over logits and the exponential race
//! over unnormalised weights, both driven by the library's Philox addresses.
#pragma once

#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "specdec/core/error.hpp"
#include "specdec/core/philox.hpp"
#include "specdec/core/random.hpp"
#include "specdec/core/types.hpp"
#include "specdec/sampling/argmax.hpp"

namespace specdec {
inline namespace v0 {

//! Samples token i with probability softmax(logits)_i as argmax_i (logits_i + G_i), G_i a standard
//! Gumbel variate from the uniform of entry i at `address` (word i % 4 of block i / 4). -inf entries
//! are never chosen; ties go to the lowest id. Order-independent: a kernel that splits the row across
//! threads and reduces by (score, id) returns the same token. Validates the row as `checked_argmax`
//! does. O(V): one read of the row and one Philox block per 4 entries.
[[nodiscard]] inline token_id sample_gumbel_max(std::span<const float> logits, const random_address& address,
                                                std::string_view name = "logits") {
  expects(!logits.empty(), name, "an empty row", "at least one entry");
  constexpr float inf = std::numeric_limits<float>::infinity();
  constexpr float neg_inf = -inf;
  token_id best = no_token;
  float best_score = neg_inf;
  const std::size_t size = logits.size();
  for (std::size_t base = 0; base < size; base += 4) {
    const philox_words words = address.block(static_cast<std::uint32_t>(base >> 2));
    for (std::size_t j = 0; j < 4 && base + j < size; ++j) {
      const float logit = logits[base + j];
      if (!(logit < inf)) [[unlikely]] {  // NaN or +inf
        expects_element(false, name, base + j, logit, "finite or -inf logits");
      }
      if (logit == neg_inf) continue;
      const float score = logit + gumbel_from_uniform(uniform_float(words.w[j]));
      if (best == no_token || score > best_score) {
        best = static_cast<token_id>(base + j);
        best_score = score;
      }
    }
  }
  expects(best != no_token, name, "a row of all -inf", "at least one finite logit");
  return best;
}

//! Samples token i with probability w_i / sum(w) as argmax_i (w_i / E_i), E_i an Exp(1) variate from
//! the uniform of entry i at `address` -- the exponential race, which needs no normalisation, so a
//! residual max(0, p - q) is sampled as it stands. Zero weights are never chosen; ties go to the lowest
//! id. With the same address it picks the same token as `sample_gumbel_max` over log(w), up to float
//! rounding. Weights must be finite and >= 0 with at least one > 0 (`specdec::invalid_argument`
//! otherwise, naming `name[i]`). O(V).
template <std::floating_point T>
[[nodiscard]] token_id sample_exponential_race(std::span<const T> weights, const random_address& address,
                                               std::string_view name = "weights") {
  expects(!weights.empty(), name, "an empty row", "at least one entry");
  token_id best = no_token;
  T best_score = 0;
  const std::size_t size = weights.size();
  for (std::size_t base = 0; base < size; base += 4) {
    const philox_words words = address.block(static_cast<std::uint32_t>(base >> 2));
    for (std::size_t j = 0; j < 4 && base + j < size; ++j) {
      const T w = weights[base + j];
      if (!(w >= 0 && w < std::numeric_limits<T>::infinity())) [[unlikely]] {
        expects_element(false, name, base + j, w, "finite weights >= 0");
      }
      if (w == 0) continue;
      const T score = w / static_cast<T>(exponential_from_uniform(uniform_float(words.w[j])));
      if (best == no_token || score > best_score) {
        best = static_cast<token_id>(base + j);
        best_score = score;
      }
    }
  }
  expects(best != no_token, name, "all zero", "at least one weight > 0");
  return best;
}

//! Convenience overload for `std::vector` and other contiguous ranges of float or double.
template <class Range, class T = std::remove_cvref_t<decltype(*std::data(std::declval<const Range&>()))>>
  requires std::floating_point<T>
[[nodiscard]] token_id sample_exponential_race(const Range& weights, const random_address& address,
                                               std::string_view name = "weights") {
  return sample_exponential_race(std::span<const T>(std::data(weights), std::size(weights)), address, name);
}

} // namespace v0
} // namespace specdec
