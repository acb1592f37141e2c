//! The row of each node's parent in the flattened forward: what a kernel needs to gather a parent's
//! hidden state or logits row.
#pragma once

#include <cstdint>
#include <limits>
#include <span>

#include "specdec/core/contiguous.hpp"
#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/detail/tree_shape.hpp"
#include "specdec/tree/token_tree.hpp"
#include "specdec/tree/token_tree_batch.hpp"

namespace specdec {
inline namespace v0 {

namespace detail {

//! Checks one tree for `parent_rows`: a well-formed tree, room for it, and rows
//! `[first_row, first_row + N)` representable in `Index` (`first_row <= max(Index) - N`, compared
//! without forming the sum, so that no `first_row` can overflow the check itself).
template <layout_index Index>
void check_parent_rows(const token_tree_view& tree, std::size_t out_size, index_t first_row) {
  check_tree_shape(tree);
  expects(static_cast<index_t>(out_size) >= tree.size(), "parent_rows.size()", out_size, ">= tree.size()");
  expects(first_row >= 0 && first_row <= static_cast<index_t>(std::numeric_limits<Index>::max()) - tree.size(), "first_row",
          first_row, "0 <= first_row <= max(index type) - N");
}

template <layout_index Index>
void write_parent_rows(const token_tree_view& tree, Index* out, index_t first_row) noexcept {
  out[0] = -1;
  for (index_t i = 1; i < tree.size(); ++i) out[i] = static_cast<Index>(first_row + tree.parent(i));
}

} // namespace detail

//! Writes `out[i] = first_row + parent(i)`, -1 for the root: the row of node `i`'s parent when the tree's
//! nodes occupy rows `[first_row, first_row + N)` of the forward. `out` is a writable contiguous range
//! (`std::vector`, `std::span`, ...) of `int32_t` or `int64_t`. Throws on a malformed tree,
//! `out.size() < tree.size()` or rows beyond the index type; nothing is written when it throws. O(N).
template <layout_index_output Out>
void parent_rows(const token_tree_view& tree, Out&& out, index_t first_row = 0) {
  using Index = std::ranges::range_value_t<Out>;
  const auto rows = as_span(out);
  detail::check_parent_rows<Index>(tree, rows.size(), first_row);
  detail::write_parent_rows(tree, rows.data(), first_row);
}

//! The batched form: flat node `r` of tree `b` gets `offsets.begin(b) + parent`, its parent's flat
//! row, and roots get -1. `out` must hold the batch's total nodes. Every tree is checked before anything
//! is written. O(total nodes).
template <layout_index_output Out>
void parent_rows(const token_tree_batch_view& batch, Out&& out) {
  using Index = std::ranges::range_value_t<Out>;
  const auto rows = as_span(out);
  batch.offsets().validate("tree_offsets");
  expects(static_cast<index_t>(rows.size()) >= batch.total_nodes(), "parent_rows.size()", rows.size(),
          ">= total nodes of the batch");
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    detail::in_element("trees", b, [&] {
      detail::check_parent_rows<Index>(batch.tree(b), static_cast<std::size_t>(batch.offsets().size(b)), batch.offsets().begin(b));
    });
  }
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    detail::write_parent_rows(batch.tree(b), rows.data() + batch.offsets().begin(b), batch.offsets().begin(b));
  }
}

} // namespace v0
} // namespace specdec
