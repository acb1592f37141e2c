//! First-child / next-sibling links of a token tree: children in rank order without a search.
#pragma once

#include <cstdint>
#include <span>

#include "specdec/core/contiguous.hpp"
#include "specdec/core/error.hpp"
#include "specdec/tree/detail/tree_shape.hpp"
#include "specdec/tree/token_tree.hpp"
#include "specdec/tree/token_tree_batch.hpp"

namespace specdec {
inline namespace v0 {

namespace detail {

template <layout_index Index>
void write_sibling_links(const token_tree_view& tree, Index* first_child, Index* next_sibling) noexcept {
  const auto n = static_cast<std::size_t>(tree.size());
  for (std::size_t i = 0; i < n; ++i) {
    first_child[i] = -1;
    next_sibling[i] = -1;
  }
  // Backwards, each node becomes its parent's first child and links the previous first child: the
  // final first child is the lowest index and sibling lists run in increasing index.
  for (std::size_t i = n; i-- > 1;) {
    const auto parent = static_cast<std::size_t>(tree.parent(static_cast<index_t>(i)));
    next_sibling[i] = first_child[parent];
    first_child[parent] = static_cast<Index>(i);
  }
}

} // namespace detail

//! Writes, for every node, its first child (lowest index, i.e. best rank) and its next sibling (the next
//! higher index with the same parent), -1 where there is none. Walking `first_child[n]`, then
//! `next_sibling[...]` visits the children of `n` in rank order. This is the layout SGLang's tree
//! verification kernels take. Both outputs are writable contiguous ranges (`std::vector`, `std::span`,
//! ...) of one index type, `int32_t` or `int64_t`, holding at least `tree.size()` entries. O(N). Throws
//! on a malformed tree or an undersized output; nothing is written then.
template <layout_index_output FirstChild, layout_index_output NextSibling>
  requires std::same_as<std::ranges::range_value_t<FirstChild>, std::ranges::range_value_t<NextSibling>>
void sibling_links(const token_tree_view& tree, FirstChild&& first_child, NextSibling&& next_sibling) {
  const auto first = as_span(first_child);
  const auto next = as_span(next_sibling);
  detail::check_tree_shape(tree);
  const auto n = static_cast<std::size_t>(tree.size());
  expects(first.size() >= n, "first_child.size()", first.size(), ">= tree.size()");
  expects(next.size() >= n, "next_sibling.size()", next.size(), ">= tree.size()");
  detail::write_sibling_links(tree, first.data(), next.data());
}

//! The batched form: both outputs are ragged like the batch's nodes and hold node indices local to
//! each tree (SGLang's per-request `retrive_next_token` / `retrive_next_sibling`). Equal to
//! `sibling_links` tree by tree. Every tree is checked before anything is written. O(total nodes).
template <layout_index_output FirstChild, layout_index_output NextSibling>
  requires std::same_as<std::ranges::range_value_t<FirstChild>, std::ranges::range_value_t<NextSibling>>
void sibling_links(const token_tree_batch_view& batch, FirstChild&& first_child, NextSibling&& next_sibling) {
  const auto first_out = as_span(first_child);
  const auto next_out = as_span(next_sibling);
  batch.offsets().validate("tree_offsets");
  const auto total = static_cast<std::size_t>(batch.total_nodes());
  expects(first_out.size() >= total, "first_child.size()", first_out.size(), ">= total nodes of the batch");
  expects(next_out.size() >= total, "next_sibling.size()", next_out.size(), ">= total nodes of the batch");
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    detail::in_element("trees", b, [&] { detail::check_tree_shape(batch.tree(b)); });
  }
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    const auto first = static_cast<std::size_t>(batch.offsets().begin(b));
    detail::write_sibling_links(batch.tree(b), first_out.data() + first, next_out.data() + first);
  }
}

} // namespace v0
} // namespace specdec
