#include <specdec/kv/keep_list.hpp>
#include <specdec/kv/kv_axis.hpp>
#include <specdec/kv/paged_kv_cache.hpp>
#include <specdec/kv/strided_kv_cache.hpp>
#include <specdec/tree/token_tree.hpp>
#include <specdec/tree/token_tree_batch.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "support/catch.hpp"

using specdec::index_t;
using specdec::kv_axis;
using specdec::kv_move;
using specdec::token_tree;

namespace {

/*  the unbalanced tree of the flattening tests:
              0
            /   \
           1     2
          / \
         3   5
         |
         4
         |
         6          */
token_tree unbalanced() {
  const std::vector<specdec::token_id> tokens(7, 1);
  return token_tree(tokens, std::vector<std::int32_t>{-1, 0, 0, 1, 3, 1, 4});
}

token_tree random_tree(std::mt19937& rng) {
  const int n = 1 + static_cast<int>(rng() % 40);
  token_tree tree(0);
  for (int i = 1; i < n; ++i) {
    const auto parent = static_cast<std::int32_t>(std::max(0, i - 1 - static_cast<int>(rng() % 4)));
    tree.add_child(parent, 1);
  }
  return tree;
}

// A random root path: from the root, step to a random child until a leaf or a random stop.
std::vector<std::int32_t> random_path(const token_tree& tree, std::mt19937& rng) {
  std::vector<std::int32_t> path;
  std::int32_t node = 0;
  while (rng() % 5 != 0) {
    std::vector<std::int32_t> children;
    for (index_t i = node + 1; i < tree.size(); ++i) {
      if (tree.parent(i) == node) children.push_back(static_cast<std::int32_t>(i));
    }
    if (children.empty()) break;
    node = children[rng() % children.size()];
    path.push_back(node);
  }
  return path;
}

// The value every element of logical position p holds before the moves: distinct across positions
// and across the elements of one entry (fewer than 100), exact in float for positions below 160000.
float value_of(index_t position, index_t element) { return static_cast<float>(position * 100 + element); }

}  // namespace

TEST_CASE("keep-list of an accepted path, hand-derived") {
  const token_tree tree = unbalanced();
  std::vector<kv_move> moves(4);
  // Accept 1 -> 3 -> 4: node 1 is already at depth 1; nodes 3 and 4 move to depths 2 and 3.
  REQUIRE(specdec::keep_list(tree, std::vector<std::int32_t>{1, 3, 4}, 10, moves) == 2);
  REQUIRE(moves[0] == kv_move{13, 12});
  REQUIRE(moves[1] == kv_move{14, 13});
  REQUIRE(specdec::committed_kv_length(10, 3) == 14);
  // Accept 2 only: it moves to depth 1.
  REQUIRE(specdec::keep_list(tree, std::vector<std::int32_t>{2}, 10, moves) == 1);
  REQUIRE(moves[0] == kv_move{12, 11});
  // Accept 1 only: already in place.
  REQUIRE(specdec::keep_list(tree, std::vector<std::int32_t>{1}, 10, moves) == 0);
  // Accept 1 -> 5: node 5 moves to depth 2.
  REQUIRE(specdec::keep_list(tree, std::vector<std::int32_t>{1, 5}, 0, moves) == 1);
  REQUIRE(moves[0] == kv_move{5, 2});
  REQUIRE(specdec::keep_list(tree, std::span<const std::int32_t>{}, 3, moves) == 0);

  REQUIRE_INVALID_ARGUMENT("accepted_path[0] = 0 violates a draft node", specdec::keep_list(tree, std::vector<std::int32_t>{0, 1}, 0, moves));
  REQUIRE_INVALID_ARGUMENT("accepted_path[1] = 4 violates a child of the previous",
                           specdec::keep_list(tree, std::vector<std::int32_t>{1, 4}, 0, moves));
  REQUIRE_INVALID_ARGUMENT("accepted_path[0] = 7", specdec::keep_list(tree, std::vector<std::int32_t>{7}, 0, moves));
  REQUIRE_INVALID_ARGUMENT("moves.size() = 1", specdec::keep_list(tree, std::vector<std::int32_t>{1, 3}, 0, std::span(moves).first(1)));
  REQUIRE_INVALID_ARGUMENT("context_length = -2", specdec::keep_list(tree, std::vector<std::int32_t>{1}, -2, moves));
}

