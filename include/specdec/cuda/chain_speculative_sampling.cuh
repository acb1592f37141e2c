//! Speculative sampling on a batch of draft chains from probabilities: a drop-in peer of FlashInfer's
//! ChainSpeculativeSampling, at the library's Philox addresses.
#pragma once

#if !defined(__CUDACC__)
#error "specdec/cuda/ headers contain CUDA code: compile this translation unit with nvcc (a .cu file)."
#endif

#include <cuda_runtime.h>

#include <cstdint>

#include "specdec/core/philox.hpp"
#include "specdec/core/random.hpp"
#include "specdec/core/types.hpp"
#include "specdec/cuda/detail/device_math.cuh"
#include "specdec/cuda/detail/row_reduce.cuh"
#include "specdec/cuda/status.cuh"

namespace specdec {
inline namespace v0 {
namespace cuda {

//! Threads per block of `chain_speculative_sampling` (one block per request).
inline constexpr int chain_block_size = 512;

namespace detail {

// max(0, p - q) over a p row, reading q alongside.
struct probs_residual_key {
  const float* q;
  __device__ __forceinline__ float operator()(std::int32_t i, float p) const { return fmaxf(0.0f, __fsub_rn(p, q[i])); }
};

// p with one entry zeroed (-1: none).
struct probs_key {
  token_id excluded;
  __device__ __forceinline__ float operator()(std::int32_t i, float p) const { return i == excluded ? 0.0f : p; }
};

template <int Block>
struct chain_storage {
  row_pass_storage<Block> pass;
  std::int32_t rejected_at;  // the first rejected draft position, k when all were accepted
};

//! One block per request b = blockIdx.x. Thread 0 walks the k drafts (two scalar reads each: p(x) and
//! q(x)); then the block makes one pass over one row: the residual max(0, p_i - q_i) at the first
//! rejection i (p and q rows read once, with the fallback pass only for a residual that rounds to
//! nothing) or p_k for the bonus. Row (b, i) of a [B, rows, V] tensor starts at (b * rows + i) * V.
template <int Block>
__global__ void __launch_bounds__(Block)
    chain_sampling_kernel(const float* draft_probs, const token_id* draft_tokens, const float* target_probs,
                          std::int32_t k, std::int32_t vocab, const random_address* addresses, token_id* output_tokens,
                          std::int32_t* accepted, std::int32_t* emitted) {
  __shared__ chain_storage<Block> s;
  const std::int64_t b = blockIdx.x;
  const random_address address = addresses[b];
  const token_id* drafts = draft_tokens + b * k;                  // [B, k]
  const float* q_rows = draft_probs + b * k * vocab;              // [B, k, V]
  const float* p_rows = target_probs + b * (k + 1) * vocab;       // [B, k + 1, V]
  token_id* out = output_tokens + b * (k + 1);                    // [B, k + 1]
  if (threadIdx.x == 0) {
    std::int32_t i = 0;
    for (; i < k; ++i) {  // draft i is tree node i + 1, child of node i
      const token_id x = drafts[i];
      const float qx = q_rows[static_cast<std::int64_t>(i) * vocab + x];
      const float px = p_rows[static_cast<std::int64_t>(i) * vocab + x];
      const double u = uniform_double(address.at(static_cast<std::uint32_t>(i + 1), purpose::accept));
      if (!(qx > 0.0f && u * static_cast<double>(qx) <= static_cast<double>(px))) break;
      out[i] = x;
    }
    s.rejected_at = i;
  }
  __syncthreads();
  const std::int32_t i = s.rejected_at;
  const float* p = p_rows + static_cast<std::int64_t>(i) * vocab;
  scored_index best = no_candidate();
  if (i < k) {
    const random_address at = address.at(static_cast<std::uint32_t>(i), purpose::residual);
    probs_residual_key key{q_rows + static_cast<std::int64_t>(i) * vocab};
    best = block_row_race<race_kind::exponential, Block>(p, vocab, at, key, s.pass);
    if (best.index < 0) {  // the residual rounded to nothing: p without the rejected token
      probs_key fallback{drafts[i]};
      best = block_row_race<race_kind::exponential, Block>(p, vocab, at, fallback, s.pass);
    }
  } else {
    probs_key key{-1};
    best = block_row_race<race_kind::exponential, Block>(p, vocab, address.at(static_cast<std::uint32_t>(k), purpose::bonus), key, s.pass);
  }
  if (threadIdx.x == 0) {
    out[i] = best.index;
    for (std::int32_t j = i + 1; j <= k; ++j) out[j] = no_token;  // FlashInfer pads with -1
    accepted[b] = i;
    if (emitted != nullptr) emitted[b] = i + 1;
  }
}

} // namespace detail

//! Chain speculative sampling from probabilities, the contract of FlashInfer's
//! `chain_speculative_sampling` with the library's randomness: `draft_probs` `[B, k, V]` (row i: the q
//! that draft i was drawn from), `draft_tokens` `[B, k]`, `target_probs` `[B, k + 1, V]` (row i: the
//! processed target p after i drafts; row k for the bonus), all float and row-major in device memory.
//! Accept draft i iff u <= p_i(x) / q_i(x) (q_i(x) = 0 rejects) with u the double uniform at
//! (node i + 1, accept) of `addresses[b]`; at the first rejection sample max(0, p_i - q_i) by the
//! exponential race at (node i, residual) (p_i without x when the residual rounds to nothing), after k
//! acceptances sample p_k at (node k, bonus). Writes `output_tokens` `[B, k + 1]` (accepted drafts, the
//! final token, then -1), `accepted[b]` and, when not null, `emitted[b]` = accepted + 1. The same tokens as
//! `chain_verifier` on the chain with these p and q rows (up to float near-ties of the device logf).
//! One block of `chain_block_size` threads per request: k scalar decisions, then one pass over one
//! row (two rows, p and q, after a rejection). Returns cudaErrorInvalidValue for null arrays, k < 0,
//! vocab <= 0 or a batch beyond 2^31 - 1; else the launch status. No allocation, no synchronisation,
//! capturable (the addresses come from device memory).
[[nodiscard]] inline cudaError_t chain_speculative_sampling(const float* draft_probs, const token_id* draft_tokens,
                                                            const float* target_probs, std::int64_t batch, std::int32_t k,
                                                            std::int32_t vocab, const random_address* addresses,
                                                            token_id* output_tokens, std::int32_t* accepted,
                                                            std::int32_t* emitted = nullptr,
                                                            cudaStream_t stream = nullptr) {
  if ((k > 0 && (draft_probs == nullptr || draft_tokens == nullptr)) || target_probs == nullptr || addresses == nullptr ||
      output_tokens == nullptr || accepted == nullptr || k < 0 || vocab <= 0 || batch < 0 || batch > 0x7fffffff) {
    return cudaErrorInvalidValue;
  }
  if (batch == 0) return cudaSuccess;
  detail::chain_sampling_kernel<chain_block_size><<<static_cast<unsigned int>(batch), chain_block_size, 0, stream>>>(
      draft_probs, draft_tokens, target_probs, k, vocab, addresses, output_tokens, accepted, emitted);
  return cudaGetLastError();
}

} // namespace cuda
} // namespace v0
} // namespace specdec
