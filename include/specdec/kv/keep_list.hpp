//! The KV keep-list of an accepted tree path: which cache entries move where so that the cache holds
//! the context followed by the accepted path.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <span>

#include "specdec/core/contiguous.hpp"
#include "specdec/core/error.hpp"
#include "specdec/core/matrix_view.hpp"
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

namespace detail {

//! Request `b`'s accepted draft nodes, local to its tree, from row `b` of engine accept indices (root
//! first, batch-wide, padded with -1); checks the row's form and returns the number of drafts.
template <layout_index Index>
std::size_t local_accepted_path(const token_tree_batch_view& batch, const_matrix_view<Index> accept_indices, index_t b,
                                std::span<std::int32_t> local) {
  const Index* row = accept_indices.row_data(b);
  const index_t first = batch.offsets().begin(b);
  expects(accept_indices.cols() >= 1, "accept_indices.cols()", accept_indices.cols(), ">= 1 (the root)");
  expects_element(static_cast<index_t>(row[0]) == first, "accept_indices", 0, row[0],
                  "the request's root: its first node's batch-wide index (tree_offsets[b])");
  std::size_t count = 0;
  index_t c = 1;
  for (; c < accept_indices.cols() && row[c] != -1; ++c) {
    const auto node = static_cast<index_t>(row[c]);
    expects_element(node > first && node < batch.offsets().end(b), "accept_indices", c, row[c],
                    "a draft node of the request's tree (batch-wide index in (tree_offsets[b], tree_offsets[b + 1])), or -1 padding");
    expects(count < local.size(), "accepted nodes", count + 1, "at most max_tree_depth (255) drafts on a root path");
    local[count++] = static_cast<std::int32_t>(node - first);
  }
  for (; c < accept_indices.cols(); ++c) {
    expects_element(row[c] == -1, "accept_indices", c, row[c], "-1 padding after the first -1");
  }
  return count;
}

} // namespace detail

//! The batched keep-list from engine accept indices, the form verification kernels emit (e.g. SGLang's
//! `accept_index`, TensorRT-LLM's accepted paths): row `b` of `accept_indices` (`[batch, width]`,
//! `int32_t` or `int64_t`) lists request `b`'s accepted nodes in increasing depth as batch-wide flat
//! indices (`tree_offsets[b] + local index`), the root first, padded with -1. Equal to the batched
//! `keep_list` with the root dropped and the indices made local; writes `batch_size + 1` move offsets
//! and returns the total number of moves (at most the total accepted drafts, which `moves` must hold).
//! Every request is checked before anything is written (errors start with "in trees[b]: "). O(batch *
//! width).
template <layout_index Index>
index_t keep_list_from_accept_indices(const token_tree_batch_view& batch, const_matrix_view<Index> accept_indices,
                                      std::span<const std::int32_t> context_lengths, std::span<kv_move> moves,
                                      std::span<std::int32_t> move_offsets) {
  batch.offsets().validate("tree_offsets");
  accept_indices.validate("accept_indices");
  expects(accept_indices.rows() >= batch.batch_size(), "accept_indices.rows()", accept_indices.rows(), ">= batch_size");
  expects(static_cast<index_t>(context_lengths.size()) >= batch.batch_size(), "context_lengths.size()",
          context_lengths.size(), ">= batch_size");
  expects(static_cast<index_t>(move_offsets.size()) >= batch.batch_size() + 1, "move_offsets.size()", move_offsets.size(),
          ">= batch_size + 1");
  std::array<std::int32_t, static_cast<std::size_t>(max_tree_depth)> local{};
  std::size_t drafts = 0;
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    detail::in_element("trees", b, [&] {
      const std::size_t count = detail::local_accepted_path(batch, accept_indices, b, local);
      detail::check_keep_list_inputs(batch.tree(b), std::span<const std::int32_t>(local.data(), count),
                                     context_lengths[static_cast<std::size_t>(b)], count);
      drafts += count;
    });
  }
  expects(moves.size() >= drafts, "moves.size()", moves.size(), ">= the total accepted draft nodes");
  index_t total = 0;
  move_offsets[0] = 0;
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    const std::size_t count = detail::local_accepted_path(batch, accept_indices, b, local);
    total += detail::write_keep_list(std::span<const std::int32_t>(local.data(), count), context_lengths[static_cast<std::size_t>(b)],
                                     moves.data() + total);
    move_offsets[static_cast<std::size_t>(b + 1)] = static_cast<std::int32_t>(total);
  }
  return total;
}

} // namespace v0
} // namespace specdec
