//! What an engine integration needs beyond the canonical layouts: contiguous ranges and int64 outputs,
//! the engines' path orders, trees from engines' parent lists and link arrays, implicit batch views.
#include <specdec/kv/keep_list.hpp>
#include <specdec/tree/ancestor_mask.hpp>
#include <specdec/tree/parent_rows.hpp>
#include <specdec/tree/position_ids.hpp>
#include <specdec/tree/root_to_leaf_paths.hpp>
#include <specdec/tree/sibling_links.hpp>
#include <specdec/tree/token_tree.hpp>
#include <specdec/tree/token_tree_batch.hpp>
#include <specdec/tree/tree_from_arrays.hpp>
#include <specdec/tree/tree_layout_sizes.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "support/catch.hpp"

using specdec::index_t;
using specdec::matrix_view;
using specdec::path_order;
using specdec::token_tree;

namespace {

token_tree tree_of(const std::vector<std::int32_t>& parents) {
  std::vector<specdec::token_id> tokens(parents.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<specdec::token_id>(100 + i);
  return token_tree(tokens, parents);
}

token_tree random_tree(std::mt19937& rng, int max_nodes) {
  const int n = 1 + static_cast<int>(rng() % static_cast<unsigned>(max_nodes));
  token_tree tree(0);
  for (int i = 1; i < n; ++i) {
    const auto parent = static_cast<std::int32_t>(rng() % static_cast<unsigned>(i));
    tree.add_child(parent, static_cast<specdec::token_id>(rng() % 50));
  }
  return tree;
}

std::vector<std::vector<std::int64_t>> rows_of(const std::vector<std::int64_t>& paths, index_t rows, index_t cols) {
  std::vector<std::vector<std::int64_t>> out;
  for (index_t r = 0; r < rows; ++r) out.emplace_back(paths.begin() + r * cols, paths.begin() + (r + 1) * cols);
  return out;
}

// Medusa's generate_medusa_buffers, written over node indices (node i >= 1 is sorted choice i - 1):
// walk the choices from the last; a choice already on a recorded path is skipped, otherwise its whole
// path is recorded as the next row.
std::vector<std::vector<std::int64_t>> medusa_retrieve_indices(const token_tree& tree, index_t cols) {
  std::set<index_t> on_path;
  std::vector<std::vector<std::int64_t>> rows;
  for (index_t i = tree.size() - 1; i >= 1; --i) {
    if (on_path.count(i) != 0) continue;
    std::vector<std::int64_t> row(static_cast<std::size_t>(cols), -1);
    for (index_t n = i; n >= 0; n = tree.parent(n)) {
      row[static_cast<std::size_t>(tree.depth(n))] = n;
      on_path.insert(n);
    }
    rows.push_back(row);
  }
  if (rows.empty()) rows.push_back(std::vector<std::int64_t>(static_cast<std::size_t>(cols), -1)), rows[0][0] = 0;
  return rows;
}

// Leaves by a recursive depth-first walk, children in increasing index (rank order).
void depth_first_leaves(const token_tree& tree, index_t node, std::vector<index_t>& out) {
  bool leaf = true;
  for (index_t c = node + 1; c < tree.size(); ++c) {
    if (tree.parent(c) == node) {
      leaf = false;
      depth_first_leaves(tree, c, out);
    }
  }
  if (leaf) out.push_back(node);
}

}  // namespace

TEST_CASE("flatteners take std::vector outputs and int64 indices, equal to the int32 spans") {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 300; ++trial) {
    const token_tree tree = random_tree(rng, 60);
    const auto n = static_cast<std::size_t>(tree.size());
    const auto sizes = specdec::layout_sizes(tree, 0);
    std::vector<std::int32_t> pos32(n), rows32(n), first32(n), next32(n);
    std::vector<std::int64_t> pos64(n), rows64(n), first64(n), next64(n);
    specdec::position_ids(tree, 9, std::span<std::int32_t>(pos32));
    specdec::position_ids(tree, 9, pos64);  // a vector, int64
    specdec::parent_rows(tree, rows32, 3);
    specdec::parent_rows(tree, rows64, 3);
    specdec::sibling_links(tree, first32, next32);
    specdec::sibling_links(tree, first64, next64);
    REQUIRE(std::equal(pos32.begin(), pos32.end(), pos64.begin()));
    REQUIRE(std::equal(rows32.begin(), rows32.end(), rows64.begin()));
    REQUIRE(std::equal(first32.begin(), first32.end(), first64.begin()));
    REQUIRE(std::equal(next32.begin(), next32.end(), next64.begin()));
    std::vector<std::int32_t> paths32(static_cast<std::size_t>(sizes.leaves * sizes.path_width));
    std::vector<std::int64_t> paths64(paths32.size());
    REQUIRE(specdec::root_to_leaf_paths(tree, matrix_view<std::int32_t>(paths32.data(), sizes.leaves, sizes.path_width)) ==
            sizes.leaves);
    REQUIRE(specdec::root_to_leaf_paths(tree, matrix_view<std::int64_t>(paths64.data(), sizes.leaves, sizes.path_width)) ==
            sizes.leaves);
    REQUIRE(std::equal(paths32.begin(), paths32.end(), paths64.begin()));
  }
  std::array<std::int64_t, 3> too_small{};
  REQUIRE_INVALID_ARGUMENT("parent_rows.size() = 3", specdec::parent_rows(tree_of({-1, 0, 0, 1}), too_small));
  // Parent rows must fit their index type: int32 rows stop at 2^31 - 1, int64 rows do not.
  std::vector<std::int64_t> wide(4);
  specdec::parent_rows(tree_of({-1, 0, 0, 1}), wide, std::int64_t{1} << 40);
  REQUIRE(wide[3] == (std::int64_t{1} << 40) + 1);
  std::vector<std::int32_t> narrow(4);
  REQUIRE_INVALID_ARGUMENT("first_row = 1099511627776", specdec::parent_rows(tree_of({-1, 0, 0, 1}), narrow, std::int64_t{1} << 40));
}

