// Tree flattening (every layout, the dense mask included) and KV compaction kernels against the CPU
// flatteners, keep_list and apply_keep_list on random ragged batches: exact equality of every output
// word and every cache byte.
#include <specdec/cuda.cuh>

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "cuda/device_buffer.cuh"
#include "cuda/verify_case.hpp"
#include "support/catch.hpp"

namespace {

namespace sc = specdec::cuda;
using specdec::index_t;
using specdec::test::device_buffer;

specdec::test::verify_case random_trees(std::size_t requests, std::int32_t max_nodes, std::uint64_t seed) {
  specdec::test::case_options o;
  o.requests = requests;
  o.max_nodes = max_nodes;
  o.vocab = 16;  // tokens only; small rows keep the case cheap
  o.seed = seed;
  return specdec::test::make_verify_case(o);
}

// Request b's accepted path in the verify_outputs layout: the root path of a random node.
struct random_paths {
  std::vector<std::int32_t> path;      // ragged like the nodes
  std::vector<std::int32_t> accepted;  // per request
};

random_paths make_paths(const specdec::test::verify_case& c, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  random_paths p{std::vector<std::int32_t>(c.total(), -7), std::vector<std::int32_t>(c.batch())};
  for (std::size_t b = 0; b < c.batch(); ++b) {
    const auto first = static_cast<std::size_t>(c.offsets[b]);
    const auto n = c.offsets[b + 1] - c.offsets[b];
    const auto leaf = std::uniform_int_distribution<std::int32_t>(0, n - 1)(rng);
    const std::int32_t depth = c.depths[first + static_cast<std::size_t>(leaf)];
    for (std::int32_t j = leaf; j >= 0; j = c.parents[first + static_cast<std::size_t>(j)]) {
      p.path[first + static_cast<std::size_t>(c.depths[first + static_cast<std::size_t>(j)])] = j;
    }
    p.accepted[b] = depth;
  }
  return p;
}

// The CPU keep-list of request b (moves in logical positions of its own cache).
std::vector<specdec::kv_move> cpu_moves(const specdec::test::verify_case& c, const random_paths& p, std::size_t b,
                                        std::int32_t context) {
  const auto first = static_cast<std::size_t>(c.offsets[b]);
  const std::vector<std::int32_t> drafts(p.path.begin() + static_cast<std::ptrdiff_t>(first) + 1,
                                         p.path.begin() + static_cast<std::ptrdiff_t>(first) + 1 + p.accepted[b]);
  std::vector<specdec::kv_move> moves(drafts.size());
  moves.resize(static_cast<std::size_t>(specdec::keep_list(c.trees().tree(static_cast<index_t>(b)), drafts, context, moves)));
  return moves;
}

}  // namespace

