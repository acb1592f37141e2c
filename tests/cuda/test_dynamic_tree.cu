// EAGLE-2 dynamic trees on the device (dynamic_tree_expand rounds + dynamic_tree_rerank) against the CPU
// dynamic_tree_builder with the same draft proposals: identical frontiers in every round and identical
// trees (tokens, parents, depths, candidate ids), exactly. Log-probabilities on a quarter grid make
// cumulative scores tie often, so the tie rule (earlier candidate first) is exercised; a wide k (300)
// runs the selections over many chunks. Also: the whole build + flatten captured in a CUDA graph and
// replayed with new inputs, and argument errors.
#include <specdec/cuda.cuh>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "cuda/device_buffer.cuh"
#include "cuda/verify_case.hpp"
#include "support/catch.hpp"

namespace {

namespace sc = specdec::cuda;
using specdec::index_t;
using specdec::token_id;
using specdec::test::device_buffer;

// A deterministic draft model: the proposals below a node depend on (request, key) only, where the key is
// the node's candidate id (`by_row` false: a wrong frontier shows up as wrong tokens) or the round and
// row (`by_row` true: inputs that can be prepared before the build, for the graph test). With `lse` the
// proposals are raw values v = lse + log-prob handed over with the row's logsumexp, as top_k_rows and
// logsumexp_rows give them; the log-probability is then v - lse in float on both sides.
struct hashed_draft {
  std::uint64_t seed = 1;
  std::int32_t k = 1;
  std::int32_t vocab = 1000;
  bool quarter_grid = true;  // log-probs in {0, -0.25, ..., -3}: many exact ties of cumulative scores
  bool lse = false;

  static constexpr float row_lse = 3.5f;