TEST_CASE("an owning batch converts to its view, and batched flatteners take vectors") {
  specdec::token_tree_batch batch;
  batch.push_back(tree_of({-1, 0, 0, 1}));
  batch.push_back(tree_of({-1, 0}));
  const specdec::token_tree_batch_view view = batch;  // implicit, like token_tree
  REQUIRE(view.total_nodes() == 6);
  std::vector<std::int64_t> rows(6), first(6), next(6), positions(6), leaf_offsets(3);
  specdec::parent_rows(batch, rows);
  REQUIRE(rows == std::vector<std::int64_t>{-1, 0, 0, 1, -1, 4});
  specdec::sibling_links(batch, first, next);
  REQUIRE(first == std::vector<std::int64_t>{1, 3, -1, -1, 1, -1});
  specdec::position_ids(batch, std::vector<std::int32_t>{5, 7}, positions);
  REQUIRE(positions == std::vector<std::int64_t>{5, 6, 6, 7, 7, 8});
  std::vector<std::int64_t> paths(3 * 3);
  REQUIRE(specdec::root_to_leaf_paths(batch, matrix_view<std::int64_t>(paths.data(), 3, 3), leaf_offsets, path_order::medusa) == 3);
  REQUIRE(leaf_offsets == std::vector<std::int64_t>{0, 2, 3});
  REQUIRE(paths == std::vector<std::int64_t>{0, 1, 3, 0, 2, -1, 0, 1, -1});
}

