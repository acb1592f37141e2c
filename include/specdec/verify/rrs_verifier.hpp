//! Recursive rejection sampling for drafts drawn without replacement (Sequoia: Chen et al. 2024,
//! "Sequoia: Scalable, Robust, and Hardware-aware Speculative Decoding"; the rule of the EAGLE-1 and
//! Clover-2 reference code).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>

#include "specdec/core/random.hpp"
#include "specdec/verify/detail/verify_workspace.hpp"
#include "specdec/verify/verifier.hpp"
#include "specdec/verify/verify_input.hpp"
#include "specdec/verify/verify_result.hpp"

namespace specdec {
inline namespace v0 {

//! Verifies a tree whose children at each node were drawn sequentially *without* replacement from that
//! node's q row: q^(1) = q, q^(j+1) = norm(q^(j) with x^(j) zeroed). With r^(1) = p: accept x^(j) iff
//! u_j <= r^(j)(x^(j)) / q^(j)(x^(j)); on rejection r^(j+1) = norm(max(0, r^(j) - q^(j))) -- subtracting
//! the distribution x^(j) was drawn *from*, before x^(j) is zeroed. Descend into an accepted child; if
//! all are rejected, emit a sample of r^(k+1); at a leaf, a sample of p. Lossless. Duplicate children
//! are invalid (`specdec::invalid_argument`). Temperature 0 selects the greedy rule.
//!
//! Exact check (tests/verify): p = (.5, .3, .2), q = (.1, .2, .7), two children: the emitted
//! distribution is exactly p; subtracting the already-zeroed q instead gives (.27, .20, .53).
//!
//! Random addresses as `multi_draft_verifier`. Cost per visited node: one pass of row statistics when
//! its first draft is accepted; the full row, the q row and O(V) per rejection otherwise.
//!
//! `Fault` (meta-tests only): subtract_zeroed_q, resample_from_target.
template <detail::injected_fault Fault = detail::injected_fault::none>
class basic_rrs_verifier {
public:
  void verify(const verify_input& in, verify_result& out) {
    detail::verify_with_rule(
        in, ws_, out, duplicate_siblings::forbidden, /*needs_q=*/true,
        [&](detail::target_row& p, std::int32_t node) { return decide(in, p, node); }, detail::any_shape);
  }

private:
  // The rule at one node. r^(1) = p and q^(1) = q are read lazily for the first draft; the first
  // rejection writes both out in full.
  detail::node_decision decide(const verify_input& in, detail::target_row& target, std::int32_t node) {
    using detail::injected_fault;
    const std::span<const float> q_row = in.draft_probs.row(node);
    const std::span<double> r = ws_.residual_double(q_row.size());
    const std::span<double> q = ws_.draft_double(q_row.size());
    bool written = false;
    for (std::int32_t child = ws_.first_child(node); child != -1; child = ws_.next_sibling(child)) {
      const auto x = static_cast<std::size_t>(in.tree.token(child));
      const double u = uniform_double(in.address.at(static_cast<std::uint32_t>(child), purpose::accept));
      if (!written) detail::validate_probability(q_row[x], node, static_cast<token_id>(x));
      const double qx = written ? q[x] : static_cast<double>(q_row[x]);
      const double rx = written ? r[x] : static_cast<double>(target.p(static_cast<token_id>(x)));
      if (qx > 0.0 && u * qx <= rx) return {child, no_token};
      if (!written) {
        const std::span<const float> p = target.full();
        std::copy(p.begin(), p.end(), r.begin());
        detail::normalise(r);
        for (std::size_t t = 0; t < q_row.size(); ++t) {
          detail::validate_probability(q_row[t], node, static_cast<token_id>(t));
          q[t] = q_row[t];
        }
        detail::normalise(q);
        written = true;
      }
      if constexpr (Fault == injected_fault::subtract_zeroed_q) {
        q[x] = 0.0;
        detail::normalise(q);
      }
      for (std::size_t t = 0; t < q.size(); ++t) r[t] = std::max(0.0, r[t] - q[t]);
      detail::normalise(r);
      if constexpr (Fault != injected_fault::subtract_zeroed_q) {
        q[x] = 0.0;  // the next draft was drawn without this one
        detail::normalise(q);
      }
    }
    const std::span<float> p = target.full();
    if constexpr (Fault == injected_fault::resample_from_target) std::copy(p.begin(), p.end(), r.begin());
    return {-1, detail::sample_residual(r, p, ws_.residual(p.size()), in.tree, ws_, node,
                                        in.address.at(static_cast<std::uint32_t>(node), purpose::residual))};
  }

  detail::verify_workspace ws_;
};

//! The lossless recursive-rejection-sampling verifier for drafts drawn without replacement.
using rrs_verifier = basic_rrs_verifier<>;

static_assert(verifier<rrs_verifier>);

} // namespace v0
} // namespace specdec
