// The tree-forward cost curve of a stories110M-shaped model (dim 768, 12 layers, 12 heads, vocab
// 32000, random weights) on the llama2.c backend, and the library's share of a step next to it.
//
// BM_tree_forward/N: one target forward over a tree of N nodes (a bushy tree: node i's parent is
// (i - 1) / 2) after 128 cached tokens; all N nodes go through each weight matrix in one
// matrix-matrix product. Its time relative to N = 1 is what speculation buys: a step that emits tau
// tokens costs T(N) / T(1) forwards. Run on one core (scripts/results pins it with taskset).
// BM_library_step/N: what specdec does per step around that forward at the same shape: build the
// N-node tree, flatten it (positions, packed mask), verify greedily over [N, 32000] logits, and compute
// the keep-list of the accepted path. Counter `library_share` = its time over the forward's.
#include <specdec/specdec.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <vector>

#include "llama_model.hpp"
#include "llama_target.hpp"

namespace {

constexpr specdec::index_t context = 128;

const llama::llama_model& model_110m() {
  static const llama::llama_model m = llama::llama_model::random(llama::llama_config::stories110m(), 42);
  return m;
}

specdec::token_tree bushy_tree(specdec::index_t n) {
  specdec::token_tree tree(17);
  for (specdec::index_t i = 1; i < n; ++i) tree.add_child(static_cast<std::int32_t>((i - 1) / 2), static_cast<specdec::token_id>(100 + i));
  return tree;
}


void BM_tree_forward(benchmark::State& state) {
  const specdec::index_t n = state.range(0);
  const llama::llama_model& model = model_110m();
  const specdec::index_t vocab = model.config().vocab_size;
  llama::llama_target target(model, 512);
  std::vector<specdec::token_id> prompt(static_cast<std::size_t>(context + 1));
  for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<specdec::token_id>(1 + (i * 7919) % 31999);
  target.prefill(0, prompt);
  const specdec::token_tree tree = bushy_tree(n);
  specdec::token_tree_batch batch;
  batch.push_back(tree);
  const std::vector<specdec::request_id> requests{0};
  const std::vector<std::int32_t> committed{static_cast<std::int32_t>(context)};
  std::vector<std::int32_t> positions(static_cast<std::size_t>(n));
  const specdec::index_t words = (n + 31) / 32;
  std::vector<std::uint32_t> mask(static_cast<std::size_t>(n * words));
  specdec::position_ids(batch.view(), std::span<const std::int32_t>(committed), std::span<std::int32_t>(positions));
  specdec::ancestor_mask_packed(batch.view(), specdec::matrix_view<std::uint32_t>(mask.data(), n, words));
  specdec::tree_forward_batch forward;
  forward.requests = requests;
  forward.trees = batch.view();
  forward.committed = committed;
  forward.positions = positions;
  forward.mask = specdec::const_matrix_view<std::uint32_t>(mask.data(), n, words);
  std::vector<float> logits(static_cast<std::size_t>(n * vocab));
  for (auto _ : state) {
    target.forward(forward, specdec::matrix_view<float>(logits.data(), n, vocab));
    benchmark::DoNotOptimize(logits.data());
    benchmark::ClobberMemory();
  }
  state.counters["nodes_per_s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_library_step(benchmark::State& state) {
  const specdec::index_t n = state.range(0);
  const specdec::index_t vocab = 32000;
  // Logits whose argmax follows the tree's leftmost path (depth 1, 3, 7, ...): a deep accepted path.
  const specdec::token_tree reference = bushy_tree(n);
  std::vector<float> logits(static_cast<std::size_t>(n * vocab));
  for (specdec::index_t i = 0; i < n; ++i) {
    for (specdec::index_t t = 0; t < vocab; ++t) logits[static_cast<std::size_t>(i * vocab + t)] = static_cast<float>((t * 37 + i) % 101) * 0.01f;
    const specdec::index_t child = 2 * i + 1;
    const specdec::token_id next = child < n ? reference.view().token(child) : 5;
    logits[static_cast<std::size_t>(i * vocab + next)] = 10.0f;
  }
  specdec::token_tree tree(17);
  std::vector<std::int32_t> positions(static_cast<std::size_t>(n));
  const specdec::index_t words = (n + 31) / 32;
  std::vector<std::uint32_t> mask(static_cast<std::size_t>(n * words));
  specdec::greedy_verifier verifier;
  specdec::verify_result result;
  std::vector<specdec::kv_move> moves(static_cast<std::size_t>(n));
  std::int64_t accepted = 0;
  for (auto _ : state) {
    tree.clear(17);  // build
    for (specdec::index_t i = 1; i < n; ++i) tree.add_child(static_cast<std::int32_t>((i - 1) / 2), static_cast<specdec::token_id>(100 + i));
    specdec::position_ids(tree.view(), context, std::span<std::int32_t>(positions));  // flatten
    specdec::ancestor_mask_packed(tree.view(), specdec::matrix_view<std::uint32_t>(mask.data(), n, words));
    specdec::verify_input in;  // verify
    in.tree = tree;
    in.target_logits = specdec::const_matrix_view<float>(logits.data(), n, vocab);
    in.params = specdec::sampling_params::make_greedy();
    verifier.verify(in, result);
    const auto count = specdec::keep_list(tree, std::span<const std::int32_t>(result.path).subspan(1), context, moves);  // commit
    benchmark::DoNotOptimize(count);
    accepted += result.accepted();
  }
  state.counters["accepted"] = benchmark::Counter(static_cast<double>(accepted), benchmark::Counter::kAvgIterations);
}

} // namespace

BENCHMARK(BM_tree_forward)->RangeMultiplier(2)->Range(1, 64)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_library_step)->RangeMultiplier(2)->Range(1, 64)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
