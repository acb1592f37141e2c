//! Recursive rejection sampling for drafts drawn without replacement (Sequoia: Chen et al. 2024,
//! "Sequoia: Scalable, Robust, and Hardware-aware Speculative Decoding"; the rule of the EAGLE-1 and
//! Clover-2 reference code).
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

//! The rule for children drawn sequentially *without* replacement from their node's q row:
//! q^(1) = q, q^(j+1) = norm(q^(j) with x^(j) zeroed). With r^(1) = p: accept x^(j) iff
//! u_j <= r^(j)(x^(j)) / q^(j)(x^(j)); on rejection r^(j+1) = norm(max(0, r^(j) - q^(j))) -- subtracting
//! the distribution x^(j) was drawn *from*, before x^(j) is zeroed. Descend into an accepted child; if
//! all are rejected, emit a sample of r^(k+1); at a leaf, a sample of p. Lossless for that scheme (and a
//! sampled chain). Duplicate children are invalid (`specdec::invalid_argument`), so trees drawn with
//! replacement are refused whether or not a duplicate occurs: pair those with `multi_draft_rule`.
//!
//! Exact check (tests/verify): p = (.5, .3, .2), q = (.1, .2, .7), two children: the emitted
//! distribution is exactly p; subtracting the already-zeroed q instead gives (.27, .20, .53).
//!
//! Random addresses as `multi_draft_rule`. Cost per visited node: one pass of row statistics when its
//! first draft is accepted; the full row, the q row and O(V) per rejection otherwise.
struct rrs_rule {
  static constexpr bool needs_draft_probs = true;
  static constexpr duplicate_siblings siblings = duplicate_siblings::forbidden;
  [[nodiscard]] static constexpr bool lossless_for(draft_scheme s) noexcept {
    return s == draft_scheme::sampled_without_replacement || s == draft_scheme::sampled_chain;
  }

  // r^(1) = p and q^(1) = q are read lazily for the first draft; the first rejection writes both out.
  node_decision decide(verify_state& s, target_row& target, std::int32_t node) const {
    const verify_input& in = s.input();
    const std::span<double> r = s.scratch_double(0);
    const std::span<double> q = s.scratch_double(1);
    bool written = false;
    for (std::int32_t child = s.first_child(node); child != -1; child = s.next_sibling(child)) {
      const auto x = static_cast<std::size_t>(in.tree.token(child));
      const double u = uniform_double(in.address.at(static_cast<std::uint32_t>(child), purpose::accept));
      const double qx = written ? q[x] : static_cast<double>(s.q_entry(node, static_cast<token_id>(x)));
      const double rx = written ? r[x] : static_cast<double>(target.p(static_cast<token_id>(x)));
      if (qx > 0.0 && u * qx <= rx) return {child, no_token};
      if (!written) {
        const std::span<const float> p = target.full();
        std::copy(p.begin(), p.end(), r.begin());
        detail::normalise(r);
        const std::span<const float> q_row = s.checked_q_row(node);
        std::copy(q_row.begin(), q_row.end(), q.begin());
        detail::normalise(q);
        written = true;
      }
      for (std::size_t t = 0; t < q.size(); ++t) r[t] = std::max(0.0, r[t] - q[t]);
      detail::normalise(r);
      q[x] = 0.0;  // the next draft was drawn without this one
      detail::normalise(q);
    }
    return {-1, detail::sample_residual(s, r, target.full(), node)};
  }
};

//! The lossless recursive-rejection-sampling verifier for drafts drawn without replacement.
using rrs_verifier = tree_verifier<rrs_rule>;

static_assert(verification_rule<rrs_rule>);
static_assert(verifier<rrs_verifier>);

} // namespace v0
} // namespace specdec
