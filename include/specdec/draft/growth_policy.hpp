//! Tree-growth policies: how a head drafter grows its tree depth by depth. The drafter evaluates a
//! frontier, ranks each node's likeliest tokens, asks the policy how many children each node gets,
//! creates them (the best ones, or draws from q), then asks which of them to expand at the next depth.
#pragma once

#include <concepts>
#include <cstdint>
#include <span>

#include "specdec/core/matrix_view.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/token_tree.hpp"

namespace specdec {
inline namespace v0 {

//! A frontier the drafter has evaluated, as `choose_children` sees it.
struct growth_frontier {
  //! The frontier nodes' depth (0: the root); their children get `depth + 1`.
  std::int32_t depth = 0;
  //! Nodes so far, the root included.
  index_t tree_size = 1;
  //! The most nodes the tree may keep, the root included.
  index_t node_budget = 1;
  //! True when drafts are deterministic: the policy may create more than the budget, the drafter keeps
  //! the best `node_budget` by cumulative log-probability at the end (EAGLE-2's rerank). False for
  //! sampled drafts, where dropping a drawn child by its value would bias verification: there the
  //! drafter cuts `children` in frontier order to the budget left.
  bool may_exceed_budget = false;
  //! The frontier's node ids (indices into the tree being grown), increasing.
  std::span<const std::int32_t> nodes;
  //! Their cumulative draft log-probabilities (0 for the root).
  std::span<const double> log_joint;
  //! Row `r`: node `nodes[r]`'s `K` likeliest tokens under its draft distribution q, best first (ties
  //! to the lower id), with their probabilities (`[frontier, K]`, K = the policy's
  //! `candidates_per_node()` capped at the vocabulary). Trailing zero-probability entries may occur.
  const_matrix_view<token_id> ranked_tokens;
  const_matrix_view<float> ranked_probs;
  //! Out: the children of each frontier node, at most `K`, decided from q before any child exists.
  //! Deterministic drafts take the `children[r]` best tokens; sampled drafts draw that many from q.
  std::span<std::int32_t> children;
};

//! The children just created, as `choose_expansions` sees them.
struct growth_children {
  //! Their depth.
  std::int32_t depth = 1;
  //! Their node ids, increasing; grouped by parent in frontier order, each group best (or first drawn)
  //! first.
  std::span<const std::int32_t> nodes;
  //! Row of `growth_frontier` each came from.
  std::span<const std::int32_t> frontier_row;
  //! Rank among its siblings (0: the best, or the first drawn).
  std::span<const std::int32_t> sibling_rank;
  //! Their cumulative draft log-probabilities.
  std::span<const double> log_joint;
  //! Out: nonzero to evaluate a node and expand it at the next depth (all zero ends the growth).
  std::span<std::uint8_t> expand;
};

//! A tree-growth policy:
//! - `p.max_depth()`: the deepest draft it grows;
//! - `p.max_nodes()`: its node budget, the root included (the decoder's budget may cut it further);
//! - `p.candidates_per_node()`: how many ranked tokens per frontier node it looks at;
//! - `p.choose_children(frontier)` and `p.choose_expansions(children)`: see the structs.
//! Optional, for deterministic drafts only: `p.prune(tree, log_joint, keep)`, called once the growth
//! ends, clears `keep[i]` of nodes to drop (ReDrafter drops beams that died); the drafter then keeps
//! the best `node_budget` of the rest, closed under parents.
//! A policy decides children counts from q alone, never from the children drawn: that is what keeps
//! every policy lossless with sampled drafts (`rrs_verifier`, `multi_draft_verifier`).
template <class P>
concept growth_policy = requires(P& p, const P& cp, growth_frontier& frontier, growth_children& children) {
  { cp.max_depth() } -> std::convertible_to<index_t>;
  { cp.max_nodes() } -> std::convertible_to<index_t>;
  { cp.candidates_per_node() } -> std::convertible_to<index_t>;
  p.choose_children(frontier);
  p.choose_expansions(children);
};

namespace detail {

template <class P>
void growth_prune(P& p, const token_tree_view& tree, std::span<const double> log_joint, std::span<std::uint8_t> keep) {
  if constexpr (requires { p.prune(tree, log_joint, keep); }) p.prune(tree, log_joint, keep);
}

} // namespace detail

} // namespace v0
} // namespace specdec
