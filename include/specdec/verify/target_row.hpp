//! The processed target distribution p at one tree row, computed no further than a decision needs.
#pragma once

#include <span>
#include <vector>

#include "specdec/core/types.hpp"
#include "specdec/sampling/argmax.hpp"
#include "specdec/sampling/detail/row_math.hpp"
#include "specdec/sampling/logits_processor.hpp"
#include "specdec/sampling/sampling_params.hpp"

namespace specdec {
inline namespace v0 {

//! p, the request's processed target distribution at one tree row, materialised lazily. Without
//! top-k/top-p/min-p an acceptance decision needs p(x) for a few tokens only, and
//! p(x) = exp((l_x - max) / T) / Z follows from one pass of row statistics (the max and Z); the full row
//! is written only when a residual or bonus is sampled. With a filter the row is processed at once.
//! `p(x)` and `full()[x]` are bit-identical: the same float operations in the same order.
class target_row {
public:
  //! Loads `logits` (one row of target logits) under `params` (temperature > 0), validating the row;
  //! `name` names the row in errors.
  void load(std::span<const float> logits, const sampling_params& params, logits_processor& processor,
            std::string_view name) {
    logits_ = logits;
    params_ = params;
    processor_ = &processor;
    materialised_ = false;
    const bool filtered = params_.top_k != sampling_params::top_k_off || params_.top_p < sampling_params::top_p_off ||
                          params_.min_p > sampling_params::min_p_off;
    max_ = checked_argmax(logits_, name).value;
    if (filtered) {
      full();
      return;
    }
    inv_sum_ = 1.0 / detail::sum_exp(logits_, max_, params_.temperature);
  }

  //! p(x) for a token id `x` of the row (unchecked).
  [[nodiscard]] float p(token_id x) const {
    if (materialised_) return probs_[static_cast<std::size_t>(x)];
    const float processed = (logits_[static_cast<std::size_t>(x)] - max_) / params_.temperature;
    return static_cast<float>(static_cast<double>(detail::exp_nonpositive(processed)) * inv_sum_);
  }

  //! The whole row of p (valid until the next `load`).
  std::span<float> full() {
    if (!materialised_) {
      probs_.resize(logits_.size());
      processor_->probabilities(logits_, params_, probs_);
      materialised_ = true;
    }
    return probs_;
  }

  //! The row's vocabulary size.
  [[nodiscard]] std::size_t size() const noexcept { return logits_.size(); }

private:
  std::span<const float> logits_;
  sampling_params params_;
  logits_processor* processor_ = nullptr;
  std::vector<float> probs_;
  float max_ = 0.0f;
  double inv_sum_ = 0.0;
  bool materialised_ = false;
};

} // namespace v0
} // namespace specdec