TEST_CASE("path rows in the engines' orders: Medusa's reverse and TensorRT-LLM's depth-first") {
  // root -> {1, 2, 3}, 1 -> {4}: leaves 2, 3, 4; depth-first visits 4 (under 1) before 2 and 3.
  const token_tree tree = tree_of({-1, 0, 0, 0, 1});
  std::vector<std::int64_t> paths(3 * 3);
  const matrix_view<std::int64_t> view(paths.data(), 3, 3);
  specdec::root_to_leaf_paths(tree, view);
  REQUIRE(rows_of(paths, 3, 3) == std::vector<std::vector<std::int64_t>>{{0, 2, -1}, {0, 3, -1}, {0, 1, 4}});
  specdec::root_to_leaf_paths(tree, view, path_order::medusa);
  REQUIRE(rows_of(paths, 3, 3) == std::vector<std::vector<std::int64_t>>{{0, 1, 4}, {0, 3, -1}, {0, 2, -1}});
  specdec::root_to_leaf_paths(tree, view, path_order::depth_first);
  REQUIRE(rows_of(paths, 3, 3) == std::vector<std::vector<std::int64_t>>{{0, 1, 4}, {0, 2, -1}, {0, 3, -1}});

  std::mt19937 rng(11);
  for (int trial = 0; trial < 500; ++trial) {
    const token_tree t = random_tree(rng, 80);
    const auto sizes = specdec::layout_sizes(t, 0);
    std::vector<std::int64_t> out(static_cast<std::size_t>(sizes.leaves * sizes.path_width));
    const matrix_view<std::int64_t> m(out.data(), sizes.leaves, sizes.path_width);
    specdec::root_to_leaf_paths(t, m, path_order::medusa);
    REQUIRE(rows_of(out, sizes.leaves, sizes.path_width) == medusa_retrieve_indices(t, sizes.path_width));
    specdec::root_to_leaf_paths(t, m, path_order::depth_first);
    std::vector<index_t> leaves;
    depth_first_leaves(t, 0, leaves);
    REQUIRE(static_cast<index_t>(leaves.size()) == sizes.leaves);
    for (std::size_t r = 0; r < leaves.size(); ++r) {
      const index_t leaf = leaves[r];
      REQUIRE(out[r * static_cast<std::size_t>(sizes.path_width) + static_cast<std::size_t>(t.depth(leaf))] == leaf);
    }
  }
}

TEST_CASE("trees from engines' parent lists in any node order, renumbered canonically") {
  std::mt19937 rng(21);
  for (int trial = 0; trial < 400; ++trial) {
    const token_tree canonical = random_tree(rng, 70);
    const auto n = static_cast<std::size_t>(canonical.size());
    // A canonical input keeps its numbering.
    token_tree same(0);
    std::vector<std::int32_t> identity(n);
    specdec::tree_from_parent_list(canonical.view().tokens(), canonical.view().parents(), same, identity);
    REQUIRE(std::equal(same.view().parents().begin(), same.view().parents().end(), canonical.view().parents().begin()));
    for (std::size_t i = 0; i < n; ++i) REQUIRE(identity[i] == static_cast<std::int32_t>(i));
    // Shuffled: node i of the input is canonical node perm[i]; parents point anywhere.
    std::vector<std::int32_t> perm(n);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<std::int32_t> inverse(n);
    for (std::size_t i = 0; i < n; ++i) inverse[static_cast<std::size_t>(perm[i])] = static_cast<std::int32_t>(i);
    std::vector<specdec::token_id> tokens(n);
    std::vector<std::int64_t> parents(n);  // int64, as PyTorch engines keep them
    for (std::size_t i = 0; i < n; ++i) {
      tokens[i] = canonical.token(perm[i]);
      const std::int32_t p = canonical.parent(perm[i]);
      parents[i] = p < 0 ? -1 : inverse[static_cast<std::size_t>(p)];
    }
    token_tree out(0);
    std::vector<std::int32_t> new_index(n);
    specdec::tree_from_parent_list(tokens, parents, out, new_index);
    REQUIRE_NOTHROW(specdec::validate(out, 64));
    REQUIRE(out.size() == canonical.size());
    std::vector<bool> hit(n, false);
    for (std::size_t i = 0; i < n; ++i) {
      const auto j = static_cast<index_t>(new_index[i]);
      REQUIRE(out.token(j) == tokens[i]);
      REQUIRE(out.parent(j) == (parents[i] < 0 ? -1 : new_index[static_cast<std::size_t>(parents[i])]));
      hit[static_cast<std::size_t>(j)] = true;
      // Siblings keep their rank: increasing input index.
      for (std::size_t k = i + 1; k < n; ++k) {
        if (parents[k] == parents[i] && parents[i] >= 0) REQUIRE(new_index[k] > new_index[i]);
      }
    }
    REQUIRE(std::all_of(hit.begin(), hit.end(), [](bool x) { return x; }));
  }
}

