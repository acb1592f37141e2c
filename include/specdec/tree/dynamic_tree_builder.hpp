//! EAGLE-2's dynamic draft tree: expand the most confident nodes depth by depth, then keep the best
//! nodes of all candidates by cumulative log-probability.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <span>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/core/matrix_view.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/token_tree.hpp"

namespace specdec {
inline namespace v0 {

//! The budgets of a dynamic tree. EAGLE-2's defaults for 7B/8B models are top_k 10, depth 6 and about
//! 60 nodes.
struct dynamic_tree_params {
  //! Children proposed per expanded node, and nodes expanded per depth (EAGLE-2 uses one k for both).
  std::int32_t top_k = 10;
  //! Expansion rounds: the deepest draft node has this depth.
  std::int32_t max_depth = 6;
  //! Nodes kept in the final tree, the root included.
  std::int32_t total_nodes = 60;
};

//! A draft model that expands a depth's frontier in one batched call (EAGLE-2 runs one draft forward
//! per depth). `e.expand(nodes, tokens, depth, ranked_tokens, log_probs)` receives the candidate ids of
//! the `f` nodes to expand (0 is the root), their tokens and their common depth, and writes for row `r`
//! the `top_k` best next tokens of `nodes[r]` with their log-probabilities under the draft model, best
//! first (`ranked_tokens` and `log_probs` are `[f, top_k]`). The children written to row `r`, column
//! `c` receive candidate id `first + r * top_k + c`, where `first` is the number of candidates so far
//! (1 + the ids handed out before), so an expander may store per-candidate state (hidden states).
template <class E>
concept dynamic_tree_expander = requires(E& e, std::span<const std::int32_t> nodes, std::span<const token_id> tokens,
                                         std::int32_t depth, matrix_view<token_id> ranked_tokens,
                                         matrix_view<float> log_probs) {
  e.expand(nodes, tokens, depth, ranked_tokens, log_probs);
};

namespace detail {
// The smallest model of dynamic_tree_expander, kept next to the concept as its compile-time check.
struct uniform_expander {
  void expand(std::span<const std::int32_t>, std::span<const token_id>, std::int32_t, matrix_view<token_id> tokens,
              matrix_view<float> log_probs) const {
    for (index_t r = 0; r < tokens.rows(); ++r) {
      for (index_t c = 0; c < tokens.cols(); ++c) {
        tokens(r, c) = static_cast<token_id>(c);
        log_probs(r, c) = -std::log(static_cast<float>(tokens.cols()));
      }
    }
  }
};
static_assert(dynamic_tree_expander<uniform_expander>);
} // namespace detail

//! Builds EAGLE-2 dynamic trees (Li et al., "EAGLE-2: Faster Inference of Language Models with Dynamic
//! Draft Trees", 2024):
//! 1. expansion: the root is expanded into `top_k` children; at every further depth, the `top_k`
//!    candidates of the previous depth with the highest cumulative log-probability (the sum of the
//!    draft log-probabilities along the path, EAGLE-2's "value") are expanded into `top_k` children
//!    each, until depth `max_depth`;
//! 2. reranking: of all candidates generated, the `total_nodes - 1` with the highest cumulative
//!    log-probability are kept and become the tree, node order = generation order.
//!
//! Ties are broken by generation order (the earlier candidate wins) in both selections. Because a
//! log-probability is <= 0, a child never scores above its parent, and a parent is always generated
//! before its children; so the kept set is closed under parents and forms a valid tree, with each
//! node's children in rank order (the expander's column order). The builder holds its workspace:
//! rebuilding with the same budgets into a reused `token_tree` allocates nothing.
//!
//! Complexity: O(C log C) for C = top_k + (max_depth - 1) * top_k^2 candidates, plus the expander's
//! `max_depth` calls.
class dynamic_tree_builder {
  // Higher cumulative log-probability first; the earlier-generated candidate wins a tie. (Defined
  // before its uses: clang needs a deduced return type seen before a non-dependent call.)
  [[nodiscard]] auto better() const {
    return [this](std::int32_t a, std::int32_t b) {
      const double sa = score_[static_cast<std::size_t>(a)];
      const double sb = score_[static_cast<std::size_t>(b)];
      return sa != sb ? sa > sb : a < b;
    };
  }

public:
  //! Builds the tree into `out`. Throws for `top_k < 1`, `max_depth < 1` or above `max_tree_depth`,
  //! `total_nodes < 1` or above `max_tree_nodes`, and when the expander returns a log-probability that
  //! is NaN, positive, or larger than the one left of it in its row.
  template <dynamic_tree_expander Expander>
  void build(token_id root_token, const dynamic_tree_params& params, Expander& expander, token_tree& out) {
    expects(params.top_k >= 1 && params.top_k < max_tree_nodes, "params.top_k", params.top_k,
            "1 <= top_k < max_tree_nodes (more children than the node budget can never be kept)");
    expects(params.max_depth >= 1 && params.max_depth <= max_tree_depth, "params.max_depth", params.max_depth,
            "1 <= max_depth <= max_tree_depth (255)");
    expects(params.total_nodes >= 1 && params.total_nodes <= max_tree_nodes, "params.total_nodes", params.total_nodes,
            "1 <= total_nodes <= max_tree_nodes (4096), the root included");
    const auto k = static_cast<std::size_t>(params.top_k);

    parent_.assign(1, -1);
    token_.assign(1, root_token);
    score_.assign(1, 0.0);
    frontier_.assign(1, 0);
    for (std::int32_t depth = 0; depth < params.max_depth; ++depth) {
      const std::size_t f = frontier_.size();
      frontier_tokens_.resize(f);
      for (std::size_t r = 0; r < f; ++r) frontier_tokens_[r] = token_[static_cast<std::size_t>(frontier_[r])];
      ranked_.resize(f * k);
      log_probs_.resize(f * k);
      const auto rows = static_cast<index_t>(f);
      expander.expand(std::span<const std::int32_t>(frontier_), std::span<const token_id>(frontier_tokens_), depth,
                      matrix_view<token_id>(ranked_.data(), rows, params.top_k),
                      matrix_view<float>(log_probs_.data(), rows, params.top_k));
      const auto first = static_cast<std::int32_t>(parent_.size());
      for (std::size_t r = 0; r < f; ++r) {
        const auto parent = static_cast<std::size_t>(frontier_[r]);
        for (std::size_t c = 0; c < k; ++c) {
          const float lp = log_probs_[r * k + c];
          expects_element(!std::isnan(lp) && lp <= 0.0f, "log_probs", r * k + c, lp, "a log-probability: <= 0, not NaN");
          expects_element(c == 0 || lp <= log_probs_[r * k + c - 1], "log_probs", r * k + c, lp,
                          "non-increasing within a row (children ranked best first)");
          parent_.push_back(static_cast<std::int32_t>(parent));
          token_.push_back(ranked_[r * k + c]);
          score_.push_back(score_[parent] + static_cast<double>(lp));
        }
      }
      if (depth + 1 == params.max_depth) break;
      // The next frontier: the best top_k of the candidates just generated.
      const auto generated = static_cast<std::size_t>(parent_.size()) - static_cast<std::size_t>(first);
      order_.resize(generated);
      for (std::size_t i = 0; i < generated; ++i) order_[i] = first + static_cast<std::int32_t>(i);
      const std::size_t keep = std::min(k, generated);
      std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(keep), order_.end(), better());
      frontier_.assign(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(keep));
      std::sort(frontier_.begin(), frontier_.end());  // expand in generation order
    }

    // Rerank every candidate but the root; keep the best total_nodes - 1 and restore generation order.
    const std::size_t candidates = parent_.size() - 1;
    order_.resize(candidates);
    for (std::size_t i = 0; i < candidates; ++i) order_[i] = static_cast<std::int32_t>(i + 1);
    const std::size_t keep = std::min(static_cast<std::size_t>(params.total_nodes - 1), candidates);
    std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(keep), order_.end(), better());
    kept_.assign(1, 0);
    kept_.insert(kept_.end(), order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(keep));
    std::sort(kept_.begin(), kept_.end());

    node_of_.assign(parent_.size(), -1);
    out.clear(root_token);
    out.reserve(static_cast<index_t>(kept_.size()));
    node_of_[0] = 0;
    for (std::size_t n = 1; n < kept_.size(); ++n) {
      const auto id = static_cast<std::size_t>(kept_[n]);
      node_of_[id] = out.add_child(node_of_[static_cast<std::size_t>(parent_[id])], token_[id]);
    }
  }

