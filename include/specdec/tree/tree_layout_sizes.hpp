//! The sizes of every flattened layout of a tree or a ragged batch of trees, so that callers can
//! allocate the outputs once.
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>
#include <span>

#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/detail/tree_shape.hpp"
#include "specdec/tree/token_tree.hpp"
#include "specdec/tree/token_tree_batch.hpp"

namespace specdec {
inline namespace v0 {

//! Output sizes of the flatteners (`position_ids`, `ancestor_mask_*`, `root_to_leaf_paths`,
//! `parent_rows`, `sibling_links`). For a batch, per-node outputs are ragged over all nodes and columns
//! are sized for the largest tree.
struct tree_layout_sizes {
  //! Rows of every per-node output: the tree's nodes (batch: all trees' nodes).
  index_t nodes = 0;
  //! The largest tree's node count: the columns of the dense mask.
  index_t max_nodes = 0;
  //! Rows of the paths output: leaves (batch: all trees' leaves).
  index_t leaves = 0;
  //! The largest depth of any node.
  index_t max_depth = 0;
  //! Columns of the paths output: `max_depth + 1`.
  index_t path_width = 1;
  //! Columns of the TensorRT-LLM packed mask: `ceil(max_nodes / 32)` 32-bit words.
  index_t mask_words = 1;
  //! Bytes of the FlashInfer packed custom mask: `ceil(nodes * (context + nodes) / 8)` (batch: the sum
  //! of the per-request segments, each rounded up to a byte).
  index_t flashinfer_mask_bytes = 0;
};

namespace detail {
//! Context lengths are positions: engines keep them in int32, and the mask sizes below stay in range.
inline void check_context_length(index_t context_length) {
  expects(context_length >= 0 && context_length <= INT32_MAX, "context_length", context_length, "in [0, 2^31)");
}
} // namespace detail

//! The bytes of one request's FlashInfer mask segment: `nodes` rows of `context + nodes` bits, one
//! continuous bit stream rounded up to a whole byte.
[[nodiscard]] constexpr index_t flashinfer_mask_bytes(index_t nodes, index_t context_length) noexcept {
  return (nodes * (context_length + nodes) + 7) / 8;
}

//! The layout sizes of `tree` after a context of `context_length` cached tokens. Throws on a malformed
//! tree or a context outside [0, 2^31). O(N).
inline tree_layout_sizes layout_sizes(const token_tree_view& tree, index_t context_length) {
  detail::check_tree_shape(tree);
  detail::check_context_length(context_length);
  const detail::node_bitset has_child = detail::nodes_with_children(tree);
  tree_layout_sizes sizes;
  sizes.nodes = tree.size();
  sizes.max_nodes = tree.size();
  for (index_t i = 0; i < tree.size(); ++i) {
    if (!has_child.test(i)) ++sizes.leaves;
    sizes.max_depth = std::max<index_t>(sizes.max_depth, tree.depth(i));
  }
  sizes.path_width = sizes.max_depth + 1;
  sizes.mask_words = (sizes.max_nodes + 31) / 32;
  sizes.flashinfer_mask_bytes = flashinfer_mask_bytes(tree.size(), context_length);
  return sizes;
}

//! The layout sizes of a batch; `context_lengths[b]` is request `b`'s cached length. Throws on bad
//! offsets, a malformed tree (the message names the tree) or a context length that is negative or
//! missing. O(total nodes).
inline tree_layout_sizes layout_sizes(const token_tree_batch_view& batch, std::span<const std::int32_t> context_lengths) {
  batch.offsets().validate("tree_offsets");
  expects(static_cast<index_t>(context_lengths.size()) >= batch.batch_size(), "context_lengths.size()",
          context_lengths.size(), ">= batch_size");
  tree_layout_sizes sizes;
  sizes.mask_words = 0;
  sizes.path_width = 0;
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    const tree_layout_sizes one =
        detail::in_element("trees", b, [&] { return layout_sizes(batch.tree(b), context_lengths[static_cast<std::size_t>(b)]); });
    sizes.nodes += one.nodes;
    sizes.max_nodes = std::max(sizes.max_nodes, one.max_nodes);
    sizes.leaves += one.leaves;
    sizes.max_depth = std::max(sizes.max_depth, one.max_depth);
    sizes.flashinfer_mask_bytes += one.flashinfer_mask_bytes;
  }
  sizes.path_width = sizes.max_depth + 1;
  sizes.mask_words = (sizes.max_nodes + 31) / 32;
  return sizes;
}

} // namespace v0
} // namespace specdec