TEST_CASE("trees from first-child / next-sibling links follow the link order") {
  // The star 0 -> {1, 2, 3} linked in the order 3, 1, 2: renumbered so that rank order is index order.
  const std::vector<specdec::token_id> tokens{10, 11, 12, 13};
  const std::vector<std::int32_t> first{3, -1, -1, -1};
  const std::vector<std::int32_t> next{-1, 2, -1, 1};
  token_tree out(0);
  std::vector<std::int32_t> new_index(4);
  specdec::tree_from_sibling_links(tokens, first, next, out, new_index);
  REQUIRE(new_index == std::vector<std::int32_t>{0, 2, 3, 1});
  REQUIRE(std::vector<specdec::token_id>(out.view().tokens().begin(), out.view().tokens().end()) ==
          std::vector<specdec::token_id>{10, 13, 11, 12});

  std::mt19937 rng(31);
  for (int trial = 0; trial < 300; ++trial) {
    const token_tree t = random_tree(rng, 70);
    const auto n = static_cast<std::size_t>(t.size());
    std::vector<std::int64_t> fc(n), ns(n);
    specdec::sibling_links(t, fc, ns);
    token_tree back(0);
    std::vector<std::int32_t> index(n);
    specdec::tree_from_sibling_links(t.view().tokens(), fc, ns, back, index);  // a round trip keeps the numbering
    REQUIRE(std::equal(back.view().parents().begin(), back.view().parents().end(), t.view().parents().begin()));
    REQUIRE(std::equal(back.view().tokens().begin(), back.view().tokens().end(), t.view().tokens().begin()));
  }

  REQUIRE_INVALID_ARGUMENT("next_sibling[0] = 2", specdec::tree_from_sibling_links(tokens, first, std::vector<std::int32_t>{2, -1, -1, -1}, out));
  REQUIRE_INVALID_ARGUMENT("linked node = 1 violates each node linked once",
                           specdec::tree_from_sibling_links(tokens, std::vector<std::int32_t>{1, 2, -1, -1},
                                                            std::vector<std::int32_t>{-1, 3, -1, 1}, out));
  REQUIRE_INVALID_ARGUMENT("nodes reachable from the root = 3",
                           specdec::tree_from_sibling_links(tokens, std::vector<std::int32_t>{1, -1, -1, -1},
                                                            std::vector<std::int32_t>{-1, 2, -1, -1}, out));
  REQUIRE_INVALID_ARGUMENT("first_child[1] = 0", specdec::tree_from_sibling_links(tokens, std::vector<std::int32_t>{1, 0, -1, -1}, next, out));
  REQUIRE(new_index == std::vector<std::int32_t>{0, 2, 3, 1});
}

TEST_CASE("parent lists are checked: one root, parents in range, no cycle, bounded depth") {
  const std::vector<specdec::token_id> tokens{1, 2, 3, 4};
  token_tree out(7);
  REQUIRE_INVALID_ARGUMENT("exactly one root", specdec::tree_from_parent_list(tokens, std::vector<std::int32_t>{-1, 0, -1, 1}, out));
  REQUIRE_INVALID_ARGUMENT("exactly one root", specdec::tree_from_parent_list(tokens, std::vector<std::int32_t>{1, 0, 3, 2}, out));
  REQUIRE_INVALID_ARGUMENT("parents[3] = 4", specdec::tree_from_parent_list(tokens, std::vector<std::int32_t>{-1, 0, 0, 4}, out));
  REQUIRE_INVALID_ARGUMENT("parents[2] = 2", specdec::tree_from_parent_list(tokens, std::vector<std::int32_t>{-1, 0, 2, 0}, out));
  REQUIRE_INVALID_ARGUMENT("nodes reachable from the root = 2",
                           specdec::tree_from_parent_list(tokens, std::vector<std::int32_t>{-1, 0, 3, 2}, out));
  REQUIRE_INVALID_ARGUMENT("parents.size() = 3", specdec::tree_from_parent_list(tokens, std::vector<std::int32_t>{-1, 0, 0}, out));
  REQUIRE(out.size() == 1);  // untouched
  REQUIRE(out.token(0) == 7);
  // A chain of depth 256 in reverse order (the root last).
  std::vector<specdec::token_id> chain_tokens(257, 5);
  std::vector<std::int64_t> chain(257);
  for (std::size_t i = 0; i < 257; ++i) chain[i] = i == 256 ? -1 : static_cast<std::int64_t>(i + 1);
  REQUIRE_INVALID_ARGUMENT("depth[0] = 256 violates at most max_tree_depth", specdec::tree_from_parent_list(chain_tokens, chain, out));
  chain_tokens.pop_back();
  chain.erase(chain.begin());
  for (auto& p : chain) p = p < 0 ? -1 : p - 1;
  specdec::tree_from_parent_list(chain_tokens, chain, out);
  REQUIRE(out.size() == 256);
  REQUIRE(out.depth(255) == 255);
}

