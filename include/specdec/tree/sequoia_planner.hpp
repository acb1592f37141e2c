//! Sequoia's optimal static tree: a dynamic program over a per-rank acceptance vector, and the
//! expected tokens per step of any tree under the same model.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/token_tree.hpp"
#include "specdec/tree/tree_choices.hpp"

namespace specdec {
inline namespace v0 {

namespace detail {
inline void check_acceptance(std::span<const double> acceptance) {
  double total = 0.0;
  for (std::size_t r = 0; r < acceptance.size(); ++r) {
    expects_element(acceptance[r] >= 0.0 && acceptance[r] <= 1.0, "acceptance", r, acceptance[r],
                    "a probability in [0, 1]");
    total += acceptance[r];
  }
  expects(total <= 1.0 + 1e-9, "sum of acceptance", total,
          "<= 1 (at most one child of a node is accepted, so the per-rank probabilities add up to at most 1)");
}
} // namespace detail

//! The expected number of tokens one verification step emits with `tree` under Sequoia's positional
//! acceptance model: the child at sibling position `r` (0 = first child) of an accepted node is
//! accepted with probability `acceptance[r]`, independently of everything else; positions beyond the
//! vector are never accepted. The result is `sum over nodes v of prod over v's path of acceptance`,
//! the root counting 1: the expected accepted drafts plus the bonus token. Throws on a malformed tree or
//! acceptance vector (entries in [0, 1], sum <= 1). O(N); allocates O(N).
//! Source: Chen et al., "Sequoia: Scalable, Robust, and Hardware-aware Speculative Decoding", 2024.
inline double expected_tokens(const token_tree_view& tree, std::span<const double> acceptance) {
  detail::check_acceptance(acceptance);
  expects(tree.size() >= 1 && tree.size() <= max_tree_nodes, "tree.size()", tree.size(), "1 <= size <= max_tree_nodes");
  const auto n = static_cast<std::size_t>(tree.size());
  std::vector<double> reach(n, 0.0);  // probability that node i is accepted (reached)
  std::vector<std::int32_t> children(n, 0);
  reach[0] = 1.0;
  double total = 1.0;
  for (std::size_t i = 1; i < n; ++i) {
    const std::int32_t parent = tree.parent(static_cast<index_t>(i));
    expects_element(parent >= 0 && static_cast<std::size_t>(parent) < i, "parent", i, parent, "0 <= parent[i] < i");
    const auto position = static_cast<std::size_t>(children[static_cast<std::size_t>(parent)]++);
    const double p = position < acceptance.size() ? acceptance[position] : 0.0;
    reach[i] = reach[static_cast<std::size_t>(parent)] * p;
    total += reach[i];
  }
  return total;
}

//! The same for the tree a `tree_choices` describes, each node indexed by its choice rank (the
//! candidate it takes), which equals its sibling position whenever the choices skip no rank. O(N).
inline double expected_tokens(const tree_choices& choices, std::span<const double> acceptance) {
  detail::check_acceptance(acceptance);
  std::vector<double> reach(static_cast<std::size_t>(choices.size()), 0.0);
  reach[0] = 1.0;
  double total = 1.0;
  for (index_t i = 1; i < choices.size(); ++i) {
    const auto r = static_cast<std::size_t>(choices.rank(i));
    const double p = r < acceptance.size() ? acceptance[r] : 0.0;
    reach[static_cast<std::size_t>(i)] = reach[static_cast<std::size_t>(choices.parent(i))] * p;
    total += reach[static_cast<std::size_t>(i)];
  }
  return total;
}

//! An optimal static tree and its value.
struct sequoia_plan {
  //! The tree's shape; ranks are contiguous (a node's children take ranks 0, 1, ...).
  tree_choices choices;
  //! Its expected tokens per step (accepted drafts + the bonus token), as `expected_tokens` computes.
  double expected_tokens = 1.0;
};

//! Sequoia's dynamic program: the tree of at most `node_budget` nodes (root included) and depth at most
//! `max_depth` that maximises `expected_tokens` under `acceptance` (see there). With
//! T(n, h) = the best value of a subtree of at most n nodes and height at most h, and C(h, r, m) = the
//! best total of the children at sibling positions r, r+1, ... sharing m nodes:
//!     T(n, 0) = 1,   T(n, h) = 1 + C(h, 0, n - 1),
//!     C(h, r, m) = max(0, max over 1 <= s <= m of acceptance[r] * T(s, h - 1) + C(h, r + 1, m - s)),
//! with C = 0 once r reaches the vector's length. Ties prefer stopping, then the smallest subtree, so
//! the plan is deterministic. Throws for `node_budget` outside [1, max_tree_nodes], `max_depth` outside
//! [1, max_tree_depth], or a malformed acceptance vector.
//! Complexity: O(N^2 K D) time and O(N K D) memory for N nodes, K = min(acceptance.size(), N - 1) ranks
//! and D = min(max_depth, N - 1); an offline planning step, it allocates.
//! Source: Chen et al., "Sequoia", 2024, section 3.1 (the positional acceptance assumption).
inline sequoia_plan plan_sequoia_tree(std::span<const double> acceptance, index_t node_budget, index_t max_depth) {
  detail::check_acceptance(acceptance);
  expects(node_budget >= 1 && node_budget <= max_tree_nodes, "node_budget", node_budget,
          "1 <= node_budget <= max_tree_nodes (4096), the root included");
  expects(max_depth >= 1 && max_depth <= max_tree_depth, "max_depth", max_depth, "1 <= max_depth <= max_tree_depth (255)");
  const auto n_max = static_cast<std::size_t>(node_budget);
  const std::size_t depth = std::min<std::size_t>(static_cast<std::size_t>(max_depth), n_max - 1);
  const std::size_t ranks = std::min<std::size_t>(acceptance.size(), n_max - 1);

  // best[h][n]: T(n, h) for n in [0, N] (n = 0 unused).
  std::vector<double> best((depth + 1) * (n_max + 1), 1.0);
  // split[((h - 1) * ranks + r) * N + m]: the s chosen for C(h, r, m), 0 for "no child at r".
  std::vector<std::int32_t> split(depth * ranks * n_max, 0);
  std::vector<double> next(n_max), current(n_max);  // C(h, r + 1, .) and C(h, r, .)
  const auto t = [&](std::size_t h, std::size_t n) -> double& { return best[h * (n_max + 1) + n]; };
  for (std::size_t h = 1; h <= depth; ++h) {
    std::fill(next.begin(), next.end(), 0.0);
    for (std::size_t r = ranks; r-- > 0;) {
      for (std::size_t m = 0; m < n_max; ++m) {
        double value = 0.0;
        std::int32_t choice = 0;
        for (std::size_t s = 1; s <= m; ++s) {
          const double candidate = acceptance[r] * t(h - 1, s) + next[m - s];
          if (candidate > value) {
            value = candidate;
            choice = static_cast<std::int32_t>(s);
          }
        }
        current[m] = value;
        split[((h - 1) * ranks + r) * n_max + m] = choice;
      }
      std::swap(current, next);
    }
    for (std::size_t n = 1; n <= n_max; ++n) t(h, n) = 1.0 + (ranks > 0 ? next[n - 1] : 0.0);
  }

  // Rebuild the paths: a node with budget n and height h gives its children the recorded splits.
  std::vector<std::vector<std::int32_t>> paths;
  std::vector<std::int32_t> path;
  const auto emit = [&](const auto& self, std::size_t h, std::size_t n) -> void {
    if (h == 0) return;
    std::size_t m = n - 1;
    for (std::size_t r = 0; r < ranks && m > 0; ++r) {
      const auto s = static_cast<std::size_t>(split[((h - 1) * ranks + r) * n_max + m]);
      if (s == 0) break;
      path.push_back(static_cast<std::int32_t>(r));
      paths.push_back(path);
      self(self, h - 1, s);
      path.pop_back();
      m -= s;
    }
  };
  emit(emit, depth, n_max);
  sequoia_plan plan{tree_choices(paths), t(depth, n_max)};
  return plan;
}

} // namespace v0
} // namespace specdec
