//! Speculative sampling on a chain of drafts (Leviathan, Kalman, Matias 2023, "Fast Inference from
//! Transformers via Speculative Decoding"; Chen et al. 2023, "Accelerating Large Language Model
//! Decoding with Speculative Sampling").
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>

#include "specdec/core/error.hpp"
#include "specdec/core/random.hpp"
#include "specdec/verify/detail/verify_workspace.hpp"
#include "specdec/verify/verifier.hpp"
#include "specdec/verify/verify_input.hpp"
#include "specdec/verify/verify_result.hpp"

namespace specdec {
inline namespace v0 {

//! Verifies a chain x_1..x_n drafted from q: walking down, accept x_i iff u_i <= p_i(x_i) / q_i(x_i)
//! (q_i(x_i) = 0 rejects), where p_i is the processed target distribution and q_i the draft
//! distribution at x_i's parent; at the first rejection emit a sample of norm(max(0, p_i - q_i)); if all
//! are accepted, emit a sample of p at the last node. The emitted tokens are distributed exactly as
//! the target model's (lossless). Temperature 0 selects the greedy rule.
//!
//! Random addresses (docs/verification.md): the uniform for x_i at (node x_i, `purpose::accept`), the
//! residual at (the parent, `purpose::residual`), the bonus at (the last node, `purpose::bonus`);
//! residual and bonus are exponential races over the unnormalised weights.
//!
//! Preconditions (checked, `specdec::invalid_argument`): the tree is a chain (`parent(i) == i - 1`),
//! q is given with the target's vocabulary and one row per node; rows that a decision reads are
//! validated as it reads them. A residual whose mass rounds to zero falls back to p without the
//! rejected token. Cost per accepted draft: one pass of row statistics (max and sum of exponentials;
//! the full processed row only with top-k/top-p/min-p); at the end, one full row and one q row for the
//! residual, or one full row for the bonus. Not thread-safe (holds its workspace): one verifier per thread.
//!
//! `Fault` injects a deliberate error for the conformance kit's meta-tests (supported here:
//! resample_from_target, child_row, reuse_uniform); leave it at `none`.
template <detail::injected_fault Fault = detail::injected_fault::none>
class basic_chain_verifier {
public:
  void verify(const verify_input& in, verify_result& out) {
    const auto is_chain = [&] {
      for (index_t i = 1; i < in.tree.size(); ++i) {
        expects_element(in.tree.parent(i) == i - 1, "parent", i, in.tree.parent(i),
                        "parent[i] == i - 1: speculative sampling verifies a chain (use a tree rule for trees)");
      }
    };
    detail::verify_with_rule(
        in, ws_, out, duplicate_siblings::allowed, /*needs_q=*/true,
        [&](detail::target_row& p, std::int32_t node) { return decide(in, p, node); }, is_chain,
        Fault == detail::injected_fault::child_row);
  }

private:
  // The rule at a chain node: accept its child x iff u <= p(x) / q(x), else sample max(0, p - q).
  detail::node_decision decide(const verify_input& in, detail::target_row& target, std::int32_t node) {
    using detail::injected_fault;
    const std::int32_t child = node + 1;
    const token_id x = in.tree.token(child);
    const float qx = in.draft_probs(node, x);
    detail::validate_probability(qx, node, x);
    const std::uint32_t decision_node = Fault == injected_fault::reuse_uniform ? 0u : static_cast<std::uint32_t>(child);
    const double u = uniform_double(in.address.at(decision_node, purpose::accept));
    // u <= p/q without dividing; q(x) = 0 rejects (x could not have been drawn from q).
    if (qx > 0.0f && u * static_cast<double>(qx) <= static_cast<double>(target.p(x))) return {child, no_token};

    const std::span<float> p = target.full();
    const std::span<float> residual = ws_.residual(p.size());
    const std::span<const float> q = in.draft_probs.row(node);
    for (std::size_t t = 0; t < p.size(); ++t) {
      detail::validate_probability(q[t], node, static_cast<token_id>(t));
      residual[t] = Fault == injected_fault::resample_from_target ? p[t] : std::max(0.0f, p[t] - q[t]);
    }
    // Fallback for a residual that rounded to zero: p without the rejected token.
    const float p_x = p[static_cast<std::size_t>(x)];
    p[static_cast<std::size_t>(x)] = 0.0f;
    const token_id correction = detail::sample_weights_or(residual, p, in.address.at(static_cast<std::uint32_t>(node), purpose::residual));
    p[static_cast<std::size_t>(x)] = p_x;
    return {-1, correction};
  }

  detail::verify_workspace ws_;
};

//! The lossless chain verifier.
using chain_verifier = basic_chain_verifier<>;

static_assert(verifier<chain_verifier>);

} // namespace v0
} // namespace specdec