TEST_CASE("keep-lists from engine accept indices: root first, batch-wide, padded with -1") {
  specdec::token_tree_batch batch;
  batch.push_back(tree_of({-1, 0, 0, 1, 3, 1, 4}));  // nodes 0..6
  batch.push_back(tree_of({-1, 0, 1}));              // nodes 7..9
  batch.push_back(tree_of({-1, 0}));                 // nodes 10..11
  const std::vector<std::int64_t> accept{0, 1, 3, 4, 7, 8, 9, -1, 10, -1, -1, -1};
  const specdec::const_matrix_view<std::int64_t> accept_view(accept.data(), 3, 4);
  const std::vector<std::int32_t> contexts{10, 20, 30};
  std::vector<specdec::kv_move> moves(6), expected_moves(6);
  std::vector<std::int32_t> offsets(4), expected_offsets(4);
  const index_t count = specdec::keep_list_from_accept_indices(batch, accept_view, contexts, moves, offsets);
  const std::vector<std::int32_t> local{1, 3, 4, 1, 2};
  const std::vector<std::int32_t> local_offsets{0, 3, 5, 5};
  const index_t expected = specdec::keep_list(batch, specdec::ragged_offsets(local_offsets), local, contexts, expected_moves,
                                              expected_offsets);
  REQUIRE(count == expected);
  REQUIRE(count == 2);
  REQUIRE(offsets == expected_offsets);
  REQUIRE(std::equal(moves.begin(), moves.begin() + count, expected_moves.begin()));
  REQUIRE(moves[0] == specdec::kv_move{13, 12});

  std::vector<specdec::kv_move> untouched(6, specdec::kv_move{-1, -1});
  std::vector<std::int32_t> untouched_offsets(4, 9);
  const auto reject = [&](std::vector<std::int32_t> rows) {
    const specdec::const_matrix_view<std::int32_t> view(rows.data(), 3, 4);
    (void)specdec::keep_list_from_accept_indices(batch, view, contexts, untouched, untouched_offsets);
  };
  REQUIRE_INVALID_ARGUMENT("in trees[1]: specdec: accept_indices[0] = 8 violates the request's root",
                           reject({0, 1, 3, 4, 8, 9, -1, -1, 10, -1, -1, -1}));
  REQUIRE_INVALID_ARGUMENT("in trees[2]: specdec: accept_indices[1] = 9 violates a draft node of the request's tree",
                           reject({0, 1, 3, 4, 7, 8, 9, -1, 10, 9, -1, -1}));
  REQUIRE_INVALID_ARGUMENT("in trees[0]: specdec: accept_indices[3] = 4 violates -1 padding",
                           reject({0, 1, -1, 4, 7, 8, 9, -1, 10, -1, -1, -1}));
  REQUIRE_INVALID_ARGUMENT("in trees[0]: specdec: accepted_path[1] = 2 violates a child of the previous accepted node",
                           reject({0, 1, 2, -1, 7, 8, 9, -1, 10, -1, -1, -1}));
  REQUIRE(untouched == std::vector<specdec::kv_move>(6, specdec::kv_move{-1, -1}));
  REQUIRE(untouched_offsets == std::vector<std::int32_t>(4, 9));
}