  //! The candidate id (as the expander saw it) of node `node` of the last tree built.
  [[nodiscard]] std::int32_t candidate(index_t node) const noexcept { return kept_[static_cast<std::size_t>(node)]; }
  //! The cumulative draft log-probability of node `node` of the last tree built (0 for the root).
  [[nodiscard]] double score(index_t node) const noexcept { return score_[static_cast<std::size_t>(candidate(node))]; }
  //! How many candidates the last build generated, the root included.
  [[nodiscard]] index_t candidate_count() const noexcept { return static_cast<index_t>(parent_.size()); }
  //! The cumulative log-probability of candidate `id` of the last build.
  [[nodiscard]] double candidate_score(index_t id) const noexcept { return score_[static_cast<std::size_t>(id)]; }
  //! The parent candidate of candidate `id` of the last build (-1 for the root).
  [[nodiscard]] std::int32_t candidate_parent(index_t id) const noexcept { return parent_[static_cast<std::size_t>(id)]; }
  //! The token of candidate `id` of the last (or the running) build.
  [[nodiscard]] token_id candidate_token(index_t id) const noexcept { return token_[static_cast<std::size_t>(id)]; }

private:
  std::vector<std::int32_t> parent_;
  std::vector<token_id> token_;
  std::vector<double> score_;
  std::vector<std::int32_t> frontier_;
  std::vector<token_id> frontier_tokens_;
  std::vector<token_id> ranked_;
  std::vector<float> log_probs_;
  std::vector<std::int32_t> order_;
  std::vector<std::int32_t> kept_;
  std::vector<std::int32_t> node_of_;
};

} // namespace v0
} // namespace specdec
