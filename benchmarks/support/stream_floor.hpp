//! The floor every row-wise operation is compared with: one plain streaming read of the same buffer.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <span>

namespace specdec::bench {

//! Reads every byte of `data` once (an XOR over 32-bit words: vectorises freely, unlike a float sum
//! without -ffast-math) and returns the result so the read cannot be elided.
inline std::uint32_t stream_read(std::span<const float> data) {
  std::uint32_t acc[8] = {};
  const std::size_t n = data.size();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (std::size_t j = 0; j < 8; ++j) {
      std::uint32_t word;
      std::memcpy(&word, &data[i + j], sizeof(word));
      acc[j] ^= word;
    }
  }
  for (; i < n; ++i) {
    std::uint32_t word;
    std::memcpy(&word, &data[i], sizeof(word));
    acc[0] ^= word;
  }
  std::uint32_t out = 0;
  for (const std::uint32_t a : acc) out ^= a;
  return out;
}

//! The fastest of several streaming reads of `data`, in seconds: 200 for cache-sized buffers, fewer
//! for large ones (at least 3, about 0.5 GB read in all).
inline double stream_read_seconds(std::span<const float> data) {
  const auto bytes = static_cast<double>(data.size_bytes());
  const int trials = static_cast<int>(std::clamp(5e8 / std::max(bytes, 1.0), 3.0, 200.0));
  double best = 1e30;
  for (int t = 0; t < trials; ++t) {
    const auto start = std::chrono::steady_clock::now();
    std::uint32_t sink = stream_read(data);
    benchmark::DoNotOptimize(sink);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

//! Runs `op` once per benchmark iteration and reports bytes/s over `bytes_per_op` and `x_stream`, the
//! mean time of one op over the fastest streaming read of `data`, measured in the same process.
//! Returns the mean seconds per op.
template <class Op>
double run_against_stream(benchmark::State& state, std::span<const float> data, std::int64_t bytes_per_op, Op&& op) {
  const double floor = stream_read_seconds(data);
  double total = 0.0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    op();
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  const double mean = state.iterations() > 0 ? total / static_cast<double>(state.iterations()) : 0.0;
  state.SetBytesProcessed(state.iterations() * bytes_per_op);
  state.counters["x_stream"] = mean / floor;
  state.counters["stream_GBps"] = static_cast<double>(data.size_bytes()) / floor * 1e-9;
  return mean;
}

}  // namespace specdec::bench
