// Device tree building: top_k_rows against a host sort (value descending, index ascending; bfloat16
// rows are full of ties), and build_static_trees over those candidates against static_tree_builder.
#include <specdec/cuda.cuh>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "cuda/device_buffer.cuh"
#include "cuda/verify_case.hpp"
#include "support/catch.hpp"

namespace {

namespace sc = specdec::cuda;
using specdec::test::device_buffer;

std::vector<float> random_rows(std::size_t rows, std::size_t vocab, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::bernoulli_distribution masked(0.1);
  std::vector<float> out(rows * vocab);
  for (float& x : out) x = masked(rng) ? -INFINITY : normal(rng);
  return out;
}

// The host specification: indices of the k largest non -inf entries by (value desc, index asc), -1 padded.
std::vector<specdec::token_id> host_top_k(const float* row, std::size_t vocab, std::int32_t k) {
  std::vector<specdec::token_id> order;
  for (std::size_t i = 0; i < vocab; ++i) {
    if (row[i] != -INFINITY) order.push_back(static_cast<specdec::token_id>(i));
  }
  std::sort(order.begin(), order.end(), [&](specdec::token_id a, specdec::token_id b) {
    return row[a] > row[b] || (row[a] == row[b] && a < b);
  });
  order.resize(static_cast<std::size_t>(k), specdec::no_token);
  return order;
}

}  // namespace

TEMPLATE_TEST_CASE("top_k_rows ranks the k largest entries, ties to the lowest index", "[cuda][tree]", float, __nv_bfloat16) {
  const std::int32_t k = GENERATE(1, 10, 64);
  const std::size_t vocab = 5003;
  const std::size_t rows = specdec::test::test_cases(160);
  auto logits = specdec::test::make_typed<TestType>(random_rows(rows, vocab, 51));
  // Row 0: fewer unmasked entries than k (padding); row 1: all equal (ties only).
  for (std::size_t i = 0; i < vocab; ++i) {
    logits.exact[i] = i < 5 ? 1.0f : -INFINITY;
    logits.exact[vocab + i] = 0.5f;
  }
  logits = specdec::test::make_typed<TestType>(logits.exact);
  device_buffer<TestType> d_logits(logits.stored);
  device_buffer<specdec::token_id> d_tokens(rows * static_cast<std::size_t>(k));
  device_buffer<float> d_values(rows * static_cast<std::size_t>(k));
  SPECDEC_CHECK_CUDA(sc::top_k_rows(d_logits.data(), static_cast<std::int64_t>(rows), static_cast<std::int32_t>(vocab), k,
                                    d_tokens.data(), d_values.data()));
  SPECDEC_CHECK_CUDA(cudaDeviceSynchronize());
  const auto tokens = d_tokens.download();
  const auto values = d_values.download();
  for (std::size_t r = 0; r < rows; ++r) {
    INFO("row " << r << ", k " << k);
    const auto want = host_top_k(logits.exact.data() + r * vocab, vocab, k);
    for (std::size_t j = 0; j < static_cast<std::size_t>(k); ++j) {
      REQUIRE(tokens[r * static_cast<std::size_t>(k) + j] == want[j]);
      const float v = want[j] < 0 ? -INFINITY : logits.exact[r * vocab + static_cast<std::size_t>(want[j])];
      REQUIRE(values[r * static_cast<std::size_t>(k) + j] == v);
    }
  }
  CHECK(sc::top_k_rows(d_logits.data(), 1, static_cast<std::int32_t>(vocab), 0, d_tokens.data(), nullptr) ==
        cudaErrorInvalidValue);
}