TEST_CASE("keep-lists applied to contiguous caches leave context + accepted + 1 entries in order") {
  std::mt19937 rng(99);
  constexpr index_t capacity = 96, layers = 2, heads = 3, dim = 4;
  std::vector<float> cache(static_cast<std::size_t>(layers * heads * capacity * dim));
  std::vector<kv_move> moves(64);
  for (int trial = 0; trial < 1500; ++trial) {
    const token_tree tree = random_tree(rng);
    const auto path = random_path(tree, rng);
    const index_t context = static_cast<index_t>(rng() % 40);
    const index_t count = specdec::keep_list(tree, path, context, moves);
    const index_t committed = specdec::committed_kv_length(context, static_cast<index_t>(path.size()));

    // Two layouts: [layers][heads][seq][dim] and [seq][layers][heads][dim].
    for (int layout = 0; layout < 2; ++layout) {
      const std::vector<kv_axis> axes =
          layout == 0 ? std::vector<kv_axis>{{layers, heads * capacity * dim}, {heads, capacity * dim}, {dim, 1}}
                      : std::vector<kv_axis>{{layers, heads * dim}, {heads, dim}, {dim, 1}};
      const index_t seq_stride = layout == 0 ? dim : layers * heads * dim;
      const specdec::strided_kv_cache<float> view(cache.data(), capacity, seq_stride, axes);
      const auto element = [&](index_t p, index_t l, index_t h, index_t d) -> float& {
        return *(view.entry(p) + l * axes[0].stride + h * axes[1].stride + d);
      };
      for (index_t p = 0; p < capacity; ++p)
        for (index_t l = 0; l < layers; ++l)
          for (index_t h = 0; h < heads; ++h)
            for (index_t d = 0; d < dim; ++d) element(p, l, h, d) = value_of(p, (l * heads + h) * dim + d);
      specdec::apply_keep_list(std::span<const kv_move>(moves.data(), static_cast<std::size_t>(count)), view);
      for (index_t p = 0; p < committed; ++p) {
        // Position p now holds what the forward wrote for: the context (p < context), the root, or the
        // accepted node at depth p - context.
        const index_t source = p <= context ? p : context + path[static_cast<std::size_t>(p - context - 1)];
        for (index_t l = 0; l < layers; ++l)
          for (index_t h = 0; h < heads; ++h)
            for (index_t d = 0; d < dim; ++d) {
              if (element(p, l, h, d) != value_of(source, (l * heads + h) * dim + d)) FAIL("entry " << p << " wrong");
            }
      }
    }
  }
}

TEST_CASE("keep-lists applied to paged caches through block tables, batched equal to one by one") {
  std::mt19937 rng(3);
  constexpr index_t block_size = 4, blocks_per_request = 24, batch = 5, heads = 2, dim = 3;
  constexpr index_t num_blocks = batch * blocks_per_request;
  std::vector<float> one(static_cast<std::size_t>(num_blocks * block_size * heads * dim));
  std::vector<float> batched(one.size());
  for (int trial = 0; trial < 300; ++trial) {
    // Each request owns a random set of blocks.
    std::vector<std::int32_t> blocks(static_cast<std::size_t>(num_blocks));
    std::iota(blocks.begin(), blocks.end(), 0);
    std::shuffle(blocks.begin(), blocks.end(), rng);
    const specdec::const_matrix_view<std::int32_t> tables(blocks.data(), batch, blocks_per_request);

    specdec::token_tree_batch trees;
    std::vector<std::int32_t> contexts, accepted_offsets{0}, accepted;
    std::vector<std::vector<std::int32_t>> paths;
    for (index_t b = 0; b < batch; ++b) {
      const token_tree tree = random_tree(rng);
      trees.push_back(tree);
      paths.push_back(random_path(tree, rng));
      contexts.push_back(static_cast<std::int32_t>(rng() % 50));
      accepted.insert(accepted.end(), paths.back().begin(), paths.back().end());
      accepted_offsets.push_back(static_cast<std::int32_t>(accepted.size()));
    }
    std::vector<kv_move> moves(accepted.size() + 1);
    std::vector<std::int32_t> move_offsets(batch + 1);
    const index_t total = specdec::keep_list(trees.view(), specdec::ragged_offsets(accepted_offsets), accepted, contexts,
                                             moves, move_offsets);
    REQUIRE(total == move_offsets.back());

    // HND within a block: [blocks][heads][block_size][dim].
    const auto make_view = [&](std::vector<float>& data) {
      return specdec::paged_kv_cache<float>(data.data(), num_blocks, block_size, heads * block_size * dim, dim,
                                            {{heads, block_size * dim}, {dim, 1}});
    };
    const auto one_view = make_view(one);
    const auto batched_view = make_view(batched);
    const auto element = [&](const specdec::paged_kv_cache<float>& view, index_t b, index_t p, index_t h, index_t d) -> float& {
      return *(view.slot(specdec::physical_slot(tables.row(b), block_size, p)) + h * block_size * dim + d);
    };
    for (index_t b = 0; b < batch; ++b)
      for (index_t p = 0; p < blocks_per_request * block_size; ++p)
        for (index_t h = 0; h < heads; ++h)
          for (index_t d = 0; d < dim; ++d) {
            element(one_view, b, p, h, d) = value_of(b * 1000 + p, h * dim + d);
            element(batched_view, b, p, h, d) = value_of(b * 1000 + p, h * dim + d);
          }

    specdec::apply_keep_list(std::span<const kv_move>(moves), move_offsets, tables, batched_view);
    for (index_t b = 0; b < batch; ++b) {
      std::vector<kv_move> own(paths[static_cast<std::size_t>(b)].size());
      const index_t count = specdec::keep_list(trees.tree(b), paths[static_cast<std::size_t>(b)],
                                               contexts[static_cast<std::size_t>(b)], own);
      REQUIRE(std::equal(own.begin(), own.begin() + count, moves.begin() + move_offsets[static_cast<std::size_t>(b)],
                         moves.begin() + move_offsets[static_cast<std::size_t>(b + 1)]));
      specdec::apply_keep_list(std::span<const kv_move>(own.data(), static_cast<std::size_t>(count)), tables.row(b), one_view);
      const index_t context = contexts[static_cast<std::size_t>(b)];
      const auto& path = paths[static_cast<std::size_t>(b)];
      const index_t committed = specdec::committed_kv_length(context, static_cast<index_t>(path.size()));
      for (index_t p = 0; p < committed; ++p) {
        const index_t source = p <= context ? p : context + path[static_cast<std::size_t>(p - context - 1)];
        for (index_t h = 0; h < heads; ++h)
          for (index_t d = 0; d < dim; ++d) {
            if (element(one_view, b, p, h, d) != value_of(b * 1000 + source, h * dim + d)) FAIL("paged entry wrong");
          }
      }
    }
    REQUIRE(one == batched);
  }
}

