//! Root-to-leaf paths of a tree, padded with -1: Medusa's and EAGLE's "retrieve indices", in the row
//! order of each engine.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "specdec/core/contiguous.hpp"
#include "specdec/core/error.hpp"
#include "specdec/core/matrix_view.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/detail/tree_shape.hpp"
#include "specdec/tree/token_tree.hpp"
#include "specdec/tree/token_tree_batch.hpp"

namespace specdec {
inline namespace v0 {

//! The order of the rows (leaves) of `root_to_leaf_paths`. Every order lists each leaf once; a row's
//! content does not depend on it.
enum class path_order : std::uint8_t {
  //! Leaves in increasing node index (the library's own order; EAGLE's).
  leaf_index,
  //! Leaves in decreasing node index: Medusa's `generate_medusa_buffers` walks its sorted choices from
  //! the last, so its `retrieve_indices` rows come in this order.
  medusa,
  //! Leaves in depth-first order, children visited in rank order: TensorRT-LLM's Medusa paths.
  depth_first,
};

namespace detail {

//! The leaves and the largest depth of a well-formed tree.
struct path_shape {
  index_t leaves = 0;
  index_t deepest = 0;
};

inline path_shape checked_path_shape(const token_tree_view& tree) {
  check_tree_shape(tree);
  const node_bitset has_child = nodes_with_children(tree);
  path_shape shape;
  for (index_t i = 0; i < tree.size(); ++i) {
    if (!has_child.test(i)) ++shape.leaves;
    shape.deepest = tree.depth(i) > shape.deepest ? tree.depth(i) : shape.deepest;
  }
  return shape;
}

//! Writes the leaves of a checked tree in `order` to `leaves` (room for N); returns their count.
//! Depth-first uses first-child / next-sibling links on the stack (32 KiB), so nothing is allocated.
inline index_t ordered_leaves(const token_tree_view& tree, path_order order, std::int32_t* leaves) noexcept {
  const node_bitset has_child = nodes_with_children(tree);
  index_t count = 0;
  if (order == path_order::leaf_index) {
    for (index_t i = 0; i < tree.size(); ++i) {
      if (!has_child.test(i)) leaves[count++] = static_cast<std::int32_t>(i);
    }
  } else if (order == path_order::medusa) {
    for (index_t i = tree.size(); i-- > 0;) {
      if (!has_child.test(i)) leaves[count++] = static_cast<std::int32_t>(i);
    }
  } else {
    std::array<std::int32_t, static_cast<std::size_t>(max_tree_nodes)> first_child;
    std::array<std::int32_t, static_cast<std::size_t>(max_tree_nodes)> next_sibling;
    const auto n = static_cast<std::size_t>(tree.size());
    for (std::size_t i = 0; i < n; ++i) first_child[i] = next_sibling[i] = -1;
    for (std::size_t i = n; i-- > 1;) {
      const auto parent = static_cast<std::size_t>(tree.parent(static_cast<index_t>(i)));
      next_sibling[i] = first_child[parent];
      first_child[parent] = static_cast<std::int32_t>(i);
    }
    // Preorder without a stack: descend to the first child; at a leaf, climb until a next sibling.
    std::int32_t node = 0;
    while (node >= 0) {
      if (first_child[static_cast<std::size_t>(node)] >= 0) {
        node = first_child[static_cast<std::size_t>(node)];
        continue;
      }
      leaves[count++] = node;
      while (node > 0 && next_sibling[static_cast<std::size_t>(node)] < 0) node = tree.parent(node);
      node = node > 0 ? next_sibling[static_cast<std::size_t>(node)] : -1;
    }
  }
  return count;
}

//! Writes the paths of a checked tree in `order` and returns its number of leaves (rows written).
template <layout_index Index>
index_t write_root_to_leaf_paths(const token_tree_view& tree, matrix_view<Index> paths, path_order order) noexcept {
  std::array<std::int32_t, static_cast<std::size_t>(max_tree_nodes)> leaves;
  const index_t count = ordered_leaves(tree, order, leaves.data());
  for (index_t row = 0; row < count; ++row) {
    const index_t leaf = leaves[static_cast<std::size_t>(row)];
    Index* out = paths.row_data(row);
    for (index_t c = tree.depth(leaf) + 1; c < paths.cols(); ++c) out[c] = -1;
    for (index_t n = leaf; n >= 0; n = tree.parent(n)) out[tree.depth(n)] = static_cast<Index>(n);
  }
  return count;
}

} // namespace detail

//! Writes one row per leaf (a node without children): row `l` holds the node indices from the root to
//! its leaf (`paths(l, 0) == 0`, `paths(l, depth(leaf)) == leaf`), then -1 up to `paths.cols()`. The rows
//! come in `order`: leaves in increasing node index by default, or as Medusa (decreasing) or
//! TensorRT-LLM (depth-first) list them. A root-only tree has one path, `{0}`. Returns the number of
//! leaves. `paths` (`int32_t` or `int64_t`) must be at least `[leaves, max_depth + 1]` (see
//! `layout_sizes`); other rows are untouched. Throws on a malformed tree (a depth beyond
//! `max_tree_depth` included) or an undersized `paths`; nothing is written when it throws.
//! Allocation-free. O(leaves * cols).
//! Source: Medusa (Cai et al., 2024) and EAGLE (Li et al., 2024) gather the logits of each candidate
//! path through these indices.
template <layout_index Index>
index_t root_to_leaf_paths(const token_tree_view& tree, matrix_view<Index> paths, path_order order = path_order::leaf_index) {
  const detail::path_shape shape = detail::checked_path_shape(tree);
  paths.validate("paths");
  expects(paths.rows() >= shape.leaves, "paths.rows()", paths.rows(), ">= the number of leaves");
  expects(paths.cols() >= shape.deepest + 1, "paths.cols()", paths.cols(), ">= max_depth + 1");
  detail::write_root_to_leaf_paths(tree, paths, order);
  return shape.leaves;
}

//! The batched form: tree `b`'s paths are rows `[leaf_offsets[b], leaf_offsets[b + 1])` of `paths`,
//! with node indices local to the tree, each tree's rows in `order`; writes `batch_size + 1` leaf
//! offsets (any writable contiguous range of `int32_t` or `int64_t`) and returns the total number of
//! leaves. `paths` must be at least `[total leaves, largest max_depth + 1]`. Equal to
//! `root_to_leaf_paths` tree by tree. Every tree is checked before anything is written.
template <layout_index Index, layout_index_output LeafOffsets>
index_t root_to_leaf_paths(const token_tree_batch_view& batch, matrix_view<Index> paths, LeafOffsets&& leaf_offsets,
                           path_order order = path_order::leaf_index) {
  using Offset = std::ranges::range_value_t<LeafOffsets>;
  const auto offsets_out = as_span(leaf_offsets);
  batch.offsets().validate("tree_offsets");
  paths.validate("paths");
  expects(static_cast<index_t>(offsets_out.size()) >= batch.batch_size() + 1, "leaf_offsets.size()",
          offsets_out.size(), ">= batch_size + 1");
  index_t leaves = 0;
  index_t deepest = 0;
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    const detail::path_shape shape = detail::in_element("trees", b, [&] { return detail::checked_path_shape(batch.tree(b)); });
    leaves += shape.leaves;
    deepest = shape.deepest > deepest ? shape.deepest : deepest;
  }
  expects(paths.rows() >= leaves, "paths.rows()", paths.rows(), ">= the total number of leaves");
  expects(paths.cols() >= deepest + 1, "paths.cols()", paths.cols(), ">= the largest max_depth + 1");
  index_t row = 0;
  offsets_out[0] = 0;
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    row += detail::write_root_to_leaf_paths(batch.tree(b), paths.middle_rows(row, paths.rows() - row), order);
    offsets_out[static_cast<std::size_t>(b + 1)] = static_cast<Offset>(row);
  }
  return row;
}

} // namespace v0
} // namespace specdec
