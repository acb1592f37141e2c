//! Trained head backends for the llama2.c target, loaded from the safetensors files that
//! training/train.py exports: Medusa-1 heads (`independent_heads`), Hydra and Clover-2 heads and an
//! EAGLE-1 feature drafter (`regressive_heads`). They compute; specdec's `head_drafter` owns the tree search. Eigen stays in
//! trained_heads.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <specdec/backend/heads.hpp>
#include <specdec/core/matrix_view.hpp>
#include <specdec/core/types.hpp>

#include "llama_model.hpp"
#include "safetensors.hpp"

namespace llama {

//! What a head backend computed, for pricing its work at another model shape (scripts/results): calls
//! over the committed context (Clover's augmenting block, EAGLE's layer over new positions), calls for
//! the root (Medusa's heads, Clover's depth-0 head) and calls for deeper nodes, each with its rows.
struct head_call_counts {
  std::uint64_t context_calls = 0, context_rows = 0;
  std::uint64_t root_calls = 0, root_rows = 0;
  std::uint64_t node_calls = 0, node_rows = 0;
};

//! Medusa-1 heads (Cai et al., 2024): head k on the target's final-norm state s writes
//! W_k (s + SiLU(A_k s + b_k)), the distribution of the token k + 1 places after the root. Tensors
//! `medusa.{k}.block.weight` [D, D], `medusa.{k}.block.bias` [D], `medusa.{k}.lm_head.weight` [V, D];
//! metadata `kind` = medusa, `depth` = K, `dim`, `vocab_size` (checked against the target).
class medusa_backend {
public:
  medusa_backend(const safetensors& file, const llama_model& target);

  [[nodiscard]] index_t num_heads() const noexcept { return heads_; }
  [[nodiscard]] index_t hidden_size() const noexcept { return dim_; }
  [[nodiscard]] index_t vocab_size() const noexcept { return vocab_; }
  //! Logits row r * num_heads() + k = head k on state row r. O(rows x K x (D^2 + V D)).
  void apply_heads(const_matrix_view<float> states, matrix_view<float> logits);

  [[nodiscard]] const head_call_counts& calls() const noexcept { return calls_; }

private:
  index_t heads_ = 0, dim_ = 0, vocab_ = 0;
  std::vector<std::vector<float>> block_w_, block_b_, lm_head_;
  std::vector<float> scratch_;
  head_call_counts calls_;
};
static_assert(specdec::independent_heads<medusa_backend>);

//! Hydra heads (Ankner et al., 2024) in recurrent form: the depth-d node with token x and parent
//! state s (the target's state before the root for the root) gets the state
//! s' = s + fc2_d(SiLU(fc1_d [s; E x])) and the logits W s' (the target's embedding E and classifier W).
//! Tensors `hydra.{d}.fc1.weight` [D, 2D], `.fc1.bias` [D], `.fc2.weight` [D, D], `.fc2.bias` [D].
//! Keeps each request's latest context state (`observe`); drafts nothing before the first one.
class hydra_backend {
public:
  hydra_backend(const safetensors& file, const llama_model& target);

  [[nodiscard]] index_t vocab_size() const noexcept { return vocab_; }
  [[nodiscard]] index_t depth() const noexcept { return depth_; }
  void observe(const specdec::context_states& states);
  //! `depth()` when the request has the context state of the token before its root, else 0.
  index_t prepare(specdec::request_id request, std::span<const token_id> tokens);
  void step(const specdec::head_step& step, matrix_view<float> logits);
  void release(specdec::request_id request);

  [[nodiscard]] const head_call_counts& calls() const noexcept { return calls_; }

private:
  struct context {
    std::vector<float> state;
    index_t position = -1;
  };
  context& at(specdec::request_id request);
  float* slot(std::int32_t s);

  const llama_model* target_;
  index_t depth_ = 0, dim_ = 0, vocab_ = 0;
  std::vector<std::vector<float>> fc1_w_, fc1_b_, fc2_w_, fc2_b_;
  std::vector<context> contexts_;
  std::vector<float> slots_;  // [slot, D]
  std::vector<float> input_, hidden_, next_;
  specdec::request_id request_ = 0;
  head_call_counts calls_;
};
static_assert(specdec::regressive_heads<hydra_backend>);

//! One llama2.c layer's weights as the head files store them (`{prefix}.rms_att`, `.wq`, `.wk`, `.wv`,
//! `.wo`, `.rms_ffn`, `.w1`, `.w2`, `.w3`), at the target's shape.
struct layer_weights {
  std::vector<float> rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3;
  static layer_weights load(const safetensors& file, const std::string& prefix, const llama_config& c);
};

//! Per-request key/value rows of a draft layer: row `i` is position `i` of the committed context.
struct draft_kv {
  std::vector<float> k, v;  // [rows, kv_dim]
  index_t rows = 0;
};

//! Clover-2 heads (Xiao et al., 2024, arXiv 2408.00264; the structure of the public code's
//! Clover2Model): the augmenting block runs over the context in `prepare` -- for each newly committed
//! position j, u = attn1(h[j], E x[j+1]) through one llama layer (causal, KV kept per request) and a
//! norm -- giving the root's state; the depth-0 logits are W norm_head(mlp(state)); deeper nodes
//! (regressive connection + attention decoder) s' = attn2(s, E x), logits W norm_head(mlp2 [s'; E x]).
//! attn(x, y) = x + v(y) * cos(q(norm(x)), k(y)) per attention head. Tensors `clover.*`
//! (training/heads.py `Clover.tensors`). O(context) per step for the layer's attention. The ablations of
//! training/README.md load too: `__metadata__.augment` 0 drops the layer (u = attn1(h[j], E x[j+1])),
//! `regressive` 0 drops the drafted tokens after depth 0 (s' = s, mlp2 [s; 0]).
class clover_backend {
public:
  clover_backend(const safetensors& file, const llama_model& target);

