//! Position ids of the tree nodes in one forward: cached length + depth.
#pragma once

#include <concepts>
#include <limits>
#include <cstdint>
#include <span>

#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/detail/tree_shape.hpp"
#include "specdec/tree/token_tree.hpp"
#include "specdec/tree/token_tree_batch.hpp"

namespace specdec {
inline namespace v0 {

//! Writes `out[i] = context_length + depth(i)`: the root sits right after the `context_length` cached
//! tokens and siblings share a position (rotary embeddings see each root path as a plain sequence).
//! `Position` is the engine's index type (`int32_t` for TensorRT-LLM and FlashInfer, `int64_t` for
//! vLLM). Throws on a malformed tree, a negative context or `out.size() < tree.size()`. O(N).
template <std::integral Position>
void position_ids(const token_tree_view& tree, index_t context_length, std::span<Position> out) {
  detail::check_tree_shape(tree);
  expects(context_length >= 0, "context_length", context_length, ">= 0");
  expects(static_cast<index_t>(out.size()) >= tree.size(), "position_ids.size()", out.size(), ">= tree.size()");
  expects(context_length + tree.max_depth() <= static_cast<index_t>(std::numeric_limits<Position>::max()), "context_length",
          context_length, "context_length + max depth representable in the position type");
  for (index_t i = 0; i < tree.size(); ++i) {
    out[static_cast<std::size_t>(i)] = static_cast<Position>(context_length + tree.depth(i));
  }
}

//! The batched form: `out` is ragged like the batch's nodes, and tree `b` starts at
//! `context_lengths[b]`. Equal to `position_ids` tree by tree. O(total nodes).
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
      position_ids(batch.tree(b), context_lengths[static_cast<std::size_t>(b)],
                   out.subspan(static_cast<std::size_t>(batch.offsets().begin(b)), static_cast<std::size_t>(batch.offsets().size(b))));
    });
  }
}

} // namespace v0
} // namespace specdec
