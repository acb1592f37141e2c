// Softmax, argmax and the samplers over one row of logits at Llama-2 (32000) and Llama-3 (128256)
// vocabulary sizes, each next to a streaming read of the same row.
#include <specdec/specdec.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

#include "support/stream_floor.hpp"

namespace {

std::vector<float> make_logits(std::int64_t vocab) {
  std::vector<float> logits(static_cast<std::size_t>(vocab));
  for (std::size_t i = 0; i < logits.size(); ++i) {
    logits[i] = 4.0f * static_cast<float>(std::sin(0.37 * static_cast<double>(i)) * std::cos(1e-4 * static_cast<double>(i)));
  }
  return logits;
}

void bench_stream(benchmark::State& state) {
  const auto logits = make_logits(state.range(0));
  for (auto _ : state) {
    std::uint32_t sink = specdec::bench::stream_read(logits);
    benchmark::DoNotOptimize(sink);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0) * static_cast<std::int64_t>(sizeof(float)));
}

void bench_argmax(benchmark::State& state) {
  const auto logits = make_logits(state.range(0));
  const std::int64_t bytes = state.range(0) * static_cast<std::int64_t>(sizeof(float));
  specdec::bench::run_against_stream(state, logits, bytes, [&] {
    specdec::token_id best = specdec::argmax(logits);
    benchmark::DoNotOptimize(best);
  });
}

void bench_logsumexp(benchmark::State& state) {
  const auto logits = make_logits(state.range(0));
  const std::int64_t bytes = state.range(0) * static_cast<std::int64_t>(sizeof(float));
  specdec::bench::run_against_stream(state, logits, bytes, [&] {
    double lse = specdec::logsumexp(logits);
    benchmark::DoNotOptimize(lse);
  });
}

void bench_softmax(benchmark::State& state) {
  const auto logits = make_logits(state.range(0));
  std::vector<float> probs(logits.size());
  const std::int64_t bytes = 2 * state.range(0) * static_cast<std::int64_t>(sizeof(float));  // read + write
  specdec::bench::run_against_stream(state, logits, bytes, [&] {
    specdec::softmax(logits, probs);
    benchmark::ClobberMemory();
  });
}

void bench_gumbel_max(benchmark::State& state) {
  const auto logits = make_logits(state.range(0));
  const std::int64_t bytes = state.range(0) * static_cast<std::int64_t>(sizeof(float));
  specdec::random_address address{1234, 0, 0, 0, specdec::purpose::bonus};
  const double seconds = specdec::bench::run_against_stream(state, logits, bytes, [&] {
    ++address.step;
    specdec::token_id token = specdec::sample_gumbel_max(logits, address);
    benchmark::DoNotOptimize(token);
  });
  state.counters["ns_per_entry"] = seconds * 1e9 / static_cast<double>(state.range(0));
}

void bench_exponential_race(benchmark::State& state) {
  auto weights = make_logits(state.range(0));
  for (float& w : weights) w = std::exp(w);
  const std::int64_t bytes = state.range(0) * static_cast<std::int64_t>(sizeof(float));
  specdec::random_address address{1234, 0, 0, 0, specdec::purpose::residual};
  const double seconds = specdec::bench::run_against_stream(state, weights, bytes, [&] {
    ++address.step;
    specdec::token_id token = specdec::sample_exponential_race(weights, address);
    benchmark::DoNotOptimize(token);
  });
  state.counters["ns_per_entry"] = seconds * 1e9 / static_cast<double>(state.range(0));
}

void bench_processed_probabilities(benchmark::State& state) {
  const auto logits = make_logits(state.range(0));
  std::vector<float> probs(logits.size());
  specdec::sampling_params params;
  params.temperature = 0.8f;
  params.top_k = 50;
  params.top_p = 0.9f;
  specdec::logits_processor processor;
  const std::int64_t bytes = 2 * state.range(0) * static_cast<std::int64_t>(sizeof(float));
  specdec::bench::run_against_stream(state, logits, bytes, [&] {
    processor.probabilities(logits, params, probs);
    benchmark::ClobberMemory();
  });
}