TEST_CASE("batched contiguous application equals one by one; bad moves and tables are rejected") {
  constexpr index_t capacity = 16, batch = 3;
  std::vector<float> cache(static_cast<std::size_t>(batch * capacity * 2));
  for (std::size_t i = 0; i < cache.size(); ++i) cache[i] = static_cast<float>(i);
  std::vector<float> expected = cache;
  const std::vector<kv_move> moves{{5, 3}, {7, 4}, {9, 2}};
  const std::vector<std::int32_t> offsets{0, 2, 2, 3};
  const specdec::strided_kv_cache<float> view(cache.data(), capacity, 2, {{2, 1}});
  specdec::apply_keep_list(std::span<const kv_move>(moves), offsets, view, capacity * 2);
  const specdec::strided_kv_cache<float> reference(expected.data(), capacity, 2, {{2, 1}});
  specdec::apply_keep_list(std::span<const kv_move>(moves).first(2), reference);
  specdec::apply_keep_list(std::span<const kv_move>(moves).subspan(2), reference.shifted(2 * capacity * 2));
  REQUIRE(cache == expected);
  REQUIRE(cache[3 * 2] == 10.0f);  // request 0's position 3 holds its old position 5

  // A bad request anywhere in a batch leaves every request's cache untouched.
  const std::vector<float> before = cache;
  const std::vector<kv_move> bad_second{{5, 3}, {17, 2}};
  const std::vector<std::int32_t> bad_offsets{0, 1, 2};
  REQUIRE_INVALID_ARGUMENT("moves src[0] = 17 violates < cache capacity",
                           specdec::apply_keep_list(std::span<const kv_move>(bad_second), bad_offsets, view, capacity * 2));
  REQUIRE(cache == before);

  REQUIRE_INVALID_ARGUMENT("moves src[0] = 16 violates < cache capacity",
                           specdec::apply_keep_list(std::vector<kv_move>{{16, 3}}, view));
  REQUIRE_INVALID_ARGUMENT("moves dst[0] = 5 violates 0 <= dst < src", specdec::apply_keep_list(std::vector<kv_move>{{5, 5}}, view));
  REQUIRE_INVALID_ARGUMENT("moves src[1] = 5 violates sources strictly increasing",
                           specdec::apply_keep_list(std::vector<kv_move>{{6, 2}, {5, 3}}, view));
  REQUIRE_INVALID_ARGUMENT("axes.size() = 7", specdec::strided_kv_cache<float>(cache.data(), 4, 1,
                                                                             {{1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}}));

  const std::vector<std::int32_t> table{2, 0};
  REQUIRE(specdec::physical_slot(table, 4, 5) == 1);
  REQUIRE(specdec::physical_slot(table, 4, 2) == 10);
  REQUIRE_INVALID_ARGUMENT("position = 8 violates a logical position covered by the block table",
                           (void)specdec::physical_slot(table, 4, 8));
  const specdec::paged_kv_cache<float> paged(cache.data(), 2, 4, 4, 1, {});
  REQUIRE_INVALID_ARGUMENT("block of position = 1", specdec::apply_keep_list(std::vector<kv_move>{{6, 1}}, table, paged));
  REQUIRE_INVALID_ARGUMENT("block_size = 0", specdec::paged_kv_cache<float>(cache.data(), 2, 0, 4, 1, {}));
}

