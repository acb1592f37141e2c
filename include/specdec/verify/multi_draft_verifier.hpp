//! Multi-draft speculative sampling with replacement (SpecInfer: Miao et al. 2024, "SpecInfer:
//! Accelerating Large Language Model Serving with Tree-based Speculative Inference and Verification";
//! multi-step speculative sampling).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>

#include "specdec/core/random.hpp"
#include "specdec/draft/draft_scheme.hpp"
#include "specdec/verify/tree_verifier.hpp"
#include "specdec/verify/verify_state.hpp"

namespace specdec {
inline namespace v0 {

//! The multi-draft rule for children x^(1..k) of a node drawn i.i.d. from that node's q row (with
//! replacement; duplicate children are legal). With r^(1) = p: accept x^(j) iff
//! u_j <= r^(j)(x^(j)) / q(x^(j)); on rejection r^(j+1) = norm(max(0, r^(j) - q)). Descend into an
//! accepted child; if all are rejected, emit a sample of r^(k+1); at a leaf, a sample of p. Lossless
//! for i.i.d. children (and a sampled chain); children drawn *without* replacement are not i.i.d., and
//! this rule is then biased (TV 0.23 on p = (.5, .3, .2), q = (.1, .2, .7)): use `rrs_rule`.
//!
//! Random addresses: child c's uniform at (c, `accept`), the residual at (the node, `residual`), the
//! bonus at (the leaf, `bonus`). r is kept in double and renormalised after each rejection. Cost per
//! visited node: one pass of row statistics when its first draft is accepted; the full row, the q row
//! (checked to be a distribution) and O(V) per rejection otherwise.
struct multi_draft_rule {
  static constexpr bool needs_draft_probs = true;
  static constexpr duplicate_siblings siblings = duplicate_siblings::allowed;
  [[nodiscard]] static constexpr bool lossless_for(draft_scheme s) noexcept {
    return s == draft_scheme::sampled_with_replacement || s == draft_scheme::sampled_chain;
  }

  // r^(1) = p is read lazily for the first draft; the first rejection writes r out in full.
  node_decision decide(verify_state& s, target_row& target, std::int32_t node) const {
    const verify_input& in = s.input();
    const std::span<double> r = s.scratch_double(0);
    bool r_written = false;
    std::span<const float> q;
    for (std::int32_t child = s.first_child(node); child != -1; child = s.next_sibling(child)) {
      const token_id x = in.tree.token(child);
      const float qx = s.q_entry(node, x);
      const double u = uniform_double(in.address.at(static_cast<std::uint32_t>(child), purpose::accept));
      const double rx = r_written ? r[static_cast<std::size_t>(x)] : static_cast<double>(target.p(x));
      if (qx > 0.0f && u * static_cast<double>(qx) <= rx) return {child, no_token};
      if (!r_written) {
        const std::span<const float> p = target.full();
        std::copy(p.begin(), p.end(), r.begin());
        detail::normalise(r);
        q = s.checked_q_row(node);
        r_written = true;
      }
      for (std::size_t t = 0; t < q.size(); ++t) r[t] = std::max(0.0, r[t] - static_cast<double>(q[t]));
      detail::normalise(r);
    }
    return {-1, detail::sample_residual(s, r, target.full(), node)};
  }
};

//! The lossless multi-draft (with replacement) verifier.
using multi_draft_verifier = tree_verifier<multi_draft_rule>;

static_assert(verification_rule<multi_draft_rule>);
static_assert(verifier<multi_draft_verifier>);

} // namespace v0
} // namespace specdec
