//! A request's sampling parameters: temperature, top-k, top-p and min-p, each with an explicit "off".
#pragma once

#include <cmath>
#include <cstdint>

#include "specdec/core/error.hpp"

namespace specdec {
inline namespace v0 {

//! How a request turns target logits into the distribution p it samples from. Processing runs in the
//! fixed order temperature -> top-k -> top-p -> min-p (the order of HF transformers' warpers).
//!
//! Each filter has a named "off" value; engines disagree on whether 0 or -1 disables top-k, so here 0
//! is rejected rather than silently meaning "keep nothing" or "keep everything".
struct sampling_params {
  static constexpr std::int32_t top_k_off = -1;  //!< top_k value that disables top-k
  static constexpr float top_p_off = 1.0f;       //!< top_p value that disables top-p
  static constexpr float min_p_off = 0.0f;       //!< min_p value that disables min-p

  //! Divides the logits. 0 selects greedy decoding: p is one-hot at the argmax (ties to the lowest id)
  //! and every verifier applies its greedy rule. Finite, >= 0.
  float temperature = 1.0f;
  //! Keeps the tokens whose logit is >= the k-th largest (ties at the k-th value are all kept).
  //! >= 1, or `top_k_off`.
  std::int32_t top_k = top_k_off;
  //! Nucleus: keeps the smallest set, by probability descending then token id ascending, whose mass is
  //! >= top_p, the cumulative sum taken in double in that order. Precisely: candidates are ordered by
  //! processed logit descending (the probability order, without the ties that rounding probabilities
  //! to float would add), then the argmax of the raw logits (which breaks ties that processing creates),
  //! then token id ascending; the weights are the processed probabilities before
  //! normalisation, w_i = exp(processed_i) as the row kernels compute it in float
  //! (`detail::exp_nonpositive`); the prefix stops at the first cumulative sum >= top_p * T, T the
  //! double sum of all w_i in the row kernels' fixed lane order (the softmax denominator). Found by
  //! selection in expected O(V), with exactly the result of that sort. In (0, 1]; 1 is off.
  float top_p = top_p_off;
  //! Keeps the tokens whose probability is >= min_p times the largest probability. In [0, 1]; 0 is off.
  float min_p = min_p_off;

  //! True when temperature is 0: p is one-hot at the argmax.
  [[nodiscard]] constexpr bool greedy() const noexcept { return temperature == 0.0f; }

  //! Parameters for greedy decoding.
  [[nodiscard]] static constexpr sampling_params make_greedy() noexcept {
    sampling_params params;
    params.temperature = 0.0f;
    return params;
  }

  //! Throws `specdec::invalid_argument` naming the first field outside its documented range.
  void validate() const {
    expects(std::isfinite(temperature) && temperature >= 0.0f, "temperature", temperature,
            "finite temperature >= 0 (0 means greedy)");
    expects(top_k != 0, "top_k", top_k, "top_k != 0 (use sampling_params::top_k_off = -1 to disable top-k)");
    expects(top_k >= 1 || top_k == top_k_off, "top_k", top_k, "top_k >= 1 or top_k == top_k_off (-1)");
    expects(top_p > 0.0f && top_p <= 1.0f, "top_p", top_p, "0 < top_p <= 1 (1 disables top-p)");
    expects(min_p >= 0.0f && min_p <= 1.0f, "min_p", min_p, "0 <= min_p <= 1 (0 disables min-p)");
  }
};

} // namespace v0
} // namespace specdec
