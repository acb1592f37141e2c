//! The llama2.c model as a specdec target: one batched tree forward per step, KV commit through the
//! keep-list, and the optional capabilities (hidden states, embeddings, LM head, partial forward).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <specdec/backend/capabilities.hpp>
#include <specdec/backend/target_model.hpp>
#include <specdec/backend/tree_forward.hpp>

#include "llama_model.hpp"

namespace llama {

using specdec::request_id;

//! A `target_model` over a `llama_model` (held by reference; it must outlive the target). Each request
//! owns a `kv_cache` of `max_context_length()` slots. `forward` evaluates every node of every tree of
//! the batch in one `forward_pass` (all rows through each weight matrix together), each node at its
//! position and attending to its request's committed entries and its ancestors by the packed mask.
//! Checks the decoder's bookkeeping: a forward or commit whose committed length disagrees with the
//! cache throws `specdec::runtime_error`.
class llama_target {
public:
  explicit llama_target(const llama_model& model, index_t max_context = 0);

  [[nodiscard]] index_t vocab_size() const noexcept { return model_->config().vocab_size; }
  [[nodiscard]] index_t max_context_length() const noexcept { return max_context_; }
  [[nodiscard]] const llama_model& model() const noexcept { return *model_; }

  void prefill(request_id request, std::span<const token_id> prompt);
  void forward(const specdec::tree_forward_batch& batch, matrix_view<float> logits);
  void commit(const specdec::kv_commit& c);
  void release(request_id request);

  //! Cached entries of `request` (0 for an unknown one).
  [[nodiscard]] index_t length(request_id request) const;

  // Capabilities.
  [[nodiscard]] index_t hidden_size() const noexcept { return model_->config().dim; }
  //! The final-norm states of the rows of the latest call: after `forward` (or `forward_partial`) one
  //! row per tree node, after `prefill` one row per cached prompt token (what head drafters read).
  [[nodiscard]] const_matrix_view<float> last_hidden_states() const noexcept {
    return from_prefill_ ? const_matrix_view<float>(prefill_hidden_.data(), prefill_rows_, hidden_size()) : pass_.hidden();
  }
  void embed(std::span<const token_id> tokens, matrix_view<float> out) const;
  void apply_lm_head(const_matrix_view<float> states, matrix_view<float> logits) const { pass_.lm_head(states, logits); }
  [[nodiscard]] index_t num_layers() const noexcept { return model_->config().n_layers; }
  //! `forward` through the first `layers` layers, then the final norm and the LM head (self-speculative
  //! layer skip). The committed context is read from the request's cache: its first `layers` layers
  //! hold exactly what a `layers`-deep model computes for those tokens. The batch's nodes go to a
  //! scratch cache of the target's own, so the committed cache is never touched: `commit` and
  //! `release` keep it in step by construction.
  void forward_partial(const specdec::tree_forward_batch& batch, index_t layers, matrix_view<float> logits);

  //! Evaluations so far: forwards and nodes, for cost accounting.
  struct call_counts {
    std::uint64_t forwards = 0;          //!< full forwards
    std::uint64_t nodes = 0;             //!< tree nodes they evaluated
    std::uint64_t partial_forwards = 0;  //!< `forward_partial` calls (layer skip)
    std::uint64_t partial_nodes = 0;     //!< tree nodes they evaluated
  };
  [[nodiscard]] const call_counts& calls() const noexcept { return calls_; }

private:
  struct request_state {
    kv_cache cache;
    index_t length = 0;   // committed entries
    index_t written = 0;  // entries the latest forward wrote (committed + tree nodes)
    bool live = false;
  };
  request_state& state(request_id request);
  void check_batch(const specdec::tree_forward_batch& batch, matrix_view<float> logits, index_t layers);
  void run(const specdec::tree_forward_batch& batch, index_t layers, bool partial, matrix_view<float> logits);

  const llama_model* model_;
  index_t max_context_;
  std::vector<request_state> requests_;
  std::vector<kv_cache> scratch_;  // per batch entry: the partial forward's tree nodes
  forward_pass pass_;
  std::vector<token_id> tokens_;
  std::vector<segment> segments_;
  std::vector<std::uint32_t> mask_;
  std::vector<std::int32_t> positions_;
  std::vector<float> prefill_hidden_;  // the latest prefill's states, every chunk
  index_t prefill_rows_ = 0;
  bool from_prefill_ = false;
  call_counts calls_;
};

static_assert(specdec::target_model<llama_target>);
static_assert(specdec::bounded_context<llama_target>);
static_assert(specdec::hidden_state_source<llama_target>);
static_assert(specdec::token_embedder<llama_target>);
static_assert(specdec::lm_head<llama_target>);
static_assert(specdec::partial_forward<llama_target>);

} // namespace llama
