// Softmax, argmax and the samplers over one row of logits at Llama-2 (32000) and Llama-3 (128256)
// vocabulary sizes, each next to a streaming read of the same row.
#include <specdec/specdec.hpp>

#include <benchmark/benchmark.h>

#include <cmath>
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

}  // namespace

BENCHMARK(bench_stream)->Arg(32000)->Arg(128256);
BENCHMARK(bench_argmax)->Arg(32000)->Arg(128256);
BENCHMARK(bench_logsumexp)->Arg(32000)->Arg(128256);
BENCHMARK(bench_softmax)->Arg(32000)->Arg(128256);
BENCHMARK(bench_gumbel_max)->Arg(32000)->Arg(128256);
BENCHMARK(bench_exponential_race)->Arg(32000)->Arg(128256);
BENCHMARK(bench_processed_probabilities)->Arg(32000)->Arg(128256);

BENCHMARK_MAIN();
