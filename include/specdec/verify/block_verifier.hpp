//! Block verification of a chain of drafts (Sun, Mendlovic, Leviathan, Aharoni, Beirami, Ro, Suresh
//! 2024, "Block Verification Accelerates Speculative Decoding"; vLLM's block rejection sampler).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/core/random.hpp"
#include "specdec/draft/draft_scheme.hpp"
#include "specdec/verify/chain_verifier.hpp"
#include "specdec/verify/tree_verifier.hpp"
#include "specdec/verify/verify_state.hpp"

namespace specdec {
inline namespace v0 {

//! The block rule on a chain x_1..x_n sampled from q: it judges prefixes jointly instead of token by
//! token. With p_i, q_i the processed target and the draft distribution at chain node i (after x_1..x_i):
//!
//!     w_0 = 1,  w_i = min(w_{i-1} * p_{i-1}(x_i) / q_{i-1}(x_i), 1)
//!     Z_i = sum_x max(w_i * p_i(x) - q_i(x), 0)
//!     h_i = Z_i / (Z_i + 1 - w_i)  for i < n  (1 when the denominator is 0),   h_n = w_n
//!
//! and with independent uniforms u_i it accepts x_1..x_tau for tau = max{i : u_i <= h_i} (0 if none),
//! then emits a sample of p_n if tau = n, else a sample of norm(max(w_tau * p_tau - q_tau, 0)). The
//! emitted tokens are distributed exactly as the target's (the paper's Theorem 1; tests/verify prove it
//! by exact enumeration) and the expected number of accepted drafts is never below the token-wise rule's
//! (Theorem 2). At n = 1 it is the token-wise rule.
//!
//! Random addresses: u_i at (node i, `accept`), the correction at (node tau, `residual`), the bonus at
//! (node n, `bonus`). Cost: every target and q row of the chain is read in full (Z_i needs them), unless
//! a weight w_i reaches 0, after which nothing further can be accepted and the walk stops reading.
//! A correction whose residual rounds to nothing falls back to p_tau without x_{tau+1}.
class block_rule {
public:
  static constexpr bool needs_draft_probs = true;
  static constexpr duplicate_siblings siblings = duplicate_siblings::allowed;
  [[nodiscard]] static constexpr bool lossless_for(draft_scheme s) noexcept { return s == draft_scheme::sampled_chain; }

  static void check(const verify_input& in) { chain_rule::check(in); }

  void walk(verify_state& s) {
    const verify_input& in = s.input();
    const auto n = static_cast<std::int32_t>(in.tree.size() - 1);
    weight_.assign(static_cast<std::size_t>(n) + 1, 0.0);
    threshold_.assign(static_cast<std::size_t>(n) + 1, 0.0);
    weight_[0] = 1.0;
    std::int32_t reached = n;  // rows past a zero weight are never read
    for (std::int32_t i = 0; i < n; ++i) {
      target_row& p = s.target(i);
      if (i > 0) threshold_[static_cast<std::size_t>(i)] = block_threshold(s, p, i, weight_[static_cast<std::size_t>(i)]);
      const token_id x = in.tree.token(i + 1);
      const double qx = static_cast<double>(s.q_entry(i, x));
      const double ratio = qx > 0.0 ? static_cast<double>(p.p(x)) / qx : 0.0;
      weight_[static_cast<std::size_t>(i) + 1] = std::min(weight_[static_cast<std::size_t>(i)] * ratio, 1.0);
      if (weight_[static_cast<std::size_t>(i) + 1] == 0.0) {
        reached = i + 1;  // h_j = 0 for every j > i: nothing past node i can be accepted
        break;
      }
    }
    if (reached == n) threshold_[static_cast<std::size_t>(n)] = weight_[static_cast<std::size_t>(n)];

    std::int32_t tau = 0;
    for (std::int32_t i = 1; i <= n; ++i) {
      const double u = uniform_double(in.address.at(static_cast<std::uint32_t>(i), purpose::accept));
      if (u <= threshold_[static_cast<std::size_t>(i)]) tau = i;
    }
    for (std::int32_t i = 1; i <= tau; ++i) {
      if (!s.accept(i, detail::log_probability(s.target(i - 1).p(in.tree.token(i))))) return;
    }
    target_row& p = s.target(tau);
    if (tau == n) {
      const token_id bonus = sample_exponential_race(std::span<const float>(p.full()),
                                                     in.address.at(static_cast<std::uint32_t>(n), purpose::bonus));
      s.finish(bonus, detail::log_probability(p.p(bonus)));
      return;
    }
    s.reject_all();
    const std::span<float> full = p.full();
    const std::span<const float> q = s.checked_q_row(tau);
    const std::span<double> residual = s.scratch_double(0);
    const double w = weight_[static_cast<std::size_t>(tau)];
    for (std::size_t t = 0; t < full.size(); ++t) {
      residual[t] = std::max(0.0, w * static_cast<double>(full[t]) - static_cast<double>(q[t]));
    }
    const token_id correction = detail::sample_residual(s, residual, full, tau);
    s.finish(correction, detail::log_probability(p.p(correction)));
  }

private:
  // h_i from the residual mass Z_i = sum_x max(w_i p_i(x) - q_i(x), 0) at chain node i.
  static double block_threshold(verify_state& s, target_row& p, std::int32_t i, double w) {
    const std::span<const float> full = p.full();
    const std::span<const float> q = s.checked_q_row(i);
    double z = 0.0;
    for (std::size_t t = 0; t < full.size(); ++t) {
      z += std::max(0.0, w * static_cast<double>(full[t]) - static_cast<double>(q[t]));
    }
    const double denominator = z + 1.0 - w;
    return denominator > 0.0 ? z / denominator : 1.0;
  }

  std::vector<double> weight_;     // w_i
  std::vector<double> threshold_;  // h_i (index 0 unused)
};

//! The lossless block verifier for a sampled chain.
using block_verifier = tree_verifier<block_rule>;

static_assert(verification_rule<block_rule>);
static_assert(verifier<block_verifier>);

} // namespace v0
} // namespace specdec
