// The library's overhead per decoding step (drafting logic, flattening, verification, commit and
// bookkeeping), per drafter (a head drafter with Clover's growth among them), with trees of 8 and 64
// nodes at V = 32000. The models are constant functions whose cost is excluded: the target writes its
// [nodes, vocab] logits once per buffer, the draft model and the heads hand back a stored row, so what
// is timed is the library. Counters: `allocs` is
// heap allocations per warm step (the goal is 0), `tau` tokens per step, `nodes` tree nodes per step.
#include <specdec/specdec.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "support/allocation_counter.hpp"

namespace {

constexpr specdec::index_t vocab = 32000;

// Peaked logits: token 7 is likely, the rest decay smoothly. Every row is the same, so chains of 7s
// are accepted and the verifiers take their accepting paths.
std::vector<float> peaked_row() {
  std::vector<float> row(static_cast<std::size_t>(vocab));
  for (std::size_t i = 0; i < row.size(); ++i) row[i] = static_cast<float>(-0.001 * static_cast<double>(i % 977));
  row[7] = 12.0f;
  row[11] = 10.0f;
  row[13] = 9.0f;
  return row;
}

// The target: constant logits, written into a buffer only the first time it is seen at that size.
class constant_target {
public:
  constant_target() : row_(peaked_row()) {}
  specdec::index_t vocab_size() const { return vocab; }
  void prefill(specdec::request_id, std::span<const specdec::token_id>) {}
  void forward(const specdec::tree_forward_batch& batch, specdec::matrix_view<float> logits) {
    if (logits.data() == filled_ && batch.total_nodes() <= filled_rows_) return;
    for (specdec::index_t r = 0; r < logits.rows(); ++r) std::copy(row_.begin(), row_.end(), logits.row(r).begin());
    filled_ = logits.data();
    filled_rows_ = logits.rows();
  }
  void commit(const specdec::kv_commit&) {}
  void release(specdec::request_id) {}

private:
  std::vector<float> row_;
  const float* filled_ = nullptr;
  specdec::index_t filled_rows_ = 0;
};

// The draft model: the same constant row, with the length bookkeeping a real one has.
class constant_draft {
public:
  constant_draft() : row_(peaked_row()) {}
  specdec::index_t vocab_size() const { return vocab; }
  void extend(specdec::request_id, std::span<const specdec::token_id> tokens, std::span<float> next) {
    length_ += static_cast<specdec::index_t>(tokens.size());
    std::copy(row_.begin(), row_.end(), next.begin());
  }
  void extend_tree(specdec::request_id, const specdec::token_tree_view& tree, specdec::index_t first, specdec::matrix_view<float> logits) {
    for (specdec::index_t i = first; i < tree.size(); ++i) std::copy(row_.begin(), row_.end(), logits.row(i - first).begin());
    length_ += tree.size() - first;
  }
  specdec::index_t length(specdec::request_id) const { return length_; }
  void rollback(specdec::request_id, specdec::index_t length) { length_ = length; }
  void release(specdec::request_id) { length_ = 0; }

private:
  std::vector<float> row_;
  specdec::index_t length_ = 0;
};

// Regressive heads: every node gets the same constant row (its compute excluded, like the models').
class constant_heads {
public:
  constant_heads() : row_(peaked_row()) {}
  specdec::index_t vocab_size() const { return vocab; }
  specdec::index_t prepare(specdec::request_id, std::span<const specdec::token_id>) { return 255; }
  void step(const specdec::head_step& s, specdec::matrix_view<float> logits) {
    for (specdec::index_t r = 0; r < static_cast<specdec::index_t>(s.tokens.size()); ++r) {
      std::copy(row_.begin(), row_.end(), logits.row(r).begin());
    }
  }

private:
  std::vector<float> row_;
};

template <class Drafter, class Verifier>
void run_steps(benchmark::State& state, Drafter& drafter, Verifier& verifier, specdec::index_t nodes, float temperature) {
  constant_target target;
  specdec::speculation_options options;
  options.max_nodes = nodes;
  options.max_depth = nodes - 1;
  specdec::speculative_decoder decoder(target, drafter, verifier, options);
  specdec::request_options request;
  request.params.temperature = temperature;
  request.max_new_tokens = 1 << 14;
  const std::vector<specdec::token_id> prompt{1, 7, 7};
  decoder.add_request(0, prompt, request);
  for (int i = 0; i < 20; ++i) decoder.step();  // warm: buffers at their steady sizes
  decoder.reset_stats();
  std::uint64_t allocs = 0;
  std::uint64_t steps = 0;
  for (auto _ : state) {
    if (decoder.status(0) != specdec::finish_reason::running) {
      state.PauseTiming();
      decoder.release(0);
      decoder.add_request(0, prompt, request);
      for (int i = 0; i < 20; ++i) decoder.step();
      state.ResumeTiming();
    }
    const std::uint64_t before = static_cast<std::uint64_t>(specdec_test::allocations());
    decoder.step();
    allocs += static_cast<std::uint64_t>(specdec_test::allocations()) - before;
    ++steps;
  }
  state.counters["allocs"] = static_cast<double>(allocs) / static_cast<double>(steps);
  state.counters["tau"] = decoder.stats().tokens_per_step();
  state.counters["nodes"] = 1.0 + static_cast<double>(decoder.stats().drafted) / static_cast<double>(decoder.stats().request_steps);
}

void bm_greedy_chain(benchmark::State& state) {
  constant_draft model;
  specdec::chain_drafter_options o;
  o.gamma = state.range(0) - 1;
  specdec::chain_drafter<constant_draft, specdec::draft_scheme::deterministic> drafter(model, o);
  specdec::one_hot_verifier verifier;
  run_steps(state, drafter, verifier, state.range(0), 0.0f);
}

void bm_sampled_chain(benchmark::State& state) {
  constant_draft model;
  specdec::chain_drafter_options o;
  o.gamma = state.range(0) - 1;
  specdec::chain_drafter<constant_draft, specdec::draft_scheme::sampled_chain> drafter(model, o);
  specdec::chain_verifier verifier;
  run_steps(state, drafter, verifier, state.range(0), 1.0f);
}

void bm_dynamic_tree(benchmark::State& state) {
  constant_draft model;
  specdec::dynamic_tree_params p;
  p.top_k = state.range(0) == 8 ? 4 : 8;
  p.max_depth = state.range(0) == 8 ? 4 : 8;
  p.total_nodes = static_cast<std::int32_t>(state.range(0));
  specdec::dynamic_tree_drafter<constant_draft> drafter(model, p);
  specdec::one_hot_verifier verifier;
  run_steps(state, drafter, verifier, state.range(0), 1.0f);
}

void bm_sampled_tree(benchmark::State& state) {
  constant_draft model;
  specdec::sampled_tree_options o;
  o.branching = state.range(0) == 8 ? std::vector<int>{3, 2, 1} : std::vector<int>{4, 3, 2, 2, 1};
  specdec::sampled_tree_drafter<constant_draft, specdec::draft_scheme::sampled_without_replacement> drafter(model, o);
  specdec::rrs_verifier verifier;
  run_steps(state, drafter, verifier, state.range(0), 1.0f);
}

// A head drafter with Clover's growth (the tree budget is the decoder's), greedy and sampled.
template <specdec::draft_scheme Scheme>
void bm_clover_heads(benchmark::State& state) {
  constant_heads heads;
  specdec::clover_growth_options o;
  o.candidates = 4;
  o.total_nodes = state.range(0);
  o.max_depth = std::min<specdec::index_t>(state.range(0) - 1, 8);
  specdec::head_drafter<constant_heads, specdec::clover_growth, Scheme> drafter(heads, specdec::clover_growth(o));
  if constexpr (Scheme == specdec::draft_scheme::deterministic) {
    specdec::one_hot_verifier verifier;
    run_steps(state, drafter, verifier, state.range(0), 1.0f);
  } else {
    specdec::rrs_verifier verifier;
    run_steps(state, drafter, verifier, state.range(0), 1.0f);
  }
}

// Model-free drafters over a periodic context, so that every lookup matches.
template <class Drafter>
void bm_lookup(benchmark::State& state) {
  Drafter drafter;
  specdec::one_hot_verifier verifier;
  run_steps(state, drafter, verifier, state.range(0), 0.0f);
}

}  // namespace

BENCHMARK(bm_lookup<specdec::prompt_lookup_drafter>)->Arg(8)->Arg(64)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_lookup<specdec::ngram_cache_drafter>)->Arg(8)->Arg(64)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_lookup<specdec::suffix_tree_drafter>)->Arg(8)->Arg(64)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_greedy_chain)->Arg(8)->Arg(64)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_sampled_chain)->Arg(8)->Arg(64)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_dynamic_tree)->Arg(8)->Arg(64)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_sampled_tree)->Arg(8)->Arg(64)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_clover_heads<specdec::draft_scheme::deterministic>)->Arg(8)->Arg(64)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_clover_heads<specdec::draft_scheme::sampled_without_replacement>)->Arg(8)->Arg(64)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
