//! Position ids of the tree nodes in one forward: cached length + depth.
#pragma once

#include <concepts>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>

#include "specdec/core/contiguous.hpp"
#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/detail/tree_shape.hpp"
#include "specdec/tree/token_tree.hpp"
#include "specdec/tree/token_tree_batch.hpp"

namespace specdec {
inline namespace v0 {

namespace detail {

//! The largest value of `Position` as an `index_t` (`index_t`'s maximum for wider unsigned types).
template <std::integral Position>
inline constexpr index_t position_limit = std::cmp_less(std::numeric_limits<index_t>::max(), std::numeric_limits<Position>::max())
                                              ? std::numeric_limits<index_t>::max()
                                              : static_cast<index_t>(std::numeric_limits<Position>::max());

//! Checks what `position_ids` needs of one tree and its context: a well-formed tree and
//! `0 <= context_length <= max(Position) - max depth`, computed without overflow, so that every
//! `context_length + depth(i)` fits `Position`. Returns nothing; throws `specdec::invalid_argument`.
template <std::integral Position>
void check_position_ids(const token_tree_view& tree, index_t context_length, std::size_t out_size) {
  check_tree_shape(tree);
  expects(context_length >= 0, "context_length", context_length, ">= 0");
  expects(static_cast<index_t>(out_size) >= tree.size(), "position_ids.size()", out_size, ">= tree.size()");
  // max_depth <= max_tree_depth (checked above), so the subtraction cannot overflow for any Position
  // of at least 16 bits; narrower types reject every context, as no position would fit.
  expects(context_length <= position_limit<Position> - tree.max_depth(), "context_length", context_length,
          "context_length + max depth representable in the position type");
}

template <std::integral Position>
void write_position_ids(const token_tree_view& tree, index_t context_length, Position* out) noexcept {
  for (index_t i = 0; i < tree.size(); ++i) out[i] = static_cast<Position>(context_length + tree.depth(i));
}

} // namespace detail

//! Writes `out[i] = context_length + depth(i)`: the root sits right after the `context_length` cached
//! tokens and siblings share a position (rotary embeddings see each root path as a plain sequence).
//! `Position` is the engine's index type (`int32_t` for TensorRT-LLM and FlashInfer, `int64_t` for
//! vLLM). Throws on a malformed tree (a depth beyond `max_tree_depth` included), a negative context, a
//! context so large that `context_length + depth` would not fit `Position`, or
//! `out.size() < tree.size()`; nothing is written when it throws. O(N).
template <std::integral Position>
void position_ids(const token_tree_view& tree, index_t context_length, std::span<Position> out) {
  detail::check_position_ids<Position>(tree, context_length, out.size());
  detail::write_position_ids(tree, context_length, out.data());
}

//! `position_ids` into any writable contiguous range of integers (`std::vector<int64_t>`, ...).
template <writable_contiguous_range Out>
  requires std::integral<std::ranges::range_value_t<Out>> && (!std::same_as<std::remove_cvref_t<Out>, std::span<std::ranges::range_value_t<Out>>>)
void position_ids(const token_tree_view& tree, index_t context_length, Out&& out) {
  position_ids(tree, context_length, as_span(out));
}

//! The batched form: `out` is ragged like the batch's nodes, and tree `b` starts at
//! `context_lengths[b]`. Equal to `position_ids` tree by tree. Every tree is checked before anything is
//! written, so an error (its message starts with "in trees[b]: ") leaves `out` untouched. O(total nodes).
template <std::integral Position>
void position_ids(const token_tree_batch_view& batch, std::span<const std::int32_t> context_lengths,
                  std::span<Position> out) {
  batch.offsets().validate("tree_offsets");
  expects(static_cast<index_t>(context_lengths.size()) >= batch.batch_size(), "context_lengths.size()",
          context_lengths.size(), ">= batch_size");
  expects(static_cast<index_t>(out.size()) >= batch.total_nodes(), "position_ids.size()", out.size(),
          ">= total nodes of the batch");
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    detail::in_element("trees", b, [&] {
      detail::check_position_ids<Position>(batch.tree(b), context_lengths[static_cast<std::size_t>(b)],
                                           static_cast<std::size_t>(batch.offsets().size(b)));
    });
  }
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    detail::write_position_ids(batch.tree(b), context_lengths[static_cast<std::size_t>(b)],
                               out.data() + batch.offsets().begin(b));
  }
}

//! The batched `position_ids` into any writable contiguous range of integers.
template <writable_contiguous_range Out>
  requires std::integral<std::ranges::range_value_t<Out>> && (!std::same_as<std::remove_cvref_t<Out>, std::span<std::ranges::range_value_t<Out>>>)
void position_ids(const token_tree_batch_view& batch, std::span<const std::int32_t> context_lengths, Out&& out) {
  position_ids(batch, context_lengths, as_span(out));
}

} // namespace v0
} // namespace specdec
