// Every verification rule at Llama-2 (32000) and Llama-3 (128256) vocabularies, trees of 8 and 64
// nodes, batches of 1 and 16. Each reports requests/s (items), bytes/s over the logits the step could
// read, `x_stream` (its time over one streaming read of the batch's whole logits tensor, measured in
// the same process) and `accepted` (drafts accepted for request 0 per step). Separately: the cost of one
// acceptance decision's row statistics (logsumexp) and of a full-row residual/bonus draw, per row.
#include <specdec/specdec.hpp>

#include <benchmark/benchmark.h>

#include <cmath>
#include <string>
#include <vector>

#include "support/stream_floor.hpp"

namespace {

enum class rule { greedy, chain, block, one_hot, multi_draft, rrs, typical };

// A batch of identical-shape trees with synthetic logits and q. Tree shape: a chain for the chain
// rule; otherwise a root with 4 children, each with 4 children, ... (breadth first) up to `nodes`.
// The first child of every node carries a likely token (so paths get accepted), the rest are spread.
struct workload {
  specdec::index_t vocab;
  specdec::index_t nodes;
  specdec::index_t batch;
  specdec::token_tree_batch trees;
  std::vector<float> logits;
  std::vector<float> q;
  std::vector<specdec::sampling_params> params;
  std::vector<specdec::random_address> addresses;

  workload(rule r, specdec::index_t v, specdec::index_t n, specdec::index_t b) : vocab(v), nodes(n), batch(b) {
    const auto rows = static_cast<std::size_t>(n * b);
    logits.resize(rows * static_cast<std::size_t>(v));
    q.resize(logits.size());
    for (std::size_t i = 0; i < logits.size(); ++i) {
      const double x = static_cast<double>(i % static_cast<std::size_t>(v));
      logits[i] = static_cast<float>(3.0 * std::sin(0.37 * x + static_cast<double>(i / static_cast<std::size_t>(v))));
    }
    // q: the softmax of shifted logits, a realistic draft that overlaps the target.
    for (std::size_t row = 0; row < rows; ++row) {
      const auto in = std::span<const float>(logits).subspan(row * static_cast<std::size_t>(v), static_cast<std::size_t>(v));
      std::vector<float> shifted(in.begin(), in.end());
      for (float& x : shifted) x *= 0.8f;
      specdec::softmax(shifted, std::span<float>(q).subspan(row * static_cast<std::size_t>(v), static_cast<std::size_t>(v)));
    }
    for (specdec::index_t req = 0; req < b; ++req) {
      specdec::token_tree tree(1);
      for (specdec::index_t i = 1; i < n; ++i) {
        const bool chain = r == rule::chain || r == rule::block;
        const auto parent = chain ? static_cast<std::int32_t>(i - 1) : static_cast<std::int32_t>((i - 1) / 4);
        const bool first = chain || (i - 1) % 4 == 0;
        // The first child: the argmax of the parent's row; siblings: distinct other tokens.
        const auto parent_row = std::span<const float>(logits).subspan(
            static_cast<std::size_t>((req * n + parent) * v), static_cast<std::size_t>(v));
        const specdec::token_id best = specdec::argmax(parent_row);
        tree.add_child(parent, first ? best : static_cast<specdec::token_id>((best + 7 * i) % v));
      }
      trees.push_back(tree);
      specdec::sampling_params p;
      p.temperature = r == rule::greedy ? 0.0f : 0.9f;
      params.push_back(p);
      addresses.push_back({42, static_cast<std::uint32_t>(req), 0, 0, specdec::purpose::accept});
    }
  }

