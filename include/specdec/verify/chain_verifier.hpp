//! Speculative sampling on a chain of drafts (Leviathan, Kalman, Matias 2023, "Fast Inference from
//! Transformers via Speculative Decoding"; Chen et al. 2023, "Accelerating Large Language Model
//! Decoding with Speculative Sampling").
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>

#include "specdec/core/error.hpp"
#include "specdec/core/random.hpp"
#include "specdec/draft/draft_scheme.hpp"
#include "specdec/verify/tree_verifier.hpp"
#include "specdec/verify/verify_state.hpp"

namespace specdec {
inline namespace v0 {

//! The token-wise rule on a chain x_1..x_n drafted from q: walking down, accept x_i iff
//! u_i <= p_i(x_i) / q_i(x_i) (q_i(x_i) = 0 rejects), where p_i is the processed target distribution and
//! q_i the draft distribution at x_i's parent; at the first rejection emit a sample of
//! norm(max(0, p_i - q_i)); if all are accepted, emit a sample of p at the last node. The emitted tokens
//! are distributed exactly as the target's when each x_i was sampled from q_i (`sampled_chain`).
//!
//! Random addresses (docs/verification.md): the uniform for x_i at (node x_i, `accept`), the residual at
//! (the parent, `residual`), the bonus at (the last node, `bonus`); residual and bonus are exponential
//! races over the unnormalised weights. A residual whose mass rounds to zero falls back to p without
//! the rejected token.
//!
//! Preconditions (checked): the tree is a chain (`parent(i) == i - 1`); q has the target's vocabulary
//! and a row per node with a child (n rows for n drafts); entries it reads are probabilities, and a
//! row it reads in full sums to 1. Cost per accepted draft: one pass of row statistics; at a rejection
//! one full target row and one q row; at the end of the chain one full row for the bonus.
struct chain_rule {
  static constexpr bool needs_draft_probs = true;
  static constexpr duplicate_siblings siblings = duplicate_siblings::allowed;
  [[nodiscard]] static constexpr bool lossless_for(draft_scheme s) noexcept { return s == draft_scheme::sampled_chain; }

  static void check(const verify_input& in) {
    for (index_t i = 1; i < in.tree.size(); ++i) {
      expects_element(in.tree.parent(i) == i - 1, "parent", i, in.tree.parent(i),
                      "parent[i] == i - 1: speculative sampling verifies a chain (use a tree rule for trees)");
    }
  }

  node_decision decide(verify_state& s, target_row& target, std::int32_t node) const {
    const verify_input& in = s.input();
    const std::int32_t child = node + 1;
    const token_id x = in.tree.token(child);
    const float qx = s.q_entry(node, x);
    const double u = uniform_double(in.address.at(static_cast<std::uint32_t>(child), purpose::accept));
    // u <= p/q without dividing; q(x) = 0 rejects (x could not have been drawn from q).
    if (qx > 0.0f && u * static_cast<double>(qx) <= static_cast<double>(target.p(x))) return {child, no_token};

    const std::span<float> p = target.full();
    const std::span<const float> q = s.checked_q_row(node);
    const std::span<float> residual = s.scratch_float();
    for (std::size_t t = 0; t < p.size(); ++t) residual[t] = std::max(0.0f, p[t] - q[t]);
    // Fallback for a residual that rounded to zero: p without the rejected token.
    const float p_x = p[static_cast<std::size_t>(x)];
    p[static_cast<std::size_t>(x)] = 0.0f;
    const token_id correction =
        detail::sample_weights_or(residual, p, in.address.at(static_cast<std::uint32_t>(node), purpose::residual));
    p[static_cast<std::size_t>(x)] = p_x;
    return {-1, correction};
  }
};

//! The lossless chain verifier (speculative sampling).
using chain_verifier = tree_verifier<chain_rule>;

static_assert(verification_rule<chain_rule>);
static_assert(verifier<chain_verifier>);

} // namespace v0
} // namespace specdec
