//! Merges candidate continuations (n-gram / prompt lookup, retrieval) into a scored trie and emits its
//! best nodes as a token tree.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/token_tree.hpp"

namespace specdec {
inline namespace v0 {

//! Builds a token tree from candidate continuations of the context, each with a non-negative score (a
//! count of how often it followed the current suffix, a retrieval score). Continuations are merged on
//! common prefixes into a trie; a trie node's score is the sum of the scores of the continuations that
//! pass through it, so a node never scores below any of its descendants. `build` keeps the
//! `node_budget - 1` best trie nodes by score (ties: the node inserted first wins, and a parent is
//! always inserted before its children), which keeps the result a valid tree, and orders each node's
//! children by score, best first (ties again by insertion). Node order is breadth-first.
//!
//! Usage per step: `clear()`, `add(...)` per continuation, `build(...)`. The builder keeps its trie
//! storage and the output tree keeps its capacity, so a steady state allocates nothing.
//! Complexity: `add` is O(L * children scanned); `build` O(T log T) for T trie nodes.
//! Source: prompt lookup decoding (Saxena, 2023), REST (He et al., 2024), Lookahead decoding's n-gram
//! pool (Fu et al., 2024): continuations merged into a trie verified as one tree.
class sequence_trie_builder {
public:
  sequence_trie_builder() { clear(); }

  //! Forgets all continuations; keeps the storage.
  void clear() {
    token_.assign(1, 0);
    parent_.assign(1, -1);
    score_.assign(1, 0.0);
    first_child_.assign(1, -1);
    next_sibling_.assign(1, -1);
  }

  //! Adds a continuation (the tokens after the context's last token, which becomes the root) with its
  //! score. Throws for a score that is negative or not finite, or more than `max_tree_depth` tokens.
  //! An empty continuation only adds its score to the root.
  void add(std::span<const token_id> continuation, double score = 1.0) {
    expects(std::isfinite(score) && score >= 0.0, "score", score, "a finite score >= 0");
    expects(static_cast<index_t>(continuation.size()) <= max_tree_depth, "continuation.size()", continuation.size(),
            "at most max_tree_depth (255) tokens");
    std::int32_t node = 0;
    score_[0] += score;
    for (const token_id token : continuation) {
      std::int32_t child = first_child_[static_cast<std::size_t>(node)];
      std::int32_t last = -1;
      while (child >= 0 && token_[static_cast<std::size_t>(child)] != token) {
        last = child;
        child = next_sibling_[static_cast<std::size_t>(child)];
      }
      if (child < 0) {
        child = static_cast<std::int32_t>(token_.size());
        token_.push_back(token);
        parent_.push_back(node);
        score_.push_back(0.0);
        first_child_.push_back(-1);
        next_sibling_.push_back(-1);
        if (last < 0) {
          first_child_[static_cast<std::size_t>(node)] = child;
        } else {
          next_sibling_[static_cast<std::size_t>(last)] = child;
        }
      }
      score_[static_cast<std::size_t>(child)] += score;
      node = child;
    }
  }

  //! The number of trie nodes so far, the root included.
  [[nodiscard]] index_t trie_size() const noexcept { return static_cast<index_t>(token_.size()); }

  //! Writes the tree of the best `node_budget` trie nodes (root included) to `out`, whose root carries
  //! `root_token`. Throws for `node_budget` outside [1, max_tree_nodes].
  void build(token_id root_token, index_t node_budget, token_tree& out) {
    expects(node_budget >= 1 && node_budget <= max_tree_nodes, "node_budget", node_budget,
            "1 <= node_budget <= max_tree_nodes (4096), the root included");
    const auto better = [this](std::int32_t a, std::int32_t b) {
      const double sa = score_[static_cast<std::size_t>(a)];
      const double sb = score_[static_cast<std::size_t>(b)];
      return sa != sb ? sa > sb : a < b;
    };
    const std::size_t candidates = token_.size() - 1;
    order_.resize(candidates);
    for (std::size_t i = 0; i < candidates; ++i) order_[i] = static_cast<std::int32_t>(i + 1);
    const std::size_t keep = std::min(static_cast<std::size_t>(node_budget - 1), candidates);
    std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(keep), order_.end(), better);
    kept_.assign(token_.size(), 0);
    kept_[0] = 1;
    for (std::size_t i = 0; i < keep; ++i) kept_[static_cast<std::size_t>(order_[i])] = 1;

    // Breadth-first: each emitted node appends its kept children, best first.
    out.clear(root_token);
    out.reserve(static_cast<index_t>(keep + 1));
    ids_.assign(1, 0);
    for (std::size_t node = 0; node < ids_.size(); ++node) {
      children_.clear();
      for (std::int32_t c = first_child_[static_cast<std::size_t>(ids_[node])]; c >= 0;
           c = next_sibling_[static_cast<std::size_t>(c)]) {
        if (kept_[static_cast<std::size_t>(c)] != 0) children_.push_back(c);
      }
      std::sort(children_.begin(), children_.end(), better);
      for (const std::int32_t c : children_) {
        out.add_child(static_cast<std::int32_t>(node), token_[static_cast<std::size_t>(c)]);
        ids_.push_back(c);
      }
    }
  }

  //! The score of node `node` of the last tree built (the root's is the total score of all
  //! continuations).
  [[nodiscard]] double score(index_t node) const noexcept {
    return score_[static_cast<std::size_t>(ids_[static_cast<std::size_t>(node)])];
  }

private:
  std::vector<token_id> token_;
  std::vector<std::int32_t> parent_;
  std::vector<double> score_;
  std::vector<std::int32_t> first_child_;
  std::vector<std::int32_t> next_sibling_;
  std::vector<std::int32_t> order_;
  std::vector<std::uint8_t> kept_;
  std::vector<std::int32_t> ids_;
  std::vector<std::int32_t> children_;
};

} // namespace v0
} // namespace specdec
