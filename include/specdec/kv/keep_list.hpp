//! The KV keep-list of an accepted tree path: which cache entries move where so that the cache holds
//! the context followed by the accepted path.
#pragma once

#include <cstdint>
#include <limits>
#include <span>

#include "specdec/core/error.hpp"
#include "specdec/core/ragged.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/detail/tree_shape.hpp"
#include "specdec/tree/token_tree.hpp"
#include "specdec/tree/token_tree_batch.hpp"

namespace specdec {
inline namespace v0 {

//! One cache move: copy the entry at logical position `src` to logical position `dst` (`dst < src`).
struct kv_move {
  index_t src = 0;
  index_t dst = 0;
  friend constexpr bool operator==(const kv_move&, const kv_move&) = default;
};

namespace detail {
//! Checks the order `keep_list` produces, which makes applying moves in place safe: every move goes
//! backwards (`0 <= dst < src`) and sources strictly increase, so no move overwrites a later source.
inline void check_moves(std::span<const kv_move> moves) {
  for (std::size_t k = 0; k < moves.size(); ++k) {
    expects_element(moves[k].dst >= 0 && moves[k].dst < moves[k].src, "moves dst", k, moves[k].dst,
                    "0 <= dst < src (keep-list moves go backwards)");
    expects_element(k == 0 || moves[k].src > moves[k - 1].src, "moves src", k, moves[k].src,
                    "sources strictly increasing (keep-list order)");
  }
}

//! Checks one request's keep-list inputs: a well-formed tree, a context such that every position
//! `context_length + node` fits `index_t` (`context_length <= INT64_MAX - N`, compared without forming
//! the sum), room for the moves, and an accepted path that is a root path of the tree, root excluded.
inline void check_keep_list_inputs(const token_tree_view& tree, std::span<const std::int32_t> accepted_path,
                                   index_t context_length, std::size_t out_size) {
  check_tree_shape(tree);
  expects(context_length >= 0 && context_length <= std::numeric_limits<index_t>::max() - tree.size(), "context_length",
          context_length, "0 <= context_length <= 2^63 - 1 - tree.size() (every position must fit index_t)");
  expects(out_size >= accepted_path.size(), "moves.size()", out_size, ">= accepted_path.size()");
  std::int32_t previous = 0;
  for (std::size_t k = 0; k < accepted_path.size(); ++k) {
    const std::int32_t node = accepted_path[k];
    expects_element(node >= 1 && node < tree.size(), "accepted_path", k, node,
                    "a draft node of the tree: 1 <= node < tree.size() (the root is implicit)");
    expects_element(tree.parent(node) == previous, "accepted_path", k, node,
                    "a child of the previous accepted node (the root for entry 0)");
    previous = node;
  }
}

//! Writes the moves of a checked accepted path; returns their count.
inline index_t write_keep_list(std::span<const std::int32_t> accepted_path, index_t context_length, kv_move* out) noexcept {
  index_t count = 0;
  for (std::size_t k = 0; k < accepted_path.size(); ++k) {
    const std::int32_t node = accepted_path[k];
    const auto depth = static_cast<index_t>(k + 1);
    if (node != depth) out[count++] = {context_length + node, context_length + depth};
  }
  return count;
}

} // namespace detail

//! The cache length after committing `accepted` draft tokens after `context_length` cached tokens: the
//! context, the root (written by this step's forward) and the accepted drafts. The bonus token is not
//! in the cache yet: it becomes the next step's root.
[[nodiscard]] constexpr index_t committed_kv_length(index_t context_length, index_t accepted) noexcept {
  return context_length + accepted + 1;
}

//! The keep-list of one step. The forward wrote tree node `i` at logical position `context_length + i`;
//! the accepted draft node at depth `d` must end at `context_length + d`. `accepted_path` lists the
//! accepted draft nodes in increasing depth, root excluded (`accepted_path[0]` is a child of the root,
//! each next entry a child of the previous). Writes the moves `context + node -> context + depth`,
//! skipping those with `node == depth` (already in place), in increasing depth, and returns their
//! count (at most `accepted_path.size()`). Applied in that order the moves never overwrite an entry
//! that a later move reads: every source lies beyond every earlier destination.
//! Throws unless the path is a root path of `tree`, `out` holds `accepted_path.size()` moves and every
//! position `context_length + node` fits `index_t`; nothing is written when it throws. O(A).
//! Source: the KV compaction every tree-verification engine performs (SpecInfer, Medusa, EAGLE).
inline index_t keep_list(const token_tree_view& tree, std::span<const std::int32_t> accepted_path, index_t context_length,
                         std::span<kv_move> out) {
  detail::check_keep_list_inputs(tree, accepted_path, context_length, out.size());
  return detail::write_keep_list(accepted_path, context_length, out.data());
}

//! The batched keep-list: request `b`'s accepted path is `accepted_nodes[accepted_offsets.begin(b),
//! accepted_offsets.end(b))` in tree `b` with context `context_lengths[b]`; its moves are written to
//! `moves[move_offsets[b], move_offsets[b + 1])` (positions logical to request `b`'s own cache).
//! Writes `batch_size + 1` move offsets, returns the total. Equal to `keep_list` request by request;
//! every request is checked before anything is written (an error's message starts with "in trees[b]: ").
inline index_t keep_list(const token_tree_batch_view& batch, ragged_offsets accepted_offsets,
                         std::span<const std::int32_t> accepted_nodes, std::span<const std::int32_t> context_lengths,
                         std::span<kv_move> moves, std::span<std::int32_t> move_offsets) {
  batch.offsets().validate("tree_offsets");
  accepted_offsets.validate("accepted_offsets");
  expects(accepted_offsets.batch_size() == batch.batch_size(), "accepted_offsets batch size", accepted_offsets.batch_size(),
          "== the batch size of the trees");
  expects(accepted_offsets.total_size() <= static_cast<index_t>(accepted_nodes.size()), "accepted_nodes.size()",
          accepted_nodes.size(), ">= accepted_offsets[batch_size]");
  expects(static_cast<index_t>(context_lengths.size()) >= batch.batch_size(), "context_lengths.size()",
          context_lengths.size(), ">= batch_size");
  expects(static_cast<index_t>(moves.size()) >= accepted_offsets.total_size(), "moves.size()", moves.size(),
          ">= the total accepted nodes");
  expects(static_cast<index_t>(move_offsets.size()) >= batch.batch_size() + 1, "move_offsets.size()", move_offsets.size(),
          ">= batch_size + 1");
  const auto path = [&](index_t b) {
    return accepted_nodes.subspan(static_cast<std::size_t>(accepted_offsets.begin(b)), static_cast<std::size_t>(accepted_offsets.size(b)));
  };
  // Every request is checked before anything is written: an error leaves moves and offsets untouched.
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    detail::in_element("trees", b, [&] {
      detail::check_keep_list_inputs(batch.tree(b), path(b), context_lengths[static_cast<std::size_t>(b)], path(b).size());
    });
  }
  index_t total = 0;
  move_offsets[0] = 0;
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    total += detail::write_keep_list(path(b), context_lengths[static_cast<std::size_t>(b)], moves.data() + total);
    move_offsets[static_cast<std::size_t>(b + 1)] = static_cast<std::int32_t>(total);
  }
  return total;
}

} // namespace v0
} // namespace specdec