TEST_CASE("keep-lists bound the context so that every position fits, and batches write nothing on error") {
  const token_tree tree = unbalanced();
  const std::vector<std::int32_t> path{1, 3, 4};
  std::vector<kv_move> moves(3, kv_move{-1, -1});
  constexpr index_t int64_max = std::numeric_limits<index_t>::max();
  REQUIRE_INVALID_ARGUMENT("context_length = 9223372036854775807 violates 0 <= context_length <= 2^63 - 1 - tree.size()",
                           specdec::keep_list(tree, path, int64_max, moves));
  REQUIRE_INVALID_ARGUMENT("context_length = 9223372036854775801", specdec::keep_list(tree, path, int64_max - 6, moves));
  REQUIRE(moves == std::vector<kv_move>(3, kv_move{-1, -1}));
  REQUIRE(specdec::keep_list(tree, path, int64_max - 7, moves) == 2);
  REQUIRE(moves[1] == kv_move{int64_max - 3, int64_max - 4});

  // A bad path in request 1 leaves request 0's moves and every offset untouched.
  specdec::token_tree_batch batch;
  batch.push_back(tree);
  batch.push_back(tree);
  const std::vector<std::int32_t> accepted{1, 3, 4, 2, 5};  // request 1: 2 -> 5 is not a root path
  const std::vector<std::int32_t> accepted_offsets{0, 3, 5};
  std::vector<kv_move> batch_moves(5, kv_move{-1, -1});
  std::vector<std::int32_t> move_offsets(3, 9);
  REQUIRE_INVALID_ARGUMENT("in trees[1]: specdec: accepted_path[1] = 5 violates a child of the previous accepted node",
                           specdec::keep_list(batch.view(), specdec::ragged_offsets(accepted_offsets), accepted,
                                              std::vector<std::int32_t>{10, 20}, batch_moves, move_offsets));
  REQUIRE(batch_moves == std::vector<kv_move>(5, kv_move{-1, -1}));
  REQUIRE(move_offsets == std::vector<std::int32_t>(3, 9));

  // Paged caches: a block whose slots would not fit index_t is rejected, not wrapped.
  const std::vector<std::int32_t> table{std::numeric_limits<std::int32_t>::max()};
  REQUIRE_INVALID_ARGUMENT("block_table[0] = 2147483647 violates a block whose slots fit index_t",
                           (void)specdec::physical_slot(table, index_t{1} << 40, 0));
  REQUIRE(specdec::physical_slot(table, index_t{1} << 20, 5) == (index_t{2147483647} << 20) + 5);
}

TEST_CASE("kv_axis is public and the caches return their axes as given") {
  std::vector<float> data(64);
  const std::vector<specdec::kv_axis> axes{{2, 16}, {4, 1}};
  const specdec::strided_kv_cache<float> strided(data.data(), 4, 4, axes);
  REQUIRE(strided.axes().size() == 2);
  REQUIRE(strided.axes()[0].extent == 2);
  REQUIRE(strided.axes()[0].stride == 16);
  REQUIRE(strided.axes()[1].stride == 1);
  const specdec::paged_kv_cache<float> paged(data.data(), 2, 4, 16, 4, {{4, 1}});
  REQUIRE(paged.axes().size() == 1);
  REQUIRE(paged.axes()[0].extent == 4);
  // copy_slice copies exactly the addressed elements.
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i);
  strided.copy_slice(strided.entry(0), strided.entry(3));
  REQUIRE(data[0] == 12.0f);
  REQUIRE(data[3] == 15.0f);
  REQUIRE(data[16] == 28.0f);
  REQUIRE(data[4] == 4.0f);  // position 1 untouched
}
