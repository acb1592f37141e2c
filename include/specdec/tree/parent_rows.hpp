//! The row of each node's parent in the flattened forward: what a kernel needs to gather a parent's
//! hidden state or logits row.
#pragma once

#include <climits>
#include <cstdint>
#include <span>

#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/detail/tree_shape.hpp"
#include "specdec/tree/token_tree.hpp"
#include "specdec/tree/token_tree_batch.hpp"

namespace specdec {
inline namespace v0 {

namespace detail {

//! Checks one tree for `parent_rows`: a well-formed tree, room for it, and rows
//! `[first_row, first_row + N)` representable in int32 (`first_row <= INT32_MAX - N`, compared without
//! forming the sum, so that no `first_row` can overflow the check itself).
inline void check_parent_rows(const token_tree_view& tree, std::size_t out_size, index_t first_row) {
  check_tree_shape(tree);
  expects(static_cast<index_t>(out_size) >= tree.size(), "parent_rows.size()", out_size, ">= tree.size()");
  expects(first_row >= 0 && first_row <= INT32_MAX - tree.size(), "first_row", first_row, "0 <= first_row <= 2^31 - 1 - N");
}

inline void write_parent_rows(const token_tree_view& tree, std::int32_t* out, index_t first_row) noexcept {
  out[0] = -1;
  for (index_t i = 1; i < tree.size(); ++i) out[i] = static_cast<std::int32_t>(first_row + tree.parent(i));
}

} // namespace detail

//! Writes `out[i] = first_row + parent(i)`, -1 for the root: the row of node `i`'s parent when the tree's
//! nodes occupy rows `[first_row, first_row + N)` of the forward. Throws on a malformed tree,
//! `out.size() < tree.size()` or rows beyond int32; nothing is written when it throws. O(N).
inline void parent_rows(const token_tree_view& tree, std::span<std::int32_t> out, index_t first_row = 0) {
  detail::check_parent_rows(tree, out.size(), first_row);
  detail::write_parent_rows(tree, out.data(), first_row);
}

//! The batched form: flat node `r` of tree `b` gets `offsets.begin(b) + parent`, its parent's flat
//! row, and roots get -1. `out` must hold the batch's total nodes. Every tree is checked before anything
//! is written. O(total nodes).
inline void parent_rows(const token_tree_batch_view& batch, std::span<std::int32_t> out) {
  batch.offsets().validate("tree_offsets");
  expects(static_cast<index_t>(out.size()) >= batch.total_nodes(), "parent_rows.size()", out.size(),
          ">= total nodes of the batch");
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    detail::in_element("trees", b, [&] {
      detail::check_parent_rows(batch.tree(b), static_cast<std::size_t>(batch.offsets().size(b)), batch.offsets().begin(b));
    });
  }
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    detail::write_parent_rows(batch.tree(b), out.data() + batch.offsets().begin(b), batch.offsets().begin(b));
  }
}

} // namespace v0
} // namespace specdec