// The mean seconds of one softmax of `logits` over `trials` runs: the yardstick for top-p.
double softmax_seconds(const std::vector<float>& logits, int trials) {
  std::vector<float> probs(logits.size());
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < trials; ++t) {
    specdec::softmax(logits, probs);
    benchmark::ClobberMemory();
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / trials;
}

// Top-p alone (temperature 1, no top-k): the processor's whole pass, which finds the nucleus by
// selection. `x_softmax` is its time over a softmax of the same row in the same process (goal: < 3).
// Arg 1 picks the row: 0 the flat sin/cos row above (a nucleus of ~half the vocabulary), 1 a peaked
// row (logits * 4: a nucleus of a few hundred tokens, like a trained model's).
void bench_top_p(benchmark::State& state) {
  auto logits = make_logits(state.range(0));
  if (state.range(1) == 1) {
    for (float& x : logits) x *= 4.0f;
  }
  std::vector<float> out(logits.size());
  specdec::sampling_params params;
  params.top_p = 0.9f;
  specdec::logits_processor processor;
  processor.process(logits, params, out);  // warm the workspace
  const std::int64_t bytes = 2 * state.range(0) * static_cast<std::int64_t>(sizeof(float));
  const double softmax = softmax_seconds(logits, 50);
  const double seconds = specdec::bench::run_against_stream(state, logits, bytes, [&] {
    processor.process(logits, params, out);
    benchmark::ClobberMemory();
  });
  state.counters["x_softmax"] = seconds / softmax;
  std::size_t kept = 0;
  for (const float x : out) kept += x != -std::numeric_limits<float>::infinity() ? 1 : 0;
  state.counters["nucleus"] = static_cast<double>(kept);
}

// The row kernels on one instruction set (arg 1: 0 baseline, 1 AVX2, 2 AVX-512), each against the
// streaming read of the same bytes; skipped where the CPU lacks the set.
specdec::detail::row_isa isa_of(const benchmark::State& state) {
  return static_cast<specdec::detail::row_isa>(state.range(1));
}

void bench_row_checked_max(benchmark::State& state) {
  const auto logits = make_logits(state.range(0));
  const auto isa = isa_of(state);
  if (!specdec::detail::row_isa_available(isa)) {
    state.SkipWithError("instruction set not available on this CPU");
    return;
  }
  const std::int64_t bytes = state.range(0) * static_cast<std::int64_t>(sizeof(float));
  specdec::bench::run_against_stream(state, logits, bytes, [&] {
    specdec::detail::checked_max_result max = specdec::detail::checked_max(logits, isa);
    benchmark::DoNotOptimize(max);
  });
}

void bench_row_sum_exp(benchmark::State& state) {
  const auto logits = make_logits(state.range(0));
  const auto isa = isa_of(state);
  if (!specdec::detail::row_isa_available(isa)) {
    state.SkipWithError("instruction set not available on this CPU");
    return;
  }
  const std::int64_t bytes = state.range(0) * static_cast<std::int64_t>(sizeof(float));
  specdec::bench::run_against_stream(state, logits, bytes, [&] {
    double sum = specdec::detail::sum_exp(logits, 4.0f, 0.8f, isa);
    benchmark::DoNotOptimize(sum);
  });
}

}  // namespace

BENCHMARK(bench_row_checked_max)->ArgsProduct({{128256}, {0, 1, 2}});
BENCHMARK(bench_row_sum_exp)->ArgsProduct({{128256}, {0, 1, 2}});
BENCHMARK(bench_stream)->Arg(32000)->Arg(128256);
BENCHMARK(bench_argmax)->Arg(32000)->Arg(128256);
BENCHMARK(bench_logsumexp)->Arg(32000)->Arg(128256);
BENCHMARK(bench_softmax)->Arg(32000)->Arg(128256);
BENCHMARK(bench_gumbel_max)->Arg(32000)->Arg(128256);
BENCHMARK(bench_exponential_race)->Arg(32000)->Arg(128256);
BENCHMARK(bench_processed_probabilities)->Arg(32000)->Arg(128256);
BENCHMARK(bench_top_p)->Args({32000, 0})->Args({128256, 0})->Args({128256, 1});

BENCHMARK_MAIN();
