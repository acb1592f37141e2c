//! Tree verification for deterministic ("one-hot", target-only) drafts: top-k children, n-gram and
//! prompt-lookup drafts (the rule in the EAGLE-2/3 reference code and SGLang's tree verification).
#pragma once

#include <cstdint>
#include <span>

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
//! `purpose::residual`); the bonus at a leaf at (the leaf, `purpose::bonus`). q is not read. r sums
//! in double, renormalisation is implicit (u * mass <= r(x)); a residual that rounds to no positive
//! entry falls back to p. Cost: one target row per accepted draft plus one.
//!
//! `Fault` (meta-tests only): skip_renormalisation, keep_rejected_child, reuse_uniform, child_row.
template <detail::injected_fault Fault = detail::injected_fault::none>
class basic_one_hot_verifier {
public:
  void verify(const verify_input& in, verify_result& out) {
    ws_.begin(in, duplicate_siblings::allowed, /*needs_q=*/false, out);
    if (in.params.greedy()) {
      detail::greedy_walk(in, ws_, out);
      return;
    }
    using detail::injected_fault;
    const auto vocab = static_cast<std::size_t>(in.target_logits.cols());
    std::int32_t node = 0;
    for (;;) {
      std::int32_t child = ws_.first_child(node);
      const index_t row = Fault == injected_fault::child_row && child != -1 ? child : node;
      const std::span<float> p = ws_.target_probs(in, row);
      if (child == -1) {
        const token_id bonus = sample_exponential_race(std::span<const float>(p), in.address.at(node, purpose::bonus));
        detail::verify_workspace::finish(in, out, bonus, detail::log_probability(p[bonus]));
        return;
      }
      const std::span<float> r = ws_.residual(vocab);
      std::copy(p.begin(), p.end(), r.begin());
      double mass = 0.0;
      for (const float x : r) mass += static_cast<double>(x);
      bool accepted = false;
      for (; child != -1; child = ws_.next_sibling(child)) {
        const token_id x = in.tree.token(child);
        const std::uint32_t decision_node = Fault == injected_fault::reuse_uniform ? 0u : static_cast<std::uint32_t>(child);
        const double u = uniform_double(in.address.at(decision_node, purpose::accept));
        const double scale = Fault == injected_fault::skip_renormalisation ? 1.0 : mass;
        if (u * scale <= static_cast<double>(r[static_cast<std::size_t>(x)]) && r[static_cast<std::size_t>(x)] > 0.0f) {
          accepted = true;
          break;
        }
        if constexpr (Fault != injected_fault::keep_rejected_child) {
          mass = std::max(0.0, mass - static_cast<double>(r[static_cast<std::size_t>(x)]));
          r[static_cast<std::size_t>(x)] = 0.0f;
        }
      }
      if (accepted) {
        if (!detail::verify_workspace::accept(in, out, child, detail::log_probability(p[in.tree.token(child)]))) return;
        node = child;
        continue;
      }
      detail::verify_workspace::reject_all(out);
      const token_id correction = detail::sample_weights_or(r, p, in.address.at(node, purpose::residual));
      detail::verify_workspace::finish(in, out, correction, detail::log_probability(p[correction]));
      return;
    }
  }

private:
  detail::verify_workspace ws_;
};

//! The lossless one-hot tree verifier.
using one_hot_verifier = basic_one_hot_verifier<>;

static_assert(verifier<one_hot_verifier>);

} // namespace v0
} // namespace specdec
