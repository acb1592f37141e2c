//! A llama2.c model as a specdec draft model: any checkpoint drafting for another with the same
//! tokenizer, or -- with `layers` below the model's depth -- the target's own first layers drafting
//! for it (self-speculative layer skip, as in LayerSkip and Draft & Verify).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <specdec/backend/draft_model.hpp>
#include <specdec/tree/token_tree.hpp>

#include "llama_model.hpp"

namespace llama {

using specdec::request_id;

//! `draft_model` and `tree_draft_model` over a `llama_model` held by reference, evaluated through its
//! first `layers` layers (all by default) and then the final norm and LM head. Each request keeps its
//! own `kv_cache` (`layers` layers deep is all it reads); `extend` runs its tokens as one causal pass,
//! `extend_tree` one pass over the new nodes with the tree's ancestor mask.
class llama_draft {
public:
  explicit llama_draft(const llama_model& model, index_t layers = 0, index_t max_context = 0);

  [[nodiscard]] index_t vocab_size() const noexcept { return model_->config().vocab_size; }
  [[nodiscard]] index_t layers() const noexcept { return layers_; }

  void extend(request_id request, std::span<const token_id> tokens, std::span<float> next_logits);
  void extend_tree(request_id request, const specdec::token_tree_view& tree, index_t first, matrix_view<float> logits);
  [[nodiscard]] index_t length(request_id request) const;
  void rollback(request_id request, index_t length);
  void release(request_id request);

  //! Passes run and tokens evaluated, for cost accounting.
  struct call_counts {
    std::uint64_t forwards = 0;
    std::uint64_t tokens = 0;
  };
  [[nodiscard]] const call_counts& calls() const noexcept { return calls_; }

private:
  struct request_state {
    kv_cache cache;
    index_t length = 0;
    index_t tree_base = -1;  // the length before the current tree's nodes, -1 when none
  };
  request_state& state(request_id request);

  const llama_model* model_;
  index_t layers_;
  index_t max_context_;
  std::vector<request_state> requests_;
  forward_pass pass_;
  std::vector<std::uint32_t> mask_;
  std::vector<std::int32_t> positions_;
  std::vector<token_id> tokens_;
  std::vector<float> logits_;
  call_counts calls_;
};

static_assert(specdec::draft_model<llama_draft>);
static_assert(specdec::tree_draft_model<llama_draft>);

} // namespace llama
