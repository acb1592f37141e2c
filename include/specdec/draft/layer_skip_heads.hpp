//! Self-speculative layer skip (LayerSkip; Draft & Verify): the target's first layers and its LM head
//! act as regressive heads, so they compose with every growth policy.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "specdec/backend/capabilities.hpp"
#include "specdec/backend/heads.hpp"
#include "specdec/backend/target_model.hpp"
#include "specdec/core/error.hpp"
#include "specdec/tree/ancestor_mask.hpp"
#include "specdec/tree/position_ids.hpp"
#include "specdec/tree/token_tree.hpp"
#include "specdec/tree/token_tree_batch.hpp"

namespace specdec {
inline namespace v0 {

//! Regressive heads made of the target's first `layers` layers (Zhang et al., 2024, "Draft & Verify";
//! Elhoushi et al., 2024, "LayerSkip"): a frontier is evaluated by `m.forward_partial` over the tree
//! grown so far (the frontier and its ancestors, with the flattener's positions and ancestor mask), on
//! top of the request's committed context -- whose first-layer KV the full model already holds. Each
//! depth re-evaluates the ancestors, so a depth-D draft costs 1 + 2 + ... rows of the shallow model per
//! path; no state outlives a step, and the target's cache is left as it was.
template <class M>
  requires target_model<M> && partial_forward<M>
class layer_skip_heads {
public:
  //! Drafts with the first `layers` of `model`'s layers, at most `max_depth` deep.
  layer_skip_heads(M& model, index_t layers, index_t max_depth = 8) : model_(&model), layers_(layers), max_depth_(max_depth) {
    expects(layers >= 1 && layers <= static_cast<index_t>(model.num_layers()), "layers", layers, "in [1, model.num_layers()]");
    expects(max_depth >= 1 && max_depth <= max_tree_depth, "max_depth", max_depth, "in [1, max_tree_depth]");
  }

  [[nodiscard]] index_t vocab_size() const { return static_cast<index_t>(model_->vocab_size()); }
  [[nodiscard]] index_t layers() const noexcept { return layers_; }

  index_t prepare(request_id request, std::span<const token_id> tokens) {
    request_ = request;
    committed_ = static_cast<std::int32_t>(tokens.size()) - 1;
    node_of_slot_.clear();
    return max_depth_;
  }

  void step(const head_step& step, matrix_view<float> logits) {
    expects(step.request == request_, "step.request", step.request, "the request last prepared");
    for (std::size_t r = 0; r < step.tokens.size(); ++r) {
      const std::int32_t slot = step.slots[r];
      expects_element(slot >= 0, "step.slots", r, slot, ">= 0");
      if (static_cast<std::size_t>(slot) >= node_of_slot_.size()) node_of_slot_.resize(static_cast<std::size_t>(slot) + 1, -1);
      if (step.parents[r] < 0) {
        tree_.clear(step.tokens[r]);
        node_of_slot_.assign(node_of_slot_.size(), -1);
        node_of_slot_[static_cast<std::size_t>(slot)] = 0;
        continue;
      }
      const auto parent = static_cast<std::size_t>(step.parents[r]);
      expects_element(parent < node_of_slot_.size() && node_of_slot_[parent] >= 0, "step.parents", r, step.parents[r],
                      "a slot evaluated earlier this step");
      node_of_slot_[static_cast<std::size_t>(slot)] = tree_.add_child(node_of_slot_[parent], step.tokens[r]);
    }
    // One shallow forward over the whole tree so far; the frontier's rows are copied out.
    batch_.clear();
    batch_.push_back(tree_.view());
    const index_t n = tree_.size();
    const index_t words = (n + 31) / 32;
    positions_.resize(static_cast<std::size_t>(n));
    mask_.resize(static_cast<std::size_t>(n * words));
    const std::int32_t committed[1] = {committed_};
    const request_id requests[1] = {request_};
    position_ids(batch_.view(), std::span<const std::int32_t>(committed), std::span<std::int32_t>(positions_));
    ancestor_mask_packed(batch_.view(), matrix_view<std::uint32_t>(mask_.data(), n, words));
    tree_forward_batch forward;
    forward.requests = requests;
    forward.trees = batch_.view();
    forward.committed = committed;
    forward.positions = positions_;
    forward.mask = const_matrix_view<std::uint32_t>(mask_.data(), n, words);
    const index_t vocab = vocab_size();
    all_logits_.resize(static_cast<std::size_t>(n * vocab));
    model_->forward_partial(forward, layers_, matrix_view<float>(all_logits_.data(), n, vocab));
    for (std::size_t r = 0; r < step.tokens.size(); ++r) {
      const auto node = static_cast<index_t>(node_of_slot_[static_cast<std::size_t>(step.slots[r])]);
      const auto src = all_logits_.begin() + static_cast<std::ptrdiff_t>(node * vocab);
      std::copy(src, src + static_cast<std::ptrdiff_t>(vocab), logits.row(static_cast<index_t>(r)).begin());
    }
  }

private:
  M* model_;
  index_t layers_;
  index_t max_depth_;
  request_id request_ = 0;
  std::int32_t committed_ = 0;
  token_tree tree_{0};
  token_tree_batch batch_;
  std::vector<std::int32_t> node_of_slot_;
  std::vector<std::int32_t> positions_;
  std::vector<std::uint32_t> mask_;
  std::vector<float> all_logits_;
};

} // namespace v0
} // namespace specdec
