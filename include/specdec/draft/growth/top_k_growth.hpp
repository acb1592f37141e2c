//! Fixed top-k per depth: every node of depth d gets `branching[d]` children (a full k-ary tree per
//! level, cut breadth-first by the node budget).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/draft/growth/detail_budget.hpp"
#include "specdec/draft/growth_policy.hpp"

namespace specdec {
inline namespace v0 {

//! Every frontier node of depth d gets `branching[d]` children (its best tokens, or as many draws), and
//! every child is expanded; the node budget cuts the tree breadth-first (earlier frontier nodes first).
//! The tree policy of Hydra's and Medusa's simplest configurations, and of `sampled_tree_drafter`.
class top_k_growth {
public:
  //! `branching[d]` >= 1 children below each node of depth d; `node_budget` caps the tree (root
  //! included; default: the full tree, at most max_tree_nodes).
  explicit top_k_growth(std::vector<std::int32_t> branching, index_t node_budget = max_tree_nodes)
      : branching_(std::move(branching)), budget_(node_budget) {
    expects(!branching_.empty() && static_cast<index_t>(branching_.size()) <= max_tree_depth, "branching.size()",
            branching_.size(), "in [1, max_tree_depth]");
    for (std::size_t d = 0; d < branching_.size(); ++d) {
      expects_element(branching_[d] >= 1 && branching_[d] < max_tree_nodes, "branching", d, branching_[d], "in [1, max_tree_nodes)");
    }
    expects(node_budget >= 1 && node_budget <= max_tree_nodes, "node_budget", node_budget, "in [1, max_tree_nodes]");
    index_t full = 1, level = 1;
    for (const std::int32_t b : branching_) {
      level = std::min<index_t>(level * b, max_tree_nodes);
      full = std::min<index_t>(full + level, max_tree_nodes);
    }
    budget_ = std::min(budget_, full);
  }

  [[nodiscard]] index_t max_depth() const noexcept { return static_cast<index_t>(branching_.size()); }
  [[nodiscard]] index_t max_nodes() const noexcept { return budget_; }
  [[nodiscard]] index_t candidates_per_node() const noexcept { return *std::max_element(branching_.begin(), branching_.end()); }

  void choose_children(growth_frontier& f) const {
    const std::int32_t k = branching_[static_cast<std::size_t>(f.depth)];
    index_t left = f.node_budget - f.tree_size;
    for (std::size_t r = 0; r < f.nodes.size(); ++r) {
      const std::int32_t c = std::min<std::int32_t>(detail::drawable(f, r, k), static_cast<std::int32_t>(std::max<index_t>(left, 0)));
      f.children[r] = c;
      left -= c;
    }
  }

  void choose_expansions(growth_children& c) const { std::fill(c.expand.begin(), c.expand.end(), std::uint8_t{1}); }

private:
  std::vector<std::int32_t> branching_;
  index_t budget_;
};

static_assert(growth_policy<top_k_growth>);

} // namespace v0
} // namespace specdec
