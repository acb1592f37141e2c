//! The flatteners' documented invariants, checked against a tree read straight from its parents.
#pragma once

#include <specdec/tree/ancestor_mask.hpp>
#include <specdec/tree/parent_rows.hpp>
#include <specdec/tree/position_ids.hpp>
#include <specdec/tree/root_to_leaf_paths.hpp>
#include <specdec/tree/sibling_links.hpp>
#include <specdec/tree/tree_layout_sizes.hpp>

#include <cstdint>
#include <vector>

#include "fuzz_support.hpp"

//! Whether `j` is `i` or an ancestor of `i` in a checked tree.
inline bool is_ancestor_or_self(const specdec::token_tree_view& tree, specdec::index_t j, specdec::index_t i) {
  for (specdec::index_t n = i; n >= 0; n = tree.parent(n)) {
    if (n == j) return true;
  }
  return false;
}

//! Every layout of one accepted tree satisfies its definition.
template <class Index>
void check_layouts(const specdec::token_tree_view& tree, specdec::index_t context, const std::vector<std::int64_t>& positions,
                   const std::vector<Index>& rows, specdec::index_t first_row, const std::vector<Index>& first_child,
                   const std::vector<Index>& next_sibling, const Index* paths, specdec::index_t leaves, specdec::index_t width,
                   const std::uint32_t* packed, specdec::index_t words, const std::uint8_t* flashinfer, std::size_t flashinfer_bytes) {
  const specdec::index_t n = tree.size();
  std::vector<bool> has_child(static_cast<std::size_t>(n), false);
  for (specdec::index_t i = 1; i < n; ++i) has_child[static_cast<std::size_t>(tree.parent(i))] = true;
  for (specdec::index_t i = 0; i < n; ++i) {
    const auto u = static_cast<std::size_t>(i);
    FUZZ_REQUIRE(positions[u] == context + tree.depth(i), "position = context + depth");
    FUZZ_REQUIRE(rows[u] == (i == 0 ? -1 : static_cast<Index>(first_row + tree.parent(i))), "parent row");
    // first child: the lowest-index child; next sibling: the next higher index with the same parent.
    Index expected_first = -1;
    for (specdec::index_t c = i + 1; c < n && expected_first < 0; ++c) {
      if (tree.parent(c) == i) expected_first = static_cast<Index>(c);
    }
    FUZZ_REQUIRE(first_child[u] == expected_first, "first child");
    Index expected_next = -1;
    for (specdec::index_t c = i + 1; i > 0 && c < n && expected_next < 0; ++c) {
      if (tree.parent(c) == tree.parent(i)) expected_next = static_cast<Index>(c);
    }
    FUZZ_REQUIRE(next_sibling[u] == expected_next, "next sibling");
    for (specdec::index_t j = 0; j < n; ++j) {
      const bool visible = is_ancestor_or_self(tree, j, i);
      FUZZ_REQUIRE((((packed[i * words + j / 32] >> (j % 32)) & 1u) != 0) == visible, "packed mask bit");
      const specdec::index_t k = i * (context + n) + context + j;
      FUZZ_REQUIRE((((flashinfer[k / 8] >> (k % 8)) & 1u) != 0) == visible, "FlashInfer mask bit");
    }
    for (specdec::index_t w = (n + 31) / 32; w < words; ++w) FUZZ_REQUIRE(packed[i * words + w] == 0, "spare words cleared");
  }
  const specdec::index_t bits = n * (context + n);
  for (specdec::index_t c = 0; c < n * (context + n); ++c) {
    const specdec::index_t col = c % (context + n);
    if (col < context) FUZZ_REQUIRE(((flashinfer[c / 8] >> (c % 8)) & 1u) != 0, "context columns visible");
  }
  for (specdec::index_t k = bits; k < static_cast<specdec::index_t>(flashinfer_bytes) * 8; ++k) {
    FUZZ_REQUIRE(((flashinfer[k / 8] >> (k % 8)) & 1u) == 0, "FlashInfer padding is zero");
  }
  std::vector<int> seen(static_cast<std::size_t>(n), 0);
  for (specdec::index_t r = 0; r < leaves; ++r) {
    const Index* row = paths + r * width;
    FUZZ_REQUIRE(row[0] == 0, "paths start at the root");
    specdec::index_t last = 0;
    for (specdec::index_t c = 1; c < width && row[c] >= 0; ++c) {
      FUZZ_REQUIRE(row[c] < n && tree.parent(row[c]) == row[c - 1], "paths follow parents");
      last = c;
    }
    for (specdec::index_t c = last + 1; c < width; ++c) FUZZ_REQUIRE(row[c] == -1, "paths padded with -1");
    FUZZ_REQUIRE(!has_child[static_cast<std::size_t>(row[last])], "paths end at leaves");
    ++seen[static_cast<std::size_t>(row[last])];
  }
  for (specdec::index_t i = 0; i < n; ++i) {
    FUZZ_REQUIRE(seen[static_cast<std::size_t>(i)] == (has_child[static_cast<std::size_t>(i)] ? 0 : 1), "each leaf once");
  }
}
