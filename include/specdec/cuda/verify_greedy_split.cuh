//! Greedy tree verification from logits with several thread blocks per request (a thread block cluster
//! on sm_90): each block streams a slice of every row on the path, the cluster merges the slices'
//! statistics through distributed shared memory, and the children's first loads of the next row are
//! issued while the cluster barrier completes.
#pragma once

#if !defined(__CUDACC__)
#error "specdec/cuda/ headers contain CUDA code: compile this translation unit with nvcc (a .cu file)."
#endif

#include <cooperative_groups.h>
#include <cub/block/block_scan.cuh>
#include <cuda_runtime.h>

#include <cstdint>

#include "specdec/core/types.hpp"
#include "specdec/cuda/detail/device_math.cuh"
#include "specdec/cuda/detail/row_reduce.cuh"
#include "specdec/cuda/status.cuh"
#include "specdec/cuda/verify.cuh"
#include "specdec/tree/token_tree.hpp"
#include "specdec/tree/token_tree_batch.hpp"

namespace specdec {
inline namespace v0 {
namespace cuda {

//! The most blocks `verify_greedy_split` gives one request (the portable cluster size).
inline constexpr std::int32_t max_split_blocks = 8;

//! The fewest row entries per block when `verify_greedy_split` chooses the split itself: below that a
//! block's slice is too short to keep its loads in flight, and the merge costs more than it saves.
inline constexpr std::int32_t split_min_slice = 4096;

//! Blocks per request that `verify_greedy_split` uses when asked for 0 (automatic), for a batch of
//! `batch` requests, rows of `vocab` entries and a device of `multiprocessors` SMs: enough blocks for two
//! per SM across the batch (rows are then streamed by about twice as many loads in flight as SMs), at
//! most `max_split_blocks`, and at most one per `split_min_slice` entries. 1 means the single-block walk.
[[nodiscard]] constexpr std::int32_t split_blocks_for(std::int64_t batch, std::int32_t vocab, std::int32_t multiprocessors) noexcept {
  if (batch <= 0 || vocab <= 0 || multiprocessors <= 0) return 1;
  std::int64_t blocks = 2 * static_cast<std::int64_t>(multiprocessors) / batch;
  if (blocks > max_split_blocks) blocks = max_split_blocks;
  if (blocks > vocab / split_min_slice) blocks = vocab / split_min_slice;
  return blocks < 1 ? 1 : static_cast<std::int32_t>(blocks);
}

namespace detail {

//! Vectors per thread of each candidate child's slice prefetched into L2 during the cluster barrier
//! (16 bytes each: 16 KB per child per block), and the most children prefetched: the accepted child's
//! first loads then hit L2, at the cost of a few KB read for each child not taken.
inline constexpr int split_prefetch_vectors = 2;
inline constexpr std::int32_t split_prefetch_children = 4;

template <int Block>
struct split_storage {
  row_pass_storage<Block> pass;
  typename cub::BlockScan<std::int32_t, Block>::TempStorage scan;
  std::int32_t children[max_tree_nodes];  // the current node's children, rank order
  token_id child_tokens[max_tree_nodes];  // their tokens
  row_stats partial[2];                   // this block's slice statistics, by level parity (read by the cluster)
  std::int32_t next_node;                 // the node the walk continues from, or -1 when it ends
};

//! Hints the L2 to fetch the line holding `address` (no fault, no data returned).
__device__ __forceinline__ void prefetch_l2(const void* address) {
  asm volatile("prefetch.global.L2 [%0];" ::"l"(address));
}

//! One cluster of G blocks per request: request b = blockIdx.x / G, block rank g = blockIdx.x % G owns
//! entries [g * slice, min(vocab, (g + 1) * slice)) of every row (slice a multiple of the vector width,
//! so a 16-byte aligned row keeps aligned slices). At each node on the path every block collects the
//! children (the same list in every block), reduces its slice to (max, argmax, Z) and publishes it in
//! its shared memory (`partial[level % 2]`); it arrives at the cluster barrier, prefetches the first
//! vectors of its slice of up to `split_prefetch_children` children's rows, and waits; then thread 0
//! of every block merges the G partials in rank order (so every block gets the same result) and takes
//! the same decision, and only block 0 writes the outputs. Double buffering by level parity suffices:
//! a block rewrites `partial[p]` two levels later, after a barrier that every reader of level p has
//! passed. A last cluster barrier keeps every block alive until no one reads its shared memory.
template <int Block, class T>
__global__ void __launch_bounds__(Block)
    verify_greedy_split_kernel(token_tree_batch_view trees, const T* logits, std::int32_t vocab, std::int32_t slice,
                               stop_token_lists stops, verify_outputs out) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
  namespace cg = cooperative_groups;
  __shared__ split_storage<Block> s;
  const cg::cluster_group cluster = cg::this_cluster();
  const auto blocks = static_cast<std::int32_t>(cluster.num_blocks());
  const auto rank = static_cast<std::int32_t>(cluster.block_rank());
  const index_t b = blockIdx.x / static_cast<unsigned int>(blocks);  // clusters tile the grid: one per request
  const token_tree_view tree = trees.tree(b);
  const index_t first = trees.offsets().begin(b);  // request b's rows and output entries start here
  const auto n = static_cast<std::int32_t>(tree.size());
  const bool writer = rank == 0 && threadIdx.x == 0;  // the one thread that writes request b's outputs
  if (n <= 0) {  // the same for the whole cluster: no block touches another's shared memory
    if (writer) {
      out.accepted[b] = 0;
      if (out.emitted != nullptr) out.emitted[b] = 0;
      if (out.stopped != nullptr) out.stopped[b] = 0;
    }
    return;
  }
  const std::int32_t begin = rank * slice;  // this block's entries [begin, end) of every row
  const std::int32_t end = vocab - begin < slice ? vocab : begin + slice;
  const std::int32_t length = end > begin ? end - begin : 0;  // 0: a slice past the row (rounding)
  // Thread 0's walk state, the same in every block (each block's thread 0 takes the same decisions).
  std::int32_t depth = 0;
  std::int32_t emitted = 0;
  bool stopped = false;
  if (writer) out.path[first] = 0;
  for (std::int32_t node = 0, parity = 0;; parity ^= 1) {
    const T* row = logits + (first + node) * vocab;  // row of flat node first + node
    const std::int32_t count = collect_children<Block>(tree, node, s);
    row_stats mine = empty_stats();
    if (length > 0) mine = block_row_stats<Block>(row + begin, length, 1.0f, s.pass);  // block-uniform branch
    if (threadIdx.x == 0) {
      if (mine.index >= 0) mine.index += begin;  // slice-local to row index
      s.partial[parity] = mine;
    }
    cluster.barrier_arrive();  // release: the partial is visible to the cluster after its wait
    // While the other blocks finish: start the children's rows (this block's slice of each).
    const std::int32_t prefetched = count < split_prefetch_children ? count : split_prefetch_children;
    for (std::int32_t k = 0; k < prefetched; ++k) {
      const T* child = logits + (first + s.children[k]) * vocab + begin;
#pragma unroll
      for (int u = 0; u < split_prefetch_vectors; ++u) {
        // Vector threadIdx.x + u * Block of the slice: the first loads visit_row issues for it.
        const std::int64_t entry = (static_cast<std::int64_t>(threadIdx.x) + u * Block) * vector_width<T>;
        if (entry < length) prefetch_l2(child + entry);
      }
    }
    cluster.barrier_wait();  // acquire: every block's partial[parity] is complete
    if (threadIdx.x == 0) {
      row_stats all = empty_stats();
      for (std::int32_t g = 0; g < blocks; ++g) all = merge_stats{1.0f}(all, *cluster.map_shared_rank(&s.partial[parity], g));
      const float logprob = -logf(all.sum);  // max - logsumexp = -log(sum exp(l - max))
      std::int32_t accepted_child = -1;
      for (std::int32_t k = 0; k < count; ++k) {
        if (s.child_tokens[k] == all.index) {
          accepted_child = s.children[k];
          break;
        }
      }
      std::int32_t next = -1;
      if (accepted_child >= 0) {
        const token_id x = tree.token(accepted_child);
        ++depth;
        if (writer) {
          out.path[first + depth] = accepted_child;
          out.tokens[first + emitted] = x;
          if (out.logprobs != nullptr) out.logprobs[first + emitted] = logprob;
        }
        ++emitted;
        stopped = is_stop(stops, b, x);
        if (!stopped) next = accepted_child;
      } else {
        if (writer) {
          out.tokens[first + emitted] = all.index;
          if (out.logprobs != nullptr) out.logprobs[first + emitted] = logprob;
        }
        ++emitted;
        stopped = is_stop(stops, b, all.index);
      }
      if (next < 0 && writer) {
        out.accepted[b] = depth;
        if (out.emitted != nullptr) out.emitted[b] = emitted;
        if (out.stopped != nullptr) out.stopped[b] = stopped ? 1 : 0;
      }
      s.next_node = next;
    }
    __syncthreads();
    node = s.next_node;  // rewritten next level only after collect_children's barriers
    if (node < 0) break;
  }
  cluster.sync();  // no block exits while another may still read its partials
#endif
}

} // namespace detail

//! `verify_greedy` with G blocks per request: the same contract, layout and outputs (tokens, paths and
//! counts identical; logprobs to float rounding, Z being summed in another order), for batches too small
//! to fill the GPU with one block per request. Request b is a thread block cluster of G blocks
//! (`verify_block_size` threads each); block g streams entries [g * S, (g + 1) * S) of each row on the
//! path (S = ceil(V / G) rounded up to the 16-byte vector width), the cluster merges the G slices'
//! (max, argmax, Z) through distributed shared memory, and while the cluster barrier completes each
//! block prefetches into L2 the first vectors of its slice of the node's first children's rows. A
//! request still reads accepted + 1 rows, now with G times the loads in flight.
//!
//! `blocks_per_request`: 0 chooses `split_blocks_for(B, V, SMs)` (two blocks per SM across the batch,
//! at most 8, at least `split_min_slice` entries each); 1 to 8 forces G. Needs thread block clusters
//! (sm_90 or newer): on an older device G = 1 is used when 0 was asked (the single-block walk,
//! `verify_greedy`), and a forced G > 1 returns cudaErrorNotSupported. Returns cudaErrorInvalidValue as
//! `verify_greedy` does and for `blocks_per_request` outside [0, 8] or B * G beyond 2^31 - 1; else the
//! launch status. Queries the current device's attributes (no synchronisation); no allocation;
//! capturable in a graph.
template <class T>
[[nodiscard]] cudaError_t verify_greedy_split(const token_tree_batch_view& trees, const T* logits, std::int32_t vocab,
                                              const verify_outputs& out, const stop_token_lists& stops = {},
                                              std::int32_t blocks_per_request = 0, cudaStream_t stream = nullptr) {
  static_assert(detail::is_logit_type<T>, "logits must be float, __half or __nv_bfloat16");
  const index_t batch = trees.batch_size();
  if (batch < 0 || batch > 0x7fffffff || vocab <= 0 || out.path == nullptr || out.tokens == nullptr ||
      out.accepted == nullptr || blocks_per_request < 0 || blocks_per_request > max_split_blocks) {
    return cudaErrorInvalidValue;
  }
  if (batch == 0) return cudaSuccess;
  int device = 0;
  SPECDEC_CUDA_TRY(cudaGetDevice(&device));
  int clusters = 0;
  SPECDEC_CUDA_TRY(cudaDeviceGetAttribute(&clusters, cudaDevAttrClusterLaunch, device));
  std::int32_t blocks = blocks_per_request;
  if (blocks == 0) {
    int multiprocessors = 0;
    SPECDEC_CUDA_TRY(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, device));
    blocks = clusters != 0 ? split_blocks_for(batch, vocab, multiprocessors) : 1;
  } else if (blocks > 1 && clusters == 0) {
    return cudaErrorNotSupported;
  }
  if (blocks == 1) return verify_greedy(trees, logits, vocab, out, stops, stream);
  if (batch * blocks > 0x7fffffff) return cudaErrorInvalidValue;
  constexpr std::int32_t width = detail::vector_width<T>;
  const std::int32_t slice = ((vocab + blocks - 1) / blocks + width - 1) / width * width;
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(static_cast<unsigned int>(batch * blocks), 1, 1);
  config.blockDim = dim3(verify_block_size, 1, 1);
  config.dynamicSmemBytes = 0;
  config.stream = stream;
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeClusterDimension;
  attribute.val.clusterDim.x = static_cast<unsigned int>(blocks);
  attribute.val.clusterDim.y = 1;
  attribute.val.clusterDim.z = 1;
  config.attrs = &attribute;
  config.numAttrs = 1;
  SPECDEC_CUDA_TRY(cudaLaunchKernelEx(&config, detail::verify_greedy_split_kernel<verify_block_size, T>, trees, logits,
                                      vocab, slice, stops, out));
  return cudaGetLastError();
}

} // namespace cuda
} // namespace v0
} // namespace specdec
