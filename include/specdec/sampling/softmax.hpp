//! Numerically stable softmax, log-softmax and logsumexp over a row of float logits. The exponentials
//! are `detail::exp_nonpositive` (about 2 ulp, vectorised), the sums in double.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>

#include "specdec/core/error.hpp"
#include "specdec/sampling/argmax.hpp"
#include "specdec/sampling/detail/row_math.hpp"

namespace specdec {
inline namespace v0 {

namespace detail {

// sum_i exp(x_i - max), accumulated in double: with V = 128k terms a float sum loses up to ~17 bits.
// exp(-inf) == 0 masks an entry.
[[nodiscard]] inline double sum_exp_shifted(std::span<const float> logits, float max) noexcept {
  return sum_exp(logits, max, 1.0f);
}

inline void expect_same_size(std::span<const float> logits, std::size_t out_size, std::string_view out_name) {
  expects(out_size == logits.size(), out_name, out_size, "the same size as logits");
}

} // namespace detail

//! log(sum_i exp(logits_i)) in double, shifted by the maximum so that no term overflows. Validates the
//! row as `checked_argmax` does (NaN, +inf, empty and all -inf rows are errors). Two reads of the row.
[[nodiscard]] inline double logsumexp(std::span<const float> logits) {
  const float max = checked_argmax(logits).value;
  return static_cast<double>(max) + std::log(detail::sum_exp_shifted(logits, max));
}

//! probs_i = exp(logits_i - logsumexp(logits)); -inf logits give exactly 0. Validates the row;
//! `probs` must have the row's size and may alias `logits`' storage only if it is the same span.
inline void softmax(std::span<const float> logits, std::span<float> probs) {
  detail::expect_same_size(logits, probs.size(), "probs.size()");
  const float max = checked_argmax(logits).value;
  const double inv_sum = 1.0 / detail::sum_exp_shifted(logits, max);
  for (std::size_t i = 0; i < logits.size(); ++i) {
    probs[i] = static_cast<float>(static_cast<double>(detail::exp_nonpositive(logits[i] - max)) * inv_sum);
  }
}

//! out_i = logits_i - logsumexp(logits); -inf stays -inf. Validates the row; `out` must have the
//! row's size.
inline void log_softmax(std::span<const float> logits, std::span<float> out) {
  detail::expect_same_size(logits, out.size(), "out.size()");
  const double lse = logsumexp(logits);
  for (std::size_t i = 0; i < logits.size(); ++i) {
    out[i] = static_cast<float>(static_cast<double>(logits[i]) - lse);
  }
}

} // namespace v0
} // namespace specdec
