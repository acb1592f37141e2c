//! The concept a user's target model satisfies: prefill, one batched tree forward, commit, release.
#pragma once

#include <concepts>
#include <span>

#include "specdec/backend/tree_forward.hpp"
#include "specdec/core/matrix_view.hpp"
#include "specdec/core/types.hpp"

namespace specdec {
inline namespace v0 {

//! A target model behind its KV cache, as the decoders drive it:
//! - `m.vocab_size()`: the size of its vocabulary (the logits' columns);
//! - `m.prefill(request, prompt)`: starts `request`, caching the KV of every prompt token but the last
//!   (`prompt.size() - 1` entries); the last prompt token is the first step's root;
//! - `m.forward(batch, logits)`: evaluates every node of every tree of `batch` in one pass
//!   (`tree_forward_batch` states positions, mask and KV slots) and writes node `row`'s next-token
//!   logits to `logits` row `row` (`logits` is `[batch.total_nodes(), vocab_size()]`, float32);
//! - `m.commit(c)`: keeps the accepted path's KV (`kv_commit`) and drops the rest of the tree's;
//! - `m.release(request)`: forgets `request`.
//! The decoders take the model by reference and never copy it. Backends run on the caller's thread.
template <class M>
concept target_model = requires(M& m, const M& cm, request_id request, std::span<const token_id> prompt,
                                const tree_forward_batch& batch, matrix_view<float> logits, const kv_commit& commit) {
  { cm.vocab_size() } -> std::convertible_to<index_t>;
  m.prefill(request, prompt);
  m.forward(batch, logits);
  m.commit(commit);
  m.release(request);
};

//! Optional: the longest sequence a request may reach in the model's cache (context plus the tree of a
//! step). The decoders bound each step's tree by it; without the member they assume no limit.
template <class M>
concept bounded_context = requires(const M& m) {
  { m.max_context_length() } -> std::convertible_to<index_t>;
};

} // namespace v0
} // namespace specdec