TEST_CASE("flatten_trees equals the CPU flatteners tree by tree", "[cuda][tree]") {
  const std::int32_t max_nodes = GENERATE(24, 300);
  const auto c = random_trees(specdec::test::test_cases(200), max_nodes, 17);
  const std::size_t total = c.total();
  std::vector<std::int32_t> contexts(c.batch());
  for (std::size_t b = 0; b < c.batch(); ++b) contexts[b] = static_cast<std::int32_t>(b * 13 % 97);
  std::int32_t largest = 0;
  std::int32_t deepest = 0;
  for (std::size_t b = 0; b < c.batch(); ++b) largest = std::max(largest, c.offsets[b + 1] - c.offsets[b]);
  for (const std::int32_t d : c.depths) deepest = std::max(deepest, d);
  const std::int32_t words = (largest + 31) / 32 + 1;  // one spare word: it must be cleared
  const std::int32_t cols = deepest + 2;

  device_buffer<std::int32_t> offsets(c.offsets), parents(c.parents), depths(c.depths), d_contexts(contexts);
  device_buffer<specdec::token_id> tokens(c.tokens);
  device_buffer<std::int32_t> positions(total), paths(total * static_cast<std::size_t>(cols)), leaf_counts(c.batch());
  device_buffer<std::uint32_t> mask(total * static_cast<std::size_t>(words));
  const std::int32_t dense_cols = largest + 3;  // spare columns: they must be cleared
  device_buffer<std::uint8_t> dense(total * static_cast<std::size_t>(dense_cols));
  device_buffer<std::int32_t> first_child(total), next_sibling(total);
  std::size_t fi_bytes = 0;
  for (std::size_t b = 0; b < c.batch(); ++b) {
    fi_bytes += static_cast<std::size_t>(specdec::flashinfer_mask_bytes(c.offsets[b + 1] - c.offsets[b], contexts[b]));
  }
  device_buffer<std::uint8_t> fi_mask(fi_bytes);
  device_buffer<std::int32_t> fi_offsets(c.batch() + 1);
  SPECDEC_CHECK_CUDA(cudaMemset(mask.data(), 0xab, mask.size() * sizeof(std::uint32_t)));  // stale bits must go
  SPECDEC_CHECK_CUDA(cudaMemset(paths.data(), 0x5a, paths.size() * sizeof(std::int32_t)));
  SPECDEC_CHECK_CUDA(cudaMemset(dense.data(), 0x77, dense.size()));
  const specdec::token_tree_batch_view trees(specdec::ragged_offsets(offsets.data(), static_cast<index_t>(c.batch() + 1)),
                                             tokens.data(), parents.data(), depths.data());
  sc::flatten_outputs out;
  out.position_ids = positions.data();
  out.packed_mask = mask.data();
  out.mask_words = words;
  out.dense_mask = dense.data();
  out.dense_cols = dense_cols;
  out.paths = paths.data();
  out.path_cols = cols;
  out.leaf_counts = leaf_counts.data();
  out.first_child = first_child.data();
  out.next_sibling = next_sibling.data();
  out.flashinfer_mask = fi_mask.data();
  out.flashinfer_offsets = fi_offsets.data();
  SPECDEC_CHECK_CUDA(sc::flatten_trees(trees, d_contexts.data(), out));
  SPECDEC_CHECK_CUDA(cudaDeviceSynchronize());

  std::vector<std::int32_t> want_positions(total), want_first(total), want_next(total);
  specdec::position_ids(c.trees(), contexts, std::span<std::int32_t>(want_positions));
  specdec::sibling_links(c.trees(), want_first, want_next);
  REQUIRE(positions.download() == want_positions);
  REQUIRE(first_child.download() == want_first);
  REQUIRE(next_sibling.download() == want_next);
  std::vector<std::uint8_t> want_fi(fi_bytes);
  std::vector<std::int32_t> want_fi_offsets(c.batch() + 1);
  specdec::ancestor_mask_flashinfer(c.trees(), contexts, want_fi, want_fi_offsets);
  REQUIRE(fi_offsets.download() == want_fi_offsets);
  REQUIRE(fi_mask.download() == want_fi);
  {  // the batched CPU dense mask (bool) against the device's bytes
    const auto got_dense = dense.download();
    const auto want_dense = std::make_unique<bool[]>(got_dense.size());
    specdec::ancestor_mask_dense(c.trees(), specdec::matrix_view<bool>(want_dense.get(), static_cast<index_t>(total), dense_cols));
    std::size_t first_wrong = got_dense.size();
    for (std::size_t k = got_dense.size(); k-- > 0;) {
      if (got_dense[k] != (want_dense[k] ? 1 : 0)) first_wrong = k;
    }
    INFO("first wrong dense mask element (row, column): " << first_wrong / static_cast<std::size_t>(dense_cols) << ", "
                                                          << first_wrong % static_cast<std::size_t>(dense_cols));
    REQUIRE(first_wrong == got_dense.size());
  }
  const auto got_mask = mask.download();
  const auto got_paths = paths.download();
  const auto got_leaves = leaf_counts.download();
  for (std::size_t b = 0; b < c.batch(); ++b) {
    INFO("tree " << b);
    const auto tree = c.trees().tree(static_cast<index_t>(b));
    const auto first = static_cast<std::size_t>(c.offsets[b]);
    std::vector<std::uint32_t> want_mask(static_cast<std::size_t>(tree.size() * words));
    specdec::ancestor_mask_packed(tree, specdec::matrix_view<std::uint32_t>(want_mask.data(), tree.size(), words));
    for (std::size_t k = 0; k < want_mask.size(); ++k) REQUIRE(got_mask[first * static_cast<std::size_t>(words) + k] == want_mask[k]);
    std::vector<std::int32_t> want_paths(static_cast<std::size_t>(tree.size() * cols));
    const index_t leaves = specdec::root_to_leaf_paths(tree, specdec::matrix_view<std::int32_t>(want_paths.data(), tree.size(), cols));
    REQUIRE(got_leaves[b] == leaves);
    for (std::size_t k = 0; k < static_cast<std::size_t>(leaves * cols); ++k) {
      REQUIRE(got_paths[first * static_cast<std::size_t>(cols) + k] == want_paths[k]);
    }
  }
}

