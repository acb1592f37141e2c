//! Internal helpers shared by the tree builders and flatteners: structural checks and a fixed-size
//! node bitset, so that flattening needs no heap scratch.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/token_tree.hpp"

namespace specdec {
inline namespace v0 {
namespace detail {

//! Checks the structure the flatteners rely on (size, parent order, depths up to `max_tree_depth`), not
//! the tokens: layouts never read a token, and a flattener must not index out of bounds on a malformed
//! tree. The depth bound is what lets position and row checks add a depth to a context safely. O(N).
inline void check_tree_shape(const token_tree_view& tree, std::string_view name = "tree.size()") {
  expects(tree.size() >= 1, name, tree.size(), "a tree with at least one node (the root)");
  expects(tree.size() <= max_tree_nodes, name, tree.size(), "at most max_tree_nodes (4096) nodes");
  expects(tree.parent(0) == -1, "parent[0]", tree.parent(0), "-1: node 0 is the root");
  expects(tree.depth(0) == 0, "depth[0]", tree.depth(0), "0: node 0 is the root");
  for (index_t i = 1; i < tree.size(); ++i) {
    const std::int32_t parent = tree.parent(i);
    expects_element(parent >= 0 && parent < i, "parent", i, parent,
                    "0 <= parent[i] < i (nodes in topological order, one root)");
    expects_element(tree.depth(i) == tree.depth(parent) + 1, "depth", i, tree.depth(i), "depth[parent[i]] + 1");
    expects_element(tree.depth(i) <= max_tree_depth, "depth", i, tree.depth(i), "at most max_tree_depth (255)");
  }
}

//! One bit per node of a tree of at most `max_tree_nodes` nodes, on the stack (512 bytes).
class node_bitset {
public:
  constexpr void set(index_t i) noexcept { words_[static_cast<std::size_t>(i >> 6)] |= std::uint64_t{1} << (i & 63); }
  [[nodiscard]] constexpr bool test(index_t i) const noexcept {
    return ((words_[static_cast<std::size_t>(i >> 6)] >> (i & 63)) & 1u) != 0;
  }

private:
  std::array<std::uint64_t, static_cast<std::size_t>(max_tree_nodes / 64)> words_{};
};

//! Marks every node that has a child. O(N).
inline node_bitset nodes_with_children(const token_tree_view& tree) noexcept {
  node_bitset has_child;
  for (index_t i = 1; i < tree.size(); ++i) has_child.set(tree.parent(i));
  return has_child;
}

} // namespace detail
} // namespace v0
} // namespace specdec
