// The library's own cost of growing a head drafter's tree per step -- processing and ranking each
// evaluated node's q, the policy's choices, the final rerank -- for Clover's and EAGLE-2's growth at
// budgets of 16, 64 and 256 nodes, V = 32000, deterministic and sampled. The heads' compute is
// excluded: they hand back stored logits rows, written into the drafter's buffer only the first time.
// Counters: `allocs` heap allocations per warm step (goal 0), `nodes` tree nodes, `evaluated` nodes
// the heads evaluated, and `x_stream`: the step's time over one streaming read of the evaluated rows'
// logits (`evaluated` x V floats), measured in the same process -- the floor of any drafter that
// looks at every evaluated row once.
#include <specdec/specdec.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "support/allocation_counter.hpp"
#include "support/stream_floor.hpp"

namespace {

constexpr specdec::index_t vocab = 32000;

// Four peaked rows with different leading tokens, so that trees branch as with a real head.
std::vector<float> head_rows() {
  std::vector<float> rows(4 * static_cast<std::size_t>(vocab));
  for (std::size_t r = 0; r < 4; ++r) {
    float* row = rows.data() + r * static_cast<std::size_t>(vocab);
    for (std::size_t i = 0; i < static_cast<std::size_t>(vocab); ++i) row[i] = static_cast<float>(-0.002 * static_cast<double>((i * 7 + r) % 991));
    for (std::size_t k = 0; k < 6; ++k) row[(r * 13 + k * 101) % static_cast<std::size_t>(vocab)] = 9.0f - 0.6f * static_cast<float>(k);
  }
  return rows;
}

// Regressive heads whose compute is free: row r of a call gets stored row r % 4, written only when the
// buffer was not filled with exactly that before.
class stored_heads {
public:
  stored_heads() : rows_(head_rows()) {}
  [[nodiscard]] specdec::index_t vocab_size() const { return vocab; }
  specdec::index_t prepare(specdec::request_id, std::span<const specdec::token_id>) { return 255; }
  void step(const specdec::head_step& s, specdec::matrix_view<float> logits) {
    evaluated_ += s.tokens.size();
    if (logits.data() == filled_ && logits.rows() <= filled_rows_) return;
    for (specdec::index_t r = 0; r < logits.rows(); ++r) {
      const float* src = rows_.data() + static_cast<std::size_t>(r % 4) * static_cast<std::size_t>(vocab);
      std::copy(src, src + vocab, logits.row(r).begin());
    }
    if (logits.data() != filled_ || logits.rows() > filled_rows_) {
      filled_ = logits.data();
      filled_rows_ = logits.rows();
    }
  }
  [[nodiscard]] std::uint64_t evaluated() const noexcept { return evaluated_; }

private:
  std::vector<float> rows_;
  float* filled_ = nullptr;
  specdec::index_t filled_rows_ = 0;
  std::uint64_t evaluated_ = 0;
};

template <class Drafter>
void run_growth(benchmark::State& state, Drafter& drafter, stored_heads& heads) {
  const std::vector<specdec::token_id> tokens{1, 2, 3};
  specdec::draft_tree out;
  specdec::draft_context context;
  context.tokens = tokens;
  context.max_nodes = specdec::max_tree_nodes;
  context.max_depth = specdec::max_tree_depth;
  context.vocab_size = vocab;
  for (std::uint32_t i = 0; i < 5; ++i) {  // warm: buffers at their steady sizes
    context.address = specdec::random_address{1, 0, i, 0, specdec::purpose::draft_sample};
    out.reset(tokens.back(), vocab);
    drafter.draft(context, out);
  }
  const std::uint64_t evaluated_before = heads.evaluated();
  std::uint64_t allocs = 0, steps = 0, nodes = 0;
  double seconds = 0.0;
  for (auto _ : state) {
    context.address = specdec::random_address{1, 0, static_cast<std::uint32_t>(steps % 64), 0, specdec::purpose::draft_sample};
    const std::uint64_t before = static_cast<std::uint64_t>(specdec_test::allocations());
    const auto start = std::chrono::steady_clock::now();
    out.reset(tokens.back(), vocab);
    drafter.draft(context, out);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    allocs += static_cast<std::uint64_t>(specdec_test::allocations()) - before;
    nodes += static_cast<std::uint64_t>(out.tree.size());
    ++steps;
  }
  const double evaluated = static_cast<double>(heads.evaluated() - evaluated_before) / static_cast<double>(steps);
  std::vector<float> floor_buffer(static_cast<std::size_t>(std::max(1.0, evaluated)) * static_cast<std::size_t>(vocab), 1.0f);
  const double floor = specdec::bench::stream_read_seconds(floor_buffer);
  state.counters["allocs"] = static_cast<double>(allocs) / static_cast<double>(steps);
  state.counters["nodes"] = static_cast<double>(nodes) / static_cast<double>(steps);
  state.counters["evaluated"] = evaluated;
  state.counters["x_stream"] = seconds / static_cast<double>(steps) / floor;
}

specdec::clover_growth clover_for(specdec::index_t budget) {
  specdec::clover_growth_options o;
  o.candidates = 8;
  o.top_p = 0.95;
  o.total_nodes = budget;
  o.max_depth = budget <= 16 ? 6 : budget <= 64 ? 8 : 10;
  return specdec::clover_growth(o);
}

specdec::eagle2_growth eagle2_for(specdec::index_t budget) {
  specdec::dynamic_tree_params p;
  p.top_k = budget <= 16 ? 4 : budget <= 64 ? 8 : 16;
  p.max_depth = budget <= 16 ? 5 : budget <= 64 ? 6 : 8;
  p.total_nodes = static_cast<std::int32_t>(budget);
  return specdec::eagle2_growth(p);
}

template <specdec::draft_scheme Scheme>
void bm_clover(benchmark::State& state) {
  stored_heads heads;
  specdec::head_drafter<stored_heads, specdec::clover_growth, Scheme> drafter(heads, clover_for(state.range(0)));
  run_growth(state, drafter, heads);
}

template <specdec::draft_scheme Scheme>
void bm_eagle2(benchmark::State& state) {
  stored_heads heads;
  specdec::head_drafter<stored_heads, specdec::eagle2_growth, Scheme> drafter(heads, eagle2_for(state.range(0)));
  run_growth(state, drafter, heads);
}

}  // namespace

using specdec::draft_scheme;
BENCHMARK(bm_clover<draft_scheme::deterministic>)->Arg(16)->Arg(64)->Arg(256)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_clover<draft_scheme::sampled_without_replacement>)->Arg(16)->Arg(64)->Arg(256)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_eagle2<draft_scheme::deterministic>)->Arg(16)->Arg(64)->Arg(256)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_eagle2<draft_scheme::sampled_without_replacement>)->Arg(16)->Arg(64)->Arg(256)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