TEST_CASE("build_static_trees fills a Medusa shape from per-head top-k like static_tree_builder", "[cuda][tree]") {
  const specdec::tree_choices choices{{0}, {1}, {2}, {0, 0}, {0, 1}, {1, 0}, {2, 0}, {0, 0, 0}, {0, 1, 0}, {0, 0, 0, 3}};
  const std::int32_t heads = 4;
  const std::int32_t k = 5;
  const std::size_t vocab = 3001;
  const std::size_t batch = specdec::test::test_cases(64);
  const auto n = static_cast<std::int32_t>(choices.size());
  std::vector<std::int32_t> parents(static_cast<std::size_t>(n)), ranks(static_cast<std::size_t>(n)), depths(static_cast<std::size_t>(n));
  for (std::int32_t i = 0; i < n; ++i) {
    parents[static_cast<std::size_t>(i)] = choices.parent(i);
    ranks[static_cast<std::size_t>(i)] = choices.rank(i);
    depths[static_cast<std::size_t>(i)] = choices.depth(i);
  }
  const auto head_logits = random_rows(batch * static_cast<std::size_t>(heads), vocab, 53);
  std::vector<specdec::token_id> roots(batch);
  std::iota(roots.begin(), roots.end(), 100);
  device_buffer<float> d_head_logits(head_logits);
  device_buffer<specdec::token_id> d_candidates(batch * static_cast<std::size_t>(heads * k)), d_roots(roots);
  device_buffer<std::int32_t> d_shape_parents(parents), d_shape_ranks(ranks), d_shape_depths(depths);
  const std::size_t total = batch * static_cast<std::size_t>(n);
  device_buffer<specdec::token_id> d_tokens(total);
  device_buffer<std::int32_t> d_parents(total), d_depths(total), d_offsets(batch + 1);
  SPECDEC_CHECK_CUDA(sc::top_k_rows(d_head_logits.data(), static_cast<std::int64_t>(batch) * heads,
                                    static_cast<std::int32_t>(vocab), k, d_candidates.data(), nullptr));
  const sc::static_tree_shape shape{d_shape_parents.data(), d_shape_ranks.data(), d_shape_depths.data(), n};
  SPECDEC_CHECK_CUDA(sc::build_static_trees(shape, static_cast<std::int64_t>(batch), d_roots.data(), d_candidates.data(),
                                            heads, k, d_tokens.data(), d_parents.data(), d_depths.data(), d_offsets.data()));
  SPECDEC_CHECK_CUDA(cudaDeviceSynchronize());
  const auto candidates = d_candidates.download();
  const auto tokens = d_tokens.download();
  const auto got_parents = d_parents.download();
  const auto got_depths = d_depths.download();
  const auto offsets = d_offsets.download();
  specdec::static_tree_builder builder;
  specdec::token_tree tree(0);
  for (std::size_t b = 0; b < batch; ++b) {
    INFO("request " << b);
    for (std::int32_t h = 0; h < heads; ++h) {  // the candidates are the heads' top-k
      const auto want = host_top_k(head_logits.data() + (b * static_cast<std::size_t>(heads) + static_cast<std::size_t>(h)) * vocab, vocab, k);
      for (std::int32_t j = 0; j < k; ++j) {
        REQUIRE(candidates[(b * static_cast<std::size_t>(heads) + static_cast<std::size_t>(h)) * static_cast<std::size_t>(k) + static_cast<std::size_t>(j)] ==
                want[static_cast<std::size_t>(j)]);
      }
    }
    builder.build(choices, roots[b],
                  specdec::const_matrix_view<specdec::token_id>(candidates.data() + b * static_cast<std::size_t>(heads * k), heads, k), tree);
    REQUIRE(offsets[b] == static_cast<std::int32_t>(b) * n);
    for (std::int32_t i = 0; i < n; ++i) {
      const std::size_t e = b * static_cast<std::size_t>(n) + static_cast<std::size_t>(i);
      REQUIRE(tokens[e] == tree.token(i));
      REQUIRE(got_parents[e] == tree.parent(i));
      REQUIRE(got_depths[e] == tree.depth(i));
    }
  }
  REQUIRE(offsets[batch] == static_cast<std::int32_t>(total));
}
