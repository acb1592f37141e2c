//! Block-wide passes over one row of logits or weights: vectorised visiting, single-pass row
//! statistics (max, argmax, softmax normaliser) and the Philox-driven argmax samplers (Gumbel-max and
//! the exponential race), reduced with cub::BlockReduce.
#pragma once

#if !defined(__CUDACC__)
#error "specdec/cuda/ headers contain CUDA code: compile this translation unit with nvcc (a .cu file)."
#endif

#include <cub/block/block_reduce.cuh>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "specdec/core/philox.hpp"
#include "specdec/core/random.hpp"
#include "specdec/cuda/detail/device_math.cuh"

namespace specdec {
inline namespace v0 {
namespace cuda {
namespace detail {

//! Entries per 16-byte vector: 4 floats, 8 halves or bfloat16s.
template <class T>
inline constexpr int vector_width = static_cast<int>(16 / sizeof(T));

//! 16-byte vectors loaded per thread before any is used: 512 threads x 8 x 16 B = 64 KB in flight per
//! block, since one block streams a whole row and its rate is bytes in flight over memory latency.
inline constexpr int row_unroll = 8;

//! Converts the 16 bytes `raw` holding W = 16 / sizeof(T) entries to floats.
template <class T>
__device__ __forceinline__ void unpack(const uint4& raw, float (&out)[vector_width<T>]) {
  T elements[vector_width<T>];
  std::memcpy(elements, &raw, sizeof(raw));  // register moves, no memory traffic
#pragma unroll
  for (int j = 0; j < vector_width<T>; ++j) out[j] = to_float(elements[j]);
}

//! Calls `f(first, values, count)` for consecutive entries `[first, first + count)` of `row[0, size)`,
//! converted to float. Thread mapping: when `row` is 16-byte aligned, vector k is the entries
//! `[k * W, k * W + W)` (W = vector_width<T>), and thread t takes the vectors t, t + Block, t + 2 Block,
//! ..., loading up to `row_unroll` of them before using any; the entries after the last whole vector (and
//! every entry of a row that is not 16-byte aligned) go one by one, thread t taking entries
//! t, t + Block, ... Each thread sees its entries in increasing index order, so a strict `>` keeps the
//! lowest index of a maximum within a thread.
template <int Block, class T, class F>
__device__ __forceinline__ void visit_row(const T* __restrict__ row, std::int32_t size, F& f) {
  constexpr int width = vector_width<T>;
  std::int32_t scalar_from = 0;
  if ((reinterpret_cast<std::uintptr_t>(row) & 15u) == 0) {
    const uint4* vectors = reinterpret_cast<const uint4*>(row);
    const std::int32_t count = size / width;  // whole vectors
    // Vectors k + u * Block for u < row_unroll, all loaded (those that exist) before any is used; the
    // last round is predicated rather than peeled, so the tail keeps as many loads in flight.
    for (std::int32_t k = static_cast<std::int32_t>(threadIdx.x); k < count; k += row_unroll * Block) {
      uint4 raw[row_unroll] = {};
#pragma unroll
      for (int u = 0; u < row_unroll; ++u) {
        if (k + u * Block < count) raw[u] = __ldg(vectors + k + u * Block);
      }
#pragma unroll
      for (int u = 0; u < row_unroll; ++u) {
        if (k + u * Block >= count) break;
        float values[width];
        unpack<T>(raw[u], values);
        f((k + u * Block) * width, values, width);  // vector k + u * Block starts at entry (k + u * Block) * W
      }
    }
    scalar_from = count * width;
  }
  for (std::int32_t i = scalar_from + static_cast<std::int32_t>(threadIdx.x); i < size; i += Block) {
    float value[1] = {to_float(row[i])};
    f(i, value, 1);
  }
}

//! Shared memory of the block-wide row passes. One instance per kernel; each pass begins and ends with
//! a barrier, so passes may follow each other freely.
template <int Block>
struct row_pass_storage {
  union {
    typename cub::BlockReduce<row_stats, Block>::TempStorage stats;
    typename cub::BlockReduce<scored_index, Block>::TempStorage best;
    typename cub::BlockReduce<scored<double>, Block>::TempStorage best_double;
    typename cub::BlockReduce<double, Block>::TempStorage sum;
  } reduce;
  row_stats stats_result;
  scored_index best_result;
  scored<double> best_double_result;
  double sum_result;
};

//! One pass over `row[0, size)` giving the maximum of the entries that `keep(index, value)` accepts, the lowest
//! index holding it, and sum_i exp((l_i - max) * inv_t) over the finite kept entries, to every thread
//! of the block. Each thread
//! keeps an online (max, sum) pair, rescaling its sum once per vector when the maximum grows; the
//! pairs merge in a BlockReduce. The sum uses the fast exponential (__expf): it normalises
//! probabilities whose decisions compare against uniforms, where its ~1e-6 relative error is a
//! near-tie effect only.
template <int Block, class T, class Keep>
__device__ __noinline__ row_stats block_row_stats(const T* row, std::int32_t size, float inv_t, Keep& keep,
                                     row_pass_storage<Block>& storage) {
  row_stats mine = empty_stats();
  auto visit = [&](std::int32_t first, const float* values, int count) {
    float chunk_max = neg_inf;
    std::int32_t chunk_index = -1;
    for (int j = 0; j < count; ++j) {
      if (values[j] > chunk_max && keep(first + j, values[j])) {
        chunk_max = values[j];
        chunk_index = first + j;
      }
    }
    if (chunk_index < 0) return;  // all -inf
    if (chunk_max > mine.max) {
      mine.sum = rescale(mine.sum, mine.max, chunk_max, inv_t);
      mine.max = chunk_max;
      mine.index = chunk_index;
    }
    for (int j = 0; j < count; ++j) {
      if (values[j] != neg_inf && keep(first + j, values[j])) mine.sum += __expf((values[j] - mine.max) * inv_t);
    }
  };
  __syncthreads();  // the previous pass's readers are done with the shared results
  visit_row<Block>(row, size, visit);
  const row_stats all = cub::BlockReduce<row_stats, Block>(storage.reduce.stats).Reduce(mine, merge_stats{inv_t});
  if (threadIdx.x == 0) storage.stats_result = all;
  __syncthreads();
  return storage.stats_result;
}

//! Keeps every entry (the unfiltered row).
struct keep_all {
  __device__ __forceinline__ bool operator()(std::int32_t, float) const { return true; }
};

//! `block_row_stats` of the whole row.
template <int Block, class T>
__device__ row_stats block_row_stats(const T* row, std::int32_t size, float inv_t, row_pass_storage<Block>& storage) {
  keep_all keep;
  return block_row_stats<Block>(row, size, inv_t, keep, storage);
}

//! How an argmax sampler turns an entry's key and uniform u into a score.
enum class race_kind : std::uint8_t {
  gumbel,       //!< key = a (processed) logit, -inf skipped: score = key - log(-log(u))
  exponential,  //!< key = a weight >= 0, 0 skipped: score = key / -log(u)
};

//! Samples the argmax of the scores of `key(i, value)` over `row[0, size)` with the uniform of entry i
//! at `address` (word i % 4 of Philox block i / 4, as the CPU's `sample_gumbel_max` and
//! `sample_exponential_race`), ties to the lowest index; every thread gets the winner (index -1 when
//! every entry was skipped). A Philox block is computed only when one of its four entries is a
//! candidate. `key` is a device functor `float(std::int32_t index, float value)`, or returning double
//! for the race over double weights (scores then in double, as the CPU's `sample_exponential_race<double>`).
// Not inlined: each (key, row type) pair compiles once however many call sites a kernel has, which
// keeps the verification kernels' compile time and code size down at the cost of one call per pass.
template <race_kind Kind, int Block, class T, class Key>
__device__ __noinline__ auto block_row_race(const T* row, std::int32_t size, const random_address& address, Key& key,
                               row_pass_storage<Block>& storage) {
  using score_type = decltype(key(std::int32_t{0}, 0.0f));
  static_assert(std::is_same_v<score_type, float> || (std::is_same_v<score_type, double> && Kind == race_kind::exponential),
                "race keys are float, or double for the exponential race");
  scored<score_type> mine = no_candidate<score_type>();
  auto visit = [&](std::int32_t first, const float* values, int count) {
    philox_words words{};
    std::uint32_t block_of_words = ~0u;
    for (int j = 0; j < count; ++j) {
      const std::int32_t i = first + j;
      const score_type k = key(i, values[j]);
      if (Kind == race_kind::gumbel ? k == static_cast<score_type>(neg_inf) : !(k > score_type{0})) continue;
      const auto block = static_cast<std::uint32_t>(i) >> 2;  // entry i: word i % 4 of block i / 4
      if (block != block_of_words) {
        words = address.block(block);
        block_of_words = block;
      }
      const float u = uniform_float(words.w[i & 3]);
      score_type score;
      if constexpr (Kind == race_kind::gumbel) {
        score = k + gumbel_from_uniform(u);
      } else {
        score = k / static_cast<score_type>(exponential_from_uniform(u));
      }
      const scored<score_type> candidate{score, i};
      if (beats(candidate, mine)) mine = candidate;
    }
  };
  __syncthreads();
  visit_row<Block>(row, size, visit);
  if constexpr (std::is_same_v<score_type, float>) {
    const scored_index best = cub::BlockReduce<scored_index, Block>(storage.reduce.best).Reduce(mine, best_of{});
    if (threadIdx.x == 0) storage.best_result = best;
    __syncthreads();
    return storage.best_result;
  } else {
    const scored<double> best = cub::BlockReduce<scored<double>, Block>(storage.reduce.best_double).Reduce(mine, best_of{});
    if (threadIdx.x == 0) storage.best_double_result = best;
    __syncthreads();
    return storage.best_double_result;
  }
}

//! The sum in double of `key(i, value)` over `row[0, size)`, to every thread (a BlockReduce of
//! per-thread partial sums: the order differs from a sequential sum by rounding only).
template <int Block, class T, class Key>
__device__ __noinline__ double block_row_sum(const T* row, std::int32_t size, Key& key, row_pass_storage<Block>& storage) {
  double mine = 0.0;
  auto visit = [&](std::int32_t first, const float* values, int count) {
    for (int j = 0; j < count; ++j) mine += key(first + j, values[j]);
  };
  __syncthreads();
  visit_row<Block>(row, size, visit);
  const double all = cub::BlockReduce<double, Block>(storage.reduce.sum).Sum(mine);
  if (threadIdx.x == 0) storage.sum_result = all;
  __syncthreads();
  return storage.sum_result;
}

} // namespace detail
} // namespace cuda
} // namespace v0
} // namespace specdec