  // Row values (best first) and tokens of key `key` of request b.
  void proposals(std::size_t b, std::uint64_t key, token_id* tokens, float* values) const {
    std::mt19937_64 rng(seed ^ (b * 0x9E3779B97F4A7C15ull) ^ (key * 0xBF58476D1CE4E5B9ull));
    std::uniform_int_distribution<token_id> token(0, vocab - 1);
    std::uniform_int_distribution<int> step(0, 12);
    std::uniform_real_distribution<float> unit(0.001f, 1.0f);
    std::bernoulli_distribution impossible(0.02);
    for (std::int32_t c = 0; c < k; ++c) {
      tokens[c] = token(rng);
      values[c] = quarter_grid ? -0.25f * static_cast<float>(step(rng)) : impossible(rng) ? -INFINITY : std::log(unit(rng));
    }
    std::sort(values, values + k, std::greater<>());
    if (lse) {
      for (std::int32_t c = 0; c < k; ++c) values[c] = row_lse + values[c];  // <= row_lse: v - lse <= 0
    }
  }
  // The log-probability the kernel computes from a handed-over value.
  [[nodiscard]] float log_prob(float value) const { return lse ? value - row_lse : value; }
};

std::uint64_t key_of(bool by_row, std::int32_t node, std::int32_t depth, std::int64_t row) {
  return by_row ? (static_cast<std::uint64_t>(depth) << 32) + static_cast<std::uint64_t>(row) : static_cast<std::uint64_t>(node);
}

// The CPU side: dynamic_tree_expander over the same proposals, recording each round's frontier.
struct cpu_expander {
  const hashed_draft* draft;
  std::size_t request;
  bool by_row;
  std::vector<std::vector<std::int32_t>> frontiers;
  void expand(std::span<const std::int32_t> nodes, std::span<const token_id>, std::int32_t depth,
              specdec::matrix_view<token_id> ranked, specdec::matrix_view<float> log_probs) {
    frontiers.emplace_back(nodes.begin(), nodes.end());
    std::vector<float> values(static_cast<std::size_t>(draft->k));
    for (index_t r = 0; r < ranked.rows(); ++r) {
      draft->proposals(request, key_of(by_row, nodes[static_cast<std::size_t>(r)], depth, r), &ranked(r, 0), values.data());
      for (index_t c = 0; c < ranked.cols(); ++c) log_probs(r, c) = draft->log_prob(values[static_cast<std::size_t>(c)]);
    }
  }
};
static_assert(specdec::dynamic_tree_expander<cpu_expander>);

// One round's inputs for the device: [B, f, k] tokens and values, [B * f] logsumexp.
struct round_inputs {
  std::vector<token_id> tokens;
  std::vector<float> values;
  std::vector<float> lse;
};

round_inputs make_round(const hashed_draft& draft, std::size_t batch, std::int32_t depth, std::int64_t f,
                        const std::vector<std::int32_t>& frontier /* [B, k]; unused in round 0 and by row */,
                        bool by_row) {
  const auto k = static_cast<std::size_t>(draft.k);
  round_inputs in{std::vector<token_id>(batch * static_cast<std::size_t>(f) * k),
                  std::vector<float>(batch * static_cast<std::size_t>(f) * k),
                  std::vector<float>(batch * static_cast<std::size_t>(f), hashed_draft::row_lse)};
  for (std::size_t b = 0; b < batch; ++b) {
    for (std::int64_t r = 0; r < f; ++r) {
      const std::int32_t node = depth == 0 || by_row ? 0 : frontier[b * k + static_cast<std::size_t>(r)];
      const std::size_t at = (b * static_cast<std::size_t>(f) + static_cast<std::size_t>(r)) * k;
      draft.proposals(b, key_of(by_row, node, depth, r), in.tokens.data() + at, in.values.data() + at);
    }
  }
  return in;
}

// The device tree of a batch, downloaded.
struct device_trees {
  std::vector<token_id> tokens;
  std::vector<std::int32_t> parents, depths, offsets, candidates;
};

// Compares request b's device tree (N nodes at b * N) and each round's frontier with the CPU build.
void require_same_tree(const device_trees& got, const std::vector<std::vector<std::int32_t>>& device_frontiers,
                       const hashed_draft& draft, const specdec::dynamic_tree_params& params, std::size_t b,
                       token_id root, bool by_row) {
  specdec::dynamic_tree_builder builder;
  specdec::token_tree tree(0);
  cpu_expander expander{&draft, b, by_row, {}};
  builder.build(root, params, expander, tree);
  const auto n = static_cast<std::size_t>(sc::dynamic_tree_node_count(params));
  INFO("request " << b << " (k " << params.top_k << ", depth " << params.max_depth << ", total " << params.total_nodes << ")");
  REQUIRE(static_cast<std::size_t>(tree.size()) == n);
  const auto k = static_cast<std::size_t>(params.top_k);
  for (std::size_t d = 1; d < device_frontiers.size() + 1 && d < expander.frontiers.size(); ++d) {
    INFO("frontier of round " << d);
    const std::vector<std::int32_t> mine(device_frontiers[d - 1].begin() + static_cast<std::ptrdiff_t>(b * k),
                                         device_frontiers[d - 1].begin() + static_cast<std::ptrdiff_t>((b + 1) * k));
    REQUIRE(mine == expander.frontiers[d]);
  }
  REQUIRE(got.offsets[b] == static_cast<std::int32_t>(b * n));
  for (std::size_t i = 0; i < n; ++i) {
    INFO("node " << i);
    REQUIRE(got.candidates[b * n + i] == builder.candidate(static_cast<index_t>(i)));
    REQUIRE(got.tokens[b * n + i] == tree.token(static_cast<index_t>(i)));
    REQUIRE(got.parents[b * n + i] == tree.parent(static_cast<index_t>(i)));
    REQUIRE(got.depths[b * n + i] == tree.depth(static_cast<index_t>(i)));
  }
}

}  // namespace