  specdec::verify_batch_input input() const {
    specdec::verify_batch_input in;
    in.trees = trees.view();
    in.target_logits = specdec::const_matrix_view<float>(logits.data(), nodes * batch, vocab);
    in.draft_probs = specdec::const_matrix_view<float>(q.data(), nodes * batch, vocab);
    in.params = params;
    in.addresses = addresses;
    return in;
  }
};

template <class Rule>
void bench_rule(benchmark::State& state, rule r) {
  const workload w(r, state.range(0), state.range(1), state.range(2));
  Rule verifier;
  std::vector<specdec::verify_result> results(static_cast<std::size_t>(w.batch));
  auto in = w.input();
  std::vector<specdec::random_address> addresses = w.addresses;
  in.addresses = addresses;
  const std::int64_t bytes = static_cast<std::int64_t>(w.logits.size() * sizeof(float));
  double accepted = 0.0;
  specdec::bench::run_against_stream(state, w.logits, bytes, [&] {
    for (auto& a : addresses) ++a.step;
    specdec::verify_batch(verifier, in, results);
    accepted += static_cast<double>(results[0].accepted());
    benchmark::ClobberMemory();
  });
  state.SetItemsProcessed(state.iterations() * w.batch);
  state.counters["accepted"] = accepted / static_cast<double>(std::max<std::int64_t>(1, state.iterations()));
}

void args(benchmark::internal::Benchmark* b) {
  for (const std::int64_t vocab : {32000, 128256}) {
    for (const std::int64_t nodes : {8, 64}) {
      for (const std::int64_t batch : {1, 16}) b->Args({vocab, nodes, batch});
    }
  }
  b->ArgNames({"vocab", "nodes", "batch"})->Unit(benchmark::kMicrosecond);
}

void bench_greedy(benchmark::State& s) { bench_rule<specdec::greedy_verifier>(s, rule::greedy); }
void bench_chain(benchmark::State& s) { bench_rule<specdec::chain_verifier>(s, rule::chain); }
void bench_block(benchmark::State& s) { bench_rule<specdec::block_verifier>(s, rule::block); }
void bench_one_hot(benchmark::State& s) { bench_rule<specdec::one_hot_verifier>(s, rule::one_hot); }
void bench_multi_draft(benchmark::State& s) { bench_rule<specdec::multi_draft_verifier>(s, rule::multi_draft); }
void bench_rrs(benchmark::State& s) { bench_rule<specdec::rrs_verifier>(s, rule::rrs); }
void bench_typical(benchmark::State& s) { bench_rule<specdec::lossy_typical_acceptance_verifier>(s, rule::typical); }

// The two costs a verifier pays per row, each against a streaming read of that row.
std::vector<float> row_of(std::int64_t vocab) {
  std::vector<float> row(static_cast<std::size_t>(vocab));
  for (std::size_t i = 0; i < row.size(); ++i) row[i] = static_cast<float>(3.0 * std::sin(0.37 * static_cast<double>(i)));
  return row;
}

void bench_acceptance_row(benchmark::State& state) {
  // An acceptance decision needs p(x) = exp(l_x / T - logsumexp(l / T)): one logsumexp of the row.
  const auto row = row_of(state.range(0));
  const std::int64_t bytes = state.range(0) * static_cast<std::int64_t>(sizeof(float));
  specdec::bench::run_against_stream(state, row, bytes, [&] {
    double lse = specdec::logsumexp(row);
    benchmark::DoNotOptimize(lse);
  });
}

void bench_residual_row(benchmark::State& state) {
  // A residual or bonus draw: the exponential race over a full row of weights (a Philox block per 4
  // entries and a log per entry).
  const auto row = row_of(state.range(0));
  std::vector<float> weights(row.size());
  specdec::softmax(row, weights);
  const std::int64_t bytes = state.range(0) * static_cast<std::int64_t>(sizeof(float));
  specdec::random_address address{7, 0, 0, 0, specdec::purpose::residual};
  const double seconds = specdec::bench::run_against_stream(state, weights, bytes, [&] {
    ++address.step;
    specdec::token_id t = specdec::sample_exponential_race(weights, address);
    benchmark::DoNotOptimize(t);
  });
  state.counters["ns_per_entry"] = seconds * 1e9 / static_cast<double>(state.range(0));
}

}  // namespace

BENCHMARK(bench_greedy)->Apply(args);
BENCHMARK(bench_chain)->Apply(args);
BENCHMARK(bench_block)->Apply(args);
BENCHMARK(bench_one_hot)->Apply(args);
BENCHMARK(bench_multi_draft)->Apply(args);
BENCHMARK(bench_rrs)->Apply(args);
BENCHMARK(bench_typical)->Apply(args);
BENCHMARK(bench_acceptance_row)->Arg(32000)->Arg(128256)->Unit(benchmark::kMicrosecond);
BENCHMARK(bench_residual_row)->Arg(32000)->Arg(128256)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
