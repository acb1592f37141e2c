//! Multi-draft speculative sampling with replacement (SpecInfer: Miao et al. 2024, "SpecInfer:
//! Accelerating Large Language Model Serving with Tree-based Speculative Inference and Verification";
//! multi-step speculative sampling).
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

//! Verifies a tree whose children x^(1..k) at each node were drawn i.i.d. from that node's q row (with
//! replacement; duplicate children are legal). At a node, with r^(1) = p: accept x^(j) iff
//! u_j <= r^(j)(x^(j)) / q(x^(j)); on rejection r^(j+1) = norm(max(0, r^(j) - q)). Descend into an
//! accepted child; if all are rejected, emit a sample of r^(k+1); at a leaf, emit a sample of p. The
//! emitted tokens are distributed exactly as the target's. Temperature 0 selects the greedy rule.
//!
//! Random addresses: child c's uniform at (c, `accept`), the residual at (the node, `residual`), the
//! bonus at (the leaf, `bonus`). r is kept in double and renormalised after each rejection. Cost per
//! visited node: one pass of row statistics when its first draft is accepted; the full row, the q row
//! and O(V) per rejection otherwise.
//!
//! `Fault` (meta-tests only): skip_renormalisation, resample_from_target.
template <detail::injected_fault Fault = detail::injected_fault::none>
class basic_multi_draft_verifier {
public:
  void verify(const verify_input& in, verify_result& out) {
    detail::verify_with_rule(
        in, ws_, out, duplicate_siblings::allowed, /*needs_q=*/true,
        [&](detail::target_row& p, std::int32_t node) { return decide(in, p, node); }, detail::any_shape);
  }

private:
  // The rule at one node. r^(1) = p is read lazily for the first draft; the first rejection writes r
  // out in full.
  detail::node_decision decide(const verify_input& in, detail::target_row& target, std::int32_t node) {
    using detail::injected_fault;
    const std::span<const float> q = in.draft_probs.row(node);
    const std::span<double> r = ws_.residual_double(q.size());
    bool r_written = false;
    for (std::int32_t child = ws_.first_child(node); child != -1; child = ws_.next_sibling(child)) {
      const token_id x = in.tree.token(child);
      const float qx = q[static_cast<std::size_t>(x)];
      detail::validate_probability(qx, node, x);
      const double u = uniform_double(in.address.at(static_cast<std::uint32_t>(child), purpose::accept));
      const double rx = r_written ? r[static_cast<std::size_t>(x)] : static_cast<double>(target.p(x));
      if (qx > 0.0f && u * static_cast<double>(qx) <= rx) return {child, no_token};
      if (!r_written) {
        const std::span<const float> p = target.full();
        std::copy(p.begin(), p.end(), r.begin());
        detail::normalise(r);
        r_written = true;
      }
      for (std::size_t t = 0; t < q.size(); ++t) {
        detail::validate_probability(q[t], node, static_cast<token_id>(t));
        r[t] = std::max(0.0, r[t] - static_cast<double>(q[t]));
      }
      if constexpr (Fault != injected_fault::skip_renormalisation) detail::normalise(r);
    }
    const std::span<float> p = target.full();
    if constexpr (Fault == injected_fault::resample_from_target) std::copy(p.begin(), p.end(), r.begin());
    return {-1, detail::sample_residual(r, p, ws_.residual(p.size()), in.tree, ws_, node,
                                        in.address.at(static_cast<std::uint32_t>(node), purpose::residual))};
  }

  detail::verify_workspace ws_;
};

//! The lossless multi-draft (with replacement) verifier.
using multi_draft_verifier = basic_multi_draft_verifier<>;

static_assert(verifier<multi_draft_verifier>);

} // namespace v0
} // namespace specdec