TEST_CASE("dynamic_tree_expand and dynamic_tree_rerank build the CPU dynamic_tree_builder's trees", "[cuda][tree]") {
  struct shape {
    specdec::dynamic_tree_params params;
    std::size_t batch;
    bool quarter_grid;
    bool lse;
  };
  const shape s = GENERATE(shape{{10, 6, 60}, 64, true, false},   // EAGLE-2's defaults, ties everywhere
                           shape{{10, 6, 60}, 64, false, true},   // distinct scores, -inf, values + logsumexp
                           shape{{8, 5, 64}, 48, true, true},
                           shape{{1, 4, 3}, 16, true, false},     // a chain of proposals
                           shape{{3, 3, 100}, 16, false, false},  // more budget than candidates: all kept
                           shape{{4, 1, 3}, 16, true, false},     // one round: no frontier
                           shape{{2, 3, 1}, 8, true, false},      // the root alone
                           shape{{300, 3, 4096}, 3, true, false});  // k > block size, 180301 candidates
  const specdec::dynamic_tree_params params = s.params;
  const std::size_t batch = std::min(s.batch, specdec::test::test_cases(s.batch));
  const hashed_draft draft{0x5eed + static_cast<std::uint64_t>(params.top_k), params.top_k, 32000, s.quarter_grid, s.lse};
  const specdec::dynamic_tree_layout layout{params.top_k, params.max_depth};
  const auto k = static_cast<std::size_t>(params.top_k);
  std::vector<token_id> roots(batch);
  for (std::size_t b = 0; b < batch; ++b) roots[b] = static_cast<token_id>(7 * b + 1);

  const std::size_t bytes = sc::dynamic_tree_workspace_bytes(static_cast<std::int64_t>(batch), params);
  REQUIRE(bytes > 0);
  device_buffer<double> workspace((bytes + sizeof(double) - 1) / sizeof(double));
  SPECDEC_CHECK_CUDA(cudaMemset(workspace.data(), 0xff, bytes));  // no initialisation needed: garbage
  device_buffer<token_id> d_roots(roots), frontier_tokens(batch * k);
  device_buffer<std::int32_t> frontier_ids(batch * k);
  std::vector<std::vector<std::int32_t>> frontiers;  // after rounds 0 .. D - 2
  std::vector<std::int32_t> frontier;
  for (std::int32_t depth = 0; depth < params.max_depth; ++depth) {
    const std::int64_t f = layout.frontier_size(depth);
    const round_inputs in = make_round(draft, batch, depth, f, frontier, false);
    device_buffer<token_id> ranked(in.tokens);
    device_buffer<float> values(in.values), lse(in.lse);
    SPECDEC_CHECK_CUDA(sc::dynamic_tree_expand(workspace.data(), bytes, static_cast<std::int64_t>(batch), params, depth,
                                               d_roots.data(), ranked.data(), values.data(), s.lse ? lse.data() : nullptr,
                                               frontier_ids.data(), frontier_tokens.data()));
    SPECDEC_CHECK_CUDA(cudaDeviceSynchronize());
    if (depth + 1 < params.max_depth) {
      frontier = frontier_ids.download();
      frontiers.push_back(frontier);
      // The frontier's tokens are the candidates' tokens: those proposed in the round that made them.
      const auto tokens = frontier_tokens.download();
      for (std::size_t b = 0; b < batch; ++b) {
        for (std::size_t r = 0; r < k; ++r) {
          const std::int64_t e = frontier[b * k + r] - layout.first_generated(depth);  // (row, column) of this round
          REQUIRE(e >= 0);
          REQUIRE(e < layout.generated(depth));
          REQUIRE(tokens[b * k + r] == in.tokens[b * static_cast<std::size_t>(f) * k + static_cast<std::size_t>(e)]);
        }
      }
    }
  }
  const auto n = static_cast<std::size_t>(sc::dynamic_tree_node_count(params));
  device_buffer<token_id> tokens(batch * n);
  device_buffer<std::int32_t> parents(batch * n), depths(batch * n), offsets(batch + 1), candidates(batch * n);
  SPECDEC_CHECK_CUDA(sc::dynamic_tree_rerank(workspace.data(), bytes, static_cast<std::int64_t>(batch), params, tokens.data(),
                                             parents.data(), depths.data(), offsets.data(), candidates.data()));
  SPECDEC_CHECK_CUDA(cudaDeviceSynchronize());
  const device_trees got{tokens.download(), parents.download(), depths.download(), offsets.download(), candidates.download()};
  REQUIRE(got.offsets[batch] == static_cast<std::int32_t>(batch * n));
  for (std::size_t b = 0; b < batch; ++b) require_same_tree(got, frontiers, draft, params, b, roots[b], false);
}