  [[nodiscard]] index_t vocab_size() const noexcept { return vocab_; }
  [[nodiscard]] index_t depth() const noexcept { return depth_; }
  //! Whether the file has the augmenting block / the regressive connection (both, except in ablations).
  [[nodiscard]] bool augmented() const noexcept { return augment_; }
  [[nodiscard]] bool regressive() const noexcept { return regressive_; }
  void observe(const specdec::context_states& states);
  index_t prepare(specdec::request_id request, std::span<const token_id> tokens);
  void step(const specdec::head_step& step, matrix_view<float> logits);
  void release(specdec::request_id request);

  struct attention_weights {
    std::vector<float> norm, q, qb, k, kb, v, vb;
  };

  [[nodiscard]] const head_call_counts& calls() const noexcept { return calls_; }

private:
  struct context {
    std::vector<float> pending;  // observed states not yet through the augmenting block, [rows, D]
    index_t pending_first = 0;   // position of pending's first row
    index_t observed = 0;        // positions observed so far
    draft_kv kv;                 // the augmenting layer's keys and values, one row per processed position
    std::vector<float> root;     // the root's state (the augmented state of the position before it)
  };
  context& at(specdec::request_id request);
  float* slot(std::int32_t s);

  const llama_model* target_;
  index_t depth_ = 0, dim_ = 0, vocab_ = 0;
  bool augment_ = true, regressive_ = true;
  attention_weights attn1_, attn2_;
  layer_weights layer_;
  std::vector<float> norm_aug_, norm_head_, mlp_w_, mlp_b_, mlp2_w_, mlp2_b_;
  std::vector<context> contexts_;
  std::vector<float> slots_;
  std::vector<float> a_, b_, c_;
  specdec::request_id request_ = 0;
  head_call_counts calls_;
};
static_assert(specdec::regressive_heads<clover_backend>);

//! An EAGLE-1 style feature drafter (Li et al., 2024): the input of position p is
//! fc([E x[p]; f[p-1]]) through one llama layer at position p, attending to the committed context's
//! inputs (true features, KV kept per request) and to the node's ancestors in the tree (predicted
//! features, followed through `parents`); the output is the predicted feature f[p], the logits W f[p].
//! The root (depth 0) takes the target's state of the position before it. Tensors `eagle.fc.*`,
//! `eagle.layer.*`. O(context + depth) per node.
class eagle_backend {
public:
  eagle_backend(const safetensors& file, const llama_model& target);

  [[nodiscard]] index_t vocab_size() const noexcept { return vocab_; }
  [[nodiscard]] index_t depth() const noexcept { return depth_; }
  void observe(const specdec::context_states& states);
  index_t prepare(specdec::request_id request, std::span<const token_id> tokens);
  void step(const specdec::head_step& step, matrix_view<float> logits);
  void release(specdec::request_id request);

  [[nodiscard]] const head_call_counts& calls() const noexcept { return calls_; }

private:
  struct context {
    std::vector<float> states;  // observed target states, [positions, D] (position i = row i)
    draft_kv kv;                // the draft layer's keys/values of inputs at positions 1 .. (row i: position i + 1)
  };
  struct node {
    std::vector<float> feature, k, v;
    std::int32_t parent = -1;
    index_t position = 0;
  };
  context& at(specdec::request_id request);
  node& slot(std::int32_t s);

  const llama_model* target_;
  index_t depth_ = 0, dim_ = 0, vocab_ = 0;
  std::vector<float> fc_w_, fc_b_;
  layer_weights layer_;
  std::vector<context> contexts_;
  std::vector<node> nodes_;
  std::vector<float> input_, x_;
  specdec::request_id request_ = 0;
  head_call_counts calls_;
};
static_assert(specdec::regressive_heads<eagle_backend>);

} // namespace llama
