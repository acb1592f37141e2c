//! Medusa's static tree from measured head accuracies: the `tree_choices` of at most N nodes that
//! maximise the expected tokens per step when the head at depth d proposes the right token at rank r
//! with probability `accuracy[d][r]`, independently across depths.
#pragma once

#include <algorithm>
#include <cstdint>
#include <queue>
#include <span>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/tree_choices.hpp"

namespace specdec {
inline namespace v0 {

//! A static tree planned from per-depth accuracies, and its value.
struct medusa_plan {
  //! The tree's shape. Ranks may skip values where a lower rank measured less accurate than a higher one.
  tree_choices choices;
  //! Its expected tokens per step (accepted drafts + the bonus token) under the accuracy model.
  double expected_tokens = 1.0;
};

//! Medusa's tree construction (Cai et al., "Medusa", 2024, section 3.3.1 and its `medusa_choices`
//! generator): `accuracy[d][r]` is the measured probability that the depth-(d + 1) head's rank-r
//! candidate is the token the target emits there (the rows are per head, greedy top-k accuracies; each row
//! sums to at most 1). A node with rank path (r1, ..., rd) is accepted with probability
//! `prod_k accuracy[k - 1][r_k]`, and a tree's expected tokens per step are 1 + the sum of that over its
//! draft nodes. The value never grows from a node to its child, so the best `node_budget - 1` rank paths
//! form a prefix-closed set: the plan takes them best first (ties: the shallower, then the
//! lexicographically smaller path, so it is deterministic), up to depth `max_depth` and
//! `accuracy.size()`, and stops early where every remaining path has value 0.
//!
//! Throws `specdec::invalid_argument` for `node_budget` outside [1, max_tree_nodes], `max_depth` < 1, an
//! empty accuracy table or row, an entry outside [0, 1] or a row summing above 1.
//! Complexity: O(N K log(N K)) for N nodes and K ranks per row; an offline planning step, it allocates.
inline medusa_plan plan_medusa_tree(const std::vector<std::vector<double>>& accuracy, index_t node_budget, index_t max_depth = max_tree_depth) {
  expects(!accuracy.empty(), "accuracy.size()", accuracy.size(), ">= 1 (one row per head)");
  expects(node_budget >= 1 && node_budget <= max_tree_nodes, "node_budget", node_budget,
          "1 <= node_budget <= max_tree_nodes (4096), the root included");
  expects(max_depth >= 1, "max_depth", max_depth, ">= 1");
  for (std::size_t d = 0; d < accuracy.size(); ++d) {
    expects_element(!accuracy[d].empty(), "accuracy", d, "an empty row", "at least one rank per head");
    double total = 0.0;
    for (const double a : accuracy[d]) {
      expects_element(a >= 0.0 && a <= 1.0, "accuracy", d, a, "entries that are probabilities in [0, 1]");
      total += a;
    }
    expects_element(total <= 1.0 + 1e-9, "accuracy", d, total,
                    "a row summing to at most 1 (one rank at most holds the target's token)");
  }
  const auto depth = static_cast<std::size_t>(std::min<index_t>(max_depth, static_cast<index_t>(accuracy.size())));

  struct candidate {
    double value;
    std::vector<std::int32_t> path;
  };
  const auto worse = [](const candidate& a, const candidate& b) {  // the priority queue's "less"
    if (a.value != b.value) return a.value < b.value;
    if (a.path.size() != b.path.size()) return a.path.size() > b.path.size();
    return a.path > b.path;
  };
  std::priority_queue<candidate, std::vector<candidate>, decltype(worse)> frontier(worse);
  const auto push_children = [&](const std::vector<std::int32_t>& parent, double value) {
    if (parent.size() >= depth) return;
    const std::vector<double>& row = accuracy[parent.size()];
    for (std::size_t r = 0; r < row.size(); ++r) {
      candidate c{value * row[r], parent};
      c.path.push_back(static_cast<std::int32_t>(r));
      frontier.push(std::move(c));
    }
  };
  push_children({}, 1.0);

  std::vector<std::vector<std::int32_t>> paths;
  medusa_plan plan;
  while (static_cast<index_t>(paths.size()) + 1 < node_budget && !frontier.empty() && frontier.top().value > 0.0) {
    candidate best = frontier.top();
    frontier.pop();
    plan.expected_tokens += best.value;
    push_children(best.path, best.value);
    paths.push_back(std::move(best.path));
  }
  plan.choices = tree_choices(paths);
  return plan;
}

} // namespace v0
} // namespace specdec
