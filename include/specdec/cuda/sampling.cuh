//! Row primitives on the device: argmax, logsumexp, softmax, and sampling a token per row with
//! Gumbel-max (after temperature, top-k and min-p) or the exponential race over weights, at the CPU
//! references' Philox addresses.
#pragma once

#if !defined(__CUDACC__)
#error "specdec/cuda/ headers contain CUDA code: compile this translation unit with nvcc (a .cu file)."
#endif

#include <cuda_runtime.h>

#include <cstdint>

#include "specdec/core/philox.hpp"
#include "specdec/core/types.hpp"
#include "specdec/cuda/detail/device_math.cuh"
#include "specdec/cuda/detail/processed_row.cuh"
#include "specdec/cuda/detail/row_reduce.cuh"
#include "specdec/cuda/status.cuh"
#include "specdec/sampling/sampling_params.hpp"

namespace specdec {
inline namespace v0 {
namespace cuda {

//! Threads per block of the row kernels (one block per row).
inline constexpr int row_block_size = 512;

namespace detail {

// One block per row: blockIdx.x is the row, row r starts at logits + r * vocab.
template <int Block, class T>
__global__ void __launch_bounds__(Block)
    row_statistics_kernel(const T* logits, std::int32_t vocab, std::int32_t* argmax, float* max, float* lse) {
  __shared__ row_pass_storage<Block> storage;
  const T* row = logits + static_cast<std::int64_t>(blockIdx.x) * vocab;
  const row_stats stats = block_row_stats<Block>(row, vocab, 1.0f, storage);
  if (threadIdx.x == 0) {
    if (argmax != nullptr) argmax[blockIdx.x] = stats.index;
    if (max != nullptr) max[blockIdx.x] = stats.max;
    if (lse != nullptr) lse[blockIdx.x] = stats.max + logf(stats.sum);
  }
}

template <int Block, class T>
__global__ void __launch_bounds__(Block)
    softmax_kernel(const T* logits, std::int32_t vocab, const float* temperatures, float* probs) {
  __shared__ row_pass_storage<Block> storage;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * vocab;  // row r at r * vocab
  const T* row = logits + first;
  float* out = probs + first;
  const float temperature = temperatures != nullptr ? temperatures[blockIdx.x] : 1.0f;
  if (temperature == 0.0f) {  // greedy: one-hot at the argmax, as logits_processor::probabilities
    const row_stats stats = block_row_stats<Block>(row, vocab, 1.0f, storage);
    for (std::int32_t i = static_cast<std::int32_t>(threadIdx.x); i < vocab; i += Block) {
      out[i] = i == stats.index ? 1.0f : 0.0f;
    }
    return;
  }
  const row_stats stats = block_row_stats<Block>(row, vocab, 1.0f / temperature, storage);
  const double inv_sum = 1.0 / static_cast<double>(stats.sum);
  // Thread t writes entries t, t + Block, ...: coalesced reads and writes.
  for (std::int32_t i = static_cast<std::int32_t>(threadIdx.x); i < vocab; i += Block) {
    const float l = to_float(row[i]);
    out[i] = l == neg_inf ? 0.0f : probability(l, stats.max, temperature, inv_sum);
  }
}

// The Gumbel key of a processed row: the processed logit (-inf when filtered).
struct gumbel_key {
  processed_row row;
  __device__ __forceinline__ float operator()(std::int32_t i, float l) const { return row.processed(i, l); }
};

// The exponential-race key of a weight row: the weight itself.
struct weight_key {
  __device__ __forceinline__ float operator()(std::int32_t, float w) const { return w; }
};

template <int Block, class T>
__global__ void __launch_bounds__(Block)
    sample_kernel(const T* logits, std::int32_t vocab, const sampling_params* params, const random_address* addresses,
                  token_id* tokens) {
  __shared__ process_storage<Block> storage;
  const T* row = logits + static_cast<std::int64_t>(blockIdx.x) * vocab;
  const sampling_params request = params != nullptr ? params[blockIdx.x] : sampling_params{};
  if (request.temperature == 0.0f) {
    const row_stats stats = block_row_stats<Block>(row, vocab, 1.0f, storage.pass);
    if (threadIdx.x == 0) tokens[blockIdx.x] = stats.index;
    return;
  }
  gumbel_key key{block_process_row<Block>(row, vocab, request, storage)};
  const scored_index best =
      block_row_race<race_kind::gumbel, Block>(row, vocab, addresses[blockIdx.x], key, storage.pass);
  if (threadIdx.x == 0) tokens[blockIdx.x] = best.index;
}

template <int Block>
__global__ void __launch_bounds__(Block)
    race_kernel(const float* weights, std::int32_t vocab, const random_address* addresses, token_id* tokens) {
  __shared__ row_pass_storage<Block> storage;
  weight_key key;
  const scored_index best = block_row_race<race_kind::exponential, Block>(
      weights + static_cast<std::int64_t>(blockIdx.x) * vocab, vocab, addresses[blockIdx.x], key, storage);
  if (threadIdx.x == 0) tokens[blockIdx.x] = best.index;
}

//! cudaErrorInvalidValue unless `rows` fits a grid and `vocab` is positive.
[[nodiscard]] inline cudaError_t check_rows(std::int64_t rows, std::int32_t vocab) {
  return rows < 0 || rows > 0x7fffffff || vocab <= 0 ? cudaErrorInvalidValue : cudaSuccess;
}

} // namespace detail

//! Per row r of the row-major `[rows, vocab]` `logits`: `argmax[r]` = the lowest index of the row's
//! maximum, and `max[r]` = the maximum (either may be null). Equal to `specdec::checked_argmax` for
//! valid rows (finite or -inf entries, at least one finite; other rows give unspecified results --
//! kernels never throw). One block of `row_block_size` threads per row, 16-byte vector loads.
//! Returns cudaErrorInvalidValue for rows outside [0, 2^31) or vocab <= 0, else the launch status.
template <class T>
[[nodiscard]] cudaError_t argmax_rows(const T* logits, std::int64_t rows, std::int32_t vocab, std::int32_t* argmax,
                                      float* max, cudaStream_t stream = nullptr) {
  static_assert(detail::is_logit_type<T>, "logits must be float, __half or __nv_bfloat16");
  SPECDEC_CUDA_TRY(detail::check_rows(rows, vocab));
  if (rows == 0) return cudaSuccess;
  detail::row_statistics_kernel<row_block_size><<<static_cast<unsigned int>(rows), row_block_size, 0, stream>>>(
      logits, vocab, argmax, max, nullptr);
  return cudaGetLastError();
}

//! Per row r: `lse[r]` = log(sum_i exp(logits[r, i])) in float (max + log of a float sum of fast
//! exponentials; the CPU's `logsumexp` sums exact ones in double: expect ~1e-6 relative agreement).
//! Layout, thread mapping and errors as `argmax_rows`.
template <class T>
[[nodiscard]] cudaError_t logsumexp_rows(const T* logits, std::int64_t rows, std::int32_t vocab, float* lse,
                                         cudaStream_t stream = nullptr) {
  static_assert(detail::is_logit_type<T>, "logits must be float, __half or __nv_bfloat16");
  SPECDEC_CUDA_TRY(detail::check_rows(rows, vocab));
  if (rows == 0) return cudaSuccess;
  detail::row_statistics_kernel<row_block_size><<<static_cast<unsigned int>(rows), row_block_size, 0, stream>>>(
      logits, vocab, nullptr, nullptr, lse);
  return cudaGetLastError();
}

//! Per row r: `probs[r, :]` = softmax(logits[r, :] / T_r) with T_r = `temperatures[r]` (device array;
//! null means 1 for every row; 0 gives the one-hot argmax), as `logits_processor::probabilities` without
//! filters: p_i = exp((l_i - max) / T) / Z with the CPU's exponential for the numerator. `probs` is
//! `[rows, vocab]` float, row-major; it must not overlap `logits`. Two passes over the row (the second
//! reads it from L2 for rows that fit). Errors as `argmax_rows`.
template <class T>
[[nodiscard]] cudaError_t softmax_rows(const T* logits, std::int64_t rows, std::int32_t vocab, const float* temperatures,
                                       float* probs, cudaStream_t stream = nullptr) {
  static_assert(detail::is_logit_type<T>, "logits must be float, __half or __nv_bfloat16");
  SPECDEC_CUDA_TRY(detail::check_rows(rows, vocab));
  if (rows == 0) return cudaSuccess;
  detail::softmax_kernel<row_block_size><<<static_cast<unsigned int>(rows), row_block_size, 0, stream>>>(
      logits, vocab, temperatures, probs);
  return cudaGetLastError();
}

//! Samples one token per row r: `tokens[r]` = the CPU's `sample_gumbel_max(processed row, addresses[r])`
//! where the row is processed by `logits_processor` under `params[r]` (temperature -> top-k -> top-p ->
//! min-p; `params` null means temperature 1 and no filters; temperature 0 gives the argmax). Both arrays
//! live in device memory, so a captured graph replays with new seeds and parameters. Identical to the
//! CPU up to float near-ties (the device logf differs from glibc's in the last bit for some inputs).
//! Passes over the row: 2 (statistics, sample); +4 with top-k (radix select), +6 or 7 with top-p, +1
//! with any filter.
//! Errors as `argmax_rows`.
template <class T>
[[nodiscard]] cudaError_t sample_rows(const T* logits, std::int64_t rows, std::int32_t vocab, const sampling_params* params,
                                      const random_address* addresses, token_id* tokens, cudaStream_t stream = nullptr) {
  static_assert(detail::is_logit_type<T>, "logits must be float, __half or __nv_bfloat16");
  SPECDEC_CUDA_TRY(detail::check_rows(rows, vocab));
  if (rows == 0) return cudaSuccess;
  detail::sample_kernel<row_block_size><<<static_cast<unsigned int>(rows), row_block_size, 0, stream>>>(
      logits, vocab, params, addresses, tokens);
  return cudaGetLastError();
}

//! Samples one token per row r of non-negative float `weights` `[rows, vocab]` with probability
//! w_i / sum(w): `tokens[r]` = the CPU's `sample_exponential_race(weights[r, :], addresses[r])`
//! (argmax w_i / E_i, E_i = -log(u_i) at word i % 4 of Philox block i / 4), -1 for a row without a
//! positive weight. Weights need no normalisation (residuals max(0, p - q) as they stand). One pass.
//! Errors as `argmax_rows`.
[[nodiscard]] inline cudaError_t sample_weights_rows(const float* weights, std::int64_t rows, std::int32_t vocab,
                                                     const random_address* addresses, token_id* tokens,
                                                     cudaStream_t stream = nullptr) {
  SPECDEC_CUDA_TRY(detail::check_rows(rows, vocab));
  if (rows == 0) return cudaSuccess;
  detail::race_kernel<row_block_size><<<static_cast<unsigned int>(rows), row_block_size, 0, stream>>>(
      weights, vocab, addresses, tokens);
  return cudaGetLastError();
}

} // namespace cuda
} // namespace v0
} // namespace specdec
