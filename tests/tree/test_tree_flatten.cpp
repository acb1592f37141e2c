#include <specdec/tree/ancestor_mask.hpp>
#include <specdec/tree/parent_rows.hpp>
#include <specdec/tree/position_ids.hpp>
#include <specdec/tree/root_to_leaf_paths.hpp>
#include <specdec/tree/sibling_links.hpp>
#include <specdec/tree/token_tree.hpp>
#include <specdec/tree/token_tree_batch.hpp>
#include <specdec/tree/tree_layout_sizes.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "support/catch.hpp"

using specdec::index_t;
using specdec::matrix_view;
using specdec::token_tree;

namespace {

// Every layout of one tree, written out by hand (see docs/trees.md for the drawings).
struct expected_layout {
  std::string name;
  std::vector<std::int32_t> parents;
  index_t context;
  std::vector<std::int32_t> positions;
  std::vector<std::string> dense;  // row i: '1' where node i attends to node j
  std::vector<std::uint32_t> packed;  // one word per row (N <= 32)
  std::vector<std::uint8_t> flashinfer;
  std::vector<std::vector<std::int32_t>> paths;
  std::vector<std::int32_t> first_child;
  std::vector<std::int32_t> next_sibling;
};

token_tree tree_of(const std::vector<std::int32_t>& parents) {
  std::vector<specdec::token_id> tokens(parents.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<specdec::token_id>(100 + i);
  return token_tree(tokens, parents);
}

std::vector<expected_layout> hand_derived() {
  return {
      /*  chain:  0 - 1 - 2 - 3 */
      {"chain",
       {-1, 0, 1, 2},
       2,
       {2, 3, 4, 5},
       {"1000", "1100", "1110", "1111"},
       {0x1, 0x3, 0x7, 0xf},
       {199, 243, 253},
       {{0, 1, 2, 3}},
       {1, 2, 3, -1},
       {-1, -1, -1, -1}},
      /*  star:      0
                   / | \
                  1  2  3      */
      {"star",
       {-1, 0, 0, 0},
       3,
       {3, 4, 4, 4},
       {"1000", "1100", "1010", "1001"},
       {0x1, 0x3, 0x5, 0x9},
       {143, 207, 235, 9},
       {{0, 1}, {0, 2}, {0, 3}},
       {1, -1, -1, -1},
       {-1, 2, 3, -1}},
      /*  Medusa, 2 heads, choices [0] [1] [0,0] [0,1] [1,0]:
                     0
                   /   \
                  1     2
                 / \     \
                3   4     5     */
      {"medusa",
       {-1, 0, 0, 1, 1, 2},
       1,
       {1, 2, 2, 3, 3, 3},
       {"100000", "110000", "101000", "110100", "110010", "101001"},
       {0x01, 0x03, 0x05, 0x0b, 0x13, 0x25},
       {131, 195, 226, 114, 90, 2},
       {{0, 1, 3}, {0, 1, 4}, {0, 2, 5}},
       {1, 3, 5, -1, -1, -1},
       {-1, 2, -1, 4, -1, -1}},
      /*  unbalanced:     0
                        /   \
                       1     2
                      / \
                     3   5
                     |
                     4
                     |
                     6          */
      {"unbalanced",
       {-1, 0, 0, 1, 3, 1, 4},
       2,
       {2, 3, 3, 4, 5, 4, 6},
       {"1000000", "1100000", "1010000", "1101000", "1101100", "1100010", "1101101"},
       {0x01, 0x03, 0x05, 0x0b, 0x1b, 0x23, 0x5b},
       {7, 30, 92, 120, 241, 230, 209, 91},
       {{0, 2, -1, -1, -1}, {0, 1, 5, -1, -1}, {0, 1, 3, 4, 6}},
       {1, 3, -1, 4, 6, -1, -1},
       {-1, 2, -1, 5, -1, -1, -1}},
  };
}

std::vector<std::int32_t> flat(const std::vector<std::vector<std::int32_t>>& rows) {
  std::vector<std::int32_t> out;
  for (const auto& r : rows) out.insert(out.end(), r.begin(), r.end());
  return out;
}

token_tree random_tree(std::mt19937& rng, int max_nodes) {
  const int n = 1 + static_cast<int>(rng() % static_cast<unsigned>(max_nodes));
  token_tree tree(0);
  const int shape = static_cast<int>(rng() % 3);  // bushy, deep, or mixed
  for (int i = 1; i < n; ++i) {
    std::int32_t parent = 0;
    if (shape == 0) parent = static_cast<std::int32_t>(rng() % static_cast<unsigned>(i));
    if (shape == 1) parent = static_cast<std::int32_t>(i - 1 - static_cast<int>(rng() % std::min(i, 2)));
    if (shape == 2) parent = static_cast<std::int32_t>(std::max(0, i - 1 - static_cast<int>(rng() % 6)));
    tree.add_child(parent, static_cast<specdec::token_id>(rng() % 50));
  }
  return tree;
}

bool is_ancestor_or_self(const specdec::token_tree_view& tree, index_t ancestor, index_t node) {
  for (index_t j = node; j >= 0; j = tree.parent(j)) {
    if (j == ancestor) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("flattened layouts match hand-derived tensors") {
  for (const expected_layout& e : hand_derived()) {
    INFO(e.name);
    const token_tree tree = tree_of(e.parents);
    const auto n = static_cast<index_t>(e.parents.size());
    const specdec::tree_layout_sizes sizes = specdec::layout_sizes(tree, e.context);
    REQUIRE(sizes.nodes == n);
    REQUIRE(sizes.leaves == static_cast<index_t>(e.paths.size()));
    REQUIRE(sizes.path_width == static_cast<index_t>(e.paths[0].size()));
    REQUIRE(sizes.mask_words == 1);
    REQUIRE(sizes.flashinfer_mask_bytes == static_cast<index_t>(e.flashinfer.size()));

    std::vector<std::int32_t> positions(static_cast<std::size_t>(n));
    specdec::position_ids(tree, e.context, std::span<std::int32_t>(positions));
    REQUIRE(positions == e.positions);
    std::vector<std::int64_t> positions64(static_cast<std::size_t>(n));
    specdec::position_ids(tree, e.context, std::span<std::int64_t>(positions64));
    REQUIRE(positions64 == std::vector<std::int64_t>(e.positions.begin(), e.positions.end()));

    std::unique_ptr<bool[]> dense(new bool[static_cast<std::size_t>(n * n)]);
    specdec::ancestor_mask_dense(tree, matrix_view<bool>(dense.get(), n, n));
    for (index_t i = 0; i < n; ++i) {
      std::string row;
      for (index_t j = 0; j < n; ++j) row += dense[static_cast<std::size_t>(i * n + j)] ? '1' : '0';
      REQUIRE(row == e.dense[static_cast<std::size_t>(i)]);
    }

    std::vector<std::uint32_t> packed(static_cast<std::size_t>(n), 0xdeadbeef);
    specdec::ancestor_mask_packed(tree, matrix_view<std::uint32_t>(packed.data(), n, 1));
    REQUIRE(packed == e.packed);

    std::vector<std::uint8_t> bits(e.flashinfer.size() + 1, 0xaa);
    specdec::ancestor_mask_flashinfer(tree, e.context, bits);
    REQUIRE(std::vector<std::uint8_t>(bits.begin(), bits.end() - 1) == e.flashinfer);
    REQUIRE(bits.back() == 0xaa);  // nothing beyond the mask is written

    std::vector<std::int32_t> paths(static_cast<std::size_t>(sizes.leaves * sizes.path_width), 7);
    REQUIRE(specdec::root_to_leaf_paths(tree, matrix_view<std::int32_t>(paths.data(), sizes.leaves, sizes.path_width)) ==
            sizes.leaves);
    REQUIRE(paths == flat(e.paths));

    std::vector<std::int32_t> first_child(static_cast<std::size_t>(n)), next_sibling(static_cast<std::size_t>(n));
    specdec::sibling_links(tree, first_child, next_sibling);
    REQUIRE(first_child == e.first_child);
    REQUIRE(next_sibling == e.next_sibling);

    std::vector<std::int32_t> rows(static_cast<std::size_t>(n));
    specdec::parent_rows(tree, rows);
    REQUIRE(rows == e.parents);
  }
}

TEST_CASE("batched layouts equal the per-tree layouts at their offsets") {
  const auto cases = hand_derived();
  specdec::token_tree_batch batch;
  std::vector<std::int32_t> contexts;
  for (const auto& e : cases) {
    batch.push_back(tree_of(e.parents));
    contexts.push_back(static_cast<std::int32_t>(e.context));
  }
  const auto view = batch.view();
  const specdec::tree_layout_sizes sizes = specdec::layout_sizes(view, contexts);
  REQUIRE(sizes.nodes == 21);
  REQUIRE(sizes.max_nodes == 7);
  REQUIRE(sizes.leaves == 10);
  REQUIRE(sizes.path_width == 5);
  REQUIRE(sizes.flashinfer_mask_bytes == 3 + 4 + 6 + 8);

  std::vector<std::int32_t> positions(21), rows(21), first_child(21), next_sibling(21);
  specdec::position_ids(view, contexts, std::span<std::int32_t>(positions));
  specdec::parent_rows(view, rows);
  specdec::sibling_links(view, first_child, next_sibling);
  std::unique_ptr<bool[]> dense(new bool[21 * 7]);
  specdec::ancestor_mask_dense(view, matrix_view<bool>(dense.get(), 21, 7));
  std::vector<std::uint32_t> packed(21 * 2, 0xffffffffu);  // a wider row than needed: the spare word is cleared
  specdec::ancestor_mask_packed(view, matrix_view<std::uint32_t>(packed.data(), 21, 2));
  std::vector<std::uint8_t> bits(static_cast<std::size_t>(sizes.flashinfer_mask_bytes));
  std::vector<std::int32_t> mask_offsets(5);
  specdec::ancestor_mask_flashinfer(view, contexts, bits, mask_offsets);
  REQUIRE(mask_offsets == std::vector<std::int32_t>{0, 3, 7, 13, 21});
  std::vector<std::int32_t> paths(static_cast<std::size_t>(sizes.leaves * sizes.path_width));
  std::vector<std::int32_t> leaf_offsets(5);
  REQUIRE(specdec::root_to_leaf_paths(view, matrix_view<std::int32_t>(paths.data(), sizes.leaves, 5), leaf_offsets) == 10);
  REQUIRE(leaf_offsets == std::vector<std::int32_t>{0, 1, 4, 7, 10});

  for (std::size_t b = 0; b < cases.size(); ++b) {
    const auto& e = cases[b];
    const auto first = static_cast<std::size_t>(view.offsets().begin(static_cast<index_t>(b)));
    for (std::size_t i = 0; i < e.parents.size(); ++i) {
      REQUIRE(positions[first + i] == e.positions[i]);
      REQUIRE(rows[first + i] == (e.parents[i] < 0 ? -1 : static_cast<std::int32_t>(first) + e.parents[i]));
      REQUIRE(first_child[first + i] == e.first_child[i]);
      REQUIRE(next_sibling[first + i] == e.next_sibling[i]);
      REQUIRE(packed[(first + i) * 2] == e.packed[i]);
      REQUIRE(packed[(first + i) * 2 + 1] == 0u);
      for (std::size_t j = 0; j < 7; ++j) {
        const bool expected = j < e.parents.size() && e.dense[i][j] == '1';
        REQUIRE(dense[(first + i) * 7 + j] == expected);
      }
    }
    const std::vector<std::uint8_t> segment(bits.begin() + mask_offsets[b], bits.begin() + mask_offsets[b + 1]);
    REQUIRE(segment == e.flashinfer);
    for (std::size_t l = 0; l < e.paths.size(); ++l) {
      const auto row = static_cast<std::size_t>(leaf_offsets[b]) + l;
      for (std::size_t c = 0; c < 5; ++c) {
        REQUIRE(paths[row * 5 + c] == (c < e.paths[l].size() ? e.paths[l][c] : -1));
      }
    }
  }
}

TEST_CASE("random trees: packed masks equal the dense mask, paths and links are complete") {
  std::mt19937 rng(2024);
  for (int trial = 0; trial < 3000; ++trial) {
    const token_tree tree = random_tree(rng, 80);
    const index_t n = tree.size();
    const index_t context = static_cast<index_t>(rng() % 41);
    const auto sizes = specdec::layout_sizes(tree, context);

    std::unique_ptr<bool[]> dense(new bool[static_cast<std::size_t>(n * n)]);
    specdec::ancestor_mask_dense(tree, matrix_view<bool>(dense.get(), n, n));
    std::vector<std::uint32_t> packed(static_cast<std::size_t>(n * sizes.mask_words));
    specdec::ancestor_mask_packed(tree, matrix_view<std::uint32_t>(packed.data(), n, sizes.mask_words));
    std::vector<std::uint8_t> bits(static_cast<std::size_t>(sizes.flashinfer_mask_bytes));
    specdec::ancestor_mask_flashinfer(tree, context, bits);
    const index_t row_bits = context + n;
    for (index_t i = 0; i < n; ++i) {
      for (index_t j = 0; j < n; ++j) {
        const bool expected = is_ancestor_or_self(tree, j, i);
        const bool d = dense[static_cast<std::size_t>(i * n + j)];
        const bool p = ((packed[static_cast<std::size_t>(i * sizes.mask_words + j / 32)] >> (j % 32)) & 1u) != 0;
        const index_t k = i * row_bits + context + j;
        const bool f = ((bits[static_cast<std::size_t>(k / 8)] >> (k % 8)) & 1u) != 0;
        if (d != expected || p != expected || f != expected) FAIL("mask mismatch at " << i << "," << j);
      }
      for (index_t c = 0; c < context; ++c) {
        const index_t k = i * row_bits + c;
        if (((bits[static_cast<std::size_t>(k / 8)] >> (k % 8)) & 1u) == 0) FAIL("context bit clear");
      }
    }
    const index_t total_bits = n * row_bits;
    for (index_t k = total_bits; k < sizes.flashinfer_mask_bytes * 8; ++k) {
      REQUIRE(((bits[static_cast<std::size_t>(k / 8)] >> (k % 8)) & 1u) == 0);  // zero padding
    }

    std::vector<std::int32_t> paths(static_cast<std::size_t>(sizes.leaves * sizes.path_width));
    specdec::root_to_leaf_paths(tree, matrix_view<std::int32_t>(paths.data(), sizes.leaves, sizes.path_width));
    std::vector<int> path_count(static_cast<std::size_t>(n), 0);
    std::vector<bool> has_child(static_cast<std::size_t>(n), false);
    for (index_t i = 1; i < n; ++i) has_child[static_cast<std::size_t>(tree.parent(i))] = true;
    for (index_t l = 0; l < sizes.leaves; ++l) {
      const std::int32_t* row = paths.data() + l * sizes.path_width;
      REQUIRE(row[0] == 0);
      index_t last = 0;
      for (index_t c = 1; c < sizes.path_width && row[c] >= 0; ++c) {
        REQUIRE(tree.parent(row[c]) == row[c - 1]);
        last = c;
      }
      for (index_t c = last + 1; c < sizes.path_width; ++c) REQUIRE(row[c] == -1);
      REQUIRE_FALSE(has_child[static_cast<std::size_t>(row[last])]);  // ends at a leaf
      ++path_count[static_cast<std::size_t>(row[last])];
    }
    for (index_t i = 0; i < n; ++i) {
      REQUIRE(path_count[static_cast<std::size_t>(i)] == (has_child[static_cast<std::size_t>(i)] ? 0 : 1));
    }

    std::vector<std::int32_t> first_child(static_cast<std::size_t>(n)), next_sibling(static_cast<std::size_t>(n));
    specdec::sibling_links(tree, first_child, next_sibling);
    for (index_t p = 0; p < n; ++p) {
      std::vector<std::int32_t> expected, linked;
      for (index_t i = 1; i < n; ++i) {
        if (tree.parent(i) == p) expected.push_back(static_cast<std::int32_t>(i));
      }
      for (std::int32_t c = first_child[static_cast<std::size_t>(p)]; c >= 0; c = next_sibling[static_cast<std::size_t>(c)]) {
        linked.push_back(c);
      }
      REQUIRE(linked == expected);
    }
  }
}

TEST_CASE("flatteners reject undersized outputs and malformed trees") {
  const token_tree tree = tree_of({-1, 0, 0, 1, 3, 1, 4});  // 7 nodes, 3 leaves, depth 4
  std::vector<std::int32_t> small(6);
  REQUIRE_INVALID_ARGUMENT("position_ids.size() = 6", specdec::position_ids(tree, 0, std::span<std::int32_t>(small)));
  REQUIRE_INVALID_ARGUMENT("context_length = -1", specdec::position_ids(tree, -1, std::span<std::int32_t>(small)));
  REQUIRE_INVALID_ARGUMENT("parent_rows.size() = 6", specdec::parent_rows(tree, small));
  REQUIRE_INVALID_ARGUMENT("first_child.size() = 6", specdec::sibling_links(tree, small, small));

  std::unique_ptr<bool[]> dense(new bool[64]);
  REQUIRE_INVALID_ARGUMENT("mask.rows() = 6", specdec::ancestor_mask_dense(tree, matrix_view<bool>(dense.get(), 6, 7)));
  REQUIRE_INVALID_ARGUMENT("mask.cols() = 6", specdec::ancestor_mask_dense(tree, matrix_view<bool>(dense.get(), 7, 6)));
  std::vector<std::uint32_t> words(8);
  REQUIRE_INVALID_ARGUMENT("mask.cols() = 0", specdec::ancestor_mask_packed(tree, matrix_view<std::uint32_t>(words.data(), 7, 0)));
  std::vector<std::uint8_t> bytes(13);  // context 7 needs ceil(7 * 14 / 8) = 13 bytes, context 8 needs 14
  REQUIRE_NOTHROW(specdec::ancestor_mask_flashinfer(tree, 7, bytes));
  REQUIRE_INVALID_ARGUMENT("mask_bytes.size() = 13", specdec::ancestor_mask_flashinfer(tree, 8, bytes));
  std::vector<std::int32_t> paths(3 * 5);
  REQUIRE_INVALID_ARGUMENT("paths.rows() = 2", specdec::root_to_leaf_paths(tree, matrix_view<std::int32_t>(paths.data(), 2, 5)));
  REQUIRE_INVALID_ARGUMENT("paths.cols() = 4", specdec::root_to_leaf_paths(tree, matrix_view<std::int32_t>(paths.data(), 3, 4)));

  const std::vector<specdec::token_id> tokens{1, 2, 3};
  const std::vector<std::int32_t> bad_parents{-1, 0, 2};
  const std::vector<std::int32_t> depths{0, 1, 2};
  const specdec::token_tree_view bad(tokens.data(), bad_parents.data(), depths.data(), 3);
  REQUIRE_INVALID_ARGUMENT("parent[2] = 2", specdec::position_ids(bad, 0, std::span<std::int32_t>(small)));
  REQUIRE_INVALID_ARGUMENT("tree.size() = 0", specdec::layout_sizes(specdec::token_tree_view{}, 0));

  specdec::token_tree_batch batch;
  batch.push_back(tree);
  std::vector<std::int32_t> offsets(1);
  REQUIRE_INVALID_ARGUMENT("mask_offsets.size() = 1",
                           specdec::ancestor_mask_flashinfer(batch.view(), std::vector<std::int32_t>{0}, bytes, offsets));
  REQUIRE_INVALID_ARGUMENT("context_lengths.size() = 0",
                           specdec::layout_sizes(batch.view(), std::span<const std::int32_t>{}));

  // Sizes that would overflow: a context beyond int32 (mask bytes), positions beyond the position type.
  REQUIRE_INVALID_ARGUMENT("context_length = 4611686018427387904 violates in [0, 2^31)",
                           specdec::ancestor_mask_flashinfer(tree, std::int64_t{1} << 62, bytes));
  REQUIRE_INVALID_ARGUMENT("context_length = 4611686018427387904", specdec::layout_sizes(tree, std::int64_t{1} << 62));
  std::vector<std::int32_t> positions(7);
  REQUIRE_INVALID_ARGUMENT("context_length = 2147483645 violates context_length + max depth representable",
                           specdec::position_ids(tree, 2147483645, std::span<std::int32_t>(positions)));
  std::vector<std::int64_t> wide(7);
  REQUIRE_NOTHROW(specdec::position_ids(tree, 2147483645, std::span<std::int64_t>(wide)));
  REQUIRE(wide[4] == std::int64_t{2147483645} + 3);
  // A malformed tree in a batch is named.
  const std::vector<specdec::token_id> two_tokens{1, 2};
  const std::vector<std::int32_t> two_parents{-1, 5}, two_depths{0, 1};
  specdec::token_tree_batch with_bad;
  with_bad.push_back(tree);
  with_bad.push_back(specdec::token_tree_view(two_tokens.data(), two_parents.data(), two_depths.data(), 2));
  REQUIRE_INVALID_ARGUMENT("in trees[1]: specdec: parent[1] = 5",
                           specdec::layout_sizes(with_bad.view(), std::vector<std::int32_t>{0, 0}));
  std::vector<std::int32_t> batch_positions(9);
  REQUIRE_INVALID_ARGUMENT("in trees[1]: specdec: parent[1] = 5",
                           specdec::position_ids(with_bad.view(), std::vector<std::int32_t>{0, 0}, std::span<std::int32_t>(batch_positions)));
  REQUIRE_INVALID_ARGUMENT("in trees[1]: specdec: parent[1] = 5", specdec::parent_rows(with_bad.view(), batch_positions));
}

TEST_CASE("flatteners enforce max_tree_depth and keep context + depth inside the index type") {
  // A chain of depth 256, one past max_tree_depth, given as arrays (token_tree itself refuses to grow it).
  constexpr std::size_t n = 257;
  std::vector<specdec::token_id> tokens(n, 1);
  std::vector<std::int32_t> parents(n), depths(n);
  for (std::size_t i = 0; i < n; ++i) {
    parents[i] = static_cast<std::int32_t>(i) - 1;
    depths[i] = static_cast<std::int32_t>(i);
  }
  const specdec::token_tree_view deep(tokens.data(), parents.data(), depths.data(), static_cast<index_t>(n));
  const std::string too_deep = "depth[256] = 256 violates at most max_tree_depth (255)";
  std::vector<std::int32_t> out(n, 7), links(n, 7);
  std::vector<std::int64_t> wide(n, 7);
  REQUIRE_INVALID_ARGUMENT(too_deep, specdec::position_ids(deep, 0, std::span<std::int32_t>(out)));
  REQUIRE_INVALID_ARGUMENT(too_deep, specdec::position_ids(deep, 0, std::span<std::int64_t>(wide)));
  REQUIRE_INVALID_ARGUMENT(too_deep, specdec::root_to_leaf_paths(deep, matrix_view<std::int32_t>(out.data(), 1, 257)));
  REQUIRE_INVALID_ARGUMENT(too_deep, specdec::parent_rows(deep, out));
  REQUIRE_INVALID_ARGUMENT(too_deep, specdec::sibling_links(deep, out, links));
  REQUIRE_INVALID_ARGUMENT(too_deep, specdec::layout_sizes(deep, 0));
  std::vector<std::uint32_t> words(n * 9);
  REQUIRE_INVALID_ARGUMENT(too_deep, specdec::ancestor_mask_packed(deep, matrix_view<std::uint32_t>(words.data(), 257, 9)));
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(specdec::flashinfer_mask_bytes(257, 0)));
  REQUIRE_INVALID_ARGUMENT(too_deep, specdec::ancestor_mask_flashinfer(deep, 0, bytes));
  REQUIRE(out == std::vector<std::int32_t>(n, 7));  // nothing written
  REQUIRE(wide == std::vector<std::int64_t>(n, 7));
  // Depth 255 is still fine.
  const specdec::token_tree_view deepest(tokens.data(), parents.data(), depths.data(), 256);
  REQUIRE_NOTHROW(specdec::position_ids(deepest, 0, std::span<std::int32_t>(out)));
  REQUIRE(out[255] == 255);

  // Positions: context + depth must fit the position type, checked without overflowing index_t.
  const token_tree tree = tree_of({-1, 0, 0, 1, 3, 1, 4});  // max depth 4
  constexpr index_t int64_max = std::numeric_limits<index_t>::max();
  std::vector<std::int64_t> positions(7, 0);
  REQUIRE_INVALID_ARGUMENT("context_length = 9223372036854775807 violates context_length + max depth",
                           specdec::position_ids(tree, int64_max, std::span<std::int64_t>(positions)));
  REQUIRE_INVALID_ARGUMENT("context_length = 9223372036854775804 violates context_length + max depth",
                           specdec::position_ids(tree, int64_max - 3, std::span<std::int64_t>(positions)));
  REQUIRE(positions == std::vector<std::int64_t>(7, 0));
  specdec::position_ids(tree, int64_max - 4, std::span<std::int64_t>(positions));
  REQUIRE(positions[6] == int64_max);
  REQUIRE(positions[0] == int64_max - 4);
  std::vector<std::uint64_t> unsigned_positions(7);  // wider than index_t's range: bounded by index_t
  specdec::position_ids(tree, int64_max - 4, std::span<std::uint64_t>(unsigned_positions));
  REQUIRE(unsigned_positions[6] == static_cast<std::uint64_t>(int64_max));
  std::vector<std::uint16_t> short_positions(7);
  specdec::position_ids(tree, 65531, std::span<std::uint16_t>(short_positions));
  REQUIRE(short_positions[6] == 65535);
  REQUIRE_INVALID_ARGUMENT("context_length = 65532", specdec::position_ids(tree, 65532, std::span<std::uint16_t>(short_positions)));

  // Parent rows: rows must fit int32, and a huge first_row must not overflow the check.
  std::vector<std::int32_t> rows(7, 0);
  REQUIRE_INVALID_ARGUMENT("first_row = 9223372036854775807", specdec::parent_rows(tree, rows, int64_max));
  REQUIRE_INVALID_ARGUMENT("first_row = 2147483641", specdec::parent_rows(tree, rows, 2147483641));
  REQUIRE_INVALID_ARGUMENT("first_row = -1", specdec::parent_rows(tree, rows, -1));
  REQUIRE(rows == std::vector<std::int32_t>(7, 0));
  specdec::parent_rows(tree, rows, 2147483640);
  REQUIRE(rows[6] == 2147483640 + 4);
}

TEST_CASE("batched flatteners write nothing when any tree is rejected (strong guarantee)") {
  // Tree 0 is fine; tree 1 has a bad parent, so even tree 0's outputs must stay untouched.
  const token_tree good = tree_of({-1, 0, 0, 1});
  const std::vector<specdec::token_id> two_tokens{1, 2};
  const std::vector<std::int32_t> two_parents{-1, 5}, two_depths{0, 1};
  specdec::token_tree_batch batch;
  batch.push_back(good);
  batch.push_back(specdec::token_tree_view(two_tokens.data(), two_parents.data(), two_depths.data(), 2));
  const auto view = batch.view();
  const std::vector<std::int32_t> contexts{3, 4};
  const std::string named = "in trees[1]: specdec: parent[1] = 5";

  std::vector<std::int32_t> a(6, 7), b(6, 7);
  std::vector<std::int64_t> wide(6, 7);
  REQUIRE_INVALID_ARGUMENT(named, specdec::position_ids(view, contexts, std::span<std::int32_t>(a)));
  REQUIRE_INVALID_ARGUMENT(named, specdec::position_ids(view, contexts, std::span<std::int64_t>(wide)));
  REQUIRE_INVALID_ARGUMENT(named, specdec::parent_rows(view, a));
  REQUIRE_INVALID_ARGUMENT(named, specdec::sibling_links(view, a, b));
  std::vector<std::int32_t> paths(4 * 3, 7), leaf_offsets(3, 7);
  REQUIRE_INVALID_ARGUMENT(named, specdec::root_to_leaf_paths(view, matrix_view<std::int32_t>(paths.data(), 4, 3), leaf_offsets));
  std::unique_ptr<bool[]> dense(new bool[6 * 4]);
  std::fill(dense.get(), dense.get() + 24, true);
  REQUIRE_INVALID_ARGUMENT(named, specdec::ancestor_mask_dense(view, matrix_view<bool>(dense.get(), 6, 4)));
  std::vector<std::uint32_t> packed(6, 7);
  REQUIRE_INVALID_ARGUMENT(named, specdec::ancestor_mask_packed(view, matrix_view<std::uint32_t>(packed.data(), 6, 1)));
  std::vector<std::uint8_t> bits(16, 7);
  std::vector<std::int32_t> mask_offsets(3, 7);
  REQUIRE_INVALID_ARGUMENT(named, specdec::ancestor_mask_flashinfer(view, contexts, bits, mask_offsets));

  REQUIRE(a == std::vector<std::int32_t>(6, 7));
  REQUIRE(b == std::vector<std::int32_t>(6, 7));
  REQUIRE(wide == std::vector<std::int64_t>(6, 7));
  REQUIRE(paths == std::vector<std::int32_t>(12, 7));
  REQUIRE(leaf_offsets == std::vector<std::int32_t>(3, 7));
  REQUIRE(std::all_of(dense.get(), dense.get() + 24, [](bool x) { return x; }));
  REQUIRE(packed == std::vector<std::uint32_t>(6, 7));
  REQUIRE(bits == std::vector<std::uint8_t>(16, 7));
  REQUIRE(mask_offsets == std::vector<std::int32_t>(3, 7));

  // A context too large for one request's position type is also caught before any write.
  specdec::token_tree_batch fine;
  fine.push_back(good);
  fine.push_back(good);
  std::vector<std::int16_t> narrow(8, 7);
  REQUIRE_INVALID_ARGUMENT("in trees[1]: specdec: context_length = 32766",
                           specdec::position_ids(fine.view(), std::vector<std::int32_t>{0, 32766}, std::span<std::int16_t>(narrow)));
  REQUIRE(narrow == std::vector<std::int16_t>(8, 7));
}
