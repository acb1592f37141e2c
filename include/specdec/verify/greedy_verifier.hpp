//! Greedy verification (temperature 0) of any token tree.
#pragma once

#include "specdec/draft/draft_scheme.hpp"
#include "specdec/tree/token_tree.hpp"
#include "specdec/verify/tree_verifier.hpp"
#include "specdec/verify/verify_state.hpp"

namespace specdec {
inline namespace v0 {

//! The greedy rule: accept the longest path whose every token equals the target argmax at its parent
//! (ties to the lowest token id), trying children in rank order, and emit the argmax at the last
//! accepted node as the bonus or correction. The output is token for token that of greedy
//! autoregressive decoding of the target, for any tree and any drafting scheme. It applies at every
//! temperature (it reads no q, draws no random number and ignores every sampling parameter but the
//! stop tokens: top-k/top-p/min-p never change the argmax). Cost: one argmax and one sum of
//! exponentials per accepted draft, plus one.
struct greedy_rule {
  static constexpr bool needs_draft_probs = false;
  static constexpr duplicate_siblings siblings = duplicate_siblings::allowed;
  [[nodiscard]] static constexpr bool lossless_for(draft_scheme) noexcept { return true; }

  void walk(verify_state& s) const { detail::greedy_walk(s); }
};

//! Greedy verification of any tree.
using greedy_verifier = tree_verifier<greedy_rule>;

static_assert(verification_rule<greedy_rule>);
static_assert(verifier<greedy_verifier>);

} // namespace v0
} // namespace specdec
