//! Flattening a ragged batch of token trees on the device: position ids, dense, TensorRT-LLM packed and
//! FlashInfer byte-packed ancestor masks, root-to-leaf paths and first-child / next-sibling links, in
//! one kernel.
#pragma once

#if !defined(__CUDACC__)
#error "specdec/cuda/ headers contain CUDA code: compile this translation unit with nvcc (a .cu file)."
#endif

#include <cub/block/block_scan.cuh>
#include <cuda_runtime.h>

#include <cstdint>

#include "specdec/core/types.hpp"
#include "specdec/cuda/status.cuh"
#include "specdec/tree/token_tree.hpp"
#include "specdec/tree/token_tree_batch.hpp"

namespace specdec {
inline namespace v0 {
namespace cuda {

//! What `flatten_trees` writes; a null pointer skips that output. Per-node arrays are ragged like the
//! batch's nodes (request b owns entries `[offsets[b], offsets[b + 1])`), node indices local to each tree.
struct flatten_outputs {
  //! `[total_nodes]`: `context_lengths[b] + depth(i)`, as `position_ids`.
  std::int32_t* position_ids = nullptr;
  //! `[total_nodes, mask_words]` row-major: TensorRT-LLM's packed mask, as the batched
  //! `ancestor_mask_packed` (bit j % 32 of word j / 32 of row i set iff j is i or an ancestor of i).
  std::uint32_t* packed_mask = nullptr;
  std::int32_t mask_words = 0;  //!< >= ceil(largest tree / 32)
  //! `[total_nodes, dense_cols]` row-major bytes, 0 or 1 (a bool tensor's storage): the dense ancestor
  //! mask, as the batched `ancestor_mask_dense` (element (i, j) of request b's rows is 1 iff node j is
  //! i or an ancestor of i; columns from the tree's size on are 0). For attention kernels that take an
  //! unpacked boolean mask over the tree (FlashInfer's unpacked `custom_mask` is this block with the
  //! context columns, all 1, in front).
  std::uint8_t* dense_mask = nullptr;
  std::int32_t dense_cols = 0;  //!< >= largest tree
  //! `[total_nodes, path_cols]` row-major: request b's root-to-leaf paths in rows `offsets[b] + l`,
  //! l < leaf_counts[b], leaves in increasing index, each row root first and padded with -1 (as
  //! `root_to_leaf_paths` for the tree alone; the rows after the last leaf are untouched). A tree of N
  //! nodes has at most N leaves, so the node offsets double as leaf offsets: no batch-wide scan.
  std::int32_t* paths = nullptr;
  std::int32_t path_cols = 0;  //!< >= largest depth + 1
  std::int32_t* leaf_counts = nullptr;  //!< `[B]`, with `paths`
  //! `[total_nodes]` each: SGLang's `retrive_next_token` / `retrive_next_sibling`, as `sibling_links`.
  std::int32_t* first_child = nullptr;
  std::int32_t* next_sibling = nullptr;
  //! FlashInfer's custom mask, as the batched CPU `ancestor_mask_flashinfer`: request b's boolean
  //! `[N, context_lengths[b] + N]` matrix (cached tokens all visible, then ancestor-or-self) flattened and
  //! packed LSB first into bytes `[flashinfer_offsets[b], flashinfer_offsets[b + 1])`, each segment
  //! starting on a byte boundary, the last byte zero-padded; `flashinfer_offsets` gets the `B + 1`
  //! offsets (FlashInfer's packed-mask indptr). Both or neither; needs `context_lengths`.
  std::uint8_t* flashinfer_mask = nullptr;
  std::int32_t* flashinfer_offsets = nullptr;
};

//! Threads per block of `flatten_trees` (one block per tree).
inline constexpr int flatten_block_size = 256;

namespace detail {

template <int Block>
struct flatten_storage {
  typename cub::BlockScan<std::int32_t, Block>::TempStorage scan;
  std::int32_t parent[max_tree_nodes];       // the tree's parents
  std::int32_t first_child[max_tree_nodes];  // INT32_MAX until a child claims it
};

//! One block per tree (blockIdx.x = b); thread t handles nodes t, t + Block, ... The parents go to shared
//! memory; first children come from an atomicMin per parent, next siblings from a forward scan of the
//! shared parents (the next node with the same parent), the mask row and path of a node from walking
//! its ancestors, and leaf ranks from a BlockScan over leaf flags.
template <int Block>
__global__ void __launch_bounds__(Block)
    flatten_kernel(token_tree_batch_view trees, const std::int32_t* context_lengths, flatten_outputs out) {
  __shared__ flatten_storage<Block> s;
  const index_t b = blockIdx.x;
  const token_tree_view tree = trees.tree(b);
  const index_t first = trees.offsets().begin(b);  // request b's entries start here
  const auto n = static_cast<std::int32_t>(tree.size());
  for (std::int32_t i = static_cast<std::int32_t>(threadIdx.x); i < n; i += Block) {
    s.parent[i] = tree.parent(i);
    s.first_child[i] = 0x7fffffff;
  }
  __syncthreads();
  for (std::int32_t i = static_cast<std::int32_t>(threadIdx.x) + 1; i < n; i += Block) {
    atomicMin(&s.first_child[s.parent[i]], i);  // the lowest index among the children: rank order
  }
  __syncthreads();
  for (std::int32_t i = static_cast<std::int32_t>(threadIdx.x); i < n; i += Block) {
    const index_t flat = first + i;  // node i's entry in the ragged outputs
    if (out.position_ids != nullptr) out.position_ids[flat] = context_lengths[b] + tree.depth(i);
    if (out.first_child != nullptr) out.first_child[flat] = s.first_child[i] == 0x7fffffff ? -1 : s.first_child[i];
    if (out.next_sibling != nullptr) {
      std::int32_t next = -1;
      if (i > 0) {
        for (std::int32_t j = i + 1; j < n; ++j) {
          if (s.parent[j] == s.parent[i]) {
            next = j;
            break;
          }
        }
      }
      out.next_sibling[flat] = next;
    }
    if (out.packed_mask != nullptr) {
      // Row i: words above i's word are zero; walking the ancestors (indices decreasing) fills the words
      // from i / 32 down, each written once when the walk leaves it; words below the root's are zero.
      std::uint32_t* row = out.packed_mask + flat * out.mask_words;
      for (std::int32_t w = out.mask_words - 1; w > (i >> 5); --w) row[w] = 0u;
      std::int32_t word = i >> 5;
      std::uint32_t bits = 0u;
      for (std::int32_t j = i; j >= 0; j = s.parent[j]) {
        if ((j >> 5) != word) {
          row[word] = bits;
          for (std::int32_t w = word - 1; w > (j >> 5); --w) row[w] = 0u;
          word = j >> 5;
          bits = 0u;
        }
        bits |= 1u << (j & 31);  // node j is bit j % 32 of word j / 32
      }
      row[word] = bits;
      for (std::int32_t w = word - 1; w >= 0; --w) row[w] = 0u;
    }
  }
  if (out.dense_mask != nullptr) {
    // Thread t writes elements e = t, t + Block, ... of the tree's [n, dense_cols] block (coalesced):
    // (i, j) = (e / cols, e % cols) is set iff j <= i and walking up from i meets j.
    const std::int64_t cols = out.dense_cols;
    std::uint8_t* block = out.dense_mask + first * cols;  // row offsets[b] + i at (offsets[b] + i) * cols
    for (std::int64_t e = threadIdx.x; e < n * cols; e += Block) {
      const auto i = static_cast<std::int32_t>(e / cols);
      const std::int64_t j = e % cols;
      std::int32_t v = i;
      while (v > j) v = s.parent[v];  // ancestors decrease: stop at or below column j
      block[e] = v == j ? 1u : 0u;
    }
  }
  if (out.flashinfer_mask != nullptr) {
    // The segment starts after the previous trees' segments: each block sums their sizes itself
    // (O(B) reads), so no batch-wide scan or second launch is needed.
    std::int64_t offset = 0;
    for (index_t k = 0; k < b; ++k) {
      const std::int64_t nodes = trees.offsets().size(k);
      offset += (nodes * (context_lengths[k] + nodes) + 7) / 8;  // flashinfer_mask_bytes
    }
    const std::int64_t context = context_lengths[b];
    const std::int64_t row_bits = context + n;
    const std::int64_t bits = n * row_bits;
    const std::int64_t bytes = (bits + 7) / 8;
    if (threadIdx.x == 0) {
      out.flashinfer_offsets[b] = static_cast<std::int32_t>(offset);
      if (b == trees.batch_size() - 1) out.flashinfer_offsets[b + 1] = static_cast<std::int32_t>(offset + bytes);
    }
    // Thread t builds bytes t, t + Block, ... whole (no two threads share a byte): element e = 8 k + j
    // of the flattened matrix is (row e / row_bits, column e % row_bits).
    for (std::int64_t k = threadIdx.x; k < bytes; k += Block) {
      unsigned int byte = 0u;
      for (int j = 0; j < 8; ++j) {
        const std::int64_t e = 8 * k + j;
        if (e >= bits) break;  // zero padding
        const auto i = static_cast<std::int32_t>(e / row_bits);
        const std::int64_t column = e % row_bits;
        bool set = column < context;  // cached tokens: all visible
        if (!set) {
          const auto target = static_cast<std::int32_t>(column - context);  // tree node j: visible iff an ancestor-or-self
          std::int32_t v = i;
          while (v > target) v = s.parent[v];  // ancestors decrease: stop at or below the target
          set = v == target;
        }
        byte |= set ? 1u << j : 0u;
      }
      out.flashinfer_mask[offset + k] = static_cast<std::uint8_t>(byte);
    }
  }
  if (out.paths == nullptr) return;
  // Leaves in increasing index: chunk by chunk, a BlockScan gives each leaf its rank.
  std::int32_t leaves = 0;
  for (std::int32_t start = 0; start < n; start += Block) {
    const std::int32_t i = start + static_cast<std::int32_t>(threadIdx.x);
    const std::int32_t leaf = i < n && s.first_child[i] == 0x7fffffff ? 1 : 0;
    std::int32_t rank = 0;
    std::int32_t total = 0;
    __syncthreads();  // scan storage reuse
    cub::BlockScan<std::int32_t, Block>(s.scan).ExclusiveSum(leaf, rank, total);
    if (leaf != 0) {
      std::int32_t* row = out.paths + (first + leaves + rank) * out.path_cols;  // leaf row offsets[b] + rank
      std::int32_t depth = tree.depth(i);
      for (std::int32_t c = depth + 1; c < out.path_cols; ++c) row[c] = -1;
      for (std::int32_t j = i; j >= 0; j = s.parent[j]) row[depth--] = j;  // the ancestor at depth d in column d
    }
    leaves += total;
  }
  if (threadIdx.x == 0 && out.leaf_counts != nullptr) out.leaf_counts[b] = leaves;
}

} // namespace detail

//! Flattens every tree of `trees` (a `token_tree_batch_view` over device arrays) into the outputs of
//! `out` that are not null; `context_lengths` (device, `[B]`) is needed for position ids only. Equal
//! tree by tree to the CPU `position_ids`, `ancestor_mask_dense`, `ancestor_mask_packed`,
//! `root_to_leaf_paths` (leaf rows at the tree's node offset, see `flatten_outputs::paths`),
//! `sibling_links` and `ancestor_mask_flashinfer`. One block of `flatten_block_size` threads per tree,
//! O(N * depth) work per tree (O(N^2) for next siblings in the worst case, from shared memory; O(N *
//! dense_cols * depth) for the dense mask). Preconditions (not checked on the device): valid trees of at most
//! `max_tree_nodes` nodes, `mask_words`, `dense_cols` and `path_cols` large enough for every tree, the FlashInfer mask
//! holding the sum of the segments (and below 2^31 bytes). Returns cudaErrorInvalidValue for a batch
//! beyond 2^31 - 1, a non-positive width with its output set, position ids or the FlashInfer mask
//! without context lengths, or only one of the FlashInfer mask and offsets; else the launch status.
//! No allocation, no synchronisation.
[[nodiscard]] inline cudaError_t flatten_trees(const token_tree_batch_view& trees, const std::int32_t* context_lengths,
                                               const flatten_outputs& out, cudaStream_t stream = nullptr) {
  const index_t batch = trees.batch_size();
  if (batch < 0 || batch > 0x7fffffff || (out.packed_mask != nullptr && out.mask_words <= 0) ||
      (out.paths != nullptr && out.path_cols <= 0) || (out.dense_mask != nullptr && out.dense_cols <= 0) ||
      ((out.position_ids != nullptr || out.flashinfer_mask != nullptr) && context_lengths == nullptr) ||
      ((out.flashinfer_mask == nullptr) != (out.flashinfer_offsets == nullptr))) {
    return cudaErrorInvalidValue;
  }
  if (batch == 0) return cudaSuccess;
  detail::flatten_kernel<flatten_block_size><<<static_cast<unsigned int>(batch), flatten_block_size, 0, stream>>>(
      trees, context_lengths, out);
  return cudaGetLastError();
}

} // namespace cuda
} // namespace v0
} // namespace specdec
