//! Tree verification for deterministic ("one-hot", target-only) drafts: top-k children, n-gram and
//! prompt-lookup drafts (the rule in the EAGLE-2/3 reference code and SGLang's tree verification).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "specdec/core/random.hpp"
#include "specdec/verify/detail/verify_workspace.hpp"
#include "specdec/verify/verifier.hpp"
#include "specdec/verify/verify_input.hpp"
#include "specdec/verify/verify_result.hpp"

namespace specdec {
inline namespace v0 {

//! Verifies a tree whose drafts were chosen deterministically (their draft distribution is a point
//! mass). At the current node, with residual r = p (the processed target distribution there), try the
//! children in rank order: accept child x with probability r(x) / sum(r); on rejection set r(x) = 0;
//! descend into an accepted child; if every child is rejected, emit a sample of r. This is "sample
//! y ~ p; if y is a child, descend" with the children tried first, so the emitted tokens are
//! distributed exactly as the target's (lossless). Duplicate children are legal: a repeat has r(x) = 0
//! by then and is rejected. Temperature 0 selects the greedy rule.
//!
//! Random addresses: the uniform for child c at (c, `purpose::accept`); the residual at (the node,
//! `purpose::residual`); the bonus at a leaf at (the leaf, `purpose::bonus`). q is not read. r is kept
//! implicitly (the rejected tokens and the remaining mass, in double); renormalisation is the test
//! u * mass <= r(x); a residual that rounds to no positive entry falls back to p. Cost per visited
//! node: one pass of row statistics (p(x) of the children needs no full row unless top-k/top-p/min-p
//! is on); one full row only for the final residual or bonus.
//!
//! `Fault` (meta-tests only): skip_renormalisation, keep_rejected_child, reuse_uniform, child_row.
template <detail::injected_fault Fault = detail::injected_fault::none>
class basic_one_hot_verifier {
public:
  void verify(const verify_input& in, verify_result& out) {
    detail::verify_with_rule(
        in, ws_, out, duplicate_siblings::allowed, /*needs_q=*/false,
        [&](detail::target_row& p, std::int32_t node) { return decide(in, p, node); }, detail::any_shape,
        Fault == detail::injected_fault::child_row);
  }

private:
  // The rule at one node: try the children in rank order against r = p with the rejected ones zeroed,
  // kept implicitly as the rejected tokens and the remaining mass.
  detail::node_decision decide(const verify_input& in, detail::target_row& target, std::int32_t node) {
    using detail::injected_fault;
    tried_.clear();
    double mass = 1.0;
    for (std::int32_t child = ws_.first_child(node); child != -1; child = ws_.next_sibling(child)) {
      const token_id x = in.tree.token(child);
      const bool zeroed = std::find(tried_.begin(), tried_.end(), x) != tried_.end();
      const double rx = zeroed ? 0.0 : static_cast<double>(target.p(x));
      const std::uint32_t decision_node = Fault == injected_fault::reuse_uniform ? 0u : static_cast<std::uint32_t>(child);
      const double u = uniform_double(in.address.at(decision_node, purpose::accept));
      const double scale = Fault == injected_fault::skip_renormalisation ? 1.0 : mass;
      if (rx > 0.0 && u * scale <= rx) return {child, no_token};
      if (Fault != injected_fault::keep_rejected_child && !zeroed) {
        mass = std::max(0.0, mass - rx);
        tried_.push_back(x);
      }
    }
    const std::span<float> p = target.full();
    const std::span<float> r = ws_.residual(p.size());
    std::copy(p.begin(), p.end(), r.begin());
    for (const token_id x : tried_) r[static_cast<std::size_t>(x)] = 0.0f;
    return {-1, detail::sample_weights_or(r, p, in.address.at(static_cast<std::uint32_t>(node), purpose::residual))};
  }

  detail::verify_workspace ws_;
  std::vector<token_id> tried_;  // the rejected children's tokens at the current node
};

//! The lossless one-hot tree verifier.
using one_hot_verifier = basic_one_hot_verifier<>;

static_assert(verifier<one_hot_verifier>);

} // namespace v0
} // namespace specdec
