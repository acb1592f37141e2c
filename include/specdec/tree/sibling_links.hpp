//! First-child / next-sibling links of a token tree: children in rank order without a search.
#pragma once

#include <cstdint>
#include <span>

#include "specdec/core/error.hpp"
#include "specdec/tree/token_tree.hpp"

namespace specdec {
inline namespace v0 {

//! Writes, for every node, its first child (lowest index, i.e. best rank) and its next sibling (the next
//! higher index with the same parent), -1 where there is none. Walking `first_child[n]`, then
//! `next_sibling[...]` visits the children of `n` in rank order. This is the layout SGLang's tree
//! verification kernels take. O(N); both outputs must hold `tree.size()` entries. Precondition: `tree`
//! is valid (see `validate`); parents are not range-checked here.
inline void sibling_links(const token_tree_view& tree, std::span<std::int32_t> first_child,
                          std::span<std::int32_t> next_sibling) {
  const auto n = static_cast<std::size_t>(tree.size());
  expects(first_child.size() >= n, "first_child.size()", first_child.size(), ">= tree.size()");
  expects(next_sibling.size() >= n, "next_sibling.size()", next_sibling.size(), ">= tree.size()");
  for (std::size_t i = 0; i < n; ++i) {
    first_child[i] = -1;
    next_sibling[i] = -1;
  }
  // Backwards, each node becomes its parent's first child and links the previous first child: the
  // final first child is the lowest index and sibling lists run in increasing index.
  for (std::size_t i = n; i-- > 1;) {
    const auto parent = static_cast<std::size_t>(tree.parent(static_cast<index_t>(i)));
    next_sibling[i] = first_child[parent];
    first_child[parent] = static_cast<std::int32_t>(i);
  }
}

} // namespace v0
} // namespace specdec
