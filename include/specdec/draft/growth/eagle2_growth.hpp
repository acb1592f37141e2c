//! EAGLE-2's expand-and-rerank as a growth policy for any regressive heads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/draft/growth/detail_budget.hpp"
#include "specdec/draft/growth_policy.hpp"
#include "specdec/tree/dynamic_tree_builder.hpp"

namespace specdec {
inline namespace v0 {

//! EAGLE-2 (Li et al., 2024): each expanded node proposes its `top_k` best tokens; of a depth's new
//! nodes the `top_k` with the highest cumulative log-probability are expanded; at the end the drafter
//! keeps the best `total_nodes` of all candidates (the rerank). The same tree as `dynamic_tree_builder`
//! for the same distributions. Sampled drafts cannot be reranked after the draws, so there the budget
//! is spent level by level: depth d keeps at most ceil(nodes left / depths left) children, the best
//! by joint probability of q's ranked tokens, decided before drawing.
class eagle2_growth {
public:
  explicit eagle2_growth(dynamic_tree_params params = {}) : params_(params) {
    expects(params.top_k >= 1 && params.top_k < max_tree_nodes, "top_k", params.top_k, "in [1, max_tree_nodes)");
    expects(params.max_depth >= 1 && params.max_depth <= max_tree_depth, "max_depth", params.max_depth, "in [1, max_tree_depth]");
    expects(params.total_nodes >= 1 && params.total_nodes <= max_tree_nodes, "total_nodes", params.total_nodes,
            "in [1, max_tree_nodes]");
  }

  [[nodiscard]] index_t max_depth() const noexcept { return params_.max_depth; }
  [[nodiscard]] index_t max_nodes() const noexcept { return params_.total_nodes; }
  [[nodiscard]] index_t candidates_per_node() const noexcept { return params_.top_k; }
  [[nodiscard]] const dynamic_tree_params& params() const noexcept { return params_; }

  void choose_children(growth_frontier& f) {
    for (std::size_t r = 0; r < f.nodes.size(); ++r) f.children[r] = detail::drawable(f, r, params_.top_k);
    if (!f.may_exceed_budget) {
      const index_t left = f.node_budget - f.tree_size;
      const index_t depths_left = std::max<index_t>(params_.max_depth - f.depth, 1);
      best_.keep(f, std::max<index_t>((left + depths_left - 1) / depths_left, 0));
    }
  }

  //! The `top_k` new nodes with the highest cumulative log-probability (ties to the earlier node).
  void choose_expansions(growth_children& c) {
    order_.resize(c.nodes.size());
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    const std::size_t keep = std::min<std::size_t>(static_cast<std::size_t>(params_.top_k), order_.size());
    std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(keep), order_.end(), [&](std::size_t a, std::size_t b) {
      return c.log_joint[a] != c.log_joint[b] ? c.log_joint[a] > c.log_joint[b] : a < b;
    });
    std::fill(c.expand.begin(), c.expand.end(), std::uint8_t{0});
    for (std::size_t i = 0; i < keep; ++i) c.expand[order_[i]] = 1;
  }

private:
  dynamic_tree_params params_;
  detail::best_children best_;
  std::vector<std::size_t> order_;
};

static_assert(growth_policy<eagle2_growth>);

} // namespace v0
} // namespace specdec
