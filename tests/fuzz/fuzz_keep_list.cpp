//! Keep-lists on strided and paged caches, one request and batched, from paths and from engine accept
//! indices: either `specdec::invalid_argument` with moves, offsets and caches untouched, or moves in
//! keep-list order whose application leaves the accepted entries at context + depth and changes
//! nothing else.
#include <fuzzer/FuzzedDataProvider.h>

#include <specdec/kv/keep_list.hpp>
#include <specdec/kv/paged_kv_cache.hpp>
#include <specdec/kv/strided_kv_cache.hpp>
#include <specdec/tree/token_tree.hpp>
#include <specdec/tree/token_tree_batch.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "fuzz_support.hpp"

namespace {

constexpr specdec::index_t entry = 2;  // elements per cache entry: axes {2, 1}

specdec::token_tree make_tree(FuzzedDataProvider& in) {
  specdec::token_tree tree(0);
  const int n = in.ConsumeIntegralInRange<int>(1, 30);
  for (int i = 1; i < n; ++i) tree.add_child(in.ConsumeIntegralInRange<std::int32_t>(std::max(0, i - 4), i - 1), 1);
  return tree;
}

// A root path most of the time (walking to random children), anything sometimes.
std::vector<std::int32_t> make_path(FuzzedDataProvider& in, const specdec::token_tree& tree) {
  std::vector<std::int32_t> path;
  if (in.ConsumeIntegralInRange<int>(0, 7) == 0) {
    path.resize(in.ConsumeIntegralInRange<std::size_t>(0, 6));
    for (auto& x : path) x = in.ConsumeIntegralInRange<std::int32_t>(-2, 35);
    return path;
  }
  std::int32_t node = 0;
  while (in.ConsumeBool()) {
    std::vector<std::int32_t> children;
    for (specdec::index_t i = node + 1; i < tree.size(); ++i) {
      if (tree.parent(i) == node) children.push_back(static_cast<std::int32_t>(i));
    }
    if (children.empty()) break;
    node = children[in.ConsumeIntegralInRange<std::size_t>(0, children.size() - 1)];
    path.push_back(node);
  }
  return path;
}

// The moves are in keep-list order, and applying them moves exactly the accepted entries.
void check_moves(const std::vector<specdec::kv_move>& moves, specdec::index_t count, const std::vector<std::int32_t>& path,
                 specdec::index_t context) {
  FUZZ_REQUIRE(count >= 0 && count <= static_cast<specdec::index_t>(path.size()), "at most one move per accepted node");
  specdec::index_t k = 0;
  for (std::size_t d = 1; d <= path.size(); ++d) {
    if (path[d - 1] == static_cast<std::int32_t>(d)) continue;
    FUZZ_REQUIRE(k < count && moves[static_cast<std::size_t>(k)] == (specdec::kv_move{context + path[d - 1], context + static_cast<specdec::index_t>(d)}),
                 "moves: context + node -> context + depth, skipping no-ops, in increasing depth");
    ++k;
  }
  FUZZ_REQUIRE(k == count, "no extra moves");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const specdec::token_tree tree = make_tree(in);
  const std::vector<std::int32_t> path = make_path(in, tree);
  const specdec::index_t context = in.ConsumeBool() ? in.ConsumeIntegralInRange<specdec::index_t>(0, 20) : in.ConsumeIntegral<specdec::index_t>();

  // One request.
  std::vector<specdec::kv_move> moves(path.size() + in.ConsumeIntegralInRange<std::size_t>(0, 1), specdec::kv_move{-5, -5});
  if (in.ConsumeIntegralInRange<int>(0, 15) == 0 && !moves.empty()) moves.pop_back();
  specdec::index_t count = 0;
  if (!completes([&] { count = specdec::keep_list(tree, path, context, moves); })) {
    FUZZ_REQUIRE(std::all_of(moves.begin(), moves.end(), [](const specdec::kv_move& m) { return m == specdec::kv_move{-5, -5}; }),
                 "rejected: moves untouched");
    return 0;
  }
  check_moves(moves, count, path, context);
  moves.resize(static_cast<std::size_t>(count));

  // Strided: capacity may be too small; then the cache must stay untouched.
  const specdec::index_t capacity = std::min<specdec::index_t>(context, 64) + in.ConsumeIntegralInRange<specdec::index_t>(0, 40);
  if (context > 64) return 0;
  std::vector<float> cache(static_cast<std::size_t>(capacity * entry));
  for (std::size_t i = 0; i < cache.size(); ++i) cache[i] = static_cast<float>(i);
  const std::vector<float> before = cache;
  const specdec::strided_kv_cache<float> strided(cache.data(), capacity, entry, {{entry, 1}});
  if (completes([&] { specdec::apply_keep_list(std::span<const specdec::kv_move>(moves), strided); })) {
    std::vector<bool> written(static_cast<std::size_t>(capacity), false);
    for (std::size_t d = 1; d <= path.size(); ++d) {
      const auto dst = static_cast<std::size_t>(context) + d;
      const auto src = static_cast<std::size_t>(context + path[d - 1]);
      if (src >= static_cast<std::size_t>(capacity) || dst >= static_cast<std::size_t>(capacity)) {
        // Accepted only as a no-op: the entry is already in place and no move reads or writes it.
        FUZZ_REQUIRE(src == dst, "entries beyond the capacity are moved only when they need no move");
        continue;
      }
      for (specdec::index_t e = 0; e < entry; ++e) {
        FUZZ_REQUIRE(cache[dst * entry + static_cast<std::size_t>(e)] == before[src * entry + static_cast<std::size_t>(e)],
                     "the accepted node at depth d ends at context + d");
      }
      written[dst] = true;
    }
    for (std::size_t p = 0; p < static_cast<std::size_t>(capacity); ++p) {
      if (!written[p]) FUZZ_REQUIRE(cache[p * entry] == before[p * entry] && cache[p * entry + 1] == before[p * entry + 1], "other entries unchanged");
    }
  } else {
    FUZZ_REQUIRE(cache == before, "rejected: strided cache untouched");
  }

  // Paged, batched with a second request that may be bad: all or nothing.
  const specdec::index_t block_size = in.ConsumeIntegralInRange<specdec::index_t>(1, 8);
  const specdec::index_t blocks = in.ConsumeIntegralInRange<specdec::index_t>(1, 24);
  const specdec::index_t max_blocks = in.ConsumeIntegralInRange<specdec::index_t>(1, 24);
  std::vector<std::int32_t> tables(static_cast<std::size_t>(2 * max_blocks));
  for (auto& t : tables) t = in.ConsumeIntegralInRange<std::int32_t>(-1, static_cast<std::int32_t>(blocks));
  std::vector<float> pool(static_cast<std::size_t>(blocks * block_size * entry));
  for (std::size_t i = 0; i < pool.size(); ++i) pool[i] = static_cast<float>(i);
  const std::vector<float> pool_before = pool;
  const specdec::paged_kv_cache<float> paged(pool.data(), blocks, block_size, block_size * entry, entry, {{entry, 1}});
  std::vector<specdec::kv_move> both = moves;
  const specdec::index_t second_src = in.ConsumeIntegralInRange<specdec::index_t>(0, 40);
  both.push_back({second_src, in.ConsumeIntegralInRange<specdec::index_t>(-1, 40)});
  const std::vector<std::int32_t> move_offsets{0, static_cast<std::int32_t>(moves.size()), static_cast<std::int32_t>(both.size())};
  const specdec::const_matrix_view<std::int32_t> table_view(tables.data(), 2, max_blocks);
  // Only tables that map distinct logical blocks to distinct physical blocks are in the contract.
  for (specdec::index_t r = 0; r < 2; ++r) {
    std::vector<std::int32_t> row(tables.begin() + r * max_blocks, tables.begin() + (r + 1) * max_blocks);
    row.erase(std::remove(row.begin(), row.end(), -1), row.end());
    std::sort(row.begin(), row.end());
    if (std::adjacent_find(row.begin(), row.end()) != row.end()) return 0;
  }
  {
    std::vector<std::int32_t> all;
    for (const auto t : tables) if (t >= 0) all.push_back(t);
    std::sort(all.begin(), all.end());
    if (std::adjacent_find(all.begin(), all.end()) != all.end()) return 0;  // requests share no block
  }
  const bool applied = completes([&] { specdec::apply_keep_list(std::span<const specdec::kv_move>(both), move_offsets, table_view, paged); });
  if (!applied) {
    FUZZ_REQUIRE(pool == pool_before, "rejected: the whole paged batch untouched");
  } else {
    // Replay by hand through the tables: the same copies in the same order.
    std::vector<float> expected = pool_before;
    for (std::size_t r = 0; r < 2; ++r) {
      for (std::int32_t k = move_offsets[r]; k < move_offsets[r + 1]; ++k) {
        const auto slot = [&](specdec::index_t position) {
          return static_cast<std::size_t>(tables[r * static_cast<std::size_t>(max_blocks) + static_cast<std::size_t>(position / block_size)]) *
                     static_cast<std::size_t>(block_size) + static_cast<std::size_t>(position % block_size);
        };
        const auto& m = both[static_cast<std::size_t>(k)];
        for (specdec::index_t e = 0; e < entry; ++e) {
          expected[slot(m.dst) * entry + static_cast<std::size_t>(e)] = expected[slot(m.src) * entry + static_cast<std::size_t>(e)];
        }
      }
    }
    FUZZ_REQUIRE(pool == expected, "paged application equals the moves through the block tables");
  }

  // Engine accept indices for a batch of this tree twice: equal to the batched keep-list.
  if (context > 1000) return 0;
  specdec::token_tree_batch batch;
  batch.push_back(tree);
  batch.push_back(tree);
  const specdec::index_t cols = static_cast<specdec::index_t>(path.size()) + 1 + in.ConsumeIntegralInRange<specdec::index_t>(0, 2);
  std::vector<std::int64_t> accept(static_cast<std::size_t>(2 * cols), -1);
  for (specdec::index_t r = 0; r < 2; ++r) {
    accept[static_cast<std::size_t>(r * cols)] = r * tree.size();
    for (std::size_t d = 0; d < path.size(); ++d) accept[static_cast<std::size_t>(r * cols) + d + 1] = r * tree.size() + path[d];
  }
  if (in.ConsumeIntegralInRange<int>(0, 7) == 0) accept[in.ConsumeIntegralInRange<std::size_t>(0, accept.size() - 1)] = in.ConsumeIntegralInRange<std::int64_t>(-2, 70);
  const std::vector<std::int32_t> contexts{static_cast<std::int32_t>(context), static_cast<std::int32_t>(context)};
  std::vector<specdec::kv_move> from_accept(2 * path.size() + 1, specdec::kv_move{-5, -5});
  std::vector<std::int32_t> accept_offsets(3, 99);
  const bool accepted = completes([&] {
    (void)specdec::keep_list_from_accept_indices(batch, specdec::const_matrix_view<std::int64_t>(accept.data(), 2, cols), contexts,
                                                 from_accept, accept_offsets);
  });
  if (!accepted) {
    FUZZ_REQUIRE(accept_offsets == std::vector<std::int32_t>(3, 99), "rejected: offsets untouched");
    return 0;
  }
  for (specdec::index_t r = 0; r < 2; ++r) {
    std::vector<std::int32_t> local;
    for (specdec::index_t c = 1; c < cols && accept[static_cast<std::size_t>(r * cols + c)] >= 0; ++c) {
      local.push_back(static_cast<std::int32_t>(accept[static_cast<std::size_t>(r * cols + c)] - r * tree.size()));
    }
    std::vector<specdec::kv_move> single(local.size());
    const specdec::index_t single_count = specdec::keep_list(tree, local, context, single);
    FUZZ_REQUIRE(accept_offsets[static_cast<std::size_t>(r + 1)] - accept_offsets[static_cast<std::size_t>(r)] == single_count,
                 "accept indices give the path's move count");
    FUZZ_REQUIRE(std::equal(single.begin(), single.begin() + single_count, from_accept.begin() + accept_offsets[static_cast<std::size_t>(r)]),
                 "accept indices give the path's moves");
  }
  return 0;
}