TEMPLATE_TEST_CASE("compact_kv_cache applies the CPU keep-lists to a contiguous cache", "[cuda][kv]", float, std::uint16_t) {
  // float with 8-element slices moves in 16-byte units; uint16_t with 3-element slices byte by byte.
  const std::int64_t inner = std::is_same_v<TestType, float> ? 8 : 3;
  const std::int64_t outer = 3;
  const auto c = random_trees(specdec::test::test_cases(120), 20, 23);
  const auto p = make_paths(c, 29);
  const std::int64_t capacity = 64 + 20;
  sc::kv_layout layout;  // [batch][outer][capacity][inner]
  layout.seq_stride = inner;
  layout.outer_count = outer;
  layout.outer_stride = capacity * inner;
  layout.inner_size = inner;
  layout.batch_stride = outer * capacity * inner;
  std::vector<std::int32_t> contexts(c.batch());
  std::vector<TestType> cache(c.batch() * static_cast<std::size_t>(layout.batch_stride));
  for (std::size_t i = 0; i < cache.size(); ++i) cache[i] = static_cast<TestType>(i % 60000);
  for (std::size_t b = 0; b < c.batch(); ++b) contexts[b] = static_cast<std::int32_t>((b * 7) % 64);

  device_buffer<std::int32_t> offsets(c.offsets), path(p.path), accepted(p.accepted), d_contexts(contexts);
  device_buffer<TestType> d_cache(cache);
  const sc::accepted_paths paths{offsets.data(), path.data(), accepted.data(), d_contexts.data()};
  SPECDEC_CHECK_CUDA(sc::compact_kv_cache(d_cache.data(), layout, paths, static_cast<std::int64_t>(c.batch())));
  SPECDEC_CHECK_CUDA(cudaDeviceSynchronize());

  for (std::size_t b = 0; b < c.batch(); ++b) {
    const auto moves = cpu_moves(c, p, b, contexts[b]);
    const specdec::strided_kv_cache<TestType> view(cache.data() + b * static_cast<std::size_t>(layout.batch_stride), capacity,
                                                   inner, {{outer, capacity * inner}, {inner, 1}});
    specdec::apply_keep_list<TestType>(moves, view);
  }
  REQUIRE(d_cache.download() == cache);
}

TEST_CASE("compact_paged_kv_cache applies the CPU keep-lists through block tables", "[cuda][kv]") {
  const std::int64_t heads = 2;
  const std::int64_t dim = 8;
  const std::int64_t block_size = 4;
  const std::int64_t max_blocks = 24;  // 96 positions per request
  const auto c = random_trees(specdec::test::test_cases(64), 20, 31);
  const auto p = make_paths(c, 37);
  const auto batch = static_cast<std::int64_t>(c.batch());
  const std::int64_t num_blocks = batch * max_blocks;
  sc::paged_kv_layout layout;  // vLLM: [blocks][block_size][heads][dim]
  layout.block_size = block_size;
  layout.slot_stride = heads * dim;
  layout.block_stride = block_size * heads * dim;
  layout.outer_count = 1;
  layout.inner_size = heads * dim;
  std::vector<std::int32_t> tables(static_cast<std::size_t>(num_blocks));
  for (std::size_t k = 0; k < tables.size(); ++k) tables[k] = static_cast<std::int32_t>(k);
  std::shuffle(tables.begin(), tables.end(), std::mt19937_64(41));  // a permutation: injective per request
  std::vector<std::uint16_t> cache(static_cast<std::size_t>(num_blocks * layout.block_stride));
  for (std::size_t i = 0; i < cache.size(); ++i) cache[i] = static_cast<std::uint16_t>(i * 2654435761u >> 16);
  std::vector<std::int32_t> contexts(c.batch());
  for (std::size_t b = 0; b < c.batch(); ++b) contexts[b] = static_cast<std::int32_t>((b * 11) % 70);

  device_buffer<std::int32_t> offsets(c.offsets), path(p.path), accepted(p.accepted), d_contexts(contexts), d_tables(tables);
  device_buffer<std::uint16_t> d_cache(cache);
  const sc::accepted_paths paths{offsets.data(), path.data(), accepted.data(), d_contexts.data()};
  SPECDEC_CHECK_CUDA(sc::compact_paged_kv_cache(d_cache.data(), layout, d_tables.data(), max_blocks, paths, batch));
  SPECDEC_CHECK_CUDA(cudaDeviceSynchronize());

  const specdec::paged_kv_cache<std::uint16_t> view(cache.data(), num_blocks, block_size, layout.block_stride,
                                                    layout.slot_stride, {{heads, dim}, {dim, 1}});
  for (std::size_t b = 0; b < c.batch(); ++b) {
    const auto moves = cpu_moves(c, p, b, contexts[b]);
    const std::span<const std::int32_t> table(tables.data() + b * static_cast<std::size_t>(max_blocks),
                                              static_cast<std::size_t>(max_blocks));
    specdec::apply_keep_list<std::uint16_t>(moves, table, view);
  }
  REQUIRE(d_cache.download() == cache);
}