TEST_CASE("a dynamic tree build and its flattening captured in a CUDA graph replay with new inputs", "[cuda][tree]") {
  // The rounds' inputs depend on the round and row only (by_row), so they can sit in device buffers
  // before the graph runs, as a draft model's outputs would inside an engine's own graph.
  const specdec::dynamic_tree_params params{10, 6, 64};
  const std::size_t batch = 32;
  const specdec::dynamic_tree_layout layout{params.top_k, params.max_depth};
  const auto k = static_cast<std::size_t>(params.top_k);
  const auto n = static_cast<std::size_t>(sc::dynamic_tree_node_count(params));
  const std::size_t bytes = sc::dynamic_tree_workspace_bytes(static_cast<std::int64_t>(batch), params);
  device_buffer<double> workspace((bytes + sizeof(double) - 1) / sizeof(double));
  device_buffer<token_id> d_roots(batch);
  std::vector<std::unique_ptr<device_buffer<token_id>>> ranked;
  std::vector<std::unique_ptr<device_buffer<float>>> values, lse;
  for (std::int32_t depth = 0; depth < params.max_depth; ++depth) {
    const std::size_t rows = batch * static_cast<std::size_t>(layout.frontier_size(depth));
    ranked.push_back(std::make_unique<device_buffer<token_id>>(rows * k));
    values.push_back(std::make_unique<device_buffer<float>>(rows * k));
    lse.push_back(std::make_unique<device_buffer<float>>(rows));
  }
  device_buffer<token_id> tokens(batch * n);
  device_buffer<std::int32_t> parents(batch * n), depths(batch * n), offsets(batch + 1), candidates(batch * n);
  device_buffer<std::int32_t> contexts(std::vector<std::int32_t>(batch, 40)), positions(batch * n);
  device_buffer<std::uint32_t> mask(batch * n * ((n + 31) / 32));
  const specdec::token_tree_batch_view trees(specdec::ragged_offsets(offsets.data(), static_cast<index_t>(batch + 1)),
                                             tokens.data(), parents.data(), depths.data());
  sc::flatten_outputs flat;
  flat.position_ids = positions.data();
  flat.packed_mask = mask.data();
  flat.mask_words = static_cast<std::int32_t>((n + 31) / 32);

  cudaStream_t stream = nullptr;
  SPECDEC_CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaGraph_t graph = nullptr;
  std::vector<cudaError_t> launched;
  SPECDEC_CHECK_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  for (std::int32_t depth = 0; depth < params.max_depth; ++depth) {
    launched.push_back(sc::dynamic_tree_expand(workspace.data(), bytes, static_cast<std::int64_t>(batch), params, depth,
                                               d_roots.data(), ranked[static_cast<std::size_t>(depth)]->data(),
                                               values[static_cast<std::size_t>(depth)]->data(),
                                               lse[static_cast<std::size_t>(depth)]->data(), nullptr, nullptr, stream));
  }
  launched.push_back(sc::dynamic_tree_rerank(workspace.data(), bytes, static_cast<std::int64_t>(batch), params, tokens.data(),
                                             parents.data(), depths.data(), offsets.data(), candidates.data(), stream));
  launched.push_back(sc::flatten_trees(trees, contexts.data(), flat, stream));
  SPECDEC_CHECK_CUDA(cudaStreamEndCapture(stream, &graph));
  for (const cudaError_t status : launched) SPECDEC_CHECK_CUDA(status);
  cudaGraphExec_t exec = nullptr;
  SPECDEC_CHECK_CUDA(cudaGraphInstantiate(&exec, graph, 0));

  for (std::uint64_t replay = 0; replay < 3; ++replay) {
    INFO("replay " << replay);
    const hashed_draft draft{100 + replay, params.top_k, 32000, replay != 1, true};
    std::vector<token_id> roots(batch);
    for (std::size_t b = 0; b < batch; ++b) roots[b] = static_cast<token_id>(b + 1000 * replay);
    d_roots.upload(roots);
    for (std::int32_t depth = 0; depth < params.max_depth; ++depth) {
      const round_inputs in = make_round(draft, batch, depth, layout.frontier_size(depth), {}, true);
      ranked[static_cast<std::size_t>(depth)]->upload(in.tokens);
      values[static_cast<std::size_t>(depth)]->upload(in.values);
      lse[static_cast<std::size_t>(depth)]->upload(in.lse);
    }
    SPECDEC_CHECK_CUDA(cudaGraphLaunch(exec, stream));
    SPECDEC_CHECK_CUDA(cudaStreamSynchronize(stream));
    const device_trees got{tokens.download(), parents.download(), depths.download(), offsets.download(), candidates.download()};
    for (std::size_t b = 0; b < batch; ++b) require_same_tree(got, {}, draft, params, b, roots[b], true);
    const auto got_positions = positions.download();
    for (std::size_t e = 0; e < batch * n; ++e) REQUIRE(got_positions[e] == 40 + got.depths[e]);
  }
  SPECDEC_CHECK_CUDA(cudaGraphExecDestroy(exec));
  SPECDEC_CHECK_CUDA(cudaGraphDestroy(graph));
  SPECDEC_CHECK_CUDA(cudaStreamDestroy(stream));
}

