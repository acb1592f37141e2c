//! A draft model sampling a multi-draft tree: several children per node drawn from the draft
//! distribution q, with replacement (SpecInfer) or without (Sequoia, EAGLE, Clover-2), so that
//! verification at temperature > 0 keeps a high acceptance.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "specdec/backend/draft_model.hpp"
#include "specdec/core/error.hpp"
#include "specdec/core/random.hpp"
#include "specdec/draft/detail/draft_model_sync.hpp"
#include "specdec/draft/draft_scheme.hpp"
#include "specdec/draft/drafter.hpp"
#include "specdec/sampling/logits_processor.hpp"
#include "specdec/sampling/sample.hpp"

namespace specdec {
inline namespace v0 {

//! Settings of `sampled_tree_drafter`.
struct sampled_tree_options {
  //! Children per node at each depth: `branching[d]` children below every node of depth d (>= 1 each);
  //! the tree's depth is `branching.size()` unless the decoder's `max_depth` or `max_nodes` cut it.
  std::vector<int> branching{3, 2, 1};
  //! The draft's own processing: q is exactly this processed distribution.
  sampling_params params;

  void validate() const {
    expects(!branching.empty() && static_cast<index_t>(branching.size()) <= max_tree_depth, "branching.size()",
            branching.size(), "in [1, max_tree_depth]");
    for (std::size_t d = 0; d < branching.size(); ++d) {
      expects_element(branching[d] >= 1 && branching[d] < max_tree_nodes, "branching", d, branching[d], "in [1, max_tree_nodes)");
    }
    params.validate();
  }
};

//! Drafts a tree level by level with a `tree_draft_model`: every node of depth d gets `branching[d]`
//! children drawn from q, the draft's processed distribution at that node, recorded as q row `node`
//! exactly as sampled. `Scheme` = `sampled_with_replacement`: i.i.d. draws (duplicates occur; pair with
//! `multi_draft_verifier`); `sampled_without_replacement`: each draw from q with the earlier draws of
//! that node removed (siblings distinct; pair with `rrs_verifier`). The draw of child c is an
//! exponential race at (c, `draft_sample`). Children beyond q's support are not drawn; nodes past the
//! decoder's `max_nodes` are not added (breadth first, so the budget cuts the deepest level). One
//! `extend_tree` call per level; the tree's KV is rolled back after drafting.
template <tree_draft_model Model, draft_scheme Scheme>
class sampled_tree_drafter {
  static_assert(Scheme == draft_scheme::sampled_with_replacement || Scheme == draft_scheme::sampled_without_replacement,
                "a sampled tree draws children with or without replacement");

public:
  static constexpr draft_scheme scheme = Scheme;

  sampled_tree_drafter(Model& model, sampled_tree_options options = {}) : model_(&model), options_(std::move(options)) {
    options_.validate();
  }

  void draft(const draft_context& context, draft_tree& out) {
    const auto draft_vocab = static_cast<index_t>(model_->vocab_size());
    const auto vocab = static_cast<std::size_t>(context.vocab_size);
    level_logits_.resize(static_cast<std::size_t>(draft_vocab));
    sync_.sync(*model_, context.request, context.tokens, level_logits_);
    const index_t base = sync_.length(context.request);
    const index_t depth_limit = std::min<index_t>(static_cast<index_t>(options_.branching.size()), context.max_depth);
    row_.resize(vocab);
    index_t level_begin = 0;
    for (index_t d = 0; d < depth_limit; ++d) {
      const index_t level_end = out.tree.size();
      for (index_t node = level_begin; node < level_end && out.tree.size() < context.max_nodes; ++node) {
        const std::span<const float> logits(level_logits_.data() + (node - level_begin) * draft_vocab, static_cast<std::size_t>(draft_vocab));
        detail::map_to_target_vocab(logits, row_);
        const std::span<float> q = out.q_row(node);
        processor_.probabilities(row_, options_.params, q);
        weights_.assign(q.begin(), q.end());
        for (int j = 0; j < options_.branching[static_cast<std::size_t>(d)] && out.tree.size() < context.max_nodes; ++j) {
          if (std::none_of(weights_.begin(), weights_.end(), [](float w) { return w > 0.0f; })) break;
          const auto child = static_cast<std::uint32_t>(out.tree.size());
          const token_id x = sample_exponential_race(std::span<const float>(weights_), context.address.at(child, purpose::draft_sample));
          out.tree.add_child(static_cast<std::int32_t>(node), x);
          if constexpr (Scheme == draft_scheme::sampled_without_replacement) weights_[static_cast<std::size_t>(x)] = 0.0f;
        }
      }
      level_begin = level_end;
      if (d + 1 == depth_limit || out.tree.size() == level_end) break;
      // Evaluate the new level: its logits feed the next level's draws.
      const index_t count = out.tree.size() - level_end;
      level_logits_.resize(static_cast<std::size_t>(count * draft_vocab));
      model_->extend_tree(context.request, out.tree.view(), level_end, matrix_view<float>(level_logits_.data(), count, draft_vocab));
    }
    model_->rollback(context.request, base);
  }

  void release(request_id request) { sync_.release(*model_, request); }

private:
  Model* model_;
  sampled_tree_options options_;
  detail::draft_model_sync<Model> sync_;
  logits_processor processor_;
  std::vector<float> level_logits_;
  std::vector<float> row_;
  std::vector<float> weights_;
};

} // namespace v0
} // namespace specdec
