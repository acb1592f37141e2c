//! What one target forward over a ragged batch of token trees receives, and what a commit hands back
//! to the backend: the data types between the library and a user's model.
#pragma once

#include <cstdint>
#include <span>

#include "specdec/core/matrix_view.hpp"
#include "specdec/core/types.hpp"
#include "specdec/kv/keep_list.hpp"
#include "specdec/tree/token_tree_batch.hpp"

namespace specdec {
inline namespace v0 {

//! A request's handle, chosen by the caller: a slot index unique among live requests. It is also the
//! `request` word of the request's random addresses.
using request_id = std::uint32_t;

//! One batched tree forward: request `requests[b]` evaluates tree `trees.tree(b)` on top of its
//! `committed[b]` cached tokens. Node `i` of tree `b` (flat row `trees.offsets().begin(b) + i`):
//! - is written to the request's KV cache at logical slot `committed[b] + i` (the root, node 0, is the
//!   last emitted token, whose KV this forward computes);
//! - sits at position `positions[row] = committed[b] + depth(i)`;
//! - attends to the request's `committed[b]` cached entries and to the tree nodes `j` whose bit is set
//!   in `mask` row `row` (bit `j % 32` of word `j / 32`, LSB first: TensorRT-LLM's packed layout), its
//!   ancestors and itself;
//! - gets its next-token logits in row `row` of the caller's `[total nodes, vocab]` output.
//! Every view stays valid for the duration of the forward call only.
struct tree_forward_batch {
  std::span<const request_id> requests;
  token_tree_batch_view trees;
  std::span<const std::int32_t> committed;
  std::span<const std::int32_t> positions;
  const_matrix_view<std::uint32_t> mask;

  [[nodiscard]] index_t batch_size() const noexcept { return trees.batch_size(); }
  [[nodiscard]] index_t total_nodes() const noexcept { return trees.total_nodes(); }
};

//! The commit of one request's verified step. The forward wrote tree node `i` at slot
//! `committed_before + i`; the backend applies `moves` in order (each copies every layer's K and V from
//! slot `src` to slot `dst`; `apply_keep_list` does it for strided and paged host caches) and then
//! keeps exactly `committed_after` entries: the old context, the root and the accepted drafts
//! `path[1..]`. The emitted correction or bonus token is not cached: it is the next step's root.
struct kv_commit {
  request_id request = 0;
  index_t committed_before = 0;
  index_t committed_after = 0;
  std::span<const kv_move> moves;
  //! The accepted tree nodes, root first (`path[0] == 0`), for backends that compact by node index.
  std::span<const std::int32_t> path;
};

} // namespace v0
} // namespace specdec
