//! A draft model expanding an EAGLE-2 dynamic tree: top-k children per expanded node, the most
//! confident frontier expanded depth by depth, the best nodes kept (Li et al., 2024, "EAGLE-2").
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "specdec/backend/draft_model.hpp"
#include "specdec/core/error.hpp"
#include "specdec/draft/detail/draft_model_sync.hpp"
#include "specdec/draft/draft_scheme.hpp"
#include "specdec/draft/drafter.hpp"
#include "specdec/sampling/softmax.hpp"
#include "specdec/tree/dynamic_tree_builder.hpp"

namespace specdec {
inline namespace v0 {

//! Drafts EAGLE-2 dynamic trees with an independent draft model that evaluates tree nodes
//! (`tree_draft_model`): `dynamic_tree_builder` owns the search (expand the `top_k` best frontier
//! candidates by cumulative draft log-probability, keep the best `total_nodes`), and each depth's
//! frontier is one `extend_tree` call. Children are the draft's top-k tokens (ties to the lowest id):
//! deterministic drafts, for `one_hot_verifier` or `greedy_verifier`. The decoder's `max_nodes` and
//! `max_depth` cap `params`. The tree nodes' KV is rolled back after drafting, so the model's cache
//! holds only the request's tokens between steps. Cost: `max_depth` model calls per step, each over
//! at most `top_k` nodes, plus O(V log k) per evaluated node for its top-k.
template <tree_draft_model Model>
class dynamic_tree_drafter {
public:
  static constexpr draft_scheme scheme = draft_scheme::deterministic;

  dynamic_tree_drafter(Model& model, dynamic_tree_params params = {}) : model_(&model), params_(params) {
    expects(params.top_k >= 1, "top_k", params.top_k, ">= 1");
    expects(params.max_depth >= 1 && params.max_depth <= max_tree_depth, "max_depth", params.max_depth, "in [1, max_tree_depth]");
    expects(params.total_nodes >= 1 && params.total_nodes <= max_tree_nodes, "total_nodes", params.total_nodes,
            "in [1, max_tree_nodes]");
  }

  void draft(const draft_context& context, draft_tree& out) {
    const auto draft_vocab = static_cast<std::size_t>(model_->vocab_size());
    request_ = context.request;
    vocab_ = static_cast<std::size_t>(context.vocab_size);
    root_logits_.resize(draft_vocab);
    sync_.sync(*model_, context.request, context.tokens, root_logits_);
    const index_t base = sync_.length(context.request);
    dynamic_tree_params params = params_;
    params.max_depth = static_cast<std::int32_t>(std::min<index_t>(params.max_depth, context.max_depth));
    params.total_nodes = static_cast<std::int32_t>(std::min<index_t>(params.total_nodes, context.max_nodes));
    params.top_k = static_cast<std::int32_t>(std::min<index_t>(params.top_k, context.vocab_size));
    evaluated_.clear(context.tokens.back());
    eval_node_.assign(1, 0);
    expander e{this};
    builder_.build(context.tokens.back(), params, e, out.tree);
    model_->rollback(context.request, base);
  }

  void release(request_id request) { sync_.release(*model_, request); }

private:
  // The expander the builder calls once per depth: evaluates the frontier and ranks its top-k children.
  struct expander {
    dynamic_tree_drafter* self;
    void expand(std::span<const std::int32_t> nodes, std::span<const token_id>, std::int32_t depth,
                matrix_view<token_id> ranked, matrix_view<float> log_probs) {
      self->expand(nodes, depth, ranked, log_probs);
    }
  };

  void expand(std::span<const std::int32_t> candidates, std::int32_t depth, matrix_view<token_id> ranked,
              matrix_view<float> log_probs) {
    const auto draft_vocab = static_cast<index_t>(model_->vocab_size());
    if (depth == 0) {  // the root's logits came with the catch-up
      rank(root_logits_, ranked, log_probs, 0);
      return;
    }
    // Add the frontier to the tree of evaluated nodes: each candidate's parent was expanded, so it is there.
    const index_t first = evaluated_.size();
    eval_node_.resize(static_cast<std::size_t>(builder_.candidate_count()), -1);
    for (const std::int32_t c : candidates) {
      const std::int32_t parent = eval_node_[static_cast<std::size_t>(builder_.candidate_parent(c))];
      eval_node_[static_cast<std::size_t>(c)] = evaluated_.add_child(parent, token_of(c));
    }
    frontier_logits_.resize(candidates.size() * static_cast<std::size_t>(draft_vocab));
    model_->extend_tree(request_, evaluated_.view(), first,
                        matrix_view<float>(frontier_logits_.data(), static_cast<index_t>(candidates.size()), draft_vocab));
    for (std::size_t r = 0; r < candidates.size(); ++r) {
      rank(std::span<const float>(frontier_logits_.data() + r * static_cast<std::size_t>(draft_vocab), static_cast<std::size_t>(draft_vocab)),
           ranked, log_probs, static_cast<index_t>(r));
    }
  }

  // Row `r` of the outputs: the top-k tokens of the draft's log-softmax, best first, ties to the lowest id.
  void rank(std::span<const float> draft_logits, matrix_view<token_id> ranked, matrix_view<float> log_probs, index_t r) {
    row_.resize(vocab_);
    detail::map_to_target_vocab(draft_logits, row_);
    log_softmax(row_, row_);
    order_.resize(vocab_);
    std::iota(order_.begin(), order_.end(), 0);
    const auto k = static_cast<std::ptrdiff_t>(ranked.cols());
    std::partial_sort(order_.begin(), order_.begin() + k, order_.end(), [&](token_id a, token_id b) {
      const float la = row_[static_cast<std::size_t>(a)];
      const float lb = row_[static_cast<std::size_t>(b)];
      return la != lb ? la > lb : a < b;
    });
    for (index_t c = 0; c < ranked.cols(); ++c) {
      const token_id t = order_[static_cast<std::size_t>(c)];
      ranked(r, c) = t;
      log_probs(r, c) = row_[static_cast<std::size_t>(t)];  // -inf for ids the draft model lacks
    }
  }

  [[nodiscard]] token_id token_of(std::int32_t candidate) const { return builder_.candidate_token(candidate); }

  Model* model_;
  dynamic_tree_params params_;
  detail::draft_model_sync<Model> sync_;
  dynamic_tree_builder builder_;
  token_tree evaluated_{0};
  std::vector<std::int32_t> eval_node_;  // candidate id -> node of `evaluated_`, -1 if not evaluated
  std::vector<float> root_logits_;
  std::vector<float> frontier_logits_;
  std::vector<float> row_;
  std::vector<token_id> order_;
  request_id request_ = 0;
  std::size_t vocab_ = 0;
};

} // namespace v0
} // namespace specdec
