//! Building token trees on the device: per-row top-k candidate ranking (Medusa heads' top-k) and
//! static trees of a fixed `tree_choices` shape filled from those candidates, for a whole batch.
#pragma once

#if !defined(__CUDACC__)
#error "specdec/cuda/ headers contain CUDA code: compile this translation unit with nvcc (a .cu file)."
#endif

#include <cub/block/block_scan.cuh>
#include <cuda_runtime.h>

#include <cstdint>

#include "specdec/core/types.hpp"
#include "specdec/cuda/detail/device_math.cuh"
#include "specdec/cuda/detail/processed_row.cuh"
#include "specdec/cuda/detail/row_reduce.cuh"
#include "specdec/cuda/status.cuh"

namespace specdec {
inline namespace v0 {
namespace cuda {

//! The largest k `top_k_rows` ranks.
inline constexpr std::int32_t max_top_k = 1024;

//! Threads per block of `top_k_rows` (one block per row).
inline constexpr int top_k_block_size = 512;

namespace detail {

template <int Block>
struct top_k_rows_storage {
  top_k_storage select;
  typename cub::BlockScan<std::int32_t, Block>::TempStorage scan;
  float values[max_top_k];
  std::int32_t indices[max_top_k];
  std::int32_t count;  // entries collected so far
};

//! One block per row (blockIdx.x). The k-th largest value t comes from the radix select shared with
//! top-k filtering; a pass collects the entries above t (fewer than k: order-free shared atomics), a
//! second pass in row order (chunks of Block, a BlockScan per chunk) adds the lowest-index entries
//! equal to t until k are held; then each held entry's rank is the number of entries that beat it
//! (value descending, index ascending), and it is written there.
template <int Block, class T>
__global__ void __launch_bounds__(Block)
    top_k_rows_kernel(const T* logits, std::int32_t vocab, std::int32_t k, token_id* tokens, float* values) {
  __shared__ top_k_rows_storage<Block> s;
  const T* row = logits + static_cast<std::int64_t>(blockIdx.x) * vocab;  // row r at r * vocab
  const float threshold = block_top_k_threshold<Block>(row, vocab, k, s.select);
  if (threadIdx.x == 0) s.count = 0;
  __syncthreads();
  for (std::int32_t i = static_cast<std::int32_t>(threadIdx.x); i < vocab; i += Block) {
    const float v = to_float(row[i]);
    if (v > threshold) {  // -inf never passes: masked entries are never candidates
      const std::int32_t at = atomicAdd(&s.count, 1);
      s.values[at] = v;
      s.indices[at] = i;
    }
  }
  __syncthreads();
  const std::int32_t above = s.count;
  if (threshold != neg_inf) {  // the ties at t, lowest indices first, up to k in all
    std::int32_t taken = 0;
    for (std::int32_t start = 0; start < vocab && above + taken < k; start += Block) {
      const std::int32_t i = start + static_cast<std::int32_t>(threadIdx.x);
      const std::int32_t tie = i < vocab && to_float(row[i]) == threshold ? 1 : 0;
      std::int32_t position = 0;
      std::int32_t total = 0;
      __syncthreads();  // scan storage reuse
      cub::BlockScan<std::int32_t, Block>(s.scan).ExclusiveSum(tie, position, total);
      if (tie != 0 && above + taken + position < k) {
        s.values[above + taken + position] = threshold;
        s.indices[above + taken + position] = i;
      }
      taken += total;
    }
    __syncthreads();
    if (threadIdx.x == 0) s.count = above + (taken < k - above ? taken : k - above);
  }
  __syncthreads();
  const std::int32_t held = s.count;
  token_id* out = tokens + static_cast<std::int64_t>(blockIdx.x) * k;  // row r of [rows, k]
  for (std::int32_t e = static_cast<std::int32_t>(threadIdx.x); e < held; e += Block) {
    std::int32_t rank = 0;
    for (std::int32_t f = 0; f < held; ++f) {
      const bool better = s.values[f] > s.values[e] || (s.values[f] == s.values[e] && s.indices[f] < s.indices[e]);
      rank += better ? 1 : 0;
    }
    out[rank] = s.indices[e];
    if (values != nullptr) values[static_cast<std::int64_t>(blockIdx.x) * k + rank] = s.values[e];
  }
  for (std::int32_t r = held + static_cast<std::int32_t>(threadIdx.x); r < k; r += Block) {  // too few unmasked entries
    out[r] = no_token;
    if (values != nullptr) values[static_cast<std::int64_t>(blockIdx.x) * k + r] = neg_inf;
  }
}

//! One thread per node of the batch (grid-stride over B * N): node i of request b is flat entry
//! b * N + i.
__global__ void build_static_trees_kernel(const std::int32_t* shape_parents, const std::int32_t* shape_ranks,
                                          const std::int32_t* shape_depths, std::int32_t nodes, std::int64_t batch,
                                          const token_id* root_tokens, const token_id* candidates, std::int32_t heads,
                                          std::int32_t k, token_id* tokens, std::int32_t* parents, std::int32_t* depths,
                                          std::int32_t* offsets) {
  const std::int64_t total = batch * nodes;
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t b = e / nodes;
    const auto i = static_cast<std::int32_t>(e % nodes);
    const std::int32_t depth = shape_depths[i];
    // Medusa: the node with rank path {r1, ..., rd} carries head d - 1's candidate of rank rd.
    tokens[e] = i == 0 ? root_tokens[b] : candidates[(b * heads + depth - 1) * k + shape_ranks[i]];
    if (parents != nullptr) parents[e] = shape_parents[i];
    if (depths != nullptr) depths[e] = depth;
    if (offsets != nullptr && i == 0) offsets[b] = static_cast<std::int32_t>(b * nodes);
    if (offsets != nullptr && e == total - 1) offsets[batch] = static_cast<std::int32_t>(total);
  }
}

} // namespace detail

//! Per row r of `logits` `[rows, vocab]`: `tokens[r, 0..k)` = the indices of the k largest entries,
//! ordered by value descending then index ascending (ties at the k-th value go to the lowest indices),
//! and `values[r, :]` their values when `values` is not null; -inf entries are never ranked, and a row
//! with fewer than k other entries pads with -1 (values -inf). Medusa's per-head candidate lists, the
//! input of `build_static_trees`. One block of `top_k_block_size` threads per row: four radix-select
//! passes over the row (shared-memory histograms), one collecting pass, one ordered pass over the
//! ties when the k-th value is tied, then an O(k^2 / threads) rank sort in shared memory. Returns
//! cudaErrorInvalidValue unless 1 <= k <= max_top_k, vocab > 0 and rows in [0, 2^31); else the launch
//! status. No allocation, no synchronisation.
template <class T>
[[nodiscard]] cudaError_t top_k_rows(const T* logits, std::int64_t rows, std::int32_t vocab, std::int32_t k, token_id* tokens,
                                     float* values, cudaStream_t stream = nullptr) {
  static_assert(detail::is_logit_type<T>, "logits must be float, __half or __nv_bfloat16");
  if (rows < 0 || rows > 0x7fffffff || vocab <= 0 || k < 1 || k > max_top_k || tokens == nullptr) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  detail::top_k_rows_kernel<top_k_block_size><<<static_cast<unsigned int>(rows), top_k_block_size, 0, stream>>>(
      logits, vocab, k, tokens, values);
  return cudaGetLastError();
}

//! A static tree shape (a `tree_choices`) in device memory, in its canonical order: `parents`, `ranks`
//! and `depths` of its `nodes` nodes (node 0 the root, rank and parent -1).
struct static_tree_shape {
  const std::int32_t* parents = nullptr;
  const std::int32_t* ranks = nullptr;
  const std::int32_t* depths = nullptr;
  std::int32_t nodes = 0;
};

//! Builds one tree of `shape` per request, as the CPU's `static_tree_builder::build(choices,
//! root_tokens[b], candidates of b, tree)`: node i of request b is flat entry b * N + i, its token
//! `root_tokens[b]` for the root and `candidates[b, depth(i) - 1, rank(i)]` otherwise (`candidates`
//! `[B, heads, k]`, e.g. `top_k_rows` over the Medusa heads' logits `[B * heads, V]`); `parents` and
//! `depths` (either may be null) copy the shape; `offsets` (may be null) gets the `B + 1` CSR offsets
//! b * N, so the outputs form a `token_tree_batch_view` for `flatten_trees` and the verifiers. One
//! thread per node. Preconditions (not checked): heads >= the shape's depth, every rank < k. Returns
//! cudaErrorInvalidValue for null required arrays, nodes < 1, heads or k < 1, or B * N beyond 2^31 - 1;
//! else the launch status.
[[nodiscard]] inline cudaError_t build_static_trees(const static_tree_shape& shape, std::int64_t batch,
                                                    const token_id* root_tokens, const token_id* candidates,
                                                    std::int32_t heads, std::int32_t k, token_id* tokens,
                                                    std::int32_t* parents, std::int32_t* depths, std::int32_t* offsets,
                                                    cudaStream_t stream = nullptr) {
  if (shape.parents == nullptr || shape.ranks == nullptr || shape.depths == nullptr || shape.nodes < 1 ||
      root_tokens == nullptr || (shape.nodes > 1 && candidates == nullptr) || tokens == nullptr || heads < 1 || k < 1 ||
      batch < 0 || batch * shape.nodes > 0x7fffffff) {
    return cudaErrorInvalidValue;
  }
  if (batch == 0) return cudaSuccess;
  const std::int64_t total = batch * shape.nodes;
  const unsigned int blocks = blocks_for(total, 256) < 4096 ? blocks_for(total, 256) : 4096;
  detail::build_static_trees_kernel<<<blocks, 256, 0, stream>>>(shape.parents, shape.ranks, shape.depths, shape.nodes,
                                                                batch, root_tokens, candidates, heads, k, tokens, parents,
                                                                depths, offsets);
  return cudaGetLastError();
}

} // namespace cuda
} // namespace v0
} // namespace specdec
