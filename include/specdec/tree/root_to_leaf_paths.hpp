//! Root-to-leaf paths of a tree, padded with -1: Medusa's and EAGLE's "retrieve indices".
#pragma once

#include <cstdint>
#include <span>

#include "specdec/core/error.hpp"
#include "specdec/core/matrix_view.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/detail/tree_shape.hpp"
#include "specdec/tree/token_tree.hpp"
#include "specdec/tree/token_tree_batch.hpp"

namespace specdec {
inline namespace v0 {

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

//! Writes the paths of a checked tree and returns its number of leaves (rows written).
inline index_t write_root_to_leaf_paths(const token_tree_view& tree, matrix_view<std::int32_t> paths) noexcept {
  const node_bitset has_child = nodes_with_children(tree);
  index_t row = 0;
  for (index_t i = 0; i < tree.size(); ++i) {
    if (has_child.test(i)) continue;
    std::int32_t* out = paths.row_data(row++);
    for (index_t c = tree.depth(i) + 1; c < paths.cols(); ++c) out[c] = -1;
    for (index_t n = i; n >= 0; n = tree.parent(n)) out[tree.depth(n)] = static_cast<std::int32_t>(n);
  }
  return row;
}

} // namespace detail

//! Writes one row per leaf (a node without children), leaves in increasing node index: row `l` holds
//! the node indices from the root to leaf `l` (`paths(l, 0) == 0`, `paths(l, depth(leaf)) == leaf`),
//! then -1 up to `paths.cols()`. A root-only tree has one path, `{0}`. Returns the number of leaves.
//! `paths` must be at least `[leaves, max_depth + 1]` (see `layout_sizes`); other rows are untouched.
//! Throws on a malformed tree (a depth beyond `max_tree_depth` included) or an undersized `paths`;
//! nothing is written when it throws. Allocation-free. O(leaves * cols).
//! Source: Medusa (Cai et al., 2024) and EAGLE (Li et al., 2024) gather the logits of each candidate
//! path through these indices.
inline index_t root_to_leaf_paths(const token_tree_view& tree, matrix_view<std::int32_t> paths) {
  const detail::path_shape shape = detail::checked_path_shape(tree);
  paths.validate("paths");
  expects(paths.rows() >= shape.leaves, "paths.rows()", paths.rows(), ">= the number of leaves");
  expects(paths.cols() >= shape.deepest + 1, "paths.cols()", paths.cols(), ">= max_depth + 1");
  detail::write_root_to_leaf_paths(tree, paths);
  return shape.leaves;
}

//! The batched form: tree `b`'s paths are rows `[leaf_offsets[b], leaf_offsets[b + 1])` of `paths`,
//! with node indices local to the tree; writes `batch_size + 1` leaf offsets and returns the total
//! number of leaves. `paths` must be at least `[total leaves, largest max_depth + 1]`. Equal to
//! `root_to_leaf_paths` tree by tree. Every tree is checked before anything is written.
inline index_t root_to_leaf_paths(const token_tree_batch_view& batch, matrix_view<std::int32_t> paths,
                                  std::span<std::int32_t> leaf_offsets) {
  batch.offsets().validate("tree_offsets");
  paths.validate("paths");
  expects(static_cast<index_t>(leaf_offsets.size()) >= batch.batch_size() + 1, "leaf_offsets.size()",
          leaf_offsets.size(), ">= batch_size + 1");
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
  leaf_offsets[0] = 0;
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    row += detail::write_root_to_leaf_paths(batch.tree(b), paths.middle_rows(row, paths.rows() - row));
    leaf_offsets[static_cast<std::size_t>(b + 1)] = static_cast<std::int32_t>(row);
  }
  return row;
}

} // namespace v0
} // namespace specdec
