//! The row of each node's parent in the flattened forward: what a kernel needs to gather a parent's
//! hidden state or logits row.
#pragma once

#include <cstdint>
#include <span>

#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/detail/tree_shape.hpp"
#include "specdec/tree/token_tree.hpp"
#include "specdec/tree/token_tree_batch.hpp"

namespace specdec {
inline namespace v0 {

//! Writes `out[i] = first_row + parent(i)`, -1 for the root: the row of node `i`'s parent when the tree's
//! nodes occupy rows `[first_row, first_row + N)` of the forward. Throws on a malformed tree or
//! `out.size() < tree.size()`. O(N).
inline void parent_rows(const token_tree_view& tree, std::span<std::int32_t> out, index_t first_row = 0) {
  detail::check_tree_shape(tree);
  expects(static_cast<index_t>(out.size()) >= tree.size(), "parent_rows.size()", out.size(), ">= tree.size()");
  expects(first_row >= 0 && first_row + tree.size() <= INT32_MAX, "first_row", first_row, "0 <= first_row < 2^31 - N");
  out[0] = -1;
  for (index_t i = 1; i < tree.size(); ++i) {
    out[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(first_row + tree.parent(i));
  }
}

//! The batched form: flat node `r` of tree `b` gets `offsets.begin(b) + parent`, its parent's flat
//! row, and roots get -1. `out` must hold the batch's total nodes. O(total nodes).
inline void parent_rows(const token_tree_batch_view& batch, std::span<std::int32_t> out) {
  batch.offsets().validate("tree_offsets");
  expects(static_cast<index_t>(out.size()) >= batch.total_nodes(), "parent_rows.size()", out.size(),
          ">= total nodes of the batch");
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    const index_t first = batch.offsets().begin(b);
    detail::in_element("trees", b, [&] {
      parent_rows(batch.tree(b), out.subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(batch.offsets().size(b))), first);
    });
  }
}

} // namespace v0
} // namespace specdec
