//! The generic tree verifier: one entry (validation, the greedy rule at temperature 0, the walk) that
//! composes a verification rule policy, in the manner of CUB's block algorithms and their policies.
#pragma once

#include <concepts>
#include <cstdint>
#include <span>
#include <utility>

#include "specdec/core/random.hpp"
#include "specdec/draft/draft_scheme.hpp"
#include "specdec/sampling/sample.hpp"
#include "specdec/tree/token_tree.hpp"
#include "specdec/verify/verifier.hpp"
#include "specdec/verify/verify_state.hpp"

namespace specdec {
inline namespace v0 {

//! A rule that decides node by node: `r.decide(state, p, node)` judges the children of `node` (which has
//! at least one) against `p`, the processed target row at `node`, and returns the accepted child or the
//! correction. The verifier walks: descend into accepted children, emit a bonus sampled from p at a leaf.
template <class R>
concept node_rule = requires(R& r, verify_state& s, target_row& p, std::int32_t node) {
  { r.decide(s, p, node) } -> std::same_as<node_decision>;
};

//! A rule that chooses the whole accepted path at once (block verification, typical acceptance):
//! `r.walk(state)` emits through `state.accept`, `reject_all` and `finish`.
template <class R>
concept path_rule = requires(R& r, verify_state& s) { r.walk(s); };

//! A verification rule policy. It states
//! - `R::needs_draft_probs`: whether sampled steps read q;
//! - `R::siblings`: whether children of one node may repeat a token;
//! - `R::lossless_for(scheme)`: for which drafting schemes its output is distributed exactly as the
//!   target's (the lossy typical acceptance rule says true for every scheme: it is lossy by name);
//! and decides as a `node_rule` or a `path_rule`. Optional: `r.check(input)` for constraints of its own
//! on the input (a chain), called after the shared validation.
template <class R>
concept verification_rule = requires {
  { R::needs_draft_probs } -> std::convertible_to<bool>;
  { R::siblings } -> std::convertible_to<duplicate_siblings>;
  { R::lossless_for(draft_scheme::deterministic) } -> std::same_as<bool>;
} && (node_rule<R> || path_rule<R>);

//! Verifies one request's step with `Rule`: validates the input (the tree against the vocabulary, the
//! logits' shape, parameters, stop tokens, q's shape when sampling and the rule reads q), then applies
//! the greedy rule at temperature 0 (every rule reduces to it) and `Rule` otherwise. Holds the state and
//! the rule, so a warm verifier allocates nothing; one verifier per thread.
template <verification_rule Rule>
class tree_verifier {
public:
  using rule_type = Rule;

  //! Constructs the rule from `args` (typical acceptance takes its thresholds).
  template <class... Args>
  explicit tree_verifier(Args&&... args) : rule_(std::forward<Args>(args)...) {}

  //! True when `Rule` is lossless for drafts drawn by `scheme`.
  [[nodiscard]] static constexpr bool lossless_for(draft_scheme scheme) noexcept { return Rule::lossless_for(scheme); }

  void verify(const verify_input& in, verify_result& out) {
    const bool greedy = in.params.greedy();
    state_.begin(in, out, Rule::siblings, Rule::needs_draft_probs && !greedy);
    if constexpr (requires { rule_.check(in); }) rule_.check(in);
    if (greedy) {
      detail::greedy_walk(state_);
    } else if constexpr (path_rule<Rule>) {
      rule_.walk(state_);
    } else {
      walk();
    }
  }

  [[nodiscard]] const Rule& rule() const noexcept { return rule_; }

private:
  // The walk of node rules: a leaf emits a bonus sampled from p (exponential race at (leaf, `bonus`));
  // otherwise the rule accepts a child, and the walk descends, or returns the correction, and the walk
  // ends. Stop tokens end it too.
  void walk() {
    const verify_input& in = state_.input();
    std::int32_t node = 0;
    for (;;) {
      target_row& p = state_.target(node);
      if (state_.first_child(node) == -1) {
        const random_address address = in.address.at(static_cast<std::uint32_t>(node), purpose::bonus);
        const token_id bonus = sample_exponential_race(std::span<const float>(p.full()), address);
        state_.finish(bonus, detail::log_probability(p.p(bonus)));
        return;
      }
      const node_decision decision = rule_.decide(state_, p, node);
      if (decision.accepted_child == -1) {
        state_.reject_all();
        state_.finish(decision.correction, detail::log_probability(p.p(decision.correction)));
        return;
      }
      const token_id token = in.tree.token(decision.accepted_child);
      if (!state_.accept(decision.accepted_child, detail::log_probability(p.p(token)))) return;
      node = decision.accepted_child;
    }
  }

  verify_state state_;
  Rule rule_;
};

//! True when verifiers of type `V` declare which drafting schemes they are lossless for.
template <class V>
concept scheme_aware_verifier = verifier<V> && requires {
  { V::lossless_for(draft_scheme::deterministic) } -> std::same_as<bool>;
};

} // namespace v0
} // namespace specdec
