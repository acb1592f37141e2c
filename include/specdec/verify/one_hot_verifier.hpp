//! Tree verification for deterministic ("one-hot", target-only) drafts: top-k children, n-gram and
//! prompt-lookup drafts (the rule in the EAGLE-2/3 reference code and SGLang's tree verification).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "specdec/core/random.hpp"
#include "specdec/draft/draft_scheme.hpp"
#include "specdec/verify/tree_verifier.hpp"
#include "specdec/verify/verify_state.hpp"

namespace specdec {
inline namespace v0 {

//! The one-hot rule. At the current node, with residual r = p (the processed target distribution
//! there), try the children in rank order: accept child x with probability r(x) / sum(r); on rejection
//! set r(x) = 0; descend into an accepted child; if every child is rejected, emit a sample of r. This is
//! "sample y ~ p; if y is a child, descend" with the children tried first, so the emitted tokens are
//! distributed exactly as the target's whatever chose the children, as long as the choice did not
//! look at the target's random draws: lossless for every drafting scheme (sampled drafts lose
//! acceptance under it, never correctness). Duplicate children are legal: a repeat has r(x) = 0 by
//! then and is rejected.
//!
//! Random addresses: the uniform for child c at (c, `accept`); the residual at (the node, `residual`);
//! the bonus at a leaf at (the leaf, `bonus`). q is not read. r is kept implicitly (the rejected tokens
//! and the remaining mass, in double); renormalisation is the test u * mass <= r(x); a residual that
//! rounds to no positive entry falls back to p. Cost per visited node: one pass of row statistics
//! (p(x) of the children needs no full row unless top-k/top-p/min-p is on); one full row only for the
//! final residual or bonus.
class one_hot_rule {
public:
  static constexpr bool needs_draft_probs = false;
  static constexpr duplicate_siblings siblings = duplicate_siblings::allowed;
  [[nodiscard]] static constexpr bool lossless_for(draft_scheme) noexcept { return true; }

  node_decision decide(verify_state& s, target_row& target, std::int32_t node) {
    const verify_input& in = s.input();
    tried_.clear();
    double mass = 1.0;
    for (std::int32_t child = s.first_child(node); child != -1; child = s.next_sibling(child)) {
      const token_id x = in.tree.token(child);
      const bool zeroed = std::find(tried_.begin(), tried_.end(), x) != tried_.end();
      const double rx = zeroed ? 0.0 : static_cast<double>(target.p(x));
      const double u = uniform_double(in.address.at(static_cast<std::uint32_t>(child), purpose::accept));
      if (rx > 0.0 && u * mass <= rx) return {child, no_token};
      if (!zeroed) {
        mass = std::max(0.0, mass - rx);
        tried_.push_back(x);
      }
    }
    const std::span<float> p = target.full();
    const std::span<float> r = s.scratch_float();
    std::copy(p.begin(), p.end(), r.begin());
    for (const token_id x : tried_) r[static_cast<std::size_t>(x)] = 0.0f;
    return {-1, detail::sample_weights_or(r, p, in.address.at(static_cast<std::uint32_t>(node), purpose::residual))};
  }

private:
  std::vector<token_id> tried_;  // the rejected children's tokens at the current node
};

//! The lossless one-hot tree verifier.
using one_hot_verifier = tree_verifier<one_hot_rule>;

static_assert(verification_rule<one_hot_rule>);
static_assert(verifier<one_hot_verifier>);

} // namespace v0
} // namespace specdec