TEST_CASE("dynamic tree launchers reject invalid budgets, depths and workspaces", "[cuda][tree]") {
  const specdec::dynamic_tree_params params{4, 3, 10};
  const std::size_t bytes = sc::dynamic_tree_workspace_bytes(2, params);
  REQUIRE(bytes == 2 * (1 + 4 + 2 * 16) * 16 + 2 * 4 * 4);
  CHECK(sc::dynamic_tree_workspace_bytes(2, {0, 3, 10}) == 0);
  CHECK(sc::dynamic_tree_workspace_bytes(2, {4095, 255, 10}) == 0);  // candidate ids beyond 32 bits
  CHECK(sc::dynamic_tree_node_count(params) == 10);
  CHECK(sc::dynamic_tree_node_count({4, 1, 10}) == 5);
  device_buffer<double> workspace(bytes / sizeof(double) + 1);
  device_buffer<token_id> roots(2), ranked(2 * 4 * 4), tokens(2 * 10);
  device_buffer<float> lps(2 * 4 * 4);
  CHECK(sc::dynamic_tree_expand(workspace.data(), bytes, 2, params, 3, roots.data(), ranked.data(), lps.data(), nullptr,
                                nullptr, nullptr) == cudaErrorInvalidValue);  // depth == max_depth
  CHECK(sc::dynamic_tree_expand(workspace.data(), bytes - 1, 2, params, 0, roots.data(), ranked.data(), lps.data(), nullptr,
                                nullptr, nullptr) == cudaErrorInvalidValue);
  CHECK(sc::dynamic_tree_expand(workspace.data(), bytes, 2, params, 0, nullptr, ranked.data(), lps.data(), nullptr, nullptr,
                                nullptr) == cudaErrorInvalidValue);  // round 0 needs the roots
  CHECK(sc::dynamic_tree_expand(workspace.data(), bytes, 2, {4, 3, 0}, 1, nullptr, ranked.data(), lps.data(), nullptr,
                                nullptr, nullptr) == cudaErrorInvalidValue);
  CHECK(sc::dynamic_tree_rerank(workspace.data(), bytes, 2, params, nullptr, nullptr, nullptr, nullptr) == cudaErrorInvalidValue);
  CHECK(sc::dynamic_tree_rerank(nullptr, bytes, 2, params, tokens.data(), nullptr, nullptr, nullptr) == cudaErrorInvalidValue);
  SPECDEC_CHECK_CUDA(sc::dynamic_tree_rerank(workspace.data(), bytes, 0, params, tokens.data(), nullptr, nullptr, nullptr));
}
