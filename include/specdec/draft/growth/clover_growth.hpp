//! Clover's tree construction: per node a top-p cut of its likeliest tokens and a relative threshold,
//! then all of a depth's candidates ranked by joint path probability under the node budgets.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/draft/growth/detail_budget.hpp"
#include "specdec/draft/growth_policy.hpp"

namespace specdec {
inline namespace v0 {

//! Settings of `clover_growth`.
struct clover_growth_options {
  //! Tokens considered per node (the public Clover-2 code's `token_count` top-k).
  index_t candidates = 8;
  //! Per node, the smallest prefix of its ranked tokens whose probabilities reach `top_p` (always at
  //! least one token; 1 keeps all `candidates`).
  double top_p = 0.95;
  //! Per node, drop tokens whose probability is below `min_relative` times the node's best (0: off).
  double min_relative = 0.0;
  //! The node budget, root included.
  index_t total_nodes = 32;
  //! The deepest draft.
  index_t max_depth = 5;
  //! Optional per-depth budgets: at most `depth_budget[d]` new nodes at depth d + 1 (a budget that
  //! shrinks with depth spends the nodes where acceptance is likely); depths past the vector are
  //! bounded by the total only.
  std::vector<index_t> depth_budget;

  void validate() const {
    expects(candidates >= 1 && candidates < max_tree_nodes, "candidates", candidates, "in [1, max_tree_nodes)");
    expects(top_p > 0.0 && top_p <= 1.0, "top_p", top_p, "in (0, 1]");
    expects(min_relative >= 0.0 && min_relative <= 1.0, "min_relative", min_relative, "in [0, 1]");
    expects(total_nodes >= 1 && total_nodes <= max_tree_nodes, "total_nodes", total_nodes, "in [1, max_tree_nodes]");
    expects(max_depth >= 1 && max_depth <= max_tree_depth, "max_depth", max_depth, "in [1, max_tree_depth]");
    for (std::size_t d = 0; d < depth_budget.size(); ++d) {
      expects_element(depth_budget[d] >= 0, "depth_budget", d, depth_budget[d], ">= 0");
    }
  }
};

//! Clover's growth (Xiao et al., 2024, arXiv 2405.00263; the tree generation of the public Clover-2
//! code, arXiv 2408.00264): at each depth, every frontier node proposes its likeliest tokens, cut at
//! cumulative probability `top_p` and at `min_relative` of its best; the depth's candidates are ranked
//! by joint path probability (the product of the draft probabilities along the path) and the best are
//! kept within the depth's budget and the nodes left; every kept node is expanded at the next depth.
//! Ties go to the earlier frontier node, then the better rank. Differences from the public code, which
//! drops the token that crosses top-p and renormalises probabilities over its top-k: here the crossing
//! token is kept (the usual nucleus) and probabilities are the head's full distribution.
//! With sampled drafts the counts come from the same rule (decided from q, never from the draws).
class clover_growth {
public:
  explicit clover_growth(clover_growth_options options = {}) : options_(std::move(options)) { options_.validate(); }

  [[nodiscard]] index_t max_depth() const noexcept { return options_.max_depth; }
  [[nodiscard]] index_t max_nodes() const noexcept { return options_.total_nodes; }
  [[nodiscard]] index_t candidates_per_node() const noexcept { return options_.candidates; }
  [[nodiscard]] const clover_growth_options& options() const noexcept { return options_; }

  void choose_children(growth_frontier& f) {
    for (std::size_t r = 0; r < f.nodes.size(); ++r) {
      const std::int32_t usable = detail::drawable(f, r, options_.candidates);
      const double best = usable > 0 ? static_cast<double>(f.ranked_probs(static_cast<index_t>(r), 0)) : 0.0;
      double mass = 0.0;
      std::int32_t n = 0;
      while (n < usable && (n == 0 || mass < options_.top_p)) {
        const double p = f.ranked_probs(static_cast<index_t>(r), n);
        if (p < options_.min_relative * best) break;
        mass += p;
        ++n;
      }
      f.children[r] = n;
    }
    index_t cap = f.node_budget - f.tree_size;
    const auto d = static_cast<std::size_t>(f.depth);
    if (d < options_.depth_budget.size()) cap = std::min(cap, options_.depth_budget[d]);
    best_.keep(f, std::max<index_t>(cap, 0));
  }

  void choose_expansions(growth_children& c) const { std::fill(c.expand.begin(), c.expand.end(), std::uint8_t{1}); }

private:
  clover_growth_options options_;
  detail::best_children best_;
};

static_assert(growth_policy<clover_growth>);

} // namespace v0
} // namespace specdec
