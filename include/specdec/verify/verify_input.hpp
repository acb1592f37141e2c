//! The inputs every verifier takes, and their validation.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>

#include "specdec/core/error.hpp"
#include "specdec/core/matrix_view.hpp"
#include "specdec/core/philox.hpp"
#include "specdec/core/types.hpp"
#include "specdec/sampling/sampling_params.hpp"
#include "specdec/tree/token_tree.hpp"

namespace specdec {
inline namespace v0 {

//! One request's verification step.
struct verify_input {
  //! The drafted tree (node 0 = the root, the last emitted token).
  token_tree_view tree;
  //! Target logits `[>= tree.size(), vocab]`: row i is the target's next-token logits after node i's
  //! path, i.e. the distribution node i's children are judged against. The request's processing
  //! (`params`) is applied to the rows a verifier reads, and only to those.
  const_matrix_view<float> target_logits;
  //! The draft distributions q over the *target* vocabulary, for rules that need them. Row i is the
  //! distribution node i's **children** were drawn from (not the distribution node i itself was drawn
  //! from), exactly as sampled: the drafter's own temperature/top-k/... already applied; the verifier
  //! never re-processes q. Only rows of nodes with children are read, so the view needs
  //! `1 + (the last node with children)` rows (for a chain of n drafts: n rows, 0..n-1); more are
  //! allowed. Empty for greedy and one-hot rules.
  const_matrix_view<float> draft_probs;
  //! The request's sampling parameters; temperature 0 selects the greedy rule in every verifier.
  sampling_params params;
  //! The request's Philox address: seed, request and step. Verifiers set the node and purpose per
  //! decision (docs/verification.md lists them).
  random_address address;
  //! Emission ends at the first of these tokens (it is emitted, and the accepted path is cut there).
  std::span<const token_id> stop_tokens;
};

namespace detail {

//! Validates what every rule reads: the tree against the target vocabulary, the logits' shape, the
//! parameters and the stop tokens; and q's shape when `needs_q`.
inline void validate_verify_input(const verify_input& in, duplicate_siblings siblings, bool needs_q,
                                  std::span<std::uint64_t> scratch) {
  in.target_logits.validate("target_logits");
  const index_t vocab = in.target_logits.cols();
  validate(in.tree, vocab, siblings, scratch);
  expects(in.target_logits.rows() >= in.tree.size(), "target_logits.rows()", in.target_logits.rows(),
          ">= tree.size() (one row per tree node)");
  in.params.validate();
  for (std::size_t i = 0; i < in.stop_tokens.size(); ++i) {
    expects_element(in.stop_tokens[i] >= 0 && in.stop_tokens[i] < vocab, "stop_tokens", i, in.stop_tokens[i],
                    "a token id in [0, vocab_size)");
  }
  if (needs_q && in.tree.size() > 1) {  // a root-only tree reads no q
    in.draft_probs.validate("draft_probs");
    expects(in.draft_probs.cols() == vocab, "draft_probs.cols()", in.draft_probs.cols(),
            "== target_logits.cols() (q is over the target vocabulary)");
    std::int32_t last_parent = -1;  // the last node with children: parents precede their children
    for (index_t i = 1; i < in.tree.size(); ++i) last_parent = std::max(last_parent, in.tree.parent(i));
    expects(in.draft_probs.rows() >= last_parent + 1, "draft_probs.rows()", in.draft_probs.rows(),
            ">= 1 + the last node with children (row i: the distribution node i's children were drawn from)");
  }
}

} // namespace detail

} // namespace v0
} // namespace specdec
